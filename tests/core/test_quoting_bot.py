"""The first quote rule and the bot loop on hand-made books."""

from __future__ import annotations

import pytest

from mm_bot.config import load_config_file
from mm_bot.core.book import L2Book
from mm_bot.core.bot import Bot
from mm_bot.core.quoting import Quote, QuoteParams, cap_size, target_quotes
from mm_bot.core.records import FillRow, OrderRow, PositionRow, SystemEventRow
from mm_bot.core.types import BUY, SELL, BookUpdate, Cancel, Fill, Instrument, OrderAck, OrderStatus, Place
from mm_bot.sim.assemble import build_session

INST = Instrument("BTC", tick_size=1.0, lot_size=0.00001, min_notional_usd=10, max_sig_figs=5)


def book(bid=60000, ask=60001, ts=0, bsz=100000, asz=100000):
    b = L2Book("BTC")
    b.apply(BookUpdate("BTC", ts, ((bid, bsz), (bid - 1, bsz)), ((ask, asz), (ask + 1, asz)), snapshot=True))
    return b


def test_symmetric_quotes_at_min_spread():
    qs = target_quotes(INST, book(), 0, QuoteParams(min_spread_bps=10, size_notional_usd=100))
    bid, ask = qs
    # mid 60000.5, half-spread 5 bps = 30.00025 -> bid floor(59970.49975) = 59970, ask ceil(60030.50025) = 60031
    assert (bid.side, bid.px) == (BUY, 59970)
    assert (ask.side, ask.px) == (SELL, 60031)
    assert bid.sz == 166  # 100 USD / 59970 = 0.001667 -> 166 lots of 1e-5
    assert bid.px < ask.px


def test_fee_floor_widens():
    qs = target_quotes(INST, book(), 0, QuoteParams(min_spread_bps=1, fee_floor_bps=4))
    assert qs[0].px == 59988 and qs[1].px == 60013  # half of 4 bps = 12.0001


def test_post_only_guard_never_crosses():
    qs = target_quotes(INST, book(60000, 60001), 0,
                       QuoteParams(min_spread_bps=0, reference="join_best", join_offset_ticks=-5))
    assert qs[0].px < 60001 and qs[1].px > 60000


def test_join_best_and_position_cap():
    p = QuoteParams(min_spread_bps=0, reference="join_best", fixed_size_lots=1000, max_position_lots=10000)
    qs = target_quotes(INST, book(), 0, p)
    assert [(q.side, q.px, q.sz) for q in qs] == [(BUY, 60000, 1000), (SELL, 60001, 1000)]
    qs = target_quotes(INST, book(), 10000, p)  # long at the cap: only the ask
    assert [q.side for q in qs] == [SELL]


def test_cap_size_counts_position_and_resting_on_adding_side():
    q = Quote(BUY, 60000, 1000, "b0")  # 1000 lots = 0.01 BTC = 600 USD
    assert cap_size(INST, q, 0, 0, 60000, 1000) == 1000
    # long 0.01 BTC (600 USD) already: room for 400 USD = 666 lots
    assert cap_size(INST, q, 1000, 0, 60000, 1000) == 666
    assert cap_size(INST, q, 1000, 666, 60000, 1000) == 0
    # a sell reduces: allowed up to the position even with no room
    assert cap_size(INST, Quote(SELL, 60000, 1000, "a0"), 2000, 0, 60000, 600) >= 1000


@pytest.fixture
def cfg(tmp_path):
    p = tmp_path / "b.json"
    p.write_text('{"bot_id": "t", "coins": ["BTC"], "min_spread_bps": 10, "size_notional_usd": 100, '
                 '"min_replace_ms": 0, "refresh_jitter_ms": 0, "min_spread_guard_enabled": false}')
    return load_config_file(p)


def test_bot_places_acks_fills_and_records(cfg):
    b = Bot(cfg, {"BTC": INST}, "paper", 1.5, start_ms=0)
    bk = book(ts=100)
    b.attach_book("BTC", bk)
    acts = b.on_tick("BTC", 100)
    places = [a for a in acts if isinstance(a, Place)]
    assert {p.side for p in places} == {BUY, SELL}
    assert b.on_tick("BTC", 200) == []  # pending: nothing new in flight for the same slot
    bid = next(p for p in places if p.side == BUY)
    b.on_venue_event(OrderAck("t", "BTC", bid.cloid, OrderStatus.OPEN, 150))
    b.on_venue_event(Fill("t", "BTC", bid.cloid, "f1", BUY, bid.px, 100, True, 0.01, 300, bid.sz - 100))
    b.on_venue_event(Fill("t", "BTC", bid.cloid, "f1", BUY, bid.px, 0, True, 0.0, 300))  # harmless zero
    recs = b.drain()
    fills = [r for r in recs if isinstance(r, FillRow)]
    pos = [r for r in recs if isinstance(r, PositionRow)]
    assert fills[0].size_lots == 100 and fills[0].maker == 1 and fills[0].mid_at_fill == 60000.5
    assert pos[-1].size_lots == 100
    statuses = [r.status for r in recs if isinstance(r, OrderRow) and r.cloid == bid.cloid]
    assert statuses[:3] == ["pending", "open", "partially_filled"]


