"""Pre-trade risk and loss controls (DESIGN section 7): pure, no I/O, no wall clock.

Units: notionals, equity and PnL in USD; returns are simple fractional returns (0.01 = 1%);
percentages are 0-100; every time is integer ms on the injected clock (`now_ms`).

- `historical_var95` / `portfolio_var95`: 95% historical-simulation VaR of a position from
  recent mid returns.
- `ReturnTracker`: samples mids on a fixed grid into bounded per-coin return windows.
- `PreTradeCheck`: one order against the notional caps, the VaR limit and the margin cap,
  decided as `Allow(lots)` (possibly shrunk) or `Block(reason)`.
- `LossGuard`: daily loss limit, drawdown size step-down, portfolio pause, emergency stop.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from mm_bot.core.rounding import min_lots
from mm_bot.core.types import Instrument

# (name, value) pairs describing a decision: tuples, so decisions stay frozen and hashable.
Figures = tuple[tuple[str, float], ...]

DAY_MS = 86_400_000

# Confidence of the VaR: the loss exceeded in 5% of historical scenarios.
VAR_TAIL = 0.05
# VaR at or above this multiple of max_portfolio_var_usd stops the side that adds exposure;
# between 1x and this factor, adding sizes shrink by max_portfolio_var_usd / VaR.
VAR_STOP_FACTOR = 1.5
# Drawdown step-down never cuts quote size below this multiplier.
MIN_SIZE_MULT = 0.1


# ---------------------------------------------------------------- VaR


def historical_var95(returns: Sequence[float], position_usd: float) -> float:
    """95% one-period VaR in USD of a single position: see `portfolio_var95`."""
    return portfolio_var95({"_": returns}, {"_": position_usd})


def portfolio_var95(returns: Mapping[str, Sequence[float]], position_usd: Mapping[str, float]) -> float:
    """95% one-period historical VaR in USD (>= 0) of signed per-coin positions.

    returns: coin -> simple mid returns per sampling interval, oldest first, on one shared
    time grid (as `ReturnTracker` produces them); position_usd: coin -> signed notional in
    USD (+ long, - short). Coins with a zero position are ignored. The return vectors are
    aligned on their most recent end: the scenarios are the last n intervals, n the shortest
    series among the coins held. Scenario PnL = sum_c position_usd[c] * r_c; the VaR is minus
    the empirical 5th percentile of the scenario PnLs, taken as the k-th smallest value with
    k = ceil(0.05 * n) (1-based: with 20 scenarios the worst one, with 100 the 5th worst),
    floored at 0. No scenario (no position or no return yet) gives 0.
    """
    held = [c for c, usd in position_usd.items() if usd != 0.0]
    if not held:
        return 0.0
    n = min(len(returns.get(c, ())) for c in held)
    if n == 0:
        return 0.0
    pnl = [0.0] * n
    for c in held:
        usd = position_usd[c]
        series = returns[c]
        off = len(series) - n
        for i in range(n):
            pnl[i] += usd * series[off + i]
    pnl.sort()
    k = max(1, math.ceil(VAR_TAIL * n - 1e-12))
    return max(0.0, -pnl[k - 1])


class ReturnTracker:
    """Mid returns per coin sampled on a fixed time grid, for the VaR.

    The grid is global (bucket = now_ms // interval_ms), so every coin's returns line up.
    The first mid seen in a bucket is that bucket's sample. When a coin skips buckets (no
    observation), its mid is carried forward: the skipped buckets get a 0 return and the
    bucket that has a new mid gets the whole move. A gap longer than the window restarts
    the coin's series. Each coin keeps at most var_lookback_sec * 1000 / interval_ms returns.
    """

    __slots__ = ("interval_ms", "maxlen", "_last", "_rets")

    def __init__(self, var_lookback_sec: float, interval_ms: int = 1_000) -> None:
        if interval_ms <= 0:
            raise ValueError(f"interval_ms must be > 0, got {interval_ms}")
        self.interval_ms = interval_ms
        self.maxlen = max(1, int(var_lookback_sec * 1000 // interval_ms))
        self._last: dict[str, tuple[int, float]] = {}  # coin -> (bucket, mid)
        self._rets: dict[str, deque[float]] = {}

    def observe(self, coin: str, now_ms: int, mid: float) -> None:
        """Offer the coin's current mid (any positive price unit); sampled once per interval."""
        if mid <= 0:
            return
        bucket = now_ms // self.interval_ms
        last = self._last.get(coin)
        if last is None:
            self._last[coin] = (bucket, mid)
            self._rets[coin] = deque(maxlen=self.maxlen)
            return
        last_bucket, last_mid = last
        if bucket <= last_bucket:
            return
        rets = self._rets[coin]
        gap = bucket - last_bucket
        if gap > self.maxlen:
            rets.clear()
        else:
            rets.extend([0.0] * (gap - 1))
            rets.append(mid / last_mid - 1.0)
        self._last[coin] = (bucket, mid)

    def returns(self, coin: str) -> list[float]:
        """The coin's returns, oldest first (empty before its second sample)."""
        return list(self._rets.get(coin, ()))

    def aligned(self, coins: Sequence[str]) -> dict[str, list[float]]:
        """Returns of `coins` cut to the buckets all of them cover (same length, same grid).

        Coins sampled up to different buckets are cut at the earliest last bucket, so index i
        of every series is the same interval. Coins without returns yet get [] and do not
        shorten the others.
        """
        out: dict[str, list[float]] = {c: [] for c in coins}
        have = [c for c in coins if self._rets.get(c)]
        if not have:
            return out
        end = min(self._last[c][0] for c in have)
        start = max(self._last[c][0] - len(self._rets[c]) + 1 for c in have)
        if end < start:
            return out
        for c in have:
            rets = self._rets[c]
            first = self._last[c][0] - len(rets) + 1  # bucket of rets[0]
            out[c] = [rets[i] for i in range(start - first, end - first + 1)]
        return out

    def var95(self, position_usd: Mapping[str, float]) -> float:
        """Portfolio VaR 95% in USD of signed per-coin notionals over the aligned windows.

        Coins without returns yet are left out (they add nothing until sampled twice)."""
        held = [c for c, usd in position_usd.items() if usd != 0.0]
        rets = {c: r for c, r in self.aligned(held).items() if r}
        return portfolio_var95(rets, {c: position_usd[c] for c in rets})


