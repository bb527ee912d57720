"""Tests for mm_bot.core.exits: flatten, bailout timing, take profit and its ladder."""

from __future__ import annotations

import json

import pytest

from mm_bot.config import load_config_file
from mm_bot.core.book import L2Book
from mm_bot.core.exits import (
    BailoutParams,
    BailoutTracker,
    ExitOrder,
    ExitResult,
    LadderParams,
    TakeProfitLadder,
    TakeProfitParams,
    TpStep,
    adverse_bps,
    flatten_order,
    take_profit,
    take_profit_gain,
)
from mm_bot.core.types import BUY, SELL, BookUpdate, Instrument, Tif

INST = Instrument("X", tick_size=0.1, lot_size=0.001)
TP_INST = Instrument("X", tick_size=0.1, lot_size=0.01)
T0 = 1_700_000_000_000


def book(bid: int, ask: int) -> L2Book:
    b = L2Book("X")
    b.apply(BookUpdate("X", T0, ((bid, 5),), ((ask, 5),), snapshot=True))
    return b


# ---------------------------------------------------------------- flatten


def test_flatten_limit_is_slippage_through_mid_rounded_not_worse():
    bk = book(999, 1001)  # mid 100.0, spread 20 bps
    o = flatten_order(INST, 10, bk, max_spread_bps=50, max_slippage_bps=25)
    # sell: 100 x (1 - 0.0025) = 99.75 -> 997.5 ticks -> up to 998 (never below the bound)
    assert o == ExitOrder(SELL, 10, 998, Tif.IOC, "flatten")
    assert o.reduce_only
    o = flatten_order(INST, -10, bk, max_spread_bps=50, max_slippage_bps=25)
    assert (o.side, o.lots, o.limit_px) == (BUY, 10, 1002)  # 100.25 -> 1002.5 -> down to 1002
    o = flatten_order(INST, -10, bk, 50, 25, lots=4, reason="x")
    assert (o.lots, o.reason) == (4, "x")


def test_flatten_refuses_wide_spread_flat_and_bad_book():
    bk = book(999, 1001)  # 20 bps
    assert flatten_order(INST, 10, bk, max_spread_bps=19.9, max_slippage_bps=25) is None
    assert flatten_order(INST, 10, bk, max_spread_bps=20.0, max_slippage_bps=25) is not None
    assert flatten_order(INST, 0, bk, 50, 25) is None
    assert flatten_order(INST, 10, L2Book("X"), 50, 25) is None
    assert flatten_order(INST, 10, None, 50, 25) is None


# ---------------------------------------------------------------- bailout

BP = BailoutParams(partial_mae_bps=30, full_mae_bps=60, partial_min_seconds=30, full_max_seconds=300,
                   reduce_fraction=0.5, max_spread_bps=50, max_slippage_bps=25)


def test_adverse_bps():
    assert adverse_bps(5, 100.0, 99.65) == pytest.approx(35)
    assert adverse_bps(-5, 100.0, 99.65) == pytest.approx(-35)
    assert adverse_bps(-5, 100.0, 100.35) == pytest.approx(35)
    assert adverse_bps(0, 100.0, 90.0) == 0.0


def test_bailout_partial_after_min_seconds_then_full_after_max_seconds():
    tr = BailoutTracker(BP)
    under = book(996, 997)  # mid 99.65: 35 bps under a 100.0 entry
    assert tr.update(T0, INST, 10, 100.0, under) is None
    assert tr.beyond_since_ms == T0
    assert tr.update(T0 + 29_999, INST, 10, 100.0, under) is None
    o = tr.update(T0 + 30_000, INST, 10, 100.0, under)
    # half of 10 lots; limit 99.65 x 0.9975 = 99.4009 -> 994.009 ticks -> up to 995
    assert (o.side, o.lots, o.limit_px, o.tif) == (SELL, 5, 995, Tif.IOC)
    assert o.reason.startswith("bailout_partial")
    assert tr.update(T0 + 31_000, INST, 5, 100.0, under) is None  # once per episode
    assert tr.update(T0 + 299_999, INST, 5, 100.0, under) is None
    o = tr.update(T0 + 300_000, INST, 5, 100.0, under)
    assert (o.lots, o.limit_px) == (5, 995) and o.reason.startswith("bailout_full")
    assert tr.update(T0 + 300_999, INST, 5, 100.0, under) is None  # retry_ms
    assert tr.update(T0 + 301_000, INST, 2, 100.0, under).lots == 2
    assert tr.mae_bps == pytest.approx(35)


