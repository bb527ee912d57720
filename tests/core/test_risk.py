"""Tests for mm_bot.core.risk: VaR, return sampling, pre-trade caps, loss guard."""

from __future__ import annotations

import json

import pytest

from mm_bot.config import load_config_file
from mm_bot.core.risk import (
    DAY_MS,
    Allow,
    Block,
    CoinExposure,
    LossGuard,
    LossLimits,
    MarginMode,
    OrderIntent,
    PreTradeCheck,
    ReturnTracker,
    RiskLimits,
    RiskState,
    gross_notional_usd,
    historical_var95,
    portfolio_var95,
)
from mm_bot.core.types import BUY, SELL, Instrument

# One lot of BTC at a mark of 100000 ticks (tick 1.0, lot 0.001) is worth 100 USD.
BTC = Instrument("BTC", tick_size=1.0, lot_size=0.001)
MARK = 100_000
# One lot of ETH at 3000.0 (30000 ticks of 0.1, lot 0.01) is worth 30 USD.
ETH = Instrument("ETH", tick_size=0.1, lot_size=0.01)


def fig(decision, name):
    return dict(decision.figures)[name]


# ---------------------------------------------------------------- VaR


def test_var_single_position_is_worst_scenario_of_20():
    # 20 scenarios: k = ceil(0.05 * 20) = 1, the worst one.
    rets = [0.001 * i for i in range(-5, 15)]  # worst -0.005
    rets[7] = -0.03
    assert historical_var95(rets, 1000.0) == pytest.approx(30.0)
    # A short loses on the largest up move: +0.014 x 1000.
    assert historical_var95(rets, -1000.0) == pytest.approx(14.0)


def test_var_uses_kth_worst_for_40_scenarios():
    # 40 scenarios: k = ceil(2.0) = 2, the second worst.
    rets = [0.0] * 38 + [-0.05, -0.02]
    assert historical_var95(rets, 500.0) == pytest.approx(10.0)
    rets = [0.0] * 37 + [-0.05, -0.02, -0.01]  # 40 -> k = 2 still
    assert historical_var95(rets, 500.0) == pytest.approx(10.0)
    rets = [0.0] * 38 + [-0.05, -0.02, -0.01]  # 41 -> k = ceil(2.05) = 3
    assert historical_var95(rets, 500.0) == pytest.approx(5.0)


def test_var_portfolio_aligned_on_recent_end():
    a = [0.01, -0.02, 0.03, 0.0]
    b = [0.5, 0.02, -0.01, -0.01, 0.04]  # one older return, dropped by the alignment
    # pnl = 1000 a - 500 b = [0, -15, 35, -20]; 4 scenarios -> worst -> VaR 20.
    assert portfolio_var95({"A": a, "B": b}, {"A": 1000.0, "B": -500.0}) == pytest.approx(20.0)


def test_var_is_zero_without_loss_or_data():
    assert historical_var95([0.01, 0.02], 100.0) == 0.0
    assert historical_var95([], 100.0) == 0.0
    assert portfolio_var95({"A": [-0.5]}, {"A": 0.0}) == 0.0


def test_return_tracker_samples_grid_and_fills_gaps():
    t = ReturnTracker(var_lookback_sec=5, interval_ms=1000)
    assert t.maxlen == 5
    t.observe("A", 0, 100.0)
    t.observe("A", 500, 101.0)  # same bucket: ignored
    t.observe("A", 1000, 101.0)  # +1%
    t.observe("A", 3500, 99.99)  # bucket 3: bucket 2 carried forward (0), then the move
    assert t.returns("A") == pytest.approx([0.01, 0.0, 99.99 / 101.0 - 1.0])
    for i in range(4, 14):
        t.observe("A", i * 1000, 100.0)
    assert len(t.returns("A")) == 5
    t.observe("A", 30_000, 100.0)  # gap of 16 buckets > window: restart
    assert t.returns("A") == []


def test_return_tracker_aligns_coins_and_computes_var():
    t = ReturnTracker(var_lookback_sec=60)
    for b, mid in enumerate([100.0, 101.0, 100.0, 102.0]):  # A: buckets 0..3
        t.observe("A", b * 1000, mid)
    for b, mid in enumerate([50.0, 49.0, 49.0, 50.0], start=1):  # B: buckets 1..4
        t.observe("B", b * 1000 + 10, mid)
    al = t.aligned(["A", "B"])
    # common buckets 2..3: A returns there are 100/101-1 and 102/100-1, B's -0.02 and 0.
    assert al["A"] == pytest.approx([100 / 101 - 1, 0.02])
    assert al["B"] == pytest.approx([-0.02, 0.0])
    # pnl = 1000 A + 1000 B = [-9.901 - 20, 20 + 0] -> VaR 29.90...
    assert t.var95({"A": 1000.0, "B": 1000.0}) == pytest.approx(-(1000 * (100 / 101 - 1) - 20))
    # a coin without returns yet is left out instead of emptying the others
    al = t.aligned(["A", "C"])
    assert al["C"] == [] and al["A"] == pytest.approx([0.01, 100 / 101 - 1, 0.02])
    assert t.var95({"A": 1000.0, "C": 5000.0}) == pytest.approx(-(1000 * (100 / 101 - 1)))


