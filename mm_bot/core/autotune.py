"""The TI optimizer: bounded, deterministic nudges of quoting parameters toward the TI targets.

Sans-I/O and pure: :meth:`TiOptimizer.evaluate` takes a rolling :class:`~mm_bot.core.ti.TiSnapshot`
and ``now_ms`` and returns at most one :class:`Nudge` (or None); the bot applies it and writes it
as a ``system_events`` row of kind ``autotune``. Inventory, drawdown and risk are not its business.

Parameters and bounds
---------------------
Three parameters, each kept on a grid around its configured value c:
``value = c x (1 + k x step)`` with an integer step index k, ``step`` = 10 % by default, and
``lo_mult x c <= value <= hi_mult x c`` (default [0.5 c, 2 c], so k in -5..+10). ``min_replace_ms``
is rounded to whole ms (and kept inside the bounds). A parameter configured at 0 has no room
and is never nudged.

- ``min_spread_bps`` (width): widened one step, or tightened one step.
- ``min_replace_ms`` (refresh interval): lengthened one step.
- ``size_notional_usd`` (size): reduced one step when width should widen but is at its upper bound.

Rules (first one that can move a parameter wins; at most one nudge per evaluation)
---------------------------------------------------------------------------------
Evaluations happen at most once per ``interval_ms`` (calls in between return None without looking),
and only when the window holds at least ``min_fills`` fills (default 10): with fewer, the ratios
are noise and nothing moves.

1. **Widen** ``min_spread_bps`` when ``maker_ratio`` < ``min_maker_share`` (config
   ``autotune_min_maker_share``) or ``slippage_frac`` > ``ti_proxy.max_slippage_frac``.
   At the upper width bound, **reduce** ``size_notional_usd`` instead (same reasons).
2. **Lengthen** ``min_replace_ms`` when ``cancels_per_fill`` > ``ti_proxy.max_cancel_per_fill`` or
   ``rest_ms_median`` < ``ti_proxy.min_rest_ms``.
3. **Tighten** ``min_spread_bps`` when fills are few (``min_fills`` <= fills < ``low_fills``,
   default 30) and every defined metric meets its target: ``maker_ratio`` >=
   max(``target_maker_ratio``, ``min_maker_share``) (a dead band above the widen trigger, so the
   width does not oscillate), ``slippage_frac`` <= target, ``cancels_per_fill`` <= target and
   ``rest_ms_median`` >= target.

Reasons are codes joined by ``+``: ``maker_ratio_low``, ``slippage_high``, ``width_at_max``,
``cancels_per_fill_high``, ``rest_time_low``, ``few_fills_good_metrics``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mm_bot.core.ti import TiSnapshot, TiTargets

WIDTH = "min_spread_bps"
REFRESH = "min_replace_ms"
SIZE = "size_notional_usd"
PARAMS = (WIDTH, REFRESH, SIZE)


@dataclass(frozen=True, slots=True)
class TuneParams:
    """The parameters the optimizer may move (names as in the bot config)."""

    min_spread_bps: float
    min_replace_ms: int
    size_notional_usd: float

    def get(self, name: str) -> float:
        return float(getattr(self, name))


@dataclass(frozen=True, slots=True)
class Nudge:
    """One change: ``param`` goes from ``before`` to ``after`` because of ``reason``.

    ``figures`` are the numbers behind it (metrics of the window, targets, step index, bounds),
    ready for ``details_json``.
    """

    param: str
    before: float
    after: float
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)


class TiOptimizer:
    """Bounded nudges of one bot's quoting parameters on one coin (see the module doc)."""

    def __init__(
        self,
        configured: TuneParams,
        targets: TiTargets,
        *,
        min_maker_share: float,
        interval_ms: int = 300_000,
        min_fills: int = 10,
        low_fills: int = 30,
        step: float = 0.10,
        lo_mult: float = 0.5,
        hi_mult: float = 2.0,
    ) -> None:
        if not (0 < step and 0 < lo_mult <= 1 <= hi_mult):
            raise ValueError("need step > 0 and 0 < lo_mult <= 1 <= hi_mult")
        if interval_ms < 0 or min_fills < 1 or low_fills < min_fills:
            raise ValueError("need interval_ms >= 0, min_fills >= 1 and low_fills >= min_fills")
        self.configured = configured
        self.targets = targets
        self.min_maker_share = float(min_maker_share)
        self.interval_ms = interval_ms
        self.min_fills = min_fills
        self.low_fills = low_fills
        self.step = step
        self.lo_mult = lo_mult
        self.hi_mult = hi_mult
        self.k_min = math.ceil((lo_mult - 1) / step - 1e-9)
        self.k_max = math.floor((hi_mult - 1) / step + 1e-9)
        self._k = dict.fromkeys(PARAMS, 0)
        self._last_eval_ms: int | None = None

    # ------------------------------------------------------------ state

    @property
    def params(self) -> TuneParams:
        """The parameters as they stand after every nudge so far."""
        return TuneParams(self._value(WIDTH, self._k[WIDTH]), int(self._value(REFRESH, self._k[REFRESH])),
                          self._value(SIZE, self._k[SIZE]))

    def bounds(self, param: str) -> tuple[float, float]:
        """(low, high) a parameter never leaves."""
        c = self.configured.get(param)
        lo, hi = c * self.lo_mult, c * self.hi_mult
        if param == REFRESH:
            return float(math.ceil(lo - 1e-9)), float(math.floor(hi + 1e-9))
        return lo, hi

    def _value(self, param: str, k: int) -> float:
        c = self.configured.get(param)
        lo, hi = self.bounds(param)
        v = c * (1 + k * self.step)
        if param == REFRESH:
            v = float(round(v))
        return min(hi, max(lo, v))

    # ------------------------------------------------------------ decision

    def evaluate(self, snapshot: TiSnapshot, now_ms: int) -> Nudge | None:
        """At most one nudge per ``interval_ms``; applies it to :attr:`params` and returns it."""
        if self._last_eval_ms is not None and now_ms - self._last_eval_ms < self.interval_ms:
            return None
        self._last_eval_ms = now_ms
        s, t = snapshot, self.targets
        if s.fills < self.min_fills:
            return None

        widen = []
        if s.maker_ratio is not None and s.maker_ratio < self.min_maker_share:
            widen.append("maker_ratio_low")
        if s.slippage_frac is not None and s.slippage_frac > t.max_slippage_frac:
            widen.append("slippage_high")
        if widen:
            n = self._move(WIDTH, +1, "+".join(widen), s)
            if n is None:
                n = self._move(SIZE, -1, "+".join([*widen, "width_at_max"]), s)
            if n is not None:
                return n

        slow = []
        if s.cancels_per_fill is not None and s.cancels_per_fill > t.max_cancel_per_fill:
            slow.append("cancels_per_fill_high")
        if s.rest_ms_median is not None and s.rest_ms_median < t.min_rest_ms:
            slow.append("rest_time_low")
        if slow:
            n = self._move(REFRESH, +1, "+".join(slow), s)
            if n is not None:
                return n

        if not widen and not slow and s.fills < self.low_fills and self._good(s):
            return self._move(WIDTH, -1, "few_fills_good_metrics", s)
        return None

    def _good(self, s: TiSnapshot) -> bool:
        t = self.targets
        maker_floor = max(float(t.target_maker_ratio), self.min_maker_share)
        return (
            (s.maker_ratio is None or s.maker_ratio >= maker_floor)
            and (s.slippage_frac is None or s.slippage_frac <= t.max_slippage_frac)
            and (s.cancels_per_fill is None or s.cancels_per_fill <= t.max_cancel_per_fill)
            and (s.rest_ms_median is None or s.rest_ms_median >= t.min_rest_ms)
        )

    def _move(self, param: str, direction: int, reason: str, s: TiSnapshot) -> Nudge | None:
        k0 = self._k[param]
        before = self._value(param, k0)
        k1 = k0 + direction
        if not self.k_min <= k1 <= self.k_max:
            return None
        after = self._value(param, k1)
        if after == before:
            return None
        self._k[param] = k1
        lo, hi = self.bounds(param)
        t = self.targets
        figures: dict[str, Any] = {
            "fills": s.fills,
            "window_s": s.window_s,
            "maker_ratio": s.maker_ratio,
            "min_maker_share": self.min_maker_share,
            "target_maker_ratio": t.target_maker_ratio,
            "slippage_frac": s.slippage_frac,
            "max_slippage_frac": t.max_slippage_frac,
            "cancels_per_fill": s.cancels_per_fill,
            "max_cancel_per_fill": t.max_cancel_per_fill,
            "rest_ms_median": s.rest_ms_median,
            "min_rest_ms": t.min_rest_ms,
            "configured": self.configured.get(param),
            "step_index": k1,
            "low": lo,
            "high": hi,
        }
        return Nudge(param, before, after, reason, figures)
