"""Side by side, in one process: each hot path of trademl against the library a user would otherwise pick.

  backtest        run_backtest            vs vectorbt Portfolio.from_orders (target percent, cash sharing)
  CPCV            CombinatorialPurgedCV   vs skfolio CombinatorialPurgedCV
  TA              trademl.ta (17 columns) vs the same indicators called from TA-Lib per symbol
  SMC             trademl.smc (12 columns) vs smartmoneyconcepts (swings, FVG, order blocks, BOS/CHoCH)
  TFT training    TFT-XL                  vs pytorch-forecasting TemporalFusionTransformer, same hidden size

The peers live in their own environment (see bench/requirements.txt), never in the package's extras:
  python3 -m venv .bench-venv && . .bench-venv/bin/activate
  pip install torch==2.13.0 && pip install -e ".[all]" -r bench/requirements.txt
  python bench/compare.py [--only backtest,cpcv,ta,smc,tft] [--symbols 100] [--days 5000]

Each line prints both timings and the ratio peer / trademl (above 1: trademl is faster), and where the two
compute the same numbers, the largest difference between them.
"""

import argparse
import contextlib
import io
import os
import sys
import time
import warnings

os.environ.setdefault('MLFLOW_DISABLE_TELEMETRY', 'true')
warnings.filterwarnings('ignore')
import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import best_of, random_walk_panel  # noqa: E402


def line(what, ours, peer, peer_name, note=''):
    print(
        f'{what:34s} trademl {ours:8.3f} s   {peer_name:22s} {peer:8.3f} s   '
        f'ratio {peer / ours:6.2f}x  {note}'
    )


def wide(panel, col):
    return panel.pivot(index='date', columns='symbol', values=col)


# ------------------------------------------------------------------ backtest vs vectorbt
def compare_backtest(panel):
    import vectorbt as vbt

    from trademl.backtest import run_backtest
    from trademl.costs import CostModel

    close, open_ = wide(panel, 'close'), wide(panel, 'open')
    rng = np.random.default_rng(0)
    raw = pd.DataFrame(rng.random(close.shape), index=close.index, columns=close.columns)
    w = raw.div(raw.sum(axis=1), axis=0)  # long-only, fully invested, new targets every day
    free = CostModel(fee_bps=0.0, half_spread_bps=0.0, impact_coef=0.0, borrow_bps_annual=0.0)
    for execution in ('close', 'next_open'):
        price, size = (close, w) if execution == 'close' else (open_, w.shift(1))

        def peer():
            return vbt.Portfolio.from_orders(
                close,
                size=size,
                price=price,
                size_type='targetpercent',
                group_by=True,
                cash_sharing=True,
                call_seq='auto',
                init_cash=1e6,
                freq='1D',
            ).returns()

        peer()  # numba compiles on the first call
        t_peer, r_peer = best_of(peer)
        t_ours, res = best_of(lambda: run_backtest(w, panel, free, execution, capital=1e6))
        common = res.returns.index[2:]
        diff = float(np.max(np.abs(res.returns.loc[common] - r_peer.loc[common])))
        line(
            f'backtest {close.shape[1]}x{len(close)} ({execution})',
            t_ours,
            t_peer,
            'vectorbt',
            f'max |return difference| {diff:.1e}',
        )


