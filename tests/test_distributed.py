"""The validation's jobs on Ray give the serial run's tables bit for bit; a job that raises or a worker that
dies stops the run with a `JobFailed` naming the job, and no table is written; shared inputs are not copied
into every task; several CUDA devices select Lightning's DDP strategy."""

import os
import pickle

import numpy as np
import pandas as pd
import pytest

from trademl.core import TrademlError
from trademl.distributed import JobFailed, ParallelConfig, executor

pytest.importorskip('torch')
pytest.importorskip('lightgbm')


def tiny_config(tmp):
    from trademl.experiment import ValidationConfig

    return ValidationConfig.from_dict(
        {
            'n_groups': 3,
            'n_test_groups': 1,
            'seeds': [0, 1],
            'max_splits': 2,
            'inner_folds': 2,
            'deep': {'epochs': {'timeformer': 1, 'tft': 1}, 'max_train_samples': 300},
            'veto': {'n_trials': 2, 'storage': f'sqlite:///{tmp}/optuna.db'},
        }
    )


@pytest.fixture(scope='module')
def ds(tmp_path_factory):
    from trademl.data import make_synthetic_panel
    from trademl.dataset import build_dataset

    d = tmp_path_factory.mktemp('dist')
    return build_dataset(
        make_synthetic_panel(3, 480, seed=5, signal=0.5),
        'local',
        name='d',
        root=d,
        window=40,
        pretrain_epochs=1,
        pretrain_windows=500,
    )


def test_dataset_pickles_without_its_arrays(ds):
    blob = pickle.dumps(ds)
    assert len(blob) < 0.05 * (ds.embeddings.nbytes + ds.prices.nbytes)
    back = pickle.loads(blob)
    assert isinstance(back.embeddings, np.memmap)
    np.testing.assert_array_equal(back.raw_windows(np.arange(7)), ds.raw_windows(np.arange(7)))


def test_serial_executor_keeps_job_order():
    with executor(ParallelConfig()) as ex:
        assert not ex.parallel
        got = ex.map(lambda j, k: (j, k), [3, 1, 2], ex.share(k='x'))
    assert got == [(3, 'x'), (1, 'x'), (2, 'x')]


@pytest.fixture(scope='module')
def ray_pool():
    pytest.importorskip('ray')
    with executor(ParallelConfig(workers=2)) as ex:
        yield ex


def test_ray_matches_serial_bit_for_bit(ds, tmp_path, single_thread, ray_pool):
    from trademl.experiment import run_validation

    cfg = tiny_config(tmp_path)
    serial = run_validation(ds, cfg)
    remote = run_validation(ds, cfg, parallel=ParallelConfig(workers=2))
    assert len(serial.split_metrics) == 2 * 2 * 7 * len(ds.horizons)  # seeds x splits x methods x h
    pd.testing.assert_frame_equal(serial.split_metrics, remote.split_metrics, check_exact=True)
    pd.testing.assert_frame_equal(serial.table, remote.table, check_exact=True)
    pd.testing.assert_frame_equal(serial.strategies, remote.strategies, check_exact=True)
    assert serial.info == remote.info
    for k, df in serial.path_returns.items():
        pd.testing.assert_frame_equal(df, remote.path_returns[k], check_exact=True)


def test_shared_inputs_are_put_once(ray_pool):
    import ray

    big = np.arange(2_000_000, dtype=np.float64)  # 16 MB
    shared = ray_pool.share(big=big)
    assert isinstance(shared['big'], ray.ObjectRef)
    pids = ray_pool.map(lambda j, big: (os.getpid(), float(big[j])), [0, 1, 2, 3], shared)
    assert [v for _, v in pids] == [0.0, 1.0, 2.0, 3.0]


def test_a_job_that_raises_names_the_job(ray_pool):
    def job(j):
        if j == 2:
            raise ValueError('no data for split two')
        return j

    with pytest.raises(JobFailed, match=r'job #2 failed on Ray: ValueError: no data for split two'):
        ray_pool.map(job, [0, 1, 2, 3], {}, describe=lambda j: f'#{j}')


def test_a_worker_that_dies_names_the_job(ray_pool):
    def job(j):
        if j == 1:
            os._exit(3)
        return j

    with pytest.raises(JobFailed, match=r'job #1 failed on Ray: .*WorkerCrashedError') as e:
        ray_pool.map(job, [0, 1, 2], {}, describe=lambda j: f'#{j}')
    assert isinstance(e.value, TrademlError)
    assert ray_pool.map(lambda j: j + 1, [1, 2], {}) == [2, 3]  # the pool still works


def test_failed_validation_writes_no_table(ds, tmp_path, ray_pool):
    from trademl.jobs import validation_job

    out = tmp_path / 'out'
    with pytest.raises(JobFailed, match=r'seed 0, split 0'):
        validation_job(
            dataset=str(ds.path),
            out_dir=out,
            seeds=[0],
            n_groups=3,
            n_test_groups=1,
            max_splits=1,
            max_train_samples=1,  # a scaler needs two rows: the job raises inside its worker
            veto_trials=0,
            workers=2,
        )
    assert not out.exists() or not any(out.iterdir())


def test_several_cuda_devices_train_with_ddp(monkeypatch):
    import torch

    from trademl.train import training_strategy

    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 3)
    assert training_strategy('cuda') == ('ddp', 3)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    assert training_strategy('cuda') == ('auto', 1)
    assert training_strategy('cpu') == ('auto', 1)
