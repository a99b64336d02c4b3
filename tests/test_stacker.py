"""The stacker learns only from out-of-fold scores, cross-fits by date with a purge, falls back to a weighted average and round-trips through JSON."""

import json

import numpy as np
import pandas as pd
import pytest

from trademl.core import ConfigError, ModelError
from trademl.stacker import RidgeBlender, Stacker, sleeve_matrix
from trademl.validation import CombinatorialPurgedCV


def _universe(n_dates=180, n_sym=25, seed=1):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range('2021-01-04', periods=n_dates)
    idx = pd.MultiIndex.from_product(
        [dates, [f'S{i:02d}' for i in range(n_sym)]], names=['date', 'symbol']
    )
    sig = rng.normal(size=len(idx))
    y = pd.Series(sig + rng.normal(0, 1, len(idx)), index=idx, name='label')
    return rng, idx, sig, y


def _sleeves_with_provenance(rng, idx, sig, y):
    """A sleeve scored under CPCV: its test rows carry honest scores, its training rows in-sample
    scores that equal the label (a perfect leak, marked oof=False)."""
    dates = idx.get_level_values('date')
    cv = CombinatorialPurgedCV(4, 1, horizon=5, embargo=5)
    parts = []
    for s, (tr, te) in enumerate(cv.split(dates)):
        honest = pd.DataFrame(
            {'score': 0.8 * sig[te] + rng.normal(0, 1, len(te)), 'oof': True, 'split': s},
            index=idx[te],
        )
        leak = pd.DataFrame({'score': y.to_numpy()[tr], 'oof': False, 'split': s}, index=idx[tr])
        parts += [honest, leak]
    core = pd.concat(parts).reset_index()
    leaky = core.assign(score=np.where(core['oof'], rng.normal(size=len(core)), core['score']))
    return {'core': core, 'leaky': leaky}


def test_never_learns_from_in_sample_scores(monkeypatch):
    rng, idx, sig, y = _universe()
    sleeves = _sleeves_with_provenance(rng, idx, sig, y)
    seen = []
    orig = RidgeBlender.fit

    def spy(self, X, t):
        seen.append(X.copy())
        return orig(self, X, t)

    monkeypatch.setattr(RidgeBlender, 'fit', spy)
    st = Stacker({'n_folds': 5, 'horizon': 5, 'embargo': 10}).fit(sleeves, y)
    assert len(seen) == 5 + 1  # five cross-fits and the final fit
    for name, f in sleeves.items():
        ins = f[~f['oof']].set_index(['date', 'symbol'])['score']
        for X in seen:
            got = X[name].reindex(ins.index).dropna()
            # no in-sample score is ever passed to a blender fit
            assert not np.isin(got.to_numpy(), ins.to_numpy()).any()
    # the leaky sleeve's out-of-fold scores are noise: it earns almost no weight
    assert abs(st.weights()['leaky']) < 0.1 < st.weights()['core']
    # each cross-fit trains on dates away from the fold it scores (purge + embargo)
    udates = pd.DatetimeIndex(sorted(set(idx.get_level_values('date'))))
    for k, X in enumerate(seen[:-1]):
        test_dates = st.oof_[st.oof_['fold'] == k].index.get_level_values('date').unique()
        tr = udates.get_indexer(X.index.get_level_values('date').unique())
        te = udates.get_indexer(test_dates)
        assert len(te) and np.abs(tr[:, None] - te[None, :]).min() > 5
    assert st.oof_['score'].notna().all()


def test_fallback_and_json_round_trip(tmp_path):
    rng, idx, sig, y = _universe(120, 15, seed=2)
    frames = {
        k: pd.DataFrame({'score': a * sig + rng.normal(0, 1, len(idx))}, index=idx)
        for k, a in [('a', 1.0), ('b', 0.5), ('c', 0.2)]
    }
    for method in ['ridge', 'lightgbm']:
        st = Stacker({'method': method, 'n_estimators': 30}).fit(frames, y)
        path = st.save(tmp_path)
        doc = json.loads(path.read_text())
        assert doc['sleeves'] == ['a', 'b', 'c']
        back = Stacker.load(path)
        np.testing.assert_allclose(back.predict(frames), st.predict(frames), atol=1e-12)
        w = st.weights()
        part = {'a': frames['a'], 'c': frames['c']}
        x = sleeve_matrix(part)
        expect = x.to_numpy() @ w[['a', 'c']].to_numpy() / w[['a', 'c']].abs().sum()
        np.testing.assert_allclose(back.predict(part).to_numpy(), expect, atol=1e-12)


def test_errors(tmp_path):
    rng, idx, sig, y = _universe(40, 5)
    f = {'a': pd.DataFrame({'score': sig}, index=idx)}
    with pytest.raises(ModelError, match='complete out-of-fold rows'):
        Stacker({'min_rows': 10_000}).fit(f, y)
    with pytest.raises(ConfigError, match='lacks column'):
        sleeve_matrix({'a': pd.DataFrame({'x': [1.0]})})
    with pytest.raises(ModelError, match='no stacker file'):
        Stacker.load(tmp_path / 'nope.json')
