"""The paper venue: matching of our orders against real or synthetic market data.

Sans-I/O and clock-free: the shell hands it actions (`submit`) and market events
(`on_book_update` before it applies them to the shared book, `on_trade`), and asks for
venue events that are due (`advance(now_ms)`), delivering them to the bots.

Fill model (see README "Paper venue"):
- Latency: an action reaches the matching engine `entry_latency_ms` after submit;
  acks and fills reach the bot `response_latency_ms` after they happen. A cancel can
  therefore lose the race against a fill.
- Post-only (ALO) orders that would cross the book on arrival are rejected.
- A resting order joins the back of the queue: queue_ahead = displayed size at its
  price on arrival. A trade at its price first consumes queue_ahead, then fills the
  order (partially if the trade is smaller). A trade strictly through its price fills
  it in full, and so does the book crossing its price.
- A size decrease at the level not explained by trades moves queue_ahead by the
  queue model: 'risk_averse' (only trades move it; capped at the level's size),
  'power' (share of a cancel in front = f(front)/(f(front)+f(back)) with f(x)=x^n),
  'log' (f(x)=log(1+x)). queue_ahead never exceeds the level's displayed size.
- partial_fills=False fills the whole order once the queue ahead is gone.
- Taker orders (IOC/GTC crossing) walk the visible book and pay the taker fee.
- A modify (Modify: new price, new total size with the filled lots included) arrives after the
  entry latency like any action. A price change (or a size increase) sends the order to the back
  of the queue at its new price with a new venue order id (Hyperliquid's modify is a cancel and a
  new order); a size decrease at the same price keeps its place. A post-only modify
  that would cross is refused (ModifyFailed "post-only would cross") and the order rests unchanged;
  so is a modify of an order that is gone ("order not open": filled or cancelled first) or that
  leaves nothing to rest (new size not above the filled lots).
- Fees in bps of notional: positive is a cost, negative a rebate.
Our orders are not added to the displayed book (the market data does not know them).

Fault injection (PaperParams *_rate, drawn from a seeded rng only when a rate is set, so runs
stay deterministic): an arriving order or modify may be rejected ("venue reject (injected)"),
refused with HTTP 429 (a rate-limit reject the bot backs off on) or a 5xx (a modify: ModifyFailed
with that reason); an order, modify or cancel may time out (applied at the venue, answer never
delivered); an ack may come delayed_ack_ms late; a fill may be
applied to the ledger but never delivered. Only reconciliation (`reconcile_snapshot`: open
orders and the fill ledger) finds the last two. Every injected fault is a system_events row of
kind 'fault' in `records`.

Persistence (persist=True): every change of a resting order is a PaperOrderRow and every fill a
PaperFillRow in `records`, so `restore()` rebuilds the venue after a crash.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from dataclasses import dataclass

from mm_bot.core.book import L2Book
from mm_bot.core.records import PaperFillRow, PaperOrderRow, SystemEventRow
from mm_bot.core.types import (
    BUY,
    Action,
    BookUpdate,
    Cancel,
    Fill,
    Instrument,
    Modify,
    ModifyFailed,
    OrderAck,
    OrderStatus,
    Place,
    Reconcile,
    Tif,
    TradePrint,
    VenueEvent,
    VenueOrder,
)

REJECT_REASON = "venue reject (injected)"
HTTP429_REASON = "HTTP 429 rate limited (injected)"
HTTP5XX_REASON = "venue error 5xx (injected)"


@dataclass(frozen=True, slots=True)
class PaperParams:
    """Fill-model settings. Latencies in ms, fees in bps of notional."""

    entry_latency_ms: int = 50
    response_latency_ms: int = 50
    maker_fee_bps: float = 1.5
    taker_fee_bps: float = 4.5
    queue_model: str = "power"
    queue_power_n: float = 2.0
    partial_fills: bool = True
    # Fault injection: probabilities per order arrival (reject, 429, 5xx, timeout; they sum to
    # <= 1), per ack (delayed), per fill (dropped). fault_seed seeds the fault rng (--seed).
    reject_rate: float = 0.0
    http429_rate: float = 0.0
    http5xx_rate: float = 0.0
    timeout_rate: float = 0.0
    delayed_ack_rate: float = 0.0
    delayed_ack_ms: int = 500
    drop_fill_rate: float = 0.0
    fault_seed: int = 0

    @property
    def faults(self) -> bool:
        return bool(self.reject_rate or self.http429_rate or self.http5xx_rate or self.timeout_rate
                    or self.delayed_ack_rate or self.drop_fill_rate)


@dataclass(slots=True)
class SimOrder:
    bot_id: str
    coin: str
    cloid: str
    side: int
    px: int
    sz: int
    filled: int
    queue_ahead: float
    seq: int


def _queue_f(model: str, n: float, x: float) -> float:
    if model == "log":
        return math.log1p(max(x, 0.0))
    return max(x, 0.0) ** n


class PaperVenue:
    """Simulated matching for every bot of a process on one venue."""

    def __init__(self, name: str, instruments: dict[str, Instrument], books: dict[str, L2Book],
                 params: PaperParams, key: str = "", persist: bool = False) -> None:
        """key: 'venue:account' (the persisted rows' venue_key; default name); persist: emit
        PaperOrderRow / PaperFillRow records so a restart can restore the venue."""
        self.name = name
        self.key = key or name
        self.persist = persist
        # Rows for the writer (fault events, persisted state); the session drains them.
        self.records: list = []
        self.faults_on = params.faults
        self.rng = random.Random(f"paper-faults|{params.fault_seed}|{self.key}")
        self.fault_counts: dict[str, int] = {}
        # cloid whose ack is lost (timeout) while its request is being processed.
        self._mute_cloid = ""
        # Every fill per bot in time order: the ledger reconciliation reads (fills_since).
        self.fill_log: dict[str, list[Fill]] = {}
        self.instruments = instruments
        self.books = books
        self.p = params
        # coin -> side -> price -> resting orders in queue (arrival) order
        self.resting: dict[str, dict[int, dict[int, list[SimOrder]]]] = {
            c: {BUY: {}, -BUY: {}} for c in instruments
        }
        self.by_cloid: dict[str, SimOrder] = {}
        self._heap: list[tuple[int, int, int, object]] = []
        self._seq = 0
        self._fills_per_cloid: dict[str, int] = {}
        # Traded size at (coin, side of the book hit, price) since that level's last depth update,
        # so the queue model does not count a trade's size decrease a second time as a cancel.
        self._traded: dict[tuple[str, int, int], int] = {}
        # The venue's own ledger: signed position lots per (bot, coin), for reconciliation.
        self.ledger: dict[tuple[str, str], int] = {}
        self.fills_total = 0
        # (start_ms, end_ms): every order arriving inside is rejected as a venue error (error_burst).
        self.error_window: tuple[int, int] | None = None

    # ------------------------------------------------------------ scheduling

    _ARRIVE, _DELIVER = 0, 1

    def _push(self, t: int, kind: int, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, payload))

    def next_due_ms(self) -> int | None:
        """Time of the next pending arrival or delivery, None if nothing is pending."""
        return self._heap[0][0] if self._heap else None

    def submit(self, action: Action, now_ms: int) -> None:
        """An action leaves the bot now; it reaches the matching engine after entry latency."""
        self._push(now_ms + self.p.entry_latency_ms, self._ARRIVE, action)

    def advance(self, now_ms: int) -> list[VenueEvent]:
        """Process arrivals due by now and return the venue events due for delivery."""
        out: list[VenueEvent] = []
        heap = self._heap
        while heap and heap[0][0] <= now_ms:
            t, _, kind, payload = heapq.heappop(heap)
            if kind == self._ARRIVE:
                if isinstance(payload, Place):
                    self._arrive_place(payload, t)
                elif isinstance(payload, Modify):
                    self._arrive_modify(payload, t)
                else:
                    self._arrive_cancel(payload, t)
            else:
                out.append(payload)
        return out

    def _deliver(self, ev: VenueEvent, t: int) -> None:
        self._push(t + self.p.response_latency_ms, self._DELIVER, ev)

    def _ack(self, a: Place | Cancel | Modify, status: OrderStatus, t: int, reason: str = "", oid: str = "") -> None:
        self._answer(a, OrderAck(a.bot_id, a.coin, a.cloid, status, t, oid, reason), status.value, t)

    def _refuse_modify(self, a: Modify, t: int, reason: str) -> None:
        self._answer(a, ModifyFailed(a.bot_id, a.coin, a.cloid, reason, t), "modify_failed", t)

    def _answer(self, a: Place | Cancel | Modify, ev: VenueEvent, what: str, t: int) -> None:
        """Deliver the answer to request `a` (unless it timed out), maybe late (delayed_ack fault)."""
        if self._mute_cloid and a.cloid == self._mute_cloid:
            return  # the request timed out: the bot never hears back
        if self.faults_on and self.p.delayed_ack_rate and self.rng.random() < self.p.delayed_ack_rate:
            self._fault("delayed_ack", a, t, f"{what} ack delayed by {self.p.delayed_ack_ms} ms",
                        status=what, delay_ms=self.p.delayed_ack_ms)
            self._push(t + self.p.response_latency_ms + self.p.delayed_ack_ms, self._DELIVER, ev)
            return
        self._deliver(ev, t)

    # ------------------------------------------------------------ arrivals

    def _arrive_place(self, a: Place, t: int) -> None:
        if self.faults_on:
            fault = self._request_fault()
            if fault == "timeout":
                self._fault("timeout", a, t, "order request timed out: placed at the venue, no ack")
                self._mute_cloid = a.cloid
                try:
                    self._process_place(a, t)
                finally:
                    self._mute_cloid = ""
                return
            if fault:
                reason = {"reject": REJECT_REASON, "http429": HTTP429_REASON, "http5xx": HTTP5XX_REASON}[fault]
                self._fault(fault, a, t, f"order refused: {reason}")
                self._ack(a, OrderStatus.REJECTED, t, reason)
                return
        self._process_place(a, t)

    def _request_fault(self) -> str:
        """'' or the injected fault of one order request: reject, http429, http5xx or timeout."""
        p = self.p
        u = self.rng.random()
        for name, rate in (("reject", p.reject_rate), ("http429", p.http429_rate), ("http5xx", p.http5xx_rate),
                           ("timeout", p.timeout_rate)):
            if u < rate:
                return name
            u -= rate
        return ""

    def _fault(self, fault: str, a, t: int, message: str, **details) -> None:
        """Record one injected fault (system_events kind 'fault')."""
        self.fault_counts[fault] = self.fault_counts.get(fault, 0) + 1
        self.records.append(SystemEventRow(a.bot_id, a.coin, "fault", "warning", f"injected fault {fault}: {message}",
                                           json.dumps({"fault": fault, "cloid": a.cloid, "venue": self.key,
                                                       **details}, sort_keys=True), t))

    def _process_place(self, a: Place, t: int) -> None:
        book = self.books.get(a.coin)
        if book is None or a.coin not in self.instruments:
            self._ack(a, OrderStatus.REJECTED, t, f"unknown coin {a.coin}")
            return
        if a.sz <= 0 or a.px <= 0:
            self._ack(a, OrderStatus.REJECTED, t, "invalid price or size")
            return
        if self.error_window is not None and self.error_window[0] <= t < self.error_window[1]:
            self._ack(a, OrderStatus.REJECTED, t, "venue error 503 (injected: error_burst)")
            return
        bb, ba = book.best_bid, book.best_ask
        crosses = (a.side == BUY and ba and a.px >= ba) or (a.side != BUY and bb and a.px <= bb)
        if a.tif == Tif.ALO:
            if crosses:
                self._ack(a, OrderStatus.REJECTED, t, "post-only order would cross")
                return
        elif crosses:
            left = self._take(a, book, t)
            if a.tif == Tif.IOC or left == 0:
                if left:
                    self._ack(a, OrderStatus.CANCELLED, t, "ioc remainder cancelled")
                return
            o = SimOrder(a.bot_id, a.coin, a.cloid, a.side, a.px, a.sz, a.sz - left, 0.0, self._seq)
            self._rest(o, book, t, a)
            return
        elif a.tif == Tif.IOC:
            self._ack(a, OrderStatus.CANCELLED, t, "ioc did not cross")
            return
        o = SimOrder(a.bot_id, a.coin, a.cloid, a.side, a.px, a.sz, 0, 0.0, self._seq)
        self._rest(o, book, t, a)

    def _rest(self, o: SimOrder, book: L2Book, t: int, a: Place | Modify | None) -> None:
        """Put o at the back of the queue at its price and acknowledge `a` (None: already done)."""
        o.queue_ahead = float(book.size_at(o.side, o.px))
        self.resting[o.coin][o.side].setdefault(o.px, []).append(o)
        self.by_cloid[o.cloid] = o
        if self.persist:
            self._persist_order(o, 1, t)
        if a is not None:
            self._ack(a, OrderStatus.OPEN, t, oid=str(o.seq))

    def _arrive_modify(self, a: Modify, t: int) -> None:
        # The same request faults as an order: a modify is an order request at the venue.
        if self.faults_on:
            fault = self._request_fault()
            if fault == "timeout":
                self._fault("timeout", a, t, "modify request timed out: applied at the venue, no answer")
                self._mute_cloid = a.cloid
                try:
                    self._process_modify(a, t)
                finally:
                    self._mute_cloid = ""
                return
            if fault:
                reason = {"reject": REJECT_REASON, "http429": HTTP429_REASON, "http5xx": HTTP5XX_REASON}[fault]
                self._fault(fault, a, t, f"modify refused: {reason}")
                self._refuse_modify(a, t, reason)
                return
        self._process_modify(a, t)

    def _process_modify(self, a: Modify, t: int) -> None:
        o = self.by_cloid.get(a.cloid)
        if o is None or o.bot_id != a.bot_id:
            # Filled, cancelled or never rested: the modify lost the race or had no target.
            self._refuse_modify(a, t, "order not open")
            return
        if self.error_window is not None and self.error_window[0] <= t < self.error_window[1]:
            self._refuse_modify(a, t, "venue error 503 (injected: error_burst)")
            return
        if a.px <= 0 or a.sz <= o.filled:
            self._refuse_modify(a, t, f"invalid price or size: {a.px} ticks, {a.sz} lots with {o.filled} filled")
            return
        book = self.books[o.coin]
        bb, ba = book.best_bid, book.best_ask
        crosses = (o.side == BUY and ba and a.px >= ba) or (o.side != BUY and bb and a.px <= bb)
        if crosses and a.tif == Tif.ALO:
            self._refuse_modify(a, t, "post-only would cross")
            return
        if a.px == o.px and a.sz <= o.sz and not crosses:
            # Smaller at the same price: the order keeps its place in the queue.
            o.sz = a.sz
            if self.persist:
                self._persist_order(o, 1, t)
            self._ack(a, OrderStatus.OPEN, t, oid=str(o.seq))
            return
        # A new price (or more size): out of the queue, and in again at the back, with a new id.
        self._remove(o, t)
        self._seq += 1
        o.px, o.sz, o.seq = a.px, a.sz, self._seq
        if crosses:
            # A GTC moved through the book takes what it reaches, as a new order would: the modify
            # is accepted first, so the bot sizes the order by it before the fills arrive.
            self._ack(a, OrderStatus.OPEN, t, oid=str(o.seq))
            left = self._take(Place(o.bot_id, o.coin, o.cloid, o.side, o.px, o.sz - o.filled, a.tif), book, t)
            o.filled = o.sz - left
            if left:
                self._rest(o, book, t, None)
            return
        self._rest(o, book, t, a)

    def _arrive_cancel(self, a: Cancel, t: int) -> None:
        if self.faults_on and self.p.timeout_rate and self.rng.random() < self.p.timeout_rate:
            self._fault("timeout", a, t, "cancel request timed out: applied at the venue, no ack")
            self._mute_cloid = a.cloid
            try:
                self._process_cancel(a, t)
            finally:
                self._mute_cloid = ""
            return
        self._process_cancel(a, t)

    def _process_cancel(self, a: Cancel, t: int) -> None:
        o = self.by_cloid.get(a.cloid)
        if o is None:
            # Filled, rejected or never seen: the cancel lost the race or had no target.
            self._ack(a, OrderStatus.CANCELLED, t, "cancel: order not open")
            return
        self._remove(o, t)
        self._ack(a, OrderStatus.CANCELLED, t)

    def _remove(self, o: SimOrder, t: int = 0) -> None:
        level = self.resting[o.coin][o.side].get(o.px)
        if level is not None:
            level.remove(o)
            if not level:
                del self.resting[o.coin][o.side][o.px]
        self.by_cloid.pop(o.cloid, None)
        if self.persist:
            self._persist_order(o, 0, t)

    def _persist_order(self, o: SimOrder, is_open: int, t: int) -> None:
        self.records.append(PaperOrderRow(self.key, o.cloid, o.bot_id, o.coin, o.side, o.px, o.sz, o.filled,
                                          o.queue_ahead, o.seq, is_open, t))

    # ------------------------------------------------------------ taking liquidity

    def _take(self, a: Place, book: L2Book, t: int) -> int:
        """Walk the opposite side up to the limit price; returns lots left unfilled."""
        left = a.sz
        opp = book.asks if a.side == BUY else book.bids
        for px in book.depth_levels(-a.side):
            if left == 0 or (a.side == BUY and px > a.px) or (a.side != BUY and px < a.px):
                break
            take = min(left, opp[px])
            left -= take
            self._fill(a.bot_id, a.coin, a.cloid, a.side, px, take, False, t, left)
        return left

    # ------------------------------------------------------------ market events

    def on_trade(self, tr: TradePrint) -> None:
        """A public trade: fill our resting orders it reaches (queue first)."""
        coin = tr.coin
        sides = self.resting.get(coin)
        if sides is None:
            return
        # The aggressor sells into bids (ours on BUY) or buys from asks (ours on SELL).
        our_side = -tr.aggressor
        key = (coin, our_side, tr.px)
        self._traded[key] = self._traded.get(key, 0) + tr.sz
        levels = sides[our_side]
        if not levels:
            return
        if our_side == BUY:
            through = [p for p in levels if p > tr.px]
        else:
            through = [p for p in levels if p < tr.px]
        for px in sorted(through, reverse=(our_side == BUY)):
            for o in list(levels.get(px, ())):
                self._fill_resting(o, o.sz - o.filled, tr.ts_ms, tr.users)
        at = levels.get(tr.px)
        if at:
            avail = float(tr.sz)
            for o in list(at):
                if avail <= 0:
                    # A later order at the same price still waits behind this trade's share.
                    o.queue_ahead = max(0.0, o.queue_ahead - tr.sz)
                    continue
                if o.queue_ahead >= avail:
                    o.queue_ahead -= avail
                    avail = 0.0
                    continue
                avail -= o.queue_ahead
                o.queue_ahead = 0.0
                remaining = o.sz - o.filled
                if self.p.partial_fills:
                    qty = min(remaining, int(avail))
                else:
                    qty = remaining
                if qty > 0:
                    avail -= qty
                    self._fill_resting(o, qty, tr.ts_ms, tr.users)

    def on_book_update(self, ev: BookUpdate) -> None:
        """Call before the shared book applies `ev`: adjusts queues, fills on a cross."""
        sides = self.resting.get(ev.coin)
        if sides is None:
            return
        book = self.books[ev.coin]
        bids, asks = sides[BUY], sides[-BUY]
        if bids or asks:
            if ev.snapshot:
                new_b = dict(ev.bids)
                new_a = dict(ev.asks)
                for px in list(bids):
                    self._level_change(ev.coin, BUY, px, book.bids.get(px, 0), new_b.get(px, 0), bids[px])
                for px in list(asks):
                    self._level_change(ev.coin, -BUY, px, book.asks.get(px, 0), new_a.get(px, 0), asks[px])
            else:
                for px, sz in ev.bids:
                    if px in bids:
                        self._level_change(ev.coin, BUY, px, book.bids.get(px, 0), sz, bids[px])
                for px, sz in ev.asks:
                    if px in asks:
                        self._level_change(ev.coin, -BUY, px, book.asks.get(px, 0), sz, asks[px])
        if ev.snapshot:
            self._traded = {k: v for k, v in self._traded.items() if k[0] != ev.coin}

    def after_book_update(self, coin: str, now_ms: int) -> None:
        """Call after the shared book applied an update: a book crossing our price fills us."""
        sides = self.resting.get(coin)
        if not sides:
            return
        book = self.books[coin]
        bids, asks = sides[BUY], sides[-BUY]
        ba, bb = book.best_ask, book.best_bid
        if bids and ba:
            for px in [p for p in bids if p >= ba]:
                for o in list(bids.get(px, ())):
                    self._fill_resting(o, o.sz - o.filled, now_ms, ())
        if asks and bb:
            for px in [p for p in asks if p <= bb]:
                for o in list(asks.get(px, ())):
                    self._fill_resting(o, o.sz - o.filled, now_ms, ())

    def _level_change(self, coin: str, side: int, px: int, old: int, new: int, orders: list[SimOrder]) -> None:
        traded = self._traded.pop((coin, side, px), 0)
        decrease = old - new - traded
        model = self.p.queue_model
        for o in orders:
            if decrease > 0 and model != "risk_averse":
                front = o.queue_ahead
                back = max(old - traded - front, 0.0)
                ff = _queue_f(model, self.p.queue_power_n, front)
                fb = _queue_f(model, self.p.queue_power_n, back)
                share_front = ff / (ff + fb) if ff + fb > 0 else 0.0
                o.queue_ahead = front - share_front * decrease
            if o.queue_ahead > new:
                o.queue_ahead = float(new)
            if o.queue_ahead < 0:
                o.queue_ahead = 0.0

    # ------------------------------------------------------------ fills

    def _fill_resting(self, o: SimOrder, qty: int, t: int, users: tuple[str, ...]) -> None:
        qty = min(qty, o.sz - o.filled)
        if qty <= 0:
            return
        o.filled += qty
        left = o.sz - o.filled
        if left == 0:
            self._remove(o, t)
        elif self.persist:
            self._persist_order(o, 1, t)
        counterparty = ""
        if users:
            # Hyperliquid names [buyer, seller]: the counterparty is the other one.
            counterparty = users[1] if o.side == BUY and len(users) > 1 else users[0]
        self._fill(o.bot_id, o.coin, o.cloid, o.side, o.px, qty, True, t, left, counterparty)

    def _fill(self, bot_id: str, coin: str, cloid: str, side: int, px: int, qty: int, maker: bool, t: int,
              left: int, counterparty: str = "") -> None:
        inst = self.instruments[coin]
        bps = self.p.maker_fee_bps if maker else self.p.taker_fee_bps
        fee = inst.notional_usd(px, qty) * bps / 1e4
        # Unique across runs because cloids are (they carry the run's epoch).
        n = self._fills_per_cloid.get(cloid, 0) + 1
        self._fills_per_cloid[cloid] = n
        fill_id = f"{cloid}:{n}"
        key = (bot_id, coin)
        self.ledger[key] = self.ledger.get(key, 0) + side * qty
        self.fills_total += 1
        f = Fill(bot_id, coin, cloid, fill_id, side, px, qty, maker, fee, t, left, counterparty)
        self.fill_log.setdefault(bot_id, []).append(f)
        if self.persist:
            self.records.append(PaperFillRow(self.key, fill_id, bot_id, coin, cloid, side, px, qty, int(maker), fee,
                                             left, counterparty, t))
        if self.faults_on and self.p.drop_fill_rate and self.rng.random() < self.p.drop_fill_rate:
            self._fault("drop_fill", f, t, f"fill {fill_id} applied at the venue, notification lost",
                        fill_id=fill_id, side=side, lots=qty)
            return
        self._deliver(f, t)

    # ------------------------------------------------------------ queries

    def purge_bot(self, bot_id: str, now_ms: int = 0) -> int:
        """Remove every resting order of a bot at once (last-resort cleanup); returns the count."""
        orders = self.open_orders(bot_id)
        for o in orders:
            self._remove(o, now_ms)
        return len(orders)

    def fills_since(self, bot_id: str, since_ms: int) -> list[Fill]:
        """The bot's fills in the venue's ledger at or after since_ms (delivered or not)."""
        log = self.fill_log.get(bot_id, ())
        out = []
        for f in reversed(log):
            if f.ts_ms >= since_ms:
                out.append(f)
            elif f.ts_ms < since_ms - 60_000:
                break  # the log is in processing order; arrival times lag it by far less than this
        out.reverse()
        return out

    def reconcile_snapshot(self, bot_id: str, now_ms: int, since_ms: int) -> Reconcile:
        """The answer to a bot's reconciliation query: its resting orders and fills since since_ms."""
        orders = tuple(VenueOrder(o.bot_id, o.coin, o.cloid, o.side, o.px, o.sz, o.filled, str(o.seq))
                       for o in self.open_orders(bot_id))
        return Reconcile(bot_id, now_ms, since_ms, orders, tuple(self.fills_since(bot_id, since_ms)))

    def restore(self, orders: list[SimOrder], fills: list[Fill]) -> None:
        """Rebuild the venue's state after a restart: resting orders (in their queue order) and the
        fill ledger, both as persisted. Call before any market data or action."""
        for f in sorted(fills, key=lambda x: x.ts_ms):
            key = (f.bot_id, f.coin)
            self.ledger[key] = self.ledger.get(key, 0) + f.side * f.sz
            self.fill_log.setdefault(f.bot_id, []).append(f)
            n = int(f.fill_id.rsplit(":", 1)[1]) if ":" in f.fill_id else 0
            self._fills_per_cloid[f.cloid] = max(self._fills_per_cloid.get(f.cloid, 0), n)
            self.fills_total += 1
        for o in sorted(orders, key=lambda x: x.seq):
            if o.coin not in self.resting or o.sz - o.filled <= 0:
                continue
            self.resting[o.coin][o.side].setdefault(o.px, []).append(o)
            self.by_cloid[o.cloid] = o
            self._seq = max(self._seq, o.seq)

    def open_orders(self, bot_id: str | None = None) -> list[SimOrder]:
        """Resting orders, optionally of one bot."""
        return [o for o in self.by_cloid.values() if bot_id is None or o.bot_id == bot_id]
