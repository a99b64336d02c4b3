"""trademl.broker: SimBroker (SQLite), AlpacaBroker against the local FakeAlpaca, and that secrets
never leak.
"""

from __future__ import annotations

import logging
import math
import socket
import traceback

import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError

from trademl.broker import (
    Account,
    AlpacaBroker,
    Broker,
    BrokerError,
    DuplicateOrderError,
    Order,
    OrderRequest,
    Position,
    SimBroker,
    get_broker,
)
from trademl.core import TrademlError
from trademl.costs import CostModel
from trademl.fake_alpaca import FakeAlpaca

KEY, SECRET = 'test-key-id', 'test-secret-key'


def req(cid: str, symbol: str = 'SPY', qty: float = 10, side: str = 'buy') -> OrderRequest:
    return OrderRequest(symbol=symbol, qty=qty, side=side, client_order_id=cid)


def bar(o: float, c: float | None = None) -> dict:
    return {'open': o, 'close': o if c is None else c, 'volume': 1e6}


# ---------------------------------------------------------------------------------------- SimBroker
@pytest.fixture
def sim(tmp_path):
    b = SimBroker(
        tmp_path / 'sim.sqlite', cash=100_000.0, costs=CostModel(fee_bps=1.0, half_spread_bps=5.0)
    )
    yield b
    b.close()


def test_sim_submit_accepts_then_fills_at_next_open_with_cost(sim):
    o = sim.submit(req('c1'))
    assert o.status == 'accepted' and o.is_open and o.id.startswith('sim-') and len(o.id) == 20
    assert sim.positions() == {} and sim.cash == 100_000.0
    filled = sim.fill_pending({'SPY': bar(100.0, 102.0)}, '2024-01-03')
    assert [f.client_order_id for f in filled] == ['c1']
    f = filled[0]
    assert f.status == 'filled' and f.filled_qty == 10 and f.filled_avg_price == 100.0
    cost = sim._conn.execute("SELECT cost FROM orders WHERE client_order_id = 'c1'").fetchone()[0]
    assert cost == pytest.approx(0.6)  # 1000 notional * (1 + 5) bps
    assert sim.cash == pytest.approx(100_000 - 1000 - 0.6)
    assert sim.positions() == {'SPY': Position('SPY', 10.0, 100.0, 1020.0)}
    acct = sim.account()
    assert isinstance(acct, Account) and acct.equity == pytest.approx(98_999.4 + 1020.0)
    assert sim.last_bar_date == '2024-01-03'


def test_sim_per_symbol_spread_and_dataframe_bars(tmp_path):
    costs = CostModel(fee_bps=0.0, half_spread_bps={'SPY': 2.0}, default_half_spread_bps=10.0)
    with SimBroker(tmp_path / 's.sqlite', cash=10_000.0, costs=costs) as b:
        b.submit(req('a', 'SPY', 10))
        b.submit(req('b', 'QQQ', 10, 'sell'))
        bars = pd.DataFrame(
            {'open': [100.0, 50.0], 'close': [100.0, 50.0], 'volume': [1.0, 1.0]},
            index=['SPY', 'QQQ'],
        )
        assert len(b.fill_pending(bars, pd.Timestamp('2024-01-03'))) == 2
        # buy 1000 with 2 bps = 0.2; sell 500 with the 10 bps default = 0.5
        assert b.cash == pytest.approx(10_000 - 1000 - 0.2 + 500 - 0.5)
        assert b.positions()['QQQ'].qty == -10.0


def test_sim_orders_without_bar_stay_open_and_late_orders_wait(sim):
    sim.submit(req('spy'))
    sim.submit(req('qqq', 'QQQ'))
    sim.fill_pending({'SPY': bar(100.0), 'QQQ': bar(float('nan'))}, '2024-01-03')
    assert [o.client_order_id for o in sim.orders('open')] == ['qqq']
    sim.submit(req('late', 'SPY', 1))  # placed after the 2024-01-03 bar: not filled at its open
    assert sim.fill_pending({'SPY': bar(100.0)}, '2024-01-03') == []
    assert [
        o.client_order_id
        for o in sim.fill_pending({'SPY': bar(101.0), 'QQQ': bar(50.0)}, '2024-01-04')
    ] == ['qqq', 'late']
    with pytest.raises(BrokerError, match='before the last bar date'):
        sim.fill_pending({}, '2024-01-02')


