"""Cross-sectional alpha features and labels for a stock universe (target: 505 symbols x 1,259 days in a few seconds).

Uses the real S&P 500 panel in ../shared/data when it is there, else a random-walk panel of the same size.
Run: python bench/bench_alpha.py [--symbols 505] [--days 1259]
"""

import argparse
from pathlib import Path

import pandas as pd
from common import best_of, random_walk_panel

from trademl.alpha_features import alpha_features, cross_sectional
from trademl.health import find_anomalies

ap = argparse.ArgumentParser()
ap.add_argument('--symbols', type=int, default=505)
ap.add_argument('--days', type=int, default=1259)
a = ap.parse_args()
real = Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'sp500_5yr.parquet'
if real.is_file() and (a.symbols, a.days) == (505, 1259):
    panel, what = pd.read_parquet(real), 'real S&P 500 panel'
else:
    panel, what = random_walk_panel(a.symbols, a.days), 'random-walk panel'
print(
    f'{what}: {panel.symbol.nunique()} symbols x {panel.date.nunique()} days = {len(panel):,} rows'
)
t_h, _ = best_of(lambda: find_anomalies(panel))
t_f, f = best_of(lambda: alpha_features(panel))
t_r, _ = best_of(lambda: cross_sectional(f, 'rank'))
t_z, _ = best_of(lambda: cross_sectional(f, 'z'))
print(f'find_anomalies:               {t_h:6.3f} s')
print(f'alpha_features ({f.shape[1]} columns): {t_f:6.3f} s')
print(f"cross_sectional('rank'):      {t_r:6.3f} s")
print(f"cross_sectional('z'):         {t_z:6.3f} s")
try:
    from trademl.alpha_labels import forward_return, triple_barrier_labels
except ImportError:
    pass
else:
    t_l, _ = best_of(lambda: forward_return(panel, 5, 'demeaned'))
    t_tb, _ = best_of(lambda: triple_barrier_labels(panel))
    print(f"forward_return(5, 'demeaned'): {t_l:6.3f} s")
    print(f'triple_barrier_labels:        {t_tb:6.3f} s')