# ------------------------------------------------------------------ CPCV vs skfolio
def compare_cpcv(n_days):
    from skfolio.model_selection import CombinatorialPurgedCV as SkCPCV

    from trademl.validation import CombinatorialPurgedCV

    dates = np.datetime64('2000-01-03') + np.arange(n_days)
    ours = CombinatorialPurgedCV(n_groups=6, n_test_groups=2, horizon=10, embargo=5)
    peer = SkCPCV(n_folds=6, n_test_folds=2, purged_size=10, embargo_size=5)
    X = np.zeros((n_days, 1))
    t_ours, a = best_of(lambda: [(tr, te) for tr, te in ours.split(dates)])
    flat = lambda te: np.sort(np.concatenate(te) if isinstance(te, list) else te)
    t_peer, b = best_of(lambda: [(tr, flat(te)) for tr, te in peer.split(X)])
    same = lambda u, v: sorted(tuple(np.sort(x)) for x in u) == sorted(tuple(np.sort(x)) for x in v)
    same_tests = same([te for _, te in a], [te for _, te in b])
    same_trains = same([tr for tr, _ in a], [tr for tr, _ in b])
    sizes = f'train rows per split: trademl {np.mean([len(tr) for tr, _ in a]):.0f}, skfolio {np.mean([len(tr) for tr, _ in b]):.0f}'
    line(
        f'CPCV N=6 k=2, {n_days:,} dates',
        t_ours,
        t_peer,
        'skfolio',
        f'same test sets: {same_tests}, same train sets: {same_trains}; {sizes}',
    )
    panel_dates = np.repeat(dates, 100)
    t_panel, _ = best_of(lambda: [None for _ in ours.split(panel_dates)])
    print(
        f'{"":34s} trademl on the panel ({len(panel_dates):,} rows): {t_panel:.3f} s (skfolio splits one series)'
    )


# ------------------------------------------------------------------ TA vs TA-Lib
def talib_block(pa):
    import talib

    out = []
    for j in range(pa['close'].shape[1]):
        c = pa['close'][:, j]
        n = int(np.sum(~np.isnan(c)))
        h, lo, c, v = (pa[k][:n, j] for k in ('high', 'low', 'close', 'volume'))
        out.append(
            (
                talib.RSI(c, 14),
                *talib.MACD(c, 12, 26, 9),
                *talib.BBANDS(c, 20, 2, 2),
                talib.ATR(h, lo, c, 14),
                talib.ADX(h, lo, c, 14),
                talib.EMA(c, 20),
                talib.EMA(c, 50),
                talib.OBV(c, v),
            )
        )
    return out


def compare_ta(pa):
    from trademl.ta import _ta_block, compute_ta_features

    t_ours, _ = best_of(lambda: compute_ta_features(pa))
    t_peer, _ = best_of(lambda: talib_block(pa))
    t_block, _ = best_of(lambda: _ta_block(*(pa[k] for k in ('high', 'low', 'close', 'volume'))))
    line(
        f'TA indicators {pa["close"].shape[1]}x{pa["close"].shape[0]}',
        t_block,
        t_peer,
        'TA-Lib per symbol',
        '(the same 12 indicators; trademl adds the normalisation)',
    )
    line(
        f'TA {pa["close"].shape[1]}x{pa["close"].shape[0]}',
        t_ours,
        t_peer,
        'TA-Lib per symbol',
        '(trademl: 17 normalised columns incl. MTF, on TA-Lib; peer: 12 raw indicators)',
    )


# ------------------------------------------------------------------ SMC vs smartmoneyconcepts
def compare_smc(pa, n_slice=5):
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints a banner on import
        from smartmoneyconcepts import smc

    from trademl.smc import smc_features

    t_ours, _ = best_of(lambda: smc_features(pa))

    def peer():
        for j in range(n_slice):
            ohlc = pd.DataFrame({k: pa[k][:, j] for k in ('open', 'high', 'low', 'close')}).dropna()
            ohlc['volume'] = pa['volume'][: len(ohlc), j]
            swings = smc.swing_highs_lows(ohlc, swing_length=10)
            smc.fvg(ohlc)
            smc.ob(ohlc, swings)
            smc.bos_choch(ohlc, swings)

    t_slice, _ = best_of(peer, 1)
    n = pa['close'].shape[1]
    line(
        f'SMC {n}x{pa["close"].shape[0]}',
        t_ours,
        t_slice * n / n_slice,
        'smartmoneyconcepts',
        f'(peer timed on {n_slice} symbols and scaled; its zones are events, trademl adds rolling counts/distances)',
    )


