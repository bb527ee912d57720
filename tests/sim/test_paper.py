"""Fill rules of the paper venue, each pinned on a hand-made tape."""

from __future__ import annotations

import pytest

from mm_bot.core.book import L2Book
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
from mm_bot.sim.paper import PaperParams, PaperVenue

INST = Instrument("X", tick_size=0.1, lot_size=0.001)


def make(params: PaperParams | None = None, bids=((1000, 5000),), asks=((1001, 5000),)):
    book = L2Book("X")
    venue = PaperVenue("paper", {"X": INST}, {"X": book}, params or PaperParams(
        entry_latency_ms=10, response_latency_ms=10, maker_fee_bps=0, taker_fee_bps=0))
    snap = BookUpdate("X", 0, tuple(bids), tuple(asks), snapshot=True)
    venue.on_book_update(snap)
    book.apply(snap)
    return venue, book


def book_update(venue, book, t, bids=(), asks=(), snapshot=False):
    ev = BookUpdate("X", t, tuple(bids), tuple(asks), snapshot)
    venue.on_book_update(ev)
    book.apply(ev)
    venue.after_book_update("X", t)


def place(venue, t, side, px, sz, cloid="c1", tif=Tif.ALO):
    venue.submit(Place("b", "X", cloid, side, px, sz, tif), t)
    return venue.advance(t + 10)


def fills(events):
    return [e for e in events if isinstance(e, Fill)]


def test_queue_consumed_by_trades_at_price_then_fill():
    venue, book = make()
    place(venue, 0, BUY, 1000, 100)  # arrives at 10 behind 5000 lots
    venue.on_trade(TradePrint("X", 20, 1000, 3000, SELL))
    assert fills(venue.advance(100)) == []
    assert venue.by_cloid["c1"].queue_ahead == 2000
    venue.on_trade(TradePrint("X", 30, 1000, 2050, SELL))
    got = fills(venue.advance(100))
    assert [(f.sz, f.maker, f.remaining) for f in got] == [(50, True, 50)]


def test_partial_fill_keeps_queue_position_and_rest():
    venue, book = make(bids=((1000, 0),))
    book_update(venue, book, 1, bids=((1000, 0),))
    place(venue, 0, BUY, 1000, 100)
    venue.on_trade(TradePrint("X", 20, 1000, 30, SELL))
    venue.on_trade(TradePrint("X", 21, 1000, 30, SELL))
    got = fills(venue.advance(100))
    assert [f.sz for f in got] == [30, 30]
    assert venue.by_cloid["c1"].filled == 60


def test_trade_through_fills_whole_order():
    venue, book = make()
    place(venue, 0, BUY, 1000, 100)
    venue.on_trade(TradePrint("X", 20, 999, 1, SELL))
    got = fills(venue.advance(100))
    assert [(f.sz, f.px, f.maker) for f in got] == [(100, 1000, True)]
    assert venue.open_orders() == []


def test_book_crossing_price_fills():
    venue, book = make()
    place(venue, 0, SELL, 1005, 100)
    book_update(venue, book, 20, bids=((1005, 10), (1006, 10)), asks=((1007, 10),))
    got = fills(venue.advance(100))
    assert [(f.sz, f.px, f.side) for f in got] == [(100, 1005, SELL)]


def test_post_only_rejected_when_crossing():
    venue, book = make()
    evs = place(venue, 0, BUY, 1001, 100)  # at the best ask
    evs += venue.advance(100)
    acks = [e for e in evs if isinstance(e, OrderAck)]
    assert acks and acks[0].status == OrderStatus.REJECTED
    assert fills(evs) == []


def test_cancel_loses_race_to_fill():
    venue, book = make(bids=((999, 10),))
    place(venue, 0, BUY, 1000, 100)  # rests at 10, queue 0
    venue.submit(Cancel("b", "X", "c1"), 15)  # arrives at 25
    venue.on_trade(TradePrint("X", 20, 1000, 500, SELL))  # fills before the cancel arrives
    evs = venue.advance(100)
    assert [f.sz for f in fills(evs)] == [100]
    acks = [e for e in evs if isinstance(e, OrderAck) and e.status == OrderStatus.CANCELLED]
    assert acks and acks[0].reason.startswith("cancel: order not open")


def test_cancel_wins_when_it_arrives_first():
    venue, book = make(bids=((999, 10),))
    place(venue, 0, BUY, 1000, 100)
    venue.submit(Cancel("b", "X", "c1"), 11)  # arrives at 21
    venue.advance(21)
    venue.on_trade(TradePrint("X", 22, 1000, 500, SELL))
    assert fills(venue.advance(100)) == []