def test_bailout_full_at_once_past_full_threshold():
    tr = BailoutTracker(BP)
    o = tr.update(T0, INST, -8, 100.0, book(1006, 1007))  # short, mid 100.65: 65 bps adverse
    assert (o.side, o.lots) == (BUY, 8) and o.reason.startswith("bailout_full")
    assert o.limit_px == 1009  # 100.65 x 1.0025 = 100.9016 -> 1009.016 ticks -> down to 1009


def test_bailout_episode_resets_on_recovery_and_flip():
    tr = BailoutTracker(BP)
    under = book(996, 997)
    tr.update(T0, INST, 10, 100.0, under)
    assert tr.update(T0 + 20_000, INST, 10, 100.0, book(999, 1001)) is None  # back above: episode ends
    assert tr.beyond_since_ms is None
    assert tr.update(T0 + 21_000, INST, 10, 100.0, under) is None  # timer restarts
    assert tr.update(T0 + 50_999, INST, 10, 100.0, under) is None
    assert tr.update(T0 + 51_000, INST, 10, 100.0, under).lots == 5
    # position flips to short: new episode (short at 100 with mid 99.65 is in profit)
    assert tr.update(T0 + 52_000, INST, -4, 100.0, under) is None
    assert tr.beyond_since_ms is None and not tr.partial_done


def test_bailout_waits_for_spread():
    tr = BailoutTracker(BP)
    tr.update(T0, INST, 10, 100.0, book(996, 997))
    wide = book(990, 1003)  # mid 99.65, spread ~130 bps > 50
    assert tr.update(T0 + 30_000, INST, 10, 100.0, wide) is None
    assert not tr.partial_done
    assert tr.update(T0 + 30_500, INST, 10, 100.0, book(996, 997)).lots == 5


# ---------------------------------------------------------------- take profit


def test_take_profit_thresholds_after_taker_fee():
    bk = book(1002, 1003)  # long 1.0 at 100.0, bid 100.2: 20 bps - 4.5 fee = 15.5 bps
    g = take_profit_gain(TP_INST, 100, 100.0, bk, 4.5)
    assert g.bps == pytest.approx(15.5)
    assert g.usd == pytest.approx(0.2 - 100.2 * 4.5e-4)  # 0.15491
    p = TakeProfitParams(min_bps=10, min_usd=0.1, taker_fee_bps=4.5)
    o = take_profit(TP_INST, 100, 100.0, bk, p)
    assert (o.side, o.lots, o.limit_px, o.tif) == (SELL, 100, 1002, Tif.IOC)
    assert o.reason.startswith("take_profit") and o.reduce_only
    assert take_profit(TP_INST, 100, 100.0, bk, TakeProfitParams(10, 0.16, 4.5)) is None  # USD short
    assert take_profit(TP_INST, 100, 100.0, bk, TakeProfitParams(15.6, 0.1, 4.5)) is None  # bps short
    assert take_profit(TP_INST, 0, 100.0, bk, p) is None


