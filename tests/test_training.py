"""Training end to end: positive and negative controls, reproducibility, the papermill training
notebook, the train command, and a run stopped by SIGTERM."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip('torch')
from conftest import ROOT  # noqa: E402

from trademl.data import make_synthetic_panel  # noqa: E402
from trademl.dataset import build_dataset  # noqa: E402
from trademl.train import load_model, train_model  # noqa: E402


def control_dataset(tmp_path, signal, name):
    "Twelve synthetic symbols x 900 days, with or without a planted momentum signal."
    p = make_synthetic_panel(12, 900, seed=5, signal=signal)
    return build_dataset(
        p, 'local', name=name, root=tmp_path, window=60, pretrain_epochs=1, pretrain_windows=3000
    )


def oos_accuracy(res, ds, h_index=1):
    "Direction accuracy at the 5-day horizon on the validation rows (the last 20 % of dates)."
    tm, idx = res.trained, res.val_idx
    x = {
        'price': torch.from_numpy(ds.windows(idx)),
        'kronos': torch.from_numpy(tm.embedding_scaler.transform(ds.embeddings[idx])),
        'context': torch.from_numpy(tm.context_scaler.transform(ds.context[idx])),
    }
    with torch.inference_mode():
        logit = tm.model(x['price'], x['kronos'], x['context'])['dir_logit'][:, h_index].numpy()
    truth = np.asarray(ds.labels)[idx, len(ds.horizons) + h_index]
    return float(((logit > 0) == (truth > 0.5)).mean()), len(idx)


@pytest.fixture(scope='module')
def controls(tmp_path_factory):
    d = tmp_path_factory.mktemp('controls')
    return {'signal': control_dataset(d, 0.5, 'signal'), 'noise': control_dataset(d, 0.0, 'noise')}


@pytest.mark.parametrize(
    'model, epochs',
    [('timeformer', 8), ('tft', 4)],
)
def test_positive_and_negative_controls(controls, model, epochs, tmp_path):
    acc = {}
    for kind, ds in controls.items():
        res = train_model(
            ds,
            model,
            'small',
            epochs=epochs,
            out_dir=tmp_path / kind,
            mlflow=False,
            progress=False,
            batch_size=128,
        )
        acc[kind], n = oos_accuracy(res, ds)
    print(model, acc, 'validation rows', n)
    se = 0.5 / np.sqrt(n)  # standard error of a coin's hit rate on n rows
    assert acc['signal'] > 0.5 + 4 * se, acc  # clearly above chance with a planted signal ...
    assert acc['noise'] < 0.5 + 4 * se, acc  # ... and not on pure noise


@pytest.mark.parametrize('model', ['patchtst', 'bilstm_kan', 'hybrid'])
def test_the_model_zoo_trains_in_the_loop_and_serves_signals(controls, model, tmp_path):
    """Each zoo model through the one training loop, its artifact, and batched inference as signal dicts
    (their planted-signal and noise controls run in their notebooks)."""
    from trademl.inference import predict

    res = train_model(
        controls['signal'],
        model,
        'small',
        epochs=1,
        out_dir=tmp_path / model,
        mlflow=False,
        progress=False,
        max_train_samples=600,
    )
    assert load_model(res.path).name == model
    pr = predict(res.path, make_synthetic_panel(12, 900, seed=5, signal=0.5))
    assert len(pr.signals) == 12 and {s['signal'] for s in pr.signals} <= {'LONG', 'SHORT', 'FLAT'}
    assert all(np.isfinite(s['expected_return']) for s in pr.signals)


def test_two_seeded_runs_give_identical_weights_and_save_load_is_exact(controls, tmp_path):
    ds = controls['noise']
    a = train_model(
        ds,
        'tft',
        'small',
        epochs=1,
        out_dir=tmp_path / 'a',
        mlflow=False,
        progress=False,
        max_train_samples=600,
    )
    train_model(
        ds,
        'tft',
        'small',
        epochs=1,
        out_dir=tmp_path / 'b',
        mlflow=False,
        progress=False,
        max_train_samples=600,
    )
    assert (tmp_path / 'a' / 'model.safetensors').read_bytes() == (
        tmp_path / 'b' / 'model.safetensors'
    ).read_bytes()
    tm = load_model(tmp_path / 'a')
    idx = a.val_idx[:64]
    x = (
        torch.from_numpy(ds.windows(idx)),
        torch.from_numpy(tm.embedding_scaler.transform(ds.embeddings[idx])),
        torch.from_numpy(tm.context_scaler.transform(ds.context[idx])),
    )
    with torch.inference_mode():
        assert torch.equal(a.trained.model(*x)['quantiles'], tm.model(*x)['quantiles'])
    info = json.loads((tmp_path / 'a' / 'model_info.json').read_text())
    assert info['feature_names'][:2] == ['mtf_month', 'mtf_week'] and info['horizons'] == [3, 5, 10]
    assert (
        len(info['context_scaler']['mean']) == 29
        and info['dataset']['panel_hash'] == ds.manifest['panel_hash']
    )


def test_scalers_use_training_rows_only(controls, tmp_path):
    ds = controls['noise']
    res = train_model(
        ds, 'timeformer', 'small', epochs=1, out_dir=tmp_path / 's', mlflow=False, progress=False
    )
    ctx = np.asarray(ds.context, dtype=np.float64)
    np.testing.assert_allclose(
        res.trained.context_scaler.mean, ctx[res.train_idx].mean(0), rtol=1e-10, atol=1e-12
    )
    assert not np.allclose(res.trained.context_scaler.mean, ctx.mean(0))
    # training rows' labels are all known before the first validation date (purged split)
    first_val = ds.keys.date.iloc[res.val_idx].min()
    assert (
        ds.keys[['known_3', 'known_5', 'known_10']].iloc[res.train_idx].max(axis=1) < first_val
    ).all()


def test_training_notebook_runs_under_papermill(tmp_path):
    pm = pytest.importorskip('papermill')
    out = tmp_path / 'out.ipynb'
    env_home = os.environ.get('TRADEML_HOME')
    os.environ['TRADEML_HOME'] = str(tmp_path)
    try:
        pm.execute_notebook(
            str(ROOT / 'nbs' / 'prod' / 'train.ipynb'),
            str(out),
            kernel_name='python3',
            progress_bar=False,
            parameters={
                'model': 'tft',
                'source': 'synthetic',
                'epochs': 1,
                'max_train_samples': 500,
                'mlflow': False,
            },
            cwd=str(tmp_path),
        )
    finally:
        if env_home is None:
            os.environ.pop('TRADEML_HOME', None)
        else:
            os.environ['TRADEML_HOME'] = env_home
    art = tmp_path / 'artifacts' / 'models' / 'tft-synthetic'
    assert (art / 'model.safetensors').is_file() and load_model(art).name == 'tft'
    text = out.read_text()
    assert 'injected-parameters' in text and 'trained in' in text


def test_train_command_fails_cleanly_on_unknown_model_and_dataset(tmp_path):
    exe = str(Path(sys.executable).parent / 'trademl')
    env = {**os.environ, 'TRADEML_HOME': str(tmp_path)}
    r = subprocess.run(
        [exe, 'train', 'lstm', '--dataset', 'synthetic', '--epochs', '1'],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert (
        r.returncode == 2
        and 'Traceback' not in r.stderr
        and "got 'lstm'" in r.stderr
        and 'dataset' not in r.stderr
    ), r.stderr[-500:]
    r = subprocess.run(
        [exe, 'train', 'tft', '--dataset', 'nope'],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 2 and "dataset 'nope' not found" in r.stderr


INTERRUPTED_RUN = """
import sys
from pathlib import Path