def test_sim_fill_twice_same_date_is_harmless(sim):
    sim.submit(req('c1'))
    sim.fill_pending({'SPY': bar(100.0)}, '2024-01-03')
    cash, pos = sim.cash, sim.positions()
    assert sim.fill_pending({'SPY': bar(100.0)}, '2024-01-03') == []
    assert sim.cash == cash and sim.positions() == pos
    assert sim._conn.execute('SELECT COUNT(*) FROM fills').fetchone()[0] == 1


def test_sim_duplicate_client_order_id(sim):
    sim.submit(req('dup'))
    with pytest.raises(DuplicateOrderError) as ei:
        sim.submit(req('dup', qty=99))
    assert ei.value.client_order_id == 'dup' and isinstance(ei.value, BrokerError)
    assert sim._conn.execute('SELECT COUNT(*) FROM orders').fetchone()[0] == 1
    assert sim.order_by_client_id('dup').qty == 10 and sim.order_by_client_id('nope') is None


def test_sim_restart_restores_everything(tmp_path):
    path = tmp_path / 'state.sqlite'
    with SimBroker(path, cash=50_000.0) as b:
        b.submit(req('a'))
        b.fill_pending({'SPY': bar(100.0, 105.0)}, '2024-01-03')
        b.submit(req('b', qty=1))
        before = (b.cash, b.positions(), b.orders('all'), b.account(), b.last_bar_date)
    with SimBroker(path, cash=1.0) as b2:  # the cash argument only seeds a new file
        assert (b2.cash, b2.positions(), b2.orders('all'), b2.account(), b2.last_bar_date) == before
        assert b2.cash == 49_000.0 and [o.status for o in b2.orders('all')] == [
            'filled',
            'accepted',
        ]
        with pytest.raises(DuplicateOrderError):
            b2.submit(req('a'))


def test_sim_positions_average_flip_and_close(tmp_path):
    with SimBroker(tmp_path / 'p.sqlite', cash=100_000.0) as b:

        def trade(cid, qty, side, px, day):
            b.submit(req(cid, qty=qty, side=side))
            b.fill_pending({'SPY': bar(px)}, day)

        trade('1', 10, 'buy', 100.0, '2024-01-02')
        trade('2', 10, 'buy', 110.0, '2024-01-03')
        assert b.positions()['SPY'].avg_entry_price == pytest.approx(105.0)
        trade('3', 5, 'sell', 120.0, '2024-01-04')  # reducing keeps the average
        assert (b.positions()['SPY'].qty, b.positions()['SPY'].avg_entry_price) == (
            15.0,
            pytest.approx(105.0),
        )
        trade('4', 20, 'sell', 130.0, '2024-01-05')  # flips to short: average resets to the fill
        p = b.positions()['SPY']
        assert (p.qty, p.avg_entry_price, p.market_value) == (-5.0, 130.0, -650.0)
        assert b.cash == pytest.approx(100_000 - 1000 - 1100 + 600 + 2600)
        trade('5', 5, 'buy', 125.0, '2024-01-08')  # closes: the position row is removed
        assert b.positions() == {} and b.account().equity == b.cash == pytest.approx(100_475.0)


def test_sim_mark(sim):
    sim.submit(req('c1'))
    sim.fill_pending({'SPY': bar(100.0)}, '2024-01-03')
    sim.mark({'SPY': 90.0, 'XYZ': 1.0, 'QQQ': float('nan')})
    assert sim.positions()['SPY'].market_value == 900.0
    assert sim.account().equity == pytest.approx(sim.cash + 900.0)