# ---------------------------------------------------------------- pre-trade


def btc(pos=0, rb=0, rs=0, inst=BTC):
    return CoinExposure("BTC", inst, pos, rb, rs, MARK)


def test_per_coin_cap_counts_position_and_resting_on_adding_side():
    chk = PreTradeCheck(RiskLimits(max_per_coin_notional=500))  # 5 lots
    d = chk.check(OrderIntent("BTC", BUY, 5, MARK), [btc(pos=2, rb=1, rs=7)])
    # room = 5 - 2 (position) - 1 (resting buys); resting sells do not count.
    assert d == Allow(2, ("shrunk_per_coin_cap",), d.figures)
    assert fig(d, "allowed_lots") == 2
    d = chk.check(OrderIntent("BTC", BUY, 1, MARK), [btc(pos=3, rb=2)])
    assert isinstance(d, Block) and d.reason == "per_coin_cap"
    assert fig(d, "per_coin_cap_usd") == 500 and fig(d, "lot_usd") == 100


def test_reducing_orders_always_allowed_up_to_position():
    chk = PreTradeCheck(RiskLimits(max_per_coin_notional=500))
    # long 3, sell 5: 3 reduce, 2 add (a short of 2 <= 5 lots of room).
    d = chk.check(OrderIntent("BTC", SELL, 5, MARK), [btc(pos=3)])
    assert isinstance(d, Allow) and d.lots == 5
    # resting sells count against the flip room: room 5 - 0 - 4 = 1 -> 3 + 1.
    d = chk.check(OrderIntent("BTC", SELL, 5, MARK), [btc(pos=3, rs=4)])
    assert d.lots == 4 and "shrunk_per_coin_cap" in d.flags
    # over the cap already: a reduce still goes, flagged reduce_only; an add is blocked.
    d = chk.check(OrderIntent("BTC", SELL, 2, MARK), [btc(pos=6)])
    assert d == Allow(2, ("reduce_only",), d.figures)
    assert chk.check(OrderIntent("BTC", BUY, 1, MARK), [btc(pos=6)]).reason == "per_coin_cap"
    d = chk.check(OrderIntent("BTC", SELL, 9, MARK), [btc(pos=6, rs=5)])
    assert d.lots == 6 and "reduce_only" in d.flags


def test_symbol_cap_counts_position_only():
    chk = PreTradeCheck(RiskLimits(max_symbol_notional=300))
    d = chk.check(OrderIntent("BTC", BUY, 3, MARK), [btc(pos=2, rb=10)])
    assert d.lots == 1 and d.flags == ("shrunk_symbol_cap",)
    assert chk.check(OrderIntent("BTC", BUY, 1, MARK), [btc(pos=3)]).reason == "symbol_cap"


def test_gross_cap_across_coins():
    coins = [
        btc(pos=2, rb=1, rs=3),  # long: resting buys add -> (2 + 1) x 100 = 300
        CoinExposure("ETH", ETH, -10, 20, 5, 30_000),  # short: sells add -> 15 x 30 = 450
    ]
    assert gross_notional_usd(coins) == pytest.approx(750.0)
    flat = CoinExposure("ETH", ETH, 0, 4, 6, 30_000)  # flat: the larger side, 6 x 30
    assert flat.gross_usd() == pytest.approx(180.0)
    chk = PreTradeCheck(RiskLimits(max_gross_notional=1000))
    d = chk.check(OrderIntent("BTC", BUY, 4, MARK), coins)
    assert d.lots == 2 and d.flags == ("shrunk_gross_cap",)  # floor(250 / 100)
    assert fig(d, "gross_usd") == pytest.approx(750.0)
    d = PreTradeCheck(RiskLimits(max_gross_notional=790)).check(OrderIntent("BTC", BUY, 4, MARK), coins)
    assert isinstance(d, Block) and d.reason == "gross_cap"


