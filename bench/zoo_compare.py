"""RevIN + KAN against the plain architecture on QQQ: BiLSTM-KAN with and without its RevIN and KAN parts.

Windows of QQQ and ^VIX daily log returns (60 bars), label the next 5-day QQQ log return; trained on the
windows whose label ends before 2015 (purged), tested on 2015 onwards. Reported per seed and as
mean ± std: direction accuracy, rank IC, and the net Sharpe of long-or-flat on the predicted direction
(5 bps per change of position) next to buy-and-hold QQQ. Needs the ETF panel file (`--panel`).

    python bench/zoo_compare.py --panel ../shared/data/etf_panel.parquet --seeds 0 1 2
"""

import argparse
import time

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from trademl.metrics import sharpe_ratio
from trademl.models.zoo import NeuralSignalModel
from trademl.multi_asset import multi_asset_windows

H, COST = 5, 5e-4


def data(panel_path):
    p = pd.read_parquet(panel_path)
    w = multi_asset_windows(p, ['QQQ'], ['^VIX'], 60)
    close = w.closes['QQQ'].reindex(w.dates).to_numpy(float)
    lc = np.log(close)
    y = np.r_[lc[H:] - lc[:-H], np.full(H, np.nan)]
    day = np.r_[np.diff(lc), np.nan]  # the next day's return of a position taken at t's close
    return np.nan_to_num(w.x), y, day, pd.DatetimeIndex(w.dates)


def net_sharpe(pos, day):
    pos = np.asarray(pos, float)
    r = pos[:-1] * day[:-1] - COST * np.abs(np.diff(np.r_[0.0, pos]))[:-1]
    return float(sharpe_ratio(pd.Series(r), 252))


def run(x, y, day, dates, seed, options):
    split = dates.searchsorted(pd.Timestamp('2015-01-01'))
    train = np.arange(split - H)  # labels end before the test period
    test = np.arange(split, len(dates) - H)
    t0 = time.perf_counter()
    m = NeuralSignalModel('bilstm_kan', 'small', model_options=options, seed=seed)
    m.fit(x[train], y[train])
    fit_s = time.perf_counter() - t0
    out = m.predict(x[test])
    p, yt = out['prob'], y[test]
    return {
        'accuracy': float(np.mean((p > 0.5) == (yt > 0))),
        'rank_ic': float(spearmanr(out['ret'], yt).statistic),
        'net_sharpe': net_sharpe((p > 0.5).astype(float), day[test]),
        'fit_s': fit_s,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--panel', default='../shared/data/etf_panel.parquet')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    a = ap.parse_args()
    torch.set_num_threads(1)
    x, y, day, dates = data(a.panel)
    split = dates.searchsorted(pd.Timestamp('2015-01-01'))
    print(
        f'{len(x)} windows; train {split - H} (to {dates[split - H - 1]:%Y-%m-%d}), test {len(x) - H - split}'
    )
    variants = {
        'RevIN + KAN': {},
        'plain (no RevIN, linear heads)': {'use_revin': False, 'use_kan': False},
    }
    rows = []
    for name, opts in variants.items():
        for s in a.seeds:
            rows.append({'model': name, 'seed': s, **run(x, y, day, dates, s, opts)})
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    test = np.arange(split, len(dates) - H)
    summary = df.groupby('model')[['accuracy', 'rank_ic', 'net_sharpe', 'fit_s']].agg(
        ['mean', 'std']
    )
    print(summary.round(4).to_string())
    print(
        f'buy-and-hold QQQ net Sharpe over the test period: {net_sharpe(np.ones(len(test)), day[test]):.4f}'
    )
    print(f'share of up 5-day labels in the test period: {np.mean(y[test] > 0):.4f}')


if __name__ == '__main__':
    main()
