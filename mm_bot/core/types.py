"""Core value types: instruments, market events, orders, actions and venue events.

Prices and sizes on the order path are integers: prices in ticks of the instrument's
tick size and sizes in lots of its lot size. Floats appear only in statistics. Every
timestamp is integer milliseconds since the Unix epoch (UTC) on the injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

BUY = 1
SELL = -1


def side_name(side: int) -> str:
    """'buy' for +1, 'sell' for -1 (the DB's spelling)."""
    return "buy" if side == BUY else "sell"


class Tif(StrEnum):
    """Time in force. ALO is post-only (Hyperliquid `Alo`, Orderly POST_ONLY, StandX alo)."""

    ALO = "alo"
    IOC = "ioc"
    GTC = "gtc"


class OrderStatus(StrEnum):
    PENDING = "pending"
    OPEN = "open"
    PARTIAL = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})


@dataclass(frozen=True, slots=True)
class Instrument:
    """Trading rules of one coin on one venue.

    tick_size and lot_size are in quote currency and base units (contracts for inverse
    instruments); contract_size is the USD value of one contract for inverse instruments
    and 1 for linear ones. max_sig_figs limits price significant figures (Hyperliquid: 5;
    0 means no limit). min_notional_usd is the smallest order value the venue accepts.
    """

    coin: str
    tick_size: float
    lot_size: float
    min_notional_usd: float = 0.0
    contract_size: float = 1.0
    inverse: bool = False
    max_sig_figs: int = 0

    def px(self, ticks: int) -> float:
        """Price in quote currency of an integer tick count."""
        return round(ticks * self.tick_size, 12)

    def sz(self, lots: int) -> float:
        """Size in base units (contracts for inverse) of an integer lot count."""
        return round(lots * self.lot_size, 12)

    def to_ticks(self, price: float) -> int:
        """Nearest tick count of a price that should already lie on the tick grid."""
        return int(round(price / self.tick_size))

    def to_lots(self, size: float) -> int:
        """Nearest lot count of a size that should already lie on the lot grid."""
        return int(round(size / self.lot_size))

    def notional_usd(self, ticks: int, lots: int) -> float:
        """USD value of `lots` at price `ticks` (inverse: contracts x contract size)."""
        if self.inverse:
            return lots * self.lot_size * self.contract_size
        return ticks * self.tick_size * lots * self.lot_size


# ---------------------------------------------------------------- market events


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """An L2 book message for one coin.

    snapshot=True replaces the whole book; otherwise each (px_ticks, sz_lots) level
    replaces that level, size 0 deleting it. ts_ms is the time the event is processed
    on the injected clock (receive time, shifted where the replay says so).
    """

    coin: str
    ts_ms: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]
    snapshot: bool = False


@dataclass(frozen=True, slots=True)
class TradePrint:
    """A public trade. aggressor is BUY when the taker bought (price lifted the ask)."""

    coin: str
    ts_ms: int
    px: int
    sz: int
    aggressor: int
    trade_id: str = ""
    users: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FundingRate:
    """Funding rate for one coin: rate per funding interval, applied to open positions."""

    coin: str
    ts_ms: int
    rate: float


@dataclass(frozen=True, slots=True)
class FeedProblem:
    """A feed could not go on for a coin (sequence gap without a snapshot, bad data)."""

    coin: str
    ts_ms: int
    message: str
    fatal: bool = False


MarketEvent = BookUpdate | TradePrint | FundingRate | FeedProblem


# ---------------------------------------------------------------- actions (core -> venue)


@dataclass(frozen=True, slots=True)
class Place:
    """Place a limit order. cloid is the deterministic client order id."""

    bot_id: str
    coin: str
    cloid: str
    side: int
    px: int
    sz: int
    tif: Tif = Tif.ALO
    reduce_only: bool = False
    slot: str = ""


@dataclass(frozen=True, slots=True)
class Cancel:
    bot_id: str
    coin: str
    cloid: str


