"""`trademl paper rebalance --execution day|opg|twap` on the simulated broker, through typer's CliRunner."""

import pytest
from typer.testing import CliRunner

from trademl.broker import SimBroker
from trademl.cli import app
from trademl.core import ConfigError


@pytest.fixture
def targets(tmp_path, monkeypatch):
    monkeypatch.setenv('TRADEML_HOME', str(tmp_path / 'home'))
    p = tmp_path / 'targets.csv'
    p.write_text('symbol,weight\n^GSPC,0.5\n^IXIC,0.3\n')
    return tmp_path, p


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def rebalance(tmp, p, folder, *extra):
    r = run(
        'paper', 'rebalance', '--asof', '2018-12-27', '--targets', p, '--dir', tmp / folder, *extra
    )
    assert r.exit_code == 0, (r.output, r.exception)
    return r


def test_twap_sends_child_orders_once(targets):
    tmp, p = targets
    r = rebalance(tmp, p, 'twap', '--execution', 'twap', '--twap-slices', '3')
    assert 'twap): submitted 6,' in r.output
    assert (
        'submitted 0,'
        in rebalance(tmp, p, 'twap', '--execution', 'twap', '--twap-slices', '3').output
    )
    with SimBroker(tmp / 'twap' / 'sim.db') as sim:
        orders = sim.orders('all')
    assert len(orders) == 6 and all(o.client_order_id[-4:-2] == '-c' for o in orders)
    assert len({o.client_order_id for o in orders}) == 6


def test_opg_and_day(targets):
    tmp, p = targets
    assert 'opg): submitted 2,' in rebalance(tmp, p, 'opg', '--execution', 'opg').output
    with SimBroker(tmp / 'opg' / 'sim.db') as sim:
        assert {o.time_in_force for o in sim.orders('all')} == {'opg'}
    assert 'day): submitted 2,' in rebalance(tmp, p, 'day').output  # the default


def test_an_unknown_execution_is_one_clear_error(targets):
    tmp, p = targets
    r = run('paper', 'rebalance', '--targets', p, '--dir', tmp / 'x', '--execution', 'vwap')
    assert isinstance(r.exception, ConfigError)
    assert str(r.exception) == "execution: must be one of ('day', 'opg', 'twap'), got 'vwap'"
    assert not (tmp / 'x').exists()  # refused before any work
