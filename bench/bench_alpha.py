"""Cross-sectional alpha features and labels for a stock universe (target: features + ranks + labels of
505 symbols x 1,259 days in at most 10 s), and ONNX scoring of one date's 500 names (target: at most 10 ms).

Uses the real S&P 500 panel in ../shared/data when it is there, else a random-walk panel of the same size.
The full `trademl alpha validate` on that panel is timed by hand:
  /usr/bin/time -v trademl alpha validate --source files ../shared/data/sp500_5yr.parquet --out /tmp/val
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

    t_all, _ = best_of(
        lambda: (
            cross_sectional(alpha_features(panel), 'rank'),
            forward_return(panel, 5, 'demeaned'),
        )
    )
    print(f'features + ranks + 5-day labels: {t_all:6.3f} s (target <= 10 s)')

# ONNX scoring of one date's names with a model trained on the ranked features
import tempfile  # noqa: E402

import numpy as np  # noqa: E402

from trademl.alpha import AlphaConfig, AlphaModel, onnx_scores  # noqa: E402
from trademl.alpha_labels import LabelConfig, make_labels  # noqa: E402

X = cross_sectional(alpha_features(panel), 'rank')
y = make_labels(panel, LabelConfig(k=5, how='demeaned'))['label'].reindex(X.index)
last = X.index.get_level_values('date').max()
model = AlphaModel(AlphaConfig(n_estimators=300)).fit(X, y)
rows = X.xs(last, level='date', drop_level=False)
rows = rows.iloc[np.arange(500) % len(rows)]  # 500 names
with tempfile.TemporaryDirectory() as tmp:
    path = model.export_onnx(Path(tmp) / 'model.onnx')
    t_file, _ = best_of(lambda: onnx_scores(path, rows, model.features_), repeats=5)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    x = rows[model.features_].to_numpy(dtype=np.float32)
    t_run, _ = best_of(lambda: sess.run(None, {sess.get_inputs()[0].name: x}), repeats=20)
    diff = float(np.max(np.abs(onnx_scores(path, rows, model.features_) - model.predict(rows))))
t_native, _ = best_of(lambda: model.predict(rows), repeats=20)
print(
    f'ONNX scoring of 500 names, 300 trees: {t_run * 1e3:.2f} ms per call with a session '
    f'(target <= 10 ms); {t_file * 1e3:.1f} ms including the session start; '
    f'native LightGBM {t_native * 1e3:.2f} ms; max |ONNX - native| {diff:.1e}'
)
