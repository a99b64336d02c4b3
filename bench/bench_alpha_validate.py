"""The full alpha validation after costs on the real S&P 500 panel (CPCV N = 6, k = 2, 3 seeds, the
feature-group ablation and the baselines), the shuffled-label control, and the planted-signal control
on a synthetic universe of 200 stocks. Prints wall time, peak memory and the result tables.

Run: python bench/bench_alpha_validate.py [--only full|shuffled|planted] [--seeds 3] [--no-ablation] [--out DIR]
"""

import argparse
import resource
import time
from pathlib import Path

import pandas as pd

from trademl.alpha_validation import validate_alpha, write_alpha_report
from trademl.data import make_synthetic_panel

COLS = [
    'ic',
    'rank_ic',
    'icir',
    'decile_spread',
    'net_sharpe_mean',
    'net_sharpe_std',
    'turnover',
    'dsr',
    'pbo',
]

ap = argparse.ArgumentParser()
ap.add_argument('--only', choices=['full', 'shuffled', 'planted', 'etf'], action='append')
ap.add_argument('--seeds', type=int, default=3)
ap.add_argument('--threads', type=int, default=1)
ap.add_argument('--out', default=None)
ap.add_argument('--no-ablation', action='store_true', help='skip the feature-group ablation runs')
a = ap.parse_args()
real = Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'sp500_5yr.parquet'


def run(name, panel, cfg):
    t = time.perf_counter()
    res = validate_alpha(panel, cfg)
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(
        f'\n## {name}: {dt:.1f} s, peak RSS so far {peak:.2f} GB, trials {res.facts["n_trials"]}, '
        f'{res.facts["symbols"]} symbols x {res.facts["dates"]} dates, RED dropped '
        f'{res.facts["red_dropped"]}'
    )
    print(res.table[COLS].astype(float).round(4).to_markdown())
    if getattr(res, 'dm', None) is not None and len(res.dm):
        print(
            '\nDiebold–Mariano (loss: the negative daily net return; negative = the alpha core earned more):'
        )
        print(res.dm.round(4).to_markdown(index=False))
    if a.out:
        write_alpha_report(res, Path(a.out) / name)
    return res


todo = a.only or ['planted', 'shuffled', 'full', 'etf']
base = {'red': 'drop', 'threads': a.threads}
if 'planted' in todo:
    run(
        'planted signal, synthetic 200 x 1000',
        make_synthetic_panel(200, 1000, signal=0.3),
        base | {'seeds': [0], 'ablation': False, 'importance_splits': 0},
    )
if real.is_file():
    sp = pd.read_parquet(real)
    if 'shuffled' in todo:
        run(
            'shuffled labels, sp500_5yr',
            sp,
            base
            | {'seeds': [0], 'ablation': False, 'importance_splits': 0, 'shuffle_labels': True},
        )
    if 'full' in todo:
        res = run(
            'full, sp500_5yr',
            sp,
            base | {'seeds': list(range(a.seeds)), 'ablation': not a.no_ablation},
        )
        print('\nimportance (first seed, first splits):')
        print(res.importance.sort_values('gain', ascending=False).round(4).to_markdown())
else:
    print(f'real S&P 500 panel not found at {real}: the real-data runs are skipped')
etf = real.with_name('etf_panel.parquet')
if 'etf' in todo and etf.is_file():
    ep = pd.read_parquet(etf)
    ep = ep[~ep['symbol'].str.startswith('^') & (ep['date'] >= '1999-01-01')]  # tradable ETFs only
    run(
        'ETF panel (the 18 tradable ETFs, 1999 on)',
        ep,
        base | {'seeds': list(range(a.seeds)), 'ablation': False, 'max_weight': 0.2},
    )