def test_bot_pulls_quotes_on_unusable_book(cfg):
    b = Bot(cfg, {"BTC": INST}, "paper", 1.5, start_ms=0)
    bk = book(ts=0)
    b.attach_book("BTC", bk)
    places = b.on_tick("BTC", 10)
    for p in places:
        b.on_venue_event(OrderAck("t", "BTC", p.cloid, OrderStatus.OPEN, 20))
    acts = b.on_tick("BTC", 7_000)  # book 7 s old: stale (the md-gap kill switch waits 10 s)
    assert sorted(a.cloid for a in acts if isinstance(a, Cancel)) == sorted(p.cloid for p in places)
    assert not any(isinstance(a, Place) for a in acts)
    ev = [r for r in b.drain() if isinstance(r, SystemEventRow) and r.kind == "book"]
    assert "unusable" in ev[-1].message


def test_bot_keeps_orders_within_threshold_and_replaces_beyond(cfg):
    b = Bot(cfg, {"BTC": INST}, "paper", 1.5, start_ms=0)
    bk = book(ts=0)
    b.attach_book("BTC", bk)
    places = b.on_tick("BTC", 10)
    for p in places:
        b.on_venue_event(OrderAck("t", "BTC", p.cloid, OrderStatus.OPEN, 20))
    bk.apply(BookUpdate("BTC", 30, (), ((60001, 0),)))  # ask leaves: mid moves half a tick, keep
    assert b.on_tick("BTC", 40) == []
    bk.apply(BookUpdate("BTC", 50, ((60100, 5),), ((60101, 5),), snapshot=True))  # 100 ticks: replace
    acts = b.on_tick("BTC", 60)
    assert sum(isinstance(a, Cancel) for a in acts) == 2


class Boom(Exception):
    pass


def test_exception_in_one_bot_stops_only_that_bot(tmp_path):
    docs = {"a": '{"bot_id": "a", "coins": ["BTC"]}', "b": '{"bot_id": "b", "coins": ["BTC"], "account": "x"}'}
    cfgs = []
    for name, text in docs.items():
        p = tmp_path / f"{name}.json"
        p.write_text(text)
        cfgs.append(load_config_file(p))
    session, bots, _ = build_session(cfgs, {"BTC": INST}, 0, 1)
    session.market(BookUpdate("BTC", 0, ((60000, 1000),), ((60001, 1000),), snapshot=True), 0)
    a, b = bots

    def broken(coin, now_ms):
        raise Boom("strategy bug")

    a.on_tick = broken
    session.tick(a, "BTC", 10)
    session.tick(b, "BTC", 10)
    session.pump(1000)
    recs = session.drain()
    errs = [r for r in recs if isinstance(r, SystemEventRow) and r.kind == "error"]
    assert errs and errs[0].bot_id == "a" and "strategy bug" in errs[0].message
    assert a.status == "failed" and b.status == "running"
    assert b.open_order_count() == 2


def test_flatten_on_stop_closes_the_position_within_slippage(tmp_path):
    p = tmp_path / "f.json"
    p.write_text('{"bot_id": "f", "coins": ["BTC"], "flatten_on_stop": true, "flatten_max_slippage_bps": 2, '
                 '"flatten_max_spread_bps": 5}')
    cfg = load_config_file(p)
    session, (bot,), _ = build_session([cfg], {"BTC": INST}, 0, 1)
    session.market(BookUpdate("BTC", 0, ((60000, 100000), (59990, 100000)), ((60001, 100000),), snapshot=True), 0)
    bot.restore_position("BTC", 5000, 59000.0, 0.0, 0.0, 0)  # long 0.05 BTC
    session.stop_all(10, "test")
    session.pump(10_000)
    recs = session.drain()
    fills = [r for r in recs if isinstance(r, FillRow)]
    assert [(f.side, f.size_lots, f.maker) for f in fills] == [("sell", 5000, 0)]
    # The IOC limit was 2 bps under the bid: 60000 * (1 - 2e-4) = 59988, so it took only the 60000 level.
    assert fills[0].price == 60000.0
    assert bot.coins["BTC"].position.lots == 0


def test_flatten_skipped_on_wide_spread(tmp_path):
    p = tmp_path / "f.json"
    p.write_text('{"bot_id": "f", "coins": ["BTC"], "flatten_max_spread_bps": 5}')
    bot = Bot(load_config_file(p), {"BTC": INST}, "paper", 1.5, start_ms=0)
    bot.attach_book("BTC", book(60000, 60100))  # 16.7 bps wide
    bot.restore_position("BTC", -5000, 61000.0, 0.0, 0.0, 0)
    assert bot.flatten(1, "test") == []
    ev = [r for r in bot.drain() if isinstance(r, SystemEventRow) and r.kind == "flatten"]
    assert "spread" in ev[0].message


