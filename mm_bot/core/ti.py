"""Transaction-impact (TI) metrics of one bot on one coin, and the TI score.

Sans-I/O: the bot feeds a :class:`TiTracker` with its order lifecycle, its fills, the mid and
whether both sides rest; every method takes ``now_ms`` (the injected clock) and nothing reads
a wall clock. Snapshots cover a window ``(start_ms, end_ms]``: a point event (fill, cancel
request, order done, ...) at exactly ``end_ms`` belongs to that window, one at ``start_ms`` to
the previous one, so consecutive minutes never count an event twice.

Metric meanings (DESIGN section 6, implemented literally)
---------------------------------------------------------
- maker ratio = maker fills / all fills, by count (``maker_ratio``) and by notional
  (``maker_ratio_notional``).
- cancels per fill = cancel requests / fills; amends (modifies) are counted apart
  (``amends``, ``amends_per_fill``) and are not cancels.
- order rest time = fill-or-cancel time (``on_order_done``) - time the venue accepted the order
  (``on_order_accepted``); a sample belongs to the window of its done time. ``rest_ms_median`` and
  ``rest_ms_p90`` use linear interpolation between closest ranks (numpy's default): the q-quantile
  of sorted samples x[0..n-1] is x[k] + f (x[k+1] - x[k]) with k + f = q (n - 1).
- holding time = FIFO lot time from the fill that opens exposure to the fill that closes it. Fills
  are matched lot by lot, oldest open lot first; each matched piece gives one sample
  (close fill time - open fill time of the lot, matched size), dated at the close fill. A fill
  larger than the open position closes it and opens the rest on the other side at its own
  time. ``holding_ms_avg`` is the size-weighted mean of the samples and ``holding_ms_median`` the
  size-weighted median (the time at which the cumulative matched size reaches half the total;
  the mean of the two neighbouring times when it lands exactly on half, so equal sizes give the
  ordinary median).
- slippage vs mid (bps) = side x (fill price - mid at fill) / mid x 10^4, negative is edge earned;
  ``slippage_bps`` is its notional-weighted mean over the window's fills (fills with a mid <= 0
  are left out).
- markouts at +1 s, +10 s, +60 s (bps) = side x (mid then - fill price) / fill price x 10^4, where
  "mid then" is the first mid passed to ``on_mid`` at or after fill time + horizon. Averages are
  notional-weighted over the window's fills whose markout has resolved by the time of the
  snapshot (so a minute summary carries few or no 60 s markouts of its own fills; the rolling
  window carries them).
- spread at fill (bps): notional-weighted mean of the market spread passed with each fill.
  ``slippage_frac`` = ``slippage_bps`` / ``spread_at_fill_bps`` (undefined when that spread
  is <= 0): the figure the ``ti_proxy.max_slippage_frac`` target is about.
- two-sided uptime = share of observed time both sides rest on the book. ``on_two_sided`` states
  hold until the next call (time-weighted); time before the first call is not observed.
  ``two_sided_s_per_hour`` = share x 3600.
- distinct counterparties = number of distinct non-empty counterparty names among the fills.

Every ratio or average is ``None`` when undefined (no fills, no samples), never 0, so a quiet
window is not mistaken for a bad one.

TI score
--------
:func:`ti_score` weighs the snapshot against the ``ti_proxy`` targets. Each component scores 1 at
or better than its target and falls linearly to 0 at its bound; a component whose metric is
undefined is left out and the remaining weights are renormalized (``None`` when none is
defined). Score = 100 x sum(weight x component) / sum(weights of defined components).

| Component | Metric | Weight | Scores 1 when | Scores 0 at |
|---|---|---:|---|---|
| Maker ratio | `maker_ratio` (by count) | 25 | >= `target_maker_ratio` | 0 |
| Cancels per fill | `cancels_per_fill` | 20 | <= `max_cancel_per_fill` | >= 3 x `max_cancel_per_fill` |
| Order rest time | `rest_ms_median` | 15 | >= `min_rest_ms` | 0 ms |
| Slippage vs mid | `slippage_frac` (slippage / spread at fill) | 15 | <= `max_slippage_frac` | >= `max_slippage_frac` + 1 (a full spread worse) |
| Two-sided uptime | `two_sided_share` | 15 | >= `target_two_sided_uptime` | 0 |
| Holding time | `holding_ms_avg` (FIFO, size-weighted) | 10 | >= `min_avg_holding_ms` | 0 ms |

A target of 0 for a "higher is better" metric makes that component always 1; a target of 0 for
cancels per fill makes it 1 at 0 cancels per fill and 0 above.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from mm_bot.core.records import MetricRow

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DEFAULT_WINDOW_MS = 15 * MINUTE_MS
MARKOUT_HORIZONS_MS = (1_000, 10_000, 60_000)
_EPS = 1e-12

T = TypeVar("T")


class TiTargets(Protocol):
    """The ``ti_proxy`` targets (``mm_bot.config.TiProxyConfig`` satisfies this)."""

    @property
    def target_maker_ratio(self) -> float: ...
    @property
    def max_slippage_frac(self) -> float: ...
    @property
    def min_avg_holding_ms(self) -> int: ...
    @property
    def max_cancel_per_fill(self) -> float: ...
    @property
    def target_two_sided_uptime(self) -> float: ...
    @property
    def min_rest_ms(self) -> int: ...


@dataclass(frozen=True, slots=True)
class TiSnapshot:
    """Every TI metric over the window ``(start_ms, end_ms]``; ``None`` where undefined."""

    start_ms: int = 0
    end_ms: int = 0
    # counts
    fills: int = 0
    maker_fills: int = 0
    volume_usd: float = 0.0
    maker_volume_usd: float = 0.0
    placements: int = 0
    cancels: int = 0
    amends: int = 0
    orders_done: int = 0
    closed_size: float = 0.0
    markout_fills: tuple[int, int, int] = (0, 0, 0)
    # ratios
    maker_ratio: float | None = None
    maker_ratio_notional: float | None = None
    cancels_per_fill: float | None = None
    amends_per_fill: float | None = None
    # times (ms)
    rest_ms_median: float | None = None
    rest_ms_p90: float | None = None
    holding_ms_avg: float | None = None
    holding_ms_median: float | None = None
    # prices (bps)
    slippage_bps: float | None = None
    spread_at_fill_bps: float | None = None
    slippage_frac: float | None = None
    markout_1s_bps: float | None = None
    markout_10s_bps: float | None = None
    markout_60s_bps: float | None = None
    # uptime
    two_sided_s: float = 0.0
    observed_s: float = 0.0
    two_sided_share: float | None = None
    two_sided_s_per_hour: float | None = None
    # counterparties
    counterparties: int = 0

    @property
    def window_s(self) -> int:
        """Window length in whole seconds (at least 1)."""
        return max(1, round((self.end_ms - self.start_ms) / 1000))

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of every field (JSON-ready), e.g. for a ``system_events`` details_json."""
        d = dataclasses.asdict(self)
        d["markout_fills"] = list(self.markout_fills)
        return d

    def metric_row(self, bot_id: str, coin: str, score: float | None = None) -> MetricRow:
        """The ``performance_metrics`` row of this window, dated at ``end_ms``; score is the TI score."""
        return MetricRow(
            bot_id, coin, self.window_s, self.fills, self.maker_fills, self.maker_ratio,
            self.maker_ratio_notional, self.placements, self.cancels, self.cancels_per_fill,
            self.volume_usd, self.end_ms, self.amends, self.rest_ms_median, self.rest_ms_p90,
            self.holding_ms_avg, self.slippage_bps, self.spread_at_fill_bps, self.markout_1s_bps,
            self.markout_10s_bps, self.markout_60s_bps, self.two_sided_share, self.counterparties, score,
        )


