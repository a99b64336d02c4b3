"""Benchmark: `trademl validate`'s machinery on a synthetic panel of S symbols x D days: peak memory and time per phase.

    python bench/bench_validate_scale.py                                   # 80 x 9,000: a 35-year, 77-stock universe
    python bench/bench_validate_scale.py --symbols 20 --days 3000          # a reduced size
    python bench/bench_validate_scale.py --symbols 20 --days 3000 --workers 4

It builds the dataset (local embedder, default settings) and runs one seed of the validation with the command's
defaults (CPCV N=4, k=2, 3,000 training rows per deep model, 20 veto trials). Each phase's time is exclusive
(a nested phase's time is not counted in its parent); its peak is the highest resident memory sampled (every
20 ms) while it ran, of this process plus its child processes (Ray workers).
"""

import argparse
import contextlib
import os
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil

os.environ.setdefault('MLFLOW_DISABLE_TELEMETRY', 'true')
os.environ.setdefault('HF_HUB_OFFLINE', '1')


class Phases:
    """Exclusive wall time and peak resident memory (process + children) per named phase."""

    def __init__(self, interval=0.02, limit_gb=None):
        self.proc, self.stack, self.limit = psutil.Process(), ['other'], limit_gb
        self.seconds, self.peak, self.calls = defaultdict(float), defaultdict(int), defaultdict(int)
        self.top, self.mark = 0, time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval,), daemon=True)
        self._thread.start()

    def rss(self) -> int:
        total = self.proc.memory_info().rss
        for c in self.proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += c.memory_info().rss
        return total

    def _sample(self, interval):
        while not self._stop.wait(interval):
            with contextlib.suppress(psutil.Error):
                r = self.rss()
                self.top = max(self.top, r)
                name = self.stack[-1]
                self.peak[name] = max(self.peak[name], r)
                if self.limit and r > self.limit * 2**30:  # protect a shared machine
                    print(f'stopped: {r / 2**30:.2f} GB resident in phase {name!r}', flush=True)
                    for c in self.proc.children(recursive=True):
                        c.kill()
                    os._exit(3)

    def _switch(self):
        now = time.perf_counter()
        self.seconds[self.stack[-1]] += now - self.mark
        self.mark = now

    def wrap(self, module, attr, name=None):
        """Replace `module.attr` by a timed version reported as `name`."""
        fn, name = getattr(module, attr), name or attr

        def timed(*a, **kw):
            self._switch()
            self.stack.append(name)
            self.calls[name] += 1
            try:
                return fn(*a, **kw)
            finally:
                self._switch()
                self.stack.pop()

        setattr(module, attr, timed)

    def report(self, title):
        self._switch()
        self._stop.set()
        self._thread.join()
        total = sum(self.seconds.values())
        print(f'\n{title}')
        print(f'{"phase":34s} {"calls":>5s} {"seconds":>9s} {"share":>6s} {"peak RSS GB":>11s}')
        for name, s in sorted(self.seconds.items(), key=lambda kv: -kv[1]):
            print(
                f'{name:34s} {self.calls[name]:5d} {s:9.1f} {100 * s / total:5.1f}% '
                f'{self.peak[name] / 2**30:11.2f}'
            )
        print(f'{"total":34s} {"":5s} {total:9.1f}        {self.top / 2**30:11.2f} (peak)')


def instrument(ph: Phases):
    import trademl.dataset as D
    import trademl.experiment as E
    import trademl.veto as V

    for attr in (
        'validate_panel',
        'build_features',
        'forward_returns',
        'availability_dates',
        '_sample_rows',
        'make_embedder',
        'embed_samples',
        '_write_arrays',
        '_manifest',
    ):
        ph.wrap(D, attr, f'build: {attr.strip("_")}')
    ph.wrap(D, 'build_dataset', 'build: other')
    ph.wrap(D, 'load_dataset', 'load_dataset')
    for attr in (
        'evaluation_rows',
        'next_open_returns',
        'momentum_probs',
        'lgbm_classical',
        'fit_deep',
        'predict_deep',
        'oof_predictions',
        'veto_features',
        'veto_labels',
        'fit_veto',
        'split_records',
        '_summarise',
    ):
        if hasattr(E, attr):
            ph.wrap(E, attr, f'validate: {attr.strip("_")}')
    ph.wrap(V, 'fit_deep', 'validate: fit_deep (veto folds)')
    ph.wrap(V, 'predict_deep', 'validate: predict_deep (veto folds)')
    ph.wrap(V, 'tune_veto', 'validate: tune_veto (Optuna)')
    ph.wrap(E, 'run_validation', 'validate: other')


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--symbols', type=int, default=80)
    ap.add_argument('--days', type=int, default=9000)
    ap.add_argument('--n-groups', type=int, default=4)
    ap.add_argument('--n-test-groups', type=int, default=2)
    ap.add_argument('--seeds', default='0')
    ap.add_argument('--max-splits', type=int, default=None, help='only the first splits')
    ap.add_argument('--veto-trials', type=int, default=20)
    ap.add_argument('--max-train-samples', type=int, default=3000)
    ap.add_argument('--epochs-timeformer', type=int, default=4)
    ap.add_argument('--epochs-tft', type=int, default=2)
    ap.add_argument('--workers', type=int, default=0, help='Ray workers (0: serial)')
    ap.add_argument('--root', default=None, help='dataset folder (default: a temporary one)')
    ap.add_argument('--max-rss-gb', type=float, default=None, help='stop when memory exceeds this')
    a = ap.parse_args()

    from trademl.core import quiet_third_party
    from trademl.data import make_synthetic_panel

    ph = Phases(limit_gb=a.max_rss_gb)
    instrument(ph)
    import trademl.dataset as D
    import trademl.experiment as E

    root = Path(a.root or tempfile.mkdtemp(prefix='trademl-bench-'))
    panel = make_synthetic_panel(a.symbols, a.days, seed=0, signal=0.3)
    print(f'panel: {a.symbols} symbols x {a.days} days = {len(panel):,} rows')
    cfg = E.ValidationConfig.from_dict(
        {
            'n_groups': a.n_groups,
            'n_test_groups': a.n_test_groups,
            'seeds': [int(s) for s in a.seeds.split(',')],
            'max_splits': a.max_splits,
            'deep': {
                'epochs': {'timeformer': a.epochs_timeformer, 'tft': a.epochs_tft},
                'max_train_samples': a.max_train_samples,
            },
            'veto': {'n_trials': a.veto_trials, 'storage': f'sqlite:///{root}/optuna.db'},
        }
    )
    extra = {}
    if a.workers:
        from trademl.distributed import ParallelConfig

        extra['parallel'] = ParallelConfig(workers=a.workers)
    t0 = time.perf_counter()
    with quiet_third_party(root / 'bench.log'):
        ds = D.build_dataset(panel, 'local', name='bench', root=root)
        t1 = time.perf_counter()
        del panel
        res = E.run_validation(ds, cfg, work_dir=root / 'work', **extra)
    t2 = time.perf_counter()
    print(
        f'{len(ds):,} samples; {len(res.info)} split job(s); build {t1 - t0:.0f} s, '
        f'validate {t2 - t1:.0f} s ({(t2 - t1) / max(1, len(res.info)):.0f} s per split job)'
    )
    ph.report(f'{a.symbols} x {a.days}, seeds {a.seeds}, workers {a.workers}')


if __name__ == '__main__':
    main()
