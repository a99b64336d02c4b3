"""Tests for trademl.kronos (OHLCV window embedders + embedding cache). Runs offline, < 60 s."""

import os

os.environ['HF_HUB_OFFLINE'] = '1'

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import trademl.kronos as kronos
from trademl.core import ModelError
from trademl.kronos import (
    CacheCorruptionWarning,
    ChronosEmbedder,
    Embedder,
    EmbedderUnavailableError,
    EmbeddingCache,
    LocalArtifactError,
    LocalEmbedder,
    embed_cached,
    get_embedder,
    normalise_windows,
    pretrain_local_embedder,
)

HERE = Path(__file__).resolve().parent


def synthetic_windows(n, length=120, seed=0):
    """Random-walk OHLCV windows [n, length, 5] with raw prices around 100."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(rng.normal(0, 0.02, (n, length)).cumsum(1))
    open_ = close * np.exp(rng.normal(0, 0.005, (n, length)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.005, (n, length))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.005, (n, length))))
    volume = rng.lognormal(12, 0.5, (n, length))
    return np.stack([open_, high, low, close, volume], axis=-1)


def sliding_windows(series, length):
    """All windows of ``length`` rows ending at t = length-1 .. len(series)-1."""
    return np.stack([series[t - length + 1 : t + 1] for t in range(length - 1, len(series))])


@pytest.fixture(scope='module')
def trained():
    """A small pretrained local embedder (default sizes, 2 epochs on 256 windows)."""
    return pretrain_local_embedder(synthetic_windows(256), epochs=2, batch_size=64, seed=0)


# ----------------------------------------------------------------------------- normalisation
def test_normalise_shape_dtype_finite():
    out = normalise_windows(synthetic_windows(7))
    assert out.shape == (7, 120, 5) and out.dtype == np.float32 and np.isfinite(out).all()
    assert np.all(out[:, -1, 3] == 0.0)  # last close -> log(1)


def test_normalise_scale_invariant():
    w = synthetic_windows(5)
    scaled = w.copy()
    scaled[..., :4] *= 7.0
    np.testing.assert_allclose(normalise_windows(scaled), normalise_windows(w), atol=1e-6)
    scaled[..., 4] *= 3.0  # volume scale is also normalised away
    np.testing.assert_allclose(normalise_windows(scaled), normalise_windows(w), atol=1e-6)


def test_normalise_causal_ignores_future_data():
    series = synthetic_windows(1, length=200)[0]
    before = normalise_windows(sliding_windows(series, 120))
    changed = series.copy()
    changed[150:] *= 3.0  # alter the "future" after t = 149
    after = normalise_windows(sliding_windows(changed, 120))
    np.testing.assert_array_equal(before[:31], after[:31])  # windows ending at t <= 149
    assert not np.allclose(before[31:], after[31:])


def test_normalise_zero_volume_and_bad_input():
    w = synthetic_windows(2)
    w[0, :, 4] = 0.0
    out = normalise_windows(w)
    assert np.all(out[0, :, 4] == 0) and np.isfinite(out).all()
    bad = w.copy()
    bad[1, 3, 2] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        normalise_windows(bad)
    with pytest.raises(ValueError, match='shape'):
        normalise_windows(w[..., :4])


# ----------------------------------------------------------------------------- local embedder
def test_local_embed_shape_dtype(trained):
    out = trained.embed(synthetic_windows(9, seed=3))
    assert out.shape == (9, 512) and trained.dim == 512 and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert len(trained.fingerprint) == 16 and int(trained.fingerprint, 16) >= 0
    with pytest.raises(ValueError, match='length 60'):
        trained.embed(synthetic_windows(2, length=60))


def test_local_embedding_scale_invariant(trained):
    w = synthetic_windows(4, seed=5)
    scaled = w * 7.0
    np.testing.assert_allclose(trained.embed(scaled), trained.embed(w), atol=1e-4)


def test_pretraining_is_deterministic(trained):
    again = pretrain_local_embedder(synthetic_windows(256), epochs=2, batch_size=64, seed=0)
    other = pretrain_local_embedder(synthetic_windows(256), epochs=2, batch_size=64, seed=1)
    sd_a, sd_b = trained.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a)
    assert again.fingerprint == trained.fingerprint and again.history == trained.history
    w = synthetic_windows(16, seed=9)
    np.testing.assert_array_equal(again.embed(w), trained.embed(w))
    assert other.fingerprint != trained.fingerprint
    assert not np.allclose(other.embed(w), trained.embed(w))


def test_pretraining_reduces_masked_loss(trained):
    model = pretrain_local_embedder(
        synthetic_windows(512, seed=1), epochs=4, batch_size=64, d_model=32, ff_dim=64, seed=0
    )
    assert len(model.history) == 4
    assert model.history[-1] < 0.8 * model.history[0]


def test_embedding_depends_only_on_its_window(trained):
    w = synthetic_windows(32, seed=11)
    base = trained.embed(w)
    w2 = w.copy()
    w2[5] = synthetic_windows(1, seed=99)[0]
    other = trained.embed(w2)
    keep = np.arange(32) != 5
    np.testing.assert_array_equal(other[keep], base[keep])
    assert not np.allclose(other[5], base[5])
    np.testing.assert_allclose(trained.embed(w[7:8]), base[7:8], atol=1e-5)  # batch size 1


def test_save_load_bit_identical(trained, tmp_path):
    trained.save(tmp_path / 'm')
    assert {p.name for p in (tmp_path / 'm').iterdir()} == {'model.safetensors', 'config.json'}
    loaded = LocalEmbedder.load(tmp_path / 'm')
    assert loaded.fingerprint == trained.fingerprint and loaded.config == trained.config
    w = synthetic_windows(20, seed=4)
    np.testing.assert_array_equal(loaded.embed(w), trained.embed(w))
    via_factory = get_embedder('local', path=tmp_path / 'm')
    np.testing.assert_array_equal(via_factory.embed(w), trained.embed(w))


def test_missing_or_corrupted_artifact_is_refused(trained, tmp_path):
    d = trained.save(tmp_path / 'm')
    weights, cfg = d / 'model.safetensors', d / 'config.json'
    raw, cfg_text = weights.read_bytes(), cfg.read_text()

    weights.unlink()  # a missing file is a ModelError (the artifact is incomplete)
    with pytest.raises(ModelError, match='missing .*model.safetensors'):
        LocalEmbedder.load(d)
    weights.write_bytes(raw[: len(raw) // 2])  # truncated
    with pytest.raises(LocalArtifactError, match='corrupted'):
        LocalEmbedder.load(d)
    flipped = bytearray(raw)
    flipped[-100] ^= 0xFF  # still parseable, but weights changed
    weights.write_bytes(bytes(flipped))
    with pytest.raises(LocalArtifactError, match='fingerprint'):
        LocalEmbedder.load(d)
    weights.write_bytes(raw)
    cfg.write_text(cfg_text[:40])
    with pytest.raises(LocalArtifactError, match='config.json'):
        LocalEmbedder.load(d)
    meta = json.loads(cfg_text)
    meta['config']['d_model'] = 32
    meta['config']['ff_dim'] = 64
    cfg.write_text(json.dumps(meta))
    with pytest.raises(LocalArtifactError, match=r'do not match.*patch_embed.weight.*\(32, 50\)'):
        LocalEmbedder.load(d)


# ----------------------------------------------------------------------------- chronos
@pytest.fixture(scope='module')
def tiny_chronos(tmp_path_factory):
    """A tiny randomly initialised Chronos-T5 saved to disk (d_model 32)."""
    from transformers import T5Config, T5ForConditionalGeneration

    cfg = T5Config(
        vocab_size=4096,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        feed_forward_proj='relu',
        is_encoder_decoder=True,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        architectures=['T5ForConditionalGeneration'],
    )
    cfg.chronos_config = {
        'tokenizer_class': 'MeanScaleUniformBins',
        'tokenizer_kwargs': {'low_limit': -15.0, 'high_limit': 15.0},
        'n_tokens': 4096,
        'n_special_tokens': 2,
        'pad_token_id': 0,
        'eos_token_id': 1,
        'use_eos_token': True,
        'model_type': 'seq2seq',
        'context_length': 512,
        'prediction_length': 64,
        'num_samples': 20,
        'temperature': 1.0,
        'top_k': 50,
        'top_p': 1.0,
    }
    cfg.chronos_pipeline_class = 'ChronosPipeline'
    path = tmp_path_factory.mktemp('chronos') / 'tiny-chronos-t5'
    torch.manual_seed(0)
    T5ForConditionalGeneration(cfg).save_pretrained(path)
    return path


def test_chronos_tiny_embed(tiny_chronos):
    emb = get_embedder('chronos', model=str(tiny_chronos))
    w = synthetic_windows(6, seed=2)
    out = emb.embed(w)
    assert out.shape == (6, 32) and emb.dim == 32 and out.dtype == np.float32
    assert np.isfinite(out).all()
    # Chronos mean-scales the context: scaling prices leaves the embedding unchanged
    np.testing.assert_allclose(emb.embed(w * 7.0), out, atol=1e-4)
    again = ChronosEmbedder(model=tiny_chronos)
    assert again.fingerprint == emb.fingerprint
    np.testing.assert_array_equal(again.embed(w), out)
    assert ChronosEmbedder(model=tiny_chronos, pooling='eos').fingerprint != emb.fingerprint


@pytest.mark.parametrize('offline_flag', ['1', None])
def test_chronos_unavailable_fails_fast_with_help(monkeypatch, offline_flag):
    if offline_flag is None:
        monkeypatch.delenv('HF_HUB_OFFLINE', raising=False)
        monkeypatch.delenv('TRANSFORMERS_OFFLINE', raising=False)
        if kronos._hub_reachable():
            pytest.skip('network available: cannot test the no-network path')
    start = time.perf_counter()
    with pytest.raises(EmbedderUnavailableError) as info:
        ChronosEmbedder(model='amazon/chronos-t5-small')
    assert time.perf_counter() - start < 5.0
    msg = str(info.value)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ModelError)
    assert (
        'amazon/chronos-t5-small' in msg and 'huggingface-cli download' in msg and 'model=' in msg
    )


def test_chronos_bad_local_path(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(EmbedderUnavailableError, match='no config.json'):
        ChronosEmbedder(model=tmp_path / 'empty')


def test_module_imports_without_chronos_or_transformers():
    code = (
        "import sys; sys.modules['chronos'] = None; sys.modules['transformers'] = None; "
        "import trademl.kronos; assert 'transformers' not in [m for m in sys.modules if sys.modules[m]]"
    )
    subprocess.run([sys.executable, '-c', code], cwd=HERE, check=True)


def test_unknown_embedder_name():
    with pytest.raises(ValueError, match=r"'kronos-xl'.*local, chronos"):
        get_embedder('kronos-xl')


# ----------------------------------------------------------------------------- cache
class CountingEmbedder(Embedder):
    """Wraps an embedder and records how many windows it was asked to embed."""

    def __init__(self, inner, fingerprint=None):
        self.inner, self.name, self.calls, self.rows = inner, inner.name, 0, 0
        self._fp = fingerprint

    @property
    def dim(self):
        return self.inner.dim

    @property
    def fingerprint(self):
        return self._fp or self.inner.fingerprint

    def embed(self, windows):
        self.calls += 1
        self.rows += len(windows)
        return self.inner.embed(windows)


def panel(n_dates=10, symbols=('AAA', 'B/B.X')):
    """Rows (symbol, date) with aligned raw windows."""
    syms = np.repeat(np.array(symbols), n_dates)
    dates = np.tile(np.datetime64('2024-01-01') + np.arange(n_dates), len(symbols))
    return syms, dates, synthetic_windows(len(syms), seed=21)


def test_cache_second_call_computes_nothing(trained, tmp_path):
    syms, dates, w = panel()
    cache, emb = EmbeddingCache(tmp_path), CountingEmbedder(trained)
    first = embed_cached(emb, syms, dates, w, cache)
    np.testing.assert_array_equal(first, trained.embed(w))
    assert emb.rows == 20
    files = sorted(p.name for p in cache.folder(emb).iterdir())
    assert files == ['AAA.npz', 'B%2FB.X.npz']  # no temp files left behind
    called = []
    second = embed_cached(emb, syms, dates, lambda s, d: called.append(1), cache)
    np.testing.assert_array_equal(second, first)
    assert emb.calls == 1 and not called
    with np.load(cache.path(emb, 'AAA'), allow_pickle=False) as npz:
        assert npz['dates'].dtype == np.dtype('datetime64[ns]') and npz['emb'].shape == (10, 512)


def test_cache_partial_request_computes_only_missing(trained, tmp_path):
    syms, dates, w = panel()
    cache, emb = EmbeddingCache(tmp_path), CountingEmbedder(trained)
    embed_cached(emb, syms[::2], dates[::2], w[::2], cache)
    assert emb.rows == 10
    lookup = {(s, d): i for i, (s, d) in enumerate(zip(syms, dates.astype('datetime64[ns]')))}
    asked = []

    def windows_fn(s, d):
        asked.append(len(s))
        return w[[lookup[key] for key in zip(s, d)]]

    req_syms = np.concatenate([syms[1::2], syms])  # odd rows requested twice
    req_dates = np.concatenate([dates[1::2], dates])
    full = embed_cached(emb, req_syms, req_dates, windows_fn, cache)
    assert (
        asked == [10] and emb.rows == 20 and emb.calls == 2
    )  # only the 10 missing rows (duplicates computed once)
    np.testing.assert_allclose(full[10:], trained.embed(w), atol=1e-5)


def test_cache_new_fingerprint_is_not_reused(trained, tmp_path):
    syms, dates, w = panel(n_dates=4)
    cache = EmbeddingCache(tmp_path)
    embed_cached(CountingEmbedder(trained), syms, dates, w, cache)
    retrained = CountingEmbedder(pretrain_local_embedder(synthetic_windows(64), epochs=1, seed=3))
    out = embed_cached(retrained, syms, dates, w, cache)
    assert retrained.rows == 8
    np.testing.assert_array_equal(out, retrained.inner.embed(w))
    assert len(list(tmp_path.iterdir())) == 2


def test_cache_corrupted_file_is_recomputed(trained, tmp_path):
    syms, dates, w = panel(n_dates=5)
    cache, emb = EmbeddingCache(tmp_path), CountingEmbedder(trained)
    first = embed_cached(emb, syms, dates, w, cache)
    cache.path(emb, 'AAA').write_bytes(b'not a zip file')
    with pytest.warns(CacheCorruptionWarning, match='AAA'):
        again = embed_cached(emb, syms, dates, w, cache)
    assert emb.rows == 15  # 10 first time + 5 recomputed for AAA
    np.testing.assert_array_equal(again, first)
    embed_cached(emb, syms, dates, w, cache)  # file was rewritten: nothing recomputed
    assert emb.rows == 15