from trademl.core import RunInterrupted
from trademl.data import make_synthetic_panel
from trademl.dataset import build_dataset
from trademl.train import train_model

root = Path(sys.argv[1])
ds = build_dataset(
    make_synthetic_panel(3, 260, seed=1), 'local', name='tiny', root=root, window=60,
    pretrain_epochs=1, pretrain_windows=200,
)
try:
    train_model(ds, 'tft', 'small', epochs=100000, patience=100000, out_dir=root / 'run',
                mlflow=False, progress=False, batch_size=32)
except RunInterrupted as e:
    print('interrupted', e, file=sys.stderr)
    sys.exit(e.exit_code)
"""


def test_sigterm_stops_training_with_run_interrupted_and_removes_its_temporary_folder(tmp_path):
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, '-c', INTERRUPTED_RUN, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, 'PYTHONPATH': str(ROOT)},
    )
    deadline = time.time() + 300
    while not list(tmp_path.glob('.run-*.training')) and time.time() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.2)
    assert list(tmp_path.glob('.run-*.training')), 'training did not start'
    time.sleep(2)  # inside the fit loop
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, (proc.returncode, err[-2000:])
    assert 'interrupted by SIGTERM' in err and 'Traceback' not in err, err[-2000:]
    assert not list(tmp_path.glob('.run-*.training'))  # the temporary folder is gone
    assert not (tmp_path / 'run' / 'model.safetensors').exists()  # no artifact of a stopped run
    assert (tmp_path / 'run' / 'train.log').is_file()  # Lightning's messages went to the log
