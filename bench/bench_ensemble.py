"""The default-size ensemble (TimeFormer-XL + TFT-XL + veto) for 100 symbols at one as-of date, end to end
from the panel, with the time of each stage: features and windows, embeddings, each model's forward pass,
the veto, and the signal dicts.

    python bench/bench_ensemble.py                 # 100 symbols x 400 days, 2 threads, default presets
    python bench/bench_ensemble.py --preset small --threads 1

The models are trained for one short epoch (the weights' values do not change the cost of a forward pass).
On CUDA (when available) the forward passes are also timed on the GPU.
"""

import argparse
import os
import tempfile
import time
from collections import defaultdict

os.environ.setdefault('MLFLOW_DISABLE_TELEMETRY', 'true')
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np
import pandas as pd
import torch

ap = argparse.ArgumentParser()
ap.add_argument('--symbols', type=int, default=100)
ap.add_argument('--days', type=int, default=400)
ap.add_argument('--threads', type=int, default=2)
ap.add_argument('--preset', default='default')
ap.add_argument('--repeats', type=int, default=5)
a = ap.parse_args()
torch.set_num_threads(a.threads)

from common import quick_models  # noqa: E402

import trademl.inference as inference  # noqa: E402
from trademl.ensemble import Ensemble, EnsembleWeights  # noqa: E402
from trademl.veto import VetoConfig, fit_veto  # noqa: E402

stages = defaultdict(list)


def timed(name, fn):
    """Wrap `fn` so each call's wall time is recorded under `name`."""

    def wrapper(*args, **kw):
        t = time.perf_counter()
        out = fn(*args, **kw)
        stages[name].append(time.perf_counter() - t)
        return out

    return wrapper


with tempfile.TemporaryDirectory() as d:
    panel, _, models = quick_models(d, a.symbols, a.days, a.preset, max_train_samples=256)
    ens = Ensemble(models, EnsembleWeights(), None, 5)
    x = inference.model_inputs(models['timeformer'], panel)[2]
    emb = inference._embedder_for(models['timeformer']).embed(x['windows'])
    preds, _, _ = ens.score(x['windows'], x['context'], emb)
    rng = np.random.default_rng(0)
    n = 600
    names = (
        [f'emb_{i}' for i in range(emb.shape[1])]
        + list(models['timeformer'].info['feature_names'])
        + list(preds.columns)
    )
    X = pd.DataFrame(rng.normal(size=(n, len(names))), columns=names)
    y = pd.Series((rng.random(n) > 0.5).astype(float))
    dates = pd.Series(np.repeat(pd.bdate_range('2020-01-01', periods=n // 4), 4))
    ens.veto = fit_veto(X, y, dates, VetoConfig(n_trials=0), 10)

    inference.model_inputs = timed('features and windows', inference.model_inputs)
    inference.run_model = timed('model forwards (all)', inference.run_model)
    ens.veto.predict_proba = timed('veto', ens.veto.predict_proba)
    embed_cls = type(inference._embedder_for(models['timeformer']))
    embed_cls.embed = timed('embeddings', embed_cls.embed)
    inference._embedder_for = timed('embedder load', inference._embedder_for)

    ens.predict(panel)  # warm-up
    stages.clear()
    totals = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        sig = ens.predict(panel)
        totals.append(time.perf_counter() - t)
    assert len(sig) == a.symbols

    print(
        f'ensemble ({a.preset} presets) for {a.symbols} symbols x {a.days} days, {a.threads} thread(s): '
        f'best {min(totals) * 1e3:.0f} ms, median {np.median(totals) * 1e3:.0f} ms per predict()'
    )
    accounted = 0.0
    for name, ts in stages.items():
        per_call = np.median(ts) * len(ts) / a.repeats
        accounted += per_call
        print(f'  {name:24s} {per_call * 1e3:8.1f} ms per predict()')
    print(f'  {"rest (signal dicts, frames)":24s} {(np.median(totals) - accounted) * 1e3:8.1f} ms')
    params = {k: sum(p.numel() for p in tm.model.parameters()) for k, tm in models.items()}
    print(f'  parameters: {params}')

    if torch.cuda.is_available():
        for name, tm in models.items():
            tm.model.cuda()
            p = torch.randn(*x['windows'].shape, device='cuda')
            k = torch.randn(a.symbols, emb.shape[1], device='cuda')
            c = torch.randn(a.symbols, x['context'].shape[1], device='cuda')
            with torch.inference_mode():
                for _ in range(3):
                    tm.model(p, k, c)
                torch.cuda.synchronize()
                t = time.perf_counter()
                for _ in range(20):
                    tm.model(p, k, c)
                torch.cuda.synchronize()
            print(f'  CUDA forward {name}: {(time.perf_counter() - t) / 20 * 1e3:.1f} ms')
