"""Shared fixtures for trademl's integration tests."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / 'shared' / 'data'
ETF_PANEL = SHARED_DATA / 'etf_panel.parquet'

os.environ.setdefault('MLFLOW_DISABLE_TELEMETRY', 'true')
os.environ.setdefault('HF_HUB_OFFLINE', '1')


@pytest.fixture
def etf_panel_path():
    "Path of the real ETF panel in ../shared/data; the test is skipped when it is absent."
    if not ETF_PANEL.is_file():
        pytest.skip(
            f'real ETF panel not found at {ETF_PANEL} (../shared/data is not beside this checkout)'
        )
    return ETF_PANEL


def good_bars(n=6, start='2021-03-01', base=50.0):
    "A small valid OHLCV frame (no symbol column), as one CSV file would hold it."
    d = pd.bdate_range(start, periods=n)
    c = base + np.arange(n, dtype=float)
    return pd.DataFrame(
        {
            'date': d.strftime('%Y-%m-%d'),
            'open': c,
            'high': c + 1,
            'low': c - 1,
            'close': c + 0.5,
            'volume': 1000.0 * (1 + np.arange(n)),
        }
    )


@pytest.fixture
def csv_folder(tmp_path):
    "A folder with two valid per-symbol CSV files; tests add a broken one."
    folder = tmp_path / 'csvs'
    folder.mkdir()
    good_bars().to_csv(folder / 'GOOD.csv', index=False)
    good_bars(base=80.0).to_csv(folder / 'FINE.csv', index=False)
    return folder


@pytest.fixture(scope='module')
def single_thread():
    "Run a test module's torch work on one thread: tiny CPU models train much faster and more reproducibly."
    torch = pytest.importorskip('torch')
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
