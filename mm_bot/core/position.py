"""Position and PnL of one bot on one coin, from its fills.

The position is an integer count of lots, so it reconciles with the fills table
exactly. Realized PnL uses the average-cost method; fees are kept apart (positive a
cost, negative a rebate) and so is funding (positive received).
"""

from __future__ import annotations

from dataclasses import dataclass

from mm_bot.core.types import Instrument


def pnl_usd(inst: Instrument, lots: int, entry: float, exit_px: float) -> float:
    """PnL in USD of `lots` (signed: + long) bought at `entry` and valued at `exit_px`.

    Linear: qty x (exit - entry). Inverse: contracts x contract size x (1/entry - 1/exit)
    coins, converted to USD at exit_px.
    """
    if lots == 0 or entry <= 0 or exit_px <= 0:
        return 0.0
    if inst.inverse:
        coins = lots * inst.lot_size * inst.contract_size * (1.0 / entry - 1.0 / exit_px)
        return coins * exit_px
    return lots * inst.lot_size * (exit_px - entry)


@dataclass(slots=True)
class Position:
    inst: Instrument
    lots: int = 0
    avg_entry: float = 0.0
    realized_usd: float = 0.0
    fees_usd: float = 0.0
    funding_usd: float = 0.0
    volume_usd: float = 0.0
    fills: int = 0

    def apply_fill(self, side: int, px_ticks: int, lots: int, fee_usd: float) -> None:
        """Book one fill: side +1 buy / -1 sell, price in ticks, size in lots, fee in USD."""
        px = self.inst.px(px_ticks)
        signed = side * lots
        self.fees_usd += fee_usd
        self.volume_usd += self.inst.notional_usd(px_ticks, lots)
        self.fills += 1
        if self.lots == 0 or (self.lots > 0) == (signed > 0):
            new = self.lots + signed
            if self.inst.inverse:
                # Inverse contracts average in 1/price.
                inv = (abs(self.lots) / self.avg_entry if self.lots else 0.0) + lots / px
                self.avg_entry = abs(new) / inv
            else:
                self.avg_entry = (abs(self.lots) * self.avg_entry + lots * px) / abs(new)
            self.lots = new
            return
        closing = min(lots, abs(self.lots))
        direction = 1 if self.lots > 0 else -1
        self.realized_usd += pnl_usd(self.inst, direction * closing, self.avg_entry, px)
        self.lots += signed
        if self.lots == 0:
            self.avg_entry = 0.0
        elif (self.lots > 0) != (direction > 0):
            # Flipped through zero: the rest opens a new position at this price.
            self.avg_entry = px

    def unrealized_usd(self, mark: float) -> float:
        """Mark-to-market PnL of the open position at `mark` (quote currency)."""
        return pnl_usd(self.inst, self.lots, self.avg_entry, mark)

    def notional_usd(self, mark: float) -> float:
        """Absolute USD value of the position at `mark`."""
        if self.inst.inverse:
            return abs(self.lots) * self.inst.lot_size * self.inst.contract_size
        return abs(self.lots) * self.inst.lot_size * mark

    @property
    def size(self) -> float:
        return self.inst.sz(self.lots)
