"""TimeFormer-XL and TFT-XL on the CPU: parameter counts, training throughput (samples/s) and batched
inference latency for 100 symbols (model forward alone, and `predict` end to end from the panel).

Run: python bench/bench_models.py [--threads 2]
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault('MLFLOW_DISABLE_TELEMETRY', 'true')
import numpy as np
import torch

from trademl.train import build_model, model_spec

ap = argparse.ArgumentParser()
ap.add_argument('--threads', type=int, default=2)
ap.add_argument('--end-to-end', action='store_true', default=True)
a = ap.parse_args()
torch.set_num_threads(a.threads)


def batch(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, 120, 5, generator=g) * 0.02,
        torch.randn(n, 512, generator=g),
        torch.randn(n, 29, generator=g),
        torch.randn(n, 3, generator=g),
        (torch.rand(n, 3, generator=g) > 0.5).float(),
    )


def train_rate(name, preset, bs=64, steps=6):
    torch.manual_seed(0)
    m, loss = build_model(name, preset), model_spec(name).loss
    opt = torch.optim.AdamW(m.parameters(), 1e-4)
    p, k, c, r, d = batch(bs)
    m.train()
    for i in range(steps + 1):
        if i == 1:
            t = time.perf_counter()  # first step warms up
        opt.zero_grad()
        l, _ = loss(m(p, k, c), r, d)
        l.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    return bs * steps / (time.perf_counter() - t), sum(x.numel() for x in m.parameters())


def forward_latency(name, preset, n=100, repeats=5):
    m = build_model(name, preset).eval()
    p, k, c, _, _ = batch(n)
    with torch.inference_mode():
        m(p, k, c)
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            m(p, k, c)
            ts.append(time.perf_counter() - t)
    return min(ts), float(np.median(ts))


print(f'torch threads: {torch.get_num_threads()}')
print(
    f'{"model":11s} {"preset":8s} {"parameters":>11s} {"train samples/s":>16s} {"forward 100 symbols (best / median)":>38s}'
)
for name in ['timeformer', 'tft']:
    for preset in ['small', 'default']:
        rate, n = train_rate(name, preset, steps=6 if preset == 'small' else 3)
        best, med = forward_latency(name, preset)
        print(
            f'{name:11s} {preset:8s} {n:>11,d} {rate:>16,.0f} {best * 1e3:>20.1f} ms / {med * 1e3:.1f} ms'
        )

if a.end_to_end:
    from trademl.data import make_synthetic_panel
    from trademl.dataset import build_dataset
    from trademl.inference import predict
    from trademl.train import train_model

    with tempfile.TemporaryDirectory() as d:
        panel = make_synthetic_panel(100, 400, seed=0)
        ds = build_dataset(
            panel, 'local', name='b', root=d, pretrain_epochs=1, pretrain_windows=2000, cache=False
        )
        for name in ['timeformer', 'tft']:
            tm = train_model(
                ds,
                name,
                'small',
                epochs=1,
                out_dir=f'{d}/{name}',
                mlflow=False,
                progress=False,
                max_train_samples=512,
            ).trained
            predict(tm, panel)
            ts = []
            for _ in range(3):
                t = time.perf_counter()
                pr = predict(tm, panel)
                ts.append(time.perf_counter() - t)
            print(
                f'predict() end to end, {name} small, 100 symbols x 400 days (features + embedding + forward): {min(ts) * 1e3:.0f} ms ({len(pr.signals)} signals)'
            )
