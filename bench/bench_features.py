"""Features for 100 symbols x 5,000 days (SPEC target: TA + MTF + SMC <= 5 s; SMC >= 100x the seed's loops).

Run: python bench/bench_features.py [--symbols 100] [--days 5000] [--slice 5]
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from common import best_of, random_walk_panel
from seed_smc_loops import seed_loops_one_symbol

from trademl.data import panel_arrays
from trademl.features import build_features
from trademl.smc import smc_features, smc_features_loop
from trademl.ta import _ta_block, compute_ta_features

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests'))
from ta_reference import reference_ta_block  # the NumPy indicators trademl used before TA-Lib

ap = argparse.ArgumentParser()
ap.add_argument('--symbols', type=int, default=100)
ap.add_argument('--days', type=int, default=5000)
ap.add_argument(
    '--slice', type=int, default=5, help='symbols on which the slow loops are timed, then scaled up'
)
a = ap.parse_args()
panel = random_walk_panel(a.symbols, a.days)
pa = panel_arrays(panel)
t_ta, _ = best_of(lambda: compute_ta_features(pa))
t_smc, _ = best_of(lambda: smc_features(pa))
t_all, f = best_of(lambda: build_features(panel))
hlcv = [pa[k] for k in ('high', 'low', 'close', 'volume')]
with np.errstate(divide='ignore', invalid='ignore'):
    t_numpy, old = best_of(lambda: reference_ta_block(*hlcv))
    t_talib, new = best_of(lambda: _ta_block(*hlcv))
valid = ~np.isnan(pa['close'])
diff = max(float(np.nanmax(np.abs(np.where(valid, old[k] - new[k], np.nan)))) for k in new)
print(f'panel {a.symbols} x {a.days} = {len(panel):,} rows')
print(
    f'TA only (12 columns): TA-Lib per symbol {t_talib:6.3f} s, former NumPy code {t_numpy:6.3f} s'
    f'  -> ratio NumPy/TA-Lib {t_numpy / t_talib:4.2f}  (max abs difference {diff:.1e})'
)
print(f'TA + MTF (17 columns):            {t_ta:6.3f} s')
print(f'SMC (12 columns), vectorised:     {t_smc:6.3f} s')
print(f'build_features (29, incl. validation and frame): {t_all:6.3f} s   (target <= 5 s)')
sl = {k: v[:, : a.slice] for k, v in pa.values.items()}
t_loop, _ = best_of(lambda: smc_features_loop(sl), 1)
t_seed, _ = best_of(
    lambda: [
        seed_loops_one_symbol(
            pd.DataFrame({k: sl[k][:, j] for k in ['open', 'high', 'low', 'close']})
        )
        for j in range(a.slice)
    ],
    1,
)
scale = a.symbols / a.slice
print(
    f'SMC loop reference (same definitions): {t_loop * scale:7.1f} s  (timed on {a.slice} symbols x {scale:.0f})  -> vectorised is {t_loop * scale / t_smc:5.0f}x faster'
)
print(
    f"seed 002's pandas .iloc loops:        {t_seed * scale:7.1f} s  (timed on {a.slice} symbols x {scale:.0f})  -> vectorised is {t_seed * scale / t_smc:5.0f}x faster (target >= 100x)"
)
