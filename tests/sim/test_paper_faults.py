"""Fault injection and persistence of the paper venue: each fault kind, the bot's answer to it,
determinism, and a restart from the persisted rows."""

from __future__ import annotations

import json

from mm_bot.config import load_config_file
from mm_bot.core.book import L2Book
from mm_bot.core.bot import Bot, is_rate_limit_reject
from mm_bot.core.ratelimit import DEFAULT_LIMITS, DualRateLimiter, RequestKind
from mm_bot.core.records import PaperFillRow, PaperOrderRow, SystemEventRow
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
    Tif,
    TradePrint,
)
from mm_bot.sim.paper import HTTP5XX_REASON, HTTP429_REASON, REJECT_REASON, PaperParams, PaperVenue, SimOrder

INST = Instrument("X", tick_size=0.1, lot_size=0.001)
LAT = 10


def make(persist: bool = False, **faults) -> tuple[PaperVenue, L2Book]:
    book = L2Book("X")
    params = PaperParams(entry_latency_ms=LAT, response_latency_ms=LAT, maker_fee_bps=0, taker_fee_bps=0, **faults)
    venue = PaperVenue("paper", {"X": INST}, {"X": book}, params, key="paper:default", persist=persist)
    snap = BookUpdate("X", 0, ((1000, 5000),), ((1001, 5000),), snapshot=True)
    venue.on_book_update(snap)
    book.apply(snap)
    return venue, book


def place(venue: PaperVenue, t: int, cloid: str = "c1", side: int = BUY, px: int = 1000, sz: int = 100):
    venue.submit(Place("b", "X", cloid, side, px, sz, Tif.ALO), t)
    return venue.advance(t + 2 * LAT)


def faults(venue: PaperVenue) -> list[dict]:
    return [json.loads(r.details_json) for r in venue.records if isinstance(r, SystemEventRow) and r.kind == "fault"]


def acks(events) -> list[OrderAck]:
    return [e for e in events if isinstance(e, OrderAck)]


def test_reject_429_and_5xx_are_rejected_acks_with_their_reason_and_a_fault_row():
    for rate, reason, kind in (("reject_rate", REJECT_REASON, "reject"), ("http429_rate", HTTP429_REASON, "http429"),
                               ("http5xx_rate", HTTP5XX_REASON, "http5xx")):
        venue, _ = make(**{rate: 1.0})
        (ack,) = acks(place(venue, 0))
        assert ack.status == OrderStatus.REJECTED and ack.reason == reason
        assert venue.open_orders() == []
        assert [f["fault"] for f in faults(venue)] == [kind] and faults(venue)[0]["cloid"] == "c1"
    assert is_rate_limit_reject(HTTP429_REASON)
    assert not is_rate_limit_reject(REJECT_REASON) and not is_rate_limit_reject(HTTP5XX_REASON)


def test_timeout_places_the_order_but_the_ack_never_arrives():
    venue, _ = make(timeout_rate=1.0)
    assert place(venue, 0) == []
    assert [o.cloid for o in venue.open_orders("b")] == ["c1"]
    assert faults(venue)[0]["fault"] == "timeout"
    snap = venue.reconcile_snapshot("b", 100, 0)
    assert [(o.cloid, o.px, o.sz, o.filled) for o in snap.open_orders] == [("c1", 1000, 100, 0)]
    # A cancel that times out is applied too: the order leaves the book, no ack comes back.
    venue.submit(Cancel("b", "X", "c1"), 200)
    assert venue.advance(300) == [] and venue.open_orders() == []


def test_delayed_ack_comes_delayed_ack_ms_late():
    venue, _ = make(delayed_ack_rate=1.0, delayed_ack_ms=500)
    assert place(venue, 0) == []
    assert venue.next_due_ms() == LAT + LAT + 500
    (ack,) = acks(venue.advance(LAT + LAT + 500))
    assert ack.status == OrderStatus.OPEN and ack.ts_ms == LAT
    assert faults(venue)[0] == {"cloid": "c1", "delay_ms": 500, "fault": "delayed_ack", "status": "open",
                                "venue": "paper:default"}


def test_dropped_fill_is_in_the_ledger_and_the_snapshot_but_never_delivered():
    venue, _ = make(drop_fill_rate=1.0)
    place(venue, 0)
    venue.on_trade(TradePrint("X", 100, 999, 10_000, SELL))  # trades through our bid
    assert [e for e in venue.advance(1000) if isinstance(e, Fill)] == []
    assert venue.ledger[("b", "X")] == 100
    (f,) = venue.reconcile_snapshot("b", 1000, 0).fills
    assert (f.cloid, f.sz, f.side, f.ts_ms) == ("c1", 100, BUY, 100)
    assert faults(venue)[0]["fault"] == "drop_fill" and faults(venue)[0]["fill_id"] == f.fill_id
    assert venue.reconcile_snapshot("b", 1000, 101).fills == ()


