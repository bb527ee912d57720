"""Order coordination: client ids, one state machine per order, one order per slot.

A slot is a (coin, quote level) place such as 'b0' (best bid level). At most one live
order per slot: a replacement is placed only after the venue confirmed the cancel of
the order before it, so two orders of one slot are never in flight together.
Every state change yields an OrderEventRow and an OrderRow upsert.
"""

from __future__ import annotations

import hashlib

from mm_bot.core.records import OrderEventRow, OrderRow, TradeRow
from mm_bot.core.types import (
    TERMINAL,
    Fill,
    Instrument,
    Order,
    OrderAck,
    OrderStatus,
    Place,
    Tif,
    VenueOrder,
    side_name,
)

# Slot of orders that are not quotes of this run: strays found at the venue and live orders of an
# earlier run restored from the DB. Reconciliation cancels them.
STRAY_SLOT = "stray"


def make_cloid(bot_id: str, coin: str, epoch_ms: int, seq: int) -> str:
    """Deterministic 128-bit client order id, '0x' + 32 hex (Hyperliquid's cloid shape).

    epoch_ms is the run's start on the injected clock, so a restart never reuses an id.
    """
    h = hashlib.blake2b(f"{bot_id}|{coin}|{epoch_ms}|{seq}".encode(), digest_size=16)
    return "0x" + h.hexdigest()


