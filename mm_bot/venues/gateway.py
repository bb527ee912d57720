"""What the live shell needs from a venue, and the bookkeeping every venue shares.

The live runner (mm_bot/live/live_runner.py) is venue-neutral: it talks to a `MarketData` (public:
instruments, REST book snapshots, the public stream) and a `Gateway` (private: account reads,
order actions, the private stream, the dead man's switch) through the methods below, with core
types only (Instrument, BookUpdate, TradePrint, OrderAck, Fill, OpenOrder, VenuePosition,
FeedProblem). Each venue package (hyperliquid, woofi_pro, standx) implements both in its
gateway.py on top of its auth/rest/ws/mapping modules; nothing venue-specific leaks out.

Streams report to a `StreamSink`: parsed events, unreadable messages (WireError, logged to
system_events and skipped), connects and disconnects (a market-stream disconnect makes every
book of that venue stale until a fresh snapshot; any reconnect triggers an order reconcile).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mm_bot.core.nonces import NonceAllocator
from mm_bot.core.types import (
    BookUpdate,
    Cancel,
    CancelFailed,
    Fill,
    Instrument,
    Modify,
    ModifyFailed,
    OpenOrder,
    OrderAck,
    OrderStatus,
    Place,
    Tif,
    VenuePosition,
)
from mm_bot.live.clock import wall_ms
from mm_bot.live.wsconn import ReconnectingWebSocket
from mm_bot.venues.errors import WireError

VenueEvent = OrderAck | Fill | CancelFailed | ModifyFailed


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    events: list  # OrderAck / Fill for our live orders
    strays: list[OpenOrder]  # open on the venue with one of our cloids, but not live here
    recancel: list[tuple[str, str, str]]  # (bot_id, coin, cloid): cancel requested but still open
    open_orders: list[OpenOrder]
    recovered_fills: int


class StreamSink(Protocol):
    """Where a venue's streams deliver (all called on the event loop, never blocking)."""

    def on_events(self, events: list, recv_ms: int) -> None:
        """Core events: BookUpdate, TradePrint, FeedProblem (book unusable until the next
        snapshot), OrderAck, Fill (already deduplicated), CancelFailed, ModifyFailed."""

    def on_wire_error(self, err: WireError, recv_ms: int) -> None:
        """A message that could not be read (skipped)."""

    def on_connect(self, stream: str, n: int, market: bool) -> None:
        """The n-th connection of `stream` is up and subscribed (n > 1: a reconnect)."""

    def on_disconnect(self, stream: str, reason: str, market: bool) -> None:
        """A connection of `stream` ended; market=True: its books are stale now."""


class MarketData(Protocol):
    """Public market data of one venue: no keys needed (paper trading on live data uses only this)."""

    venue: str
    instruments: dict[str, Instrument]

    async def load(self, coins: Iterable[str]) -> dict[str, Instrument]:
        """Instruments (tick/lot rules) of `coins`; GatewayError for a coin the venue does not list."""

    async def book_snapshot(self, coin: str) -> BookUpdate:
        """A full book snapshot by REST (fallback while the stream is down or off)."""

    def market_stream(self, coins: Iterable[str], sink: StreamSink) -> ReconnectingWebSocket:
        """One public connection carrying the books and trades of every coin, shared by all bots."""

    def close(self) -> None:
        """Release HTTP sessions."""


