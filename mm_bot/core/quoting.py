"""Quote targets: from a book and a position to the orders a bot wants resting.

Pure functions over frozen inputs. The pipeline is
reference price -> half-spread -> levels -> rounding -> post-only guard -> caps.
Prices are ticks and sizes lots; spreads are bps of the reference price.
"""

from __future__ import annotations

from dataclasses import dataclass

from mm_bot.core.book import L2Book
from mm_bot.core.rounding import lots_for_notional, min_lots, round_price, round_ticks
from mm_bot.core.types import BUY, SELL, Instrument


@dataclass(frozen=True, slots=True)
class QuoteParams:
    """Strategy settings for one coin (already merged with per-coin overrides).

    min_spread_bps: full quoted width in bps of the reference; reference: 'mid',
    'microprice' or 'join_best'; join_offset_ticks: ticks behind the touch in join_best
    mode (0 = at the touch); size_notional_usd: order value per level; fixed_size_lots:
    when > 0, a fixed size that replaces size_notional_usd; order_levels and
    level_spacing_bps: extra levels further out; max_position_lots: when > 0, the side
    that adds exposure stops while |position| >= it.
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


@dataclass(frozen=True, slots=True)
class Quote:
    side: int
    px: int
    sz: int
    slot: str


def reference_price(book: L2Book, mode: str) -> float:
    """Reference price in (fractional) ticks: mid or microprice."""
    if mode == "microprice":
        return book.microprice()
    return book.mid2() / 2.0


def target_quotes(inst: Instrument, book: L2Book, position_lots: int, p: QuoteParams) -> list[Quote]:
    """The quotes a bot wants on a usable book, best level first per side.

    Post-only safety: a bid is never at or above the best ask, an ask never at or below
    the best bid. Sizes below the venue minimum are raised to it.
    """
    bb, ba = book.best_bid, book.best_ask
    quotes: list[Quote] = []
    for side in (BUY, SELL):
        if p.max_position_lots > 0 and side * position_lots >= p.max_position_lots:
            continue
        for level in range(p.order_levels):
            if p.reference == "join_best":
                touch = bb if side == BUY else ba
                px = touch - side * p.join_offset_ticks
                px = round_ticks(inst, px, side)
                if level:
                    ref = touch * inst.tick_size
                    px = round_price(inst, ref * (1 - side * level * p.level_spacing_bps / 1e4), side)
            else:
                ref = reference_price(book, p.reference) * inst.tick_size
                half = max(p.min_spread_bps, p.fee_floor_bps) / 2 + level * p.level_spacing_bps
                px = round_price(inst, ref * (1 - side * half / 1e4), side)
            # Post-only guard: never cross (or lock) the book the quote is computed from.
            if side == BUY and px >= ba:
                px = round_ticks(inst, ba - 1, BUY)
            elif side == SELL and px <= bb:
                px = round_ticks(inst, bb + 1, SELL)
            if px <= 0:
                continue
            if p.fixed_size_lots > 0:
                sz = p.fixed_size_lots
            else:
                sz = lots_for_notional(inst, p.size_notional_usd * (p.level_size_mult**level), px)
            sz = max(sz, min_lots(inst, px))
            quotes.append(Quote(side, px, sz, f"{'b' if side == BUY else 'a'}{level}"))
    return quotes


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
