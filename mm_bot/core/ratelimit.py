"""Venue rate limits: the shared dual (REST weight, WS messages) limiter and the per-address budget.

Sans-I/O: nothing here reads a clock, sleeps or awaits. Every method takes `now_ms`, the injected
clock (virtual in replays), and randomness comes from an injected `random.Random`, so a replay
with the same inputs makes the same decisions.

Guarantee. `DualRateLimiter` keeps a sliding-window log (a deque of `(t_ms, weight)` per window).
A request is granted only if the weight already granted in `(now - window, now]` plus its own
weight fits the limit, so for ANY request stream the weight granted in EVERY window of
`window_ms` consecutive milliseconds is <= the effective capacity, i.e.
`floor(capacity * share_pct / 100)`. (A refilling token bucket does not give this: a full bucket
plus a window's refill can pass nearly twice the capacity in one window.) Several processes on one
IP each get `share_pct` (e.g. 50 + 50) and jointly stay within the venue's capacity.

Cancel headroom. Non-cancel requests (PLACE, MODIFY, INFO) are granted only while the window
total, cancels included, stays <= `floor(effective * (1 - cancel_reserve_frac))`; cancels may use
the whole effective capacity. Hence non-cancel weight never exceeds that placement limit in any
window, and a cancel is always granted while the cancels already in the window plus its own
weight fit the reserve: placements can never starve a cancel.

One limiter per (venue, account, IP), shared by every bot of the process. The core is
single-threaded (the asyncio shell calls it from one loop), so it takes no locks. Note that the
Hyperliquid REST limit is per IP: two accounts on one IP must split it with `share_pct` too.
"""

from __future__ import annotations

import math
import random
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from fractions import Fraction
from typing import Literal

Channel = Literal["rest", "ws"]
CHANNELS: tuple[Channel, Channel] = ("rest", "ws")
WINDOW_MS = 60_000
SECOND_MS = 1_000
# retry_at_ms of a request that can never be granted (heavier than its limit).
NEVER = 2**63 - 1


class RequestKind(StrEnum):
    CANCEL = "cancel"
    PLACE = "place"
    MODIFY = "modify"
    INFO = "info"


class DenyReason(StrEnum):
    CAPACITY = "capacity"  # the window is full for this kind (placements: up to the cancel reserve)
    BACKOFF = "backoff"  # the venue rate-limited us; only cancels pass until retry_at_ms
    TOO_HEAVY = "too_heavy"  # heavier than this kind's window limit: never grantable (retry_at_ms = NEVER)
    BUDGET = "budget"  # the per-address action budget is exhausted (ActionBudget)


@dataclass(frozen=True, slots=True)
class Grant:
    kind: RequestKind
    weight: int
    at_ms: int
    channel: str  # "rest" | "ws" | "address" (ActionBudget)


@dataclass(frozen=True, slots=True)
class Denied:
    retry_at_ms: int
    reason: DenyReason


@dataclass(frozen=True, slots=True)
class UsageSample:
    """Usage of one bucket at ts_ms, for `rate_limit_usage` rows and the critical flag.

    capacity is the effective capacity (after share_pct) of the bucket's most loaded window
    (window_ms); pct = 100 * used / capacity.
    """

    channel: str
    ts_ms: int
    used: int
    capacity: int
    window_ms: int
    pct: float
    critical: bool


# --------------------------------------------------------------------------------------------
# Venue facts (../shared/PROTOCOLS.md; "DOC" = the venue's own docs as cited there)
# --------------------------------------------------------------------------------------------

# Hyperliquid /info weights (PROTOCOLS 1.7, DOC rate-limits-and-user-limits.md).
HL_INFO_WEIGHT_DEFAULT = 20
HL_INFO_WEIGHTS: Mapping[str, int] = {
    "l2Book": 2,
    "allMids": 2,
    "clearinghouseState": 2,
    "orderStatus": 2,
    "spotClearinghouseState": 2,
    "exchangeStatus": 2,
    "userRole": 60,
}
# Extra +1 per this many items returned (PROTOCOLS 1.7 lists the first six and "…"; the rest
# are from the same DOC page).
HL_INFO_ITEMS_PER_EXTRA: Mapping[str, int] = {
    **dict.fromkeys(
        (
            "recentTrades",
            "historicalOrders",
            "userFills",
            "userFillsByTime",
            "fundingHistory",
            "userFunding",
            "nonUserFundingUpdates",
            "twapHistory",
            "userTwapSliceFills",
            "userTwapSliceFillsByTime",
            "delegatorHistory",
            "delegatorRewards",
            "validatorStats",
        ),
        20,
    ),
    "candleSnapshot": 60,
}
HL_EXCHANGE_BATCH_DIVISOR = 40


