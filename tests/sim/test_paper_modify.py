"""Modify on the paper venue: latency, queue priority, post-only refusal, gone orders, faults,
persistence; and whole replays with requote_with_modify (the DB stays consistent)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from mm_bot.config import load_config_file
from mm_bot.core.book import L2Book
from mm_bot.core.records import PaperOrderRow
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
    Tif,
    TradePrint,
)
from mm_bot.sim.paper import HTTP429_REASON, REJECT_REASON, PaperParams, PaperVenue, SimOrder

INST = Instrument("X", tick_size=0.1, lot_size=0.001)
LAT = 10


def make(persist: bool = False, **params) -> tuple[PaperVenue, L2Book]:
    book = L2Book("X")
    p = PaperParams(entry_latency_ms=LAT, response_latency_ms=LAT, maker_fee_bps=0, taker_fee_bps=0, **params)
    venue = PaperVenue("paper", {"X": INST}, {"X": book}, p, key="paper:default", persist=persist)
    snap = BookUpdate("X", 0, ((1000, 5000), (999, 300)), ((1001, 5000), (1002, 700)), snapshot=True)
    venue.on_book_update(snap)
    book.apply(snap)
    return venue, book


def place(venue: PaperVenue, t: int, cloid: str = "c1", side: int = BUY, px: int = 1000, sz: int = 100):
    venue.submit(Place("b", "X", cloid, side, px, sz, Tif.ALO), t)
    return venue.advance(t + 2 * LAT)


def modify(venue: PaperVenue, t: int, px: int, sz: int = 100, cloid: str = "c1", side: int = BUY,
           tif: Tif = Tif.ALO) -> list:
    venue.submit(Modify("b", "X", cloid, side, px, sz, tif), t)
    return venue.advance(t + 2 * LAT)


def test_modify_arrives_after_entry_latency_and_answers_after_response_latency():
    venue, _ = make()
    place(venue, 0)
    venue.submit(Modify("b", "X", "c1", BUY, 999, 100, Tif.ALO), 100)
    assert venue.advance(109) == [] and venue.by_cloid["c1"].px == 1000
    assert venue.advance(110) == [] and venue.by_cloid["c1"].px == 999  # at the venue, answer on its way
    (ack,) = venue.advance(120)
    assert (ack.status, ack.ts_ms, ack.cloid) == (OrderStatus.OPEN, 110, "c1")


def test_price_change_goes_to_the_back_of_the_queue_with_a_new_oid():
    venue, _ = make()
    (first,) = place(venue, 0)
    venue.on_trade(TradePrint("X", 30, 1000, 4000, SELL))
    assert venue.by_cloid["c1"].queue_ahead == 1000
    (ack,) = modify(venue, 100, 999)
    o = venue.by_cloid["c1"]
    assert (ack.status, o.px, o.queue_ahead) == (OrderStatus.OPEN, 999, 300.0)  # behind the level's 300 lots
    assert ack.venue_oid != first.venue_oid and ack.venue_oid == str(o.seq)
    assert venue.resting["X"][BUY] == {999: [o]}
    # Back to 1000: behind the whole displayed level again, its earlier place is lost.
    modify(venue, 200, 1000)
    assert venue.by_cloid["c1"].queue_ahead == 5000.0
    # A trade at 1000 smaller than the queue does not reach it.
    venue.on_trade(TradePrint("X", 300, 1000, 4000, SELL))
    assert [e for e in venue.advance(400) if isinstance(e, Fill)] == []


def test_size_decrease_at_the_same_price_keeps_the_queue_place():
    venue, _ = make()
    place(venue, 0)
    venue.on_trade(TradePrint("X", 30, 1000, 4000, SELL))
    seq = venue.by_cloid["c1"].seq
    (ack,) = modify(venue, 100, 1000, 60)
    o = venue.by_cloid["c1"]
    assert (ack.status, o.sz, o.queue_ahead, o.seq) == (OrderStatus.OPEN, 60, 1000.0, seq)


def test_later_order_at_the_new_price_queues_ahead_of_an_order_moved_there_later():
    venue, _ = make()
    place(venue, 0, "c1", px=1000)
    place(venue, 0, "c2", px=999)
    modify(venue, 100, 999, cloid="c1")
    assert [o.cloid for o in venue.resting["X"][BUY][999]] == ["c2", "c1"]


def test_post_only_modify_that_would_cross_is_refused_and_the_order_stays():
    venue, _ = make()
    place(venue, 0)
    venue.on_trade(TradePrint("X", 30, 1000, 4000, SELL))
    (ev,) = modify(venue, 100, 1001)  # at the best ask
    assert isinstance(ev, ModifyFailed) and "post-only would cross" in ev.reason
    o = venue.by_cloid["c1"]
    assert (o.px, o.sz, o.queue_ahead) == (1000, 100, 1000.0)
    (ev,) = modify(venue, 200, 1005)  # through the ask
    assert isinstance(ev, ModifyFailed) and "post-only would cross" in ev.reason


def test_modify_of_a_gone_order_fails_order_not_open():
    venue, _ = make()
    place(venue, 0)
    venue.on_trade(TradePrint("X", 30, 999, 1, SELL))  # through the price: filled in full
    assert venue.open_orders() == []
    evs = modify(venue, 100, 998)
    assert [(type(e).__name__, e.reason) for e in evs if not isinstance(e, Fill)] == [("ModifyFailed", "order not open")]
    # A cancelled one, and one never placed, likewise.
    place(venue, 200, "c2")
    venue.submit(Cancel("b", "X", "c2"), 300)
    venue.advance(400)
    (ev,) = modify(venue, 500, 998, cloid="c2")
    assert isinstance(ev, ModifyFailed) and ev.reason == "order not open"
    (ev,) = modify(venue, 600, 998, cloid="nope")
    assert isinstance(ev, ModifyFailed) and ev.reason == "order not open"


def test_fill_racing_the_modify_counts_in_the_total_size():
    venue, _ = make()
    place(venue, 0, px=999)
    venue.submit(Modify("b", "X", "c1", BUY, 998, 100, Tif.ALO), 100)
    venue.on_trade(TradePrint("X", 105, 998, 1, SELL))  # through 999 before the modify arrives
    evs = venue.advance(200)
    assert [type(e).__name__ for e in evs] == ["Fill", "ModifyFailed"]
    assert evs[1].reason == "order not open"
    # Partly filled, then moved: the order rests with the total minus what filled.
    venue, _ = make()
    place(venue, 0, px=1000, sz=100)
    venue.resting["X"][BUY][1000][0].queue_ahead = 0.0
    venue.on_trade(TradePrint("X", 30, 1000, 40, SELL))
    (ack,) = [e for e in modify(venue, 100, 999, 100) if isinstance(e, OrderAck)]
    o = venue.by_cloid["c1"]
    assert (o.px, o.sz, o.filled, o.sz - o.filled) == (999, 100, 40, 60)
    # Shrinking below what already filled leaves nothing to rest: refused, order unchanged.
    (ev,) = modify(venue, 200, 999, 40)
    assert isinstance(ev, ModifyFailed) and venue.by_cloid["c1"].sz == 100


def test_gtc_modify_through_the_book_takes_then_rests():
    venue, _ = make()
    venue.submit(Place("b", "X", "g1", BUY, 999, 1000, Tif.GTC), 0)
    venue.advance(100)
    evs = modify(venue, 200, 1001, 1000, cloid="g1", tif=Tif.GTC)
    assert isinstance(evs[0], OrderAck) and evs[0].status == OrderStatus.OPEN
    fills = [e for e in evs if isinstance(e, Fill)]
    assert [(f.px, f.sz, f.maker) for f in fills] == [(1001, 1000, False)]
    assert venue.open_orders() == []


@pytest.mark.parametrize(("rate", "reason"), [("reject_rate", REJECT_REASON), ("http429_rate", HTTP429_REASON)])
def test_faults_apply_to_modifies(rate, reason):
    venue, _ = make()
    place(venue, 0)
    venue.p = dataclasses.replace(venue.p, **{rate: 1.0})
    venue.faults_on = True
    (ev,) = modify(venue, 100, 999)
    assert isinstance(ev, ModifyFailed) and ev.reason == reason
    assert venue.by_cloid["c1"].px == 1000
    assert venue.fault_counts


def test_timed_out_modify_is_applied_without_an_answer():
    venue, _ = make()
    place(venue, 0)
    venue.p = dataclasses.replace(venue.p, timeout_rate=1.0)
    venue.faults_on = True
    assert modify(venue, 100, 999) == []
    assert venue.by_cloid["c1"].px == 999
    snap = venue.reconcile_snapshot("b", 200, 0)
    assert [(o.cloid, o.px, o.sz) for o in snap.open_orders] == [("c1", 999, 100)]


def test_modified_order_persists_and_restores_at_its_new_place():
    venue, book = make(persist=True)
    place(venue, 0, "c1", px=1000)
    place(venue, 0, "c2", px=999)
    modify(venue, 100, 999, cloid="c1")
    rows = {}
    for r in venue.records:
        if isinstance(r, PaperOrderRow):
            rows[r.cloid] = r  # the upsert keeps the last row per cloid
    assert (rows["c1"].px_ticks, rows["c1"].open) == (999, 1) and rows["c1"].seq > rows["c2"].seq
    fresh = PaperVenue("paper", {"X": INST}, {"X": book}, venue.p, key="paper:default")
    fresh.restore([SimOrder(r.bot_id, r.coin, r.cloid, r.side, r.px_ticks, r.sz_lots, r.filled_lots, r.queue_ahead,
                            r.seq) for r in rows.values() if r.open], [])
    assert [o.cloid for o in fresh.resting["X"][BUY][999]] == ["c2", "c1"]


def test_paper_order_upsert_moves_price_size_and_seq():
    from mm_bot.store.db import open_db
    from mm_bot.store.writer import SyncWriter

    conn = open_db(":memory:")
    w = SyncWriter(conn)
    w.put(PaperOrderRow("k", "c1", "b", "X", BUY, 1000, 100, 0, 5.0, 3, 1, 10))
    w.put(PaperOrderRow("k", "c1", "b", "X", BUY, 999, 80, 10, 7.0, 9, 1, 20))
    w.flush()
    assert conn.execute("SELECT px_ticks, sz_lots, filled_lots, seq FROM paper_orders").fetchall() == [(999, 80, 10, 9)]


# ---------------------------------------------------------------- whole replays

ROOT = Path(__file__).resolve().parents[2]
BTC_FILE = ROOT.parent / "shared" / "data" / "binance-usdm" / "btcusdt_20240808.gz"
needs_data = pytest.mark.skipif(not BTC_FILE.exists(), reason=f"recorded data not found: {BTC_FILE}")


def _replay(tmp_path, **extra):
    from mm_bot.sim.replay_run import run_replay
    from mm_bot.store.db import open_db

    doc = json.loads((ROOT / "configs" / "example-mm.json").read_text())
    doc.update({"coins": ["BTCUSDT"], "requote_with_modify": True, "min_replace_ms": 500,
                "requote_threshold_bps": 1.0, **extra})
    p = tmp_path / "m.json"
    p.write_text(json.dumps(doc))
    cfg = load_config_file(p)
    conn = open_db(":memory:")
    res = run_replay([cfg], str(BTC_FILE), conn, seed=1, duration_s=90)
    return conn, res


def _check_db(conn: sqlite3.Connection) -> None:
    # Every order row's price is the last confirmed one: the placement's, or the last 'modified'.
    trades = conn.execute("SELECT cloid, kind, price, size FROM trades ORDER BY ts_ms, id").fetchall()
    modified = {c for (c,) in conn.execute("SELECT DISTINCT cloid FROM order_events WHERE event='modified'")}
    assert modified, "no modify took effect"
    placed = {c: px for c, k, px, _ in trades if k == "place"}
    asked: dict[str, list[float]] = {}
    for c, k, px, _ in trades:
        if k == "modify":
            asked.setdefault(c, []).append(px)
    for cloid, price in conn.execute("SELECT cloid, price FROM orders"):
        assert price == placed[cloid] or price in asked.get(cloid, []), cloid
        if cloid not in modified:
            assert price == placed[cloid]
    # Fills never exceed an order's size; filled orders are filled exactly.
    for cloid, size_lots, filled_lots, status in conn.execute("SELECT cloid, size_lots, filled_lots, status FROM orders"):
        got = conn.execute("SELECT COALESCE(SUM(size_lots), 0) FROM fills WHERE cloid=?", (cloid,)).fetchone()[0]
        assert got == filled_lots <= size_lots, cloid
        if status == "filled":
            assert filled_lots == size_lots
    # Positions reconcile with the fills, in lots.
    pos = conn.execute("SELECT size_lots FROM positions").fetchone()[0]
    net = conn.execute("SELECT COALESCE(SUM(CASE side WHEN 'buy' THEN size_lots ELSE -size_lots END), 0) "
                       "FROM fills").fetchone()[0]
    assert pos == net
    assert conn.execute("SELECT COUNT(*) FROM orders WHERE status IN ('open', 'partially_filled', 'pending')"
                        ).fetchone()[0] == 0


@needs_data
def test_replay_with_modify_amends_instead_of_cancelling_and_keeps_the_db_consistent(tmp_path):
    conn, res = _replay(tmp_path)
    assert res.ok
    amends = conn.execute("SELECT COUNT(*) FROM trades WHERE kind='modify'").fetchone()[0]
    cancels = conn.execute("SELECT COUNT(*) FROM trades WHERE kind='cancel'").fetchone()[0]
    assert amends > 10 and cancels <= 4  # the stop's cancels (and few fallbacks)
    assert conn.execute("SELECT COALESCE(SUM(amends), 0) FROM performance_metrics").fetchone()[0] >= amends
    _check_db(conn)
    bot = res.bots[0]
    assert bot.open_order_count() == 0 and len(bot.self_match) == 0


@needs_data
def test_replay_with_modify_under_faults_stays_consistent(tmp_path):
    conn, res = _replay(tmp_path, paper={"entry_latency_ms": 50, "response_latency_ms": 50, "maker_fee_bps": 1.5,
                                         "taker_fee_bps": 4.5, "reject_rate": 0.05, "http429_rate": 0.02,
                                         "timeout_rate": 0.05, "delayed_ack_rate": 0.05, "drop_fill_rate": 0.1})
    assert res.ok
    kinds = dict(conn.execute("SELECT json_extract(details_json, '$.fault'), COUNT(*) FROM system_events "
                              "WHERE kind='fault' GROUP BY 1").fetchall())
    assert kinds.get("timeout") and kinds.get("reject")
    _check_db(conn)
    bot = res.bots[0]
    assert bot.open_order_count() == 0
