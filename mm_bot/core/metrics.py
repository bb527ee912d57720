"""Per-minute transaction-impact counters of one bot on one coin.

maker ratio = maker fills / all fills (by count and by notional); cancels per fill =
cancel requests / fills. A window with no fill reports NULL ratios rather than 0, so a
quiet minute is not mistaken for a bad one.
"""

from __future__ import annotations

from dataclasses import dataclass

from mm_bot.core.records import MetricRow


@dataclass(slots=True)
class MinuteCounters:
    start_ms: int = 0
    fills: int = 0
    maker_fills: int = 0
    notional: float = 0.0
    maker_notional: float = 0.0
    placements: int = 0
    cancels: int = 0

    def add_fill(self, maker: bool, notional_usd: float) -> None:
        self.fills += 1
        self.notional += notional_usd
        if maker:
            self.maker_fills += 1
            self.maker_notional += notional_usd

    def row(self, bot_id: str, coin: str, end_ms: int) -> MetricRow:
        """The performance_metrics row of the window [start_ms, end_ms)."""
        f = self.fills
        return MetricRow(
            bot_id, coin, max(1, round((end_ms - self.start_ms) / 1000)), f, self.maker_fills,
            self.maker_fills / f if f else None,
            self.maker_notional / self.notional if self.notional else None,
            self.placements, self.cancels, self.cancels / f if f else None, self.notional, end_ms,
        )

    def reset(self, start_ms: int) -> None:
        self.start_ms = start_ms
        self.fills = self.maker_fills = self.placements = self.cancels = 0
        self.notional = self.maker_notional = 0.0
