"""`trademl allocate` end to end on a small panel file, its errors through the command line, and
`trademl paper rebalance --allocation` on the simulated broker."""

import json

import pytest
from test_allocation import toy_cfg, toy_panel
from typer.testing import CliRunner

from trademl.allocation import StrategyConfig
from trademl.cli import app
from trademl.core import ConfigError, DataError, TripwireError


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv('TRADEML_HOME', str(tmp_path / 'home'))
    p = tmp_path / 'panel.parquet'
    toy_panel().to_parquet(p)
    cfg = tmp_path / 'allocation.yaml'
    cfg.write_text(toy_cfg().to_yaml())
    return tmp_path, p, cfg


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_allocate_prints_the_summary_and_writes_json(files):
    tmp, p, cfg = files
    r = run(
        'allocate', '--asof', '2003-06-30', '--config', cfg, '--source', 'files', p, '--out', tmp
    )
    assert r.exit_code == 0, r.output
    js = tmp / 'allocation_2003-06-30.json'
    d = json.loads(js.read_text())
    assert d['asof'] == '2003-06-30' and d['summary'] in r.output and 'cash' in d['summary']
    assert sum(d['targets'].values()) == pytest.approx(1.0)  # held weights plus cash
    assert {s['strategy'] for s in d['signals']} == {'rotator', 'trend', 'spike'}


def test_allocate_errors_name_the_problem(files):
    tmp, p, cfg = files
    r = run('allocate')  # the default book on the package's sample: the ETF tickers are missing
    assert isinstance(r.exception, DataError) and 'QQQ' in str(r.exception)
    assert '--source files PATH' in str(r.exception)
    bad = toy_cfg()
    bad.strategies[1] = StrategyConfig(name='trend', traded=['XYZ'], lookback=20)
    (tmp / 'bad.yaml').write_text(bad.to_yaml())
    r = run('allocate', '--config', tmp / 'bad.yaml', '--source', 'files', p)
    assert isinstance(r.exception, DataError) and 'XYZ' in str(r.exception)
    long = toy_cfg()
    long.strategies[1].lookback = 5000
    (tmp / 'long.yaml').write_text(long.to_yaml())
    r = run('allocate', '--config', tmp / 'long.yaml', '--source', 'files', p)
    assert isinstance(r.exception, ConfigError) and '5000' in str(r.exception)
    (tmp / 'type.yaml').write_text(
        cfg.read_text().replace('p_min: 0.55', "p_min: 'high'"), encoding='utf-8'
    )
    r = run('allocate', '--config', tmp / 'type.yaml', '--source', 'files', p)
    assert isinstance(r.exception, ConfigError) and 'p_min' in str(r.exception)
    panel = toy_panel()
    panel = panel[~((panel['symbol'] == 'SPY') & (panel['date'] > '2003-06-20'))]
    panel.to_parquet(tmp / 'stale.parquet')
    r = run(
        'allocate',
        '--asof',
        '2003-06-30',
        '--config',
        cfg,
        '--source',
        'files',
        tmp / 'stale.parquet',
    )
    assert isinstance(r.exception, TripwireError) and "'SPY'" in str(r.exception)


def test_paper_rebalance_takes_an_allocation(files):
    tmp, p, cfg = files
    r = run(
        'allocate', '--asof', '2003-06-30', '--config', cfg, '--source', 'files', p, '--out', tmp
    )
    assert r.exit_code == 0, r.output
    js = tmp / 'allocation_2003-06-30.json'
    held = {k: v for k, v in json.loads(js.read_text())['targets'].items() if k != 'cash' and v > 0}
    r = run(
        'paper',
        'rebalance',
        '--asof',
        '2003-06-30',
        '--allocation',
        js,
        '--source',
        'files',
        p,
        '--dir',
        tmp / 'paper',
    )
    assert r.exit_code == 0, (r.output, r.exception)
    assert (tmp / 'paper' / 'sim.db').is_file()
    for sym in held:
        assert sym in r.output
    d = json.loads(js.read_text())  # the same file with a held book: two orders on the simulator
    d['targets'] = {'QQQ': 0.5, 'GLD': 0.2, 'cash': 0.3}
    (tmp / 'held.json').write_text(json.dumps(d))
    r = run(
        'paper',
        'rebalance',
        '--asof',
        '2003-07-01',
        '--allocation',
        tmp / 'held.json',
        '--source',
        'files',
        p,
        '--dir',
        tmp / 'paper2',
    )
    assert r.exit_code == 0, (r.output, r.exception)
    assert 'submitted 2,' in r.output
    r = run('paper', 'status', '--dir', tmp / 'paper2')
    assert 'buy' in r.output.lower() and 'QQQ' in r.output and 'GLD' in r.output, r.output
    r = run('paper', 'rebalance', '--allocation', tmp / 'nope.json', '--source', 'files', p)
    assert isinstance(r.exception, ConfigError) and 'nope.json' in str(r.exception)


def test_the_allocation_notebook_runs_under_papermill(files):
    pm = pytest.importorskip('papermill')
    from pathlib import Path

    tmp, p, cfg = files
    nb = Path(__file__).resolve().parents[1] / 'nbs' / 'prod' / 'allocate.ipynb'
    params = {'asof': '2003-06-30', 'config': str(cfg), 'data_path': str(p), 'out': str(tmp)}
    pm.execute_notebook(str(nb), str(tmp / 'run.ipynb'), parameters=params, progress_bar=False)
    d = json.loads((tmp / 'allocation_2003-06-30.json').read_text())
    text = (tmp / 'run.ipynb').read_text()
    assert d['summary'] in text and 'combiner_weight' in text