def test_taker_walks_three_levels_and_pays_taker_fee():
    p = PaperParams(entry_latency_ms=0, response_latency_ms=0, maker_fee_bps=1.5, taker_fee_bps=4.5)
    venue, book = make(p, asks=((1001, 10), (1002, 20), (1003, 30), (1004, 40)))
    venue.submit(Place("b", "X", "t1", BUY, 1003, 55, Tif.IOC), 0)
    got = fills(venue.advance(0))
    assert [(f.px, f.sz, f.maker) for f in got] == [(1001, 10, False), (1002, 20, False), (1003, 25, False)]
    fee = sum(f.fee_usd for f in got)
    notional = sum(INST.notional_usd(f.px, f.sz) for f in got)
    assert fee == pytest.approx(notional * 4.5e-4)


def test_rebate_is_negative_fee():
    p = PaperParams(entry_latency_ms=0, response_latency_ms=0, maker_fee_bps=-0.2, taker_fee_bps=4.5)
    venue, book = make(p)
    place(venue, 0, BUY, 1000, 100)
    venue.on_trade(TradePrint("X", 20, 999, 1, SELL))
    (f,) = fills(venue.advance(100))
    assert f.fee_usd < 0
    assert f.fee_usd == pytest.approx(-INST.notional_usd(1000, 100) * 0.2e-4)


@pytest.mark.parametrize("model,expected", [("risk_averse", 1000.0), ("power", None), ("log", None)])
def test_queue_models_on_the_same_tape(model, expected):
    p = PaperParams(entry_latency_ms=0, response_latency_ms=0, maker_fee_bps=0, taker_fee_bps=0,
                    queue_model=model, queue_power_n=2.0)
    venue, book = make(p, bids=((1000, 1000),))
    place(venue, 0, BUY, 1000, 10)
    # 600 lots join behind us, then 400 lots are cancelled somewhere in the level.
    book_update(venue, book, 5, bids=((1000, 1600),))
    book_update(venue, book, 6, bids=((1000, 1200),))
    q = venue.by_cloid["c1"].queue_ahead
    if expected is not None:
        assert q == expected
    else:
        assert 600.0 <= q < 1000.0  # some of the cancel is attributed to the front
    # A level that shrinks below our queue caps it.
    book_update(venue, book, 7, bids=((1000, 300),))
    assert venue.by_cloid["c1"].queue_ahead <= 300


def test_power_model_moves_more_than_log_when_front_is_large():
    def q_after(model):
        p = PaperParams(entry_latency_ms=0, response_latency_ms=0, queue_model=model, queue_power_n=3.0)
        venue, book = make(p, bids=((1000, 900),))
        place(venue, 0, BUY, 1000, 10)
        book_update(venue, book, 5, bids=((1000, 1000),))  # 100 behind us
        book_update(venue, book, 6, bids=((1000, 800),))
        return venue.by_cloid["c1"].queue_ahead
    assert q_after("power") < q_after("log") < 900


def test_trade_size_decrease_is_not_counted_twice():
    p = PaperParams(entry_latency_ms=0, response_latency_ms=0, queue_model="power", queue_power_n=1.0)
    venue, book = make(p, bids=((1000, 1000),))
    place(venue, 0, BUY, 1000, 10)
    venue.on_trade(TradePrint("X", 5, 1000, 300, SELL))
    book_update(venue, book, 6, bids=((1000, 700),))
    assert venue.by_cloid["c1"].queue_ahead == 700


def test_no_partial_fills_option_fills_whole_order_once_queue_gone():
    p = PaperParams(entry_latency_ms=0, response_latency_ms=0, partial_fills=False)
    venue, book = make(p, bids=((1000, 50),))
    place(venue, 0, BUY, 1000, 100)
    venue.on_trade(TradePrint("X", 5, 1000, 60, SELL))
    got = fills(venue.advance(10))
    assert [f.sz for f in got] == [100]


def test_fill_ids_unique_and_ledger_matches():
    venue, book = make(bids=((1000, 0),))
    place(venue, 0, BUY, 1000, 100, "a")
    place(venue, 0, SELL, 1001, 40, "b")
    venue.on_trade(TradePrint("X", 20, 1000, 30, SELL))
    venue.on_trade(TradePrint("X", 21, 1000, 30, SELL))
    venue.on_trade(TradePrint("X", 22, 1001, 10, BUY))
    got = fills(venue.advance(100))
    ids = [f.fill_id for f in got]
    assert len(ids) == len(set(ids))
    assert venue.ledger[("b", "X")] == sum(f.side * f.sz for f in got)