@dataclass(slots=True)
class _FillRec:
    ts: int
    side: int
    px: float
    size: float
    notional: float
    maker: bool
    mid: float
    spread_bps: float
    counterparty: str
    markouts: list[float | None]


class _Series(Generic[T]):
    """Items sorted by timestamp, pruned from the front; range queries on (start, end]."""

    __slots__ = ("ts", "items", "head")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.items: list[T] = []
        self.head = 0

    def add(self, ts: int, item: T) -> None:
        if not self.ts or ts >= self.ts[-1]:
            self.ts.append(ts)
            self.items.append(item)
            return
        i = bisect_right(self.ts, ts, lo=self.head)
        self.ts.insert(i, ts)
        self.items.insert(i, item)

    def prune(self, before_ms: int) -> None:
        """Forget items with ts < before_ms."""
        self.head = bisect_left(self.ts, before_ms, lo=self.head)
        if self.head > 1024 and self.head * 2 > len(self.ts):
            del self.ts[: self.head]
            del self.items[: self.head]
            self.head = 0

    def window(self, start_ms: int, end_ms: int) -> list[T]:
        """Items with start_ms < ts <= end_ms."""
        lo = bisect_right(self.ts, start_ms, lo=self.head)
        hi = bisect_right(self.ts, end_ms, lo=lo)
        return self.items[lo:hi]

    def __len__(self) -> int:
        return len(self.ts) - self.head