def test_var_shrinks_then_stops_adding_side():
    chk = PreTradeCheck(RiskLimits(max_portfolio_var_usd=200))
    order = OrderIntent("BTC", BUY, 5, MARK)
    assert chk.check(order, [btc()], var_usd=150).lots == 5
    d = chk.check(order, [btc()], var_usd=250)  # scale 0.8 -> 4
    assert d.lots == 4 and d.flags == ("var_shrink",) and fig(d, "var_scale") == pytest.approx(0.8)
    assert chk.check(order, [btc()], var_usd=299).lots == 3  # floor(5 x 200 / 299) = 3
    d = chk.check(order, [btc()], var_usd=300)  # 1.5 x limit: stop
    assert isinstance(d, Block) and d.reason == "var_stop" and fig(d, "var_usd") == 300
    d = chk.check(OrderIntent("BTC", SELL, 3, MARK), [btc(pos=2)], var_usd=1000)
    assert d == Allow(2, ("reduce_only",), d.figures)


def test_margin_cap_enforce_warn_off():
    coins = [btc(pos=12)]  # gross 1200
    order = OrderIntent("BTC", BUY, 5, MARK)
    lim = RiskLimits(margin_cap_mode=MarginMode.ENFORCE, assumed_leverage=3, margin_cap_fraction=0.5)
    d = PreTradeCheck(lim).check(order, coins, equity_usd=1000)  # cap 1500 -> 3 lots of room
    assert d.lots == 3 and d.flags == ("shrunk_margin_cap",) and fig(d, "margin_cap_usd") == 1500
    assert PreTradeCheck(lim).check(order, [btc(pos=15)], equity_usd=1000).reason == "margin_cap"
    warn = RiskLimits(margin_cap_mode=MarginMode.WARN, assumed_leverage=3, margin_cap_fraction=0.5)
    d = PreTradeCheck(warn).check(order, coins, equity_usd=1000)
    assert d.lots == 5 and d.flags == ("margin_warn",)
    assert PreTradeCheck(warn).check(OrderIntent("BTC", BUY, 3, MARK), coins, equity_usd=1000).flags == ()
    d = PreTradeCheck(RiskLimits()).check(order, coins, equity_usd=1000)
    assert d.lots == 5 and d.flags == ()


def test_min_notional():
    inst = Instrument("BTC", tick_size=1.0, lot_size=0.001, min_notional_usd=250)  # 3 lots minimum
    chk = PreTradeCheck(RiskLimits(max_per_coin_notional=400))
    d = chk.check(OrderIntent("BTC", BUY, 2, MARK), [btc(inst=inst)])
    assert d.reason == "min_notional" and fig(d, "min_lots") == 3
    assert chk.check(OrderIntent("BTC", BUY, 3, MARK), [btc(inst=inst)]).lots == 3
    # shrunk by the cap below the minimum: blocked.
    assert chk.check(OrderIntent("BTC", BUY, 5, MARK), [btc(pos=2, inst=inst)]).reason == "min_notional"
    # a reduce of 1 lot with 1 lot of add room: the add is dropped, the reduce goes alone.
    d = chk.check(OrderIntent("BTC", SELL, 2, MARK), [btc(pos=1, inst=inst)])
    assert d.lots == 1 and "reduce_only" in d.flags


def test_empty_and_unknown():
    chk = PreTradeCheck(RiskLimits())
    assert chk.check(OrderIntent("BTC", BUY, 0, MARK), [btc()]).reason == "empty_order"
    assert chk.check(OrderIntent("SOL", BUY, 1, MARK), [btc()]).reason == "unknown_coin"


def test_limits_from_config(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"bot_id": "b", "coins": ["BTC"],
                                "per_coin": {"BTC": {"max_per_coin_notional": 300}}}))
    cfg = load_config_file(path)
    lim = RiskLimits.from_config(cfg.for_coin("BTC"))
    assert lim.max_per_coin_notional == 300 and lim.max_gross_notional == cfg.max_gross_notional
    assert lim.margin_cap_mode == MarginMode.ENFORCE
    ll = LossLimits.from_config(cfg)
    assert ll.daily_loss_limit_usd == cfg.daily_loss_limit_usd
    assert ll.portfolio_pause_threshold_pct == cfg.portfolio_pause_threshold_pct


# ---------------------------------------------------------------- loss guard

D = 20_000 * DAY_MS  # a UTC midnight
H = 3_600_000


