"""Tests for mm_bot.core.ratelimit: sliding-window bound, cancel reserve, shares, back-off, env."""

from __future__ import annotations

import copy
import random
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mm_bot.core.ratelimit import (
    DEFAULT_LIMITS,
    NEVER,
    WINDOW_MS,
    ActionBudget,
    ActionBudgetSpec,
    Denied,
    DenyReason,
    DualRateLimiter,
    Grant,
    LimiterPolicy,
    RateLimitConfigError,
    RequestKind,
    VenueLimits,
    hl_exchange_weight,
    hl_info_weight,
    limits_from_env,
)

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KINDS = list(RequestKind)
NON_CANCEL = [RequestKind.PLACE, RequestKind.MODIFY, RequestKind.INFO]

# One request: (ms since previous, kind, weight, channel). Small gaps and smallish capacities keep
# windows saturated so denials, expiries and the reserve are all exercised.
gap_ms = st.one_of(st.integers(0, 300), st.integers(0, 4_000), st.integers(0, 70_000))
REQUEST_FIELDS = (
    gap_ms,
    st.sampled_from(KINDS),
    st.integers(min_value=1, max_value=25),
    st.sampled_from(["rest", "ws"]),
)
request = st.tuples(*REQUEST_FIELDS)
limits_st = st.builds(
    VenueLimits,
    venue=st.just("hyperliquid"),
    rest_capacity_per_min=st.integers(min_value=20, max_value=400),
    ws_capacity_per_min=st.integers(min_value=20, max_value=400),
    rest_capacity_per_sec=st.one_of(st.none(), st.integers(min_value=25, max_value=60)),
)
policy_st = st.builds(
    LimiterPolicy,
    share_pct=st.sampled_from([100, 100.0, 50, 33.3, 25.5, 12.5]),
    cancel_reserve_frac=st.sampled_from([0.0, 0.1, 0.25, 0.5]),
)


def window_sums_ok(events: list[tuple[int, int]], window_ms: int, bound: Fraction | int) -> bool:
    """Every `window_ms` interval of time holds at most `bound` weight of (t, weight) events.

    The heaviest interval ends at some event, so checking (t_i - window, t_i] for each i covers
    every interval.
    """
    events = sorted(events)
    lo = 0
    total = 0
    for t, w in events:
        total += w
        while events[lo][0] <= t - window_ms:
            total -= events[lo][1]
            lo += 1
        if total > bound:
            return False
    return True


def oracle_fits(history: list[tuple[int, int]], now: int, weight: int, window_ms: int, limit: int) -> bool:
    used = sum(w for t, w in history if t > now - window_ms)
    return used + weight <= limit


# Venue feedback interleaved with requests: mostly none, sometimes a success or a 429.
signal = st.sampled_from([None] * 12 + ["ok", "ok", "429"])


@PROPS
@given(
    limits=limits_st,
    policy=policy_st,
    stream=st.lists(st.tuples(*REQUEST_FIELDS, signal), min_size=30, max_size=300),
    seed=st.integers(0, 2**16),
)
def test_granted_weight_in_every_sliding_window_within_share(limits, policy, stream, seed):
    lim = DualRateLimiter(limits, policy)
    rng = random.Random(seed)
    share = (
        Fraction(repr(policy.share_pct)) / 100
        if isinstance(policy.share_pct, float)
        else Fraction(policy.share_pct, 100)
    )
    now = 1_700_000_000_000
    granted: dict[str, list[tuple[int, int]]] = {"rest": [], "ws": []}
    granted_non_cancel: dict[str, list[tuple[int, int]]] = {"rest": [], "ws": []}
    denied = 0
    for dt, kind, weight, channel, sig in stream:
        now += dt
        if sig == "429":
            lim.on_rate_limited(now, rng)
        elif sig == "ok":
            lim.on_success(now)
        blocked = lim.in_backoff(now) and kind is not RequestKind.CANCEL
        # Oracle: grant iff every window of the bucket fits (recomputed from the full history).
        expected = not blocked and all(
            oracle_fits(
                granted[channel],
                now,
                weight,
                window_ms,
                lim.capacity(channel, window_ms)
                if kind is RequestKind.CANCEL
                else lim.place_capacity(channel, window_ms),
            )
            for window_ms, _ in limits.windows(channel)
        )
        res = lim.try_acquire(kind, weight, now, channel)
        assert isinstance(res, Grant) == expected, (res, kind, weight, channel)
        if isinstance(res, Grant):
            granted[channel].append((now, weight))
            if kind is not RequestKind.CANCEL:
                granted_non_cancel[channel].append((now, weight))
        else:
            assert res.retry_at_ms > now
            denied += 1
    event("some requests denied" if denied else "nothing denied")
    for channel in ("rest", "ws"):
        for window_ms, capacity in limits.windows(channel):
            assert window_sums_ok(granted[channel], window_ms, capacity * share)
            assert window_sums_ok(granted[channel], window_ms, lim.capacity(channel, window_ms))
            assert window_sums_ok(
                granted_non_cancel[channel], window_ms, lim.place_capacity(channel, window_ms)
            )


