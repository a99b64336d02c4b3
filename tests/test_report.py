"""The trading layer end to end on a small model trained on the sample: signal histories equal `predict`; the daily report
under papermill (HTML, errors, causality); the `backtest` and `report` commands; the packaged production notebooks;
`trademl paper` with the simulated broker and against the local fake of Alpaca, with sentinel keys that must never
appear in any output, file or blotter row."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('papermill')
from conftest import ROOT  # noqa: E402

from trademl.data import load_panel  # noqa: E402
from trademl.dataset import build_dataset  # noqa: E402
from trademl.features import assert_causal  # noqa: E402
from trademl.inference import predict  # noqa: E402
from trademl.report import ReportConfig, daily_report  # noqa: E402
from trademl.strategy import StrategyConfig, signal_history  # noqa: E402
from trademl.train import train_model  # noqa: E402

EXE = str(Path(sys.executable).parent / 'trademl')
CFG = ReportConfig(
    lookback=150,
    strategy=StrategyConfig.from_dict({'portfolio': {'max_weight': 0.5, 'z_scale': 0.5}}),
)


@pytest.fixture(scope='module')
def sample_model(tmp_path_factory, single_thread):
    "A tiny TimeFormer trained on the sample (60-bar windows), and the sample panel."
    d = tmp_path_factory.mktemp('model')
    panel = load_panel('sample')
    ds = build_dataset(
        panel, 'local', name='sample', root=d, window=60, pretrain_epochs=1, pretrain_windows=2000
    )
    res = train_model(
        ds,
        'timeformer',
        'small',
        epochs=2,
        out_dir=d / 'timeformer',
        mlflow=False,
        progress=False,
        max_train_samples=3000,
    )
    cfg_path = d / 'report.yaml'
    cfg_path.write_text(CFG.to_yaml())
    return {'path': d / 'timeformer', 'tm': res.trained, 'panel': panel, 'config': cfg_path}


def run_cli(*args, cwd, timeout=300):
    env = {**os.environ, 'TRADEML_HOME': str(cwd)}
    return subprocess.run(
        [EXE, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )


def test_signal_history_equals_predict_date_by_date(sample_model):
    tm, panel = sample_model['tm'], sample_model['panel']
    dates = pd.DatetimeIndex(sorted(panel.date.unique()))[-30:]
    hist = signal_history(tm, panel, start=dates[0], end=dates[-1])
    assert set(hist.index.get_level_values('date')) == set(dates)
    for d in dates[::7]:
        pred = predict(tm, panel, asof=d)
        for s in pred.signals:
            row = hist.loc[(d, s['symbol'])]
            assert row['direction'] == {'LONG': 1.0, 'SHORT': -1.0, 'FLAT': 0.0}[s['signal']], (
                d,
                s,
            )
            assert row['strength'] == pytest.approx(s['strength'], abs=1e-6)
            assert row['expected_return'] == pytest.approx(
                s['expected_return'], abs=1e-7
            )  # float32, batched differently


def test_signal_history_of_an_ensemble_equals_its_predict(sample_model):
    from trademl.ensemble import Ensemble, EnsembleWeights

    tm, panel = sample_model['tm'], sample_model['panel']
    ens = Ensemble({'timeformer': tm}, EnsembleWeights(1.0, 0.0), horizon=3)
    dates = pd.DatetimeIndex(sorted(panel.date.unique()))[-20:]
    hist = signal_history(ens, panel, start=dates[0], end=dates[-1], min_edge=0.0)
    assert hist.attrs['strategy'] == 'ensemble' and hist.attrs['horizon'] == 3
    for d in dates[::6]:
        for s in ens.predict(panel, asof=d, min_edge=0.0):
            row = hist.loc[(d, s['symbol'])]
            assert (
                row['direction'] == {'LONG': 1.0, 'SHORT': -1.0, 'FLAT': 0.0}[s['signal']]
                and not row['vetoed']
            )
            assert row['strength'] == pytest.approx(s['strength'], abs=1e-6)


def test_report_weights_do_not_change_when_later_data_is_appended(sample_model):
    """The whole chain (signals, combiner, vol targeting, guardrails) replayed over the full history: the book decided
    up to a cut is the same when the data after it is removed or altered. A low vol target makes the vol forecast bind
    (planting a one-day look-ahead in `vol_forecast` makes this test fail)."""
    panel, last_asof = sample_model['panel'], pd.Timestamp('2016-06-30')
    cfg = ReportConfig(
        lookback=100_000,
        strategy=StrategyConfig.from_dict(
            {'portfolio': {'max_weight': 0.5, 'z_scale': 0.5, 'target_vol_annual': 0.02}}
        ),
    )

    def targets(p):
        rep = daily_report(
            asof=min(p.date.max(), last_asof), model=str(sample_model['path']), config=cfg, panel=p
        )
        t = rep.run.targets.stack().rename('weight').to_frame()
        t.index.names = ['date', 'symbol']
        return t.swaplevel().sort_index()

    assert_causal(targets, panel, cuts=['2012-03-30', '2015-09-30'])
    a = daily_report(asof='2016-06-30', model=str(sample_model['path']), config=CFG, panel=panel)
    b = daily_report(
        asof='2016-06-30',
        model=str(sample_model['path']),
        config=CFG,
        panel=panel[panel.date <= '2016-06-30'],
    )
    pd.testing.assert_frame_equal(
        a.targets, b.targets
    )  # appending later data leaves the report's targets unchanged
    assert a.versions['data']['last'] == '2016-06-30'


def test_daily_report_runs_under_papermill_and_writes_html(sample_model, tmp_path):
    r = run_cli(
        'report',
        '--asof',
        '2018-12-28',
        '--model',
        sample_model['path'],
        '--config',
        sample_model['config'],
        '--out',
        tmp_path / 'rep',
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:] + r.stdout[-2000:]
    html = (tmp_path / 'rep' / 'report_2018-12-28.html').read_text()
    for part in (
        'Target weights',
        'Risk checks',
        'Model health',
        'Market regime',
        'Versions',
        'plotly',
    ):
        assert part in html, part
    js = json.loads((tmp_path / 'rep' / 'report_2018-12-28.json').read_text())
    assert js['asof'] == '2018-12-28' and js['versions']['data']['last'] == '2018-12-28'
    assert js['versions']['models'][0]['weights_sha256'] and set(js['targets']) == {
        '^GSPC',
        '^IXIC',
    }
    assert {c['check'] for c in js['checks']} >= {
        'gross exposure',
        'turnover today',
        'VIX guardrail',
        'trailing stop',
    }
    assert js['regime']['symbol'] == '^GSPC' and js['regime']['asof'] == '2018-12-28'
    assert abs(sum(js['regime']['probabilities'].values()) - 1) < 1e-9
    executed = (tmp_path / 'rep' / 'daily_report_2018-12-28.ipynb').read_text()
    assert 'injected-parameters' in executed and '^GSPC on 2018-12-28:' in executed
    assert '2018-12-28: status' in r.stdout


def test_report_fails_with_one_readable_line(sample_model, tmp_path):
    r = run_cli(
        'report',
        '--asof',
        '2019-03-01',
        '--model',
        sample_model['path'],
        '--out',
        tmp_path / 'rep',
        cwd=tmp_path,
    )
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert (
        'as-of date 2019-03-01 is after the last date in the data (2018-12-31' in lines[0]
        and 'Traceback' not in r.stderr
    )
    r = run_cli('report', '--model', tmp_path / 'nope', '--out', tmp_path / 'rep', cwd=tmp_path)
    assert (
        r.returncode == 1
        and 'is not a trained model or ensemble' in r.stderr
        and len(r.stderr.strip().splitlines()) == 1
    )


def test_report_names_a_stale_symbol(sample_model):
    p = sample_model['panel']
    p = p[~((p.symbol == '^IXIC') & (p.date == '2018-12-28'))]
    with pytest.raises(
        Exception,
        match=r'no bar on the as-of date 2018-12-28 for symbol\(s\): \^IXIC \(last bar 2018-12-27\)',
    ):
        daily_report(asof='2018-12-28', model=str(sample_model['path']), config=CFG, panel=p)


def test_backtest_command_is_out_of_sample_by_default(sample_model, tmp_path):
    r = run_cli(
        'backtest',
        '--model',
        sample_model['path'],
        '--config',
        sample_model['config'],
        '--out',
        tmp_path / 'bt',
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    meta = json.loads((tmp_path / 'bt' / 'backtest.json').read_text())
    info = json.loads((sample_model['path'] / 'model_info.json').read_text())
    assert pd.Timestamp(meta['start']) > pd.Timestamp(info['train_range'][1])
    assert set(meta['stats']) >= {
        'sharpe',
        'sortino',
        'cagr',
        'max_drawdown',
        'calmar',
        'hit_rate',
        'profit_factor',
        'turnover',
    }
    assert (tmp_path / 'bt' / 'tearsheet.html').stat().st_size > 10_000 and (
        tmp_path / 'bt' / 'figures.html'
    ).is_file()
    daily = pd.read_csv(tmp_path / 'bt' / 'daily.csv', index_col=0, parse_dates=True)
    np.testing.assert_allclose(daily['equity'].iloc[-1], np.prod(1 + daily['returns']), rtol=1e-10)
    costs = daily.filter(like='cost_').sum(axis=1)
    np.testing.assert_allclose(daily['returns'], daily['gross_returns'] - costs, atol=1e-14)


def test_packaged_prod_notebooks_match_the_repository():
    for nb in (ROOT / 'nbs' / 'prod').glob('*.ipynb'):
        assert (ROOT / 'trademl' / 'prod' / nb.name).read_bytes() == nb.read_bytes(), (
            f'copy {nb} to trademl/prod/'
        )


def test_report_runs_the_registered_champion(sample_model, tmp_path, monkeypatch):
    from trademl import governance as g

    monkeypatch.setenv('TRADEML_HOME', str(tmp_path))
    monkeypatch.chdir(tmp_path)
    uri = f'sqlite:///{tmp_path}/mlflow.db'
    with pytest.raises(Exception, match="unknown registered model 'sample-strategy'"):
        daily_report(asof='2018-12-28', registry='sample-strategy', tracking_uri=uri, config=CFG)
    v = g.register_model(
        str(sample_model['path']),
        'sample-strategy',
        {'sharpe': 1.2, 'max_drawdown': 0.1, 'dsr': 0.9, 'pbo': 0.01},
        tracking_uri=uri,
    )
    with pytest.raises(Exception, match='has no champion yet'):
        daily_report(asof='2018-12-28', registry='sample-strategy', tracking_uri=uri, config=CFG)
    assert g.promote_if_better('sample-strategy', v, tracking_uri=uri).promoted
    rep = daily_report(asof='2018-12-28', registry='sample-strategy', tracking_uri=uri, config=CFG)
    m = rep.versions['models'][0]
    assert (
        m['registry']['version'] == v
        and m['weights_sha256']
        == json.loads((sample_model['path'] / 'model_info.json').read_text())['weights_sha256'][:16]
    )
    direct = daily_report(asof='2018-12-28', model=str(sample_model['path']), config=CFG)
    pd.testing.assert_series_equal(rep.targets['target'], direct.targets['target'])


PAPER_YAML = 'report:\n  lookback: 150\n  strategy:\n    portfolio: {max_weight: 0.5, z_scale: 0.5}\n    combiner: equal\n'


def test_paper_rebalance_command_is_idempotent(sample_model, tmp_path):
    (tmp_path / 'paper.yaml').write_text(PAPER_YAML)
    args = (
        'paper',
        'rebalance',
        '--model',
        sample_model['path'],
        '--config',
        tmp_path / 'paper.yaml',
    )
    floor = run_cli(
        *args,
        '--dir',
        tmp_path / 'f',
        '--asof',
        '2016-03-01',
        '--min-accuracy',
        '0.99',
        cwd=tmp_path,
    )
    assert floor.returncode == 1 and re.search(
        r'^error: model accuracy under the emergency floor 0\.990: timeformer: accuracy 0\.\d{3}$',
        floor.stderr,
    ), floor.stderr[-2000:]  # the report's hit rate reaches the accuracy tripwire
    model = (
        run_cli(  # a tiny model trained for two epochs: its hit rate is no guide, the floor is off
            *args,
            '--dir',
            tmp_path / 'm',
            '--asof',
            '2016-03-01',
            '--min-accuracy',
            'off',
            cwd=tmp_path,
        )
    )
    assert model.returncode == 0 and 'run ' in model.stdout, model.stderr[
        -2000:
    ]  # the model's targets, via the daily report
    (tmp_path / 'w.csv').write_text('symbol,weight\n^GSPC,0.5\n^IXIC,-0.3\n')
    args = ('paper', 'rebalance', '--targets', tmp_path / 'w.csv', '--dir', tmp_path / 'p')
    first = run_cli(*args, '--asof', '2016-03-01', cwd=tmp_path)
    assert first.returncode == 0 and 'submitted 2' in first.stdout, (
        first.stdout + first.stderr[-2000:]
    )
    again = run_cli(*args, '--asof', '2016-03-01', cwd=tmp_path)
    assert again.returncode == 0 and 'submitted 0, reconciled 2' in again.stdout, again.stdout
    nxt = run_cli(*args, '--asof', '2016-03-02', cwd=tmp_path)
    assert (
        nxt.returncode == 0
        and '2 earlier order(s) filled at the open' in nxt.stdout
        and '^IXIC -' in nxt.stdout
    ), nxt.stdout
    st = run_cli('paper', 'status', '--dir', tmp_path / 'p', cwd=tmp_path)
    assert st.returncode == 0 and 'last runs:' in st.stdout and 'reconcile:' in st.stdout
    back = run_cli(
        *args, '--asof', '2016-02-26', cwd=tmp_path
    )  # the simulated broker cannot go back in time
    assert (
        back.returncode == 1
        and len(back.stderr.strip().splitlines()) == 1
        and 'already at 2016-03-02' in back.stderr
    )
    (tmp_path / 'bad.csv').write_text('symbol,weight\n^GSPC,lots\n')
    bad = run_cli(
        'paper',
        'rebalance',
        '--targets',
        tmp_path / 'bad.csv',
        '--dir',
        tmp_path / 'p',
        cwd=tmp_path,
    )
    assert bad.returncode == 1 and "weight of ['^GSPC'] is not a number" in bad.stderr


def test_paper_trading_against_fake_alpaca_never_shows_the_keys(sample_model, tmp_path):
    from trademl.fake_alpaca import FakeAlpaca

    key, secret = 'SENTINEL-KEY-7Q2', 'SENTINEL-SECRET-9Z4'
    (tmp_path / 'paper.yaml').write_text(PAPER_YAML)
    panel = sample_model['panel']
    closes = panel[panel.date == '2016-03-01'].set_index('symbol')['close'].to_dict()
    env = {
        **os.environ,
        'TRADEML_HOME': str(tmp_path),
        'APCA_API_KEY_ID': key,
        'APCA_API_SECRET_KEY': secret,
    }
    outputs = []
    with FakeAlpaca(key, secret, prices=closes) as fake:
        run = lambda *a: subprocess.run(
            [EXE, *map(str, a)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
        )
        (tmp_path / 'w.csv').write_text('symbol,weight\n^GSPC,0.5\n^IXIC,0.3\n')
        base = (
            'paper',
            'rebalance',
            '--asof',
            '2016-03-01',
            '--broker',
            'alpaca',
            '--alpaca-url',
            fake.url,
            '--targets',
            tmp_path / 'w.csv',
            '--dir',
            tmp_path / 'p',
        )
        outputs += [
            run(*base),
            run(*base),
            run(
                'paper',
                'status',
                '--broker',
                'alpaca',
                '--alpaca-url',
                fake.url,
                '--dir',
                tmp_path / 'p',
            ),
        ]
        bad = {**env, 'APCA_API_SECRET_KEY': secret + 'x'}  # a wrong secret: the fake answers 401
        outputs.append(
            subprocess.run(
                [EXE, *map(str, base)],
                capture_output=True,
                text=True,
                env=bad,
                cwd=tmp_path,
                timeout=300,
            )
        )
        recorded = repr(fake.requests)
    assert [o.returncode for o in outputs] == [0, 0, 0, 1], [o.stderr[-500:] for o in outputs]
    assert (
        'submitted 2' in outputs[0].stdout
        and 'submitted 0' in outputs[1].stdout
        and '401' in outputs[3].stderr
    )
    texts = [o.stdout + o.stderr for o in outputs] + [recorded]
    texts += [
        p.read_bytes().decode('latin-1') for p in tmp_path.rglob('*') if p.is_file()
    ]  # blotter.db, logs, configs, reports
    for t in texts:
        assert key not in t and secret not in t