def test_sim_cancel_rules(sim):
    a, b = sim.submit(req('a')), sim.submit(req('b'))
    sim.cancel(a.id)
    assert sim.order_by_client_id('a').status == 'canceled'
    with pytest.raises(BrokerError, match='canceled'):
        sim.cancel(a.id)
    with pytest.raises(BrokerError, match='nope'):
        sim.cancel('nope')
    assert [o.client_order_id for o in sim.fill_pending({'SPY': bar(100.0)}, '2024-01-03')] == ['b']
    with pytest.raises(BrokerError, match='filled'):
        sim.cancel(b.id)
    assert [o.client_order_id for o in sim.orders('closed')] == ['a', 'b'] and sim.orders(
        'open'
    ) == []
    sim.submit(req('c'))
    sim.submit(req('d'))
    assert sim.cancel_all() == 2 and sim.orders('open') == []
    with pytest.raises(BrokerError, match="'open', 'closed', 'all'"):
        sim.orders('pending')


@pytest.mark.parametrize(
    'field, kwargs',
    [
        ('qty', {'qty': 0}),
        ('qty', {'qty': -1}),
        ('qty', {'qty': float('nan')}),
        ('qty', {'qty': math.inf}),
        ('side', {'side': 'hold'}),
        ('symbol', {'symbol': ''}),
        ('client_order_id', {'client_order_id': ''}),
        ('client_order_id', {'client_order_id': 'x' * 49}),
        ('type', {'type': 'limit'}),
    ],
)
def test_sim_bad_requests_name_the_field(sim, field, kwargs):
    r = OrderRequest(
        **{**{'symbol': 'SPY', 'qty': 1, 'side': 'buy', 'client_order_id': 'ok'}, **kwargs}
    )
    with pytest.raises(BrokerError, match=f'order {field}:') as ei:
        sim.submit(r)
    assert isinstance(ei.value, TrademlError) and sim.orders('all') == []


def test_sim_repr_protocol_and_factory(tmp_path):
    b = get_broker('sim', path=tmp_path / 'f.sqlite', cash=1234.5)
    assert isinstance(b, SimBroker) and isinstance(b, Broker) and b.name == 'sim'
    assert repr(b) == f'SimBroker(path={str(tmp_path / "f.sqlite")!r}, cash=1234.50, positions=0)'
    with pytest.raises(BrokerError, match=r"\['alpaca', 'sim'\].*'ib'"):
        get_broker('ib')
    b.close()


# ------------------------------------------------------------------------------------- AlpacaBroker
@pytest.fixture
def fake():
    with FakeAlpaca(KEY, SECRET, prices={'SPY': 400.0, 'QQQ': 350.0}) as f:
        yield f


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv('TRADEML_ALLOW_LIVE', raising=False)
    monkeypatch.setenv('APCA_API_KEY_ID', KEY)
    monkeypatch.setenv('APCA_API_SECRET_KEY', SECRET)
    return monkeypatch


@pytest.fixture
def alp(fake, env):
    return AlpacaBroker(url_override=fake.url, retries=3, retry_wait=0)


def posts(fake) -> int:
    return sum(1 for m, p, *_ in fake.requests if (m, p) == ('POST', '/v2/orders'))


def test_alpaca_account_submit_positions(alp, fake):
    assert isinstance(alp, Broker) and alp.paper and alp.name == 'alpaca'
    assert alp.account() == Account(cash=100_000.0, equity=100_000.0, buying_power=100_000.0)
    o = alp.submit(req('buy-spy', 'SPY', 10))
    assert isinstance(o, Order) and (o.status, o.side, o.filled_qty, o.filled_avg_price) == (
        'filled',
        'buy',
        10.0,
        400.0,
    )
    alp.submit(req('short-qqq', 'QQQ', 3, 'sell'))
    assert alp.positions() == {
        'SPY': Position('SPY', 10.0, 400.0, 4000.0),
        'QQQ': Position('QQQ', -3.0, 350.0, -1050.0),
    }
    assert alp.account().cash == pytest.approx(100_000 - 4000 + 1050)
    assert fake.requests[1][3] == {
        'symbol': 'SPY',
        'qty': 10.0,
        'side': 'buy',
        'type': 'market',
        'time_in_force': 'day',
        'client_order_id': 'buy-spy',
    }