@PROPS
@given(limits=limits_st, policy=policy_st, stream=st.lists(request, min_size=30, max_size=300))
def test_cancel_within_reserve_granted_while_placements_throttled(limits, policy, stream):
    lim = DualRateLimiter(limits, policy)
    now = 1_700_000_000_000
    cancels: dict[str, list[tuple[int, int]]] = {"rest": [], "ws": []}
    probes = 0
    for dt, kind, weight, channel in stream:
        now += dt
        res = lim.try_acquire(kind, weight, now, channel)
        if isinstance(res, Grant) and kind is RequestKind.CANCEL:
            cancels[channel].append((now, weight))
        if isinstance(res, Denied) and res.reason is DenyReason.CAPACITY and kind is not RequestKind.CANCEL:
            # Placements are throttled: any cancel that fits the reserve left over by the cancels
            # already in each window must be granted.
            room = min(
                lim.cancel_reserve(channel, window_ms)
                - sum(w for t, w in cancels[channel] if t > now - window_ms)
                for window_ms, _ in limits.windows(channel)
            )
            if room >= 1:
                probes += 1
                probe = copy.deepcopy(lim)
                assert isinstance(probe.try_acquire(RequestKind.CANCEL, room, now, channel), Grant)
    event("probed a cancel while placements were throttled" if probes else "no throttled placement")


def test_cancel_reserve_after_placements_fill_window():
    lim = DualRateLimiter(DEFAULT_LIMITS["hyperliquid"], LimiterPolicy(cancel_reserve_frac=0.1))
    assert (lim.capacity(), lim.place_capacity(), lim.cancel_reserve()) == (1200, 1080, 120)
    t = 0
    while isinstance(lim.try_acquire(RequestKind.PLACE, 1, t), Grant):
        t += 10
    denied = lim.try_acquire(RequestKind.PLACE, 1, t)
    assert denied.reason is DenyReason.CAPACITY and denied.retry_at_ms == WINDOW_MS
    assert isinstance(lim.try_acquire(RequestKind.INFO, 2, t), Denied)
    for _ in range(120):
        assert isinstance(lim.try_acquire(RequestKind.CANCEL, 1, t), Grant)
    assert lim.try_acquire(RequestKind.CANCEL, 1, t).reason is DenyReason.CAPACITY
    assert lim.usage(t)["rest"].used == 1200


@PROPS
@given(limits=limits_st, policy=policy_st, stream=st.lists(request, min_size=1, max_size=120))
def test_capacity_denial_retry_at_is_exact(limits, policy, stream):
    lim = DualRateLimiter(limits, policy)
    now = 1_000_000
    for dt, kind, weight, channel in stream:
        now += dt
        res = lim.try_acquire(kind, weight, now, channel)
        if isinstance(res, Denied) and res.reason is DenyReason.CAPACITY:
            early = copy.deepcopy(lim)
            assert isinstance(early.try_acquire(kind, weight, res.retry_at_ms - 1, channel), Denied)
            on_time = copy.deepcopy(lim)
            assert isinstance(on_time.try_acquire(kind, weight, res.retry_at_ms, channel), Grant)