def test_daily_loss_day_rollover_resets_baseline_and_stop_latches():
    g = LossGuard(LossLimits(daily_loss_limit_usd=100), 10_000)
    assert g.update(D + 12 * H, 10_000, 0, 0).state == RiskState.OK
    s = g.update(D + 13 * H, 9_960, -30, -10)
    assert s.state == RiskState.OK and dict(s.figures)["day_pnl_usd"] == pytest.approx(-40)
    s = g.update(D + DAY_MS + 1, 9_930, -50, -20)  # new day: baseline -70
    assert s.state == RiskState.OK and dict(s.figures)["day_pnl_usd"] == pytest.approx(0)
    assert g.update(D + DAY_MS + H, 9_870, -120, -10).state == RiskState.OK  # -60 today
    s = g.update(D + DAY_MS + 2 * H, 9_800, -150, -20)  # -170 + 70 = -100
    assert s.state == RiskState.STOP and s.changed and s.size_mult == 0
    assert "daily loss limit" in s.reason
    s = g.update(D + DAY_MS + 3 * H, 10_000, 0, 0)
    assert s.state == RiskState.STOP and not s.changed  # latched
    g.reset()
    assert g.update(D + DAY_MS + 4 * H, 10_000, 0, 0).state == RiskState.OK


def test_daily_loss_seeded_baseline():
    g = LossGuard(LossLimits(daily_loss_limit_usd=100), 10_000, day_baseline_usd=50)
    assert g.update(D + H, 10_000, -40, -10).state == RiskState.STOP  # -50 - 50 = -100


def test_drawdown_steps():
    g = LossGuard(LossLimits(drawdown_step_down=True, drawdown_step_pct=2), 10_000)
    assert g.update(D, 12_000, 0, 0).size_mult == 1.0  # new peak
    s = g.update(D + 1, 11_700, 0, 0)  # 2.5% -> 1 step
    assert s.size_mult == pytest.approx(0.98) and dict(s.figures)["drawdown_steps"] == 1
    assert g.update(D + 2, 10_800, 0, 0).size_mult == pytest.approx(0.90)  # 10% -> 5 steps
    assert g.update(D + 3, 11_790, 0, 0).size_mult == 1.0  # 1.75%: no full step
    big = LossGuard(LossLimits(drawdown_step_down=True, drawdown_step_pct=40), 10_000)
    assert big.update(D, 1_500, 0, 0).size_mult == pytest.approx(0.2)  # 85% -> 2 steps
    floor = LossGuard(LossLimits(drawdown_step_down=True, drawdown_step_pct=50), 10_000)
    assert floor.update(D, 0, 0, 0).size_mult == pytest.approx(0.1)  # 1 - 2 x 0.5 -> floor 0.1
    off = LossGuard(LossLimits(drawdown_step_down=False, drawdown_step_pct=2), 10_000)
    assert off.update(D, 5_000, 0, 0).size_mult == 1.0


def test_pause_and_resume_by_recovery():
    g = LossGuard(LossLimits(portfolio_pause_threshold_pct=3, pause_cooldown_sec=300), 10_000)
    assert g.update(D, 9_800, 0, 0).state == RiskState.OK  # 2%
    s = g.update(D + 1_000, 9_700, 0, 0)  # 3%
    assert s.state == RiskState.PAUSE and s.changed and g.paused
    s = g.update(D + 10_000, 9_850, 0, 0)  # 1.5% is not below 1.5%
    assert s.state == RiskState.PAUSE and dict(s.figures)["paused_ms"] == 9_000
    s = g.update(D + 20_000, 9_851, 0, 0)  # 1.49%: recovered
    assert s.state == RiskState.OK and s.changed and "recovered" in s.reason
    assert g.update(D + 30_000, 9_700, 0, 0).state == RiskState.PAUSE  # re-armed at 3%


def test_pause_and_resume_by_cooldown():
    g = LossGuard(LossLimits(portfolio_pause_threshold_pct=3, pause_cooldown_sec=300,
                             emergency_stop_loss_pct=10), 10_000)
    assert g.update(D, 9_650, 0, 0).state == RiskState.PAUSE  # 3.5%
    assert g.update(D + 299_999, 9_650, 0, 0).state == RiskState.PAUSE
    s = g.update(D + 300_000, 9_650, 0, 0)
    assert s.state == RiskState.OK and "cooldown" in s.reason
    assert dict(s.figures)["pause_level_pct"] == pytest.approx(6.5)  # 3.5 + 3
    assert g.update(D + 301_000, 9_400, 0, 0).state == RiskState.OK  # 6%
    assert g.update(D + 302_000, 9_350, 0, 0).state == RiskState.PAUSE  # 6.5%


def test_emergency_stop_takes_precedence_and_latches():
    g = LossGuard(LossLimits(daily_loss_limit_usd=100, portfolio_pause_threshold_pct=3,
                             emergency_stop_loss_pct=5), 10_000)
    assert g.update(D, 9_700, 0, 0).state == RiskState.PAUSE
    s = g.update(D + 1, 9_500, -500, 0)  # 5% and a 500 USD day loss
    assert s.state == RiskState.EMERGENCY and s.size_mult == 0 and "emergency" in s.reason
    assert g.update(D + 2, 10_000, 0, 0).state == RiskState.EMERGENCY
