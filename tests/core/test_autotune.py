"""Tests for mm_bot.core.autotune: each rule, bounds, gating, determinism."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm_bot.config import TiProxyConfig
from mm_bot.core.autotune import PARAMS, REFRESH, SIZE, WIDTH, Nudge, TiOptimizer, TuneParams
from mm_bot.core.ti import TiSnapshot

TARGETS = TiProxyConfig(
    target_maker_ratio=0.9,
    max_slippage_frac=0.5,
    min_avg_holding_ms=5000,
    max_cancel_per_fill=10.0,
    target_two_sided_uptime=0.9,
    min_rest_ms=2000,
)
CONFIGURED = TuneParams(min_spread_bps=5.0, min_replace_ms=1000, size_notional_usd=50.0)
MIN = 60_000  # evaluation interval used in these tests

# a window where every metric meets its target, with many fills
GOOD = TiSnapshot(start_ms=0, end_ms=1_800_000, fills=100, maker_ratio=0.95, slippage_frac=-0.5,
                  cancels_per_fill=2.0, rest_ms_median=5000.0, two_sided_share=0.95)


def make(**kw) -> TiOptimizer:
    args = {"min_maker_share": 0.8, "interval_ms": MIN, "min_fills": 10, "low_fills": 30}
    args.update(kw)
    return TiOptimizer(CONFIGURED, TARGETS, **args)


def test_too_few_fills_no_action() -> None:
    o = make()
    bad = dataclasses.replace(GOOD, fills=9, maker_ratio=0.1, cancels_per_fill=100.0)
    assert o.evaluate(bad, 0) is None
    assert o.params == CONFIGURED


def test_maker_ratio_low_widens() -> None:
    # maker 0.7 < min share 0.8 => width 5.0 -> 5.0 x 1.1 = 5.5
    o = make()
    n = o.evaluate(dataclasses.replace(GOOD, maker_ratio=0.7), 0)
    assert isinstance(n, Nudge)
    assert (n.param, n.before, n.reason) == (WIDTH, 5.0, "maker_ratio_low")
    assert n.after == pytest.approx(5.5)
    assert n.figures["maker_ratio"] == 0.7 and n.figures["step_index"] == 1
    assert o.params.min_spread_bps == pytest.approx(5.5)


def test_slippage_high_widens() -> None:
    o = make()
    n = o.evaluate(dataclasses.replace(GOOD, slippage_frac=0.8), 0)
    assert n is not None and (n.param, n.reason) == (WIDTH, "slippage_high")
    assert n.after > n.before


def test_both_widen_reasons_joined() -> None:
    o = make()
    n = o.evaluate(dataclasses.replace(GOOD, maker_ratio=0.5, slippage_frac=0.8), 0)
    assert n is not None and n.reason == "maker_ratio_low+slippage_high"


def test_cancels_per_fill_high_lengthens_refresh() -> None:
    # 12 cancels per fill > 10 => min_replace_ms 1000 -> 1100
    o = make()
    n = o.evaluate(dataclasses.replace(GOOD, cancels_per_fill=12.0), 0)
    assert n is not None
    assert (n.param, n.before, n.after, n.reason) == (REFRESH, 1000.0, 1100.0, "cancels_per_fill_high")
    assert o.params.min_replace_ms == 1100 and isinstance(o.params.min_replace_ms, int)


def test_rest_time_low_lengthens_refresh() -> None:
    o = make()
    n = o.evaluate(dataclasses.replace(GOOD, rest_ms_median=1500.0), 0)
    assert n is not None and (n.param, n.reason) == (REFRESH, "rest_time_low")
    assert n.after == 1100.0


def test_widen_has_priority_over_refresh() -> None:
    o = make()
    n = o.evaluate(dataclasses.replace(GOOD, maker_ratio=0.5, cancels_per_fill=50.0), 0)
    assert n is not None and n.param == WIDTH


def test_good_and_few_fills_tightens() -> None:
    # 15 fills (>= min 10, < low 30), all targets met => width 5.0 -> 5.0 x 0.9 = 4.5
    o = make()
    n = o.evaluate(dataclasses.replace(GOOD, fills=15), 0)
    assert n is not None and (n.param, n.reason) == (WIDTH, "few_fills_good_metrics")
    assert n.after == pytest.approx(4.5)


def test_good_with_many_fills_or_in_dead_band_does_nothing() -> None:
    assert make().evaluate(GOOD, 0) is None
    # maker 0.85: above the widen trigger (0.8) but below the tighten floor (0.9) => nothing
    assert make().evaluate(dataclasses.replace(GOOD, fills=15, maker_ratio=0.85), 0) is None


def test_one_evaluation_per_interval() -> None:
    o = make()
    bad = dataclasses.replace(GOOD, maker_ratio=0.5)
    assert o.evaluate(bad, 0) is not None
    assert o.evaluate(bad, MIN - 1) is None
    assert o.evaluate(bad, MIN) is not None
    # an evaluation that found too few fills still uses up the interval
    o2 = make()
    assert o2.evaluate(dataclasses.replace(bad, fills=1), 0) is None
    assert o2.evaluate(bad, 1) is None
    assert o2.evaluate(bad, MIN) is not None


def test_width_at_max_reduces_size_then_falls_through() -> None:
    # widening 10 steps: 5.0 -> 10.0 (2x); then size 50 -> 45 -> ... -> 25 (0.5x, 5 steps); then the
    # refresh rule (cancels high) gets its turn; then nothing is left to move.
    o = make(interval_ms=0)
    bad = dataclasses.replace(GOOD, maker_ratio=0.5, cancels_per_fill=50.0)
    seen = [o.evaluate(bad, t) for t in range(40)]
    assert all(n is not None and n.param == WIDTH for n in seen[:10])
    assert seen[9].after == pytest.approx(10.0)
    sizes = seen[10:15]
    assert all(n is not None and n.param == SIZE and "width_at_max" in n.reason for n in sizes)
    assert sizes[-1].after == pytest.approx(25.0)
    refresh = seen[15:25]
    assert all(n is not None and n.param == REFRESH for n in refresh)
    assert refresh[-1].after == 2000.0
    assert all(n is None for n in seen[25:])
    assert o.params == TuneParams(10.0, 2000, 25.0)


def test_zero_configured_parameter_is_never_nudged() -> None:
    o = TiOptimizer(TuneParams(0.0, 1000, 50.0), TARGETS, min_maker_share=0.8, interval_ms=0)
    n = o.evaluate(dataclasses.replace(GOOD, maker_ratio=0.5), 0)
    assert n is not None and n.param == SIZE  # width has no room: size shrinks instead


def test_deterministic() -> None:
    seq = [dataclasses.replace(GOOD, maker_ratio=m, fills=f) for m, f in ((0.5, 50), (0.95, 12), (0.7, 40))]
    a, b = make(interval_ms=0), make(interval_ms=0)
    assert [a.evaluate(s, i) for i, s in enumerate(seq)] == [b.evaluate(s, i) for i, s in enumerate(seq)]


def test_bad_construction() -> None:
    with pytest.raises(ValueError):
        make(step=0.0)
    with pytest.raises(ValueError):
        make(lo_mult=1.5)
    with pytest.raises(ValueError):
        make(low_fills=5)


maybe = st.none() | st.floats(0, 1)
windows = st.builds(
    TiSnapshot,
    fills=st.integers(0, 200),
    maker_ratio=maybe,
    slippage_frac=st.none() | st.floats(-2, 2),
    cancels_per_fill=st.none() | st.floats(0, 40),
    rest_ms_median=st.none() | st.floats(0, 10_000),
)
configured = st.builds(
    TuneParams,
    min_spread_bps=st.floats(0, 100),
    min_replace_ms=st.integers(0, 10_000),
    size_notional_usd=st.floats(1, 10_000),
)


@settings(max_examples=150, deadline=None)
@given(configured, st.lists(windows, min_size=1, max_size=60),
       st.floats(0.05, 0.5), st.floats(0.1, 1.0), st.floats(1.0, 4.0))
def test_never_leaves_bounds(c: TuneParams, seq: list[TiSnapshot], step: float, lo: float, hi: float) -> None:
    o = TiOptimizer(c, TARGETS, min_maker_share=0.8, interval_ms=0, step=step, lo_mult=lo, hi_mult=hi)
    prev = o.params
    for t, s in enumerate(seq):
        n = o.evaluate(s, t)
        cur = o.params
        changed = [p for p in PARAMS if cur.get(p) != prev.get(p)]
        if n is None:
            assert changed == []
        else:
            assert changed == [n.param]
            assert n.before == prev.get(n.param) and n.after == cur.get(n.param)
            assert s.fills >= o.min_fills
        for p in PARAMS:
            v = cur.get(p)
            assert c.get(p) * lo - 1e-9 <= v <= c.get(p) * hi + 1e-9, (p, v)
        prev = cur