def test_fault_draws_are_seeded_and_rates_mix():
    def run(seed: int) -> list[str]:
        venue, _ = make(reject_rate=0.25, http429_rate=0.25, http5xx_rate=0.25, fault_seed=seed)
        out = []
        for i in range(200):
            evs = place(venue, i * 100, cloid=f"c{i}", px=990 - i % 5)
            out.append(acks(evs)[0].reason if acks(evs) else "timeout")
        return out

    a, b, c = run(1), run(1), run(2)
    assert a == b and a != c
    kinds = {r for r in a}
    assert {REJECT_REASON, HTTP429_REASON, HTTP5XX_REASON, ""} <= kinds  # "" = accepted (OPEN)


def test_no_fault_draws_without_rates():
    venue, _ = make()
    place(venue, 0)
    assert venue.faults_on is False and venue.records == []


def test_persisted_rows_restore_the_venue():
    venue, _ = make(persist=True)
    place(venue, 0, "c1", BUY, 1000, 100)
    place(venue, 100, "c2", SELL, 1001, 50)
    venue.on_trade(TradePrint("X", 300, 1000, 5040, SELL))  # queue 5000 first, then 40 of c1
    venue.advance(1000)
    rows = venue.records
    opens: dict[str, PaperOrderRow] = {}
    for r in rows:
        if isinstance(r, PaperOrderRow):
            opens[r.cloid] = r
    fills = [r for r in rows if isinstance(r, PaperFillRow)]
    assert opens["c1"].filled_lots == 40 and opens["c1"].open == 1 and len(fills) == 1

    fresh_book = L2Book("X")
    fresh = PaperVenue("paper", {"X": INST}, {"X": fresh_book}, PaperParams(), key="paper:default")
    fresh.restore(
        [SimOrder(r.bot_id, r.coin, r.cloid, r.side, r.px_ticks, r.sz_lots, r.filled_lots, r.queue_ahead, r.seq)
         for r in opens.values() if r.open],
        [Fill(r.bot_id, r.coin, r.cloid, r.fill_id, r.side, r.px_ticks, r.sz_lots, bool(r.maker), r.fee_usd, r.ts_ms,
              r.remaining_lots, r.counterparty) for r in fills])
    assert sorted((o.cloid, o.filled) for o in fresh.open_orders()) == [("c1", 40), ("c2", 0)]
    assert fresh.ledger == venue.ledger == {("b", "X"): 40}
    # Fill ids go on from the persisted count, so a restored order's next fill is new.
    fresh.on_trade(TradePrint("X", 2000, 999, 1000, SELL))
    new = [e for e in fresh.advance(3000) if isinstance(e, Fill)]
    assert [f.fill_id for f in new] == ["c1:2"] and new[0].sz == 60
    # A cancel removes the row (open=0).
    venue.submit(Cancel("b", "X", "c2"), 2000)
    venue.advance(3000)
    last = [r for r in venue.records if isinstance(r, PaperOrderRow) and r.cloid == "c2"][-1]
    assert last.open == 0


def _bot(tmp_path, limiter=None) -> Bot:
    p = tmp_path / "b.json"
    p.write_text('{"bot_id": "b", "coins": ["X"], "min_spread_bps": 10, "size_notional_usd": 100, '
                 '"min_replace_ms": 0, "refresh_jitter_ms": 0, "housekeep_every_n": 3}')
    return Bot(load_config_file(p), {"X": INST}, "paper", 0.0, start_ms=0, limiter=limiter)


def test_bot_backs_off_on_429_and_records_it(tmp_path):
    lim = DualRateLimiter(DEFAULT_LIMITS["hyperliquid"])
    bot = _bot(tmp_path, lim)
    venue, book = make(http429_rate=1.0)
    bot.attach_book("X", book)
    places = bot.on_tick("X", 0)
    assert places
    for a in places:
        venue.submit(a, 0)
    for ev in venue.advance(100):
        bot.on_venue_event(ev)
    assert lim.in_backoff(100) and lim.backoff_level == 1
    recs = bot.drain()
    rl = [r for r in recs if isinstance(r, SystemEventRow) and r.kind == "rate_limit"]
    assert len(rl) == len(places) and "429" in rl[0].message
    assert all(o.status == OrderStatus.REJECTED for o in bot.orders.orders.values())
    # Only cancels pass during the back-off.
    assert lim.try_acquire(RequestKind.PLACE, 1, 150).__class__.__name__ == "Denied"
    assert bot.kills.check(150) is None  # a 429 is not an error for the error-rate kill switch
