"""The data layer end to end: causality of every part that feeds a model, no NaN after warm-up on real
data, and clear errors for inputs that do not fit."""

import numpy as np
import pandas as pd
import pytest

from trademl.core import ConfigError, DataError
from trademl.data import load_panel, make_synthetic_panel
from trademl.dataset import build_dataset, load_dataset
from trademl.features import FEATURE_NAMES, assert_causal, build_features, warm
from trademl.labels import label_availability


@pytest.fixture(scope='module')
def ragged_panel():
    "Three synthetic symbols with different start dates (a ragged universe)."
    p = make_synthetic_panel(3, 700, seed=11, signal=0.2)
    first = {'SYN000': 0, 'SYN001': 150, 'SYN002': 320}
    keep = p.groupby('symbol').cumcount() >= p['symbol'].map(first)
    return p[keep].reset_index(drop=True)


def test_all_29_columns_are_causal_on_a_ragged_panel(ragged_panel):
    assert_causal(build_features, ragged_panel, n_cuts=4)


def test_labels_are_causal_by_availability_date_and_not_by_their_own_date(ragged_panel):
    for h in (3, 5, 10):
        assert_causal(lambda p, h=h: label_availability(p, h), ragged_panel)
    from trademl.labels import forward_returns

    with pytest.raises(AssertionError, match='look-ahead'):
        assert_causal(lambda p: forward_returns(p, (3,)), ragged_panel)


def test_harness_names_first_column_and_date_of_a_leak(ragged_panel):
    def leaky(p):
        f = build_features(p)
        c = p.set_index(['symbol', 'date'])['close']
        f['peek'] = c.groupby(level='symbol').shift(-1).reindex(f.index) / c.reindex(f.index)
        return f

    with pytest.raises(AssertionError) as e:
        assert_causal(leaky, ragged_panel, cuts=[ragged_panel.date.sort_values().iloc[900]])
    cut = ragged_panel.date.sort_values().iloc[900]
    assert "column 'peek'" in str(e.value) and f'date {cut:%Y-%m-%d}' in str(e.value)


@pytest.fixture(scope='module')
def saved_embedder(tmp_path_factory, ragged_panel):
    "A local embedder pretrained once, so dataset builds under the harness share fixed weights."
    from trademl.dataset import window_view
    from trademl.kronos import pretrain_local_embedder

    prices = ragged_panel[['open', 'high', 'low', 'close', 'volume']].to_numpy()[:300]
    emb = pretrain_local_embedder(window_view(prices, 60)[::3], epochs=1, seed=0)
    return emb.save(tmp_path_factory.mktemp('emb'))


def dataset_inputs(panel, root, embedder_path):
    "What a model sees from a dataset built on `panel`: context and embedding per (symbol, date)."
    ds = build_dataset(
        panel,
        'local',
        name='h',
        root=root,
        window=60,
        embedder_path=str(embedder_path),
        cache=False,
    )
    idx = pd.MultiIndex.from_frame(ds.keys[['symbol', 'date']])
    ctx = pd.DataFrame(np.asarray(ds.context), index=idx, columns=FEATURE_NAMES)
    emb = pd.DataFrame(np.asarray(ds.embeddings)[:, :32], index=idx).add_prefix('emb_')
    last = pd.DataFrame(
        ds.raw_windows(np.arange(len(ds)))[:, -1, :], index=idx, columns=list('ohlcv')
    )
    return pd.concat([ctx, emb, last], axis=1)


def test_dataset_builder_is_causal(ragged_panel, saved_embedder, tmp_path):
    assert_causal(lambda p: dataset_inputs(p, tmp_path, saved_embedder), ragged_panel, n_cuts=2)


