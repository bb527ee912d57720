"""Reconciliation of a bot with the venue's snapshot (open orders + fill ledger), and the session
and restart wiring around it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from mm_bot.config import load_config_file
from mm_bot.core.book import L2Book
from mm_bot.core.bot import RECONCILE_GRACE_MS, Bot
from mm_bot.core.orders import STRAY_SLOT
from mm_bot.core.records import FillRow, OrderEventRow, PositionRow, SystemEventRow
from mm_bot.core.types import (
    BUY,
    SELL,
    BookUpdate,
    Cancel,
    Fill,
    Instrument,
    OrderAck,
    OrderStatus,
    Place,
    Reconcile,
    TradePrint,
    VenueOrder,
)
from mm_bot.sim.assemble import build_session

INST = Instrument("BTC", tick_size=1.0, lot_size=0.00001, min_notional_usd=10, max_sig_figs=5)


@pytest.fixture
def cfg(tmp_path):
    p = tmp_path / "b.json"
    p.write_text('{"bot_id": "t", "coins": ["BTC"], "min_spread_bps": 10, "size_notional_usd": 100, '
                 '"min_replace_ms": 0, "refresh_jitter_ms": 0, "min_spread_guard_enabled": false, '
                 '"housekeep_every_n": 4}')
    return load_config_file(p)


def make_bot(cfg) -> tuple[Bot, list[Place]]:
    b = Bot(cfg, {"BTC": INST}, "paper", 1.5, start_ms=0)
    bk = L2Book("BTC")
    bk.apply(BookUpdate("BTC", 0, ((60000, 100000),), ((60001, 100000),), snapshot=True))
    b.attach_book("BTC", bk)
    places = [a for a in b.on_tick("BTC", 10) if isinstance(a, Place)]
    assert len(places) == 2
    b.drain()
    return b, places


def vo(p: Place, filled: int = 0) -> VenueOrder:
    return VenueOrder(p.bot_id, p.coin, p.cloid, p.side, p.px, p.sz, filled, "7")


def fill(p: Place, fid: str, sz: int, ts: int) -> Fill:
    return Fill(p.bot_id, p.coin, p.cloid, fid, p.side, p.px, sz, True, 0.01, ts, p.sz - sz)


def events(recs, cloid: str) -> list[tuple[str, str]]:
    return [(r.event, r.detail) for r in recs if isinstance(r, OrderEventRow) and r.cloid == cloid]


def test_pending_order_resting_at_venue_is_adopted(cfg):
    b, (bid, ask) = make_bot(cfg)
    t = 10 + RECONCILE_GRACE_MS
    acts = b.on_reconcile(Reconcile("t", t, 0, (vo(bid), vo(ask)), ()))
    assert acts == []
    assert {b.orders.orders[p.cloid].status for p in (bid, ask)} == {OrderStatus.OPEN}
    assert b.orders.orders[bid.cloid].venue_oid == "7"
    recs = b.drain()
    assert events(recs, bid.cloid) == [("open", "reconcile: resting at the venue, ack missing")]
    assert any(isinstance(r, SystemEventRow) and r.kind == "reconcile" for r in recs)
    assert b.last_reconcile["adopted"] == 2


def test_unknown_order_at_venue_is_a_stray_and_cancelled(cfg):
    b, (bid, ask) = make_bot(cfg)
    stray = VenueOrder("t", "BTC", "0xdead", SELL, 60100, 500, 0, "9")
    acts = b.on_reconcile(Reconcile("t", 20, 0, (vo(bid), vo(ask), stray), ()))
    assert [(type(a), a.cloid) for a in acts] == [(Cancel, "0xdead")]
    o = b.orders.orders["0xdead"]
    assert o.slot == STRAY_SLOT and o.cancel_requested
    recs = b.drain()
    assert events(recs, "0xdead") == [("open", "reconcile: stray order resting at the venue"),
                                      ("cancel_requested", "reconcile")]
    b.on_venue_event(OrderAck("t", "BTC", "0xdead", OrderStatus.CANCELLED, 40))
    assert o.status == OrderStatus.CANCELLED
    assert b.last_reconcile["strays"] == 1


def test_live_order_missing_at_venue_is_closed_cancelled_or_filled(cfg):
    b, (bid, ask) = make_bot(cfg)
    for p in (bid, ask):
        b.on_venue_event(OrderAck("t", "BTC", p.cloid, OrderStatus.OPEN, 20))
    b.drain()
    t = 10 + RECONCILE_GRACE_MS
    # The bid filled in full (fill notification lost); the ask was cancelled by the venue.
    f = fill(bid, "f-lost", bid.sz, 500)
    b.on_reconcile(Reconcile("t", t, 0, (), (f,)))
    assert b.orders.orders[bid.cloid].status == OrderStatus.FILLED
    assert b.orders.orders[ask.cloid].status == OrderStatus.CANCELLED
    assert b.coins["BTC"].position.lots == bid.sz
    recs = b.drain()
    assert [r.fill_id for r in recs if isinstance(r, FillRow)] == ["f-lost"]
    assert events(recs, ask.cloid) == [("cancelled", "reconcile: not resting at the venue")]
    assert b.last_reconcile == {"fills_recovered": 1, "adopted": 0, "strays": 0, "closed": 1, "cancels_resent": 0,
                                "modifies_settled": 0}


def test_young_orders_are_left_alone(cfg):
    b, (bid, ask) = make_bot(cfg)
    b.on_reconcile(Reconcile("t", 10 + RECONCILE_GRACE_MS - 1, 0, (), ()))
    assert {b.orders.orders[p.cloid].status for p in (bid, ask)} == {OrderStatus.PENDING}


def test_same_fill_twice_is_applied_once(cfg):
    b, (bid, _ask) = make_bot(cfg)
    b.on_venue_event(OrderAck("t", "BTC", bid.cloid, OrderStatus.OPEN, 20))
    f = fill(bid, "f1", 100, 30)
    b.on_venue_event(f)
    b.on_venue_event(f)  # a duplicate delivery
    b.on_reconcile(Reconcile("t", 40, 0, (vo(bid, 100),), (f,)))  # and the ledger has it too
    assert b.coins["BTC"].position.lots == 100
    recs = b.drain()
    assert len([r for r in recs if isinstance(r, FillRow)]) == 1
    assert [r.size_lots for r in recs if isinstance(r, PositionRow)] == [100]


def test_cancel_without_effect_is_sent_again(cfg):
    b, (bid, ask) = make_bot(cfg)
    for p in (bid, ask):
        b.on_venue_event(OrderAck("t", "BTC", p.cloid, OrderStatus.OPEN, 20))
    b.orders.request_cancel(b.orders.orders[bid.cloid], 100, "test")
    # Still resting long after the cancel was sent: send it again.
    acts = b.on_reconcile(Reconcile("t", 100 + RECONCILE_GRACE_MS, 0, (vo(bid), vo(ask)), ()))
    assert [(type(a), a.cloid) for a in acts] == [(Cancel, bid.cloid)]
    assert b.last_reconcile["cancels_resent"] == 1


def test_reconcile_due_every_housekeep_every_n_loops(cfg):
    b = Bot(cfg, {"BTC": INST}, "paper", 1.5, start_ms=0)
    due = [b.reconcile_due() for _ in range(4)]
    assert due == [False, False, False, True]
    assert b.begin_reconcile(0) == 0  # first query: every fill the venue has
    assert [b.reconcile_due() for _ in range(4)] == [False, False, False, True]
    b.on_reconcile(Reconcile("t", 60_000, 0, (), ()))
    assert b.begin_reconcile(60_001) == 55_000  # next query overlaps the last snapshot by 5 s


def test_session_reconciles_and_recovers_dropped_fills(cfg):
    doc = json.loads(Path(cfg.source).read_text())
    doc["paper"] = {"drop_fill_rate": 1.0, "timeout_rate": 1.0}
    p = Path(cfg.source).with_name("faulty.json")
    p.write_text(json.dumps(doc))
    c2 = load_config_file(p)
    session, (bot,), _ = build_session([c2], {"BTC": INST}, 0, seed=1)
    venue = session.venue_of["t"]
    session.market(BookUpdate("BTC", 0, ((60000, 100000),), ((60001, 100000),), snapshot=True), 0)
    session.tick(bot, "BTC", 10)
    session.pump(1000)
    # Timeouts: no ack came, both orders rest at the venue and stay pending for the bot.
    assert len(venue.open_orders("t")) == 2
    assert all(o.status == OrderStatus.PENDING for o in bot.orders.orders.values())
    bid = next(o for o in venue.open_orders("t") if o.side == BUY)
    session.market(TradePrint("BTC", 2000, bid.px - 1, 10**6, SELL), 2000)
    session.pump(3000)
    assert bot.coins["BTC"].position.lots == 0  # the fill notification was dropped
    assert venue.ledger[("t", "BTC")] == bid.sz
    session.reconcile(bot, 10 + RECONCILE_GRACE_MS + 100)
    assert bot.coins["BTC"].position.lots == bid.sz
    assert bot.orders.orders[bid.cloid].status == OrderStatus.FILLED
    ask = next(o for o in bot.orders.orders.values() if o.side == SELL)
    assert ask.status == OrderStatus.OPEN  # adopted
    recs = session.drain()
    kinds = [json.loads(r.details_json).get("fault") for r in recs if isinstance(r, SystemEventRow)
             and r.kind == "fault"]
    assert kinds.count("timeout") == 2 and kinds.count("drop_fill") == 1


def test_restart_restores_positions_orders_and_venue(tmp_path, cfg):
    """Positions recomputed from fills, earlier live orders and the venue's book come back from the DB;
    the restart's reconciliation applies the fill the crash lost and cancels the strays."""
    from mm_bot.store.db import open_db
    from mm_bot.store.paper_state import restore_session
    from mm_bot.store.writer import write_batch

    db = tmp_path / "r.db"
    conn = open_db(db)
    session, (bot,), _ = build_session([cfg], {"BTC": INST}, 0, seed=1, persist_venue=True)
    venue = session.venue_of["t"]
    session.market(BookUpdate("BTC", 0, ((60000, 100000),), ((60001, 100000),), snapshot=True), 0)
    session.tick(bot, "BTC", 10)
    session.pump(200)
    bid = next(o for o in venue.open_orders("t") if o.side == BUY)
    session.market(TradePrint("BTC", 300, bid.px, 50, SELL), 300)  # 50 lots of our bid (no queue ahead)
    session.pump(305)  # the venue filled it; the notification is still in flight when we "crash"
    assert venue.ledger[("t", "BTC")] == 50 and bot.coins["BTC"].position.lots == 0
    write_batch(conn, session.drain())
    conn.close()

    conn = open_db(db)
    s2, (bot2,), _ = build_session([cfg], {"BTC": INST}, 10_000, seed=1, persist_venue=True)
    summary = restore_session(conn, s2.venues, [bot2], 10_000)
    conn.close()
    assert summary.venue_orders == {"hyperliquid:default": 2} and summary.venue_fills == {"hyperliquid:default": 1}
    assert summary.orders == {"t": 2} and summary.fills == {"t": 0}
    s2.reconcile(bot2, 10_000, grace_ms=0, force=True)
    assert bot2.coins["BTC"].position.lots == 50 == s2.venue_of["t"].ledger[("t", "BTC")]
    assert bot2.last_reconcile["fills_recovered"] == 1 and bot2.last_reconcile["strays"] == 2
    s2.pump(20_000)
    assert s2.venue_of["t"].open_orders() == []
    conn = sqlite3.connect(db)
    write_batch(conn, s2.drain())
    live = conn.execute("SELECT COUNT(*) FROM orders WHERE status IN ('pending','open','partially_filled')").fetchone()
    pf = conn.execute("SELECT COUNT(*) FROM paper_orders WHERE open=1").fetchone()
    pos = conn.execute("SELECT size_lots FROM positions WHERE bot_id='t'").fetchone()
    assert live == (0,) and pf == (0,) and pos == (50,)
