"""Every configuration object is a `core.Config`: typed, checked on construction in code and from YAML."""

import dataclasses
import importlib
import pkgutil
import typing

import pytest

import trademl
from trademl.core import Config, ConfigError


class _NotAValue:
    def __repr__(self):
        return '<not a value>'


def _all_modules():
    for m in pkgutil.walk_packages(trademl.__path__, 'trademl.'):
        if m.name.endswith('_modidx'):
            continue
        importlib.import_module(m.name)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


_all_modules()
CONFIGS = sorted(
    {c for c in _subclasses(Config) if c.__module__.startswith('trademl.')},
    key=lambda c: f'{c.__module__}.{c.__qualname__}',
)


def _checked_fields(cls):
    hints = typing.get_type_hints(cls)
    return [f for f in dataclasses.fields(cls) if f.init and hints[f.name] is not typing.Any]


def test_there_are_configurations_in_every_layer():
    modules = {c.__module__ for c in CONFIGS}
    for m in (
        'trademl.core',
        'trademl.portfolio',
        'trademl.costs',
        'trademl.train',
        'trademl.live',
    ):
        assert m in modules, m


@pytest.mark.parametrize('cls', CONFIGS, ids=lambda c: c.__qualname__)
def test_defaults_build_and_round_trip_through_yaml(cls):
    obj = cls()
    assert cls.from_yaml(obj.to_yaml()) == obj


@pytest.mark.parametrize('cls', CONFIGS, ids=lambda c: c.__qualname__)
def test_a_bad_value_is_refused_in_code_and_from_yaml(cls):
    for f in _checked_fields(cls):
        with pytest.raises(ConfigError, match=f.name):
            cls(**{f.name: _NotAValue()})
        with pytest.raises(ConfigError, match=f.name):
            cls.from_dict({f.name: [[{'nested': 'mapping'}]]})


@pytest.mark.parametrize('cls', CONFIGS, ids=lambda c: c.__qualname__)
def test_an_unknown_key_is_refused_with_a_suggestion(cls):
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    if not names:
        pytest.skip(f'{cls.__qualname__} has no fields')
    typo = names[0] + 'x'
    with pytest.raises(ConfigError, match=f"did you mean '{names[0]}'"):
        cls.from_dict({typo: 1})
    with pytest.raises(ConfigError, match='did you mean'):
        cls().replace(**{typo: 1})