def quantile(values: list[float], q: float) -> float | None:
    """q-quantile (0..1) by linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    k = int(pos)
    if k >= len(xs) - 1:
        return float(xs[-1])
    f = pos - k
    return xs[k] + f * (xs[k + 1] - xs[k])


def weighted_median(samples: list[tuple[float, float]]) -> float | None:
    """Median of (value, weight) pairs: the value where the cumulative weight reaches half.

    When the cumulative weight lands exactly on half at a value, the mean of that value and the
    next one (equal weights give the ordinary median). None when the total weight is 0.
    """
    pts = sorted((v, w) for v, w in samples if w > 0)
    total = sum(w for _, w in pts)
    if total <= 0:
        return None
    half = total / 2
    tol = total * 1e-9
    cum = 0.0
    for i, (v, w) in enumerate(pts):
        cum += w
        if cum >= half - tol:
            if abs(cum - half) <= tol and i + 1 < len(pts):
                return (v + pts[i + 1][0]) / 2
            return float(v)
    return float(pts[-1][0])


def _wmean(pairs: list[tuple[float, float]]) -> float | None:
    """Weighted mean of (value, weight); None when the total weight is 0."""
    tw = sum(w for _, w in pairs)
    if tw <= 0:
        return None
    return sum(v * w for v, w in pairs) / tw


class TiTracker:
    """TI metrics of one bot on one coin: rolling window and per-minute summaries.

    ``window_ms`` is the default rolling window; ``retention_ms`` how far back events are kept
    for :meth:`snapshot`: events with ts >= (latest now_ms seen) - retention_ms (default: the
    larger of the window and one hour, plus one minute, so the hourly uptime row can be
    computed). Open FIFO lots and open orders are never pruned; markouts still unresolved when
    their fill leaves the retention are dropped.
    """

    def __init__(
        self,
        window_ms: int = DEFAULT_WINDOW_MS,
        *,
        minute_ms: int = MINUTE_MS,
        retention_ms: int | None = None,
        markout_horizons_ms: tuple[int, int, int] = MARKOUT_HORIZONS_MS,
    ) -> None:
        if window_ms <= 0 or minute_ms <= 0:
            raise ValueError("window_ms and minute_ms must be > 0")
        if len(markout_horizons_ms) != 3 or any(h <= 0 for h in markout_horizons_ms):
            raise ValueError("markout_horizons_ms must be three positive horizons")
        self.window_ms = window_ms
        self.minute_ms = minute_ms
        self.retention_ms = (
            retention_ms if retention_ms is not None else max(window_ms, HOUR_MS, minute_ms) + MINUTE_MS
        )
        self.horizons = tuple(markout_horizons_ms)
        self._fills: _Series[_FillRec] = _Series()
        self._placements: _Series[None] = _Series()
        self._cancels: _Series[None] = _Series()
        self._amends: _Series[None] = _Series()
        self._rests: _Series[int] = _Series()
        self._holds: _Series[tuple[int, float]] = _Series()
        self._open_orders: dict[str, int] = {}
        # FIFO lots: [open_ts, size, sign]; every lot has the same sign
        self._lots: deque[list] = deque()
        self._pending: tuple[deque[_FillRec], ...] = tuple(deque() for _ in self.horizons)
        # two-sided: closed segments (start, end, both) and the current state since _ts_last
        self._segs: deque[tuple[int, int, bool]] = deque()
        self._ts_state: bool | None = None
        self._ts_last = 0
        self._now: int | None = None

    # ------------------------------------------------------------ feeding

    def on_order_accepted(self, cloid: str, now_ms: int) -> None:
        """The venue accepted (rests) order ``cloid``: counts a placement, starts its rest clock.

        A repeat for a cloid already open (e.g. an amend's ack) keeps the first time and is not
        a new placement.
        """
        self._tick(now_ms)
        if cloid in self._open_orders:
            return
        self._open_orders[cloid] = now_ms
        self._placements.add(now_ms, None)

    def on_cancel_request(self, cloid: str, now_ms: int) -> None:
        """We asked the venue to cancel ``cloid`` (counted whether or not the cancel succeeds)."""
        self._tick(now_ms)
        self._cancels.add(now_ms, None)

    def on_amend(self, cloid: str, now_ms: int) -> None:
        """We asked the venue to modify ``cloid`` (an amend, counted apart from cancels)."""
        self._tick(now_ms)
        self._amends.add(now_ms, None)

    def on_order_done(self, cloid: str, now_ms: int) -> None:
        """Order ``cloid`` left the book (fully filled or cancelled): one rest-time sample.

        Unknown cloids (never accepted, e.g. rejected or IOC) are ignored.
        """
        self._tick(now_ms)
        t0 = self._open_orders.pop(cloid, None)
        if t0 is not None:
            self._rests.add(now_ms, max(0, now_ms - t0))

    def on_fill(
        self,
        side: int,
        px: float,
        size: float,
        notional_usd: float,
        maker: bool,
        mid: float,
        spread_bps: float,
        now_ms: int,
        counterparty: str = "",
    ) -> None:
        """One execution of ours: side BUY=1 / SELL=-1, price, size (base units or contracts),
        its USD notional, maker flag, the market mid and spread (bps) at the fill."""
        if side not in (1, -1):
            raise ValueError(f"side must be 1 or -1, got {side!r}")
        self._tick(now_ms)
        rec = _FillRec(
            now_ms, side, float(px), float(size), float(notional_usd), bool(maker), float(mid),
            float(spread_bps), counterparty or "", [None, None, None],
        )
        self._fills.add(now_ms, rec)
        if rec.px > 0:
            for q in self._pending:
                q.append(rec)
        self._fifo(side, float(size), now_ms)

    def on_mid(self, now_ms: int, mid: float) -> None:
        """A mid observation: resolves the markouts whose horizon has been reached."""
        self._tick(now_ms)
        if mid <= 0:
            return
        for i, h in enumerate(self.horizons):
            q = self._pending[i]
            while q and q[0].ts + h <= now_ms:
                rec = q.popleft()
                rec.markouts[i] = rec.side * (mid - rec.px) / rec.px * 1e4

    def on_two_sided(self, now_ms: int, both_resting: bool) -> None:
        """Whether both sides rest on the book as of ``now_ms`` (holds until the next call)."""
        self._tick(now_ms)
        if self._ts_state is not None and now_ms > self._ts_last:
            start, state = self._ts_last, self._ts_state
            if self._segs and self._segs[-1][2] == state and self._segs[-1][1] == start:
                start = self._segs.pop()[0]
            self._segs.append((start, now_ms, state))
        if self._ts_state is None or now_ms >= self._ts_last:
            self._ts_last = now_ms
        self._ts_state = bool(both_resting)

    def seed_position(self, signed_size: float, open_ms: int) -> None:
        """Start the FIFO with an existing position (e.g. after a restart), opened at ``open_ms``."""
        self._lots.clear()
        if abs(signed_size) > _EPS:
            self._lots.append([open_ms, abs(float(signed_size)), 1 if signed_size > 0 else -1])

    # ------------------------------------------------------------ reading

    def rolling(self, now_ms: int, window_ms: int | None = None) -> TiSnapshot:
        """The rolling window ``(now_ms - window_ms, now_ms]`` (default: ``self.window_ms``)."""
        w = self.window_ms if window_ms is None else window_ms
        return self.snapshot(now_ms - w, now_ms)

    def minute_summary(self, end_ms: int) -> TiSnapshot:
        """The minute just ended: ``(end_ms - minute_ms, end_ms]``."""
        return self.snapshot(end_ms - self.minute_ms, end_ms)

    @property
    def open_position(self) -> float:
        """Signed size of the open FIFO lots."""
        return sum(lot[1] * lot[2] for lot in self._lots)

    def snapshot(self, start_ms: int, end_ms: int) -> TiSnapshot:
        """Every metric over ``(start_ms, end_ms]`` (events older than ``retention_ms`` are gone)."""
        fills = self._fills.window(start_ms, end_ms)
        n = len(fills)
        maker_n = sum(1 for f in fills if f.maker)
        vol = sum(f.notional for f in fills)
        maker_vol = sum(f.notional for f in fills if f.maker)
        placements = len(self._placements.window(start_ms, end_ms))
        cancels = len(self._cancels.window(start_ms, end_ms))
        amends = len(self._amends.window(start_ms, end_ms))
        rests = [float(r) for r in self._rests.window(start_ms, end_ms)]
        holds = self._holds.window(start_ms, end_ms)

        slip = _wmean([(f.side * (f.px - f.mid) / f.mid * 1e4, f.notional) for f in fills if f.mid > 0])
        spread = _wmean([(f.spread_bps, f.notional) for f in fills])
        frac = slip / spread if slip is not None and spread is not None and spread > 0 else None
        marks: list[float | None] = []
        mcounts: list[int] = []
        for i in range(3):
            done = [(f.markouts[i], f.notional) for f in fills if f.markouts[i] is not None]
            mcounts.append(len(done))
            marks.append(_wmean(done))  # type: ignore[arg-type]

        two_ms, obs_ms = self._uptime(start_ms, end_ms)
        share = two_ms / obs_ms if obs_ms > 0 else None
        return TiSnapshot(
            start_ms=start_ms,
            end_ms=end_ms,
            fills=n,
            maker_fills=maker_n,
            volume_usd=vol,
            maker_volume_usd=maker_vol,
            placements=placements,
            cancels=cancels,
            amends=amends,
            orders_done=len(rests),
            closed_size=sum(sz for _, sz in holds),
            markout_fills=(mcounts[0], mcounts[1], mcounts[2]),
            maker_ratio=maker_n / n if n else None,
            maker_ratio_notional=maker_vol / vol if vol > 0 else None,
            cancels_per_fill=cancels / n if n else None,
            amends_per_fill=amends / n if n else None,
            rest_ms_median=quantile(rests, 0.5),
            rest_ms_p90=quantile(rests, 0.9),
            holding_ms_avg=_wmean([(float(h), sz) for h, sz in holds]),
            holding_ms_median=weighted_median([(float(h), sz) for h, sz in holds]),
            slippage_bps=slip,
            spread_at_fill_bps=spread,
            slippage_frac=frac,
            markout_1s_bps=marks[0],
            markout_10s_bps=marks[1],
            markout_60s_bps=marks[2],
            two_sided_s=two_ms / 1000,
            observed_s=obs_ms / 1000,
            two_sided_share=share,
            two_sided_s_per_hour=share * 3600 if share is not None else None,
            counterparties=len({f.counterparty for f in fills if f.counterparty}),
        )

    # ------------------------------------------------------------ internals

    def _tick(self, now_ms: int) -> None:
        if self._now is not None and now_ms <= self._now:
            return
        self._now = now_ms
        cutoff = now_ms - self.retention_ms
        for s in (self._fills, self._placements, self._cancels, self._amends, self._rests, self._holds):
            s.prune(cutoff)
        while self._segs and self._segs[0][1] <= cutoff:
            self._segs.popleft()
        for q in self._pending:  # never resolved (no mid for a long time): forget
            while q and q[0].ts < cutoff:
                q.popleft()

    def _fifo(self, side: int, size: float, now_ms: int) -> None:
        rem = size
        while rem > _EPS and self._lots and self._lots[0][2] != side:
            lot = self._lots[0]
            m = min(rem, lot[1])
            self._holds.add(now_ms, (max(0, now_ms - lot[0]), m))
            lot[1] -= m
            rem -= m
            if lot[1] <= _EPS * max(1.0, size):
                self._lots.popleft()
        if rem > _EPS * max(1.0, size):
            self._lots.append([now_ms, rem, side])

    def _uptime(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        """(two-sided ms, observed ms) overlapping [start_ms, end_ms]."""
        two = obs = 0
        for s, e, both in self._segs:
            ov = min(e, end_ms) - max(s, start_ms)
            if ov > 0:
                obs += ov
                if both:
                    two += ov
        if self._ts_state is not None:
            ov = end_ms - max(self._ts_last, start_ms)
            if ov > 0:
                obs += ov
                if self._ts_state:
                    two += ov
        return two, obs


# ---------------------------------------------------------------- TI score

#: (component name, weight) of :func:`ti_score`; see the module docstring table.
TI_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("maker_ratio", 25.0),
    ("cancels_per_fill", 20.0),
    ("rest_time", 15.0),
    ("slippage", 15.0),
    ("two_sided_uptime", 15.0),
    ("holding_time", 10.0),
)
#: cancels per fill scores 0 at this multiple of max_cancel_per_fill
CANCELS_ZERO_MULT = 3.0
#: slippage_frac scores 0 this far (in spreads) above max_slippage_frac
SLIPPAGE_ZERO_SPREADS = 1.0


def _floor_score(value: float, target: float) -> float:
    """Higher is better: 1 at >= target, linear to 0 at 0."""
    if target <= 0 or value >= target:
        return 1.0
    if value <= 0:
        return 0.0
    return value / target


def _ceiling_score(value: float, target: float, zero_at: float) -> float:
    """Lower is better: 1 at <= target, linear to 0 at zero_at (> target)."""
    if value <= target:
        return 1.0
    if value >= zero_at or zero_at <= target:
        return 0.0
    return (zero_at - value) / (zero_at - target)


def ti_components(snapshot: TiSnapshot, targets: TiTargets) -> dict[str, float | None]:
    """Each component's score in 0..1 (None where its metric is undefined)."""
    s = snapshot
    cpf_t = float(targets.max_cancel_per_fill)
    slip_t = float(targets.max_slippage_frac)
    return {
        "maker_ratio": None if s.maker_ratio is None else _floor_score(s.maker_ratio, targets.target_maker_ratio),
        "cancels_per_fill": None
        if s.cancels_per_fill is None
        else _ceiling_score(s.cancels_per_fill, cpf_t, CANCELS_ZERO_MULT * cpf_t),
        "rest_time": None if s.rest_ms_median is None else _floor_score(s.rest_ms_median, targets.min_rest_ms),
        "slippage": None
        if s.slippage_frac is None
        else _ceiling_score(s.slippage_frac, slip_t, slip_t + SLIPPAGE_ZERO_SPREADS),
        "two_sided_uptime": None
        if s.two_sided_share is None
        else _floor_score(s.two_sided_share, targets.target_two_sided_uptime),
        "holding_time": None
        if s.holding_ms_avg is None
        else _floor_score(s.holding_ms_avg, targets.min_avg_holding_ms),
    }


def ti_score(snapshot: TiSnapshot, targets: TiTargets) -> float | None:
    """TI score 0-100 of a snapshot against the ``ti_proxy`` targets (table in the module doc).

    Undefined components are left out and the weights renormalized; None when none is defined.
    """
    comps = ti_components(snapshot, targets)
    num = den = 0.0
    for name, w in TI_WEIGHTS:
        c = comps[name]
        if c is not None:
            num += w * c
            den += w
    if den <= 0:
        return None
    return max(0.0, min(100.0, 100.0 * num / den))