def test_alpaca_orders_lookup_and_cancel(alp, fake):
    filled = alp.submit(req('f1'))
    fake.fill = False
    a, _b = alp.submit(req('o1')), alp.submit(req('o2'))
    assert a.status == 'accepted' and a.is_open
    assert [o.client_order_id for o in alp.orders('open')] == ['o1', 'o2']
    assert [o.client_order_id for o in alp.orders('closed')] == ['f1']
    assert alp.order_by_client_id('o1') == a and alp.order_by_client_id('missing') is None
    alp.cancel(a.id)
    assert alp.order_by_client_id('o1').status == 'canceled'
    with pytest.raises(BrokerError, match='HTTP 422: order is not cancelable'):
        alp.cancel(filled.id)
    with pytest.raises(BrokerError, match='not an Alpaca order id'):
        alp.cancel('sim-123')
    with pytest.raises(BrokerError, match='HTTP 404'):
        alp.cancel('00000000-0000-0000-0000-000000000000')
    assert alp.cancel_all() == 1 and alp.orders('open') == []
    assert [o.client_order_id for o in alp.orders('all')] == ['f1', 'o1', 'o2']
    with pytest.raises(BrokerError, match='orders status'):
        alp.orders('filled')


def test_alpaca_duplicate(alp, fake):
    alp.submit(req('d1'))
    with pytest.raises(DuplicateOrderError) as ei:
        alp.submit(req('d1'))
    assert ei.value.client_order_id == 'd1' and 'client_order_id must be unique' in str(ei.value)
    assert len(fake.orders) == 1


def test_alpaca_transient_500_then_success_submits_once(alp, fake):
    fake.fail_next(2, status=500, method='POST')
    o = alp.submit(req('t1'))
    assert o.status == 'filled' and posts(fake) == 3
    assert len(fake.orders) == 1 and fake.positions['SPY'][0] == 10.0


def test_alpaca_500_after_commit_surfaces_duplicate(alp, fake):
    fake.fail_after_commit = 1  # order recorded, then the answer is lost as a 500
    with pytest.raises(DuplicateOrderError):
        alp.submit(req('t2'))
    assert posts(fake) == 2 and len(fake.orders) == 1 and fake.positions['SPY'][0] == 10.0
    assert alp.order_by_client_id('t2').status == 'filled'  # how the caller reconciles


def test_alpaca_retries_give_up_and_client_errors_are_not_retried(alp, fake):
    fake.fail_next(10, status=503, method='GET')
    with pytest.raises(BrokerError, match='account: HTTP 503'):
        alp.account()
    assert sum(1 for m, *_ in fake.requests if m == 'GET') == 4  # 1 try + 3 retries
    fake.fail_next(1, status=403, method='POST', message='insufficient buying power')
    with pytest.raises(BrokerError, match='HTTP 403: insufficient buying power'):
        alp.submit(req('x'))
    assert posts(fake) == 1 and fake.orders == {}


def test_alpaca_connection_errors(alp, fake, env):
    fake.fail_next(1, status=0, method='GET')  # connection dropped without an answer, then fine
    assert alp.account().cash == 100_000.0
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    dead = AlpacaBroker(url_override=f'http://127.0.0.1:{port}', retries=1, retry_wait=0)
    with pytest.raises(BrokerError, match='account: ConnectionError'):
        dead.account()