def test_chronos_backend_is_causal_on_a_tiny_model(ragged_panel, tmp_path):
    torch = pytest.importorskip('torch')
    from transformers import T5Config, T5ForConditionalGeneration

    cfg = T5Config(
        vocab_size=4096,
        d_model=16,
        d_kv=4,
        d_ff=32,
        num_layers=1,
        num_decoder_layers=1,
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
    torch.manual_seed(0)
    T5ForConditionalGeneration(cfg).save_pretrained(tmp_path / 'tiny')
    small = ragged_panel[ragged_panel.symbol == 'SYN000'].iloc[:420].reset_index(drop=True)

    def chronos_inputs(p):
        ds = build_dataset(
            p,
            'chronos',
            name='c',
            root=tmp_path,
            window=60,
            embedder_path=str(tmp_path / 'tiny'),
            cache=False,
        )
        idx = pd.MultiIndex.from_frame(ds.keys[['symbol', 'date']])
        return pd.DataFrame(np.asarray(ds.embeddings), index=idx)

    assert_causal(
        chronos_inputs, small, n_cuts=2, rtol=1e-5, atol=1e-6
    )  # batch composition changes float rounding


def test_sample_has_no_nan_after_warmup():
    f = build_features(load_panel('sample'))
    assert int(f[warm(f)].isna().sum().sum()) == 0


def test_etf_panel_has_no_nan_after_warmup(etf_panel_path):
    f = build_features(load_panel('files', etf_panel_path))
    bad = f[warm(f)].isna()
    assert not bad.any().any(), bad.sum()[bad.sum() > 0]
    assert list(f.columns) == FEATURE_NAMES


@pytest.mark.parametrize(
    'kwargs, match',
    [
        ({'window': 5000}, 'window=5000'),
        ({'window': 5}, 'window must be >= 10'),
        ({'horizons': [3, 900]}, 'horizon 900 does not fit'),
        ({'horizons': [0]}, 'horizons must be positive'),
        ({'embedder': 'kronos-xl'}, "embedder must be 'local' or 'chronos'"),
        ({'pretrain_end': '1990-01-01'}, 'pretrain_end=1990-01-01'),
        ({'windw': 60}, "unknown configuration key 'windw'"),
    ],
)
def test_bad_dataset_parameters_name_the_parameter(kwargs, match, tmp_path):
    panel = make_synthetic_panel(2, 800, seed=1)
    emb = kwargs.pop('embedder', 'local')
    with pytest.raises(ConfigError, match=match):
        build_dataset(panel, emb, name='x', root=tmp_path, **kwargs)
    assert not any(tmp_path.iterdir()) or not (tmp_path / 'x').exists()


def test_invalid_panel_is_refused_before_anything_is_built(tmp_path):
    panel = make_synthetic_panel(2, 300, seed=1)
    panel.loc[40, 'close'] = -1.0
    with pytest.raises(DataError, match='symbol SYN000 date .* column close'):
        build_dataset(panel, 'local', name='x', root=tmp_path)
    assert not (tmp_path / 'x').exists()


def test_chronos_without_weights_fails_fast_with_the_fix(tmp_path):
    from trademl.kronos import EmbedderUnavailableError

    with pytest.raises(EmbedderUnavailableError, match='huggingface-cli download'):
        build_dataset(
            make_synthetic_panel(1, 400),
            'chronos',
            name='x',
            root=tmp_path,
            embedder_path='amazon/chronos-t5-small',
        )


def test_dataset_round_trip_and_torch_batches(tmp_path):
    torch = pytest.importorskip('torch')
    from trademl.dataset import Scaler, collate_batch, window_dataset

    panel = make_synthetic_panel(3, 600, seed=4)
    ds = build_dataset(panel, 'local', name='rt', root=tmp_path, window=60, pretrain_epochs=1)
    again = load_dataset(tmp_path / 'rt')
    assert again.manifest == ds.manifest and len(again) == len(ds) == ds.manifest['n_samples']
    assert ds.manifest['feature_names'] == FEATURE_NAMES and ds.manifest['label_names'][:3] == [
        'ret_3',
        'ret_5',
        'ret_10',
    ]
    lab = ds.labelled()
    train, test = lab[: len(lab) // 2], lab[len(lab) // 2 :]
    wd = window_dataset(ds, test, Scaler.fit(ds.context, train), Scaler.fit(ds.embeddings, train))
    b = next(iter(torch.utils.data.DataLoader(wd, batch_size=32, collate_fn=collate_batch)))
    assert (
        b['price'].shape == (32, 60, 5)
        and b['kronos'].shape == (32, 512)
        and b['context'].shape == (32, 29)
    )
    assert torch.isfinite(b['price']).all() and not torch.isnan(b['ret']).any()
    # the window of a sample ends at its own bar: the normalised last close is 0
    assert torch.all(b['price'][:, -1, 3] == 0)
    # rebuilding reuses the embedding cache and gives identical embeddings
    ds2 = build_dataset(panel, 'local', name='rt2', root=tmp_path, window=60, pretrain_epochs=1)
    assert np.array_equal(np.asarray(ds2.embeddings), np.asarray(ds.embeddings))


def test_memory_mapped_dataset_equals_the_panel_functions(ragged_panel, saved_embedder, tmp_path):
    """The arrays a dataset maps from its folder (built from one pivot of the panel) equal what the
    panel-level functions compute, each from its own pivot, row by row."""
    from trademl.labels import availability_dates, forward_returns

    ds = build_dataset(
        ragged_panel,
        'local',
        name='m',
        root=tmp_path,
        window=60,
        embedder_path=str(saved_embedder),
        cache=False,
    )
    for k in ('prices', 'context', 'embeddings', 'labels'):
        assert isinstance(getattr(ds, k), np.memmap), k
    rows = ds.keys['row'].to_numpy()
    feats = build_features(ragged_panel)
    np.testing.assert_array_equal(ds.context, feats.to_numpy(np.float32)[rows])
    lab = forward_returns(ragged_panel, ds.horizons)
    np.testing.assert_array_equal(ds.labels, lab[ds.label_names].to_numpy(np.float32)[rows])
    known = availability_dates(ragged_panel, ds.horizons)
    for h in ds.horizons:
        np.testing.assert_array_equal(ds.keys[f'known_{h}'], known[f'known_{h}'].to_numpy()[rows])
    ohlcv = ragged_panel[['open', 'high', 'low', 'close', 'volume']].to_numpy(np.float64)
    np.testing.assert_array_equal(ds.prices, ohlcv)
    np.testing.assert_array_equal(ds.raw_windows(np.arange(3))[:, -1], ohlcv[rows[:3]])
