"""AlphaModel: targets and weights, both engines and tasks, a planted signal found out of sample, artifacts without pickle, ONNX equal to native."""

import json

import numpy as np
import pandas as pd
import pytest

from trademl.alpha import AlphaConfig, AlphaModel, decay_weights, onnx_scores, top_bottom
from trademl.alpha_features import alpha_features, cross_sectional
from trademl.alpha_labels import make_labels
from trademl.core import ConfigError, ModelError
from trademl.data import make_synthetic_panel
from trademl.metrics import daily_ic

pytest.importorskip('lightgbm')


@pytest.fixture(scope='module')
def data():
    p = make_synthetic_panel(30, 600, seed=4, signal=0.2)
    X = cross_sectional(alpha_features(p), 'rank')
    y = make_labels(p)['label']
    d = X.index.get_level_values('date')
    cut = np.sort(d.unique())[420]
    return X, y, d <= cut - pd.Timedelta(days=15), d > cut


def test_top_bottom_and_decay_weights():
    d = pd.bdate_range('2020-01-01', periods=1)
    y = pd.Series(
        np.arange(10.0),
        index=pd.MultiIndex.from_product([d, list('abcdefghij')], names=['date', 'symbol']),
    )
    tb = top_bottom(y, 0.2)
    assert tb.tolist()[:2] == [0.0, 0.0] and tb.tolist()[-2:] == [1.0, 1.0] and tb.isna().sum() == 6
    y2 = y.copy()
    y2.iloc[0] = np.nan
    assert np.isnan(top_bottom(y2, 0.2).iloc[0])
    w = decay_weights(pd.to_datetime(['2019-01-01', '2020-01-01', '2021-01-01']), 12)
    assert w[-1] == 1.0 and w[0] == pytest.approx(0.5 ** (731 / 30.4375 / 12))
    assert (decay_weights(pd.to_datetime(['2019-01-01', '2021-01-01'])) == 1).all()


def test_config_is_checked():
    for bad, key in [
        ({'engine': 'xgb'}, 'engine'),
        ({'task': 'rank'}, 'task'),
        ({'top_k': 0.6}, 'top_k'),
        ({'subsample': 0.0}, 'subsample'),
        ({'half_life_months': -1.0}, 'half_life_months'),
    ]:
        with pytest.raises(ConfigError, match=key):
            AlphaConfig(**bad)
    assert AlphaModel({'n_estimators': 5}).get_params() == {'cfg': {'n_estimators': 5}}


def test_the_planted_signal_is_found_out_of_sample(data):
    X, y, train, test = data
    m = AlphaModel({'n_estimators': 60}).fit(X[train], y[train])
    s = m.predict(X[test])
    assert s.index.equals(X[test].index)
    ic = daily_ic(s, y[test], X[test].index.get_level_values('date'))
    assert ic['rank_ic_mean'] > 0.05, ic
    assert m.trained_['rows'] == int(y[train].notna().sum())


def test_time_decay_changes_the_model(data):
    X, y, train, test = data
    a = AlphaModel({'n_estimators': 20}).fit(X[train], y[train]).predict(X[test])
    b = (
        AlphaModel({'n_estimators': 20, 'half_life_months': 3})
        .fit(X[train], y[train])
        .predict(X[test])
    )
    assert not np.allclose(a, b)


@pytest.mark.parametrize('engine', ['lightgbm', 'catboost'])
@pytest.mark.parametrize('task', ['regression', 'classification'])
def test_save_load_and_onnx_equal_native(data, tmp_path, engine, task):
    if engine == 'catboost':
        pytest.importorskip('catboost')
    X, y, train, test = data
    m = AlphaModel({'engine': engine, 'task': task, 'n_estimators': 25}).fit(X[train], y[train])
    s = m.predict(X[test])
    if task == 'classification':
        assert s.between(0, 1).all()
    folder = m.save(tmp_path / 'art')
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        [
            'feature_list.json',
            'training_cfg.json',
            'model.txt' if engine == 'lightgbm' else 'model.cbm',
        ]
    )
    assert json.loads((folder / 'feature_list.json').read_text()) == list(X.columns)
    assert json.loads((folder / 'training_cfg.json').read_text())['config']['task'] == task
    back = AlphaModel.load(folder)
    np.testing.assert_array_equal(back.predict(X[test]).to_numpy(), s.to_numpy())
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnxmltools')
    onx = m.export_onnx(folder)
    assert onx.name == 'model.onnx'
    np.testing.assert_allclose(
        onnx_scores(onx, X[test], m.features_, task), s.to_numpy(), atol=1e-5, rtol=0
    )


def test_errors_name_what_is_wrong(data, tmp_path):
    X, y, train, test = data
    with pytest.raises(ModelError, match='not fitted'):
        AlphaModel().predict(X)
    m = AlphaModel({'n_estimators': 5}).fit(X[train], y[train])
    with pytest.raises(ModelError, match='vol_20'):
        m.predict(X.drop(columns='vol_20'))
    folder = m.save(tmp_path / 'a')
    (folder / 'model.txt').unlink()
    with pytest.raises(ModelError, match='model.txt'):
        AlphaModel.load(folder)
    with pytest.raises(ModelError, match='feature_list.json'):
        AlphaModel.load(tmp_path / 'nowhere')
    with pytest.raises(ModelError, match='rows with a target'):
        AlphaModel().fit(X.iloc[:10], y.iloc[:10])
    with pytest.raises(ConfigError, match='symbol, date'):
        AlphaModel().fit(X.reset_index(drop=True), y)
