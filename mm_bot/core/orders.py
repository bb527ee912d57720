"""Order coordination: client ids, one state machine per order, one order per slot.

A slot is a (coin, quote level) place such as 'b0' (best bid level). At most one live
order per slot: a replacement is placed only after the venue confirmed the cancel of
the order before it, so two orders of one slot are never in flight together.
Every state change yields an OrderEventRow and an OrderRow upsert.

A resting order can instead be moved in place (requote_with_modify): at most one modify per
order is in flight (`Order.modify`); the order keeps its venue-confirmed price and size until
the venue answers, an OPEN ack moves it (order_events 'modified', the orders row's price and
size change), a ModifyFailed leaves it ('modify_failed'). Fills racing the modify apply as
usual, counted against the larger of the old and the new size until the answer comes.
"""

from __future__ import annotations

import hashlib

from mm_bot.core.records import OrderEventRow, OrderRow, TradeRow
from mm_bot.core.types import (
    TERMINAL,
    Fill,
    Instrument,
    Modify,
    ModifyFailed,
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
            elif o.modify is not None and ev.ts_ms >= o.modify_sent_ms:
                # The time test keeps a late placement ack (delayed past a reconcile adoption) from
                # passing for the modify's answer.
                self._apply_modify(o, ev.venue_oid, ev.ts_ms, "modified")
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
        # With a modify in flight the venue holds the old or the new size: count fills up to the
        # larger, and call the order filled only once it covers both (the answer settles it).
        cap = max(o.sz, o.modify.sz) if o.modify is not None else o.sz
        o.filled = min(cap, o.filled + f.sz)
        if o.status in TERMINAL and o.status != OrderStatus.CANCELLED:
            return o
        if o.filled >= cap:
            o.status = OrderStatus.FILLED
            self._free_slot(o)
        elif o.status != OrderStatus.CANCELLED:
            o.status = OrderStatus.PARTIAL
        self._emit(o, f.ts_ms, o.status.value, f.fill_id)
        return o

    def request_modify(self, o: Order, px: int, sz: int, now_ms: int, reason: str = "",
                       reduce_only: bool = False) -> Modify | None:
        """Ask to move a resting order to px (ticks) with new total size sz (lots, filled
        included); None (nothing recorded) while the order is not open or partially filled, a
        cancel or another modify is in flight, or sz leaves nothing to rest."""
        if (o.status not in (OrderStatus.OPEN, OrderStatus.PARTIAL) or o.cancel_requested
                or o.modify is not None or sz <= o.filled or px <= 0):
            return None
        m = Modify(self.bot_id, o.coin, o.cloid, o.side, px, sz, o.tif, reduce_only)
        o.modify = m
        o.modify_sent_ms = now_ms
        o.requoted_ms = now_ms
        inst = self.instruments[o.coin]
        self.records.append(OrderEventRow(
            self.bot_id, o.coin, o.cloid, "modify_requested",
            f"{reason}: {inst.px(o.px)} x {inst.sz(o.remaining)} -> {inst.px(px)} x {inst.sz(sz - o.filled)}"
            if reason else f"{inst.px(o.px)} -> {inst.px(px)}", now_ms))
        # The timeline row carries the new price and the size it is to rest with.
        self.records.append(TradeRow(self.bot_id, o.coin, "modify", side_name(o.side), inst.px(px),
                                     inst.sz(sz - o.filled), o.cloid, now_ms))
        return m

    def on_modify_failed(self, ev: ModifyFailed) -> Order | None:
        """The venue refused a modify: the order keeps its price and size. Returns the order
        (None for an unknown id); an order with no modify in flight is returned unchanged."""
        o = self.orders.get(ev.cloid)
        if o is None or o.modify is None:
            return o
        o.modify = None
        if o.status in TERMINAL:
            return o
        self.records.append(OrderEventRow(self.bot_id, o.coin, o.cloid, "modify_failed", ev.reason, ev.ts_ms))
        if o.filled >= o.sz:
            # Fills that came while the modify was in flight used the old size up.
            o.status = OrderStatus.FILLED
            self._emit(o, ev.ts_ms, o.status.value, "filled while a modify was in flight")
            self._free_slot(o)
        return o

    def settle_modify(self, o: Order, venue_px: int, venue_oid: str, now_ms: int, detail: str) -> bool | None:
        """Reconciliation: the venue holds `o` at venue_px (ticks) and its modify was never answered.
        At the modify's price it took effect (True), else it did not (False); None: nothing in flight."""
        m = o.modify
        if m is None or o.status in TERMINAL:
            return None
        if venue_px == m.px:
            self._apply_modify(o, venue_oid or o.venue_oid, now_ms, "modified", detail)
            return True
        self.on_modify_failed(ModifyFailed(self.bot_id, o.coin, o.cloid, detail, now_ms))
        return False

    def correct_price(self, o: Order, venue_px: int, venue_oid: str, now_ms: int, detail: str) -> bool:
        """Reconciliation: the venue holds live order `o` at another price than ours (a modify
        whose answer was given up on took effect): take the venue's. False when nothing changed."""
        if o.status in TERMINAL or o.modify is not None or venue_px == o.px or venue_px <= 0:
            return False
        o.px = venue_px
        if venue_oid:
            o.venue_oid = venue_oid
        self.records.append(OrderEventRow(self.bot_id, o.coin, o.cloid, "modified", detail, now_ms))
        self._order_row(o, now_ms)
        return True

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

    def _apply_modify(self, o: Order, venue_oid: str, now_ms: int, event: str, detail: str = "") -> None:
        """The venue moved the order: take the modify's price and size (the order row changes)."""
        m = o.modify
        o.modify = None
        if m is None:
            return
        inst = self.instruments[o.coin]
        o.px, o.sz = m.px, m.sz
        if venue_oid:
            o.venue_oid = venue_oid
        self.records.append(OrderEventRow(
            self.bot_id, o.coin, o.cloid, event,
            detail or f"{inst.px(m.px)} x {inst.sz(m.sz)} (venue oid {o.venue_oid})", now_ms))
        if o.filled >= o.sz:
            o.status = OrderStatus.FILLED
            self._emit(o, now_ms, o.status.value, "filled while a modify was in flight")
            self._free_slot(o)
            return
        o.status = OrderStatus.OPEN if o.filled == 0 else OrderStatus.PARTIAL
        self._order_row(o, now_ms)

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
        if o.status in TERMINAL:
            o.modify = None  # an ended order has nothing left to move: a late answer is ignored
        self.records.append(OrderEventRow(self.bot_id, o.coin, o.cloid, event, detail, now_ms))
        self._order_row(o, now_ms, detail)

    def _order_row(self, o: Order, now_ms: int, detail: str = "") -> None:
        """The orders upsert of o's current state (price and size included: a modify moves them)."""
        inst = self.instruments[o.coin]
        self.records.append(OrderRow(
            self.bot_id, o.coin, o.cloid, side_name(o.side), inst.px(o.px), inst.sz(o.sz), o.sz,
            o.tif.value, o.status.value, inst.sz(o.filled), o.filled, o.venue_oid,
            detail if o.status == OrderStatus.REJECTED else "", o.created_ms, now_ms,
        ))