@PROPS
@given(
    capacity=st.integers(min_value=10, max_value=300),
    stream=st.lists(
        st.tuples(st.integers(0, 3_000), st.sampled_from(KINDS), st.integers(1, 12), st.booleans()),
        min_size=1,
        max_size=250,
    ),
)
def test_two_processes_at_half_share_never_exceed_capacity(capacity, stream):
    limits = VenueLimits(venue="hyperliquid", rest_capacity_per_min=capacity, ws_capacity_per_min=capacity)
    a = DualRateLimiter(limits, LimiterPolicy(share_pct=50))
    b = DualRateLimiter(limits, LimiterPolicy(share_pct=50))
    now = 0
    joint: list[tuple[int, int]] = []
    for dt, kind, weight, to_a in stream:
        now += dt
        if isinstance((a if to_a else b).try_acquire(kind, weight, now), Grant):
            joint.append((now, weight))
    assert window_sums_ok(joint, WINDOW_MS, capacity)


def test_too_heavy_is_never_grantable():
    lim = DualRateLimiter(
        VenueLimits(venue="hyperliquid", rest_capacity_per_min=100, ws_capacity_per_min=100),
        LimiterPolicy(cancel_reserve_frac=0.5),
    )
    assert lim.try_acquire(RequestKind.PLACE, 51, 0) == Denied(NEVER, DenyReason.TOO_HEAVY)
    assert isinstance(lim.try_acquire(RequestKind.CANCEL, 51, 0), Grant)
    assert lim.try_acquire(RequestKind.CANCEL, 101, 0) == Denied(NEVER, DenyReason.TOO_HEAVY)
    with pytest.raises(ValueError):
        lim.try_acquire(RequestKind.PLACE, 0, 0)
    with pytest.raises(ValueError):
        lim.try_acquire(RequestKind.PLACE, 1, 0, "fix")  # type: ignore[arg-type]


def test_per_second_window_orderly():
    lim = DualRateLimiter(DEFAULT_LIMITS["woofi_pro"], LimiterPolicy(cancel_reserve_frac=0.2))
    assert lim.capacity("rest", 1_000) == 10 and lim.place_capacity("rest", 1_000) == 8
    grants = [lim.try_acquire(RequestKind.PLACE, 1, 5) for _ in range(9)]
    assert sum(isinstance(g, Grant) for g in grants) == 8
    assert grants[-1] == Denied(1_005, DenyReason.CAPACITY)
    assert isinstance(lim.try_acquire(RequestKind.PLACE, 1, 1_005), Grant)
    # A batch placement weighs 1 per order: every order counts toward Orderly's create limit.
    assert DEFAULT_LIMITS["woofi_pro"].action_weight(RequestKind.PLACE, batch_len=5) == 5
    assert DEFAULT_LIMITS["woofi_pro"].action_weight(RequestKind.CANCEL, batch_len=5) == 1


def test_clock_going_backwards_frees_nothing():
    lim = DualRateLimiter(VenueLimits(venue="standx", rest_capacity_per_min=10, ws_capacity_per_min=10))
    t0 = 100_000
    for _ in range(9):
        assert isinstance(lim.try_acquire(RequestKind.PLACE, 1, t0), Grant)
    # The clock steps back: usage is still the same, expiry still measured from t0.
    assert lim.usage(t0 - 50_000)["rest"].used == 9
    assert isinstance(lim.try_acquire(RequestKind.PLACE, 1, t0 - 50_000), Denied)
    assert isinstance(lim.try_acquire(RequestKind.PLACE, 1, t0 + WINDOW_MS), Grant)


# -- back-off -------------------------------------------------------------------------------


def backoff_delays(seed: int, n: int, policy: LimiterPolicy) -> list[int]:
    lim = DualRateLimiter(DEFAULT_LIMITS["hyperliquid"], policy)
    rng = random.Random(seed)
    now = 0
    delays = []
    for _ in range(n):
        until = lim.on_rate_limited(now, rng)
        delays.append(until - now)
        now = until  # next 429 right after the back-off ends
    return delays


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), jitter=st.sampled_from([0.0, 0.1, 0.2, 0.5]))
def test_backoff_exponential_with_bounded_jitter_and_deterministic(seed, jitter):
    policy = LimiterPolicy(
        backoff_base_ms=500, backoff_max_ms=30_000, backoff_factor=2.0, backoff_jitter_frac=jitter
    )
    delays = backoff_delays(seed, 10, policy)
    for n, d in enumerate(delays):
        nominal = min(30_000, 500 * 2**n)
        assert nominal * (1 - jitter) - 1 <= d <= min(30_000, nominal * (1 + jitter) + 1)
    assert delays == backoff_delays(seed, 10, policy)
    if jitter == 0:
        assert delays == [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]