# ------------------------------------------------------------------ TFT training vs pytorch-forecasting
def ours_tft_rate(preset, bs, steps):
    import torch

    from trademl.train import build_model, model_spec

    torch.manual_seed(0)
    m, loss = build_model('tft', preset), model_spec('tft').loss
    opt = torch.optim.AdamW(m.parameters(), 1e-4)
    g = torch.Generator().manual_seed(0)
    p, k, c = (
        torch.randn(bs, 120, 5, generator=g) * 0.02,
        torch.randn(bs, 512, generator=g),
        torch.randn(bs, 29, generator=g),
    )
    r, d = torch.randn(bs, 3, generator=g), (torch.rand(bs, 3, generator=g) > 0.5).float()
    m.train()
    for i in range(steps + 1):
        if i == 1:
            t = time.perf_counter()
        opt.zero_grad()
        loss(m(p, k, c), r, d)[0].backward()
        opt.step()
    return bs * steps / (time.perf_counter() - t), m


def peer_tft_rate(hidden, heads, hidden_cont, bs, steps):
    import torch
    from pytorch_forecasting import TemporalFusionTransformer, TimeSeriesDataSet
    from pytorch_forecasting.metrics import QuantileLoss

    rng = np.random.default_rng(0)
    n_series, n_t = 8, 400
    df = pd.DataFrame(
        {
            'series': np.repeat(np.arange(n_series).astype(str), n_t),
            'time_idx': np.tile(np.arange(n_t), n_series),
            **{
                c: rng.normal(size=n_series * n_t)
                for c in ('open', 'high', 'low', 'close', 'volume')
            },
        }
    )
    ds = TimeSeriesDataSet(
        df,
        time_idx='time_idx',
        target='close',
        group_ids=['series'],
        max_encoder_length=120,
        max_prediction_length=1,
        time_varying_unknown_reals=['open', 'high', 'low', 'close', 'volume'],
        target_normalizer=None,
    )
    torch.manual_seed(0)
    m = TemporalFusionTransformer.from_dataset(
        ds,
        hidden_size=hidden,
        attention_head_size=heads,
        hidden_continuous_size=hidden_cont,
        dropout=0.1,
        loss=QuantileLoss([0.1, 0.5, 0.9]),
    )
    x, y = next(iter(ds.to_dataloader(train=True, batch_size=bs, num_workers=0)))
    opt = torch.optim.AdamW(m.parameters(), 1e-4)
    m.train()
    for i in range(steps + 1):
        if i == 1:
            t = time.perf_counter()
        opt.zero_grad()
        m.loss(m(x)['prediction'], y).backward()
        opt.step()
    return bs * steps / (time.perf_counter() - t), m


def compare_tft(threads):
    import torch

    from trademl.models.tft import TFTConfig

    torch.set_num_threads(threads)
    count = lambda m: sum(p.numel() for p in m.parameters())
    for preset, steps in (('small', 8), ('default', 3)):
        cfg = TFTConfig(**TFTConfig.PRESETS[preset])
        ours, m1 = ours_tft_rate(preset, 256 if preset == 'small' else 64, steps)
        peer, m2 = peer_tft_rate(
            cfg.hidden_size, cfg.n_heads, cfg.emb_dim, 256 if preset == 'small' else 64, steps
        )
        print(
            f'{"TFT training, " + preset + f" (hidden {cfg.hidden_size})":34s} trademl {ours:8.0f} samples/s   '
            f'pytorch-forecasting    {peer:8.0f} samples/s   ratio {ours / peer:6.2f}x  '
            f'(parameters {count(m1):,} vs {count(m2):,}; 120-day window of 5 prices; trademl also embeds '
            f'a 512-dim Kronos vector and 29 context features, {cfg.n_layers} attention layers vs 1)'
        )


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--only', default='backtest,cpcv,ta,smc,tft')
    ap.add_argument('--symbols', type=int, default=100)
    ap.add_argument('--days', type=int, default=5000)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    only = set(a.only.split(','))
    panel = random_walk_panel(a.symbols, a.days)
    print(
        f'{a.symbols} symbols x {a.days} days; ratio = peer time / trademl time (above 1: trademl is faster)'
    )
    if 'backtest' in only:
        compare_backtest(panel)
    if 'cpcv' in only:
        compare_cpcv(a.days)
    if only & {'ta', 'smc'}:
        from trademl.data import panel_arrays

        pa = panel_arrays(panel)
        if 'ta' in only:
            compare_ta(pa)
        if 'smc' in only:
            compare_smc(pa)
    if 'tft' in only:
        compare_tft(a.threads)
