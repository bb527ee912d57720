"""Price and size rounding to a venue's rules: the one place the order path rounds.

Prices round toward the passive side (bids down, asks up) so rounding never makes a
quote more aggressive than its target; sizes round down to whole lots. Venues with a
significant-figure rule (Hyperliquid: at most 5) are handled through
Instrument.max_sig_figs on top of the tick grid.
"""

from __future__ import annotations

import math

from mm_bot.core.types import BUY, Instrument


def _sig_fig_step_ticks(inst: Instrument, ticks: int) -> int:
    """Ticks per allowed price step at this magnitude under the sig-fig rule (>= 1)."""
    if inst.max_sig_figs <= 0 or ticks <= 0:
        return 1
    px = ticks * inst.tick_size
    exp = math.floor(math.log10(px)) - inst.max_sig_figs + 1
    # Integer prices are always valid (Hyperliquid), so the step never exceeds 1.0.
    step = min(10.0**exp, 1.0)
    return max(1, int(round(step / inst.tick_size)))


def round_price(inst: Instrument, price: float, side: int) -> int:
    """Price in ticks for a quote at `price` (quote currency): bid down, ask up.

    Obeys the tick grid and, where the instrument has one, the significant-figure limit.
    """
    raw = price / inst.tick_size
    # A hair of tolerance so a price already on the grid (e.g. 0.3 / 0.1) stays put.
    ticks = math.floor(raw + 1e-9) if side == BUY else math.ceil(raw - 1e-9)
    return round_ticks(inst, ticks, side)


def round_ticks(inst: Instrument, ticks: int, side: int) -> int:
    """Snap a tick count to the sig-fig grid, toward the passive side."""
    step = _sig_fig_step_ticks(inst, ticks)
    if step == 1:
        return ticks
    if side == BUY:
        out = (ticks // step) * step
    else:
        out = -((-ticks) // step) * step
        # Rounding up can cross a power of ten, where the step grows: re-check.
        step2 = _sig_fig_step_ticks(inst, out)
        if step2 != step:
            out = -((-out) // step2) * step2
    return out


def round_size(inst: Instrument, size: float) -> int:
    """Whole lots in `size` base units (contracts for inverse), rounded down."""
    return int(math.floor(size / inst.lot_size + 1e-9))


def lots_for_notional(inst: Instrument, notional_usd: float, px_ticks: int) -> int:
    """Whole lots (down) worth `notional_usd` at price `px_ticks`."""
    if inst.inverse:
        return int(math.floor(notional_usd / (inst.lot_size * inst.contract_size) + 1e-9))
    px = px_ticks * inst.tick_size
    if px <= 0:
        return 0
    return round_size(inst, notional_usd / px)


def min_lots(inst: Instrument, px_ticks: int) -> int:
    """Smallest lot count meeting the venue's minimum notional at this price (>= 1)."""
    if inst.min_notional_usd <= 0:
        return 1
    if inst.inverse:
        per_lot = inst.lot_size * inst.contract_size
    else:
        per_lot = px_ticks * inst.tick_size * inst.lot_size
    if per_lot <= 0:
        return 1
    return max(1, math.ceil(inst.min_notional_usd / per_lot - 1e-9))
