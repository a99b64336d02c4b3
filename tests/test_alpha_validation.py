"""Alpha validation after costs: purged CPCV (no training date near a test block), the planted signal
found and the shuffled-label control not, RED data refused, and the report written."""

import json

import numpy as np
import pandas as pd
import pytest

from trademl.alpha import AlphaModel
from trademl.alpha_validation import AlphaValidationConfig, validate_alpha, write_alpha_report
from trademl.core import DataError
from trademl.data import make_synthetic_panel

CFG = {
    'n_groups': 4,
    'n_test_groups': 1,
    'n_estimators': 30,
    'min_data_in_leaf': 100,
    'ablation': False,
    'importance_splits': 1,
    'horizon': 5,
    'embargo': 10,
}


@pytest.fixture(scope='module')
def panel():
    return make_synthetic_panel(40, 360, signal=0.3)


def test_purged_training_and_planted_signal(panel, monkeypatch):
    seen = []
    orig = AlphaModel.fit

    def spy(self, X, y, sample_weight=None):
        seen.append(pd.DatetimeIndex(X.index.get_level_values('date').unique()))
        return orig(self, X, y, sample_weight)

    monkeypatch.setattr(AlphaModel, 'fit', spy)
    res = validate_alpha(panel, CFG)
    assert len(seen) == 4
    udates = pd.DatetimeIndex(sorted(panel['date'].unique()))
    oof = res.oof[res.oof['method'] == 'alpha']
    for s, train_dates in enumerate(seen):
        test = udates.get_indexer(pd.DatetimeIndex(oof.loc[oof['split'] == s, 'date'].unique()))
        tr = udates.get_indexer(train_dates)
        assert len(test) and not np.isin(tr, test).any()
        before, after = tr[tr < test.min()], tr[tr > test.max()]
        assert before.size == 0 or test.min() - before.max() > 5  # label horizon purged
        assert after.size == 0 or after.min() - test.max() > 5 + 10  # purge + embargo
    t = res.table
    assert t.loc['alpha', 'rank_ic'] > 0.05 and t.loc['alpha', 'net_sharpe_mean'] > 1
    assert {'momentum_12_1', 'reversal_5', 'equal_weight'} <= set(t.index)
    assert res.facts['n_trials'] == 1  # one seed; baselines are fixed rules, not trials
    assert list(res.importance.columns) == ['gain', 'permutation']
    dm = res.dm.set_index('against')
    assert set(dm.index) == {'momentum_12_1', 'reversal_5', 'equal_weight'}
    assert dm.loc['reversal_5', 'statistic'] < 0 and dm['p_value'].between(0, 1).all()
    shuffled = validate_alpha(panel, CFG | {'shuffle_labels': True, 'importance_splits': 0})
    assert abs(shuffled.table.loc['alpha', 'rank_ic']) < 0.3 * t.loc['alpha', 'rank_ic']


def test_red_refused_or_dropped(panel):
    bad = panel[~((panel['symbol'] == 'SYN003') & (np.arange(len(panel)) % 2 == 0))]
    with pytest.raises(DataError, match='SYN003'):
        validate_alpha(bad, CFG)
    res = validate_alpha(bad, CFG | {'red': 'drop', 'baselines': False, 'importance_splits': 0})
    assert res.facts['red_dropped'] == ['SYN003']
    assert 'SYN003' not in set(res.oof['symbol'])


def test_report_files(panel, tmp_path):
    res = validate_alpha(panel, CFG | {'baselines': False})
    out = write_alpha_report(res, tmp_path / 'rep')
    names = {p.name for p in out.iterdir()}
    assert {'report.html', 'report.json', 'report.md', 'oof_alpha.parquet'} <= names
    doc = json.loads((out / 'report.json').read_text())
    assert doc['facts']['n_trials'] == 1 and 'alpha' in doc['table']
    assert doc['dm'] == []  # nothing to compare the alpha core with
    oof = pd.read_parquet(out / 'oof_alpha.parquet')
    assert list(oof.columns[:3]) == ['date', 'symbol', 'score'] and oof['score'].notna().all()
    html = (out / 'report.html').read_text()
    assert html.count('<script type="text/javascript">/**') <= 1 and 'Plotly.newPlot' in html
    assert 'IC decay' in html and 'CPCV paths' in html
    assert res.factor.summary['horizon'] == 5 and len(res.factor.decay) == 20
    assert AlphaValidationConfig.from_dict(doc['facts']['config']).n_groups == 4