class Gateway(Protocol):
    """The private side of one venue account (see GatewayBase for the shared bookkeeping)."""

    venue: str
    mode: str  # testnet | mainnet
    account: str  # public account id / address, for messages (never a secret)
    market: MarketData
    instruments: dict[str, Instrument]
    bot_of_cloid: dict[str, str]
    nonces: NonceAllocator | None  # signers with persisted nonces (Hyperliquid); None elsewhere
    deadman: bool  # True when schedule_cancel arms a venue-side dead man's switch

    async def fees_bps(self) -> tuple[float, float] | None:
        """(maker, taker) fees of the account in bps (negative = rebate); None when unreadable."""

    async def equity_usd(self) -> float | None:
        """Account value in USD, None when unreadable."""

    async def positions(self) -> dict[str, VenuePosition]:
        """Open positions by coin (qty signed, base units)."""

    async def open_orders(self) -> list[OpenOrder]:
        """Every resting order of the account in the loaded coins (ours or not)."""

    async def user_fills(self) -> list[Fill]:
        """Recent fills of the account in loaded coins, attributed to bots by cloid (bot_id '' if
        not ours); not deduplicated (reconcile and start-up call accept_fill)."""

    async def send_places(self, places: Sequence[Place], charged: bool = True) -> tuple[list[VenueEvent], bool]:
        """Send one request group (see split_places). Returns (events, uncertain): uncertain when
        the outcome is unknown (transport error): the runner reconciles. A 429 rejects them all."""

    async def send_cancels(self, cancels: Sequence[Cancel], charged: bool = True) -> tuple[list[VenueEvent], bool]:
        """Cancel by cloid. Returns (events, failed): failed when no answer came (retry later)."""

    async def send_modifies(self, items: Sequence[tuple[Modify, int]], charged: bool = True
                            ) -> tuple[list[VenueEvent], bool]:
        """Move resting orders in place. items: (modify, rest_lots), rest_lots = the lots the order
        should rest with afterwards (Modify.sz minus lots already filled). Returns (events,
        uncertain): OrderAck(OPEN, venue_oid = the order's id after the modify) when it took effect,
        ModifyFailed when refused ("post-only would cross: ..." for a post-only refusal, "rate
        limited (HTTP 429)" on a 429, "not sent: ..." when it could not be sent); uncertain when no
        answer came (the runner reconciles)."""

    async def cancel_open(self, orders: Sequence[OpenOrder]) -> list[str]:
        """Cancel venue orders by venue id (charged here): '' per success, else the error text."""

    async def schedule_cancel(self, time_ms: int | None) -> str:
        """Arm the dead man's switch to cancel everything at time_ms (None: disarm); '' or the error."""

    async def budget_note(self) -> str | None:
        """A one-line account rate-limit status for the start-up log, None when the venue has none."""

    def split_places(self, places: Sequence[Place], batch: bool) -> list[list[Place]]:
        """Placements -> request groups the venue accepts (batch=False: one order per request)."""

    def private_streams(self, sink: StreamSink) -> list[ReconnectingWebSocket]:
        """The account's order / fill / position streams (authenticated)."""

    def accept_fill(self, f: Fill) -> bool: ...
    def track(self, place: Place) -> None: ...
    async def reconcile(self, live: dict[str, tuple[str, str, OrderStatus, bool]],
                        with_fills: bool = True) -> ReconcileResult: ...
    def stats(self) -> dict[str, int]: ...
    def close(self) -> None: ...


def dispatch(sink: StreamSink, parse: Callable[[dict[str, Any], int], list], msg: dict[str, Any] | None,
             recv_ms: int, size: int = 0) -> None:
    """One stream message to the sink: parse(msg, recv_ms) -> events, or the WireError it raised
    (msg None: the frame of `size` bytes was not a JSON object)."""
    if msg is None:
        sink.on_wire_error(WireError("websocket", f"not a JSON object ({size} bytes)"), recv_ms)
        return
    try:
        events = parse(msg, recv_ms)
    except WireError as e:
        sink.on_wire_error(e, recv_ms)
        return
    if events:
        sink.on_events(events, recv_ms)


def split_by_tif(places: Sequence[Place], batch: bool, max_batch: int) -> list[list[Place]]:
    """Request groups: post-only apart from IOC/GTC, at most max_batch per request; one order per
    request when batching is off."""
    if not batch or max_batch <= 1:
        return [[p] for p in places]
    alo = [p for p in places if p.tif == Tif.ALO]
    rest = [p for p in places if p.tif != Tif.ALO]
    out = []
    for group in (alo, rest):
        for i in range(0, len(group), max_batch):
            out.append(list(group[i:i + max_batch]))
    return out


