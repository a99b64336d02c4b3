"""`trademl demo` runs on the offline sample and writes its report under artifacts/."""

import json
import os
import subprocess
import sys
from pathlib import Path


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


def test_unknown_command_and_bad_source_fail_cleanly(tmp_path):
    exe = str(Path(sys.executable).parent / 'trademl')
    r = subprocess.run(
        [exe, 'data', 'describe', '--source', 'nope'], capture_output=True, text=True, cwd=tmp_path
    )
    assert r.returncode == 2 and 'Traceback' not in r.stderr and 'unknown data source' in r.stderr
