import filecmp
import json
import os
import shutil
import time
from pathlib import Path

os.environ['MLFLOW_DISABLE_TELEMETRY'] = 'true'
import pytest  # noqa: E402
from mlflow.artifacts import download_artifacts  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

import trademl.governance as g  # noqa: E402
from trademl.core import ConfigError, ModelError  # noqa: E402

GOOD = {'sharpe': 1.2, 'max_drawdown': -0.15, 'dsr': 0.9, 'pbo': 0.02}  # drawdowns are negative


@pytest.fixture(scope='session')
def template_db(tmp_path_factory):
    """Migrated empty SQLite schema, built once (migrations dominate test time); copied per test."""
    p = tmp_path_factory.mktemp('template') / 'mlflow.db'
    MlflowClient(tracking_uri=f'sqlite:///{p}').search_experiments()
    return p


@pytest.fixture
def store(tmp_path, template_db):
    shutil.copy(template_db, tmp_path / 'mlflow.db')  # each test: its own independent store
    uri = f'sqlite:///{tmp_path}/mlflow.db'
    d = tmp_path / 'model'
    d.mkdir()
    (d / 'model.safetensors').write_bytes(os.urandom(4096))
    (d / 'config.json').write_text(json.dumps({'hidden': 8}))
    (d / 'model_info.json').write_text(json.dumps({'kind': 'test'}))
    (d / 'sub').mkdir()
    (d / 'sub' / 'x.bin').write_bytes(b'\x00\x01' * 100)
    return {
        'uri': uri,
        'dir': str(d),
        'tmp': tmp_path,
        'log': str(tmp_path / 'governance_decisions.jsonl'),
        'client': MlflowClient(tracking_uri=uri, registry_uri=uri),
    }


def reg(s, **m):
    return g.register_model(s['dir'], 'm', {**GOOD, **m}, tracking_uri=s['uri'])


def promote(s, v=None):
    return g.promote_if_better('m', v, tracking_uri=s['uri'])


def alias(s, a):
    return str(s['client'].get_model_version_by_alias('m', a).version)


def test_first_passing_model_becomes_champion(store):
    t = time.perf_counter()
    v = reg(store)
    print(f'registration took {time.perf_counter() - t:.3f}s')
    assert alias(store, 'challenger') == v
    d = promote(store)
    assert d.promoted and d.champion_version is None and 'no previous champion' in d.reasons
    assert alias(store, 'champion') == v
    with pytest.raises(MlflowException):
        store['client'].get_model_version_by_alias('m', 'challenger')  # removed on promotion
    c = g.champion('m', tracking_uri=store['uri'])
    assert c['version'] == v and c['metrics']['sharpe'] == pytest.approx(1.2)
    assert 'PROMOTED' in str(d)


def test_worse_challenger_refused_names_champion(store):
    v1 = reg(store, sharpe=1.25)
    promote(store)
    v2 = reg(store, sharpe=1.10)
    d = promote(store)
    assert not d.promoted and d.champion_version == v1
    assert d.reasons == [f'sharpe 1.10 does not beat champion v{v1} (1.25)']
    assert alias(store, 'champion') == v1 and alias(store, 'challenger') == v2


def test_equal_metric_is_not_better(store):
    reg(store)
    promote(store)
    reg(store)
    assert not promote(store).promoted


def test_one_failed_bar_refused_even_if_better(store):
    v1 = reg(store)
    promote(store)
    reg(store, sharpe=2.0, pbo=0.3)
    d = promote(store)
    assert not d.promoted and d.reasons == ['pbo 0.30 > 0.05']
    assert alias(store, 'champion') == v1


def test_several_failed_bars_all_listed(store):
    reg(store, sharpe=0.83, max_drawdown=-0.35, dsr=0.4, pbo=0.3)
    d = promote(store)
    assert not d.promoted
    assert d.reasons == [
        'sharpe 0.83 < 1.00',
        'max_drawdown 0.35 > 0.20',
        'dsr 0.40 <= 0.50',
        'pbo 0.30 > 0.05',
    ]
    assert g.champion('m', tracking_uri=store['uri']) is None


def test_better_challenger_promoted_alias_moves(store):
    v1 = reg(store)
    promote(store)
    v2 = reg(store, sharpe=1.5)
    d = promote(store)
    assert d.promoted and d.champion_version == v1
    assert alias(store, 'champion') == v2
    assert store['client'].get_model_version('m', v2).tags['decision'] == 'promoted'


