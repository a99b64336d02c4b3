"""Local embedder inference throughput (SPEC target >= 20,000 windows/s on the 2-core CPU).

Run: python bench/bench_embedder.py [--n 50000]
"""

import argparse
import time

import numpy as np
import torch

from trademl.kronos import pretrain_local_embedder

ap = argparse.ArgumentParser()
ap.add_argument('--n', type=int, default=50000)
ap.add_argument('--threads', type=int, default=2)
a = ap.parse_args()
torch.set_num_threads(a.threads)
rng = np.random.default_rng(0)
c = 100 * np.exp(rng.normal(0, 0.02, (a.n, 120)).cumsum(1))
o = c * np.exp(rng.normal(0, 0.005, c.shape))
w = np.stack(
    [o, np.maximum(o, c) * 1.005, np.minimum(o, c) * 0.995, c, rng.lognormal(12, 0.5, c.shape)], -1
)
t = time.perf_counter()
emb = pretrain_local_embedder(w[:5000], epochs=2, seed=0)
t_pre = time.perf_counter() - t
best = min(
    (lambda: (lambda t0: (emb.embed(w), time.perf_counter() - t0)[1])(time.perf_counter()))()
    for _ in range(3)
)
print(
    f'pretraining, 5,000 windows x 2 epochs: {t_pre:.1f} s (masked loss {emb.history[0]:.3f} -> {emb.history[-1]:.3f})'
)
print(
    f'inference, {a.n:,} windows of 120 x 5, {a.threads} threads: {a.n / best:,.0f} windows/s  (target >= 20,000)'
)
print(f'parameters: {emb.n_parameters():,}, output dim {emb.dim}')
