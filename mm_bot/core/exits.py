"""Position exits (DESIGN section 7): flatten, bailout, take profit. Pure, no I/O, no clock.

Every exit is a reduce-only `ExitOrder` on the side opposite the position, sized in lots and
priced in ticks. Taker exits (IOC) are priced so the limit is never worse than the slippage
bound: the bound is `flatten_max_slippage_bps` through the mid (config meaning), a sell
limit at or above mid x (1 - bps/1e4) and a buy limit at or below mid x (1 + bps/1e4),
rounded toward the passive side so rounding never makes it worse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from mm_bot.core.book import L2Book
from mm_bot.core.position import pnl_usd
from mm_bot.core.rounding import round_price
from mm_bot.core.types import Instrument, Tif


@dataclass(frozen=True, slots=True)
class ExitOrder:
    """A reduce-only exit order: side +1/-1, lots, limit price in ticks.

    expires_ms: for resting steps (ALO, GTC) the time at which the caller cancels it and
    reports the result; 0 for IOC.
    """

    side: int
    lots: int
    limit_px: int
    tif: Tif
    reason: str
    reduce_only: bool = True
    expires_ms: int = 0


def _touch_ok(book: L2Book | None) -> bool:
    return book is not None and book.best_bid > 0 and book.best_ask > 0 and book.best_bid < book.best_ask


def adverse_bps(position_lots: int, avg_entry: float, mark: float) -> float:
    """How far `mark` has moved against the position since `avg_entry`, in bps of the entry.

    Positive when underwater (long: mark below entry; short: mark above), negative in profit,
    0 when flat. Prices in quote currency.
    """
    if position_lots == 0 or avg_entry <= 0 or mark <= 0:
        return 0.0
    sign = 1 if position_lots > 0 else -1
    return -sign * (mark - avg_entry) / avg_entry * 1e4


def slippage_bound_px(inst: Instrument, book: L2Book, side: int, max_slippage_bps: float) -> int:
    """Limit in ticks of a taker order on `side`, max_slippage_bps through the mid."""
    mid = book.mid2() * inst.tick_size / 2
    return round_price(inst, mid * (1 + side * max_slippage_bps / 1e4), side)


def flatten_order(inst: Instrument, position_lots: int, book: L2Book | None, max_spread_bps: float,
                  max_slippage_bps: float, lots: int = 0, reason: str = "flatten") -> ExitOrder | None:
    """IOC reduce-only order closing the position (or `lots` of it when 0 < lots < |position|).

    None when flat, when the book has no valid touch, or while the market spread is wider
    than max_spread_bps (retry on a later tick). Limit: max_slippage_bps through the mid,
    see the module docstring.
    """
    if position_lots == 0 or not _touch_ok(book):
        return None
    assert book is not None
    if book.spread_bps() > max_spread_bps:
        return None
    side = -1 if position_lots > 0 else 1
    size = abs(position_lots) if lots <= 0 else min(lots, abs(position_lots))
    px = slippage_bound_px(inst, book, side, max_slippage_bps)
    if px <= 0:
        return None
    return ExitOrder(side, size, px, Tif.IOC, reason)


# ---------------------------------------------------------------- bailout


@dataclass(frozen=True, slots=True)
class BailoutParams:
    """Bailout settings of one coin: bps of adverse move vs the average entry, seconds.

    Partial: adverse >= partial_mae_bps continuously for partial_min_seconds -> reduce
    reduce_fraction of the position, once per episode. Full: adverse >= full_mae_bps (at
    once), or adverse >= partial_mae_bps continuously for full_max_seconds -> close all.
    Orders go through `flatten_order` with max_spread_bps / max_slippage_bps; a full bailout
    is re-sent every retry_ms while a position is left.
    """

    partial_mae_bps: float
    full_mae_bps: float
    partial_min_seconds: float
    full_max_seconds: float
    reduce_fraction: float
    max_spread_bps: float
    max_slippage_bps: float
    retry_ms: int = 1_000

    @classmethod
    def from_config(cls, coin_cfg) -> BailoutParams:
        return cls(
            partial_mae_bps=coin_cfg.bailout_partial_mae_bps,
            full_mae_bps=coin_cfg.bailout_full_mae_bps,
            partial_min_seconds=coin_cfg.bailout_partial_min_seconds,
            full_max_seconds=coin_cfg.bailout_full_max_seconds,
            reduce_fraction=coin_cfg.bailout_partial_reduce_fraction,
            max_spread_bps=coin_cfg.flatten_max_spread_bps,
            max_slippage_bps=coin_cfg.flatten_max_slippage_bps,
        )


class BailoutTracker:
    """Bailout of one coin's position, fed every loop with the position and the book.

    An episode starts when the adverse move (vs the average entry, at the mid) reaches
    partial_mae_bps and ends when it falls back below it, or the position is closed or
    flips. `mae_bps` is the maximum adverse excursion of the current episode (figure).
    """

    __slots__ = ("p", "beyond_since_ms", "partial_done", "mae_bps", "_sign", "_last_order_ms")

    def __init__(self, params: BailoutParams) -> None:
        self.p = params
        self.beyond_since_ms: int | None = None  # since when adverse >= partial_mae_bps
        self.partial_done = False
        self.mae_bps = 0.0
        self._sign = 0
        self._last_order_ms: int | None = None

    def _end_episode(self) -> None:
        self.beyond_since_ms = None
        self.partial_done = False
        self.mae_bps = 0.0
        self._last_order_ms = None

    def update(self, now_ms: int, inst: Instrument, position_lots: int, avg_entry: float,
               book: L2Book | None) -> ExitOrder | None:
        """The bailout order to send now, or None."""
        sign = (position_lots > 0) - (position_lots < 0)
        if sign != self._sign:
            self._sign = sign
            self._end_episode()
        if sign == 0 or not _touch_ok(book):
            return None
        assert book is not None
        mid = book.mid2() * inst.tick_size / 2
        adverse = adverse_bps(position_lots, avg_entry, mid)
        p = self.p
        if adverse < p.partial_mae_bps and adverse < p.full_mae_bps:
            self._end_episode()
            return None
        if self.beyond_since_ms is None:
            self.beyond_since_ms = now_ms
        self.mae_bps = max(self.mae_bps, adverse)
        beyond_ms = now_ms - self.beyond_since_ms
        if adverse >= p.full_mae_bps or beyond_ms >= p.full_max_seconds * 1000:
            if self._last_order_ms is not None and now_ms - self._last_order_ms < p.retry_ms:
                return None
            why = (f"bailout_full: {adverse:.1f} bps adverse >= {p.full_mae_bps:g}"
                   if adverse >= p.full_mae_bps else
                   f"bailout_full: {beyond_ms / 1000:g} s beyond {p.partial_mae_bps:g} bps")
            order = flatten_order(inst, position_lots, book, p.max_spread_bps, p.max_slippage_bps,
                                  reason=why)
            if order is not None:
                self._last_order_ms = now_ms
            return order
        if not self.partial_done and beyond_ms >= p.partial_min_seconds * 1000:
            lots = min(abs(position_lots), max(1, math.floor(abs(position_lots) * p.reduce_fraction + 1e-9)))
            order = flatten_order(inst, position_lots, book, p.max_spread_bps, p.max_slippage_bps, lots=lots,
                                  reason=f"bailout_partial: {adverse:.1f} bps adverse for {beyond_ms / 1000:g} s")
            if order is not None:
                self.partial_done = True
                self._last_order_ms = now_ms
            return order
        return None


# ---------------------------------------------------------------- take profit


@dataclass(frozen=True, slots=True)
class TakeProfitParams:
    """Take-profit settings of one coin (bps of entry, USD, fee bps of notional)."""

    min_bps: float
    min_usd: float
    taker_fee_bps: float = 0.0
    emergency_enabled: bool = False
    emergency_min_usd: float = 0.0

    @classmethod
    def from_config(cls, coin_cfg, taker_fee_bps: float) -> TakeProfitParams:
        return cls(
            min_bps=coin_cfg.take_profit_min_bps,
            min_usd=coin_cfg.take_profit_min_usd,
            taker_fee_bps=taker_fee_bps,
            emergency_enabled=coin_cfg.emergency_take_profit_enabled,
            emergency_min_usd=coin_cfg.emergency_take_profit_min_usd,
        )


@dataclass(frozen=True, slots=True)
class TakeProfitGain:
    """Gain of closing the whole position at the touch now, after the taker fee."""

    bps: float
    usd: float


def take_profit_gain(inst: Instrument, position_lots: int, avg_entry: float, book: L2Book,
                     taker_fee_bps: float) -> TakeProfitGain:
    """Gain after the taker fee of closing at the opposite touch (long: best bid).

    bps = side x (touch - entry) / entry x 1e4 - taker_fee_bps; usd = PnL at the touch minus
    taker_fee_bps of the notional at the touch.
    """
    long = position_lots > 0
    touch_ticks = book.best_bid if long else book.best_ask
    touch = inst.px(touch_ticks)
    sign = 1 if long else -1
    bps = sign * (touch - avg_entry) / avg_entry * 1e4 - taker_fee_bps
    notional = inst.notional_usd(touch_ticks, abs(position_lots))
    usd = pnl_usd(inst, position_lots, avg_entry, touch) - notional * taker_fee_bps / 1e4
    return TakeProfitGain(bps, usd)


def take_profit(inst: Instrument, position_lots: int, avg_entry: float, book: L2Book | None,
                p: TakeProfitParams) -> ExitOrder | None:
    """IOC at the opposite touch closing the position when the gain after taker fees is
    >= min_bps and >= min_usd ('take_profit'), or, with emergency_enabled, >= emergency_min_usd
    whatever its bps ('emergency_take_profit'). None otherwise, when flat or without a touch."""
    if position_lots == 0 or avg_entry <= 0 or not _touch_ok(book):
        return None
    assert book is not None
    g = take_profit_gain(inst, position_lots, avg_entry, book, p.taker_fee_bps)
    side = -1 if position_lots > 0 else 1
    px = book.best_bid if position_lots > 0 else book.best_ask
    if p.emergency_enabled and g.usd >= p.emergency_min_usd:
        return ExitOrder(side, abs(position_lots), px, Tif.IOC,
                         f"emergency_take_profit: {g.usd:.2f} USD >= {p.emergency_min_usd:g}")
    if g.bps >= p.min_bps and g.usd >= p.min_usd:
        return ExitOrder(side, abs(position_lots), px, Tif.IOC,
                         f"take_profit: {g.bps:.1f} bps, {g.usd:.2f} USD")
    return None


class TpStep(StrEnum):
    IDLE = "idle"
    MAKER_TOUCH = "maker_touch"  # ALO at our own side's touch (config: post-only first)
    IOC_TOUCH = "ioc_touch"  # IOC at the opposite touch
    IOC_SLIPPAGE = "ioc_slippage"  # IOC at the slippage bound through the mid
    GTC_AGGRESSIVE = "gtc_aggressive"  # GTC resting at the slippage bound


class ExitResult(StrEnum):
    FILLED = "filled"  # the step's order closed what it was sent for
    PARTIAL = "partial"  # some lots filled, some left
    NOTHING = "nothing"  # no fill (IOC cancelled, or the resting order expired)


LADDER = (TpStep.MAKER_TOUCH, TpStep.IOC_TOUCH, TpStep.IOC_SLIPPAGE, TpStep.GTC_AGGRESSIVE)


@dataclass(frozen=True, slots=True)
class LadderParams:
    """Enhanced take profit. maker_wait_ms / gtc_wait_ms: how long the ALO and the GTC steps
    rest before the caller cancels them (ExitOrder.expires_ms); maker_first: start with the
    post-only step (config `enhanced_take_profit_enabled`: post-only at the touch first)."""

    max_slippage_bps: float
    maker_wait_ms: int = 2_000
    gtc_wait_ms: int = 5_000
    maker_first: bool = True

    @classmethod
    def from_config(cls, coin_cfg) -> LadderParams:
        """Slippage bound from `flatten_max_slippage_bps`; waits at their defaults."""
        return cls(max_slippage_bps=coin_cfg.flatten_max_slippage_bps)


class TakeProfitLadder:
    """Enhanced take profit of one coin: a small state machine over `LADDER`.

    `start()` when `take_profit` says to exit and the ladder is idle; `order()` gives the
    current step's order (send it, one at a time); `on_result()` with its outcome advances:
    FILLED -> IDLE; PARTIAL -> the same step again for what is left; NOTHING -> the next
    step, IDLE after the last. A flat position also ends the ladder.
    Steps: ALO at our touch (long: best ask) expiring after maker_wait_ms; IOC at the
    opposite touch (long: best bid); IOC at the slippage bound; GTC at the slippage bound
    expiring after gtc_wait_ms.
    """

    __slots__ = ("p", "step")

    def __init__(self, params: LadderParams) -> None:
        self.p = params
        self.step = TpStep.IDLE

    @property
    def active(self) -> bool:
        return self.step != TpStep.IDLE

    def start(self) -> None:
        if self.step == TpStep.IDLE:
            self.step = LADDER[0] if self.p.maker_first else LADDER[1]

    def cancel(self) -> None:
        self.step = TpStep.IDLE

    def order(self, now_ms: int, inst: Instrument, position_lots: int, book: L2Book | None) -> ExitOrder | None:
        """The order of the current step, or None (idle, flat, or no valid touch)."""
        if position_lots == 0:
            self.step = TpStep.IDLE
        if self.step == TpStep.IDLE or not _touch_ok(book):
            return None
        assert book is not None
        side = -1 if position_lots > 0 else 1
        lots = abs(position_lots)
        reason = f"take_profit_{self.step.value}"
        if self.step == TpStep.MAKER_TOUCH:
            px = book.best_ask if side < 0 else book.best_bid
            return ExitOrder(side, lots, px, Tif.ALO, reason, expires_ms=now_ms + self.p.maker_wait_ms)
        if self.step == TpStep.IOC_TOUCH:
            px = book.best_bid if side < 0 else book.best_ask
            return ExitOrder(side, lots, px, Tif.IOC, reason)
        px = slippage_bound_px(inst, book, side, self.p.max_slippage_bps)
        if self.step == TpStep.IOC_SLIPPAGE:
            return ExitOrder(side, lots, px, Tif.IOC, reason)
        return ExitOrder(side, lots, px, Tif.GTC, reason, expires_ms=now_ms + self.p.gtc_wait_ms)

    def on_result(self, result: ExitResult) -> TpStep:
        """Advance on the outcome of the current step's order; returns the new step."""
        if self.step == TpStep.IDLE:
            return self.step
        if result == ExitResult.FILLED:
            self.step = TpStep.IDLE
        elif result == ExitResult.NOTHING:
            i = LADDER.index(self.step)
            self.step = LADDER[i + 1] if i + 1 < len(LADDER) else TpStep.IDLE
        return self.step
