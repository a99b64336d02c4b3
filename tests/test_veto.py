"""The veto learns from out-of-fold predictions only; it saves and loads in native formats; its
threshold and Optuna trial count behave as documented; the ensemble weights equal the design's blend."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip('torch')
pytest.importorskip('lightgbm')
import trademl.veto as veto_mod
from trademl.data import make_synthetic_panel
from trademl.dataset import build_dataset
from trademl.ensemble import EnsembleWeights, combine
from trademl.veto import (
    DeepConfig,
    VetoConfig,
    VetoModel,
    choose_threshold,
    fit_veto,
    oof_predictions,
    veto_features,
    veto_labels,
)

TINY = DeepConfig(epochs={'timeformer': 1, 'tft': 1}, max_train_samples=400)


@pytest.fixture(scope='module')
def ds(tmp_path_factory):
    d = tmp_path_factory.mktemp('veto')
    return build_dataset(
        make_synthetic_panel(4, 520, seed=3, signal=0.4),
        'local',
        name='v',
        root=d,
        window=60,
        pretrain_epochs=1,
        pretrain_windows=1000,
    )


def test_veto_training_rows_come_from_out_of_fold_predictions_only(ds, tmp_path, monkeypatch):
    seen = []  # (rows a model set was trained on, rows it predicted)
    real_fit, real_predict = veto_mod.fit_deep, veto_mod.predict_deep

    def fit_spy(d, train_idx, cfg, out_root):
        models = real_fit(d, train_idx, cfg, out_root)
        for tm in models.values():
            tm._trained_on = np.asarray(train_idx)
        return models

    def predict_spy(models, d, idx):
        for tm in models.values():
            seen.append((tm._trained_on, np.asarray(idx)))
        return real_predict(models, d, idx)

    monkeypatch.setattr(veto_mod, 'fit_deep', fit_spy)
    monkeypatch.setattr(veto_mod, 'predict_deep', predict_spy)
    rows = ds.labelled()[: len(ds.labelled()) * 3 // 4]
    oof = oof_predictions(ds, rows, TINY, tmp_path, n_folds=3)
    # every row the veto will learn from was predicted exactly once, by models that never saw it
    assert (
        sorted(oof.predictions.index) == sorted(rows)
        and not oof.predictions.index.duplicated().any()
    )
    assert len(seen) == 3 * len(TINY.models)
    for trained_on, predicted in seen:
        assert np.intersect1d(trained_on, predicted).size == 0
    for f, trained in oof.trained_on.items():
        assert np.intersect1d(trained, oof.fold.index[oof.fold == f]).size == 0
    # and the veto's design matrix is built from exactly those out-of-fold rows
    X = veto_features(ds, oof.predictions)
    assert list(X.index) == list(oof.predictions.index)
    pred_cols = [c for c in X.columns if c.startswith(('timeformer_', 'tft_'))]
    np.testing.assert_array_equal(X[pred_cols].to_numpy(), oof.predictions[pred_cols].to_numpy())


def test_choose_threshold_by_hand():
    prob = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    correct = np.array([1, 1, 0, 1, 1, 0, 0, 1, 0, 0.0])
    # hit rates of the top-k: 1, 1, .67, .75, .8, .67, ...; with coverage >= 30 % (k >= 3) the best is k = 5
    assert choose_threshold(prob, correct, 0.3) == 0.5
    assert choose_threshold(prob, correct, 0.1) == 0.8  # top-2 both right; ties keep more rows


def synthetic_veto_rows(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f'f{i}' for i in range(6)])
    y = pd.Series((X.f0 + 0.5 * rng.normal(size=n) > 0).astype(float))
    dates = pd.Series(np.repeat(pd.bdate_range('2010-01-01', periods=n // 3), 3)[:n])
    return X, y, dates


@pytest.mark.parametrize('kind', ['lightgbm', 'catboost'])
def test_veto_fits_saves_and_loads_natively(kind, tmp_path):
    X, y, dates = synthetic_veto_rows()
    v = fit_veto(X, y, dates, VetoConfig(kind=kind, n_trials=0), horizon_days=5)
    assert v.val_hit_rate > 0.7 and v.val_coverage >= 0.2
    v.save(tmp_path / kind)
    assert {p.name for p in (tmp_path / kind).iterdir()} == {
        'veto.json',
        'model.txt' if kind == 'lightgbm' else 'model.cbm',
    }
    w = VetoModel.load(tmp_path / kind)
    np.testing.assert_array_equal(w.predict_proba(X), v.predict_proba(X))
    assert w.threshold == v.threshold


def test_optuna_trials_are_counted_and_the_study_is_shared(tmp_path):
    X, y, dates = synthetic_veto_rows()
    storage = f'sqlite:///{tmp_path}/optuna.db'
    a = fit_veto(X, y, dates, VetoConfig(n_trials=3, storage=storage, study_name='s'), 5)
    b = fit_veto(X, y, dates, VetoConfig(n_trials=2, storage=storage, study_name='s'), 5)
    assert (a.n_trials, b.n_trials) == (3, 5)  # the second machine continues the same study
    import optuna

    assert len(optuna.load_study(study_name='s', storage=storage).trials) == 5


def test_seed_ensemble_weights():
    w = EnsembleWeights.from_design(0.35, 0.30, 0.35)
    assert (round(w.timeformer, 10), round(w.tft, 10)) == (0.525, 0.475)
    p = pd.DataFrame(
        {
            'timeformer_ret_5': [0.02],
            'tft_ret_5': [-0.01],
            'timeformer_prob_5': [0.7],
            'tft_prob_5': [0.4],
        }
    )
    e = combine(p, w, [5])
    assert e.ens_ret_5.iloc[0] == pytest.approx(
        0.35 * 0.02 + 0.30 * -0.01 + 0.35 * (0.02 - 0.01) / 2
    )


def test_ensemble_with_veto_saves_loads_and_predicts_signal_dicts(ds, tmp_path):
    from trademl.data import make_synthetic_panel
    from trademl.ensemble import Ensemble
    from trademl.veto import fit_deep

    rows = ds.labelled()
    oof = oof_predictions(ds, rows[: len(rows) // 2], TINY, tmp_path / 'oof', n_folds=2)
    X = veto_features(ds, oof.predictions)
    y = veto_labels(ds, combine(oof.predictions, EnsembleWeights(), ds.horizons)['ens_prob_5'], 5)
    v = fit_veto(
        X,
        y,
        pd.Series(ds.keys.date.to_numpy()[X.index.to_numpy()], index=X.index),
        VetoConfig(n_trials=0),
        10,
    )
    models = fit_deep(ds, rows[: len(rows) // 2], TINY, tmp_path / 'models')
    Ensemble(models, EnsembleWeights(), v, 5).save(tmp_path / 'ens')
    ens = Ensemble.load(tmp_path / 'ens')
    panel = make_synthetic_panel(4, 520, seed=3, signal=0.4)
    sig = ens.predict(panel)
    assert [s['symbol'] for s in sig] == sorted(panel.symbol.unique()) and all(
        s['strategy'] == 'ensemble' for s in sig
    )
    for s in sig:
        assert (
            s['signal'] in ('LONG', 'SHORT', 'FLAT')
            and 0 <= s['strength'] <= 1
            and s['horizon'] == '5d'
        )
        assert s['raw_outputs']['vetoed'] == (s['raw_outputs']['veto_prob'] < v.threshold)
        if s['raw_outputs']['vetoed']:
            assert s['signal'] == 'FLAT'
        w = 0.525 * s['raw_outputs']['timeformer_ret_5'] + 0.475 * s['raw_outputs']['tft_ret_5']
        assert s['expected_return'] == pytest.approx(w)
