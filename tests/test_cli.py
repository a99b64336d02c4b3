"""The command line: `trademl demo` end to end, and one error line, exit codes and clean-up."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).parent / 'trademl')


def run_cli(*args, home, timeout=300):
    """Run `trademl` in a fresh project under `home`; the completed process."""
    env = {**os.environ, 'TRADEML_HOME': str(home), 'TMPDIR': str(home)}
    return subprocess.run(
        [EXE, *map(str, args)], cwd=home, env=env, capture_output=True, text=True, timeout=timeout
    )


def one_error_line(r) -> str:
    """The single non-empty stderr line of a failed command (no traceback)."""
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert 'Traceback' not in r.stderr + r.stdout, r.stderr
    assert len(lines) == 1 and lines[0].startswith('error: '), r.stderr
    return lines[0]


def test_demo_writes_a_data_report(tmp_path):
    env = {**os.environ, 'TRADEML_HOME': str(tmp_path)}
    r = subprocess.run(
        [str(Path(sys.executable).parent / 'trademl'), 'demo', '--epochs', '1'],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    report = tmp_path / 'artifacts' / 'demo' / 'data_report.md'
    text = report.read_text()
    assert '^GSPC' in text and '^IXIC' in text and 'Defects: 0' in text
    js = json.loads((tmp_path / 'artifacts' / 'demo' / 'data_report.json').read_text())
    assert [s['rows'] for s in js['summary']] == [5031, 5031]
    assert not list(report.parent.glob('.*.tmp'))  # atomic writes leave no temporary files
    # the demo trains both small models, prints their signals, and ends with the validation table
    assert (tmp_path / 'artifacts' / 'models' / 'tft-sample' / 'model.safetensors').is_file()
    assert 'timeformer' in r.stdout and any(s in r.stdout for s in ('LONG', 'SHORT', 'FLAT'))
    table = (tmp_path / 'artifacts' / 'validation' / 'sample.md').read_text()
    for method in [
        'always_long',
        'momentum',
        'lgbm_classical',
        'timeformer',
        'tft',
        'ensemble',
        'ensemble_veto',
    ]:
        assert f'| {method} |' in table
    assert 'PBO' in table
    # ... then a backtest after costs from the end of the training data, and the daily report of the last sample date
    bt = json.loads((tmp_path / 'artifacts' / 'demo' / 'backtest' / 'backtest.json').read_text())
    assert (
        bt['end'] == '2018-12-31'
        and bt['start'] >= bt['out_of_sample_from']
        and 'sharpe' in bt['stats']
    )
    assert (tmp_path / 'artifacts' / 'demo' / 'backtest' / 'tearsheet.html').is_file()
    rep = json.loads(
        (tmp_path / 'artifacts' / 'demo' / 'reports' / 'report_2018-12-31.json').read_text()
    )
    assert rep['asof'] == '2018-12-31' and set(rep['targets']) == {'^GSPC', '^IXIC'}
    assert (
        tmp_path / 'artifacts' / 'demo' / 'reports' / 'report_2018-12-31.html'
    ).stat().st_size > 100_000
    assert '2018-12-31: status' in r.stdout and 'demo finished' in r.stdout.splitlines()[-1]
    # ... and a simulated paper rebalance at that date, recorded in the blotter
    assert (
        tmp_path / 'artifacts' / 'demo' / 'paper' / 'sim.db'
    ).is_file() and 'simulated paper rebalance' in r.stdout
    st = subprocess.run(
        [
            str(Path(sys.executable).parent / 'trademl'),
            'paper',
            'status',
            '--dir',
            str(tmp_path / 'artifacts' / 'demo' / 'paper'),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert st.returncode == 0 and '2018-12-31 done' in st.stdout, st.stdout + st.stderr
    # the demo's models backtested again, sized by Kelly from the forecasts and with each trade's
    # impact from its Almgren–Chriss schedule
    k = subprocess.run(
        [
            str(Path(sys.executable).parent / 'trademl'),
            'backtest',
            '--sizing',
            'kelly-forecast',
            '--impact',
            'almgren-chriss',
            '--no-tearsheet',
            '--out',
            str(tmp_path / 'kelly'),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert k.returncode == 0, k.stdout + k.stderr
    kb = json.loads((tmp_path / 'kelly' / 'backtest.json').read_text())
    assert kb['config']['portfolio']['sizing'] == 'kelly-forecast'
    assert kb['config']['costs']['impact_model'] == 'almgren_chriss'
    assert kb['start'] == bt['start'] and kb['stats'] != bt['stats']


def test_unknown_command_and_bad_source_fail_cleanly(tmp_path):
    exe = str(Path(sys.executable).parent / 'trademl')
    r = subprocess.run(
        [exe, 'data', 'describe', '--source', 'nope'], capture_output=True, text=True, cwd=tmp_path
    )
    assert r.returncode == 2 and 'Traceback' not in r.stderr and 'unknown data source' in r.stderr
    r = subprocess.run([exe, 'nope'], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and 'Traceback' not in r.stderr and 'No such command' in r.stderr


def test_a_path_that_is_not_a_folder_is_one_line(tmp_path):
    r = run_cli('dataset', 'build', '--source', 'files', '/dev/null', home=tmp_path)
    line = one_error_line(r)
    assert r.returncode == 1 and '/dev/null' in line, line


def test_a_missing_path_is_a_usage_error(tmp_path):
    r = run_cli('dataset', 'build', '--source', 'files', tmp_path / 'missing', home=tmp_path)
    line = one_error_line(r)
    assert r.returncode == 2 and 'missing does not exist' in line, line


@pytest.mark.parametrize(
    'args, option',
    [
        (('report', '--asof', 'notadate'), '--asof'),
        (('paper', 'rebalance', '--asof', '2018-13-45'), '--asof'),
        (('backtest', '--start', 'soon'), '--start'),
        (('dataset', 'build', '--source', 'synthetic', '--end', '31/12/2018'), '--end'),
    ],
)
def test_a_bad_date_names_the_option(tmp_path, args, option):
    r = run_cli(*args, home=tmp_path)
    line = one_error_line(r)
    value = args[-1]
    assert line == f'error: {option}: {value!r} is not a date (YYYY-MM-DD)', line
    assert r.returncode == 2  # a bad option value is a usage error, like an unknown option
    assert not (tmp_path / 'data').exists()  # nothing was built before the error


@pytest.mark.parametrize('signum, code', [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_run_exits_with_the_signal_and_cleans_up(tmp_path, signum, code):
    env = {**os.environ, 'TRADEML_HOME': str(tmp_path)}
    p = subprocess.Popen(
        [EXE, 'busy', '--seconds', '120'],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tmp = tmp_path / 'artifacts' / 'tmp'
    deadline = time.time() + 120
    while not list(tmp.glob('.busy.*/started')) and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    assert list(tmp.glob('.busy.*/started')), 'the command never started its work'
    p.send_signal(signum)
    out, err = p.communicate(timeout=60)
    name = signal.Signals(signum).name
    lines = [x for x in err.splitlines() if x.strip()]
    assert p.returncode == code, (p.returncode, err)
    assert lines == [f'error: interrupted by {name}'] and 'Traceback' not in err + out, err
    assert list(tmp.iterdir()) == []  # its temporary folder is gone


def test_training_output_has_no_third_party_chatter(tmp_path):
    from trademl.data import make_synthetic_panel
    from trademl.dataset import build_dataset, window_view
    from trademl.kronos import pretrain_local_embedder

    panel = make_synthetic_panel(3, 400, seed=0, signal=0.2)
    prices = panel[['open', 'high', 'low', 'close', 'volume']].to_numpy()[:300]
    emb = pretrain_local_embedder(window_view(prices, 60)[::3], epochs=1, seed=0)
    emb_path = emb.save(tmp_path / 'emb')
    ds = build_dataset(
        panel,
        'local',
        name='tiny',
        root=tmp_path / 'ds',
        window=60,
        embedder_path=str(emb_path),
        cache=False,
    )
    r = run_cli(
        'train',
        'timeformer',
        '--dataset',
        ds.path,
        '--epochs',
        '1',
        '--no-mlflow',
        '--device',
        'cpu',
        '--out',
        tmp_path / 'model',
        home=tmp_path,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    text = r.stdout + r.stderr
    for chatter in ('GPU available', 'litlogger', 'Warning', 'warn'):
        assert chatter not in text, f'{chatter!r} in the output:\n{text[-3000:]}'
    assert 'timeformer (small' in r.stdout
    assert (tmp_path / 'artifacts' / 'logs' / 'train.log').is_file()
