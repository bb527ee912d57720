"""L2 order book in integer ticks and lots.

Each side keeps a dict price -> size and a sorted list of prices with the best price
last (bids ascending, asks as negated prices ascending), so the best price is an index
lookup and an update is a dict write plus, when a level appears or vanishes, one bisect
insertion or deletion (a C memmove). Updates cluster near the touch, so with the best
at the end of both lists that memmove is short: deep Binance books (thousands of
levels) stay cheap to maintain.
"""

from __future__ import annotations

from bisect import bisect_left, insort

from mm_bot.core.types import BookUpdate


class L2Book:
    """Book of one coin. Prices are ticks, sizes lots; timestamps ms on the injected clock."""

    __slots__ = ("coin", "bids", "asks", "_bid_px", "_ask_neg", "ts_ms", "in_sync")

    def __init__(self, coin: str) -> None:
        self.coin = coin
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self._bid_px: list[int] = []  # bid prices ascending: the best bid is the last
        self._ask_neg: list[int] = []  # negated ask prices ascending: the best ask is the last
        self.ts_ms = 0
        # False after a feed reported a sequence gap, until the next snapshot.
        self.in_sync = False

    # ------------------------------------------------------------ updates

    def apply(self, ev: BookUpdate) -> None:
        """Apply a snapshot or a delta (size 0 deletes the level)."""
        if ev.snapshot:
            self.bids = {p: s for p, s in ev.bids if s > 0}
            self.asks = {p: s for p, s in ev.asks if s > 0}
            self._bid_px = sorted(self.bids)
            self._ask_neg = sorted([-p for p in self.asks])
            self.in_sync = True
        else:
            _apply_bids(self.bids, self._bid_px, ev.bids)
            _apply_asks(self.asks, self._ask_neg, ev.asks)
        self.ts_ms = ev.ts_ms

    def mark_out_of_sync(self) -> None:
        """A sequence gap: the book is unusable until the next snapshot."""
        self.in_sync = False

    def consume(self, side_hit: int, px: int, sz: int) -> None:
        """Remove `sz` lots at `px` from the side a trade hit (+1 bids, -1 asks).

        Used by feeds that print trades before the matching depth update, so the book
        does not show liquidity that a trade already took.
        """
        levels, prices, key = (self.bids, self._bid_px, px) if side_hit > 0 else (self.asks, self._ask_neg, -px)
        have = levels.get(px)
        if have is None:
            return
        left = have - sz
        if left > 0:
            levels[px] = left
        else:
            del levels[px]
            del prices[bisect_left(prices, key)]

    # ------------------------------------------------------------ reads

    @property
    def best_bid(self) -> int:
        """Best bid in ticks, 0 if the side is empty."""
        return self._bid_px[-1] if self._bid_px else 0

    @property
    def best_ask(self) -> int:
        """Best ask in ticks, 0 if the side is empty."""
        return -self._ask_neg[-1] if self._ask_neg else 0

    def size_at(self, side: int, px: int) -> int:
        """Displayed lots at price `px` on our side `side` (+1 bid book, -1 ask book)."""
        return (self.bids if side > 0 else self.asks).get(px, 0)

    def is_usable(self, now_ms: int, max_age_ms: int) -> bool:
        """True when the book is in sync, two-sided, not crossed and not older than max_age_ms."""
        if not self.in_sync or not self._bid_px or not self._ask_neg:
            return False
        if self._bid_px[-1] >= -self._ask_neg[-1]:
            return False
        return now_ms - self.ts_ms <= max_age_ms

    def mid2(self) -> int:
        """Twice the mid in ticks (an integer, so the mid stays exact)."""
        return self._bid_px[-1] - self._ask_neg[-1]

    def spread_bps(self) -> float:
        """Quoted spread in bps of mid (statistics only)."""
        bb, ba = self._bid_px[-1], -self._ask_neg[-1]
        return (ba - bb) * 2e4 / (ba + bb)

    def microprice(self) -> float:
        """Size-weighted mid in ticks: leans toward the side with less size at the touch."""
        bb, ba = self._bid_px[-1], -self._ask_neg[-1]
        qb, qa = self.bids[bb], self.asks[ba]
        return (bb * qa + ba * qb) / (qa + qb)

    def imbalance(self, levels: int = 5) -> float:
        """(bid size - ask size) / total over the top `levels` levels, in [-1, 1]."""
        qb = sum(self.bids[p] for p in self._bid_px[-levels:])
        qa = sum(self.asks[-p] for p in self._ask_neg[-levels:])
        tot = qb + qa
        return (qb - qa) / tot if tot else 0.0

    def top(self, levels: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top `levels` levels per side, best first."""
        bids = [(p, self.bids[p]) for p in reversed(self._bid_px[-levels:])]
        asks = [(-p, self.asks[-p]) for p in reversed(self._ask_neg[-levels:])]
        return bids, asks

    def depth_levels(self, side: int) -> list[int]:
        """Prices of one side, best first (+1 bids, -1 asks)."""
        return list(reversed(self._bid_px)) if side > 0 else [-p for p in reversed(self._ask_neg)]


def _apply_bids(levels: dict[int, int], prices: list[int], updates) -> None:
    for px, sz in updates:
        if sz > 0:
            if px not in levels:
                insort(prices, px)
            levels[px] = sz
        elif px in levels:
            del levels[px]
            del prices[bisect_left(prices, px)]


def _apply_asks(levels: dict[int, int], neg: list[int], updates) -> None:
    """As _apply_bids, on the negated ask prices (so the best ask stays at the end)."""
    for px, sz in updates:
        if sz > 0:
            if px not in levels:
                insort(neg, -px)
            levels[px] = sz
        elif px in levels:
            del levels[px]
            del neg[bisect_left(neg, -px)]