def test_backoff_jitter_depends_on_seed():
    policy = LimiterPolicy(backoff_jitter_frac=0.3)
    assert backoff_delays(1, 6, policy) != backoff_delays(2, 6, policy)


def test_backoff_lets_only_cancels_through_and_does_not_escalate_on_inflight_replies():
    lim = DualRateLimiter(DEFAULT_LIMITS["hyperliquid"], LimiterPolicy(backoff_jitter_frac=0.0))
    rng = random.Random(7)
    assert not lim.is_critical(0)
    until = lim.on_rate_limited(1_000, rng)
    assert until == 2_000 and lim.backoff_level == 1 and lim.backoff_until_ms == 2_000
    assert lim.in_backoff(1_500) and lim.is_critical(1_500)
    assert lim.try_acquire(RequestKind.PLACE, 1, 1_500) == Denied(2_000, DenyReason.BACKOFF)
    assert lim.try_acquire(RequestKind.INFO, 2, 1_500, "ws") == Denied(2_000, DenyReason.BACKOFF)
    assert isinstance(lim.try_acquire(RequestKind.CANCEL, 1, 1_500), Grant)
    state = rng.getstate()
    assert lim.on_rate_limited(1_600, rng) == 2_000  # in-flight reply: no escalation, no draw
    assert lim.backoff_level == 1 and rng.getstate() == state
    assert isinstance(lim.try_acquire(RequestKind.PLACE, 1, 2_000), Grant)
    assert lim.on_rate_limited(2_100, rng) == 4_100 and lim.backoff_level == 2


def test_backoff_can_block_cancels_too():
    lim = DualRateLimiter(DEFAULT_LIMITS["hyperliquid"], LimiterPolicy(cancels_during_backoff=False))
    until = lim.on_rate_limited(0, random.Random(0))
    assert lim.try_acquire(RequestKind.CANCEL, 1, 1) == Denied(until, DenyReason.BACKOFF)


def test_backoff_resets_after_success_streak():
    policy = LimiterPolicy(backoff_jitter_frac=0.0, backoff_reset_successes=3)
    lim = DualRateLimiter(DEFAULT_LIMITS["hyperliquid"], policy)
    rng = random.Random(0)
    now = lim.on_rate_limited(0, rng)
    now = lim.on_rate_limited(now, rng)
    assert lim.backoff_level == 2
    lim.on_success(now)
    lim.on_success(now)
    assert lim.backoff_level == 2
    now = lim.on_rate_limited(now, rng)  # a 429 breaks the streak
    assert lim.backoff_level == 3
    for _ in range(3):
        lim.on_success(now)
    assert lim.backoff_level == 0
    assert lim.on_rate_limited(now, rng) - now == policy.backoff_base_ms


# -- usage / critical -----------------------------------------------------------------------


def test_usage_and_critical_flag():
    limits = VenueLimits(venue="hyperliquid", rest_capacity_per_min=200, ws_capacity_per_min=100)
    lim = DualRateLimiter(limits, LimiterPolicy(share_pct=50, critical_pct=80, cancel_reserve_frac=0.1))
    u = lim.usage(0)
    assert (u["rest"].capacity, u["ws"].capacity, u["rest"].used, u["rest"].pct) == (100, 50, 0, 0.0)
    assert isinstance(lim.try_acquire(RequestKind.PLACE, 79, 0), Grant)
    assert not lim.is_critical(0) and lim.usage(0)["rest"].pct == 79.0
    assert isinstance(lim.try_acquire(RequestKind.PLACE, 1, 10), Grant)
    s = lim.usage(10)["rest"]
    assert (s.used, s.capacity, s.pct, s.critical, s.window_ms, s.ts_ms) == (
        80,
        100,
        80.0,
        True,
        WINDOW_MS,
        10,
    )
    assert lim.is_critical(10)
    assert not lim.usage(10)["ws"].critical
    assert not lim.is_critical(WINDOW_MS + 10)  # both grants left the window
    for _ in range(50):
        lim.try_acquire(RequestKind.PLACE, 1, WINDOW_MS + 20, "ws")
    assert lim.usage(WINDOW_MS + 20)["ws"].used == 45  # place cap = 90 % of 50
    assert lim.is_critical(WINDOW_MS + 20)


