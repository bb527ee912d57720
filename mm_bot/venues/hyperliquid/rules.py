"""Hyperliquid price and size rules on an Instrument (PROTOCOLS.md 1.6).

A perp price is valid when it is an integer, or has at most 5 significant figures and at most
6 - szDecimals decimals; sizes have at most szDecimals decimals. An Instrument built by
`mapping.parse_meta` carries tick_size = 10^-(6 - szDecimals) (the finest grid any price can use),
lot_size = 10^-szDecimals and max_sig_figs = 5, so integer ticks/lots address every valid price and
size; the sig-fig rule makes the usable step coarser at larger prices (BTC: 0.1 below 10,000, 1 above).

All arithmetic is decimal and exact; a float input is read by its shortest repr (60000.1 means
60000.1, not its binary expansion).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from functools import lru_cache

from mm_bot.core.types import BUY, SELL, Instrument

PERP_MAX_DECIMALS = 6
SPOT_MAX_DECIMALS = 8
MAX_SIG_FIGS = 5
MIN_NOTIONAL_USD = 10.0


@lru_cache(maxsize=256)
def step_decimal(step: float) -> Decimal:
    """A float grid step (0.1, 1e-06, 1.0) as its exact intended decimal."""
    d = Decimal(repr(float(step)))
    if not d.is_finite() or d <= 0:
        raise ValueError(f"grid step must be positive, got {step!r}")
    return d


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """Decimal of a price/size input: floats by shortest repr, strings as written."""
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, bool):
        raise ValueError("bool is not a number")
    elif isinstance(value, float):
        d = Decimal(repr(value))
    elif isinstance(value, int | str):
        d = Decimal(value)
    else:
        raise ValueError(f"not a number: {type(value).__name__}")
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return d


def price_step(inst: Instrument, px: float | Decimal) -> Decimal:
    """The coarsest step a valid price of magnitude `px` must lie on (a multiple of the tick)."""
    d = to_decimal(px)
    if d <= 0:
        raise ValueError(f"price must be positive, got {px!r}")
    tick = step_decimal(inst.tick_size)
    if inst.max_sig_figs <= 0:
        return tick
    int_digits = d.adjusted() + 1
    sig_decimals = inst.max_sig_figs - int_digits
    # integer prices are always valid, so the sig-fig step never exceeds 1
    sig_step = Decimal(1).scaleb(-max(0, sig_decimals))
    if sig_step <= tick:
        return tick
    k = (sig_step / tick).to_integral_value(rounding=ROUND_CEILING)
    return k * tick


def _round_price(inst: Instrument, px: float | Decimal, rounding: str) -> int:
    d = to_decimal(px)
    if d <= 0:
        raise ValueError(f"price must be positive, got {px!r}")
    step = price_step(inst, d)
    q = (d / step).to_integral_value(rounding=rounding)
    price = q * step
    return int(price / step_decimal(inst.tick_size))


def round_price(inst: Instrument, px: float | Decimal, side: int) -> int:
    """Ticks of the nearest valid price on the passive side: bids (BUY) down, asks (SELL) up.

    A bid below the smallest valid price rounds to 0 ticks, which no order may use (the caller
    skips the side).
    """
    if side == BUY:
        return _round_price(inst, px, ROUND_FLOOR)
    if side == SELL:
        return _round_price(inst, px, ROUND_CEILING)
    raise ValueError(f"side must be BUY (1) or SELL (-1), got {side!r}")


def round_price_nearest(inst: Instrument, px: float | Decimal) -> int:
    """Ticks of the nearest valid price, ties to even (the SDK's rounding idiom on exact decimals)."""
    return _round_price(inst, px, ROUND_HALF_EVEN)


def round_size(inst: Instrument, sz: float | Decimal) -> int:
    """Lots of a size, rounded down to the lot grid (never more than asked)."""
    d = to_decimal(sz)
    if d < 0:
        raise ValueError(f"size must not be negative, got {sz!r}")
    return int((d / step_decimal(inst.lot_size)).to_integral_value(rounding=ROUND_FLOOR))


def round_size_nearest(inst: Instrument, sz: float | Decimal) -> int:
    """Lots of a size, nearest lot with ties to even (the SDK's `round(sz, szDecimals)`)."""
    d = to_decimal(sz)
    if d < 0:
        raise ValueError(f"size must not be negative, got {sz!r}")
    return int((d / step_decimal(inst.lot_size)).to_integral_value(rounding=ROUND_HALF_EVEN))


def price_decimal(inst: Instrument, ticks: int) -> Decimal:
    """Exact price of an integer tick count."""
    return int(ticks) * step_decimal(inst.tick_size)


def size_decimal(inst: Instrument, lots: int) -> Decimal:
    """Exact size of an integer lot count."""
    return int(lots) * step_decimal(inst.lot_size)


def is_valid_price(inst: Instrument, ticks: int) -> bool:
    """True when `ticks` is a price the venue accepts (positive, integer or within both limits)."""
    if ticks <= 0:
        return False
    p = price_decimal(inst, ticks)
    if p == p.to_integral_value():
        return True
    n = p.normalize()
    sign, digits, exponent = n.as_tuple()
    decimals = -int(exponent)
    tick_decimals = max(0, -step_decimal(inst.tick_size).normalize().as_tuple().exponent)
    if decimals > tick_decimals:
        return False
    return inst.max_sig_figs <= 0 or len(digits) <= inst.max_sig_figs


def decimal_to_wire(d: Decimal) -> str:
    """Plain decimal string without exponent or trailing zeros ('60000', '0.001', '0')."""
    if d == 0:
        return "0"
    return f"{d.normalize():f}"


def px_to_wire(inst: Instrument, ticks: int) -> str:
    """Wire price string of a tick count (exact, no float)."""
    return decimal_to_wire(price_decimal(inst, ticks))


def sz_to_wire(inst: Instrument, lots: int) -> str:
    """Wire size string of a lot count (exact, no float)."""
    return decimal_to_wire(size_decimal(inst, lots))


def notional_ok(inst: Instrument, ticks: int, lots: int) -> bool:
    """True when price x size reaches the instrument's minimum order value."""
    return price_decimal(inst, ticks) * size_decimal(inst, lots) >= Decimal(repr(inst.min_notional_usd))


def min_lots(inst: Instrument, ticks: int) -> int:
    """Smallest lot count whose value at `ticks` reaches the minimum notional (at least 1)."""
    if ticks <= 0:
        raise ValueError("price must be positive")
    need = Decimal(repr(inst.min_notional_usd)) / (price_decimal(inst, ticks) * step_decimal(inst.lot_size))
    return max(1, int(need.to_integral_value(rounding=ROUND_CEILING)))