class OrderCoordinator:
    """Orders of one bot across its coins; emits records for every transition."""

    def __init__(self, bot_id: str, instruments: dict[str, Instrument], epoch_ms: int) -> None:
        self.bot_id = bot_id
        self.instruments = instruments
        self.epoch_ms = epoch_ms
        self.seq = 0
        self.orders: dict[str, Order] = {}
        # (coin, slot) -> cloid of the live order holding that slot.
        self.slots: dict[tuple[str, str], str] = {}
        # coin -> cloid -> order, for the live (non-terminal) ones only: the quoting loop asks for
        # them several times a pass, and scanning every order ever placed grew with the run.
        self._live: dict[str, dict[str, Order]] = {}
        self.records: list = []

    # ------------------------------------------------------------ queries

    def live(self, coin: str) -> list[Order]:
        """Live (non-terminal) orders of a coin."""
        return list(self._live.get(coin, {}).values())

    def slot_order(self, coin: str, slot: str) -> Order | None:
        cloid = self.slots.get((coin, slot))
        return self.orders.get(cloid) if cloid else None

    def resting_lots(self, coin: str, side: int) -> int:
        """Remaining lots of live orders on one side of a coin."""
        return sum(o.remaining for o in self._live.get(coin, {}).values() if o.side == side)

    # ------------------------------------------------------------ transitions

    def new_order(self, coin: str, side: int, px: int, sz: int, tif: Tif, slot: str, now_ms: int,
                  reduce_only: bool = False) -> Place:
        """Register a pending order and return the Place action for it."""
        self.seq += 1
        cloid = make_cloid(self.bot_id, coin, self.epoch_ms, self.seq)
        o = Order(cloid, self.bot_id, coin, side, px, sz, tif, slot, now_ms)
        self.orders[cloid] = o
        if slot:
            self.slots[(coin, slot)] = cloid
        self._emit(o, now_ms, "pending")
        inst = self.instruments[coin]
        self.records.append(TradeRow(self.bot_id, coin, "place", side_name(side), inst.px(px),
                                     inst.sz(sz), cloid, now_ms))
        return Place(self.bot_id, coin, cloid, side, px, sz, tif, reduce_only, slot)

    def request_cancel(self, o: Order, now_ms: int, reason: str = "") -> bool:
        """Mark a cancel as requested; False if one is already in flight or the order ended."""
        if o.cancel_requested or o.status in TERMINAL:
            return False
        o.cancel_requested = True
        o.cancel_requested_ms = now_ms
        inst = self.instruments[o.coin]
        self.records.append(OrderEventRow(self.bot_id, o.coin, o.cloid, "cancel_requested", reason, now_ms))
        self.records.append(TradeRow(self.bot_id, o.coin, "cancel", side_name(o.side), inst.px(o.px),
                                     inst.sz(o.remaining), o.cloid, now_ms))
        return True

    def on_ack(self, ev: OrderAck) -> Order | None:
        """Apply a venue ack; returns the order, or None for an id we do not know."""
        o = self.orders.get(ev.cloid)
        if o is None:
            return None
        if o.status in TERMINAL:
            return o
        if ev.status == OrderStatus.OPEN:
            if o.status == OrderStatus.PENDING:
                o.status = OrderStatus.OPEN if o.filled == 0 else OrderStatus.PARTIAL
                o.accepted_ms = ev.ts_ms
                o.venue_oid = ev.venue_oid
                self._emit(o, ev.ts_ms, o.status.value, ev.reason)
            return o
        o.status = ev.status
        self._emit(o, ev.ts_ms, ev.status.value, ev.reason)
        self._free_slot(o)
        return o

    def on_fill(self, f: Fill) -> Order | None:
        """Apply a fill to its order; returns the order, or None for an unknown id."""
        o = self.orders.get(f.cloid)
        if o is None:
            return None
        o.filled = min(o.sz, o.filled + f.sz)
        if o.status in TERMINAL and o.status != OrderStatus.CANCELLED:
            return o
        if o.filled >= o.sz:
            o.status = OrderStatus.FILLED
            self._free_slot(o)
        elif o.status != OrderStatus.CANCELLED:
            o.status = OrderStatus.PARTIAL
        self._emit(o, f.ts_ms, o.status.value, f.fill_id)
        return o

    def adopt(self, o: Order, venue_oid: str, filled: int, now_ms: int, detail: str) -> None:
        """Reconciliation found a pending order resting at the venue (its ack never came): open it."""
        if o.status != OrderStatus.PENDING:
            return
        o.filled = max(o.filled, min(filled, o.sz))
        o.status = OrderStatus.OPEN if o.filled == 0 else OrderStatus.PARTIAL
        o.accepted_ms = now_ms
        o.venue_oid = venue_oid
        self._emit(o, now_ms, o.status.value, detail)

    def close_missing(self, o: Order, now_ms: int, detail: str) -> None:
        """Reconciliation: a live order the venue no longer holds (its fills already applied).

        Filled in full -> filled; otherwise it was cancelled (by us, an IOC remainder, or the venue).
        """
        if o.status in TERMINAL:
            return
        o.status = OrderStatus.FILLED if o.filled >= o.sz else OrderStatus.CANCELLED
        self._emit(o, now_ms, o.status.value, detail)
        self._free_slot(o)

    def adopt_stray(self, vo: VenueOrder, now_ms: int) -> Order:
        """An order resting at the venue that we do not know (or think ended): take it into the
        'stray' slot as open, so its cancel and the confirmation are recorded like any order's."""
        o = Order(vo.cloid, self.bot_id, vo.coin, vo.side, vo.px, vo.sz, Tif.ALO, STRAY_SLOT, now_ms,
                  OrderStatus.OPEN if vo.filled == 0 else OrderStatus.PARTIAL, min(vo.filled, vo.sz), now_ms,
                  venue_oid=vo.venue_oid)
        self.orders[vo.cloid] = o
        self._emit(o, now_ms, o.status.value, "reconcile: stray order resting at the venue")
        return o

    def restore(self, coin: str, cloid: str, side: int, px: int, sz: int, filled: int, tif: Tif,
                status: OrderStatus, created_ms: int, venue_oid: str = "") -> Order:
        """A live order of an earlier run (from the DB), in the 'stray' slot; no rows emitted."""
        o = Order(cloid, self.bot_id, coin, side, px, sz, tif, STRAY_SLOT, created_ms, status,
                  min(filled, sz), created_ms if status != OrderStatus.PENDING else 0, venue_oid=venue_oid)
        self.orders[cloid] = o
        self._index(o)
        return o

    def retry_cancel(self, o: Order) -> None:
        """Allow a new cancel request for an order whose cancel got no effect (still resting)."""
        o.cancel_requested = False

    def forget_terminal(self, keep: int = 2000) -> None:
        """Drop the oldest ended orders beyond `keep` (their rows are already written), so a
        long run's memory stays flat; late acks or fills of a forgotten order are ignored."""
        if len(self.orders) <= keep * 2:
            return
        ended = [c for c, o in self.orders.items() if o.status in TERMINAL]
        for c in ended[: len(ended) - keep]:
            del self.orders[c]

    # ------------------------------------------------------------ internals

    def _free_slot(self, o: Order) -> None:
        key = (o.coin, o.slot)
        if self.slots.get(key) == o.cloid:
            del self.slots[key]

    def _index(self, o: Order) -> None:
        live = self._live.setdefault(o.coin, {})
        if o.status in TERMINAL:
            live.pop(o.cloid, None)
        else:
            live[o.cloid] = o

    def _emit(self, o: Order, now_ms: int, event: str, detail: str = "") -> None:
        # Every transition passes here, so the live index follows every status change.
        self._index(o)
        inst = self.instruments[o.coin]
        self.records.append(OrderEventRow(self.bot_id, o.coin, o.cloid, event, detail, now_ms))
        self.records.append(OrderRow(
            self.bot_id, o.coin, o.cloid, side_name(o.side), inst.px(o.px), inst.sz(o.sz), o.sz,
            o.tif.value, o.status.value, inst.sz(o.filled), o.filled, o.venue_oid,
            detail if o.status == OrderStatus.REJECTED else "", o.created_ms, now_ms,
        ))