def test_funding_is_paid_by_longs_and_received_by_shorts(cfg):
    b = Bot(cfg, {"BTC": INST}, "paper", 1.5, start_ms=0)
    b.attach_book("BTC", book(59999, 60001))
    b.restore_position("BTC", 100000, 60000.0, 0.0, 0.0, 0)  # long 1 BTC = 60000 USD
    b.on_funding("BTC", 0.0001, 10)  # 1 bp: long pays 6 USD
    assert b.coins["BTC"].position.funding_usd == pytest.approx(-6.0)
    b.restore_position("BTC", -100000, 60000.0, 0.0, 0.0, 0)
    b.on_funding("BTC", 0.0001, 20)
    assert b.coins["BTC"].position.funding_usd == pytest.approx(0.0)  # short received 6 back


def test_enhanced_take_profit_walks_the_ladder(tmp_path):
    p = tmp_path / "tp.json"
    p.write_text('{"bot_id": "tp", "coins": ["BTC"], "enhanced_take_profit_enabled": true, '
                 '"take_profit_min_bps": 1, "take_profit_min_usd": 0.01, "inv_skew_strength": 0, '
                 '"width_vol_mult": 0, "min_replace_ms": 0, "refresh_jitter_ms": 0}')
    b = Bot(load_config_file(p), {"BTC": INST}, "paper", 1.5, start_ms=0, taker_fee_bps=0.0)
    bk = book(60600, 60601, ts=0)
    b.attach_book("BTC", bk)
    b.restore_position("BTC", 2000, 60000.0, 0.0, 0.0, 0)  # long 0.02 BTC, 1 % in profit
    acts = b.on_tick("BTC", 100)
    (step1,) = [a for a in acts if isinstance(a, Place)]
    # Step 1: post-only at our own touch (a long sells at the best ask), reduce-only.
    assert (step1.side, step1.px, step1.tif.value, step1.sz, step1.reduce_only) == (SELL, 60601, "alo", 2000, True)
    b.on_venue_event(OrderAck("tp", "BTC", step1.cloid, OrderStatus.OPEN, 150))
    assert b.on_tick("BTC", 1000) == []  # resting, not expired: quotes wait
    acts = b.on_tick("BTC", 2200)  # expired after 2 s: cancelled
    assert [a.cloid for a in acts if isinstance(a, Cancel)] == [step1.cloid]
    b.on_venue_event(OrderAck("tp", "BTC", step1.cloid, OrderStatus.CANCELLED, 2300))
    acts = b.on_tick("BTC", 2400)
    (step2,) = [a for a in acts if isinstance(a, Place)]
    # Step 2: IOC at the opposite touch (the best bid).
    assert (step2.side, step2.px, step2.tif.value) == (SELL, 60600, "ioc")
    b.on_venue_event(Fill("tp", "BTC", step2.cloid, "x1", SELL, 60600, 2000, False, 0.0, 2500))
    assert b.coins["BTC"].position.lots == 0
    acts = b.on_tick("BTC", 2600)
    assert b.coins["BTC"].ladder.active is False
    # Quoting again: the ask at once, the bid once loop_min_holding_ms (1 s) has passed since the sell.
    assert {a.side for a in acts if isinstance(a, Place)} == {SELL}
    acts = b.on_tick("BTC", 3600)
    assert {a.side for a in acts if isinstance(a, Place)} == {BUY}


def test_exit_never_crosses_another_bots_resting_order_on_the_account(tmp_path):
    docs = {"q": '{"bot_id": "q", "coins": ["BTC"], "inv_skew_strength": 0, "width_vol_mult": 0}',
            "x": '{"bot_id": "x", "coins": ["BTC"], "flatten_max_slippage_bps": 50}'}
    cfgs = []
    for name, text in docs.items():
        p = tmp_path / f"{name}.json"
        p.write_text(text)
        cfgs.append(load_config_file(p))
    session, (q, x), _ = build_session(cfgs, {"BTC": INST}, 0, 1)
    session.market(BookUpdate("BTC", 0, ((60000, 100000),), ((60010, 100000),), snapshot=True), 0)
    session.tick(q, "BTC", 10)  # q rests a bid and an ask around the mid
    bid = max(o.px for o in q.orders.live("BTC") if o.side == BUY)
    x.restore_position("BTC", 5000, 61000.0, 0.0, 0.0, 0)  # x must sell: its IOC would hit q's bid
    acts = x.flatten(20, "test")
    assert acts == []
    ev = [r for r in x.drain() if isinstance(r, SystemEventRow) and r.kind == "flatten"]
    assert "would cross resting orders of q" in ev[-1].message
    assert bid > 0
