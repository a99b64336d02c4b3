"""The package is usable with the base install alone, extras are declared as promised, and
missing extras are named in the error."""

import configparser
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

from conftest import ROOT

HEAVY = [
    'torch',
    'pytorch_lightning',
    'lightgbm',
    'catboost',
    'optuna',
    'mlflow',
    'safetensors',
    'chronos',
    'transformers',
    'plotly',
    'quantstats',
    'papermill',
    'alpaca',
    'dotenv',
    'yfinance',
    'skfolio',
    'nbdev',
    'matplotlib',
    'IPython',
]

BLOCKER = textwrap.dedent("""
    import sys, importlib.abc
    HEAVY = {heavy!r}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in HEAVY: raise ModuleNotFoundError(f"No module named {name!r} (blocked: base install)")
    sys.meta_path.insert(0, Block())
""")


def run_base_only(code, also_missing=()):
    "Run `code` in a fresh interpreter where every optional dependency (and `also_missing`) is unimportable."
    blocker = BLOCKER.replace('{heavy!r}', repr([*HEAVY, *also_missing]))
    return subprocess.run(
        [sys.executable, '-c', blocker + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_import_and_sample_work_with_the_base_install_alone():
    r = run_base_only("""
        import trademl, trademl.core, trademl.data, trademl.cli
        from trademl.data import load_panel, describe, make_synthetic_panel
        p = load_panel('sample'); assert len(p) == 10062
        s, d = describe('sample'); assert d == []
        assert len(make_synthetic_panel(2, 300)) == 600
        import trademl.ta, talib  # TA-Lib is a base dependency
        from trademl.data import panel_arrays
        f, _ = trademl.ta.compute_ta_features(panel_arrays(p))
        assert set(f) == set(trademl.ta.TA_MTF_FEATURES)
        heavy = [m for m in sys.modules if m.split('.')[0] in HEAVY]
        assert not heavy, heavy
        print('ok', trademl.__version__)
    """)
    assert r.returncode == 0 and 'ok' in r.stdout, r.stderr


def test_missing_extra_names_the_extra():
    r = run_base_only("""
        from trademl.core import require, MissingExtraError
        for mod, extra in [('torch', 'train'), ('plotly', 'report'), ('alpaca', 'trade'), ('yfinance', 'online')]:
            try: require(mod, 'this step')
            except MissingExtraError as e: assert f"pip install 'trademl[{extra}]'" in str(e), str(e)
            else: raise AssertionError(mod)
        from trademl.data import load_panel
        try: load_panel('yfinance', symbols=['SPY'])
        except MissingExtraError as e: assert "trademl[online]" in str(e); print('ok')
    """)
    assert r.returncode == 0 and 'ok' in r.stdout, r.stderr


def test_talib_is_a_base_dependency_with_a_clear_error_if_missing():
    cfg = configparser.ConfigParser(delimiters=['='])
    cfg.read(ROOT / 'settings.ini')
    d = cfg['DEFAULT']
    assert any(r.startswith('ta-lib>=') for r in d['requirements'].split()), d['requirements']
    assert not any(r.startswith('ta-lib') for r in d['dev_requirements'].split())
    r = run_base_only(
        """
        import numpy as np
        import trademl.ta
        from trademl.core import MissingExtraError
        try: trademl.ta.rsi(np.ones((30, 1)))
        except MissingExtraError as e: assert "pip install 'ta-lib" in str(e), str(e); print('ok')
        """,
        also_missing=['talib'],
    )
    assert r.returncode == 0 and 'ok' in r.stdout, r.stderr


def test_extras_are_declared_and_torch_is_a_range():
    cfg = configparser.ConfigParser(delimiters=['='])
    cfg.read(ROOT / 'settings.ini')
    d = cfg['DEFAULT']
    torch = [r for r in d['train_requirements'].split() if r.startswith('torch')]
    assert torch and '>=' in torch[0] and '<' in torch[0].replace('<=', ''), (
        torch
    )  # Colab keeps its own build
    assert 'torch' not in d['requirements']
    extras = set(metadata.metadata('trademl').get_all('Provides-Extra'))
    assert {'train', 'report', 'trade', 'online', 'dev', 'all'} <= extras, extras
    assert 'nbdev<3,>=2.4.14' in ' '.join(metadata.requires('trademl')).replace(' ', '') or any(
        r.startswith('nbdev') and '<3' in r for r in metadata.requires('trademl')
    )


def test_nbdev_clean_keeps_the_papermill_parameters_tag(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('asof = "2018-12-28"')
    cell.metadata['tags'] = ['parameters']
    nb.cells = [cell]
    f = tmp_path / 'p.ipynb'
    nbformat.write(nb, f)
    r = subprocess.run(
        [str(Path(sys.executable).parent / 'nbdev_clean'), '--fname', str(f)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert nbformat.read(f, as_version=4).cells[0].metadata.get('tags') == ['parameters']
