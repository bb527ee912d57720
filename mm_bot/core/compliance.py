"""Compliance rules (DESIGN section 7): self-match, loop trades, amend rate, one wallet per account.

Pure, no I/O, no clock: times are integer ms on the injected clock. Prices are ticks.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from mm_bot.core.types import BUY, Place


@dataclass(frozen=True, slots=True)
class RestingOrder:
    """A live order of some bot on a venue account: side +1/-1, price in ticks."""

    account: str
    coin: str
    cloid: str
    side: int
    px: int
    bot_id: str = ""

    @classmethod
    def of_place(cls, account: str, place: Place) -> RestingOrder:
        """The registry entry of a Place action sent on `account`."""
        return cls(account, place.coin, place.cloid, place.side, place.px, place.bot_id)


class _Side:
    """Resting prices of one side: price -> order count and the sorted distinct prices."""

    __slots__ = ("count", "prices")

    def __init__(self) -> None:
        self.count: dict[int, int] = {}
        self.prices: list[int] = []

    def add(self, px: int) -> None:
        n = self.count.get(px, 0)
        if n == 0:
            insort(self.prices, px)
        self.count[px] = n + 1

    def discard(self, px: int) -> None:
        n = self.count.get(px, 0)
        if n <= 1:
            if n == 1:
                del self.count[px]
                del self.prices[bisect_left(self.prices, px)]
            return
        self.count[px] = n - 1


class SelfMatchRegistry:
    """Resting orders of every bot of the process, by (venue account, coin), for self-match checks.

    One registry per venue (account labels are per venue). Register an order when it is sent
    (it may rest from then on) and remove it when it is terminal (filled, cancelled, rejected),
    not when its cancel is merely requested. `would_self_match` is O(1): it compares with the
    best resting price of the other side; register / remove are a dict write plus, when a price
    level appears or empties, one bisect insertion or deletion.
    """

    __slots__ = ("_orders", "_sides")

    def __init__(self) -> None:
        self._orders: dict[str, RestingOrder] = {}
        self._sides: dict[tuple[str, str, int], _Side] = {}

    def __len__(self) -> int:
        return len(self._orders)

    def register(self, order: RestingOrder) -> None:
        """Add a resting order (re-registering a cloid replaces it: an amend)."""
        if order.cloid in self._orders:
            self.remove(order.cloid)
        self._orders[order.cloid] = order
        key = (order.account, order.coin, order.side)
        side = self._sides.get(key)
        if side is None:
            side = self._sides[key] = _Side()
        side.add(order.px)

    def remove(self, cloid: str) -> bool:
        """Forget an order; False if it was not registered."""
        o = self._orders.pop(cloid, None)
        if o is None:
            return False
        self._sides[(o.account, o.coin, o.side)].discard(o.px)
        return True

    def best(self, account: str, coin: str, side: int) -> int:
        """Best resting price in ticks of the account's orders on `side` (0 if none)."""
        s = self._sides.get((account, coin, side))
        if s is None or not s.prices:
            return 0
        return s.prices[-1] if side == BUY else s.prices[0]

    def crossing(self, account: str, coin: str, side: int, px: int) -> list[RestingOrder]:
        """The account's resting orders an order at px would cross (a scan: for rare exit orders)."""
        return [o for o in self._orders.values()
                if o.account == account and o.coin == coin and o.side == -side
                and (px >= o.px if side == BUY else px <= o.px)]

    def would_self_match(self, account: str, coin: str, side: int, px: int) -> bool:
        """True if an order at px would cross a resting order of the same account and coin:
        a buy at px >= any resting sell, or a sell at px <= any resting buy."""
        other = self.best(account, coin, -side)
        if other == 0:
            return False
        return px >= other if side == BUY else px <= other


class LoopGuard:
    """No order that reverses a fill sooner than min_holding_ms after it (one bot, per coin).

    After a fill on side s at time t, orders on side -s are blocked while now_ms - t <
    min_holding_ms, reducing or not (the DESIGN rule: no reversal inside the window). Orders
    on side s are not affected; the last fill of a coin sets its window.
    """

    __slots__ = ("min_holding_ms", "_last")

    def __init__(self, min_holding_ms: int) -> None:
        self.min_holding_ms = min_holding_ms
        self._last: dict[str, tuple[int, int]] = {}  # coin -> (side, ts_ms)

    def on_fill(self, coin: str, side: int, ts_ms: int) -> None:
        self._last[coin] = (side, ts_ms)

    def blocked_until_ms(self, coin: str, side: int) -> int:
        """Time from which an order on `side` is allowed (0: not blocked by any fill)."""
        last = self._last.get(coin)
        if last is None or last[0] != -side:
            return 0
        return last[1] + self.min_holding_ms

    def allows(self, coin: str, side: int, now_ms: int) -> bool:
        return now_ms >= self.blocked_until_ms(coin, side)