class GatewayBase:
    """State every venue gateway keeps: which bot owns which cloid, venue ids, fills already
    seen, requests in flight; and the reconcile that compares our live orders with the venue."""

    def __init__(self) -> None:
        # cloid -> bot_id of every order of ours (this run and, for recovery, earlier runs).
        self.bot_of_cloid: dict[str, str] = {}
        self.cloid_of_oid: dict[str, str] = {}
        # cloid -> the venue id it rests under now (a modify may give the order a new id).
        self.oid_of_cloid: dict[str, str] = {}
        self.seen_fills: set[str] = set()
        # cloids whose request is in flight, and when each got its last response (wall ms).
        self.inflight: set[str] = set()
        self.response_ms: dict[str, int] = {}
        self.sent_places = 0
        self.sent_cancels = 0
        self.sent_modifies = 0

    # Venue gateways define these; the base only uses them in reconcile().
    async def user_fills(self) -> list[Fill]:  # pragma: no cover - overridden
        return []

    async def open_orders(self) -> list[OpenOrder]:  # pragma: no cover - overridden
        return []

    async def closed_status(self, coin: str, cloid: str) -> tuple[OrderStatus, str] | None:
        """How an order no longer open ended (FILLED / CANCELLED / REJECTED, venue text), for venues
        that can tell by cloid; None: unknown (reconcile then reports it cancelled)."""
        return None

    def accept_fill(self, f: Fill) -> bool:
        """True the first time a fill id is seen and the fill belongs to one of our bots."""
        if not f.bot_id or f.fill_id in self.seen_fills:
            return False
        self.seen_fills.add(f.fill_id)
        return True

    def track(self, place: Place) -> None:
        self.bot_of_cloid[place.cloid] = place.bot_id

    def note_oid(self, oid: str, cloid: str) -> None:
        """Remember which venue id a cloid rests under."""
        if oid and cloid:
            self.cloid_of_oid[oid] = cloid
            self.oid_of_cloid[cloid] = oid

    def bot_of(self, cloid: str) -> str:
        """The bot that owns `cloid` ('' when it is not ours)."""
        return self.bot_of_cloid.get(cloid, "")

    def begin(self, items: Sequence[Place | Cancel | Modify]) -> None:
        """Mark requests in flight (reconcile leaves them alone until they are answered)."""
        for it in items:
            if isinstance(it, Place):
                self.track(it)
            self.inflight.add(it.cloid)

    def done(self, items: Sequence[Place | Cancel | Modify], now: int | None = None) -> None:
        t = wall_ms() if now is None else now
        for it in items:
            self.inflight.discard(it.cloid)
            self.response_ms[it.cloid] = t

    def reject_all(self, places: Sequence[Place], reason: str) -> list[VenueEvent]:
        self.done(places)
        now = wall_ms()
        return [OrderAck(p.bot_id, p.coin, p.cloid, OrderStatus.REJECTED, now, reason=reason) for p in places]

    async def reconcile(self, live: dict[str, tuple[str, str, OrderStatus, bool]],
                        with_fills: bool = True) -> ReconcileResult:
        """Compare our live orders (cloid -> (bot_id, coin, status, cancel_requested)) with the venue.

        Fills missed while the stream was down come first (deduplicated); then every live order
        whose last answer came before the snapshot: open on the venue -> OPEN ack, gone ->
        CANCELLED ack ("not open on the venue"); orders still in flight are left alone. Venue
        orders carrying one of our cloids that are not live here are strays.
        """
        started = wall_ms()
        fills = [f for f in await self.user_fills() if self.accept_fill(f)] if with_fills else []
        open_orders = await self.open_orders()
        by_cloid = {o.cloid: o for o in open_orders if o.cloid}
        now = wall_ms()
        events: list = list(fills)
        recancel: list[tuple[str, str, str]] = []
        for cloid, (bot_id, coin, status, cancel_requested) in live.items():
            if cloid in self.inflight or self.response_ms.get(cloid, 0) >= started:
                continue
            o = by_cloid.get(cloid)
            if o is not None:
                self.note_oid(o.venue_oid, cloid)
                if status == OrderStatus.PENDING:
                    events.append(OrderAck(bot_id, coin, cloid, OrderStatus.OPEN, now, venue_oid=o.venue_oid))
                if cancel_requested:
                    recancel.append((bot_id, coin, cloid))
            else:
                ended = await self.closed_status(coin, cloid)
                if ended is None:
                    events.append(OrderAck(bot_id, coin, cloid, OrderStatus.CANCELLED, now,
                                           reason="not open on the venue (reconcile)"))
                elif ended[0] in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED):
                    events.append(OrderAck(bot_id, coin, cloid, ended[0], now, reason=f"{ended[1]} (reconcile)"))
                # Otherwise the venue says it is still open (it rested after the snapshot): next pass.
        strays = [o for o in open_orders if o.cloid and o.cloid in self.bot_of_cloid and o.cloid not in live
                  and o.cloid not in self.inflight]
        return ReconcileResult(events, strays, recancel, open_orders, len(fills))
