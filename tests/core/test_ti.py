"""Tests for mm_bot.core.ti: each TI metric on hand-made sequences, windows, the TI score."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm_bot.config import TiProxyConfig
from mm_bot.core.records import MetricRow
from mm_bot.core.ti import (
    TI_WEIGHTS,
    TiSnapshot,
    TiTracker,
    quantile,
    ti_components,
    ti_score,
    weighted_median,
)
from mm_bot.core.types import BUY, SELL

TARGETS = TiProxyConfig(
    target_maker_ratio=0.9,
    max_slippage_frac=0.5,
    min_avg_holding_ms=5000,
    max_cancel_per_fill=10.0,
    target_two_sided_uptime=0.9,
    min_rest_ms=2000,
)


def fill(tr: TiTracker, t: int, side: int = BUY, px: float = 100.0, size: float = 1.0, *, notional: float = 100.0,
         maker: bool = True, mid: float = 100.0, spread: float = 2.0, cp: str = "") -> None:
    tr.on_fill(side, px, size, notional, maker, mid, spread, t, counterparty=cp)


# ---------------------------------------------------------------- maker ratio, cancels


def test_maker_ratio_by_count_and_notional() -> None:
    # 3 fills, 2 maker => 2/3 = 0.6667 by count.
    # notionals: maker 100 + 200, taker 300 => 300 / 600 = 0.5 by notional.
    tr = TiTracker()
    fill(tr, 1000, notional=100.0, maker=True)
    fill(tr, 2000, SELL, notional=200.0, maker=True)
    fill(tr, 3000, notional=300.0, maker=False)
    s = tr.rolling(3000)
    assert (s.fills, s.maker_fills) == (3, 2)
    assert s.maker_ratio == pytest.approx(0.6667, abs=1e-4)
    assert s.maker_ratio_notional == pytest.approx(0.5)
    assert s.volume_usd == pytest.approx(600.0)
    assert s.maker_volume_usd == pytest.approx(300.0)


def test_no_fills_means_undefined_not_zero() -> None:
    tr = TiTracker()
    tr.on_order_accepted("a", 10)
    tr.on_cancel_request("a", 20)
    s = tr.rolling(1000)
    assert s.fills == 0 and s.cancels == 1 and s.placements == 1
    for name in ("maker_ratio", "maker_ratio_notional", "cancels_per_fill", "amends_per_fill", "slippage_bps",
                 "spread_at_fill_bps", "slippage_frac", "markout_1s_bps", "holding_ms_avg", "holding_ms_median"):
        assert getattr(s, name) is None, name
    assert s.two_sided_share is None  # never observed


def test_cancels_per_fill_counts_amends_apart() -> None:
    # 4 cancel requests and 2 amends against 2 fills => 4 / 2 = 2.0 cancels per fill, 2 / 2 = 1.0 amends.
    tr = TiTracker()
    for i, c in enumerate("abcd"):
        tr.on_order_accepted(c, 100 + i)
        tr.on_cancel_request(c, 200 + i)
    tr.on_amend("e", 300)
    tr.on_amend("e", 301)
    fill(tr, 400)
    fill(tr, 500, SELL)
    s = tr.rolling(1000)
    assert (s.cancels, s.amends, s.placements, s.fills) == (4, 2, 4, 2)
    assert s.cancels_per_fill == pytest.approx(2.0)
    assert s.amends_per_fill == pytest.approx(1.0)


# ---------------------------------------------------------------- rest time


def test_rest_time_median_and_p90_on_five_orders() -> None:
    # rest times 100, 200, 300, 400, 1000 ms (done - accepted).
    # median = 300. p90 (linear): position 0.9 x (5 - 1) = 3.6 => 400 + 0.6 x (1000 - 400) = 760.
    tr = TiTracker()
    for i, rest in enumerate((300, 1000, 100, 400, 200)):
        t0 = 1000 * i
        tr.on_order_accepted(f"o{i}", t0)
        tr.on_order_done(f"o{i}", t0 + rest)
    s = tr.rolling(10_000)
    assert s.orders_done == 5
    assert s.rest_ms_median == pytest.approx(300.0)
    assert s.rest_ms_p90 == pytest.approx(760.0)


def test_rest_time_ignores_unknown_and_keeps_first_accept() -> None:
    # "x" accepted at 0, re-acked at 500 (kept at 0), done at 1500 => one sample of 1500 ms, one placement.
    # "never" was never accepted (IOC / reject): its done is ignored.
    tr = TiTracker()
    tr.on_order_accepted("x", 0)
    tr.on_order_accepted("x", 500)
    tr.on_order_done("x", 1500)
    tr.on_order_done("never", 1600)
    tr.on_order_done("x", 1700)  # a second done of the same order is ignored too
    s = tr.rolling(2000)
    assert s.placements == 1
    assert s.orders_done == 1
    assert s.rest_ms_median == s.rest_ms_p90 == 1500.0


def test_quantile_and_weighted_median_helpers() -> None:
    assert quantile([], 0.5) is None
    assert quantile([7.0], 0.9) == 7.0
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == pytest.approx(2.5)  # mean of the middle two
    assert weighted_median([]) is None
    assert weighted_median([(1.0, 1.0), (3.0, 1.0)]) == pytest.approx(2.0)  # lands on half: mean
    assert weighted_median([(1.0, 1.0), (3.0, 2.0)]) == pytest.approx(3.0)


# ---------------------------------------------------------------- FIFO holding time


def test_fifo_holding_two_opens_one_close() -> None:
    # buy 2 @ t0=0, buy 1 @ t1=1000, sell 3 @ t2=4000.
    # FIFO: the 2 from t0 close after 4000 ms, the 1 from t1 after 3000 ms.
    # size-weighted average = (2 x 4000 + 1 x 3000) / 3 = 11000 / 3 = 3666.67 ms.
    # size-weighted median: sorted (3000, w1), (4000, w2); half of 3 = 1.5 reached at 4000 => 4000 ms.
    tr = TiTracker()
    fill(tr, 0, BUY, size=2.0)
    fill(tr, 1000, BUY, size=1.0)
    assert tr.open_position == pytest.approx(3.0)
    fill(tr, 4000, SELL, size=3.0)
    s = tr.rolling(4000)
    assert s.closed_size == pytest.approx(3.0)
    assert s.holding_ms_avg == pytest.approx(11000 / 3)
    assert s.holding_ms_median == pytest.approx(4000.0)
    assert tr.open_position == pytest.approx(0.0)


def test_fifo_flip_opens_the_rest_on_the_other_side() -> None:
    # buy 1 @ 0; sell 3 @ 1000 closes 1 (1000 ms) and opens short 2 @ 1000; buy 2 @ 5000 closes it (4000 ms).
    # average = (1 x 1000 + 2 x 4000) / 3 = 3000 ms; weighted median: half 1.5 reached at 4000.
    tr = TiTracker()
    fill(tr, 0, BUY, size=1.0)
    fill(tr, 1000, SELL, size=3.0)
    assert tr.open_position == pytest.approx(-2.0)
    fill(tr, 5000, BUY, size=2.0)
    s = tr.rolling(5000)
    assert s.holding_ms_avg == pytest.approx(3000.0)
    assert s.holding_ms_median == pytest.approx(4000.0)


def test_fifo_partial_close_and_equal_weight_median() -> None:
    # buy 1 @ 0, sell 1 @ 1000 (1000 ms), buy 1 @ 2000, sell 0.5 @ 5000 then 0.5 @ 7000 (3000 ms, 5000 ms).
    # samples (1000, 1), (3000, 0.5), (5000, 0.5): average = (1000 + 1500 + 2500) / 2 = 2500 ms;
    # cumulative size 1 = half of 2 exactly at 1000 => median = (1000 + 3000) / 2 = 2000 ms.
    tr = TiTracker()
    fill(tr, 0, BUY)
    fill(tr, 1000, SELL)
    fill(tr, 2000, BUY)
    fill(tr, 5000, SELL, size=0.5)
    fill(tr, 7000, SELL, size=0.5)
    s = tr.rolling(7000)
    assert s.holding_ms_avg == pytest.approx(2500.0)
    assert s.holding_ms_median == pytest.approx(2000.0)


def test_fifo_seed_position() -> None:
    # a long of 2 opened at -10000 (before a restart), sold 2 @ 0 => holding 10000 ms.
    tr = TiTracker()
    tr.seed_position(2.0, -10_000)
    fill(tr, 0, SELL, size=2.0)
    assert tr.rolling(0).holding_ms_avg == pytest.approx(10_000.0)


# ---------------------------------------------------------------- slippage, spread, markouts


def test_slippage_and_spread_notional_weighted() -> None:
    # buy @ 100.1, mid 100: +1 x (100.1 - 100) / 100 x 1e4 = +10 bps (paid), notional 100, spread 4 bps.
    # sell @ 100.2, mid 100: -1 x (100.2 - 100) / 100 x 1e4 = -20 bps (earned), notional 300, spread 8 bps.
    # slippage = (10 x 100 - 20 x 300) / 400 = -12.5 bps; spread = (4 x 100 + 8 x 300) / 400 = 7 bps;
    # slippage_frac = -12.5 / 7 = -1.7857.
    tr = TiTracker()
    fill(tr, 0, BUY, px=100.1, notional=100.0, mid=100.0, spread=4.0)
    fill(tr, 10, SELL, px=100.2, notional=300.0, mid=100.0, spread=8.0)
    s = tr.rolling(10)
    assert s.slippage_bps == pytest.approx(-12.5)
    assert s.spread_at_fill_bps == pytest.approx(7.0)
    assert s.slippage_frac == pytest.approx(-12.5 / 7)


def test_markouts_use_first_mid_at_or_after_horizon() -> None:
    # buy @ 100 and sell @ 100 at t=0 (notional 100 each, then a second buy of notional 300 at t=0 too).
    # mids: t=500 100.5 (too early), t=1200 101 => 1 s: buy +100 bps, sell -100 bps;
    # notional-weighted: (100 x 100 - 100 x 100 + 300 x 100) / 500 = +60 bps.
    # t=10000 99 => 10 s: buys -100 bps, sell +100 => (-100 x 100 + 100 x 100 - 100 x 300) / 500 = -60 bps.
    # t=59999 (too early), t=60000 100.2 (exactly at the horizon) => 60 s: buys +20, sell -20 => +12 bps.
    tr = TiTracker()
    fill(tr, 0, BUY, notional=100.0)
    fill(tr, 0, SELL, notional=100.0)
    fill(tr, 0, BUY, notional=300.0)
    tr.on_mid(500, 100.5)
    s = tr.rolling(500)
    assert s.markout_1s_bps is None and s.markout_fills == (0, 0, 0)
    tr.on_mid(1200, 101.0)
    s = tr.rolling(1200)
    assert s.markout_1s_bps == pytest.approx(60.0)
    assert s.markout_10s_bps is None
    tr.on_mid(10_000, 99.0)
    tr.on_mid(59_999, 250.0)
    assert tr.rolling(59_999).markout_60s_bps is None
    tr.on_mid(60_000, 100.2)
    s = tr.rolling(60_000)
    assert s.markout_1s_bps == pytest.approx(60.0)
    assert s.markout_10s_bps == pytest.approx(-60.0)
    assert s.markout_60s_bps == pytest.approx(12.0)
    assert s.markout_fills == (3, 3, 3)


def test_markout_uses_fill_price_as_denominator() -> None:
    # sell @ 200 with mid 199 at fill; mid 198 at +1 s => -1 x (198 - 200) / 200 x 1e4 = +100 bps.
    tr = TiTracker()
    fill(tr, 0, SELL, px=200.0, mid=199.0)
    tr.on_mid(1000, 198.0)
    assert tr.rolling(1000).markout_1s_bps == pytest.approx(100.0)


# ---------------------------------------------------------------- two-sided uptime


def test_two_sided_uptime_time_weighted() -> None:
    # both rest 0..30 s, one side 30..45 s, both 45..60 s => 30 + 15 = 45 s of 60 s = 0.75, 2700 s/h.
    tr = TiTracker()
    tr.on_two_sided(0, True)
    for t in range(1000, 30_000, 1000):  # repeated same-state samples change nothing
        tr.on_two_sided(t, True)
    tr.on_two_sided(30_000, False)
    tr.on_two_sided(45_000, True)
    s = tr.minute_summary(60_000)
    assert s.observed_s == pytest.approx(60.0)
    assert s.two_sided_s == pytest.approx(45.0)
    assert s.two_sided_share == pytest.approx(0.75)
    assert s.two_sided_s_per_hour == pytest.approx(2700.0)


def test_two_sided_only_counts_observed_time_and_clips_to_window() -> None:
    # first observation at 30 s (not two-sided) then two-sided from 50 s: minute (0, 60 s]:
    # observed 30 s, two-sided 10 s => 1/3. Next minute (60, 120]: still two-sided => 1.0.
    tr = TiTracker()
    tr.on_two_sided(30_000, False)
    tr.on_two_sided(50_000, True)
    s = tr.minute_summary(60_000)
    assert s.observed_s == pytest.approx(30.0)
    assert s.two_sided_share == pytest.approx(1 / 3)
    assert tr.minute_summary(120_000).two_sided_share == pytest.approx(1.0)
    # rolling 15 min at 120 s: observed 90 s, two-sided 70 s
    r = tr.rolling(120_000)
    assert r.two_sided_s == pytest.approx(70.0) and r.observed_s == pytest.approx(90.0)


# ---------------------------------------------------------------- counterparties, windows, rows


def test_distinct_counterparties() -> None:
    # names a, b, a, "" => 2 distinct non-empty names
    tr = TiTracker()
    for i, cp in enumerate(("a", "b", "a", "")):
        fill(tr, i, cp=cp)
    assert tr.rolling(10).counterparties == 2


def test_minute_buckets_partition_events_and_rolling_window_drops_old() -> None:
    # fills at 0, 60000 (the boundary: belongs to the minute ending there), 60001 and 119999.
    tr = TiTracker(window_ms=60_000)
    for t in (0, 60_000, 60_001, 119_999):
        fill(tr, t)
    assert tr.minute_summary(60_000).fills == 1  # (0, 60000] holds 60000; t=0 belongs to (-60000, 0]
    assert tr.minute_summary(0).fills == 1
    assert tr.minute_summary(120_000).fills == 2  # 60001 and 119999
    assert tr.rolling(119_999).fills == 3  # (59999, 119999]: 60000, 60001, 119999
    assert tr.rolling(200_000).fills == 0
    assert tr.rolling(200_000, window_ms=200_000).fills == 3  # (0, 200000]


def test_retention_prunes_old_events() -> None:
    tr = TiTracker(window_ms=60_000, retention_ms=120_000)
    for t in range(-2_000_000, 1_000_000, 1000):  # 3000 events per series: exercises compaction
        fill(tr, t, BUY if (t // 1000) % 2 == 0 else SELL)
        tr.on_cancel_request("c", t)
    # everything before 999000 - 120000 = 879000 is gone: 879000..999000 step 1000 => 121 kept
    assert tr.snapshot(-1, 999_000).fills == 121
    assert tr.snapshot(-1, 999_000).cancels == 121


def test_metric_row_and_as_dict() -> None:
    tr = TiTracker()
    fill(tr, 30_000, notional=100.0, maker=True)
    fill(tr, 40_000, notional=100.0, maker=False)
    tr.on_order_accepted("a", 10_000)
    tr.on_cancel_request("a", 20_000)
    s = tr.minute_summary(60_000)
    row = s.metric_row("bot1", "BTC")
    assert (row.bot_id, row.coin, row.window_s, row.fills, row.maker_fills, row.maker_ratio,
            row.maker_ratio_notional, row.placements, row.cancels, row.cancels_per_fill, row.volume_usd,
            row.ts_ms) == ("bot1", "BTC", 60, 2, 1, 0.5, 0.5, 1, 1, 0.5, 200.0, 60_000)
    assert row.slippage_bps == s.slippage_bps and row.amends == 0 and row.ti_score is None
    assert isinstance(row, MetricRow)
    d = s.as_dict()
    assert d["fills"] == 2 and d["markout_fills"] == [0, 0, 0]


def test_bad_side_rejected() -> None:
    with pytest.raises(ValueError):
        TiTracker().on_fill(0, 100.0, 1.0, 100.0, True, 100.0, 1.0, 0)


# ---------------------------------------------------------------- TI score


def perfect() -> TiSnapshot:
    return TiSnapshot(maker_ratio=1.0, cancels_per_fill=1.0, rest_ms_median=10_000.0, slippage_frac=-0.5,
                      two_sided_share=1.0, holding_ms_avg=60_000.0)


def test_ti_score_extremes_and_undefined() -> None:
    assert ti_score(perfect(), TARGETS) == pytest.approx(100.0)
    worst = TiSnapshot(maker_ratio=0.0, cancels_per_fill=30.0, rest_ms_median=0.0, slippage_frac=1.5,
                       two_sided_share=0.0, holding_ms_avg=0.0)
    assert ti_score(worst, TARGETS) == pytest.approx(0.0)
    assert ti_score(TiSnapshot(), TARGETS) is None
    assert sum(w for _, w in TI_WEIGHTS) == 100.0


def test_ti_score_components_worked_by_hand() -> None:
    # maker 0.45 of target 0.9 => 0.5; cancels 20 with target 10 and zero at 30 => (30-20)/(30-10) = 0.5;
    # slippage_frac 1.0 with target 0.5, zero at 1.5 => 0.5; rest 1000 of 2000 => 0.5;
    # uptime 0.9 => 1; holding undefined (excluded).
    # score = 100 x (25 x 0.5 + 20 x 0.5 + 15 x 0.5 + 15 x 0.5 + 15 x 1) / (25 + 20 + 15 + 15 + 15)
    #       = 100 x 52.5 / 90 = 58.333
    s = TiSnapshot(maker_ratio=0.45, cancels_per_fill=20.0, slippage_frac=1.0, rest_ms_median=1000.0,
                   two_sided_share=0.9)
    c = ti_components(s, TARGETS)
    assert c["maker_ratio"] == pytest.approx(0.5)
    assert c["cancels_per_fill"] == pytest.approx(0.5)
    assert c["slippage"] == pytest.approx(0.5)
    assert c["rest_time"] == pytest.approx(0.5)
    assert c["two_sided_uptime"] == 1.0
    assert c["holding_time"] is None
    assert ti_score(s, TARGETS) == pytest.approx(100 * 52.5 / 90)
    # renormalization: only the maker ratio is defined => its component alone, 0.5 => 50
    assert ti_score(TiSnapshot(maker_ratio=0.45), TARGETS) == pytest.approx(50.0)


def test_ti_score_zero_targets() -> None:
    zero = dataclasses.replace(TARGETS, max_cancel_per_fill=0.0, min_rest_ms=0)
    assert ti_components(TiSnapshot(cancels_per_fill=0.0), zero)["cancels_per_fill"] == 1.0
    assert ti_components(TiSnapshot(cancels_per_fill=0.1), zero)["cancels_per_fill"] == 0.0
    assert ti_components(TiSnapshot(rest_ms_median=0.0), zero)["rest_time"] == 1.0


opt = st.none() | st.floats(0, 1)
nonneg = st.none() | st.floats(0, 1e6)
frac = st.none() | st.floats(-5, 5)
snapshots = st.builds(TiSnapshot, maker_ratio=opt, cancels_per_fill=st.none() | st.floats(0, 100),
                      rest_ms_median=nonneg, slippage_frac=frac, two_sided_share=opt, holding_ms_avg=nonneg)
targets = st.builds(TiProxyConfig, target_maker_ratio=st.floats(0, 1), max_slippage_frac=st.floats(0, 1),
                    min_avg_holding_ms=st.integers(0, 100_000), max_cancel_per_fill=st.floats(0, 50),
                    target_two_sided_uptime=st.floats(0, 1), min_rest_ms=st.integers(0, 100_000))

# (field, direction that improves it, strategy of amounts)
_BETTER = {
    "maker_ratio": +1,
    "cancels_per_fill": -1,
    "rest_ms_median": +1,
    "slippage_frac": -1,
    "two_sided_share": +1,
    "holding_ms_avg": +1,
}


@settings(max_examples=300, deadline=None)
@given(snapshots, targets)
def test_ti_score_within_bounds(s: TiSnapshot, t: TiProxyConfig) -> None:
    score = ti_score(s, t)
    if score is not None:
        assert 0.0 <= score <= 100.0


@settings(max_examples=300, deadline=None)
@given(snapshots, targets, st.sampled_from(sorted(_BETTER)), st.floats(0, 1e5))
def test_ti_score_monotone_in_each_component(s: TiSnapshot, t: TiProxyConfig, name: str, delta: float) -> None:
    v = getattr(s, name)
    if v is None:
        v = 0.0
        s = dataclasses.replace(s, **{name: v})
    better = v + _BETTER[name] * delta
    if name in ("maker_ratio", "two_sided_share"):
        better = min(1.0, better)
    if name == "cancels_per_fill":
        better = max(0.0, better)
    before = ti_score(s, t)
    after = ti_score(dataclasses.replace(s, **{name: better}), t)
    assert before is not None and after is not None
    assert after >= before - 1e-9
