"""Dataset build for 100 symbols x 5,000 days with local embeddings: wall time and peak memory
(SPEC target: peak <= 4 GB). The build runs in a child process so its peak RSS is measured alone.

Run: python bench/bench_dataset.py [--symbols 100] [--days 5000]
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import textwrap
import time

ap = argparse.ArgumentParser()
ap.add_argument('--symbols', type=int, default=100)
ap.add_argument('--days', type=int, default=5000)
a = ap.parse_args()
with tempfile.TemporaryDirectory() as d:
    code = textwrap.dedent(f"""
        import sys, time; sys.path.insert(0, {sys.path[0]!r})
        from common import random_walk_panel
        from trademl.dataset import build_dataset
        p = random_walk_panel({a.symbols}, {a.days})
        t = time.perf_counter()
        ds = build_dataset(p, 'local', name='bench', root={d!r}, cache=False)
        print(f'build_dataset: {{len(ds):,}} samples in {{time.perf_counter() - t:.1f}} s')
    """)
    t = time.perf_counter()
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    wall = time.perf_counter() - t
    print(r.stdout.strip() or r.stderr[-2000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024
    print(
        f'child process: wall {wall:.1f} s (incl. imports and panel generation), peak RSS {peak:.2f} GB  (target <= 4 GB)'
    )
