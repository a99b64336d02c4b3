"""The `files` source refuses broken CSV folders with errors that name symbol, date and column,
and `trademl data describe` reports every defect like a linter, writing nothing."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import good_bars

from trademl.core import ConfigError, DataError
from trademl.data import describe, load_panel


def broken(kind):
    "A per-symbol frame with one defect of `kind` on 2021-03-03; returns (frame, expected column)."
    f = good_bars()
    i = 2  # 2021-03-03
    if kind == 'duplicated date':
        f = pd.concat([f.iloc[:3], f.iloc[[i]], f.iloc[3:]], ignore_index=True)
        col = 'date'
    elif kind == 'NaN close':
        f.loc[i, 'close'] = np.nan
        col = 'close'
    elif kind == 'negative price':
        f.loc[i, 'open'] = -52.0
        col = 'open'
    elif kind == 'high below low':
        f.loc[i, 'high'] = f.loc[i, 'low'] - 5
        col = 'high'
    else:
        raise ValueError(kind)
    return f, col


@pytest.mark.parametrize(
    'kind', ['duplicated date', 'NaN close', 'negative price', 'high below low']
)
def test_each_defect_is_named_by_symbol_date_and_column(csv_folder, kind):
    frame, column = broken(kind)
    frame.to_csv(csv_folder / 'BAD.csv', index=False)
    with pytest.raises(DataError) as e:
        load_panel('files', csv_folder)
    msg = str(e.value)
    assert f'symbol BAD date 2021-03-03 column {column}' in msg, msg
    assert 'GOOD' not in msg and 'FINE' not in msg  # only the broken file is blamed


def test_unknown_column_layout_names_file_and_columns(csv_folder):
    pd.DataFrame({'Day': ['2021-03-01'], 'Price': [1.0], 'Qty': [5]}).to_csv(
        csv_folder / 'ODD.csv', index=False
    )
    with pytest.raises(DataError) as e:
        load_panel('files', csv_folder)
    msg = str(e.value)
    assert 'ODD.csv' in msg and 'unknown column layout' in msg and "'Price'" in msg, msg


def test_repair_fixes_and_reports_instead_of_raising(csv_folder):
    frame, _ = broken('high below low')
    frame.to_csv(csv_folder / 'BAD.csv', index=False)
    p = load_panel('files', csv_folder, repair=True)
    rep = p.attrs['repairs']
    assert len(rep) == 1 and rep.iloc[0]['symbol'] == 'BAD' and rep.iloc[0]['column'] == 'high'
    bad = p[(p.symbol == 'BAD') & (p.date == '2021-03-03')].iloc[0]
    assert bad.high == max(bad.open, bad.close)


def run_cli(*args, cwd):
    env = {**os.environ, 'TRADEML_HOME': str(cwd)}
    return subprocess.run(
        [str(Path(sys.executable).parent / 'trademl'), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def snapshot(folder):
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob('*')
    )


def test_describe_lists_every_defect_on_its_own_line_and_exits_nonzero(csv_folder, tmp_path):
    for kind, name in [
        ('duplicated date', 'DUP'),
        ('NaN close', 'NAN'),
        ('negative price', 'NEG'),
        ('high below low', 'HBL'),
    ]:
        broken(kind)[0].to_csv(csv_folder / f'{name}.csv', index=False)
    pd.DataFrame({'Day': ['2021-03-01'], 'Price': [1.0]}).to_csv(
        csv_folder / 'ODD.csv', index=False
    )
    before = snapshot(tmp_path)
    r = run_cli('data', 'describe', '--source', 'files', str(csv_folder), cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert 'Traceback' not in r.stdout + r.stderr
    lines = r.stdout.splitlines()
    expect = [
        'symbol DUP date 2021-03-03 column date',
        'symbol NAN date 2021-03-03 column close',
        'symbol NEG date 2021-03-03 column open',
        'symbol HBL date 2021-03-03 column high',
        'symbol ODD.csv',
    ]
    for e in expect:
        assert sum(e in l for l in lines) >= 1, f'{e!r} not on its own line in:\n{r.stdout}'
    for sym in ['GOOD', 'FINE']:
        assert any(
            l.lstrip('│ ').startswith(sym) for l in lines
        )  # valid files are still summarised
    assert snapshot(tmp_path) == before  # nothing written anywhere under the project


def test_describe_clean_folder_exits_zero(csv_folder, tmp_path):
    r = run_cli('data', 'describe', '--source', 'files', str(csv_folder), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'no defects found' in r.stdout


def test_describe_bad_path_is_one_readable_line(tmp_path):
    r = run_cli('data', 'describe', '--source', 'files', str(tmp_path / 'missing'), cwd=tmp_path)
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    assert r.stderr.strip().startswith('error:') and 'does not exist' in r.stderr


def test_describe_function_counts_defects_per_symbol(csv_folder):
    broken('NaN close')[0].to_csv(csv_folder / 'NAN.csv', index=False)
    summary, defects = describe('files', csv_folder)
    assert dict(zip(summary.symbol, summary.defects)) == {'FINE': 0, 'GOOD': 0, 'NAN': 1}
    assert [d.kind for d in defects] == ['not_finite']


def test_yfinance_source_fails_clearly_offline_or_returns_a_valid_panel():
    pytest.importorskip('yfinance')
    from trademl.data import validate_panel

    try:
        p = load_panel('yfinance', symbols=['SPY'], start='2020-01-02', end='2020-01-31')
    except DataError as e:
        assert 'symbol SPY' in str(e)  # offline (CI): one clear error naming the symbol
    else:
        validate_panel(p)
        assert set(p.symbol) == {'SPY'}


def test_a_path_that_is_neither_folder_nor_file_is_a_data_error_naming_it():
    with pytest.raises(DataError, match='/dev/null is neither a folder nor a regular file'):
        load_panel('files', '/dev/null')


def test_one_long_file_is_accepted_as_a_path(csv_folder):
    long = pd.concat([good_bars().assign(symbol='AAA'), good_bars(base=70.0).assign(symbol='BBB')])
    long.to_csv(csv_folder / 'long.csv', index=False)
    p = load_panel('files', csv_folder / 'long.csv')
    assert sorted(p.symbol.unique()) == ['AAA', 'BBB'] and len(p) == 12


@pytest.mark.parametrize(
    'name, content',
    [('BAD.csv', b'\xff\xfe\x00\x01garbage'), ('BAD.parquet', b'not parquet'), ('BAD.csv', b'')],
)
def test_a_file_pandas_cannot_read_is_a_data_error_naming_it(csv_folder, name, content):
    (csv_folder / name).write_bytes(content)
    with pytest.raises(DataError, match=f'file {name}'):
        load_panel('files', csv_folder)


def test_bad_arguments_are_config_errors_naming_them():
    with pytest.raises(ConfigError, match='available sources'):
        load_panel('nope')
    with pytest.raises(ConfigError, match='start/end must be dates'):
        load_panel('sample', start='soon')
    with pytest.raises(ConfigError, match='symbols must be'):
        load_panel('sample', symbols=[1, 2])


def test_public_array_and_harness_entry_points_name_a_missing_column():
    from trademl.data import panel_arrays
    from trademl.features import assert_causal, build_features

    panel = load_panel('sample', start='2018-01-01')
    with pytest.raises(DataError, match=r"no column\(s\) \['vwap'\]"):
        panel_arrays(panel, ['close', 'vwap'])
    with pytest.raises(DataError, match='needs a panel'):
        assert_causal(build_features, panel.drop(columns='date'))
