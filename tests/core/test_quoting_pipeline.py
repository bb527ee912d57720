"""The quote pipeline (core/quoting.py): properties over random books, positions, params and
signals, and hand-worked numbers for each step."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mm_bot.core.book import L2Book
from mm_bot.core.quoting import (
    INV_SIZE_MAX_MULT,
    NEUTRAL,
    QuoteParams,
    QuoteSignals,
    RequotePolicy,
    half_spread_bps,
    keep_order,
    plan_quotes,
    requote_reason,
    skew_max_lots,
    target_quotes,
)
from mm_bot.core.rounding import min_lots, round_ticks
from mm_bot.core.types import BUY, SELL, BookUpdate, Instrument

BTC = Instrument("BTC", tick_size=1.0, lot_size=0.00001, min_notional_usd=10, max_sig_figs=5)
INSTRUMENTS = [
    BTC,
    Instrument("ETH", tick_size=0.1, lot_size=0.0001, min_notional_usd=10, max_sig_figs=5),
    Instrument("BTCUSDT", tick_size=0.1, lot_size=0.001),
    Instrument("kPEPE", tick_size=0.000001, lot_size=1.0, min_notional_usd=10, max_sig_figs=5),
    Instrument("XBTUSD", tick_size=0.5, lot_size=1.0, contract_size=1.0, inverse=True),
]
# A typical top-of-book price in ticks per instrument (the books below are drawn around it).
TYPICAL = {"BTC": 60_000, "ETH": 30_000, "BTCUSDT": 600_000, "kPEPE": 12_000, "XBTUSD": 120_000}


def make_book(bid: int, ask: int, bid_sizes=(1000,), ask_sizes=(1000,), ts: int = 0) -> L2Book:
    b = L2Book("X")
    b.apply(BookUpdate("X", ts, tuple((bid - i, s) for i, s in enumerate(bid_sizes)),
                       tuple((ask + i, s) for i, s in enumerate(ask_sizes)), snapshot=True))
    return b


@st.composite
def books(draw, inst: Instrument) -> L2Book:
    typical = TYPICAL[inst.coin]
    bid = draw(st.integers(typical // 2, typical * 2))
    spread = draw(st.integers(1, max(2, typical // 200)))
    sizes = st.lists(st.integers(1, 10**6), min_size=1, max_size=6)
    return make_book(bid, bid + spread, tuple(draw(sizes)), tuple(draw(sizes)))


params_st = st.builds(
    QuoteParams,
    min_spread_bps=st.floats(0, 60),
    reference=st.sampled_from(["mid", "microprice", "join_best"]),
    join_offset_ticks=st.integers(-5, 5),
    size_notional_usd=st.floats(1, 5000),
    fixed_size_lots=st.sampled_from([0, 0, 1, 7, 1000]),
    order_levels=st.integers(1, 4),
    level_spacing_bps=st.floats(0.001, 30),
    level_size_mult=st.floats(0.5, 2),
    max_position_lots=st.sampled_from([0, 0, 50, 5000]),
    fee_floor_bps=st.sampled_from([0.0, 0.0, 4.0]),
    width_vol_mult=st.floats(0, 3),
    inv_skew_strength=st.floats(0, 3),
    inv_skew_max_notional_usd=st.sampled_from([0.0, 500.0, 10_000.0]),
    imbalance_skew_strength=st.floats(0, 2),
    funding_bias_strength=st.floats(0, 5),
    single_sided_mode=st.sampled_from(["off", "off", "bid", "ask", "auto"]),
)
signals_st = st.builds(
    QuoteSignals,
    vol_bps=st.floats(0, 50),
    dynamic_floor_bps=st.floats(0, 40),
    imbalance=st.floats(-1, 1),
    funding_rate=st.floats(-0.001, 0.001),
    side_mode=st.sampled_from(["both", "bid", "ask"]),
)


@st.composite
def cases(draw):
    inst = draw(st.sampled_from(INSTRUMENTS))
    return inst, draw(books(inst)), draw(st.integers(-20_000, 20_000)), draw(params_st), draw(signals_st)


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(cases())
def test_quotes_are_sane_on_any_book(case):
    inst, book, pos, p, sig = case
    bb, ba = book.best_bid, book.best_ask
    plan = plan_quotes(inst, book, pos, p, sig)
    targets = {(side, level): t for side, level, t in plan.targets}
    quotes = target_quotes(inst, book, pos, p, sig)
    bids = [q for q in quotes if q.side == BUY]
    asks = [q for q in quotes if q.side == SELL]
    for q in quotes:
        # Post-only: never crosses or locks the book it was computed from.
        assert (q.px < ba) if q.side == BUY else (q.px > bb)
        assert q.px > 0
        # Whole lots, at least the venue minimum.
        assert isinstance(q.sz, int) and q.sz >= min_lots(inst, q.px) >= 1
        # Rounding and guards never make a quote more aggressive than its target.
        target = targets[(q.side, int(q.slot[1:]))]
        assert q.side * (target - q.px) >= -1e-6
        # On the venue's price grid.
        assert round_ticks(inst, q.px, q.side) == q.px
    # Our bid below our ask.
    if bids and asks:
        assert max(q.px for q in bids) < min(q.px for q in asks)
    # Levels never overlap: each bid strictly below the previous one, each ask strictly above.
    assert all(b.px < a.px for a, b in pairwise(bids))
    assert all(b.px > a.px for a, b in pairwise(asks))
    assert [q.slot for q in bids] == [f"b{i}" for i in range(len(bids))]
    assert [q.slot for q in asks] == [f"a{i}" for i in range(len(asks))]
    # Single-sided modes and the hard position stop.
    mode = sig.side_mode if p.single_sided_mode == "auto" else p.single_sided_mode
    if mode == "bid":
        assert not asks
    if mode == "ask":
        assert not bids
    if p.max_position_lots and pos >= p.max_position_lots:
        assert not bids
    if p.max_position_lots and -pos >= p.max_position_lots:
        assert not asks


@FAST
@given(cases())
def test_inventory_skew_leans_toward_reducing(case):
    inst, book, pos, p, _ = case
    p = QuoteParams(min_spread_bps=max(p.min_spread_bps, 0.5), reference="mid", order_levels=p.order_levels,
                    level_spacing_bps=p.level_spacing_bps, inv_skew_strength=max(p.inv_skew_strength, 0.01),
                    inv_skew_max_notional_usd=500.0, fixed_size_lots=p.fixed_size_lots or 100)
    assume(pos != 0)
    plan = plan_quotes(inst, book, pos, p)
    flat = plan_quotes(inst, book, 0, p)
    assert flat.reservation == pytest.approx(flat.ref)
    # The reservation price moves against the position.
    if pos > 0:
        assert plan.reservation < plan.ref
    else:
        assert plan.reservation > plan.ref
    # The side that adds exposure gets smaller, the reducing side larger, both bounded.
    adding, reducing = (BUY, SELL) if pos > 0 else (SELL, BUY)
    assert 0.0 <= plan.mult(adding) < 1.0 < plan.mult(reducing) <= INV_SIZE_MAX_MULT
    # And so do the quotes (an instrument without a minimum notional, fixed sizes).
    free = Instrument(inst.coin, inst.tick_size, inst.lot_size, max_sig_figs=inst.max_sig_figs)
    qs = target_quotes(free, book, pos, p)
    sizes = {q.side: q.sz for q in qs if q.slot[1:] == "0"}
    assert sizes[reducing] >= p.fixed_size_lots
    assert sizes.get(adding, 0) <= p.fixed_size_lots
    # Prices lean the same way against the flat quotes (when the half-spread spans ticks).
    assume(flat.ref * flat.half_bps / 1e4 >= 2)
    flat_q = {q.slot: q.px for q in target_quotes(free, book, 0, p)}
    for q in qs:
        if pos > 0:
            assert q.px <= flat_q[q.slot]
        else:
            assert q.px >= flat_q[q.slot]


@FAST
@given(cases())
def test_skews_never_pass_the_reference(case):
    inst, book, pos, p, sig = case
    plan = plan_quotes(inst, book, pos, p, sig)
    assert abs(plan.shift_bps) <= plan.half_bps + 1e-12
    if p.reference != "join_best":
        for side, _level, target in plan.targets:
            assert side * (plan.ref - target) >= -1e-6


# ---------------------------------------------------------------- hand-worked numbers

BOOK = make_book(60000, 60001, (100000,), (100000,))  # mid 60000.5


def test_defaults_keep_the_first_quote_rule():
    qs = target_quotes(BTC, BOOK, 0, QuoteParams(min_spread_bps=10, size_notional_usd=100))
    assert [(q.side, q.px, q.sz) for q in qs] == [(BUY, 59970, 166), (SELL, 60031, 166)]
    assert qs == target_quotes(BTC, BOOK, 0, QuoteParams(min_spread_bps=10, size_notional_usd=100), NEUTRAL, 0)


def test_half_spread_is_the_largest_floor():
    p = QuoteParams(min_spread_bps=10, width_vol_mult=2.0, fee_floor_bps=4.0)
    assert half_spread_bps(p) == 5.0
    assert half_spread_bps(p, QuoteSignals(vol_bps=4.0)) == 8.0  # 2 x 4 bps of vol
    assert half_spread_bps(p, QuoteSignals(vol_bps=1.0, dynamic_floor_bps=20.0)) == 10.0  # floor 20 / 2
    assert half_spread_bps(QuoteParams(min_spread_bps=1, fee_floor_bps=4)) == 2.0
    # 8 bps of 60000.5 = 48.0004: bid floor(59952.4996) = 59952, ask ceil(60048.5004) = 60049
    qs = target_quotes(BTC, BOOK, 0, p, QuoteSignals(vol_bps=4.0))
    assert [q.px for q in qs] == [59952, 60049]


def test_inventory_skew_numbers():
    # Max position: 600 USD at the mid = 1000 lots of 0.00001 BTC.
    p = QuoteParams(min_spread_bps=10, size_notional_usd=100, inv_skew_strength=0.5,
                    inv_skew_max_notional_usd=600)
    assert skew_max_lots(BTC, p, 60000.5) == 1000
    assert skew_max_lots(BTC, p, 60000.5, max_position_lots=400) == 400
    plan = plan_quotes(BTC, BOOK, 500, p)  # half the max: q = 0.5
    assert plan.inv_ratio == 0.5
    assert plan.inv_bps == pytest.approx(-1.25)  # -0.5 x 0.5 x 5 bps
    assert plan.size_mult == (0.75, 1.25)
    qs = target_quotes(BTC, BOOK, 500, p)
    # bid 60000.5 x (1 - 6.25e-4) = 59962.99969 -> 59962; ask x (1 + 3.75e-4) = 60023.00019 -> 60024
    # sizes: 75 USD / 59962 -> 125 lots; 125 USD / 60024 -> 208 lots
    assert [(q.side, q.px, q.sz) for q in qs] == [(BUY, 59962, 125), (SELL, 60024, 208)]
    # Beyond the max: q clamps to 1, the adding side shrinks to 0.5 and the reducing side to 1.5.
    plan = plan_quotes(BTC, BOOK, -5000, p)
    assert plan.inv_ratio == -1.0 and plan.size_mult == (1.5, 0.5)
    # Strength 1 at the max drops the adding side entirely.
    strong = QuoteParams(min_spread_bps=10, inv_skew_strength=1.0, inv_skew_max_notional_usd=600)
    assert [q.side for q in target_quotes(BTC, BOOK, 1000, strong)] == [SELL]


def test_imbalance_skew_numbers():
    p = QuoteParams(min_spread_bps=10, imbalance_skew_strength=1.0)
    plan = plan_quotes(BTC, BOOK, 0, p, QuoteSignals(imbalance=0.5))
    assert plan.imbalance_bps == pytest.approx(2.5) and plan.shift_bps == pytest.approx(2.5)
    # bid 60000.5 x (1 - 2.5e-4) = 59985.49988 -> 59985; ask x (1 + 7.5e-4) = 60045.50038 -> 60046
    assert [q.px for q in target_quotes(BTC, BOOK, 0, p, QuoteSignals(imbalance=0.5))] == [59985, 60046]


def test_funding_bias_leans_against_the_paying_side():
    p = QuoteParams(min_spread_bps=10, funding_bias_strength=2.0)
    # Longs pay 1 bps per interval: lean short by 2 x 1 bps.
    plan = plan_quotes(BTC, BOOK, 0, p, QuoteSignals(funding_rate=0.0001))
    assert plan.funding_bps == pytest.approx(-2.0)
    # bid 60000.5 x (1 - 7e-4) = 59958.49965 -> 59958; ask x (1 + 3e-4) = 60018.50015 -> 60019
    assert [q.px for q in target_quotes(BTC, BOOK, 0, p, QuoteSignals(funding_rate=0.0001))] == [59958, 60019]
    # Shorts pay: lean long. Unknown funding (0): no bias.
    assert plan_quotes(BTC, BOOK, 0, p, QuoteSignals(funding_rate=-0.0001)).shift_bps == pytest.approx(2.0)
    assert plan_quotes(BTC, BOOK, 0, p).shift_bps == 0.0
    # The combined skew is clamped to the half-spread.
    assert plan_quotes(BTC, BOOK, 0, p, QuoteSignals(funding_rate=0.01)).shift_bps == pytest.approx(-5.0)


def test_single_sided_modes():
    p = QuoteParams(min_spread_bps=10)
    assert [q.side for q in target_quotes(BTC, BOOK, 0, QuoteParams(min_spread_bps=10, single_sided_mode="bid"))] \
        == [BUY]
    assert [q.side for q in target_quotes(BTC, BOOK, 0, QuoteParams(min_spread_bps=10, single_sided_mode="ask"))] \
        == [SELL]
    auto = QuoteParams(min_spread_bps=10, single_sided_mode="auto")
    assert [q.side for q in target_quotes(BTC, BOOK, 0, auto, QuoteSignals(side_mode="ask"))] == [SELL]
    assert [q.side for q in target_quotes(BTC, BOOK, 0, auto)] == [BUY, SELL]
    # The signal's side is ignored unless the mode is auto.
    assert [q.side for q in target_quotes(BTC, BOOK, 0, p, QuoteSignals(side_mode="ask"))] == [BUY, SELL]


def test_join_best_respects_the_half_spread():
    jb = QuoteParams(min_spread_bps=0, reference="join_best")
    assert [q.px for q in target_quotes(BTC, BOOK, 0, jb)] == [60000, 60001]
    # With a 10 bps minimum the touch is too close: the half-spread wins.
    wide = QuoteParams(min_spread_bps=10, reference="join_best")
    assert [q.px for q in target_quotes(BTC, BOOK, 0, wide)] == [59970, 60031]
    # On a wide market the touch is further out than the half-spread: join it (offset 2 behind).
    wide_book = make_book(59900, 60100)
    off = QuoteParams(min_spread_bps=10, reference="join_best", join_offset_ticks=2)
    assert [q.px for q in target_quotes(BTC, wide_book, 0, off)] == [59898, 60102]


def test_levels_and_zero_half_spread():
    p = QuoteParams(min_spread_bps=10, order_levels=3, level_spacing_bps=5, level_size_mult=2.0, fixed_size_lots=100)
    qs = target_quotes(BTC, BOOK, 0, p)
    assert [(q.slot, q.px, q.sz) for q in qs] == [
        ("b0", 59970, 100), ("b1", 59940, 200), ("b2", 59910, 400),
        ("a0", 60031, 100), ("a1", 60061, 200), ("a2", 60091, 400),
    ]
    # Spacing below a tick: levels are pushed one tick apart.
    tiny = QuoteParams(min_spread_bps=10, order_levels=3, level_spacing_bps=0.01)
    assert [q.px for q in target_quotes(BTC, BOOK, 0, tiny)] == [59970, 59969, 59968, 60031, 60032, 60033]
    # Zero half-spread on a 2-tick market whose mid is a tick: our bid and ask would meet.
    qs = target_quotes(BTC, make_book(59999, 60001), 0, QuoteParams(min_spread_bps=0))
    assert [q.px for q in qs] == [60000, 60001]


# ---------------------------------------------------------------- requote policy

POLICY = RequotePolicy(move_threshold_ticks=10, requote_threshold_bps=0, stale_order_seconds=60,
                       proximity_guard_bps=1.0)


def test_requote_moved_and_stale():
    assert requote_reason(BUY, 59970, 0, 59975, 1000, 60000, 60001, POLICY) is None
    assert requote_reason(BUY, 59970, 0, 59981, 1000, 60000, 60001, POLICY) == "moved"
    # requote_threshold_bps keeps an order that moved more ticks but few bps: 11 ticks = 1.83 bps
    loose = RequotePolicy(move_threshold_ticks=10, requote_threshold_bps=2.0)
    assert requote_reason(BUY, 59970, 0, 59981, 1000, 60000, 60001, loose) is None
    assert requote_reason(BUY, 59970, 0, 59983, 1000, 60000, 60001, loose) == "moved"  # 13 ticks = 2.17 bps
    assert requote_reason(SELL, 60031, 0, 60031, 60_000, 60000, 60001, POLICY) == "stale"
    assert requote_reason(SELL, 60031, 0, 60031, 59_999, 60000, 60001, POLICY) is None


def test_proximity_guard():
    # The market fell: best ask 59995 is 5 ticks (0.833 bps) above our bid at 59990.
    assert requote_reason(BUY, 59990, 0, 59985, 1000, 59994, 59995, POLICY) == "proximity"
    assert not keep_order(BUY, 59990, 0, 59985, 1000, 59994, 59995, POLICY)
    # The target is no more passive than the order: replacing it would change nothing.
    assert requote_reason(BUY, 59990, 0, 59990, 1000, 59994, 59995, POLICY) is None
    # Further than the guard (7 ticks = 1.167 bps), or the guard off.
    assert requote_reason(BUY, 59990, 0, 59985, 1000, 59996, 59997, POLICY) is None
    off = RequotePolicy(move_threshold_ticks=10)
    assert requote_reason(BUY, 59990, 0, 59985, 1000, 59994, 59995, off) is None
    # The ask side against the best bid: bid 60005 is 5 ticks below our ask at 60010.
    assert requote_reason(SELL, 60010, 0, 60015, 1000, 60005, 60006, POLICY) == "proximity"
    assert requote_reason(SELL, 60010, 0, 60015, 1000, 60003, 60006, POLICY) is None  # 7 ticks


def test_quote_params_from_config(tmp_path):
    from mm_bot.config import load_config_file
    from mm_bot.core.bot import quote_params

    path = tmp_path / "b.json"
    path.write_text('{"bot_id": "t", "coins": ["BTC"], "width_vol_mult": 1.5, "inv_skew_strength": 0.3, '
                    '"imbalance_skew_strength": 0.2, "funding_bias_strength": 4, "single_sided_mode": "auto", '
                    '"max_per_coin_notional": 800, "size_notional_usd": 50}')
    cfg = load_config_file(path).for_coin("BTC")
    p = quote_params(cfg, BTC, 1.5)
    assert (p.width_vol_mult, p.inv_skew_strength, p.imbalance_skew_strength, p.funding_bias_strength) == \
        (1.5, 0.3, 0.2, 4)
    assert p.single_sided_mode == "auto" and p.inv_skew_max_notional_usd == 800
    assert math.isclose(p.fee_floor_bps, 2 * 1.5 + cfg.min_spread_guard_buffer_bps)