def test_take_profit_short_and_emergency():
    bk = book(997, 998)  # short 1.0 at 100.0, ask 99.8
    g = take_profit_gain(TP_INST, -100, 100.0, bk, 4.5)
    assert g.bps == pytest.approx(15.5) and g.usd == pytest.approx(0.2 - 99.8 * 4.5e-4)
    o = take_profit(TP_INST, -100, 100.0, bk, TakeProfitParams(10, 0.1, 4.5))
    assert (o.side, o.limit_px) == (BUY, 998)
    # bps below the threshold, but the emergency take profit fires on USD alone.
    p = TakeProfitParams(min_bps=50, min_usd=0.1, taker_fee_bps=4.5, emergency_enabled=True,
                         emergency_min_usd=0.15)
    o = take_profit(TP_INST, -100, 100.0, bk, p)
    assert o is not None and o.reason.startswith("emergency_take_profit")
    p = TakeProfitParams(50, 0.1, 4.5, emergency_enabled=True, emergency_min_usd=0.16)
    assert take_profit(TP_INST, -100, 100.0, bk, p) is None
    p = TakeProfitParams(50, 0.1, 4.5, emergency_enabled=False, emergency_min_usd=0.15)
    assert take_profit(TP_INST, -100, 100.0, bk, p) is None


def test_enhanced_take_profit_ladder():
    bk = book(1002, 1003)  # mid 100.25; bound 100.25 x 0.9975 = 99.999 -> 999.99 ticks -> 1000
    lad = TakeProfitLadder(LadderParams(max_slippage_bps=25, maker_wait_ms=2_000, gtc_wait_ms=5_000))
    assert not lad.active and lad.order(T0, TP_INST, 100, bk) is None
    lad.start()
    assert lad.step == TpStep.MAKER_TOUCH
    assert lad.order(T0, TP_INST, 100, bk) == ExitOrder(SELL, 100, 1003, Tif.ALO, "take_profit_maker_touch",
                                                        expires_ms=T0 + 2_000)
    assert lad.on_result(ExitResult.NOTHING) == TpStep.IOC_TOUCH
    o = lad.order(T0, TP_INST, 100, bk)
    assert (o.limit_px, o.tif, o.lots) == (1002, Tif.IOC, 100)
    assert lad.on_result(ExitResult.PARTIAL) == TpStep.IOC_TOUCH  # same step, what is left
    assert lad.order(T0, TP_INST, 60, bk).lots == 60
    assert lad.on_result(ExitResult.NOTHING) == TpStep.IOC_SLIPPAGE
    o = lad.order(T0, TP_INST, 60, bk)
    assert (o.limit_px, o.tif) == (1000, Tif.IOC)
    assert lad.on_result(ExitResult.NOTHING) == TpStep.GTC_AGGRESSIVE
    o = lad.order(T0 + 10, TP_INST, 60, bk)
    assert (o.limit_px, o.tif, o.expires_ms) == (1000, Tif.GTC, T0 + 5_010)
    assert lad.on_result(ExitResult.NOTHING) == TpStep.IDLE
    assert lad.order(T0, TP_INST, 60, bk) is None


def test_ladder_filled_taker_first_and_flat():
    bk = book(997, 998)
    lad = TakeProfitLadder(LadderParams(max_slippage_bps=25, maker_first=False))
    lad.start()
    o = lad.order(T0, TP_INST, -100, bk)
    assert (o.side, o.limit_px, o.tif) == (BUY, 998, Tif.IOC)
    assert lad.on_result(ExitResult.FILLED) == TpStep.IDLE
    lad.start()
    assert lad.order(T0, TP_INST, 0, bk) is None and not lad.active
    assert lad.on_result(ExitResult.NOTHING) == TpStep.IDLE


def test_params_from_config(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"bot_id": "b", "coins": ["BTC"],
                                "per_coin": {"BTC": {"bailout_full_mae_bps": 90}}}))
    cfg = load_config_file(path).for_coin("BTC")
    bp = BailoutParams.from_config(cfg)
    assert bp.full_mae_bps == 90 and bp.partial_mae_bps == cfg.bailout_partial_mae_bps
    assert bp.max_slippage_bps == cfg.flatten_max_slippage_bps
    tp = TakeProfitParams.from_config(cfg, taker_fee_bps=4.5)
    assert (tp.min_bps, tp.min_usd, tp.taker_fee_bps) == (cfg.take_profit_min_bps, cfg.take_profit_min_usd, 4.5)
    assert LadderParams.from_config(cfg).max_slippage_bps == cfg.flatten_max_slippage_bps
