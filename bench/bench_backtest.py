"""Benchmark: backtest of 100 assets x 5,000 days with costs (SPEC target <= 0.5 s), both executions; best of 3.

Also times the portfolio step (scores -> weights for the whole panel) and the full strategy path without models
(signals -> combiner -> weights -> vol targeting -> guardrails -> two backtests)."""

import sys

import numpy as np
import pandas as pd

sys.path.insert(0, __file__.rsplit('/', 1)[0])
from common import best_of, random_walk_panel  # noqa: E402

from trademl.backtest import run_backtest  # noqa: E402
from trademl.costs import CostModel  # noqa: E402
from trademl.portfolio import PortfolioConfig, weights_panel  # noqa: E402


def main(n_sym: int = 100, n_days: int = 5000):
    p = random_walk_panel(n_sym, n_days)
    dates = pd.DatetimeIndex(sorted(p['date'].unique()))
    syms = sorted(p['symbol'].unique())
    scores = pd.DataFrame(
        np.random.default_rng(0).normal(size=(len(dates), n_sym)), index=dates, columns=syms
    )
    t, w = best_of(lambda: weights_panel(scores, PortfolioConfig()))
    print(f'weights_panel {n_sym} x {n_days}: {t:.3f} s')
    for ex in ('next_open', 'close'):
        t, res = best_of(lambda: run_backtest(w, p, CostModel(fee_bps=1.0), ex))
        print(
            f'run_backtest {n_sym} assets x {n_days} days with costs, execution={ex}: {t:.3f} s (target <= 0.5 s)'
        )
    try:
        from trademl.strategy import StrategyConfig, frame_from_scores, run_strategy
    except ImportError:
        return
    frames = {
        'a': frame_from_scores(scores),
        'b': frame_from_scores(
            scores.sample(frac=1.0, axis=1, random_state=1).set_axis(syms, axis=1)
        ),
    }
    t, run = best_of(lambda: run_strategy(frames, p, StrategyConfig()), repeats=1)
    print(
        f'run_strategy (2 strategies, combiner, vol target, guardrails, backtests) {n_sym} x {n_days}: {t:.3f} s'
    )


if __name__ == '__main__':
    main()