def test_usage_reports_most_loaded_window():
    lim = DualRateLimiter(DEFAULT_LIMITS["woofi_pro"])
    for _ in range(9):
        lim.try_acquire(RequestKind.CANCEL, 1, 0)
    s = lim.usage(0)["rest"]
    assert (s.window_ms, s.used, s.capacity, s.critical) == (1_000, 9, 10, True)


# -- venue weights and env ------------------------------------------------------------------


def test_hyperliquid_weights():
    assert [hl_exchange_weight(n) for n in (1, 39, 40, 79, 80)] == [1, 1, 2, 2, 3]
    with pytest.raises(ValueError):
        hl_exchange_weight(0)
    for t in (
        "l2Book",
        "allMids",
        "clearinghouseState",
        "orderStatus",
        "spotClearinghouseState",
        "exchangeStatus",
    ):
        assert hl_info_weight(t) == 2
    for t in ("meta", "metaAndAssetCtxs", "openOrders", "frontendOpenOrders", "userRateLimit", "userFees"):
        assert hl_info_weight(t) == 20
    assert hl_info_weight("userRole") == 60
    assert hl_info_weight("userFills", 0) == 20
    assert hl_info_weight("userFills", 1) == 21
    assert hl_info_weight("userFillsByTime", 500) == 45
    assert hl_info_weight("candleSnapshot", 61) == 22
    assert hl_info_weight("l2Book", 500) == 2
    hl = DEFAULT_LIMITS["hyperliquid"]
    assert hl.action_weight(RequestKind.PLACE, 80) == 3 and hl.info_weight("l2Book") == 2


def test_documented_defaults():
    hl = DEFAULT_LIMITS["hyperliquid"]
    assert (hl.rest_capacity_per_min, hl.ws_capacity_per_min, hl.verified) == (1200, 2000, True)
    assert hl.action_budget == ActionBudgetSpec(10_000, 1.0, 10_000, 100_000, 2)
    wo = DEFAULT_LIMITS["woofi_pro"]
    assert (wo.rest_capacity_per_sec, wo.batch_place_weight, wo.verified) == (10, 1, False)
    assert DEFAULT_LIMITS["standx"].verified is False
    assert all(v.source for v in DEFAULT_LIMITS.values())


def test_limits_from_env_defaults_and_overrides():
    assert limits_from_env("hyperliquid", {}) == DEFAULT_LIMITS["hyperliquid"]
    hl = limits_from_env("HL", {"HL_REST_CAPACITY_PER_MIN": " 600 ", "HL_WS_CAPACITY_PER_MIN": "1000"})
    assert (hl.rest_capacity_per_min, hl.ws_capacity_per_min) == (600, 1000)
    wo = limits_from_env("orderly", {"WOOFI_REST_CAPACITY_PER_SEC": "5", "HL_REST_CAPACITY_PER_MIN": "1"})
    assert (wo.venue, wo.rest_capacity_per_sec, wo.rest_capacity_per_min) == ("woofi_pro", 5, 600)
    sx = limits_from_env("standx", {"STANDX_WS_CAPACITY_PER_MIN": "120"})
    assert sx.ws_capacity_per_min == 120