def test_alpaca_keys_live_and_env_file(env, fake, tmp_path):
    env.delenv('APCA_API_KEY_ID')
    with pytest.raises(BrokerError, match='set APCA_API_KEY_ID in the environment') as ei:
        AlpacaBroker(url_override=fake.url)
    assert SECRET not in str(ei.value)
    env.delenv('APCA_API_SECRET_KEY')
    with pytest.raises(BrokerError, match='APCA_API_KEY_ID and APCA_API_SECRET_KEY'):
        AlpacaBroker()
    (tmp_path / '.env').write_text(f'APCA_API_KEY_ID={KEY}\nAPCA_API_SECRET_KEY="{SECRET}"\n')
    b = AlpacaBroker(url_override=fake.url, retry_wait=0)  # reads ./.env (cwd is tmp_path)
    assert b.account().cash == 100_000.0
    import os

    assert 'APCA_API_KEY_ID' not in os.environ and 'APCA_API_SECRET_KEY' not in os.environ
    with pytest.raises(
        BrokerError, match='live=True and the environment variable TRADEML_ALLOW_LIVE=1'
    ):
        AlpacaBroker(live=True)
    with pytest.raises(BrokerError, match='paper=False'):
        AlpacaBroker(paper=False)
    env.setenv('TRADEML_ALLOW_LIVE', '1')
    live = get_broker('alpaca', live=True)  # no request is made on construction
    assert not live.paper and repr(live) == "AlpacaBroker(LIVE, url='https://api.alpaca.markets')"
    assert repr(b) == str(b) == f'AlpacaBroker(paper, url={fake.url!r})'


# ------------------------------------------------------------------------------------------ secrets
def test_secrets_never_leak(monkeypatch, tmp_path, capsys, caplog):
    skey, ssecret = 'SENTINEL-KEY-123', 'SENTINEL-SECRET-456'
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('APCA_API_KEY_ID', skey)
    monkeypatch.setenv('APCA_API_SECRET_KEY', ssecret)
    caplog.set_level(logging.DEBUG)
    tlog = logging.getLogger('trademl')  # trademl's logger does not propagate to the root
    tlog.addHandler(caplog.handler)
    old_level = tlog.level
    tlog.setLevel(logging.DEBUG)
    errors: list[BaseException] = []

    def attempt(fn, *args):
        try:
            return fn(*args)
        except BrokerError as e:
            errors.append(e)

    try:
        with (
            FakeAlpaca(skey, ssecret, prices={'SPY': 400.0}) as fake,
            FakeAlpaca('other', 'keys') as wrong,
        ):
            b = AlpacaBroker(url_override=fake.url, retry_wait=0)
            attempt(b.account)
            attempt(b.positions)
            attempt(b.submit, req('s1'))
            attempt(b.submit, req('s1'))  # duplicate
            fake.fail_next(1, 500, 'POST')
            attempt(b.submit, req('s2'))  # retried (logged)
            fake.fail_next(
                1, 403, 'POST', message=f'bad credentials {skey}/{ssecret}'
            )  # server echoes them
            attempt(b.submit, req('s3'))
            fake.fail_after_commit = 1
            attempt(b.submit, req('s4'))
            attempt(b.order_by_client_id, 'missing')
            attempt(b.cancel, 'bad-id')
            attempt(b.orders, 'all')
            fake.fail_next(5, 0, 'GET')
            attempt(b.account)  # connection errors, given up
            unauth = AlpacaBroker(url_override=wrong.url, retry_wait=0)
            attempt(unauth.account)
            attempt(unauth.submit, req('u1'))
            texts = [
                repr(b),
                str(b),
                repr(unauth),
                str(unauth),
                repr(vars(b)),
                str(fake.requests),
                str(wrong.requests),
            ]
    finally:
        tlog.removeHandler(caplog.handler)
        tlog.setLevel(old_level)
    assert len(errors) >= 6 and any('***' in str(e) for e in errors)
    assert any('request is not authorized' in str(e) for e in errors)
    for e in errors:  # no alpaca/requests error (their requests hold the
        c = e  # auth headers) is chained to what we raise
        while c is not None:
            assert not isinstance(c, (APIError, requests.RequestException))
            c = c.__cause__ or c.__context__
        texts += [repr(e), str(e), ''.join(traceback.format_exception(e))]
    out = capsys.readouterr()
    texts += [out.out, out.err, caplog.text] + [r.getMessage() for r in caplog.records]
    assert caplog.records  # the capture did see log output
    for t in texts:
        assert skey not in t and ssecret not in t


def test_alpaca_non_json_error_body(alp):
    from alpaca.common.exceptions import APIError as E

    err = alp._error('account', E(f'<html>502 Bad Gateway {KEY}</html>'))
    assert (
        isinstance(err, BrokerError)
        and str(err) == 'account: APIError: <html>502 Bad Gateway ***</html>'
    )
