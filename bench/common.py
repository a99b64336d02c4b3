"""Helpers shared by the benchmarks: timing and a seeded random-walk panel."""

import time

import numpy as np
import pandas as pd


def best_of(fn, repeats=3):
    "Best wall-clock seconds of `repeats` calls of `fn` (and its last result)."
    best, out = float('inf'), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def random_walk_panel(n_symbols=100, n_days=5000, seed=0):
    "A valid long panel of seeded random walks with occasional 5 % jumps (so order blocks and gaps occur)."
    rng = np.random.default_rng(seed)
    r = rng.normal(0, 0.01, (n_days, n_symbols)) + rng.choice(
        [0.0, 0.05, -0.05], (n_days, n_symbols), p=[0.9, 0.05, 0.05]
    )
    c = 100 * np.exp(np.cumsum(r, 0))
    o = np.vstack([c[:1], c[:-1]]) * np.exp(rng.normal(0, 0.005, r.shape))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.005, r.shape)))
    l = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.005, r.shape)))
    v = np.round(rng.lognormal(13, 0.5, r.shape))
    dates = pd.bdate_range('2000-01-03', periods=n_days)
    syms = np.array([f'S{i:03d}' for i in range(n_symbols)])
    return pd.DataFrame(
        {
            'date': np.tile(dates, n_symbols),
            'symbol': np.repeat(syms, n_days),
            'open': o.T.ravel(),
            'high': h.T.ravel(),
            'low': l.T.ravel(),
            'close': c.T.ravel(),
            'volume': v.T.ravel(),
        }
    )


def quick_models(
    folder,
    n_symbols=100,
    n_days=400,
    preset='small',
    max_train_samples=512,
    names=('timeformer', 'tft'),
):
    "A synthetic panel, its dataset (local embedder, one pretraining epoch) and `names` trained one epoch in `folder`."
    from trademl.data import make_synthetic_panel
    from trademl.dataset import build_dataset
    from trademl.train import train_model

    panel = make_synthetic_panel(n_symbols, n_days, seed=0)
    ds = build_dataset(
        panel, 'local', name='b', root=folder, pretrain_epochs=1, pretrain_windows=2000, cache=False
    )
    models = {
        name: train_model(
            ds,
            name,
            preset,
            epochs=1,
            out_dir=f'{folder}/{name}',
            mlflow=False,
            progress=False,
            max_train_samples=max_train_samples,
        ).trained
        for name in names
    }
    return panel, ds, models
