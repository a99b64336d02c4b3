"""Benchmark: CPCV splits on 500,000 panel rows and CSCV PBO (S=16) on 2,500 x 200; best of 3."""

import time

import numpy as np

from trademl.validation import CombinatorialPurgedCV, pbo


def best_of(fn, n=3):
    """Best wall time of ``n`` runs of ``fn``."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


if __name__ == '__main__':
    rng = np.random.default_rng(0)
    dates = np.repeat(
        np.datetime64('2000-01-03') + np.arange(5000), 100
    )  # 100 symbols x 5,000 dates
    shuffled = rng.permutation(dates)
    cv = CombinatorialPurgedCV(n_groups=6, n_test_groups=2, horizon=10, embargo=5)
    for name, d in (('sorted', dates), ('shuffled', shuffled)):
        t = best_of(lambda: [None for _ in cv.split(d)])
        print(f'CPCV {cv.n_splits} splits, {len(d):,} rows ({name}): {t:.3f} s (target <= 1 s)')
    m = rng.standard_normal((2500, 200)) * 0.01
    t = best_of(lambda: pbo(m, n_partitions=16))
    print(
        f'PBO S=16 ({pbo(m, 16).n_combinations:,} combinations) on 2,500 x 200: {t:.3f} s (target <= 2 s)'
    )