@pytest.mark.parametrize(
    ("venue", "var", "value"),
    [
        ("hyperliquid", "HL_REST_CAPACITY_PER_MIN", "abc"),
        ("hyperliquid", "HL_REST_CAPACITY_PER_MIN", "0"),
        ("hyperliquid", "HL_WS_CAPACITY_PER_MIN", "-5"),
        ("hyperliquid", "HL_WS_CAPACITY_PER_MIN", ""),
        ("hyperliquid", "HL_WS_CAPACITY_PER_MIN", "1_200"),
        ("hyperliquid", "HL_REST_CAPACITY_PER_MIN", "12.5"),
        ("hyperliquid", "HL_REST_CAPACITY_PER_MIN", "99999999"),
        ("woofi_pro", "WOOFI_REST_CAPACITY_PER_SEC", "ten"),
        ("woofi_pro", "WOOFI_WS_CAPACITY_PER_MIN", "0"),
        ("standx", "STANDX_REST_CAPACITY_PER_MIN", "1e3"),
    ],
)
def test_limits_from_env_errors_name_the_variable(venue, var, value):
    with pytest.raises(RateLimitConfigError) as exc:
        limits_from_env(venue, {var: value})
    assert exc.value.variable == var
    assert var in str(exc.value)


def test_unknown_venue_and_bad_policy():
    with pytest.raises(ValueError, match="unknown venue"):
        limits_from_env("binance", {})
    with pytest.raises(RateLimitConfigError, match="share_pct"):
        LimiterPolicy(share_pct=0)
    with pytest.raises(RateLimitConfigError, match="cancel_reserve_frac"):
        LimiterPolicy(cancel_reserve_frac=1.0)
    with pytest.raises(RateLimitConfigError, match="backoff_max_ms"):
        LimiterPolicy(backoff_base_ms=10, backoff_max_ms=5)
    tiny = VenueLimits(venue="standx", rest_capacity_per_min=10, ws_capacity_per_min=10)
    with pytest.raises(RateLimitConfigError, match="share_pct"):
        DualRateLimiter(tiny, LimiterPolicy(share_pct=5))
    with pytest.raises(RateLimitConfigError, match="cancel_reserve_frac"):
        DualRateLimiter(tiny, LimiterPolicy(share_pct=10, cancel_reserve_frac=0.5))
    with pytest.raises(ValueError, match="rest_capacity_per_min"):
        VenueLimits(venue="x", rest_capacity_per_min=0, ws_capacity_per_min=1)


# -- per-address action budget ---------------------------------------------------------------


def test_action_budget_places_cancels_throttle_and_volume():
    spec = ActionBudgetSpec(
        initial=10, per_usd=1.0, throttled_interval_ms=10_000, cancel_extra=100_000, cancel_factor=2
    )
    b = ActionBudget(spec)
    assert (b.limit, b.cancel_limit) == (10, 20)
    assert isinstance(b.try_consume(RequestKind.PLACE, 8, 0), Grant)
    assert b.try_consume(RequestKind.PLACE, 3, 0) == Denied(NEVER, DenyReason.BUDGET)
    assert isinstance(b.try_consume(RequestKind.MODIFY, 2, 0), Grant)
    assert b.remaining(RequestKind.PLACE) == 0 and b.remaining(RequestKind.CANCEL) == 10
    assert isinstance(b.try_consume(RequestKind.CANCEL, 10, 0), Grant)
    assert isinstance(b.try_consume(RequestKind.INFO, 1, 0), Grant) and b.used == 20
    # Exhausted: one single-action request per 10 s.
    assert isinstance(b.try_consume(RequestKind.CANCEL, 1, 5), Grant)
    assert b.try_consume(RequestKind.PLACE, 1, 6) == Denied(10_005, DenyReason.BUDGET)
    assert isinstance(b.try_consume(RequestKind.PLACE, 1, 10_005), Grant)
    # Volume raises the limit: 1 per USD.
    b.on_volume(15.7)
    assert b.limit == 25 and b.remaining(RequestKind.PLACE) == 3
    assert isinstance(b.try_consume(RequestKind.PLACE, 3, 10_006), Grant)
    b.sync(n_requests_used=100, n_requests_cap=10_500)
    assert (b.limit, b.cancel_limit, b.remaining(RequestKind.PLACE)) == (10_500, 21_000, 10_400)
    b.sync(n_requests_used=100, n_requests_cap=10_500, n_requests_surplus=50)
    assert b.remaining(RequestKind.PLACE) == 10_450
    big = ActionBudget(ActionBudgetSpec(), base_cap=200_000)
    assert big.cancel_limit == 300_000  # min(limit + 100000, 2 * limit)
    with pytest.raises(ValueError):
        b.on_volume(-1)