@dataclass(frozen=True, slots=True)
class Modify:
    """Move a resting order to a new price/size in place (it keeps its cloid).

    sz is the order's new total size in lots, the lots already filled included (the order then
    rests with sz - filled), so a fill racing the modify never adds exposure. A venue whose modify
    takes the size left to rest instead (Hyperliquid's `batchModify` replaces the order by one of
    size `s`) gets sz - filled from its gateway. A price change loses the order's queue priority,
    as a new order would.
    """

    bot_id: str
    coin: str
    cloid: str
    side: int
    px: int   # new price, ticks
    sz: int   # new total size, lots (filled lots included: the order rests with sz - filled)
    tif: Tif
    reduce_only: bool = False


Action = Place | Cancel | Modify


# ---------------------------------------------------------------- venue events (venue -> core)


@dataclass(frozen=True, slots=True)
class CancelFailed:
    """The venue refused a cancel (already filled or cancelled, unknown id): the shell reconciles."""

    bot_id: str
    coin: str
    cloid: str
    reason: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class ModifyFailed:
    """The venue refused a modify: the order rests unchanged at its old price, or is gone (filled or cancelled; the shell reconciles)."""

    bot_id: str
    coin: str
    cloid: str
    reason: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderAck:
    """The venue accepted (resting) or rejected an order, confirmed its cancel, or accepted a modify.

    status is OPEN, REJECTED or CANCELLED; reason is the venue's text for rejects. An OPEN ack
    for an order with a modify in flight confirms the modify (venue_oid: the order's id after
    it, which Hyperliquid changes).
    """

    bot_id: str
    coin: str
    cloid: str
    status: OrderStatus
    ts_ms: int
    venue_oid: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one of our orders. fee_usd is positive for a cost, negative for a rebate."""

    bot_id: str
    coin: str
    cloid: str
    fill_id: str
    side: int
    px: int
    sz: int
    maker: bool
    fee_usd: float
    ts_ms: int
    remaining: int = 0
    counterparty: str = ""


VenueEvent = OrderAck | Fill | ModifyFailed


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """One resting order as the venue reports it (open orders query)."""

    bot_id: str
    coin: str
    cloid: str
    side: int
    px: int
    sz: int
    filled: int
    venue_oid: str = ""


@dataclass(frozen=True, slots=True)
class Reconcile:
    """The venue's answer to a bot's reconciliation query, taken at ts_ms.

    open_orders: every order of the bot resting at the venue; fills: every fill of the bot
    the venue recorded at or after since_ms (the query's start), delivered or not.
    """

    bot_id: str
    ts_ms: int
    since_ms: int
    open_orders: tuple[VenueOrder, ...]
    fills: tuple[Fill, ...]


# ---------------------------------------------------------------- venue state (reconciliation)


@dataclass(frozen=True, slots=True)
class VenuePosition:
    """A position as the venue reports it (reconciliation). qty is signed base units (negative = short)."""

    coin: str
    qty: float
    entry_px: float
    mark_px: float
    unrealized_pnl: float
    ts_ms: int


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """One of our resting orders as the venue reports it (px in ticks, sz/filled in lots)."""

    coin: str
    cloid: str
    venue_oid: str
    side: int
    px: int
    sz: int
    filled: int
    status: OrderStatus
    tif: Tif
    reduce_only: bool
    ts_ms: int


@dataclass(slots=True)
class Order:
    """Our view of one order (mutable: the coordinator advances it through its states)."""

    cloid: str
    bot_id: str
    coin: str
    side: int
    px: int
    sz: int
    tif: Tif
    slot: str
    created_ms: int
    status: OrderStatus = OrderStatus.PENDING
    filled: int = 0
    accepted_ms: int = 0
    cancel_requested: bool = False
    venue_oid: str = ""
    cancel_requested_ms: int = 0
    # The modify in flight (None: none): px/sz above stay the venue-confirmed ones until it is
    # answered. modify_sent_ms is when it left; requoted_ms when the last modify was requested
    # (0: never), the order's age for requote pacing and staleness from then on.
    modify: Modify | None = None
    modify_sent_ms: int = 0
    requoted_ms: int = 0

    @property
    def remaining(self) -> int:
        """Lots still to fill at the confirmed size (never negative)."""
        return max(0, self.sz - self.filled)

    @property
    def quoted_ms(self) -> int:
        """When the order got its current price: placed, or last asked to move (ms)."""
        return max(self.created_ms, self.requoted_ms)

    @property
    def live(self) -> bool:
        return self.status not in TERMINAL
