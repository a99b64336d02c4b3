"""`trademl alpha validate | train | score` end to end on a small synthetic universe, the RED refusal,
`trademl data describe`'s health table, and a simulated paper rebalance to the scores' weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from trademl.data import make_synthetic_panel

EXE = str(Path(sys.executable).parent / 'trademl')
CONFIG = (
    'validation:\n  n_groups: 4\n  n_test_groups: 1\n  n_estimators: 20\n  min_data_in_leaf: 50\n'
    '  ablation: false\n  importance_splits: 0\ntune:\n  n_folds: 2\n'
)


def run_cli(*args, home):
    env = {**os.environ, 'TRADEML_HOME': str(home), 'TMPDIR': str(home)}
    return subprocess.run(
        [EXE, *map(str, args)], cwd=home, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope='module')
def project(tmp_path_factory):
    """A project with a 20-stock synthetic universe (one copy with a RED symbol) and a small config."""
    home = tmp_path_factory.mktemp('alpha')
    panel = make_synthetic_panel(20, 400, seed=3)
    panel.to_parquet(home / 'bars.parquet')
    cut = panel.index[panel['symbol'] == 'SYN007'][100:200]  # a quarter of its sessions missing
    panel.drop(cut).to_parquet(home / 'red.parquet')
    (home / 'alpha.yaml').write_text(CONFIG)
    return home


@pytest.fixture(scope='module')
def validated(project):
    r = run_cli(
        'alpha', 'validate', '--source', 'files', project / 'bars.parquet',
        '--config', project / 'alpha.yaml', '--trials', '2', home=project,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    return project / 'artifacts' / 'alpha' / 'validation', r


def test_validate_writes_the_report_and_logs_the_trials(validated):
    folder, r = validated
    names = {p.name for p in folder.iterdir()}
    assert {'report.html', 'report.json', 'report.md', 'run.json', 'health.csv'} <= names
    oof = pd.read_parquet(folder / 'oof_alpha.parquet')
    assert {'date', 'symbol', 'score'} <= set(oof.columns) and oof['symbol'].nunique() == 20
    facts = json.loads((folder / 'report.json').read_text())['facts']
    assert (
        facts['tuning_trials'] == 2 and facts['n_trials'] == 1 + 2
    )  # the seed and the tuning trials
    assert '3 configurations tried (2 tuning trials)' in r.stdout
    assert 'survivorship' in r.stdout  # no membership was given
    import mlflow

    client = mlflow.tracking.MlflowClient(f'sqlite:///{folder.parents[1] / "mlflow.db"}')
    exp = client.get_experiment_by_name('trademl-alpha')
    run = client.search_runs([exp.experiment_id])[0]
    assert run.data.metrics['n_trials'] == 3 and run.data.params['tuning_trials'] == '2'
    arts = {a.path for a in client.list_artifacts(run.info.run_id, 'report')}
    assert 'report/report.html' in arts and 'report/run.json' in arts


def test_train_registers_and_score_writes_json_and_markdown(validated, project):
    folder, _ = validated
    r = run_cli(
        'alpha', 'train', '--source', 'files', project / 'bars.parquet',
        '--validation', folder, '--end', '2001-03-30', home=project,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'alpha v1:' in r.stdout and ('PROMOTED' in r.stdout or 'REFUSED' in r.stdout)
    model = project / 'artifacts' / 'alpha' / 'model'
    assert {'model.txt', 'model.onnx', 'feature_list.json', 'alpha_model.json'} <= {
        p.name for p in model.iterdir()
    }
    info = json.loads((model / 'alpha_model.json').read_text())
    assert info['trained']['last_date'] <= '2001-03-30' and info['metrics']['n_trials'] == 3
    import mlflow

    client = mlflow.tracking.MlflowClient(f'sqlite:///{project / "artifacts" / "mlflow.db"}')
    mv = client.get_model_version_by_alias('alpha', 'challenger') if 'REFUSED' in r.stdout else None
    assert mv is None or str(mv.version) == '1'
    assert client.get_registered_model('alpha').name == 'alpha'

    r = run_cli(
        'alpha', 'score', '--source', 'files', project / 'bars.parquet', '--asof', '2001-06-01',
        home=project,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    out = project / 'artifacts' / 'alpha' / 'scores'
    doc = json.loads((out / 'scores_2001-06-01.json').read_text())
    t = pd.DataFrame(doc['scores'])
    assert len(t) == 20 and sorted(t['rank']) == list(range(1, 21))
    assert t.sort_values('score', ascending=False)['rank'].tolist() == list(range(1, 21))
    assert t.loc[t['rank'] == 1, 'weight'].item() > 0 > t.loc[t['rank'] == 20, 'weight'].item()
    md = (out / 'scores_2001-06-01.md').read_text()
    assert '# Alpha scores 2001-06-01' in md and all(s in md for s in t['symbol'])
    assert not list(out.glob('.*.tmp'))

    # ... and the paper account trades those weights on the simulated broker
    r = run_cli('paper', 'rebalance', '--scores', out / 'scores_2001-06-01.json', home=project)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '2001-06-01' in r.stdout
    r = run_cli('paper', 'status', home=project)
    assert r.returncode == 0 and '2001-06-01' in r.stdout, r.stdout + r.stderr
    import re

    orders = re.findall(r'open: (buy|sell) [0-9.]+ (SYN\d+) ', r.stdout)
    w = t.set_index('symbol')['weight']
    assert len(orders) >= 10, r.stdout  # the book's names are ordered (fills at the next open)
    assert all((side == 'buy') == (w[sym] > 0) for side, sym in orders), orders


def test_red_data_is_refused_naming_the_symbol_and_allow_red_trains(project):
    args = ['--source', 'files', project / 'red.parquet', '--config', project / 'alpha.yaml']
    r = run_cli('alpha', 'train', *args, '--out', project / 'red_model', home=project)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 1 and len(lines) == 1 and 'Traceback' not in r.stderr, r.stderr
    assert 'SYN007 (coverage' in lines[0] and '--allow-red' in lines[0]
    assert not (project / 'red_model').exists()
    r = run_cli('alpha', 'train', *args, '--out', project / 'red_model', '--allow-red',
                '--no-register', home=project)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    info = json.loads((project / 'red_model' / 'alpha_model.json').read_text())
    assert 'SYN007' in info['symbols'] and info['red_kept'] == ['SYN007']


def test_bad_horizon_and_sample_source_are_one_line(project):
    (project / 'h.yaml').write_text('validation:\n  horizon: 500\n')
    r = run_cli('alpha', 'train', '--source', 'files', project / 'bars.parquet', '--config',
                project / 'h.yaml', '--no-register', home=project)  # fmt: skip
    assert r.returncode == 2 and 'history has 400' in r.stderr, r.stderr
    (project / 'h.yaml').write_text('validation:\n  horizon: -3\n')
    r = run_cli('alpha', 'validate', '--config', project / 'h.yaml', home=project)
    assert r.returncode == 2 and 'horizon' in r.stderr and 'Traceback' not in r.stderr
    r = run_cli('alpha', 'validate', '--source', 'sample', home=project)
    assert r.returncode == 1 and 'needs at least 5' in r.stderr, r.stderr


def test_data_describe_prints_health_and_every_change(project):
    p = make_synthetic_panel(6, 300, seed=1)
    i = p.index[p['symbol'] == 'SYN002'][50]
    p.loc[i, 'high'] = p.loc[i, ['open', 'close']].min() * 0.98  # a high below the body
    p.to_parquet(project / 'hl.parquet')
    r = run_cli('data', 'describe', '--source', 'files', project / 'hl.parquet', home=project)
    day = f'{p.loc[i, "date"]:%Y-%m-%d}'
    assert r.returncode == 1  # a hard defect for the strict loader ...
    assert f'changed SYN002 {day} high_low_bound: high raised' in r.stdout  # ... the policy repairs
    assert 'GREEN' in r.stdout and 'warning: no point-in-time universe' in r.stdout
    m = project / 'members.csv'
    pd.DataFrame({'symbol': p['symbol'].unique(), 'from': '1990-01-01'}).to_csv(m, index=False)
    r = run_cli('data', 'describe', '--source', 'files', project / 'hl.parquet', '--membership', m,
                home=project)  # fmt: skip
    assert 'warning: no point-in-time' not in r.stdout, r.stdout