# ---------------------------------------------------------------- pre-trade


class MarginMode(StrEnum):
    ENFORCE = "enforce"
    WARN = "warn"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Pre-trade limits of one coin (per-coin keys already merged). 0 disables a cap.

    max_per_coin_notional (USD): |position| on the side that adds exposure plus resting
    orders on that side plus the new order. max_symbol_notional (USD): |position| plus the
    new order (resting orders not counted). max_gross_notional (USD): over all coins of the
    bot, see `gross_notional_usd`. max_portfolio_var_usd (USD): VaR limit (see
    VAR_STOP_FACTOR). Margin cap: gross notional <= equity x assumed_leverage x
    margin_cap_fraction, enforced, only flagged (warn) or off.
    """

    max_per_coin_notional: float = 0.0
    max_symbol_notional: float = 0.0
    max_gross_notional: float = 0.0
    max_portfolio_var_usd: float = 0.0
    margin_cap_mode: MarginMode = MarginMode.OFF
    assumed_leverage: float = 1.0
    margin_cap_fraction: float = 1.0
    var_stop_factor: float = VAR_STOP_FACTOR

    @classmethod
    def from_config(cls, coin_cfg) -> RiskLimits:
        """From a coin's effective config (`BotConfig.for_coin(coin)`)."""
        return cls(
            max_per_coin_notional=coin_cfg.max_per_coin_notional,
            max_symbol_notional=coin_cfg.max_symbol_notional or 0.0,
            max_gross_notional=coin_cfg.max_gross_notional,
            max_portfolio_var_usd=coin_cfg.max_portfolio_var_usd,
            margin_cap_mode=MarginMode(coin_cfg.margin_cap_mode),
            assumed_leverage=coin_cfg.assumed_leverage,
            margin_cap_fraction=coin_cfg.margin_cap_fraction,
        )


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order to check: side BUY (+1) / SELL (-1), size in lots, price in ticks."""

    coin: str
    side: int
    lots: int
    px: int


@dataclass(frozen=True, slots=True)
class CoinExposure:
    """One coin of the bot: signed position and live resting lots per side, mark in ticks.

    resting_* count every live order of the bot on that side (pending, open, partially
    filled: remaining lots). mark_ticks is the mid used to value lots (0: use the order price).
    """

    coin: str
    inst: Instrument
    position_lots: int
    resting_buy_lots: int
    resting_sell_lots: int
    mark_ticks: int

    def resting(self, side: int) -> int:
        return self.resting_buy_lots if side > 0 else self.resting_sell_lots

    def adding_resting_lots(self) -> int:
        """Resting lots on the side that adds exposure (flat: the larger side)."""
        if self.position_lots > 0:
            return self.resting_buy_lots
        if self.position_lots < 0:
            return self.resting_sell_lots
        return max(self.resting_buy_lots, self.resting_sell_lots)

    def gross_usd(self) -> float:
        """|position| + resting lots that add exposure, in USD at the mark."""
        lots = abs(self.position_lots) + self.adding_resting_lots()
        return self.inst.notional_usd(max(self.mark_ticks, 1), lots)


def gross_notional_usd(coins: Sequence[CoinExposure]) -> float:
    """Gross notional in USD of the bot: sum over coins of `CoinExposure.gross_usd`."""
    return sum(c.gross_usd() for c in coins)


@dataclass(frozen=True, slots=True)
class Allow:
    """The order may go with `lots` (<= requested). flags: 'shrunk_per_coin_cap',
    'shrunk_symbol_cap', 'shrunk_gross_cap', 'shrunk_margin_cap', 'var_shrink',
    'margin_warn' (warn mode: over the margin cap, allowed anyway), 'reduce_only' (every
    allowed lot reduces the position: send it reduce-only; the venue minimum is not applied)."""

    lots: int
    flags: tuple[str, ...] = ()
    figures: Figures = ()


@dataclass(frozen=True, slots=True)
class Block:
    """The order may not go. reason: 'empty_order', 'per_coin_cap', 'symbol_cap',
    'gross_cap', 'margin_cap', 'var_stop', 'var_shrink', 'min_notional', 'unknown_coin'."""

    reason: str
    figures: Figures = ()


PreTradeDecision = Allow | Block


class PreTradeCheck:
    """Pre-trade check of one order against the bot's limits.

    The order splits into a reducing part, min(lots, |position|) when the order is on the
    side opposite the position, which is always allowed, and an adding part (the rest),
    which passes, in this order, each rule taking the smaller of its room and what is left:
    1. VaR: with var_usd > max_portfolio_var_usd, adding lots shrink to
       floor(lots x limit / var); with var_usd >= var_stop_factor (1.5) x limit they are 0.
    2. per-coin cap: floor(cap / lot value) - max(0, side x position) - resting lots on the
       order's side (the cap_size convention of quoting.py).
    3. symbol cap: floor(cap / lot value) - max(0, side x position).
    4. gross cap: floor((cap - gross_notional_usd) / lot value).
    5. margin cap (enforce): as 4 with cap = equity x leverage x fraction; warn: allowed,
       flagged 'margin_warn' when the order would take gross notional over it.
    Lot value = Instrument.notional_usd(mark, 1). Adding lots fewer than the venue minimum
    (min notional at the order price) with no reducing part are blocked ('min_notional');
    with a reducing part they are dropped and the reducing part goes alone.
    """

    __slots__ = ("limits",)

    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits

    def check(self, order: OrderIntent, coins: Sequence[CoinExposure], var_usd: float = 0.0,
              equity_usd: float = 0.0) -> PreTradeDecision:
        """Decide one order. coins: every coin of the bot (the order's coin included);
        var_usd: current portfolio VaR 95% (USD); equity_usd: account equity (USD, margin cap)."""
        lim = self.limits
        me = next((c for c in coins if c.coin == order.coin), None)
        if me is None:
            return Block("unknown_coin", (("requested_lots", float(order.lots)),))
        if order.lots <= 0:
            return Block("empty_order", (("requested_lots", float(order.lots)),))
        side, inst = order.side, me.inst
        along = side * me.position_lots  # > 0: the order adds to the position
        reduce_lots = min(order.lots, max(0, -along))
        want = order.lots - reduce_lots
        mark = me.mark_ticks if me.mark_ticks > 0 else order.px
        lot_usd = inst.notional_usd(max(mark, 1), 1)
        gross = gross_notional_usd(coins)
        figs: list[tuple[str, float]] = [
            ("requested_lots", float(order.lots)),
            ("reduce_lots", float(reduce_lots)),
            ("lot_usd", lot_usd),
            ("position_lots", float(me.position_lots)),
            ("resting_same_side_lots", float(me.resting(side))),
            ("gross_usd", gross),
        ]
        flags: list[str] = []
        add = want
        binding = ""  # the rule that cut the adding part to 0

        def cut(room: int, name: str, flag: str) -> None:
            nonlocal add, binding
            room = max(room, 0)
            if room < add:
                add = room
                if add == 0 and not binding:
                    binding = name
                elif add > 0:
                    flags.append(flag)

        if want > 0:
            if lim.max_portfolio_var_usd > 0 and var_usd > lim.max_portfolio_var_usd:
                figs += [("var_usd", var_usd), ("max_portfolio_var_usd", lim.max_portfolio_var_usd)]
                if var_usd >= lim.var_stop_factor * lim.max_portfolio_var_usd:
                    add, binding = 0, "var_stop"
                else:
                    shrunk = int(math.floor(want * lim.max_portfolio_var_usd / var_usd + 1e-9))
                    figs.append(("var_scale", lim.max_portfolio_var_usd / var_usd))
                    if shrunk < add:
                        add = shrunk
                        if add == 0:
                            binding = "var_shrink"
                        else:
                            flags.append("var_shrink")
            held = max(0, along)
            if lim.max_per_coin_notional > 0:
                cap_lots = _lots_within(lim.max_per_coin_notional, lot_usd)
                figs.append(("per_coin_cap_usd", lim.max_per_coin_notional))
                cut(cap_lots - held - me.resting(side), "per_coin_cap", "shrunk_per_coin_cap")
            if lim.max_symbol_notional > 0:
                figs.append(("symbol_cap_usd", lim.max_symbol_notional))
                cut(_lots_within(lim.max_symbol_notional, lot_usd) - held, "symbol_cap", "shrunk_symbol_cap")
            if lim.max_gross_notional > 0:
                figs.append(("gross_cap_usd", lim.max_gross_notional))
                cut(_lots_within(lim.max_gross_notional - gross, lot_usd), "gross_cap", "shrunk_gross_cap")
            if lim.margin_cap_mode != MarginMode.OFF:
                margin_cap = max(equity_usd, 0.0) * lim.assumed_leverage * lim.margin_cap_fraction
                figs += [("equity_usd", equity_usd), ("margin_cap_usd", margin_cap)]
                room = _lots_within(margin_cap - gross, lot_usd)
                if lim.margin_cap_mode == MarginMode.ENFORCE:
                    cut(room, "margin_cap", "shrunk_margin_cap")
                elif add > max(room, 0):
                    flags.append("margin_warn")
            if 0 < add and reduce_lots + add < min_lots(inst, order.px):
                add = 0
                binding = binding or "min_notional"
                figs.append(("min_lots", float(min_lots(inst, order.px))))
        total = reduce_lots + add
        figs.append(("allowed_lots", float(total)))
        if total == 0:
            return Block(binding or "empty_order", tuple(figs))
        if add == 0:
            flags.append("reduce_only")
        return Allow(total, tuple(flags), tuple(figs))


def _lots_within(usd: float, lot_usd: float) -> int:
    """Whole lots whose value fits in `usd` (negative when already over)."""
    if lot_usd <= 0:
        return 0
    return int(math.floor(usd / lot_usd + 1e-9))


# ---------------------------------------------------------------- loss guard


class RiskState(StrEnum):
    OK = "ok"
    PAUSE = "pause"  # cancel quotes, keep watching
    STOP = "stop"  # daily loss limit: cancel quotes and stop
    EMERGENCY = "emergency"  # cancel everything, flatten, stop


@dataclass(frozen=True, slots=True)
class LossLimits:
    """Loss controls of a bot. USD, percentages 0-100 of equity, seconds.

    daily_loss_limit_usd: loss since 00:00 UTC that stops the bot (0 = off).
    drawdown_step_down / drawdown_step_pct: size multiplier 1 - steps x step_pct / 100 with
    steps = floor(drawdown % of peak equity / step_pct), never below MIN_SIZE_MULT.
    portfolio_pause_threshold_pct / pause_cooldown_sec: see `LossGuard`.
    emergency_stop_loss_pct: loss in % of starting equity that triggers EMERGENCY.
    """

    daily_loss_limit_usd: float = 0.0
    drawdown_step_down: bool = False
    drawdown_step_pct: float = 2.0
    portfolio_pause_threshold_pct: float = 0.0
    pause_cooldown_sec: float = 0.0
    emergency_stop_loss_pct: float = 0.0

    @classmethod
    def from_config(cls, cfg) -> LossLimits:
        return cls(
            daily_loss_limit_usd=cfg.daily_loss_limit_usd,
            drawdown_step_down=cfg.drawdown_step_down,
            drawdown_step_pct=cfg.drawdown_step_pct,
            portfolio_pause_threshold_pct=cfg.portfolio_pause_threshold_pct,
            pause_cooldown_sec=cfg.pause_cooldown_sec,
            emergency_stop_loss_pct=cfg.emergency_stop_loss_pct,
        )


@dataclass(frozen=True, slots=True)
class LossState:
    """Outcome of one `LossGuard.update`: state, quote size multiplier, why, figures.

    size_mult is in [MIN_SIZE_MULT, 1] (drawdown step-down), 0 in STOP and EMERGENCY; reason
    is '' while OK, except on the update that resumes from a pause.

    changed is True when the state differs from the previous update's (write a system event).
    """

    state: RiskState
    size_mult: float
    reason: str
    figures: Figures
    changed: bool = False


class LossGuard:
    """Stateful loss controls of one bot, updated with the bot's equity and PnL.

    - Daily loss: day PnL = (realized_usd + unrealized_usd) - baseline, where the baseline is
      that sum at the first update of each UTC day (00:00 UTC of now_ms; a new day resets it).
      A day loss >= daily_loss_limit_usd -> STOP.
    - Drawdown: peak equity is the highest equity seen (at least starting equity);
      drawdown % = (peak - equity) / peak x 100; with drawdown_step_down the size multiplier is
      max(MIN_SIZE_MULT, 1 - floor(drawdown % / step_pct) x step_pct / 100) (config: each
      further drawdown of step_pct % cuts size by step_pct %).
    - Pause: loss % = (starting - equity) / starting x 100. Loss % >= the pause level (initially
      portfolio_pause_threshold_pct) -> PAUSE. A pause ends (a) by recovery, when loss % <
      threshold / 2, which also re-arms the pause level at the threshold, or (b) by cooldown,
      pause_cooldown_sec after it began, and then the pause level becomes loss % at resume +
      threshold, so a bot resumed by cooldown pauses again only on a further loss of one
      threshold (or after recovering and losing again).
    - Emergency: loss % >= emergency_stop_loss_pct -> EMERGENCY.
    STOP and EMERGENCY latch until `reset()`. Precedence: EMERGENCY, STOP, PAUSE, OK.

    realized_usd is the bot's cumulative realized PnL net of fees and funding (not per day).
    day_baseline_usd optionally seeds the baseline of the first update's day (restart).
    """

    def __init__(self, limits: LossLimits, starting_equity_usd: float,
                 day_baseline_usd: float | None = None) -> None:
        self.limits = limits
        self.starting_equity_usd = starting_equity_usd
        self.peak_equity_usd = starting_equity_usd
        self._day: int | None = None
        self._day_baseline = day_baseline_usd
        self._latched: RiskState | None = None
        self._latched_reason = ""
        self._pause_since_ms: int | None = None
        self._pause_level_pct = limits.portfolio_pause_threshold_pct
        self._last_state = RiskState.OK

    @property
    def paused(self) -> bool:
        return self._pause_since_ms is not None

    def reset(self) -> None:
        """Clear a latched STOP / EMERGENCY and any pause (operator action)."""
        self._latched = None
        self._latched_reason = ""
        self._pause_since_ms = None
        self._pause_level_pct = self.limits.portfolio_pause_threshold_pct

    def update(self, now_ms: int, equity_usd: float, realized_usd: float, unrealized_usd: float) -> LossState:
        lim = self.limits
        day = now_ms // DAY_MS
        pnl = realized_usd + unrealized_usd
        if self._day != day:
            if self._day is not None or self._day_baseline is None:
                self._day_baseline = pnl
            self._day = day
        day_pnl = pnl - (self._day_baseline or 0.0)
        self.peak_equity_usd = max(self.peak_equity_usd, equity_usd)
        peak = self.peak_equity_usd
        dd_pct = (peak - equity_usd) / peak * 100 if peak > 0 else 0.0
        start = self.starting_equity_usd
        loss_pct = (start - equity_usd) / start * 100 if start > 0 else 0.0
        figs: list[tuple[str, float]] = [
            ("equity_usd", equity_usd),
            ("day_pnl_usd", day_pnl),
            ("peak_equity_usd", peak),
            ("drawdown_pct", dd_pct),
            ("loss_pct", loss_pct),
        ]
        mult = 1.0
        if lim.drawdown_step_down and lim.drawdown_step_pct > 0 and dd_pct > 0:
            steps = math.floor(dd_pct / lim.drawdown_step_pct + 1e-9)
            mult = max(MIN_SIZE_MULT, 1.0 - steps * lim.drawdown_step_pct / 100)
            figs.append(("drawdown_steps", float(steps)))

        state, reason = RiskState.OK, ""
        if self._latched is None:
            if lim.emergency_stop_loss_pct > 0 and loss_pct >= lim.emergency_stop_loss_pct - 1e-9:
                self._latched = RiskState.EMERGENCY
                self._latched_reason = (f"loss {loss_pct:.2f}% of starting equity >= emergency stop "
                                        f"{lim.emergency_stop_loss_pct:g}%")
            elif lim.daily_loss_limit_usd > 0 and -day_pnl >= lim.daily_loss_limit_usd - 1e-9:
                self._latched = RiskState.STOP
                self._latched_reason = (f"day loss {-day_pnl:.2f} USD >= daily loss limit "
                                        f"{lim.daily_loss_limit_usd:g} USD")
        if self._latched is not None:
            state, reason = self._latched, self._latched_reason
            self._pause_since_ms = None
        elif lim.portfolio_pause_threshold_pct > 0:
            thr = lim.portfolio_pause_threshold_pct
            if self._pause_since_ms is not None:
                paused_ms = now_ms - self._pause_since_ms
                if loss_pct < thr / 2:
                    self._pause_since_ms = None
                    self._pause_level_pct = thr
                    reason = f"resumed: loss {loss_pct:.2f}% recovered below {thr / 2:g}%"
                elif paused_ms >= lim.pause_cooldown_sec * 1000:
                    self._pause_since_ms = None
                    self._pause_level_pct = loss_pct + thr
                    reason = f"resumed: pause cooldown {lim.pause_cooldown_sec:g} s elapsed"
                else:
                    state = RiskState.PAUSE
                    reason = f"paused: loss {loss_pct:.2f}% >= {thr:g}% of starting equity"
                    figs.append(("paused_ms", float(paused_ms)))
            else:
                if loss_pct < thr / 2:
                    self._pause_level_pct = thr
                if loss_pct >= self._pause_level_pct - 1e-9:
                    self._pause_since_ms = now_ms
                    state = RiskState.PAUSE
                    reason = f"paused: loss {loss_pct:.2f}% >= {self._pause_level_pct:g}% of starting equity"
                    figs.append(("paused_ms", 0.0))
            figs.append(("pause_level_pct", self._pause_level_pct))
        if state in (RiskState.STOP, RiskState.EMERGENCY):
            mult = 0.0
        figs.append(("size_mult", mult))
        changed = state != self._last_state
        self._last_state = state
        return LossState(state, mult, reason, tuple(figs), changed)