class AmendLimiter:
    """At most max_amends_per_sec modifies / replaces per coin over a sliding window.

    With max_amends_per_sec = r, the limit is n = max(1, floor(r)) amends per window of
    n / r seconds (r = 5 -> 5 per 1000 ms; r = 2.5 -> 2 per 800 ms; r = 0.5 -> 1 per
    2000 ms). An amend at time t counts in the window (t, t + window_ms).
    """

    __slots__ = ("limit", "window_ms", "_times")

    def __init__(self, max_amends_per_sec: float) -> None:
        if max_amends_per_sec <= 0:
            raise ValueError(f"max_amends_per_sec must be > 0, got {max_amends_per_sec}")
        self.limit = max(1, math.floor(max_amends_per_sec + 1e-9))
        self.window_ms = int(round(self.limit * 1000 / max_amends_per_sec))
        self._times: dict[str, deque[int]] = {}

    def _window(self, coin: str, now_ms: int) -> deque[int]:
        q = self._times.get(coin)
        if q is None:
            q = self._times[coin] = deque()
        while q and q[0] <= now_ms - self.window_ms:
            q.popleft()
        return q

    def used(self, coin: str, now_ms: int) -> int:
        """Amends of `coin` counted in the window ending at now_ms."""
        return len(self._window(coin, now_ms))

    def allowed(self, coin: str, now_ms: int) -> bool:
        """True if one more amend fits now (does not record it)."""
        return len(self._window(coin, now_ms)) < self.limit

    def try_acquire(self, coin: str, now_ms: int) -> bool:
        """Record an amend now if it fits; False (nothing recorded) if over the limit."""
        q = self._window(coin, now_ms)
        if len(q) >= self.limit:
            return False
        q.append(now_ms)
        return True


class WalletClaim(NamedTuple):
    """A bot's claim on a venue account: key_fingerprint is a hash of the key's public
    identity (see `key_fingerprint`), never the secret; '' when the bot has no key (paper)."""

    bot_id: str
    venue: str
    account: str
    key_fingerprint: str


def key_fingerprint(public_identity: str) -> str:
    """Short SHA-256 fingerprint (16 hex digits) of a key's public identity (an address or a
    public key), for logs and `check_unique_wallets`."""
    return hashlib.sha256(public_identity.strip().lower().encode()).hexdigest()[:16]


def check_unique_wallets(bots: Iterable[WalletClaim | tuple[str, str, str, str]]) -> list[str]:
    """Problems with the one-wallet-per-venue-account rule, [] when none.

    - bots with the same venue and account but different key fingerprints (the account
      label would mean two wallets): one problem per such account, naming every bot;
    - bots on the same venue with the same key under different account labels (one wallet,
      so rate limits and self-match protection would not be shared): one problem per key.
    Claims with an empty fingerprint (no key: paper) are ignored.
    """
    claims = [WalletClaim(*b) for b in bots]
    by_account: dict[tuple[str, str], dict[str, list[str]]] = {}
    by_key: dict[tuple[str, str], dict[str, list[str]]] = {}
    for c in claims:
        if not c.key_fingerprint:
            continue
        by_account.setdefault((c.venue, c.account), {}).setdefault(c.key_fingerprint, []).append(c.bot_id)
        by_key.setdefault((c.venue, c.key_fingerprint), {}).setdefault(c.account, []).append(c.bot_id)
    problems: list[str] = []
    for (venue, account), keys in sorted(by_account.items()):
        if len(keys) > 1:
            parts = "; ".join(f"key {fp}: {', '.join(sorted(ids))}" for fp, ids in sorted(keys.items()))
            problems.append(f"venue {venue} account {account!r} is claimed with different keys ({parts})")
    for (venue, fp), accounts in sorted(by_key.items()):
        if len(accounts) > 1:
            parts = "; ".join(f"account {acc!r}: {', '.join(sorted(ids))}" for acc, ids in sorted(accounts.items()))
            problems.append(f"venue {venue} key {fp} is used under different account labels ({parts})")
    return problems