def test_missing_metric_refused(store):
    v = g.register_model(
        store['dir'],
        'm',
        {'sharpe': 1.5, 'max_drawdown': -0.1, 'dsr': 0.9},
        tracking_uri=store['uri'],
    )
    d = promote(store, v)
    assert not d.promoted and d.reasons == ['pbo missing']


def test_every_decision_logged_jsonl_and_tags(store):
    made = []
    for m in ({}, {'sharpe': 1.1}, {'pbo': 0.3}, {'sharpe': 1.6}):
        v = reg(store, **m)
        made.append((v, promote(store)))
    log = g.decisions(store['log'])  # default path = folder of the sqlite file
    assert [e['challenger_version'] for e in log] == [v for v, _ in made]
    assert [e['promoted'] for e in log] == [True, False, False, True]
    for v, d in made:
        tags = store['client'].get_model_version('m', v).tags
        assert tags['decision'] == ('promoted' if d.promoted else 'refused')
        assert tags['decision_reasons'] == '; '.join(d.reasons)
        assert tags['decided_at'] == d.timestamp
    first = Path(store['log']).read_text().splitlines()[0]
    promote(store, made[1][0])  # re-check an old version: appends, old lines untouched
    assert Path(store['log']).read_text().splitlines()[0] == first
    assert len(g.decisions(store['log'])) == 5


def test_champion_artifacts_byte_identical_no_pickle(store):
    reg(store)
    promote(store)
    c = g.champion('m', tracking_uri=store['uri'])
    out = download_artifacts(artifact_uri=c['source'], dst_path=str(store['tmp'] / 'dl'))
    cmp = filecmp.dircmp(store['dir'], out)
    assert not cmp.left_only and not cmp.right_only and not cmp.diff_files
    for rel in ('model.safetensors', 'config.json', 'model_info.json', 'sub/x.bin'):
        a, b = os.path.join(store['dir'], rel), os.path.join(out, rel)
        assert Path(a).read_bytes() == Path(b).read_bytes()
    names = [f for _, _, fs in os.walk(out) for f in fs]
    assert 'MLmodel' not in names and not any(f.endswith(('.pkl', '.pickle')) for f in names)


def test_unknown_name_or_version_raises(store):
    with pytest.raises(ModelError, match='nope'):
        g.promote_if_better('nope', tracking_uri=store['uri'])
    with pytest.raises(ModelError, match='nope'):
        g.champion('nope', tracking_uri=store['uri'])
    reg(store)
    with pytest.raises(ModelError, match="'99'"):
        g.promote_if_better('m', '99', tracking_uri=store['uri'])
    with pytest.raises(ModelError, match='not a directory'):
        g.register_model(str(store['tmp'] / 'missing'), 'm', GOOD, tracking_uri=store['uri'])


def test_promotion_bars_are_a_config():
    assert g.PromotionBars.from_yaml('max_pbo: 0.1\nmetric: calmar') == g.PromotionBars(
        max_pbo=0.1, metric='calmar'
    )
    with pytest.raises(ConfigError, match='max_pbo'):
        g.PromotionBars(max_pbo=2.0)
    with pytest.raises(ConfigError, match='max_drawdown'):
        g.PromotionBars(max_drawdown=-0.2)  # a magnitude


def test_drawdown_bar_compares_the_magnitude(store):
    reg(store, max_drawdown=0.25)  # a positive magnitude is read the same way as -0.25
    d = promote(store)
    assert not d.promoted and d.reasons == ['max_drawdown 0.25 > 0.20']


def test_decision_roundtrip_and_explicit_log_path(store, tmp_path):
    reg(store)
    p = str(tmp_path / 'logs' / 'd.jsonl')
    d = g.promote_if_better('m', tracking_uri=store['uri'], log_path=p)
    assert g.decisions(p) == [json.loads(json.dumps(d.to_dict()))]
    assert g.decisions(str(tmp_path / 'absent.jsonl')) == []


def test_custom_comparison_metric(store):
    bars = g.PromotionBars(metric='calmar')
    g.register_model(store['dir'], 'm', {**GOOD, 'calmar': 2.0}, tracking_uri=store['uri'])
    assert g.promote_if_better('m', bars=bars, tracking_uri=store['uri']).promoted
    reg(store, sharpe=3.0)  # no calmar -> cannot be compared
    d = g.promote_if_better('m', bars=bars, tracking_uri=store['uri'])
    assert not d.promoted and d.reasons == ['calmar missing (comparison metric)']
