"""Per-coin signals (core/signals.py) with hand-worked numbers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm_bot.core.book import L2Book
from mm_bot.core.signals import (
    MAKER_SHARE_HALF_LIFE_FILLS,
    NEUTRAL,
    QuoteSignals,
    SignalParams,
    SignalState,
    decay,
    flow_side,
    percentile,
)
from mm_bot.core.types import BUY, SELL, BookUpdate, TradePrint


def book_at(mid: int, spread: int = 2, bid_sz: int = 10, ask_sz: int = 10) -> L2Book:
    """A book whose mid is `mid` ticks (spread even) with one level per side."""
    b = L2Book("X")
    b.apply(BookUpdate("X", 0, ((mid - spread // 2, bid_sz),), ((mid + spread // 2, ask_sz),), snapshot=True))
    return b


def trade(ts: int, side: int, sz: int) -> TradePrint:
    return TradePrint("X", ts, 100, sz, side)


def test_neutral_signals():
    assert NEUTRAL == QuoteSignals(0.0, 0.0, 0.0, 0.0, "both")
    s = SignalState()
    assert s.signals(0) == NEUTRAL


def test_realized_vol_per_second():
    s = SignalState(SignalParams(vol_lookback_sec=10))
    s.on_book(0, book_at(100))
    s.on_book(500, book_at(150))  # under a second after the last sample: not sampled
    s.on_book(1000, book_at(101))
    s.on_book(2000, book_at(100))
    # returns ln(101/100) and ln(100/101): sqrt(2 x 0.00995033^2 / 2 s) = 0.00995033 = 99.5033 bps/s
    assert s.vol_bps(2000) == pytest.approx(math.log(1.01) * 1e4)
    assert s.signals(2000).vol_bps == pytest.approx(99.5033, abs=1e-3)
    # A 3 s gap: ln(101/100)^2 over 3 s adds to the sum of squares and to the seconds.
    s.on_book(5000, book_at(101))
    r = math.log(1.01)
    assert s.vol_bps(5000) == pytest.approx(math.sqrt(3 * r * r / 5) * 1e4)
    # Returns older than the 10 s lookback drop out: at 11 s only 1000 -> 2000 -> 5000 remain.
    assert s.vol_bps(11_000) == pytest.approx(math.sqrt(2 * r * r / 4) * 1e4)
    s.on_book(16_000, book_at(101))  # samples before 6 s are pruned
    assert s.vol_bps(16_000) == 0.0  # only the 16 s sample is left: no return
    s.on_book(17_000, book_at(101))
    assert s.vol_bps(17_000) == 0.0


def test_unusable_books_are_ignored():
    s = SignalState(SignalParams(dynamic_min_spread_enabled=True))
    crossed = L2Book("X")
    crossed.apply(BookUpdate("X", 0, ((101, 1),), ((100, 1),), snapshot=True))
    s.on_loop(0, None)
    s.on_loop(1000, crossed)
    assert s.loops == 2 and s.signals(1000) == NEUTRAL


def test_percentile_linear_interpolation():
    assert percentile([5, 1, 4, 2, 3], 50) == 3
    assert percentile([1, 2, 3, 4, 5], 90) == pytest.approx(4.6)  # rank 3.6
    assert percentile([1, 2, 3, 4, 5], 0) == 1 and percentile([1, 2, 3, 4, 5], 100) == 5
    assert percentile([7.0], 30) == 7.0 and percentile([], 50) == 0.0


def test_dynamic_floor_schedule_and_lookback():
    s = SignalState(SignalParams(dynamic_min_spread_enabled=True, dynamic_min_spread_percentile=50,
                                 dynamic_min_spread_lookback_loops=5, dynamic_min_spread_update_every_loops=3))
    floors = []
    for i, ticks in enumerate([2, 4, 6, 8, 10, 12, 14]):
        # mid 10000 ticks: a spread of d ticks is exactly d bps
        s.on_loop(i * 500, book_at(10_000, ticks))
        floors.append(s.signals(i * 500).dynamic_floor_bps)
    # loop 1: [2] -> 2; loops 2-3 wait; loop 4: [2,4,6,8] -> 5; loop 7: [6,8,10,12,14] -> 10
    assert floors == [pytest.approx(x) for x in [2, 2, 2, 5, 5, 5, 10]]
    off = SignalState(SignalParams(dynamic_min_spread_enabled=False))
    off.on_loop(0, book_at(10_000, 8))
    assert off.signals(0).dynamic_floor_bps == 0.0


def test_imbalance_over_levels():
    b = L2Book("X")
    b.apply(BookUpdate("X", 0, ((99, 30), (98, 30), (97, 100)), ((101, 20), (102, 20), (103, 100)), snapshot=True))
    s = SignalState(SignalParams(imbalance_levels=2))
    s.on_loop(0, b)
    assert s.signals(0).imbalance == pytest.approx((60 - 40) / 100)


def test_funding():
    s = SignalState()
    s.set_funding(0.000125)
    assert s.signals(0).funding_rate == 0.000125


def test_flow_ema_half_life():
    s = SignalState(SignalParams(ss_ma_half_life_sec=60))
    s.on_trade(trade(0, BUY, 10))
    assert s.flow(0) == (10.0, 0.0)
    assert s.flow(60_000) == pytest.approx((5.0, 0.0))  # one half-life
    assert s.flow(120_000) == pytest.approx((2.5, 0.0))
    s.on_trade(trade(60_000, SELL, 5))
    assert s.flow(60_000) == pytest.approx((5.0, 5.0))
    assert s.signed_flow(60_000) == pytest.approx(0.0)
    s.on_trade(trade(90_000, BUY, 4))  # both decay by 2^-0.5 = 0.70711 over 30 s
    assert s.flow(90_000) == pytest.approx((5 * 0.5**0.5 + 4, 5 * 0.5**0.5))
    assert decay(8.0, 120_000, 60_000) == 2.0


def test_flow_side_rule():
    assert flow_side(0, 0, 1.5) == "both"
    assert flow_side(10, 4, 1.5) == "bid"  # buyers 2.5x sellers: do not sell into them
    assert flow_side(4, 10, 1.5) == "ask"
    assert flow_side(10, 8, 1.5) == "both"  # 1.25 < 1.5
    assert flow_side(3, 0, 1.5) == "bid"
    assert flow_side(6, 6, 1.0) == "both"


def test_maker_share():
    s = SignalState()
    assert s.maker_share() == 1.0
    s.on_fill(True)
    assert s.maker_share() == 1.0
    s.on_fill(False)
    k = 0.5 ** (1 / MAKER_SHARE_HALF_LIFE_FILLS)
    assert s.maker_share() == pytest.approx(k / (1 + k))  # 0.4913


def test_flip_cooldown():
    p = SignalParams(single_sided_mode="auto", single_sided_flip_cooldown_loops=3, ss_ma_half_life_sec=60,
                     ss_ma_side_bias_ratio=1.5)
    s = SignalState(p)
    b = book_at(100)
    s.on_loop(0, b)
    assert s.side_mode == "both"
    s.on_trade(trade(100, BUY, 10))
    s.on_loop(500, b)  # loop 2: buyers dominate, first change is immediate
    assert s.signals(500).side_mode == "bid"
    s.on_trade(trade(600, SELL, 100))
    sides = []
    for i in range(3, 7):  # loops 3..6: sellers dominate; the change waits until loop 2 + 3 = 5
        s.on_loop(i * 500, b)
        sides.append(s.side_mode)
    assert sides == ["bid", "bid", "ask", "ask"]


def test_auto_market_aware_needs_maker_share():
    p = SignalParams(single_sided_mode="auto", single_sided_market_aware=True, ss_ma_min_maker_share=0.6,
                     single_sided_flip_cooldown_loops=0)
    s = SignalState(p)
    s.on_trade(trade(0, SELL, 10))
    s.on_loop(0, book_at(100))
    assert s.side_mode == "ask"
    for _ in range(3):
        s.on_fill(False)
    s.on_loop(500, book_at(100))
    assert s.side_mode == "both"  # our maker share fell below 0.6: quote both sides again
    # Without market awareness the flow rule alone decides.
    plain = SignalState(SignalParams(single_sided_mode="auto", single_sided_flip_cooldown_loops=0))
    plain.on_trade(trade(0, SELL, 10))
    for _ in range(3):
        plain.on_fill(False)
    plain.on_loop(0, book_at(100))
    assert plain.side_mode == "ask"


def test_static_modes_and_off():
    assert SignalState(SignalParams(single_sided_mode="bid")).signals(0).side_mode == "bid"
    s = SignalState(SignalParams(single_sided_mode="off"))
    s.on_trade(trade(0, BUY, 10))
    s.on_loop(0, book_at(100))
    assert s.side_mode == "both"


def test_params_from_config(tmp_path):
    from mm_bot.config import load_config_file

    path = tmp_path / "b.json"
    path.write_text('{"bot_id": "t", "coins": ["BTC"], "vol_lookback_sec": 120, "imbalance_levels": 3, '
                    '"single_sided_mode": "auto", "ss_ma_half_life_sec": 30, "dynamic_min_spread_enabled": true, '
                    '"per_coin": {"BTC": {"ss_ma_side_bias_ratio": 2.0}}}')
    p = SignalParams.from_config(load_config_file(path).for_coin("BTC"))
    assert (p.vol_lookback_sec, p.imbalance_levels, p.single_sided_mode, p.ss_ma_half_life_sec) == (120, 3, "auto", 30)
    assert p.dynamic_min_spread_enabled and p.ss_ma_side_bias_ratio == 2.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.sampled_from([BUY, SELL]), st.integers(1, 1000)), max_size=30))
def test_flow_decays_and_never_goes_negative(trades):
    s = SignalState(SignalParams(ss_ma_half_life_sec=5))
    t = 0
    for dt, side, sz in trades:
        t += dt
        s.on_trade(trade(t, side, sz))
    b, a = s.flow(t)
    assert b >= 0 and a >= 0
    later = s.flow(t + 5000)
    assert later[0] == pytest.approx(b / 2) and later[1] == pytest.approx(a / 2)
