"""TimeFormer-XL, TFT-XL and the model zoo (PatchTST, BiLSTM-KAN, the gated hybrid) on the CPU: parameter
counts, training throughput (samples/s) and batched inference latency for 100 symbols (model forward alone,
and `predict` end to end from the panel); on CUDA too when a GPU is present (mixed precision, never required).

Run: python bench/bench_models.py [--threads 2] [--models timeformer,tft]
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
ap.add_argument('--models', default='timeformer,tft,patchtst,bilstm_kan,hybrid')
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


def model(name, preset, device='cpu'):
    """The model at `preset` with a 120-bar window (the batches below), on `device`."""
    cfg = model_spec(name).config_class.preset(preset, lookback=120)
    return build_model(name, cfg.to_dict()).to(device)


def _sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def train_rate(name, preset, bs=64, steps=6, device='cpu'):
    torch.manual_seed(0)
    m, loss = model(name, preset, device), model_spec(name).loss
    opt = torch.optim.AdamW(m.parameters(), 1e-4)
    p, k, c, r, d = (x.to(device) for x in batch(bs))
    amp = torch.autocast(
        'cuda', dtype=torch.bfloat16, enabled=device == 'cuda'
    )  # mixed precision on CUDA
    m.train()
    for i in range(steps + 1):
        if i == 1:
            _sync(device)
            t = time.perf_counter()  # first step warms up
        opt.zero_grad()
        with amp:
            l, _ = loss(m(p, k, c), r, d)
        l.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    _sync(device)
    return bs * steps / (time.perf_counter() - t), sum(x.numel() for x in m.parameters())


def forward_latency(name, preset, n=100, repeats=5, device='cpu'):
    m = model(name, preset, device).eval()
    p, k, c, _, _ = (x.to(device) for x in batch(n))
    with torch.inference_mode():
        m(p, k, c)
        ts = []
        for _ in range(repeats):
            _sync(device)
            t = time.perf_counter()
            m(p, k, c)
            _sync(device)
            ts.append(time.perf_counter() - t)
    return min(ts), float(np.median(ts))


print(f'torch threads: {torch.get_num_threads()}')
print(
    f'{"model":11s} {"preset":8s} {"parameters":>11s} {"train samples/s":>16s} {"forward 100 symbols (best / median)":>38s}'
)
devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
for device in devices:
    for name in a.models.split(','):
        for preset in ['small', 'default']:
            steps = 6 if preset == 'small' or device == 'cuda' else 3
            rate, n = train_rate(
                name, preset, bs=64 if device == 'cpu' else 256, steps=steps, device=device
            )
            best, med = forward_latency(name, preset, device=device)
            print(
                f'{name:11s} {preset:8s} {n:>11,d} {rate:>16,.0f} {best * 1e3:>20.1f} ms / {med * 1e3:.1f} ms'
                + ('  (CUDA, bf16 autocast, batch 256)' if device == 'cuda' else '')
            )

if a.end_to_end:
    from common import quick_models

    from trademl.inference import predict

    with tempfile.TemporaryDirectory() as d:
        panel, _, models = quick_models(d)
        for name, tm in models.items():
            predict(tm, panel)
            ts = []
            for _ in range(3):
                t = time.perf_counter()
                pr = predict(tm, panel)
                ts.append(time.perf_counter() - t)
            print(
                f'predict() end to end, {name} small, 100 symbols x 400 days (features + embedding + forward): {min(ts) * 1e3:.0f} ms ({len(pr.signals)} signals)'
            )