def hl_exchange_weight(batch_len: int) -> int:
    """Hyperliquid /exchange IP weight: 1 + floor(batch_len / 40) (PROTOCOLS 1.7)."""
    if batch_len < 1:
        raise ValueError(f"batch_len must be >= 1, got {batch_len}")
    return 1 + batch_len // HL_EXCHANGE_BATCH_DIVISOR


def hl_info_weight(info_type: str, n_items: int = 0) -> int:
    """Hyperliquid /info IP weight of a request type (PROTOCOLS 1.7).

    2 for l2Book, allMids, clearinghouseState, orderStatus, spotClearinghouseState,
    exchangeStatus; 60 for userRole; 20 for every other type (meta, metaAndAssetCtxs,
    openOrders, frontendOpenOrders, userFills, userRateLimit, userFees, ...). Types in
    HL_INFO_ITEMS_PER_EXTRA add 1 per 20 items (candleSnapshot: per 60). The venue charges the
    extra on the items returned; callers pass the expected maximum (e.g. 500 for a
    userFillsByTime page) and it is rounded up, which is conservative.
    """
    if n_items < 0:
        raise ValueError(f"n_items must be >= 0, got {n_items}")
    weight = HL_INFO_WEIGHTS.get(info_type, HL_INFO_WEIGHT_DEFAULT)
    per = HL_INFO_ITEMS_PER_EXTRA.get(info_type)
    if per is not None and n_items:
        weight += -(-n_items // per)
    return weight


@dataclass(frozen=True, slots=True)
class ActionBudgetSpec:
    """A per-address action budget (Hyperliquid, PROTOCOLS 1.7, DOC rate-limits-and-user-limits).

    limit = initial + floor(per_usd * cumulative traded volume in USD(C)); every order/cancel/
    modify in an action counts (a batch of n counts n); once used >= limit the address may send
    one request per throttled_interval_ms; cancels may go on up to
    min(limit + cancel_extra, cancel_factor * limit). Subaccounts have their own budget.
    """

    initial: int = 10_000
    per_usd: float = 1.0
    throttled_interval_ms: int = 10_000
    cancel_extra: int = 100_000
    cancel_factor: int = 2


@dataclass(frozen=True, slots=True)
class VenueLimits:
    """Rate limits of one venue. Capacities are weight units per window (REST) and messages per
    window (WS), for the whole IP / key, before any share_pct split.

    rest_capacity_per_sec / ws_capacity_per_sec add a second, 1 s sliding window to the bucket
    (None = no per-second limit). verified=False marks numbers the venue does not document.
    """

    venue: str
    rest_capacity_per_min: int
    ws_capacity_per_min: int
    rest_capacity_per_sec: int | None = None
    ws_capacity_per_sec: int | None = None
    # Weight PER ORDER of a batch placement request (Orderly POST /v1/batch-order: every order of
    # a batch counts toward the create limit): None = the venue's formula (Hyperliquid
    # 1 + floor(n/40), others 1 per request).
    batch_place_weight: int | None = None
    action_budget: ActionBudgetSpec | None = None
    verified: bool = True
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("rest_capacity_per_min", "ws_capacity_per_min"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{self.venue}: {name} must be a positive integer, got {value!r}")
        for name in ("rest_capacity_per_sec", "ws_capacity_per_sec", "batch_place_weight"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{self.venue}: {name} must be None or a positive integer, got {value!r}")

    def windows(self, channel: Channel) -> tuple[tuple[int, int], ...]:
        """(window_ms, capacity) pairs of a bucket, longest window first."""
        if channel == "rest":
            per_min, per_sec = self.rest_capacity_per_min, self.rest_capacity_per_sec
        elif channel == "ws":
            per_min, per_sec = self.ws_capacity_per_min, self.ws_capacity_per_sec
        else:
            raise ValueError(f"channel must be 'rest' or 'ws', got {channel!r}")
        out = [(WINDOW_MS, per_min)]
        if per_sec is not None:
            out.append((SECOND_MS, per_sec))
        return tuple(out)

    def action_weight(self, kind: RequestKind, batch_len: int = 1) -> int:
        """REST weight of one order/cancel/modify request carrying batch_len items."""
        if batch_len < 1:
            raise ValueError(f"batch_len must be >= 1, got {batch_len}")
        if self.venue == HYPERLIQUID:
            return hl_exchange_weight(batch_len)
        if batch_len > 1 and kind is RequestKind.PLACE and self.batch_place_weight is not None:
            return self.batch_place_weight * batch_len
        return 1

    def info_weight(self, info_type: str = "", n_items: int = 0) -> int:
        """REST weight of one read (Hyperliquid per hl_info_weight; other venues 1 per request)."""
        if self.venue == HYPERLIQUID:
            return hl_info_weight(info_type, n_items)
        return 1


HYPERLIQUID = "hyperliquid"
WOOFI_PRO = "woofi_pro"
STANDX = "standx"

DEFAULT_LIMITS: Mapping[str, VenueLimits] = {
    HYPERLIQUID: VenueLimits(
        venue=HYPERLIQUID,
        rest_capacity_per_min=1200,
        ws_capacity_per_min=2000,
        action_budget=ActionBudgetSpec(),
        verified=True,
        source=(
            "PROTOCOLS 1.7 (DOC rate-limits-and-user-limits.md): REST 1200 weight/min per IP; "
            "WS <= 2000 client->server messages/min per IP across connections; /exchange weight "
            "1 + floor(batch/40); /info 2/20/60; per address 10000 + 1 per USDC traded"
        ),
    ),
    WOOFI_PRO: VenueLimits(
        venue=WOOFI_PRO,
        rest_capacity_per_min=600,
        ws_capacity_per_min=600,
        rest_capacity_per_sec=10,
        batch_place_weight=1,
        verified=False,
        source=(
            "PROTOCOLS 2.3 (OR-DOC orderly.openapi.yaml): limits are per Orderly key and per "
            "endpoint: order create/cancel/edit/cancel-all/orders/orderbook 10/s, batch-order 1/s "
            "(each order counts toward the create limit), positions 30/10 s, client/info 10/60 s. "
            "One shared 10/s window (+ 600/min = 10/s * 60) is conservative for every endpoint "
            "except client/info (poll it at most once a minute); a batch placement weighs 1 per "
            "order (the gateway keeps batch requests 1 s apart and below the per-second placement "
            "share). WS message limits are NOT documented (PROTOCOLS 5.4): "
            "600/min is an UNVERIFIED placeholder"
        ),
    ),
    STANDX: VenueLimits(
        venue=STANDX,
        rest_capacity_per_min=600,
        ws_capacity_per_min=600,
        verified=False,
        source=(
            "PROTOCOLS 3 / 5.5: StandX documents only '429 Too Many Requests', no numbers; "
            "600/min REST and WS are UNVERIFIED conservative placeholders (tune with "
            "STANDX_REST_CAPACITY_PER_MIN / STANDX_WS_CAPACITY_PER_MIN)"
        ),
    ),
}

VENUE_ALIASES: Mapping[str, str] = {
    "hyperliquid": HYPERLIQUID,
    "hl": HYPERLIQUID,
    "woofi_pro": WOOFI_PRO,
    "woofi": WOOFI_PRO,
    "orderly": WOOFI_PRO,
    "standx": STANDX,
}

# Environment variable prefix per venue. Variables: <P>REST_CAPACITY_PER_MIN,
# <P>WS_CAPACITY_PER_MIN, <P>REST_CAPACITY_PER_SEC, <P>WS_CAPACITY_PER_SEC.
ENV_PREFIX: Mapping[str, str] = {HYPERLIQUID: "HL_", WOOFI_PRO: "WOOFI_", STANDX: "STANDX_"}
_ENV_FIELDS = (
    ("REST_CAPACITY_PER_MIN", "rest_capacity_per_min"),
    ("WS_CAPACITY_PER_MIN", "ws_capacity_per_min"),
    ("REST_CAPACITY_PER_SEC", "rest_capacity_per_sec"),
    ("WS_CAPACITY_PER_SEC", "ws_capacity_per_sec"),
)
_MAX_ENV_CAPACITY = 10_000_000
_DIGITS = re.compile(r"[0-9]+")


class RateLimitConfigError(ValueError):
    """A bad rate-limit setting; `variable` names the environment variable (or setting)."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


def canonical_venue(venue: str) -> str:
    """'hyperliquid' | 'woofi_pro' | 'standx' for a venue name or alias (hl, woofi, orderly)."""
    key = venue.strip().lower()
    if key not in VENUE_ALIASES:
        raise ValueError(f"unknown venue {venue!r}; expected one of {sorted(VENUE_ALIASES)}")
    return VENUE_ALIASES[key]


def limits_from_env(venue: str, environ: Mapping[str, str]) -> VenueLimits:
    """The venue's DEFAULT_LIMITS with overrides from the environment.

    Reads <P>REST_CAPACITY_PER_MIN, <P>WS_CAPACITY_PER_MIN, <P>REST_CAPACITY_PER_SEC and
    <P>WS_CAPACITY_PER_SEC with <P> = HL_ (Hyperliquid), WOOFI_ (WOOFi Pro / Orderly) or
    STANDX_. Unset variables keep the default. A set variable must be a decimal integer in
    [1, 10_000_000] (surrounding blanks allowed); anything else (including an empty value)
    raises RateLimitConfigError naming the variable.
    """
    name = canonical_venue(venue)
    prefix = ENV_PREFIX[name]
    overrides: dict[str, int] = {}
    for suffix, attr in _ENV_FIELDS:
        var = prefix + suffix
        raw = environ.get(var)
        if raw is None:
            continue
        text = raw.strip()
        if not _DIGITS.fullmatch(text):
            raise RateLimitConfigError(var, f"must be a positive integer, got {raw!r}")
        value = int(text)
        if not 1 <= value <= _MAX_ENV_CAPACITY:
            raise RateLimitConfigError(var, f"must be between 1 and {_MAX_ENV_CAPACITY}, got {value}")
        overrides[attr] = value
    return replace(DEFAULT_LIMITS[name], **overrides)


# --------------------------------------------------------------------------------------------
# The limiter
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LimiterPolicy:
    """How a process uses a venue's limits.

    share_pct: this process's share of the venue capacity (rate_limits_share_pct), 0 < x <= 100.
    cancel_reserve_frac: fraction of the effective capacity only cancels may use, 0 <= x < 1.
    critical_pct: usage (of the effective capacity) at or above which is_critical() is True, so
      bots skip requotes before they must skip anything else. With the defaults bots back off
      from requoting at 85 % and placements are hard-denied at 90 %.
    backoff_*: after on_rate_limited the n-th consecutive back-off lasts
      min(max_ms, base_ms * factor**(n-1)) scaled by a jitter factor uniform in
      [1 - jitter_frac, 1 + jitter_frac], then clamped to [1, max_ms].
    backoff_reset_successes: consecutive on_success calls that reset n to 0.
    cancels_during_backoff: True (default) lets cancels through during a back-off (still within
      capacity): a stale quote is the bigger risk, a cancel the venue refuses costs one request,
      and Hyperliquid grants cancels extra per-address headroom. False blocks everything.
    """

    share_pct: float = 100.0
    cancel_reserve_frac: float = 0.10
    critical_pct: float = 85.0
    backoff_base_ms: int = 1_000
    backoff_max_ms: int = 60_000
    backoff_factor: float = 2.0
    backoff_jitter_frac: float = 0.2
    backoff_reset_successes: int = 10
    cancels_during_backoff: bool = True

    def __post_init__(self) -> None:
        checks = (
            ("share_pct", 0 < self.share_pct <= 100, "must be in (0, 100]"),
            ("cancel_reserve_frac", 0 <= self.cancel_reserve_frac < 1, "must be in [0, 1)"),
            ("critical_pct", 0 < self.critical_pct <= 100, "must be in (0, 100]"),
            ("backoff_base_ms", self.backoff_base_ms >= 1, "must be >= 1"),
            ("backoff_max_ms", self.backoff_max_ms >= self.backoff_base_ms, "must be >= backoff_base_ms"),
            ("backoff_factor", self.backoff_factor >= 1, "must be >= 1"),
            ("backoff_jitter_frac", 0 <= self.backoff_jitter_frac < 1, "must be in [0, 1)"),
            ("backoff_reset_successes", self.backoff_reset_successes >= 1, "must be >= 1"),
        )
        for name, ok, message in checks:
            if not ok:
                raise RateLimitConfigError(name, f"{message}, got {getattr(self, name)!r}")


def _fraction(x: float) -> Fraction:
    # Decimal spelling so 33.3 means 333/10, not the nearest binary float.
    return Fraction(repr(x)) if isinstance(x, float) else Fraction(x)


class _Window:
    """Sliding-window log of granted weight over (now - window_ms, now]."""

    __slots__ = ("window_ms", "capacity", "place_capacity", "used", "_log")

    def __init__(self, window_ms: int, capacity: int, place_capacity: int) -> None:
        self.window_ms = window_ms
        self.capacity = capacity
        self.place_capacity = place_capacity
        self.used = 0
        self._log: deque[list[int]] = deque()  # [t_ms, weight], t non-decreasing

    def prune(self, now_ms: int) -> None:
        horizon = now_ms - self.window_ms
        log = self._log
        while log and log[0][0] <= horizon:
            self.used -= log.popleft()[1]

    def limit(self, kind: RequestKind) -> int:
        return self.capacity if kind is RequestKind.CANCEL else self.place_capacity

    def add(self, now_ms: int, weight: int) -> None:
        log = self._log
        if log and log[-1][0] == now_ms:
            log[-1][1] += weight
        else:
            log.append([now_ms, weight])
        self.used += weight

    def fits_at(self, limit: int, weight: int, now_ms: int) -> int:
        """Earliest time >= now_ms at which `weight` fits under `limit` (no new grants assumed)."""
        excess = self.used + weight - limit
        if excess <= 0:
            return now_ms
        freed = 0
        for t, w in self._log:
            freed += w
            if freed >= excess:
                return t + self.window_ms
        return NEVER


class DualRateLimiter:
    """REST-weight and WS-message sliding-window limiter for one (venue, account, IP).

    Methods clamp now_ms to the latest time seen: a clock going backwards is treated as "no time
    passed", which never frees capacity early.
    """

    def __init__(self, limits: VenueLimits, policy: LimiterPolicy | None = None) -> None:
        self.limits = limits
        self.policy = policy if policy is not None else LimiterPolicy()
        share = _fraction(self.policy.share_pct) / 100
        keep = 1 - _fraction(self.policy.cancel_reserve_frac)
        self._buckets: dict[str, list[_Window]] = {}
        for channel in CHANNELS:
            windows = []
            for window_ms, capacity in limits.windows(channel):
                effective = math.floor(capacity * share)
                if effective < 1:
                    raise RateLimitConfigError(
                        "share_pct",
                        f"{self.policy.share_pct}% of {limits.venue} {channel} capacity {capacity} "
                        f"per {window_ms} ms is less than 1",
                    )
                place = math.floor(effective * keep)
                if place < 1:
                    raise RateLimitConfigError(
                        "cancel_reserve_frac",
                        f"{self.policy.cancel_reserve_frac} of {limits.venue} {channel} effective "
                        f"capacity {effective} per {window_ms} ms leaves no room for placements",
                    )
                windows.append(_Window(window_ms, effective, place))
            self._buckets[channel] = windows
        self._now = -(2**63)
        self._level = 0
        self._delay_ms = 0.0
        self._backoff_until = -(2**63)
        self._success_streak = 0

    # -- clock ---------------------------------------------------------------------------------
    def _clock(self, now_ms: int) -> int:
        if now_ms > self._now:
            self._now = now_ms
        return self._now

    def _windows(self, channel: str, now: int) -> list[_Window]:
        try:
            windows = self._buckets[channel]
        except KeyError:
            raise ValueError(f"channel must be 'rest' or 'ws', got {channel!r}") from None
        for w in windows:
            w.prune(now)
        return windows

    # -- capacities ----------------------------------------------------------------------------
    def capacity(self, channel: Channel = "rest", window_ms: int = WINDOW_MS) -> int:
        """Effective capacity (after share_pct) of one window of a bucket."""
        return self._window_of(channel, window_ms).capacity

    def place_capacity(self, channel: Channel = "rest", window_ms: int = WINDOW_MS) -> int:
        """Window total up to which non-cancel requests are granted."""
        return self._window_of(channel, window_ms).place_capacity

    def cancel_reserve(self, channel: Channel = "rest", window_ms: int = WINDOW_MS) -> int:
        """Weight per window only cancels may use: capacity - place_capacity."""
        w = self._window_of(channel, window_ms)
        return w.capacity - w.place_capacity

    def _window_of(self, channel: str, window_ms: int) -> _Window:
        for w in self._buckets.get(channel, ()):
            if w.window_ms == window_ms:
                return w
        raise ValueError(f"no {window_ms} ms window on channel {channel!r}")

    # -- requests ------------------------------------------------------------------------------
    def try_acquire(
        self, kind: RequestKind, weight: int, now_ms: int, channel: Channel = "rest"
    ) -> Grant | Denied:
        """Grant `weight` on `channel` now, or say when to retry and why.

        Denied reasons: BACKOFF (non-cancel during a back-off; retry_at = back-off end),
        CAPACITY (retry_at = the exact time enough granted weight will have left every window,
        assuming no other grant meanwhile), TOO_HEAVY (weight above this
        kind's limit of some window; retry_at = NEVER).
        """
        if not isinstance(weight, int) or weight < 1:
            raise ValueError(f"weight must be a positive integer, got {weight!r}")
        kind = RequestKind(kind)
        now = self._clock(now_ms)
        windows = self._windows(channel, now)
        in_backoff = now < self._backoff_until
        if in_backoff and (kind is not RequestKind.CANCEL or not self.policy.cancels_during_backoff):
            return Denied(self._backoff_until, DenyReason.BACKOFF)
        retry_at = now
        for w in windows:
            limit = w.limit(kind)
            if weight > limit:
                return Denied(NEVER, DenyReason.TOO_HEAVY)
            retry_at = max(retry_at, w.fits_at(limit, weight, now))
        if retry_at > now:
            return Denied(retry_at, DenyReason.CAPACITY)
        for w in windows:
            w.add(now, weight)
        return Grant(kind, weight, now, channel)

    # -- usage ---------------------------------------------------------------------------------
    def usage(self, now_ms: int) -> dict[str, UsageSample]:
        """One sample per bucket ("rest", "ws"), each for its most loaded window."""
        now = self._clock(now_ms)
        out: dict[str, UsageSample] = {}
        for channel in CHANNELS:
            worst = max(self._windows(channel, now), key=lambda w: w.used / w.capacity)
            pct = 100.0 * worst.used / worst.capacity
            out[channel] = UsageSample(
                channel=channel,
                ts_ms=now,
                used=worst.used,
                capacity=worst.capacity,
                window_ms=worst.window_ms,
                pct=pct,
                critical=pct >= self.policy.critical_pct,
            )
        return out

    def is_critical(self, now_ms: int) -> bool:
        """True during a back-off or when any bucket is at or above critical_pct: skip requotes
        (keep cancels)."""
        if self.in_backoff(now_ms):
            return True
        return any(s.critical for s in self.usage(now_ms).values())

    # -- venue feedback ------------------------------------------------------------------------
    def in_backoff(self, now_ms: int) -> bool:
        return self._clock(now_ms) < self._backoff_until

    @property
    def backoff_until_ms(self) -> int | None:
        """End of the current or last back-off, None if there never was one."""
        return None if self._backoff_until == -(2**63) else self._backoff_until

    @property
    def backoff_level(self) -> int:
        """Consecutive back-offs since the last reset (0 = none)."""
        return self._level

    def on_rate_limited(self, now_ms: int, rng: random.Random) -> int:
        """The venue answered 429 / a rate-limit error: start (or escalate) a back-off.

        Returns the back-off end (ms). A report arriving while a back-off is still running is
        taken as the answer to a request sent before it began and changes nothing (no rng draw),
        so a burst of in-flight replies does not escalate several levels at once. The back-off
        covers both buckets: the venue's accounting disagrees with ours.
        """
        now = self._clock(now_ms)
        self._success_streak = 0
        if now < self._backoff_until:
            return self._backoff_until
        p = self.policy
        self._level += 1
        if self._level == 1:
            self._delay_ms = float(p.backoff_base_ms)
        else:
            self._delay_ms = min(float(p.backoff_max_ms), self._delay_ms * p.backoff_factor)
        jitter = 1.0 + p.backoff_jitter_frac * (2.0 * rng.random() - 1.0)
        delay = max(1, min(p.backoff_max_ms, round(self._delay_ms * jitter)))
        self._backoff_until = now + delay
        return self._backoff_until

    def on_success(self, now_ms: int) -> None:
        """A request succeeded; backoff_reset_successes in a row reset the back-off level (a
        running back-off still runs to its end)."""
        self._clock(now_ms)
        self._success_streak += 1
        if self._success_streak >= self.policy.backoff_reset_successes:
            self._level = 0
            self._delay_ms = 0.0


# --------------------------------------------------------------------------------------------
# Per-address action budget (Hyperliquid)
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ActionBudget:
    """Per-address action budget (Hyperliquid: 10000 + 1 per USDC traded; PROTOCOLS 1.7).

    Separate from the IP limiter: one per trading address (subaccounts have their own). Every
    order, cancel or modify in an action counts 1 (a batch of n counts n); INFO reads do not
    count. Non-cancels pass while used + n <= limit, cancels while used + n <= cancel_limit.
    Beyond that the address is throttled to one request per throttled_interval_ms; this class
    allows only single-item requests then (the docs say "one request" and do not say how a
    batch counts), so split cancels when throttled. Volume raises the limit (on_volume); the
    venue's own numbers (`userRateLimit` nRequestsUsed / nRequestsCap) override ours (sync).
    """

    spec: ActionBudgetSpec = field(default_factory=ActionBudgetSpec)
    used: int = 0
    base_cap: int = -1  # cap at the last sync; -1 = spec.initial
    volume_since_sync_usd: float = 0.0
    last_throttled_ms: int | None = None

    def __post_init__(self) -> None:
        if self.base_cap < 0:
            self.base_cap = self.spec.initial

    @property
    def limit(self) -> int:
        return self.base_cap + math.floor(self.volume_since_sync_usd * self.spec.per_usd)

    @property
    def cancel_limit(self) -> int:
        limit = self.limit
        return min(limit + self.spec.cancel_extra, self.spec.cancel_factor * limit)

    def remaining(self, kind: RequestKind) -> int:
        cap = self.cancel_limit if kind is RequestKind.CANCEL else self.limit
        return max(0, cap - self.used)

    def on_volume(self, notional_usd: float) -> None:
        """A fill of notional_usd (abs value) raised the cumulative volume."""
        if notional_usd < 0 or not math.isfinite(notional_usd):
            raise ValueError(f"notional_usd must be finite and >= 0, got {notional_usd!r}")
        self.volume_since_sync_usd += notional_usd

    def sync(self, n_requests_used: int, n_requests_cap: int, n_requests_surplus: int = 0) -> None:
        """Adopt the venue's numbers (Hyperliquid /info userRateLimit; the surplus counts as
        extra cap, as in venues.hyperliquid.mapping.RateLimitStatus.remaining)."""
        if n_requests_used < 0 or n_requests_cap < 0 or n_requests_surplus < 0:
            raise ValueError("n_requests_used, n_requests_cap and n_requests_surplus must be >= 0")
        self.used = n_requests_used
        self.base_cap = n_requests_cap + n_requests_surplus
        self.volume_since_sync_usd = 0.0

    def try_consume(self, kind: RequestKind, n_actions: int, now_ms: int) -> Grant | Denied:
        """Charge n_actions (orders/cancels/modifies in one action) or refuse (reason BUDGET).

        Denied.retry_at_ms is the next throttled slot for a single action, NEVER for a batch
        while throttled (only traded volume or a sync can lift that).
        """
        if n_actions < 1:
            raise ValueError(f"n_actions must be >= 1, got {n_actions}")
        kind = RequestKind(kind)
        if kind is RequestKind.INFO:
            return Grant(kind, 0, now_ms, "address")
        if n_actions <= self.remaining(kind):
            self.used += n_actions
            return Grant(kind, n_actions, now_ms, "address")
        if n_actions > 1:
            return Denied(NEVER, DenyReason.BUDGET)
        interval = self.spec.throttled_interval_ms
        if self.last_throttled_ms is None or now_ms >= self.last_throttled_ms + interval:
            self.last_throttled_ms = now_ms
            self.used += 1
            return Grant(kind, 1, now_ms, "address")
        return Denied(self.last_throttled_ms + interval, DenyReason.BUDGET)
