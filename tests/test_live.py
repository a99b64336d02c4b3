"""trademl.live with an in-memory FakeBroker (and the real SimBroker): planning, blotter,
reconciliation, tripwires and idempotent rebalancing.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from datetime import date

import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trademl.broker import (
    Account,
    Broker,
    BrokerError,
    DuplicateOrderError,
    Order,
    OrderRequest,
    Position,
)
from trademl.core import ConfigError, TrademlError
from trademl.live import (
    Blotter,
    PlannerConfig,
    RebalanceResult,
    TripwireError,
    check_tripwires,
    client_order_id,
    plan_orders,
    rebalance,
    reconcile,
    reconcile_report,
)

ASOF = pd.Timestamp('2018-12-28')


# --------------------------------------------------------------------------------------- FakeBroker
class FakeBroker:
    """In-memory broker. `crash_after=k`: submit call k+1 raises RuntimeError before the order is accepted;
    `lose_response_after=k`: it is accepted, then RuntimeError (the response is lost). `hide` holds client_order_ids that
    `order_by_client_id` does not see until a duplicate submit reveals them. `fill_all()` fills every open order."""

    name = 'fake'

    def __init__(
        self,
        cash: float = 100_000.0,
        positions: dict | None = None,
        prices: dict | None = None,
        crash_after: int | None = None,
        lose_response_after: int | None = None,
    ):
        self.cash, self.prices = cash, dict(prices or {})
        self.qty = {s: float(q) for s, q in (positions or {}).items()}
        self.crash_after, self.lose_response_after = crash_after, lose_response_after
        self._orders: dict[str, Order] = {}
        self.submit_calls, self.accepted, self.hide = 0, 0, set()
        self._ids = itertools.count(1)

    def account(self) -> Account:
        eq = self.cash + sum(q * self.prices[s] for s, q in self.qty.items())
        return Account(cash=self.cash, equity=eq, buying_power=2 * eq)

    def positions(self) -> dict[str, Position]:
        return {
            s: Position(s, q, self.prices[s], q * self.prices[s]) for s, q in self.qty.items() if q
        }

    def submit(self, request: OrderRequest) -> Order:
        self.submit_calls += 1
        if self.crash_after is not None and self.accepted >= self.crash_after:
            raise RuntimeError('broker crashed')
        if request.client_order_id in self._orders:
            self.hide.discard(request.client_order_id)
            raise DuplicateOrderError(request.client_order_id)
        if request.qty <= 0:
            raise BrokerError(f'qty must be > 0, got {request.qty}')
        o = Order(
            id=f'B{next(self._ids)}',
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            qty=request.qty,
            side=request.side,
            status='accepted',
            submitted_at='2018-12-28T15:00:00+00:00',
        )
        self._orders[o.client_order_id] = o
        self.accepted += 1
        if self.lose_response_after is not None and self.accepted > self.lose_response_after:
            raise RuntimeError('connection lost after the order was accepted')
        return o

    def cancel(self, order_id: str) -> None:
        for o in self._orders.values():
            if o.id == order_id and o.is_open:
                o.status = 'canceled'

    def orders(self, status: str = 'open') -> list[Order]:
        return [
            o for o in self._orders.values() if status == 'all' or (status == 'open') == o.is_open
        ]

    def order_by_client_id(self, client_order_id: str) -> Order | None:
        return None if client_order_id in self.hide else self._orders.get(client_order_id)

    def fill_all(self) -> None:
        for o in self.orders('open'):
            sign, price = (1 if o.side == 'buy' else -1), self.prices[o.symbol]
            self.qty[o.symbol] = self.qty.get(o.symbol, 0.0) + sign * o.qty
            self.cash -= sign * o.qty * price
            o.status, o.filled_qty, o.filled_avg_price = 'filled', o.qty, price


# ----------------------------------------------------------------------------------------- fixtures
PRICES = {'AAA': 50.0, 'BBB': 20.0, 'CCC': 10.0, 'DDD': 40.0}
TARGETS = pd.Series({'AAA': 0.2, 'BBB': 0.3, 'CCC': 0.1})


def make_panel(prices=PRICES, end=ASOF, drop=()) -> pd.DataFrame:
    "Five weekdays of bars ending at `end`; `drop` holds (symbol, date) pairs to leave out."
    days = pd.bdate_range(end=end, periods=5)
    rows = [
        {'date': d, 'symbol': s, 'open': p, 'high': p, 'low': p, 'close': p, 'volume': 1e6}
        for d in days
        for s, p in prices.items()
        if (s, d) not in {(a, pd.Timestamp(b)) for a, b in drop}
    ]
    return pd.DataFrame(rows)


def make_broker(**kw) -> FakeBroker:
    "Cash 93,000 + AAA 100 @ 50 + DDD 50 @ 40 = equity 100,000; DDD is not in TARGETS."
    return FakeBroker(cash=93_000.0, positions={'AAA': 100, 'DDD': 50}, prices=PRICES, **kw)


@pytest.fixture
def blotter(tmp_path):
    with Blotter(tmp_path / 'blotter.sqlite') as b:
        yield b


def run(
    broker, blotter, targets=TARGETS, panel=None, cfg=None, model_paths=(), asof=ASOF, **kw
) -> RebalanceResult:
    return rebalance(
        broker=broker,
        targets=targets,
        prices=pd.Series(PRICES),
        asof=asof,
        strategy='test-strat',
        blotter=blotter,
        cfg=cfg or PlannerConfig(),
        panel=make_panel(end=asof) if panel is None else panel,
        model_paths=model_paths,
        **kw,
    )


# ------------------------------------------------------------------------------------------- config
def test_config_strict_yaml():
    cfg = PlannerConfig.from_yaml('min_notional: 50\ncash_buffer: 0.05\nmax_staleness_days: 2\n')
    assert (cfg.min_notional, cfg.cash_buffer, cfg.max_staleness_days) == (50.0, 0.05, 2)
    with pytest.raises(ConfigError, match='min_notionl'):
        PlannerConfig.from_dict({'min_notionl': 5})
    with pytest.raises(ConfigError, match='cash_buffer'):
        PlannerConfig.from_dict({'cash_buffer': 1.5})
    with pytest.raises(ConfigError, match='max_drawdown'):
        PlannerConfig(max_drawdown=0)
    with pytest.raises(ConfigError, match='max_staleness_days'):
        PlannerConfig.from_dict({'max_staleness_days': -1})


# ---------------------------------------------------------------------------------- client_order_id
def test_client_order_id_example():
    cid = client_order_id('seed000-ensemble', date(2018, 12, 28), '^IXIC')
    assert (
        cid.startswith('seed000-ense-20181228-IXIC-')
        and len(cid) == len('seed000-ense-20181228-IXIC-') + 10
    )
    assert cid == client_order_id('seed000-ensemble', pd.Timestamp('2018-12-28 16:00'), '^IXIC')


ids = st.tuples(st.text(max_size=40), st.dates(), st.text(max_size=20))


@settings(max_examples=200, deadline=None)
@given(ids, ids)
def test_client_order_id_properties(a, b):
    ca, cb = client_order_id(*a), client_order_id(*b)
    assert ca == client_order_id(*a) and len(ca) <= 48 and re.fullmatch(r'[A-Za-z0-9._-]+', ca)
    assume(a != b)
    assert ca != cb


# -------------------------------------------------------------------------------------- plan_orders
def plan(targets, positions=None, prices=None, equity=10_000.0, **cfg):
    return plan_orders(
        pd.Series(targets, dtype=float),
        positions or {},
        pd.Series(prices or {}, dtype=float),
        equity,
        PlannerConfig(**cfg),
        's',
        ASOF,
    ).set_index('symbol')


def test_plan_rounds_toward_zero_with_cash_buffer():
    p = plan(
        {'L': 0.5, 'S': -0.5}, prices={'L': 33.0, 'S': 33.0}
    )  # 0.5 * 10,000 * 0.98 / 33 = 148.48
    assert p.loc['L', 'target_qty'] == 148 and p.loc['S', 'target_qty'] == -148
    assert (p.loc['L', 'side'], p.loc['S', 'side']) == ('buy', 'sell')
    assert p.loc['L', 'notional'] == pytest.approx(148 * 33) and (p.action == 'submit').all()
    p = plan({'X': 1.0}, prices={'X': 1.0}, equity=1000.0, cash_buffer=0.1)
    assert p.loc['X', 'target_qty'] == 900
    p = plan({'L': 0.5}, prices={'L': 33.0}, fractional=True)
    assert p.loc['L', 'target_qty'] == pytest.approx(148.484848)


def test_plan_min_notional_and_no_change():
    # 0.1 * 10,000 * 0.98 / 10 = 98 shares; holding 95 -> buy 3 = 30 < 100; holding 98 -> nothing to do
    p = plan({'A': 0.1, 'B': 0.1}, positions={'A': 95, 'B': 98}, prices={'A': 10.0, 'B': 10.0})
    assert p.loc['A', 'delta_qty'] == 3 and p.loc['A', 'action'] == 'skip: below min notional'
    assert p.loc['B', 'action'] == 'skip: no change' and p.loc['B', 'side'] == ''
    assert (
        plan({'A': 0.1}, positions={'A': 95}, prices={'A': 10.0}, min_notional=0).loc['A', 'action']
        == 'submit'
    )


def test_plan_closes_positions_absent_from_targets():
    pos = {'Z': Position('Z', 3, 9.0, 30.0)}  # Position objects or plain quantities
    p = plan({'A': 0.1}, positions=pos, prices={'A': 10.0, 'Z': 10.0})
    z = p.loc['Z']
    assert (z.target_weight, z.target_qty, z.delta_qty, z.side, z.action) == (
        0,
        0,
        -3,
        'sell',
        'submit',
    )  # close < min
    assert list(p.index) == ['A', 'Z'] and z.client_order_id == client_order_id('s', ASOF, 'Z')


def test_plan_short_not_allowed():
    p = plan(
        {'S': -0.3, 'L': -0.3},
        positions={'L': 10},
        prices={'S': 10.0, 'L': 10.0},
        allow_short=False,
    )
    assert p.loc['S', 'target_qty'] == 0 and p.loc['S', 'action'] == 'skip: short not allowed'
    assert (
        p.loc['L', 'target_qty'] == 0
        and p.loc['L', 'delta_qty'] == -10
        and p.loc['L', 'action'] == 'submit'
    )


def test_plan_price_errors_name_the_symbol():
    with pytest.raises(TrademlError, match='MISSING'):
        plan({'MISSING': 0.1}, prices={})
    with pytest.raises(TrademlError, match='NEG'):
        plan({'NEG': 0.1}, prices={'NEG': -1.0})
    with pytest.raises(TrademlError, match='HELD'):
        plan({}, positions={'HELD': 5}, prices={})
    assert (
        plan({'ZERO': 0.0}, prices={}).loc['ZERO', 'action'] == 'skip: no change'
    )  # no trade, no price needed


@settings(max_examples=300, deadline=None)
@given(
    w=st.floats(-1, 1),
    equity=st.floats(1e3, 1e7),
    price=st.floats(0.5, 5000),
    buffer=st.floats(0, 0.5),
    fractional=st.booleans(),
)
def test_plan_properties(w, equity, price, buffer, fractional):
    r = plan(
        {'X': w}, prices={'X': price}, equity=equity, cash_buffer=buffer, fractional=fractional
    ).loc['X']
    budget = abs(w) * equity * (1 - buffer)
    assert abs(r.target_qty * price) <= budget + 1e-9
    if not fractional or w < 0:
        assert r.target_qty == int(r.target_qty)
        assert (abs(r.target_qty) + 1) * price > budget * (
            1 - 1e-12
        )  # the largest whole number of shares
    assert math.copysign(1, w) == math.copysign(1, r.target_qty) or r.target_qty == 0


# ------------------------------------------------------------------------------------------ blotter
def test_blotter_survives_reopen(tmp_path):
    path = tmp_path / 'sub' / 'b.sqlite'
    with Blotter(path) as b:
        rid = b.start_run('s', ASOF, 'fake')
        b.snapshot(
            rid,
            Account(cash=1000, equity=5000, buying_power=5000),
            {'A': Position('A', 10, 3.0, 4000.0)},
        )
        b.record_order(
            'c1',
            run_id=rid,
            symbol='A',
            side='buy',
            qty=10,
            status='accepted',
            broker_order_id='B1',
        )
        b.record_order('c1', status='filled')  # update keeps the other fields
        b.record_fill('c1', 10, 400.0)
        b.finish_run(rid, 'done', 'ok')
    with Blotter(path) as b:
        runs, orders = b.runs(), b.orders(rid)
        assert (
            runs.loc[0, 'status'] == 'done'
            and runs.loc[0, 'asof'] == '2018-12-28'
            and runs.loc[0, 'message'] == 'ok'
        )
        o = orders.iloc[0]
        assert (o.symbol, o.side, o.qty, o.status, o.broker_order_id, o.filled_qty) == (
            'A',
            'buy',
            10,
            'filled',
            'B1',
            10,
        )
        assert b.peak_equity() == 5000 and len(b.fills()) == 1 and b.get_order('nope') is None
        with pytest.raises(TrademlError, match='no run'):
            b.finish_run('nope', 'done')


# ---------------------------------------------------------------------------------------- reconcile
def test_reconcile_actions(blotter):
    br = make_broker()
    o = br.submit(OrderRequest('AAA', 10, 'buy', 'cid-known'))
    br.submit(OrderRequest('BBB', 5, 'buy', 'cid-external'))
    rid = blotter.start_run('s', ASOF, 'fake')
    blotter.record_order(
        'cid-known',
        run_id=rid,
        symbol='AAA',
        side='buy',
        qty=10,
        status='accepted',
        broker_order_id=o.id,
    )
    blotter.record_order(
        'cid-lost', run_id=rid, symbol='CCC', side='sell', qty=3, status='pending_submit'
    )
    br.fill_all()
    df = reconcile(blotter, br).set_index('client_order_id')
    assert df.action.to_dict() == {
        'cid-known': 'updated',
        'cid-lost': 'missing at broker',
        'cid-external': 'unknown to blotter',
    }
    assert (
        df.loc['cid-known', 'broker_status'] == 'filled' and df.loc['cid-known', 'filled_qty'] == 10
    )
    row = blotter.get_order('cid-known')
    assert (
        row['status'] == 'filled'
        and row['filled_qty'] == 10
        and row['fill_value'] == pytest.approx(500.0)
    )
    again = reconcile(blotter, br, rid).set_index('client_order_id')
    assert again.action.to_dict() == {'cid-known': 'ok', 'cid-lost': 'missing at broker'}
    text = reconcile_report(df)
    assert (
        text.splitlines()[0].startswith('reconcile: 3 orders')
        and 'cid-lost' in text
        and 'unknown to blotter' in text
    )
    assert reconcile_report(df.iloc[:0]) == 'reconcile: no orders to compare'


# ---------------------------------------------------------------------------------------- rebalance
def test_rebalance_plans_and_submits_sells_first(blotter):
    br = make_broker()
    res = run(br, blotter)
    sent = list(br._orders.values())
    assert [(o.symbol, o.side, o.qty) for o in sent] == [
        ('DDD', 'sell', 50),
        ('AAA', 'buy', 292),
        ('BBB', 'buy', 1470),
        ('CCC', 'buy', 980),
    ]
    assert (
        res.submitted == [o.client_order_id for o in sent]
        and res.reconciled == []
        and res.skipped == []
    )
    assert (
        blotter.runs().iloc[-1].status == 'done'
        and (blotter.orders(res.run_id).status == 'accepted').all()
    )
    assert 'submitted 4' in res.report and (reconcile(blotter, br).action == 'ok').all()


@pytest.mark.parametrize('fill_between', [False, True])
def test_rebalance_twice_submits_nothing_the_second_time(blotter, fill_between):
    br = make_broker()
    first = run(br, blotter)
    if fill_between:
        br.fill_all()
    calls = br.submit_calls
    second = run(br, blotter)
    assert second.submitted == [] and br.submit_calls == calls and len(br._orders) == 4
    assert len(second.reconciled) == (0 if fill_between else 4)
    if fill_between:
        assert (second.plan.action == 'skip: no change').all()
        assert (
            blotter.orders().status == 'filled'
        ).all()  # the second run's reconcile picked up the fills
        assert blotter.orders().filled_qty.tolist() == [50, 292, 1470, 980]
    else:
        assert second.reconciled == first.submitted
    assert (reconcile(blotter, br).action == 'ok').all()


def test_rebalance_with_a_fresh_blotter_finds_orders_at_the_broker(tmp_path):
    br = make_broker()
    with Blotter(tmp_path / 'a.sqlite') as a:
        run(br, a)
    with Blotter(tmp_path / 'b.sqlite') as b:  # blotter lost: the broker still knows the orders
        res = run(br, b)
        assert res.submitted == [] and len(res.reconciled) == 4 and br.submit_calls == 4
        assert (b.orders().status == 'accepted').all() and (reconcile(b, br).action == 'ok').all()


@pytest.mark.parametrize('k', [0, 1, 3])
def test_crash_then_rerun_submits_exactly_the_missing_orders(blotter, k):
    br = make_broker(crash_after=k)
    with pytest.raises(RuntimeError, match='broker crashed'):
        run(br, blotter)
    assert (
        blotter.runs().iloc[-1].status == 'failed'
        and 'broker crashed' in blotter.runs().iloc[-1].message
    )
    assert len(br._orders) == k
    br.crash_after = None
    res = run(br, blotter)
    assert len(res.submitted) == 4 - k and len(res.reconciled) == k and len(br._orders) == 4
    assert set(res.submitted).isdisjoint(res.reconciled)
    rec = reconcile(blotter, br)
    assert len(rec) == 4 and (rec.action == 'ok').all()
    assert sorted(blotter.orders().client_order_id) == sorted(br._orders)


def test_lost_response_is_reconciled_not_resubmitted(blotter):
    br = make_broker(
        lose_response_after=2
    )  # the third order is accepted, then the connection drops
    with pytest.raises(RuntimeError, match='connection lost'):
        run(br, blotter)
    assert blotter.orders().status.tolist() == ['accepted', 'accepted', 'pending_submit']
    br.lose_response_after = None
    res = run(br, blotter)
    assert len(res.submitted) == 1 and len(res.reconciled) == 3 and len(br._orders) == 4
    assert (reconcile(blotter, br).action == 'ok').all()


def test_duplicate_order_error_is_reconciled_by_lookup(blotter):
    br = make_broker()
    cid = client_order_id('test-strat', ASOF, 'BBB')
    br.submit(
        OrderRequest('BBB', 1470, 'buy', cid)
    )  # placed earlier, but invisible to the first lookup
    br.hide.add(cid)
    res = run(br, blotter)
    assert cid in res.reconciled and cid not in res.submitted and len(res.submitted) == 3
    assert (
        br.submit_calls == 1 + 4 and len(br._orders) == 4
    )  # one duplicate attempt, never accepted twice
    row = blotter.get_order(cid)
    assert row['status'] == 'accepted' and 'duplicate' in row['message']
    assert (reconcile(blotter, br).action == 'ok').all()


def test_broker_refusal_is_recorded_and_the_run_goes_on(blotter):
    br = make_broker()
    real = br.submit

    def refuse_bbb(req):
        if req.symbol == 'BBB':
            raise BrokerError('insufficient buying power for BBB')
        return real(req)

    br.submit = refuse_bbb
    res = run(br, blotter)
    assert len(res.submitted) == 3 and blotter.runs().iloc[-1].status == 'done with errors'
    assert blotter.get_order(client_order_id('test-strat', ASOF, 'BBB'))['status'] == 'error'
    br.submit = real  # a re-run retries the refused order only
    assert run(br, blotter).submitted == [client_order_id('test-strat', ASOF, 'BBB')]


# ---------------------------------------------------------------------------------------- tripwires
def assert_halted(br, blotter, message, **kw):
    with pytest.raises(TripwireError) as e:
        run(br, blotter, **kw)
    assert str(e.value) == message or re.fullmatch(message, str(e.value)), str(e.value)
    assert br.submit_calls == 0 and br._orders == {}
    last = blotter.runs().iloc[-1]
    assert last.status == 'halted' and last.message == str(e.value) and blotter.orders().empty


def test_tripwire_stale_data(blotter):
    panel = make_panel(drop=[('BBB', ASOF)])
    assert_halted(
        make_broker(),
        blotter,
        'stale data: no bar on 2018-12-28 for BBB (last bar 2018-12-27)',
        panel=panel,
    )
    assert run(
        make_broker(), blotter, panel=panel, cfg=PlannerConfig(max_staleness_days=1)
    ).submitted


def test_tripwire_stale_data_when_the_whole_panel_lags(blotter):
    panel = make_panel(end='2018-12-21')  # a week behind: 5 weekday sessions missing
    assert_halted(
        make_broker(),
        blotter,
        r'stale data: last bar for AAA is 2018-12-21, 5 sessions before 2018-12-28 '
        r'\(limit 2\).*',
        panel=panel,
        cfg=PlannerConfig(max_staleness_days=2),
    )


def test_tripwire_missing_symbol(blotter):
    panel = make_panel(prices={k: v for k, v in PRICES.items() if k != 'CCC'})
    assert_halted(
        make_broker(),
        blotter,
        'missing data: no bars at all on or before 2018-12-28 for CCC',
        panel=panel,
    )


def test_tripwire_missing_model_artifacts(blotter, tmp_path):
    good, ens, half = tmp_path / 'good', tmp_path / 'ens', tmp_path / 'half'
    for p in (good, ens, half):
        p.mkdir()
    (good / 'model_info.json').write_text(json.dumps({}))
    (good / 'model.safetensors').write_bytes(b'x')
    (ens / 'ensemble.json').write_text(json.dumps({'models': {}}))
    (half / 'model_info.json').write_text(json.dumps({}))
    paths = [good, ens, half, tmp_path / 'gone']
    assert_halted(
        make_broker(),
        blotter,
        f'missing model artifacts: {half} (no model.safetensors); '
        f'{tmp_path / "gone"} (no such folder)',
        model_paths=paths,
    )


def test_tripwire_turnover(blotter):
    targets = pd.Series(
        {'AAA': 0.85, 'BBB': -0.6}
    )  # current AAA 0.05, DDD 0.02: 0.5 * (0.8 + 0.6 + 0.02) = 0.71
    assert_halted(
        make_broker(),
        blotter,
        'turnover 0.71 above the limit 0.50',
        targets=targets,
        cfg=PlannerConfig(max_turnover=0.5),
    )


def test_tripwire_drawdown(blotter):
    rid = blotter.start_run('test-strat', '2018-12-01', 'fake')
    blotter.snapshot(rid, Account(cash=100_000, equity=100_000, buying_power=100_000), {})
    blotter.finish_run(rid, 'done')
    br = FakeBroker(cash=79_000.0, prices=PRICES)
    assert_halted(
        br, blotter, 'drawdown stop: equity 79,000 is 21.0% below its peak 100,000 (limit 20%)'
    )
    assert run(FakeBroker(cash=81_000.0, prices=PRICES), blotter).submitted  # 19% down: allowed


def test_check_tripwires_direct_messages():
    panel = make_panel(prices={'^IXIC': 7000.0}, drop=[('^IXIC', ASOF)])
    kw = {
        'asof': ASOF,
        'panel': panel,
        'targets': pd.Series({'^IXIC': 0.5}),
        'model_paths': [],
        'current_weights': pd.Series(dtype=float),
        'account': Account(cash=1e5, equity=1e5, buying_power=1e5),
        'blotter': None,
        'cfg': PlannerConfig(),
    }
    with pytest.raises(
        TripwireError,
        match=re.escape('stale data: no bar on 2018-12-28 for ^IXIC (last bar 2018-12-27)'),
    ):
        check_tripwires(**kw)
    kw['panel'] = make_panel(prices={'^IXIC': 7000.0})
    check_tripwires(**kw)
    tz = kw['panel'].assign(
        date=lambda d: d.date.dt.tz_localize('America/New_York'), symbol='^IXIC'
    )
    check_tripwires(**{**kw, 'panel': tz})  # tz-aware dates work too
    with pytest.raises(TripwireError, match="account status is 'ACCOUNT_CLOSED'"):
        check_tripwires(
            **{
                **kw,
                'account': Account(cash=1e5, equity=1e5, buying_power=0, status='ACCOUNT_CLOSED'),
            }
        )


DAY1 = pd.Timestamp('2018-12-27')


def after_day_one(blotter, sold=0, **kw) -> FakeBroker:
    "Day one's rebalance, filled; then `sold` AAA shares sold by hand (AAA: 392 shares, 0.196 of equity)."
    br = make_broker(**kw)
    run(br, blotter, asof=DAY1)
    br.fill_all()
    br.qty['AAA'] -= sold
    br.cash += sold * PRICES['AAA']
    return br


def test_tripwire_drift_halts_before_any_order_after_a_manual_trade(blotter):
    br = after_day_one(blotter, sold=150)  # 7.5% of equity
    calls = br.submit_calls
    with pytest.raises(TripwireError) as e:
        run(br, blotter)
    assert str(e.value) == (
        'book drifted from its last targets: AAA: live 0.1210 vs target 0.1960, '
        '|difference| 0.0750 above the limit 0.0500'
    )
    assert br.submit_calls == calls and blotter.runs().iloc[-1].status == 'halted'
    assert run(br, blotter, cfg=PlannerConfig(max_drift=0.1)).submitted  # a wider limit: it goes on


@pytest.mark.parametrize('sold', [0, 60])
def test_drift_within_the_limit_proceeds(blotter, sold):
    br = after_day_one(blotter, sold=sold)  # 0 or 3% of equity
    res = run(br, blotter)
    assert blotter.runs().iloc[-1].status == 'done'
    assert len(res.submitted) == (1 if sold else 0)  # AAA bought back


def test_drift_off_and_first_run(blotter):
    br = after_day_one(blotter, sold=300)
    assert run(br, blotter, cfg=PlannerConfig(max_drift=None)).submitted
    fresh = make_broker()  # the first run of a strategy has no reference
    fresh.qty['AAA'] = 1000
    assert run(fresh, blotter, targets=TARGETS, asof=DAY1, cfg=PlannerConfig()).plan is not None


def test_a_day_that_crashed_halfway_is_resumed_not_blocked(blotter):
    from trademl.tripwires import check_drift, drift_weights

    br = after_day_one(blotter)
    br.crash_after = br.accepted + 1  # the first order of day two, then the process dies
    new = pd.Series({'AAA': 0.0, 'BBB': 0.1, 'CCC': 0.3, 'DDD': 0.2})
    with pytest.raises(RuntimeError, match='broker crashed'):
        run(br, blotter, targets=new)
    br.fill_all()  # the sell of AAA filled at once: the book moved
    last = blotter.last_targets('test-strat', 'fake', ASOF)
    moved = drift_weights(last, br.positions(), br.orders('open'), pd.Series(PRICES), 1e5)
    with pytest.raises(TripwireError, match='AAA'):  # seen from day one, that is drift
        check_drift(*moved)
    br.crash_after = None
    res = run(br, blotter, targets=new)
    assert blotter.runs().iloc[-1].status == 'done' and len(res.submitted) == 3  # the rest
    assert br.qty['AAA'] == 0 and len(br._orders) == 4 + 4


def test_tripwire_accuracy_floor(blotter):
    assert_halted(
        make_broker(),
        blotter,
        'model accuracy under the emergency floor 0.450: m1: accuracy 0.400',
        accuracies={'m1': 0.40, 'm2': 0.55},
    )
    cfg = PlannerConfig(min_accuracy=None)
    assert run(make_broker(), blotter, cfg=cfg, accuracies={'m1': 0.40}).submitted
    assert run(make_broker(), blotter, asof=DAY1, accuracies={'m1': float('nan')}).submitted


def test_drift_and_accuracy_limits_are_checked():
    assert PlannerConfig.from_yaml('max_drift: null\nmin_accuracy: null\n').max_drift is None
    for bad in ({'max_drift': 0.0}, {'max_drift': float('inf')}, {'min_accuracy': 1.5}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            PlannerConfig(**bad)


def test_fake_broker_satisfies_the_protocol():
    assert isinstance(make_broker(), Broker)


# -------------------------------- the same guarantees with the real SimBroker and a process restart
@pytest.mark.parametrize('k', [1, 2])
def test_simbroker_crash_restart_submits_exactly_the_missing_orders(tmp_path, k):
    """A SimBroker that dies after k of n submits; a new process (new SimBroker and Blotter on the same files) re-runs
    the same day: exactly n - k orders are sent, none twice, and blotter and broker agree; a third run sends nothing."""
    from trademl.broker import SimBroker

    class Crashing(SimBroker):
        def __init__(self, *a, crash_after=None, **kw):
            super().__init__(*a, **kw)
            self.crash_after, self.sent = crash_after, 0

        def submit(self, request):
            if self.crash_after is not None and self.sent >= self.crash_after:
                raise RuntimeError('process killed')
            self.sent += 1
            return super().submit(request)

    first = Crashing(tmp_path / 'sim.db', cash=100_000, crash_after=k)
    with pytest.raises(RuntimeError, match='process killed'):
        run(first, Blotter(tmp_path / 'blotter.db'))
    n = 3
    assert len(first.orders('all')) == k
    first.close()
    again, blotter = Crashing(tmp_path / 'sim.db'), Blotter(tmp_path / 'blotter.db')  # the restart
    res = run(again, blotter)
    assert (len(res.submitted), len(res.reconciled), again.sent) == (n - k, k, n - k)
    assert sorted(o.client_order_id for o in again.orders('all')) == sorted(
        blotter.orders().client_order_id
    )
    assert (reconcile(blotter, again).action == 'ok').all()
    assert len(run(again, blotter).submitted) == 0 and again.sent == n - k
