"""All strategies' signals and the allocation at one as-of date (target: <= 300 ms on CPU), and optionally the full walk-forward validation table.

Uses the real ETF panel in ../shared/data (required). `--breadth` adds the Magnificent-Seven breadth
strategy on the stocks of sp500_5yr.parquet (the as-of date must then fall inside 2013-2018).
Run: python bench/bench_allocation.py [--asof 2020-06-30] [--validate] [--start 1999-01-01] [--out table.csv]
"""

import argparse
import time
from pathlib import Path

import pandas as pd

from trademl.allocation import AllocationConfig, allocate, default_strategies
from trademl.allocation_validation import allocation_markdown, validate_allocation
from trademl.data import load_panel

ap = argparse.ArgumentParser()
ap.add_argument('--asof', default='2020-06-30')
ap.add_argument('--repeat', type=int, default=5)
ap.add_argument('--validate', action='store_true')
ap.add_argument('--breadth', action='store_true')
ap.add_argument('--start', default='1999-01-01')
ap.add_argument('--out', default=None)
a = ap.parse_args()
data = Path(__file__).resolve().parents[1].parent / 'shared' / 'data'
panel = load_panel('files', data / 'etf_panel.parquet')
cfg = AllocationConfig()
if a.breadth:
    stocks = pd.read_parquet(data / 'sp500_5yr.parquet')
    stocks = stocks[stocks['symbol'].isin(['AAPL', 'MSFT', 'AMZN', 'GOOGL', 'FB', 'NVDA'])]
    panel = pd.concat([panel, stocks.assign(adj_close=stocks['close'])], ignore_index=True)
    cfg = AllocationConfig(strategies=default_strategies('+breadth'))
times, cpu = [], []
for _ in range(a.repeat):
    t0, c0 = time.perf_counter(), time.process_time()
    alloc = allocate(panel, cfg, asof=a.asof)
    times.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
print(
    f'allocate at {alloc.asof:%Y-%m-%d} ({len(cfg.strategies)} strategies): '
    f'wall best {1000 * min(times):.0f} ms, median {1000 * sorted(times)[len(times) // 2]:.0f} ms; '
    f'CPU time best {1000 * min(cpu):.0f} ms (target <= 300 ms)'
)
print(' ', alloc)
if a.validate:
    t0 = time.perf_counter()
    tab = validate_allocation(panel, cfg, start=a.start)
    print(
        f'walk-forward validation from {tab.attrs["start"]} to {tab.attrs["end"]} in {time.perf_counter() - t0:.0f} s; '
        f'PBO {tab.attrs["pbo"]:.2f} over {tab.attrs["n_trials"]} configurations'
    )
    print(allocation_markdown(tab))
    if a.out:
        tab.to_csv(a.out)
