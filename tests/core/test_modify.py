"""Requote by modify (requote_with_modify): the order coordinator's modify state machine and the
bot's decisions (emitted only when on, paced, one in flight per order, acks, refusals, fill races,
self-match, reconciliation and the lost-answer backstop)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mm_bot.config import load_config_file
from mm_bot.core.book import L2Book
from mm_bot.core.bot import MODIFY_ANSWER_TIMEOUT_MS, Bot
from mm_bot.core.compliance import RestingOrder, SelfMatchRegistry
from mm_bot.core.orders import OrderCoordinator
from mm_bot.core.ratelimit import DEFAULT_LIMITS, DualRateLimiter, RequestKind
from mm_bot.core.records import OrderEventRow, OrderRow, SystemEventRow, TradeRow
from mm_bot.core.types import (
    BUY,
    SELL,
    BookUpdate,
    Cancel,
    Fill,
    Instrument,
    Modify,
    ModifyFailed,
    OrderAck,
    OrderStatus,
    Place,
    Reconcile,
    Tif,
    VenueOrder,
)

INST = Instrument("BTC", tick_size=1.0, lot_size=0.00001, min_notional_usd=10, max_sig_figs=5)


def book(bid=60000, ask=60001, ts=0, bsz=100000, asz=100000):
    b = L2Book("BTC")
    b.apply(BookUpdate("BTC", ts, ((bid, bsz), (bid - 1, bsz)), ((ask, asz), (ask + 1, asz)), snapshot=True))
    return b


def move(bk: L2Book, ts: int, bid: int) -> None:
    bk.apply(BookUpdate("BTC", ts, ((bid, 5),), ((bid + 1, 5),), snapshot=True))


def events(recs, cloid: str) -> list[tuple[str, str]]:
    return [(r.event, r.detail) for r in recs if isinstance(r, OrderEventRow) and r.cloid == cloid]


# ---------------------------------------------------------------- the coordinator


def coordinator() -> tuple[OrderCoordinator, object]:
    oc = OrderCoordinator("t", {"BTC": INST}, 0)
    p = oc.new_order("BTC", BUY, 60000, 100, Tif.ALO, "b0", 0)
    oc.on_ack(OrderAck("t", "BTC", p.cloid, OrderStatus.OPEN, 10, "oid-1"))
    oc.records.clear()
    return oc, oc.orders[p.cloid]


def test_coordinator_modify_open_ack_moves_the_order_and_its_row():
    oc, o = coordinator()
    m = oc.request_modify(o, 59990, 100, 100, "requote")
    assert m == Modify("t", "BTC", o.cloid, BUY, 59990, 100, Tif.ALO)
    assert (o.px, o.sz, o.modify, o.requoted_ms, o.quoted_ms) == (60000, 100, m, 100, 100)
    # One in flight per order: no second modify, and the order's price is the venue's until answered.
    assert oc.request_modify(o, 59980, 100, 120) is None
    rows = oc.records[:]
    assert [(r.event, r.detail) for r in rows if isinstance(r, OrderEventRow)] == [
        ("modify_requested", "requote: 60000.0 x 0.001 -> 59990.0 x 0.001")]
    assert [(r.kind, r.price, r.size) for r in rows if isinstance(r, TradeRow)] == [("modify", 59990.0, 0.001)]
    assert not any(isinstance(r, OrderRow) for r in rows)  # nothing changed at the venue yet
    oc.records.clear()
    assert oc.on_ack(OrderAck("t", "BTC", o.cloid, OrderStatus.OPEN, 160, "oid-2")) is o
    assert (o.px, o.sz, o.status, o.venue_oid, o.modify) == (59990, 100, OrderStatus.OPEN, "oid-2", None)
    (row,) = [r for r in oc.records if isinstance(r, OrderRow)]
    assert (row.price, row.size_lots, row.status, row.venue_oid, row.updated_ms) == (59990.0, 100, "open", "oid-2", 160)
    assert [r.event for r in oc.records if isinstance(r, OrderEventRow)] == ["modified"]
    assert oc.slot_order("BTC", "b0") is o


def test_coordinator_modify_failed_keeps_the_order():
    oc, o = coordinator()
    oc.request_modify(o, 60001, 100, 100)
    oc.records.clear()
    oc.on_modify_failed(ModifyFailed("t", "BTC", o.cloid, "post-only would cross", 160))
    assert (o.px, o.sz, o.status, o.modify, o.venue_oid) == (60000, 100, OrderStatus.OPEN, None, "oid-1")
    assert [(r.event, r.detail) for r in oc.records if isinstance(r, OrderEventRow)] == [
        ("modify_failed", "post-only would cross")]
    assert not any(isinstance(r, OrderRow) for r in oc.records)
    # A new modify may go now.
    assert oc.request_modify(o, 59990, 100, 200) is not None


def test_coordinator_refuses_modify_of_pending_cancelled_or_ended_orders():
    oc = OrderCoordinator("t", {"BTC": INST}, 0)
    p = oc.new_order("BTC", BUY, 60000, 100, Tif.ALO, "b0", 0)
    o = oc.orders[p.cloid]
    assert oc.request_modify(o, 59990, 100, 5) is None  # pending: not resting yet
    oc.on_ack(OrderAck("t", "BTC", p.cloid, OrderStatus.OPEN, 10))
    assert oc.request_modify(o, 59990, 0, 20) is None  # nothing left to rest
    oc.request_cancel(o, 30)
    assert oc.request_modify(o, 59990, 100, 40) is None  # a cancel is in flight
    oc.on_ack(OrderAck("t", "BTC", p.cloid, OrderStatus.CANCELLED, 50))
    assert oc.request_modify(o, 59990, 100, 60) is None


def test_coordinator_fill_during_modify_is_applied_and_sizes_stay_exact():
    oc, o = coordinator()
    oc.request_modify(o, 59990, 100, 100)
    oc.on_fill(Fill("t", "BTC", o.cloid, "f1", BUY, 60000, 30, True, 0.0, 120, 70))
    assert (o.filled, o.remaining, o.status, o.px) == (30, 70, OrderStatus.PARTIAL, 60000)
    oc.on_ack(OrderAck("t", "BTC", o.cloid, OrderStatus.OPEN, 160, "oid-2"))
    assert (o.px, o.sz, o.filled, o.remaining, o.status) == (59990, 100, 30, 70, OrderStatus.PARTIAL)
    oc.on_fill(Fill("t", "BTC", o.cloid, "f2", BUY, 59990, 70, True, 0.0, 200, 0))
    assert (o.filled, o.remaining, o.status) == (100, 0, OrderStatus.FILLED)
    assert oc.slot_order("BTC", "b0") is None


def test_coordinator_order_filled_out_while_modify_in_flight_then_modify_fails():
    oc, o = coordinator()
    oc.request_modify(o, 59990, 100, 100)
    oc.on_fill(Fill("t", "BTC", o.cloid, "f1", BUY, 60000, 100, True, 0.0, 120, 0))
    assert (o.status, o.remaining, o.modify) == (OrderStatus.FILLED, 0, None)
    oc.records.clear()
    # The venue's answer comes late: nothing changes (a terminal order is not moved).
    oc.on_modify_failed(ModifyFailed("t", "BTC", o.cloid, "order not open", 160))
    oc.on_ack(OrderAck("t", "BTC", o.cloid, OrderStatus.OPEN, 170, "oid-2"))
    assert (o.status, o.px, o.filled, o.remaining) == (OrderStatus.FILLED, 60000, 100, 0)
    assert oc.records == []


def test_coordinator_shrinking_modify_counts_fills_against_both_sizes():
    oc, o = coordinator()
    oc.request_modify(o, 59990, 60, 100)  # rest 60 lots instead of 100
    oc.on_fill(Fill("t", "BTC", o.cloid, "f1", BUY, 60000, 70, True, 0.0, 120, 30))
    # Old size at the venue (modify not applied yet) or new: the order may still rest 30 lots.
    assert (o.filled, o.status, o.remaining) == (70, OrderStatus.PARTIAL, 30)
    oc.on_ack(OrderAck("t", "BTC", o.cloid, OrderStatus.OPEN, 160))
    # The new size is covered: the order is done, never a negative remainder.
    assert (o.sz, o.filled, o.remaining, o.status) == (60, 70, 0, OrderStatus.FILLED)


def test_coordinator_growing_modify_waits_for_the_answer_before_calling_it_filled():
    oc, o = coordinator()
    oc.request_modify(o, 59990, 150, 100)
    oc.on_fill(Fill("t", "BTC", o.cloid, "f1", BUY, 60000, 100, True, 0.0, 120, 0))
    assert (o.filled, o.status) == (100, OrderStatus.PARTIAL)  # the new size may still rest 50
    oc.on_modify_failed(ModifyFailed("t", "BTC", o.cloid, "order not open", 160))
    assert (o.sz, o.filled, o.remaining, o.status) == (100, 100, 0, OrderStatus.FILLED)
    assert oc.slot_order("BTC", "b0") is None


def test_coordinator_late_placement_ack_is_not_taken_for_the_modify_answer():
    oc, o = coordinator()
    oc.request_modify(o, 59990, 100, 100)
    oc.on_ack(OrderAck("t", "BTC", o.cloid, OrderStatus.OPEN, 50, "oid-1"))  # sent before the modify
    assert o.modify is not None and o.px == 60000


# ---------------------------------------------------------------- the bot


def config(tmp_path, **extra):
    doc = {"bot_id": "t", "coins": ["BTC"], "min_spread_bps": 10, "size_notional_usd": 100, "min_replace_ms": 0,
           "refresh_jitter_ms": 0, "min_spread_guard_enabled": False, "move_threshold_ticks": 2,
           "requote_threshold_bps": 0.1, "stale_order_seconds": 600, "max_amends_per_sec": 20, **extra}
    p = tmp_path / "b.json"
    p.write_text(json.dumps(doc))
    return load_config_file(p)


def quoting(tmp_path, limiter=None, self_match=None, **extra):
    """A bot with both sides resting (acked at 20) on a 60000/60001 book; returns (bot, book, places)."""
    b = Bot(config(tmp_path, **extra), {"BTC": INST}, "paper", 1.5, start_ms=0, limiter=limiter,
            self_match=self_match)
    bk = book(ts=0)
    b.attach_book("BTC", bk)
    places = sorted(b.on_tick("BTC", 10), key=lambda p: -p.side)
    assert [p.side for p in places] == [BUY, SELL]
    for p in places:
        b.on_venue_event(OrderAck("t", "BTC", p.cloid, OrderStatus.OPEN, 20, f"oid-{p.cloid[-4:]}"))
    b.drain()
    return b, bk, places


def test_requote_cancels_when_off_and_modifies_when_on(tmp_path):
    b, bk, places = quoting(tmp_path)
    move(bk, 30, 60020)
    acts = b.on_tick("BTC", 40)
    assert sorted(type(a).__name__ for a in acts) == ["Cancel", "Cancel"]

    b, bk, places = quoting(tmp_path, requote_with_modify=True)
    move(bk, 30, 60020)
    acts = b.on_tick("BTC", 40)
    assert all(isinstance(a, Modify) for a in acts) and len(acts) == 2
    bid, ask = sorted(acts, key=lambda a: -a.side)
    assert (bid.cloid, ask.cloid) == (places[0].cloid, places[1].cloid)
    # The new targets, the same size (the quote size did not change) and post-only.
    assert bid.px == 59990 and ask.px == 60051 and bid.sz == places[0].sz and bid.tif == Tif.ALO
    cs = b.coins["BTC"]
    snap = cs.ti.snapshot(0, 100)
    assert (snap.amends, snap.cancels) == (2, 0)
    recs = b.drain()
    assert [r.kind for r in recs if isinstance(r, TradeRow)] == ["modify", "modify"]
    # Uptime: both sides still rest (and count as resting) while they move.
    assert b._two_sided("BTC")


def test_pending_modify_blocks_further_decisions_until_answered(tmp_path):
    b, bk, places = quoting(tmp_path, requote_with_modify=True)
    move(bk, 30, 60020)
    first = b.on_tick("BTC", 40)
    assert len(first) == 2
    move(bk, 50, 60060)
    assert b.on_tick("BTC", 60) == []  # both modifies in flight: no modify, no cancel
    bid = next(a for a in first if a.side == BUY)
    b.on_venue_event(OrderAck("t", "BTC", bid.cloid, OrderStatus.OPEN, 90, "oid-new"))
    acts = b.on_tick("BTC", 100)
    assert [(type(a).__name__, a.cloid) for a in acts] == [("Modify", bid.cloid)]


def test_modifies_are_paced_by_the_amend_limiter_and_min_replace(tmp_path):
    b, bk, places = quoting(tmp_path, requote_with_modify=True, max_amends_per_sec=1)
    move(bk, 30, 60020)
    acts = b.on_tick("BTC", 40)
    assert len(acts) == 1 and isinstance(acts[0], Modify)  # one amend per second per coin
    assert b.on_tick("BTC", 500) == []
    later = b.on_tick("BTC", 1040)
    assert len(later) == 1 and later[0].cloid != acts[0].cloid

    b, bk, places = quoting(tmp_path, requote_with_modify=True, min_replace_ms=1000)
    move(bk, 1030, 60020)
    acts = b.on_tick("BTC", 1040)
    assert len(acts) == 2
    for a in acts:
        b.on_venue_event(OrderAck("t", "BTC", a.cloid, OrderStatus.OPEN, 1100))
    move(bk, 1200, 60060)
    # min_replace_ms counts from the last move, not from the placement.
    assert b.on_tick("BTC", 1500) == []
    assert len(b.on_tick("BTC", 2040)) == 2


def test_modify_is_charged_to_the_rate_limiter_as_modify(tmp_path):
    lim = DualRateLimiter(DEFAULT_LIMITS["hyperliquid"])
    kinds = []
    real = lim.try_acquire

    def spy(kind, weight, now_ms):
        kinds.append((kind, weight))
        return real(kind, weight, now_ms)

    lim.try_acquire = spy
    b, bk, places = quoting(tmp_path, limiter=lim, requote_with_modify=True)
    kinds.clear()
    move(bk, 30, 60020)
    assert len(b.on_tick("BTC", 40)) == 2
    assert kinds == [(RequestKind.MODIFY, 1)]  # batch_orders: one batchModify of two


def test_open_ack_moves_order_and_self_match_price(tmp_path):
    reg = SelfMatchRegistry()
    b, bk, places = quoting(tmp_path, self_match=reg, requote_with_modify=True)
    move(bk, 30, 60020)
    acts = b.on_tick("BTC", 40)
    bid = next(a for a in acts if a.side == BUY)
    assert reg.best(b.account, "BTC", BUY) == bid.px  # registered at the new price when sent
    b.drain()
    b.on_venue_event(OrderAck("t", "BTC", bid.cloid, OrderStatus.OPEN, 90, "oid-new"))
    o = b.orders.orders[bid.cloid]
    assert (o.px, o.venue_oid, o.status, o.modify) == (bid.px, "oid-new", OrderStatus.OPEN, None)
    recs = b.drain()
    assert [r.event for r in recs if isinstance(r, OrderEventRow)] == ["modified"]
    (row,) = [r for r in recs if isinstance(r, OrderRow)]
    assert row.price == float(bid.px) and row.venue_oid == "oid-new"


def test_modify_failed_keeps_order_and_records_the_refusal(tmp_path):
    reg = SelfMatchRegistry()
    b, bk, places = quoting(tmp_path, self_match=reg, requote_with_modify=True)
    move(bk, 30, 60020)
    bid = next(a for a in b.on_tick("BTC", 40) if a.side == BUY)
    b.drain()
    errors = len(b.kills._errors)
    assert b.on_venue_event(ModifyFailed("t", "BTC", bid.cloid, "post-only would cross", 90)) == []
    o = b.orders.orders[bid.cloid]
    assert (o.px, o.status, o.modify) == (places[0].px, OrderStatus.OPEN, None)
    assert reg.best(b.account, "BTC", BUY) == places[0].px  # back to where it rests
    recs = b.drain()
    assert events(recs, bid.cloid) == [("modify_failed", "post-only would cross")]
    (ev,) = [r for r in recs if isinstance(r, SystemEventRow)]
    assert (ev.kind, ev.message) == ("reject", "modify refused: post-only would cross")
    assert len(b.kills._errors) == errors  # a post-only cross is not an error
    # The order may be requoted again on a later pass.
    assert [a.cloid for a in b.on_tick("BTC", 100) if isinstance(a, Modify)] == [bid.cloid]


def test_modify_failed_with_429_backs_the_limiter_off(tmp_path):
    lim = DualRateLimiter(DEFAULT_LIMITS["hyperliquid"])
    b, bk, places = quoting(tmp_path, limiter=lim, requote_with_modify=True)
    move(bk, 30, 60020)
    bid = next(a for a in b.on_tick("BTC", 40) if a.side == BUY)
    b.on_venue_event(ModifyFailed("t", "BTC", bid.cloid, "HTTP 429 rate limited (injected)", 90))
    assert lim.backoff_level == 1
    errors = len(b.kills._errors)
    ask = b.orders.slot_order("BTC", "a0")
    b.on_venue_event(ModifyFailed("t", "BTC", ask.cloid, "venue reject (injected)", 95))
    assert len(b.kills._errors) == errors + 1  # a plain venue refusal counts toward the error kill
    assert any(isinstance(r, SystemEventRow) and r.kind == "rate_limit" for r in b.drain())


def test_fill_during_modify_then_order_filled_out_frees_the_slot(tmp_path):
    b, bk, places = quoting(tmp_path, requote_with_modify=True)
    move(bk, 30, 60020)
    bid = next(a for a in b.on_tick("BTC", 40) if a.side == BUY)
    o = b.orders.orders[bid.cloid]
    b.on_venue_event(Fill("t", "BTC", bid.cloid, "f1", BUY, places[0].px, 50, True, 0.0, 60, o.sz - 50))
    assert (o.filled, o.remaining, o.status) == (50, o.sz - 50, OrderStatus.PARTIAL)
    b.on_venue_event(Fill("t", "BTC", bid.cloid, "f2", BUY, places[0].px, o.sz - 50, True, 0.0, 70, 0))
    assert (o.status, o.remaining) == (OrderStatus.FILLED, 0)
    assert b.coins["BTC"].position.lots == o.sz
    b.on_venue_event(ModifyFailed("t", "BTC", bid.cloid, "order not open", 90))
    assert o.status == OrderStatus.FILLED
    # The slot is free: the next pass places a fresh bid.
    acts = b.on_tick("BTC", 100)
    assert any(isinstance(a, Place) and a.side == BUY for a in acts)


def test_no_modify_into_a_self_match(tmp_path):
    reg = SelfMatchRegistry()
    b, bk, places = quoting(tmp_path, self_match=reg, requote_with_modify=True)
    # Another bot of the account rests a sell at 59985: the bid's new target (59990) would cross it.
    reg.register(RestingOrder(b.account, "BTC", "other", SELL, 59985, "other-bot"))
    move(bk, 30, 60020)
    acts = b.on_tick("BTC", 40)
    assert [a.side for a in acts] == [SELL]  # the bid is left where it rests; the ask moves
    assert b.orders.orders[places[0].cloid].px == places[0].px


def test_loop_guard_falls_back_to_cancel(tmp_path):
    b, bk, places = quoting(tmp_path, requote_with_modify=True, loop_min_holding_ms=10_000)
    b.on_venue_event(Fill("t", "BTC", places[1].cloid, "f1", SELL, places[1].px, 10, True, 0.0, 25,
                          places[1].sz - 10))
    move(bk, 30, 60020)
    acts = b.on_tick("BTC", 40)
    # The bid would reverse the sell fill within loop_min_holding_ms: not moved, cancelled as before.
    assert {(type(a).__name__, a.cloid) for a in acts} == {("Cancel", places[0].cloid), ("Modify", places[1].cloid)}


def test_stop_cancels_orders_with_a_modify_in_flight(tmp_path):
    b, bk, places = quoting(tmp_path, requote_with_modify=True)
    move(bk, 30, 60020)
    assert len(b.on_tick("BTC", 40)) == 2
    acts = b.stop(50, "stop")
    assert sorted(a.cloid for a in acts if isinstance(a, Cancel)) == sorted(p.cloid for p in places)
    for p in places:
        b.on_venue_event(OrderAck("t", "BTC", p.cloid, OrderStatus.CANCELLED, 80))
        b.on_venue_event(ModifyFailed("t", "BTC", p.cloid, "order not open", 90))
    assert b.open_order_count() == 0 and len(b.self_match) == 0


def test_unanswered_modify_settled_by_reconciliation(tmp_path):
    b, bk, places = quoting(tmp_path, requote_with_modify=True)
    move(bk, 30, 60020)
    bid, ask = sorted(b.on_tick("BTC", 40), key=lambda a: -a.side)
    b.drain()
    # The venue moved the bid but not the ask; neither answer came.
    snap = Reconcile("t", 5000, 0, (
        VenueOrder("t", "BTC", bid.cloid, BUY, bid.px, bid.sz, 0, "oid-b2"),
        VenueOrder("t", "BTC", ask.cloid, SELL, places[1].px, places[1].sz, 0, "oid-a1"),
    ), ())
    assert b.on_reconcile(snap) == []
    ob, oa = b.orders.orders[bid.cloid], b.orders.orders[ask.cloid]
    assert (ob.px, ob.venue_oid, ob.modify) == (bid.px, "oid-b2", None)
    assert (oa.px, oa.modify) == (places[1].px, None)
    assert b.last_reconcile["modifies_settled"] == 2
    recs = b.drain()
    assert events(recs, bid.cloid)[0][0] == "modified" and events(recs, ask.cloid)[0][0] == "modify_failed"


def test_lost_modify_answer_is_given_up_after_the_timeout(tmp_path):
    b, bk, places = quoting(tmp_path, requote_with_modify=True, housekeep_every_n=100000)
    move(bk, 30, 60020)
    assert len(b.on_tick("BTC", 40)) == 2
    bk.apply(BookUpdate("BTC", 40 + MODIFY_ANSWER_TIMEOUT_MS - 10, ((60020, 5),), ((60021, 5),), snapshot=True))
    assert b.on_tick("BTC", 40 + MODIFY_ANSWER_TIMEOUT_MS - 1) == []
    move(bk, 40 + MODIFY_ANSWER_TIMEOUT_MS, 60060)
    acts = b.on_tick("BTC", 40 + MODIFY_ANSWER_TIMEOUT_MS)
    assert len(acts) == 2 and all(isinstance(a, Modify) for a in acts)
    assert any(isinstance(r, SystemEventRow) and "no answer within" in r.message for r in b.drain())


@pytest.mark.parametrize("venue", ["hyperliquid", "woofi_pro"])
def test_modify_weight_per_venue(tmp_path, venue):
    lim = DualRateLimiter(DEFAULT_LIMITS[venue])
    kinds = []
    real = lim.try_acquire
    lim.try_acquire = lambda kind, weight, now_ms: kinds.append(kind) or real(kind, weight, now_ms)
    # (WOOFi's batch placement weight is over its per-second budget: place one by one, then batch.)
    b, bk, places = quoting(tmp_path, limiter=lim, requote_with_modify=True, venue=venue, batch_orders=False)
    b.cfg = dataclasses.replace(b.cfg, batch_orders=True)
    kinds.clear()
    move(bk, 30, 60020)
    assert len(b.on_tick("BTC", 40)) == 2
    # Hyperliquid batches the two modifies; Orderly edits one order per request.
    assert kinds == [RequestKind.MODIFY] * (1 if venue == "hyperliquid" else 2)
