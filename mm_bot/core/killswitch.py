"""Kill switches and two-sided uptime (DESIGN sections 6 and 7). Pure, no I/O, no clock.

Times are integer ms on the injected clock; spreads in bps of mid; uptime in seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

HOUR_MS = 3_600_000

# A spread blowout must last this long before it trips, so one bad tick does not kill the bot.
DEFAULT_SPREAD_SUSTAIN_MS = 1_000


class KillSwitch(StrEnum):
    MANUAL = "manual"
    MD_GAP = "md_gap"
    SPREAD = "spread_blowout"
    ERROR_RATE = "error_rate"


@dataclass(frozen=True, slots=True)
class Trip:
    """A tripped kill switch: which one, why, the numbers behind it, when (ms), and the coin
    whose market data tripped it ('' for bot-wide switches: manual, error rate)."""

    switch: KillSwitch
    reason: str
    figures: tuple[tuple[str, float], ...]
    ts_ms: int = 0
    coin: str = ""


@dataclass(frozen=True, slots=True)
class KillParams:
    """Thresholds. max_spread_kill_bps with spread_sustain_ms; md_gap_kill_ms; error_kill_count
    errors within error_kill_window_ms. A threshold <= 0 disables its switch."""

    max_spread_kill_bps: float
    md_gap_kill_ms: int
    error_kill_count: int
    error_kill_window_ms: int
    spread_sustain_ms: int = DEFAULT_SPREAD_SUSTAIN_MS

    @classmethod
    def from_config(cls, cfg, spread_sustain_ms: int = DEFAULT_SPREAD_SUSTAIN_MS) -> KillParams:
        """From a bot's (or coin's effective) config; seconds become ms."""
        return cls(
            max_spread_kill_bps=cfg.max_spread_kill_bps,
            md_gap_kill_ms=int(round(cfg.md_gap_kill_sec * 1000)),
            error_kill_count=cfg.error_kill_count,
            error_kill_window_ms=int(round(cfg.error_kill_window_sec * 1000)),
            spread_sustain_ms=spread_sustain_ms,
        )


def _on(coin: str) -> str:
    return f" on {coin}" if coin else ""


class _BookState:
    __slots__ = ("last_usable_ms", "wide_since_ms", "spread_bps")

    def __init__(self, now_ms: int) -> None:
        self.last_usable_ms = now_ms
        self.wide_since_ms: int | None = None
        self.spread_bps = 0.0


class KillSwitches:
    """The kill switches of one bot, with market-data switches per coin.

    - spread blowout: a coin's market spread on a usable book > max_spread_kill_bps on every
      book observation for at least spread_sustain_ms (default 1000 ms, so one bad tick does
      not kill); one usable observation at or under the limit restarts the clock. Unusable
      books do not count here (see md gap).
    - market-data gap: a coin without a usable book for md_gap_kill_ms (the clocks of the
      coins given at construction start at start_ms; a coin first seen later at that time).
    - error rate: error_kill_count errors with timestamps in (now - window, now].
    - manual: `trip_manual(reason)`.
    `check(now_ms)` reports the first tripped switch (manual, md gap, spread, error rate; coins
    in the order given) and it stays tripped, `check` returning the same Trip, until
    `reset(now_ms)`.
    """

    def __init__(self, params: KillParams, start_ms: int, coins: Sequence[str] = ("",)) -> None:
        self.p = params
        self.trip: Trip | None = None
        self._manual: str | None = None
        self._books: dict[str, _BookState] = {c: _BookState(start_ms) for c in coins}
        self._errors: deque[int] = deque()

    @property
    def tripped(self) -> bool:
        return self.trip is not None

    def reset(self, now_ms: int) -> None:
        """Clear a trip and every window; the md-gap clocks restart at now_ms."""
        self.trip = None
        self._manual = None
        self._books = {c: _BookState(now_ms) for c in self._books}
        self._errors.clear()

    def observe_book(self, now_ms: int, spread_bps: float, usable: bool, coin: str = "") -> None:
        """A book observation of `coin` (every loop or book update): its spread and whether it
        is usable (in sync, two-sided, uncrossed, fresh)."""
        st = self._books.get(coin)
        if st is None:
            st = self._books[coin] = _BookState(now_ms)
        if not usable:
            return
        st.last_usable_ms = max(st.last_usable_ms, now_ms)
        st.spread_bps = spread_bps
        if self.p.max_spread_kill_bps > 0 and spread_bps > self.p.max_spread_kill_bps:
            if st.wide_since_ms is None:
                st.wide_since_ms = now_ms
        else:
            st.wide_since_ms = None

    def observe_error(self, now_ms: int) -> None:
        """One error (reject, request failure, exception in a handler)."""
        self._errors.append(now_ms)
        while self._errors[0] <= now_ms - self.p.error_kill_window_ms:
            self._errors.popleft()

    def trip_manual(self, reason: str) -> None:
        """Operator kill (a commands row, scripts/kill.py); reported by the next `check`."""
        if self._manual is None:
            self._manual = reason

    def check(self, now_ms: int) -> Trip | None:
        """The latched trip, a new one, or None."""
        if self.trip is None:
            self.trip = self._new_trip(now_ms)
        return self.trip

    def _new_trip(self, now_ms: int) -> Trip | None:
        p = self.p
        if self._manual is not None:
            return Trip(KillSwitch.MANUAL, f"manual kill: {self._manual}", (), now_ms)
        if p.md_gap_kill_ms > 0:
            for coin, st in self._books.items():
                gap = now_ms - st.last_usable_ms
                if gap >= p.md_gap_kill_ms:
                    return Trip(KillSwitch.MD_GAP,
                                f"no usable market data{_on(coin)} for {gap} ms (limit {p.md_gap_kill_ms} ms)",
                                (("gap_ms", float(gap)), ("md_gap_kill_ms", float(p.md_gap_kill_ms))),
                                now_ms, coin)
        for coin, st in self._books.items():
            if st.wide_since_ms is not None and now_ms - st.wide_since_ms >= p.spread_sustain_ms:
                wide = now_ms - st.wide_since_ms
                return Trip(KillSwitch.SPREAD,
                            f"spread{_on(coin)} {st.spread_bps:.1f} bps > {p.max_spread_kill_bps:g} bps "
                            f"for {wide} ms",
                            (("spread_bps", st.spread_bps), ("max_spread_kill_bps", p.max_spread_kill_bps),
                             ("wide_ms", float(wide)), ("spread_sustain_ms", float(p.spread_sustain_ms))),
                            now_ms, coin)
        if p.error_kill_count > 0:
            q = self._errors
            while q and q[0] <= now_ms - p.error_kill_window_ms:
                q.popleft()
            if len(q) >= p.error_kill_count:
                return Trip(KillSwitch.ERROR_RATE,
                            f"{len(q)} errors within {p.error_kill_window_ms} ms (limit {p.error_kill_count})",
                            (("errors", float(len(q))), ("error_kill_count", float(p.error_kill_count)),
                             ("error_kill_window_ms", float(p.error_kill_window_ms))), now_ms)
        return None


class UptimeTracker:
    """Two-sided uptime of one bot and coin, accumulated per UTC hour.

    Each `observe` closes the interval since the previous observation with the state that
    held during it (the previous observation's flags) and records the new state. An interval
    spanning an hour boundary is split at the boundary. Per hour: observed_s (seconds
    observed) and two_sided_s (seconds with both a bid and an ask resting).
    """

    __slots__ = ("_last_ms", "_both", "_hours", "_dirty")

    def __init__(self) -> None:
        self._last_ms: int | None = None
        self._both = False
        self._hours: dict[int, list[int]] = {}  # hour_start_ms -> [two_sided_ms, observed_ms]
        self._dirty: set[int] = set()

    def _advance(self, now_ms: int) -> None:
        t = self._last_ms
        if t is None or now_ms <= t:
            return
        while t < now_ms:
            hour = t - t % HOUR_MS
            end = min(now_ms, hour + HOUR_MS)
            acc = self._hours.get(hour)
            if acc is None:
                acc = self._hours[hour] = [0, 0]
            acc[1] += end - t
            if self._both:
                acc[0] += end - t
            self._dirty.add(hour)
            t = end
        self._last_ms = now_ms

    def observe(self, now_ms: int, bid_resting: bool, ask_resting: bool) -> None:
        self._advance(now_ms)
        if self._last_ms is None:
            self._last_ms = now_ms
        self._both = bid_resting and ask_resting

    def hour_rows(self, now_ms: int) -> list[tuple[int, float, float]]:
        """(hour_start_ms, two_sided_s, observed_s) of the hours that changed since the last
        call, oldest first, counting up to now_ms with the last observed state. Rows of a
        past hour are final; the current hour's row grows and is reported again later."""
        self._advance(now_ms)
        rows = [(h, self._hours[h][0] / 1000, self._hours[h][1] / 1000) for h in sorted(self._dirty)]
        self._dirty.clear()
        current = now_ms - now_ms % HOUR_MS
        for h in [h for h in self._hours if h < current]:
            del self._hours[h]
        return rows
