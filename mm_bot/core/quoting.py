"""Quote targets: from a book, a position and the coin's signals to the orders a bot wants
resting, and the keep-or-replace decision for a live order.

Pure functions over frozen inputs. The pipeline (docs/QUOTING.md has the worked numbers):

reference -> half-spread -> skews -> levels -> rounding -> guards

1. reference: mid, microprice, or join_best (each side's touch, `join_offset_ticks` behind).
2. half-spread (bps of the reference): the largest of min_spread_bps / 2,
   width_vol_mult x vol_bps (realized vol per second), fee_floor_bps / 2 (fee break-even plus
   buffer, when the guard is on) and dynamic_floor_bps / 2 (dynamic floor, when enabled).
   In join_best mode it is a floor on each side's distance from the mid.
3. skews, in bps of the reference, added to both sides (they move the reservation price):
   inventory -inv_skew_strength x q x half (q = position / max position in [-1, 1]),
   imbalance +imbalance_skew_strength x imbalance x half, funding
   -funding_bias_strength x funding_rate x 10^4; the sum is clamped to +-half, so no quote
   passes the reference. Inventory also scales sizes: the side that adds exposure by
   max(0, 1 - inv_skew_strength x |q|) (0 drops it), the reducing side by
   min(1 + inv_skew_strength x |q|, INV_SIZE_MAX_MULT).
4. levels: level i is i x level_spacing_bps further out with level_size_mult^i the size.
5. rounding (core/rounding.py): bids down, asks up, sizes down to whole lots, then up to
   the venue minimum.
6. guards: post-only (a bid below the best ask, an ask above the best bid), our own bid
   below our own ask, each level strictly beyond the previous one, the max_position_lots
   hard stop and the single-sided mode.

Prices are ticks and sizes lots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mm_bot.core.book import L2Book
from mm_bot.core.rounding import lots_for_notional, min_lots, round_price, round_ticks
from mm_bot.core.signals import NEUTRAL, QuoteSignals
from mm_bot.core.types import BUY, SELL, Instrument

__all__ = [
    "INV_SIZE_MAX_MULT",
    "NEUTRAL",
    "Quote",
    "QuoteParams",
    "QuotePlan",
    "QuoteSignals",
    "RequotePolicy",
    "cap_size",
    "half_spread_bps",
    "keep_order",
    "plan_quotes",
    "reference_price",
    "requote_reason",
    "skew_max_lots",
    "target_quotes",
]

# The reducing side's size grows by at most this factor under the inventory skew.
INV_SIZE_MAX_MULT = 2.0


@dataclass(frozen=True, slots=True)
class QuoteParams:
    """Strategy settings for one coin (already merged with per-coin overrides).

    min_spread_bps: full quoted width in bps of the reference; reference: 'mid',
    'microprice' or 'join_best'; join_offset_ticks: ticks behind the touch in join_best
    mode (0 = at the touch); size_notional_usd: order value per level; fixed_size_lots:
    when > 0, a fixed size that replaces size_notional_usd; order_levels and
    level_spacing_bps: extra levels further out; max_position_lots: when > 0, the side
    that adds exposure stops while |position| >= it; fee_floor_bps: full width floor
    (fee break-even plus buffer; 0 when the guard is off).

    Pipeline settings, all off by default: width_vol_mult (half-spread >= this x vol_bps);
    inv_skew_strength and inv_skew_max_notional_usd (the max position of the inventory
    skew, in USD at the reference; see `skew_max_lots`); imbalance_skew_strength;
    funding_bias_strength; single_sided_mode 'off', 'bid', 'ask' or 'auto' (auto takes
    QuoteSignals.side_mode).
    """

    min_spread_bps: float
    reference: str = "mid"
    join_offset_ticks: int = 0
    size_notional_usd: float = 100.0
    fixed_size_lots: int = 0
    order_levels: int = 1
    level_spacing_bps: float = 5.0
    level_size_mult: float = 1.0
    max_position_lots: int = 0
    fee_floor_bps: float = 0.0
    width_vol_mult: float = 0.0
    inv_skew_strength: float = 0.0
    inv_skew_max_notional_usd: float = 0.0
    imbalance_skew_strength: float = 0.0
    funding_bias_strength: float = 0.0
    single_sided_mode: str = "off"


@dataclass(frozen=True, slots=True)
class Quote:
    side: int
    px: int
    sz: int
    slot: str


@dataclass(frozen=True, slots=True)
class QuotePlan:
    """The pipeline before rounding (for target_quotes, tests and telemetry).

    ref: reference in fractional ticks (the mid in join_best mode); half_bps: half-spread;
    inv_ratio: position / max position in [-1, 1] (0 without a max position); inv_bps,
    imbalance_bps, funding_bps: the skews before the clamp; shift_bps: their clamped sum;
    sides: the sides to quote; size_mult: (bid, ask) inventory size factors; targets:
    (side, level, unrounded price in fractional ticks), best level first per side.
    """

    ref: float
    half_bps: float
    inv_ratio: float
    inv_bps: float
    imbalance_bps: float
    funding_bps: float
    shift_bps: float
    sides: tuple[int, ...]
    size_mult: tuple[float, float]
    targets: tuple[tuple[int, int, float], ...]

    @property
    def reservation(self) -> float:
        """Reservation price in fractional ticks: the reference moved by the skews."""
        return self.ref * (1 + self.shift_bps / 1e4)

    def mult(self, side: int) -> float:
        return self.size_mult[0] if side == BUY else self.size_mult[1]


def reference_price(book: L2Book, mode: str) -> float:
    """Reference price in (fractional) ticks: microprice, else the mid (join_best included)."""
    if mode == "microprice":
        return book.microprice()
    return book.mid2() / 2.0


def half_spread_bps(p: QuoteParams, s: QuoteSignals = NEUTRAL) -> float:
    """Half-spread in bps of the reference (step 2 of the pipeline)."""
    return max(p.min_spread_bps / 2, p.width_vol_mult * s.vol_bps, p.fee_floor_bps / 2,
               s.dynamic_floor_bps / 2, 0.0)


def skew_max_lots(inst: Instrument, p: QuoteParams, ref_ticks: float, max_position_lots: int = 0) -> int:
    """The max position (lots) the inventory skew is measured against: the smallest of the
    caller's max_position_lots, p.max_position_lots and inv_skew_max_notional_usd at the
    reference, counting only those > 0; 0 when none is set (no inventory skew)."""
    caps = [c for c in (max_position_lots, p.max_position_lots) if c > 0]
    if p.inv_skew_max_notional_usd > 0 and ref_ticks > 0:
        lots = lots_for_notional(inst, p.inv_skew_max_notional_usd, max(1, int(round(ref_ticks))))
        caps.append(max(lots, 1))
    return min(caps) if caps else 0


def _sides(p: QuoteParams, s: QuoteSignals) -> tuple[int, ...]:
    mode = p.single_sided_mode
    if mode == "auto":
        mode = s.side_mode
    if mode == "bid":
        return (BUY,)
    if mode == "ask":
        return (SELL,)
    return (BUY, SELL)


def plan_quotes(inst: Instrument, book: L2Book, position_lots: int, p: QuoteParams,
                signals: QuoteSignals = NEUTRAL, max_position_lots: int = 0) -> QuotePlan:
    """Steps 1-4 of the pipeline on a usable (two-sided, uncrossed) book."""
    bb, ba = book.best_bid, book.best_ask
    ref = reference_price(book, p.reference)
    half = half_spread_bps(p, signals)
    max_lots = skew_max_lots(inst, p, ref, max_position_lots)
    q = max(-1.0, min(1.0, position_lots / max_lots)) if max_lots > 0 else 0.0
    inv = -p.inv_skew_strength * q * half
    imb = p.imbalance_skew_strength * max(-1.0, min(1.0, signals.imbalance)) * half
    fund = -p.funding_bias_strength * signals.funding_rate * 1e4
    shift = max(-half, min(half, inv + imb + fund))
    # Inventory size factors: the adding side shrinks, the reducing side grows (bounded).
    k = p.inv_skew_strength * abs(q)
    adding, reducing = max(0.0, 1.0 - k), min(1.0 + k, INV_SIZE_MAX_MULT)
    if position_lots > 0:
        size_mult = (adding, reducing)
    elif position_lots < 0:
        size_mult = (reducing, adding)
    else:
        size_mult = (1.0, 1.0)
    sides = tuple(
        side for side in _sides(p, signals)
        if not (p.max_position_lots > 0 and side * position_lots >= p.max_position_lots)
    )
    step = ref * p.level_spacing_bps / 1e4
    move = ref * shift / 1e4
    targets = []
    for side in sides:
        if p.reference == "join_best":
            touch = bb - p.join_offset_ticks if side == BUY else ba + p.join_offset_ticks
            away = ref * (1 - side * half / 1e4)
            base = (min(touch, away) if side == BUY else max(touch, away)) + move
        else:
            base = ref * (1 + (shift - side * half) / 1e4)
        for level in range(p.order_levels):
            targets.append((side, level, base - side * level * step))
    return QuotePlan(ref, half, q, inv, imb, fund, shift, sides, size_mult, tuple(targets))


def target_quotes(inst: Instrument, book: L2Book, position_lots: int, p: QuoteParams,
                  signals: QuoteSignals = NEUTRAL, max_position_lots: int = 0) -> list[Quote]:
    """The quotes a bot wants on a usable book, best level first per side (steps 1-6).

    signals: the coin's QuoteSignals (NEUTRAL: no vol, floor, imbalance, funding, both
    sides); max_position_lots: the inventory skew's max position (see `skew_max_lots`).
    Post-only safety: a bid is never at or above the best ask, an ask never at or below
    the best bid; our bid is below our ask. Sizes below the venue minimum are raised to it.
    """
    plan = plan_quotes(inst, book, position_lots, p, signals, max_position_lots)
    bb, ba = book.best_bid, book.best_ask
    prices: dict[int, list[int]] = {}
    for side, _level, target in plan.targets:
        px = round_price(inst, target * inst.tick_size, side)
        # Post-only guard: never cross (or lock) the book the quote is computed from.
        if side == BUY and px >= ba:
            px = round_ticks(inst, ba - 1, BUY)
        elif side == SELL and px <= bb:
            px = round_ticks(inst, bb + 1, SELL)
        prices.setdefault(side, []).append(px)
    bids, asks = prices.get(BUY), prices.get(SELL)
    if bids and asks and bids[0] >= asks[0]:
        # Our own bid and ask meet (zero half-spread): move the side the skew leans away from.
        if plan.shift_bps >= 0:
            asks[0] = round_ticks(inst, bids[0] + 1, SELL)
        else:
            bids[0] = round_ticks(inst, asks[0] - 1, BUY)
    quotes: list[Quote] = []
    for side, pxs in ((BUY, bids), (SELL, asks)):
        if not pxs or plan.mult(side) <= 0:
            continue
        prev = 0
        for level, px in enumerate(pxs):
            # Levels never overlap: each strictly beyond the one before it.
            if level and side * (prev - px) <= 0:
                px = round_ticks(inst, prev - side, side)
            if px <= 0:
                break
            prev = px
            if p.fixed_size_lots > 0:
                base = p.fixed_size_lots * p.level_size_mult**level
                sz = int(math.floor(base * plan.mult(side) + 1e-9))
            else:
                notional = p.size_notional_usd * (p.level_size_mult**level) * plan.mult(side)
                sz = lots_for_notional(inst, notional, px)
            sz = max(sz, min_lots(inst, px))
            quotes.append(Quote(side, px, sz, f"{'b' if side == BUY else 'a'}{level}"))
    return quotes


@dataclass(frozen=True, slots=True)
class RequotePolicy:
    """When a live order is replaced (a coin's config has the same attributes and can be
    passed instead): move_threshold_ticks / requote_threshold_bps: kept while within either
    of the target; stale_order_seconds: replaced once this old (0: never);
    proximity_guard_bps: replaced once within this many bps of the opposite touch, when
    the target is further from it (0: off)."""

    move_threshold_ticks: int = 0
    requote_threshold_bps: float = 0.0
    stale_order_seconds: float = 0.0
    proximity_guard_bps: float = 0.0


def requote_reason(side: int, order_px: int, created_ms: int, target_px: int, now_ms: int,
                   best_bid: int, best_ask: int, policy) -> str | None:
    """Why a live order should be replaced by the target at target_px, or None to keep it.

    'moved': further than move_threshold_ticks from the target and (requote_threshold_bps
    is 0 or) further than requote_threshold_bps of it; 'stale': older than
    stale_order_seconds; 'proximity': the order is within proximity_guard_bps of the
    opposite touch (about to be crossed) and the target is more passive than the order.
    """
    diff = abs(order_px - target_px)
    if diff > policy.move_threshold_ticks:
        if policy.requote_threshold_bps <= 0:
            return "moved"
        if diff * 1e4 / max(target_px, 1) > policy.requote_threshold_bps:
            return "moved"
    if policy.stale_order_seconds > 0 and now_ms - created_ms >= policy.stale_order_seconds * 1000:
        return "stale"
    if policy.proximity_guard_bps > 0 and side * (order_px - target_px) > 0:
        touch = best_ask if side == BUY else best_bid
        if touch > 0 and side * (touch - order_px) * 1e4 / touch <= policy.proximity_guard_bps:
            return "proximity"
    return None


def keep_order(side: int, order_px: int, created_ms: int, target_px: int, now_ms: int,
               best_bid: int, best_ask: int, policy) -> bool:
    """True when the live order should stay (see `requote_reason`)."""
    return requote_reason(side, order_px, created_ms, target_px, now_ms, best_bid, best_ask, policy) is None


def cap_size(inst: Instrument, q: Quote, position_lots: int, resting_same_side_lots: int,
             mark_ticks: int, max_notional_usd: float) -> int:
    """Lots of quote `q` allowed under a per-coin notional cap (USD).

    Exposure counted on the side that adds to it: position (if on that side) plus our
    resting orders on that side plus the new order. Returns 0 if not even the venue
    minimum fits; orders that reduce the position are never capped below what closes it.
    """
    if max_notional_usd <= 0:
        return q.sz
    adding = max(0, q.side * position_lots)
    used = adding + resting_same_side_lots
    per_lot = inst.notional_usd(max(mark_ticks, 1), 1)
    room = int((max_notional_usd + 1e-9) // per_lot) - used if per_lot > 0 else q.sz
    reducing = max(0, -q.side * position_lots)
    allowed = max(room, 0) + reducing
    sz = min(q.sz, allowed)
    if sz < min_lots(inst, q.px):
        return 0
    return sz
