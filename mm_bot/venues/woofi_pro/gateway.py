"""The WOOFi Pro (Orderly) venue objects the live runner talks to (see mm_bot/venues/gateway.py).

`WoofiMarketData` (public): instruments from GET /v1/public/info, book snapshots (signed REST
GET /v1/orderbook/{symbol} when an Orderly key is configured, else a one-shot WS `request
orderbook`), and the shared public stream (ws.OrderlyPublicStream).

`WoofiGateway` (private, one account): fees (GET /v1/client/info), equity and positions
(GET /v1/positions, GET /v1/client/holding), open orders (GET /v1/orders?status=INCOMPLETE, every
page), recent fills (GET /v1/trades, attributed through order id -> client_order_id), placements
(POST /v1/order, or POST /v1/batch-order for up to 10 orders without reduce_only), cancels by
client order id (DELETE /v1/client/order), cancels by venue id (DELETE /v1/order), in-place edits
(PUT /v1/order, one per modify), the dead man's switch (POST /v1/order/cancel_all_after), and the
private stream (executionreport -> OrderAck / Fill / ModifyFailed, fills deduplicated by trade id).

Amounts cross the boundary as integer ticks / lots of the coin's Instrument; fees in USD (+ = cost).
The Orderly secret lives only inside auth.OrderlySigner; errors and logs carry the venue's code and
message, the path and exception types, never keys, signatures, headers or bodies.

Semantics worth knowing (PROTOCOLS 2.3):
- A placement reply only says the order was accepted: a POST_ONLY order that would cross is
  refused afterwards on the executionreport stream. Such refusals (REJECTED, or CANCELLED without
  a cancel from us, with nothing executed) reach the Bot with a reason starting
  "post-only would cross" so it treats them as normal quoting, like Hyperliquid's ALO rejects.
- A cancel reply `CANCEL_SENT` means the venue took the request: the CANCELLED ack comes on the
  stream (or from the next reconcile), so send_cancels returns no event for a success.
- A refused cancel (e.g. the order is already gone) gives CancelFailed; the runner reconciles.
- An edit (requote by modify) is sent by venue order id with the new price and the new TOTAL
  quantity; `EDIT_SENT` only means the venue took it for processing. Its outcome comes from the
  stream: a report showing the order live at the new price and size -> OrderAck(OPEN) stamped
  with the local receipt time; REJECTED -> ModifyFailed (post-only ones tagged). While an edit is
  in flight a report of the order never becomes a CANCELLED or REJECTED ack by itself: a
  CANCELLED we did not ask for is held EDIT_CANCEL_HOLD_S in case the venue replaces the order
  (cancel + new order id), and delivered only if no replacement follows. Unanswered edits are
  settled by the Bot's answer timeout and the reconcile (by the venue's price).

UNVERIFIED (no live check; coded defensively): the unit of /v1/client/info fee rates (fraction
or bps: mapping.fee_rate_bps reads both); whether total_collateral_value includes unsettled PnL;
the batch-order reply rows; that a REST trade `id` equals the stream's `tradeId` (the fill id
both use); the cancel_all_after access (the venue may refuse it: the refusal text is returned);
for edits: whether order_quantity is the total or the remaining quantity (the total is sent),
which executionreport(s) follow an edit (NEW / PARTIAL_FILLED / REPLACED at the new price, or
CANCELLED + NEW of a new order id: all handled), and how a POST_ONLY edit that would cross is
refused (an error reply or a REJECTED report: both give ModifyFailed "post-only would cross").
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from websockets.asyncio.client import connect

from mm_bot.core.nonces import NonceAllocator
from mm_bot.core.ratelimit import Denied, DualRateLimiter, RequestKind
from mm_bot.core.types import (
    BookUpdate,
    Cancel,
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
from mm_bot.venues.errors import GatewayError, RateLimited, RestError, VenueError, WireError
from mm_bot.venues.gateway import CancelFailed, GatewayBase, StreamSink, VenueEvent, split_by_tif

from . import mapping
from .auth import KEY_PREFIX, OrderlySigner
from .rest import OrderlyError, OrderlyRest, urls_for
from .ws import OrderlyPrivateStream, OrderlyPublicStream

log = logging.getLogger("mm_bot.woofi.gateway")

VENUE = "woofi_pro"
DEFAULT_BROKER_ID = "woofi_pro"
MAX_BATCH = 10  # POST /v1/batch-order takes at most 10 orders
BOOK_LEVELS = 100
ORDERS_PAGE_SIZE = 500  # the venue's maximum
MAX_ORDER_PAGES = 20
# GET /v1/trades returns at most 500 rows of this window (our recent executions).
FILLS_LOOKBACK_MS = 3 * 86_400_000
# Orders looked up to attribute trades are searched from this long before the oldest trade.
ORDER_LOOKUP_MARGIN_MS = 86_400_000
MAX_LOOKUP_PAGES = 4
# cancel_all_after accepts 5 s .. 15 min; 0 disarms.
DEADMAN_MIN_MS = 5_000
DEADMAN_MAX_MS = 900_000
# on_rate_limited(path, backoff_until_ms, new_backoff), see transport.LimitedRest.
OnRateLimited = Callable[[str, int, bool], None]
_ACCOUNT_ID = re.compile(r"0x[0-9a-fA-F]{64}")
# An edit whose outcome the stream never told is forgotten after this long (the Bot gives up on
# the answer after MODIFY_ANSWER_TIMEOUT_MS and the reconcile settles it by the venue's price).
EDIT_STATE_TTL_MS = 60_000
# A CANCELLED report for an order with an edit in flight is held this long: if the venue carries
# the edit out as cancel + replace, the replacement's report follows at once and the cancel is
# not the order's end. Only when nothing follows is it delivered (the order really is gone).
EDIT_CANCEL_HOLD_S = 1.0
# Live statuses of an order report that can carry an edit's outcome (the new price).
_EDIT_LIVE = ("NEW", "REPLACED", "PARTIAL_FILLED", "FILLED")
# Words of a post-only refusal (the venue's exact text is UNVERIFIED).
_POST_ONLY_WORDS = ("post only", "post_only", "post-only", "postonly", "would cross", "crosses the book",
                    "maker only", "would be filled immediately", "would be executed immediately")


def _looks_post_only(text: str) -> bool:
    low = text.lower()
    return any(w in low for w in _POST_ONLY_WORDS)


def _reason(text: str, post_only_order: bool = False) -> str:
    """Venue reject text; a post-only cross tagged so the Bot sees it as benign."""
    if _looks_post_only(text) or (post_only_order and not text.strip()):
        return f"post-only would cross: {text or 'POST_ONLY order refused'}"
    return text


@dataclass(slots=True)
class _Edit:
    """A PUT /v1/order in flight or answered EDIT_SENT, waiting for its executionreport."""

    modify: Modify
    rest_lots: int  # lots the order should rest with afterwards (Modify.sz minus filled)
    order_id: str  # venue order id the edit was sent for
    sent_ms: int  # local wall clock when the PUT was sent
    # A CANCELLED report held back while a replacement may follow (see EDIT_CANCEL_HOLD_S).
    held_cancel: OrderAck | None = None


# ---------------------------------------------------------------- market data


class WoofiMarketData:
    """Public market data of WOOFi Pro (no account needed; an Orderly key, when given, only signs
    the REST book snapshot)."""

    venue = VENUE

    def __init__(self, mode: str, rest: OrderlyRest, ws_public_url: str, limiter: DualRateLimiter,
                 rng: random.Random | None = None) -> None:
        self.mode = mode
        self.rest = rest
        self.ws_public_url = ws_public_url
        self.limiter = limiter
        self.rng = rng or random.Random()
        self.instruments: dict[str, Instrument] = {}
        self.streams: list[OrderlyPublicStream] = []

    async def load(self, coins: Iterable[str]) -> dict[str, Instrument]:
        coins = sorted(set(coins))
        try:
            listed = mapping.parse_symbol_info(await self.rest.public_get("/v1/public/info"))
        except WireError as e:
            raise GatewayError(f"WOOFi Pro symbol info unreadable: {e}") from None
        except VenueError as e:
            raise GatewayError(f"WOOFi Pro {self.mode} unreachable: {e}") from None
        missing = [c for c in coins if c not in listed]
        if missing:
            raise GatewayError(f"coins not listed on WOOFi Pro {self.mode}: {', '.join(missing)}")
        for c in coins:
            self.instruments[c] = listed[c]
        return dict(self.instruments)

    async def snapshot_message(self, coin: str) -> Any:
        """A raw full-book message of `coin` (REST envelope or WS request reply)."""
        if self.rest.signer is not None:
            sym = mapping.coin_to_symbol(coin)
            return await self.rest.get(f"/v1/orderbook/{sym}", [("max_level", BOOK_LEVELS)])
        return await self._ws_snapshot(coin)

    async def book_snapshot(self, coin: str) -> BookUpdate:
        inst = self.instruments.get(coin)
        if inst is None:
            raise GatewayError(f"{coin} is not loaded")
        book, _ = mapping.parse_orderbook(await self.snapshot_message(coin), inst, wall_ms())
        return book

    async def _ws_snapshot(self, coin: str, timeout_s: float = 10.0) -> Any:
        """Without a key the REST book is closed to us: one WS `request orderbook` instead."""
        sym = mapping.coin_to_symbol(coin)
        got = self.limiter.try_acquire(RequestKind.INFO, 1, wall_ms(), channel="ws")
        if isinstance(got, Denied):
            raise RestError(f"book snapshot {coin}: WS message budget exhausted ({got.reason.value})")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            async with connect(self.ws_public_url, open_timeout=timeout_s, close_timeout=2, proxy=None) as ws:
                await ws.send(json.dumps(mapping.request_orderbook_frame("snapshot", coin)))
                while True:
                    raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - loop.time()))
                    msg = json.loads(raw)
                    if not isinstance(msg, dict):
                        continue
                    if msg.get("event") == "ping":
                        await ws.send(json.dumps(mapping.pong_frame()))
                    elif msg.get("event") == "request":
                        if msg.get("success") is False:
                            raise RestError(f"book snapshot {coin}: {str(msg.get('errorMsg'))[:200]}")
                        data = msg.get("data")
                        if isinstance(data, dict) and data.get("symbol") == sym:
                            return msg
        except (TimeoutError, OSError, ValueError) as e:
            raise RestError(f"book snapshot {coin} by WS: {type(e).__name__}") from None
        except VenueError:
            raise
        except Exception as e:  # websockets' own exceptions
            raise RestError(f"book snapshot {coin} by WS: {type(e).__name__}") from None

    def market_stream(self, coins: Iterable[str], sink: StreamSink) -> OrderlyPublicStream:
        stream = OrderlyPublicStream(self.ws_public_url, self.instruments, coins, sink, self.limiter, self.rng,
                                     fallback=self.snapshot_message)
        self.streams.append(stream)
        return stream

    def close(self) -> None:
        self.rest.close()


# ---------------------------------------------------------------- gateway


class WoofiGateway(GatewayBase):
    """One WOOFi Pro account (Orderly account id + ed25519 Orderly key with trading scope)."""

    venue = VENUE

    def __init__(self, *, mode: str, account_id: str, signer: OrderlySigner, rest_url: str, ws_private_url: str,
                 limiter: DualRateLimiter, market: WoofiMarketData, rng: random.Random | None = None,
                 on_rate_limited: OnRateLimited | None = None, broker_id: str = DEFAULT_BROKER_ID) -> None:
        super().__init__()
        self.mode = mode
        self.account = account_id
        self.broker_id = broker_id
        self.market = market
        self.nonces: NonceAllocator | None = None
        self.deadman = True
        self.limiter = limiter
        self.rng = rng or random.Random()
        self.signer = signer
        self.ws_private_url = ws_private_url
        self.rest = OrderlyRest(rest_url, limiter, signer, self.rng, on_rate_limited)
        self.streams: list[OrderlyPrivateStream] = []
        # cloids we asked to cancel: a later CANCELLED of theirs is ours, not a post-only refusal.
        self.cancel_requested: set[str] = set()
        # order ids looked up without finding a client order id (not ours): not looked up again.
        self.no_cloid_oids: set[str] = set()
        self.pushed_positions: dict[str, VenuePosition] = {}
        # cloid -> its venue order id (the reverse of cloid_of_oid, for edits by order id).
        self.oid_of_cloid: dict[str, str] = {}
        # cloid -> the edit in flight for it (sent, or answered EDIT_SENT and awaiting its report).
        self.editing: dict[str, _Edit] = {}
        self.sent_modifies = 0
        self._sink: StreamSink | None = None

    @property
    def instruments(self) -> dict[str, Instrument]:
        return self.market.instruments

    # ------------------------------------------------------------ reads

    async def fees_bps(self) -> tuple[float, float] | None:
        try:
            return mapping.parse_client_info_fees(await self.rest.get("/v1/client/info"))
        except VenueError as e:
            log.warning("client info unavailable (%s); using the configured fees", type(e).__name__)
            return None

    async def equity_usd(self) -> float | None:
        try:
            resp = await self.rest.get("/v1/positions")
            value = mapping.equity_from_positions(resp)
            if value is not None:
                return value
            # No collateral figure: USDC holding + unsettled PnL of the positions.
            pnl = sum(p.unrealized_pnl for p in mapping.parse_positions(resp))
            hold = mapping.parse_rest(await self.rest.get("/v1/client/holding"), "holding")
            rows = hold.data.get("holding") if isinstance(hold.data, dict) else None
            usdc = sum(float(r.get("holding") or 0) for r in rows or [] if isinstance(r, dict) and r.get("token") == "USDC")
            return usdc + pnl
        except (VenueError, TypeError, ValueError) as e:
            log.warning("account value unavailable (%s)", type(e).__name__)
            return None

    async def positions(self) -> dict[str, VenuePosition]:
        rows = mapping.parse_positions(await self.rest.get("/v1/positions"))
        return {p.coin: p for p in rows if p.coin in self.instruments and p.qty != 0}

    async def _orders(self, params: list[tuple[str, Any]], max_pages: int) -> list[OpenOrder]:
        out: list[OpenOrder] = []
        for page in range(1, max_pages + 1):
            resp = await self.rest.get("/v1/orders", [*params, ("page", page), ("size", ORDERS_PAGE_SIZE)])
            orders, total, n_rows = mapping.parse_orders_page(resp, self.instruments)
            out += orders
            if n_rows < ORDERS_PAGE_SIZE or (total >= 0 and page * ORDERS_PAGE_SIZE >= total):
                break
        else:
            log.warning("GET /v1/orders: more than %d pages; the rest is not read", max_pages)
        for o in out:
            if o.cloid:
                self._learn(o.venue_oid, o.cloid)
        return out

    async def open_orders(self) -> list[OpenOrder]:
        return await self._orders([("status", "INCOMPLETE")], MAX_ORDER_PAGES)

    async def closed_status(self, coin: str, cloid: str) -> tuple[OrderStatus, str] | None:
        """GET /v1/client/order/{client_order_id}: how an order that left the book ended."""
        try:
            return mapping.parse_order_status(await self.rest.get(f"/v1/client/order/{cloid}"))
        except (RestError, WireError) as e:
            log.warning("order status %s: %s", cloid, e)
            return None

    async def user_fills(self) -> list[Fill]:
        """Our executions of the last FILLS_LOOKBACK_MS (latest 500), attributed by order id ->
        client order id (looked up in the order history when unknown); bot_id '' if not ours."""
        now = wall_ms()
        resp = await self.rest.get("/v1/trades", [("start_t", now - FILLS_LOOKBACK_MS), ("end_t", now),
                                                  ("page", 1), ("size", 500)])
        trades = mapping.parse_client_trades(resp, self.instruments)
        unknown = [t for t in trades if t.order_id not in self.cloid_of_oid and t.order_id not in self.no_cloid_oids]
        if unknown and self.bot_of_cloid:
            since = min(t.ts_ms for t in unknown) - ORDER_LOOKUP_MARGIN_MS
            try:
                await self._orders([("start_t", since), ("end_t", now)], MAX_LOOKUP_PAGES)
            except VenueError as e:
                log.warning("order history for fill attribution unavailable: %s", e)
            else:
                self.no_cloid_oids |= {t.order_id for t in unknown if t.order_id not in self.cloid_of_oid}
        out: list[Fill] = []
        for t in trades:
            cloid = self.cloid_of_oid.get(t.order_id, "")
            out.append(Fill(self.bot_of(cloid), t.coin, cloid, t.trade_id, t.side, t.px, t.sz, t.maker,
                            t.fee_usd, t.ts_ms))
        return out

    async def budget_note(self) -> str | None:
        return None

    # ------------------------------------------------------------ actions

    def split_places(self, places: Sequence[Place], batch: bool) -> list[list[Place]]:
        """POST_ONLY apart from IOC/GTC, at most 10 per batch; reduce-only orders always alone
        (the batch endpoint does not support reduce_only)."""
        plain = [p for p in places if not p.reduce_only]
        return split_by_tif(plain, batch, MAX_BATCH) + [[p] for p in places if p.reduce_only]

    async def send_places(self, places: Sequence[Place], charged: bool = True) -> tuple[list[VenueEvent], bool]:
        places = list(places)
        if not places:
            return [], False
        self.begin(places)
        batch = len(places) > 1
        try:
            if batch:
                path = "/v1/batch-order"
                body: Any = mapping.batch_order_body(places, self.instruments, as_numbers=True)
            else:
                path = "/v1/order"
                body = mapping.place_to_order_body(places[0], self.instruments[places[0].coin], as_numbers=True)
        except (ValueError, KeyError) as e:
            return self.reject_all(places, f"not sent: {e}"), False
        try:
            resp = await self.rest.action("POST", path, RequestKind.PLACE, body=body, batch_len=len(places),
                                          charged=charged)
        except RateLimited:
            return self.reject_all(places, "rate limited (HTTP 429): not placed"), False
        except OrderlyError as e:
            if e.status >= 500:
                # A server error may come after the order was taken: unknown, reconcile.
                log.warning("order request failed: %s", e)
                self.done(places)
                return [], True
            # A definite refusal of the whole request.
            self.sent_places += len(places)
            return self.reject_all(places, _reason(f"{e.code}: {e.venue_message}",
                                                   all(p.tif == Tif.ALO for p in places))), False
        except VenueError as e:
            log.warning("order request failed: %s", e)
            self.done(places)
            return [], True
        self.sent_places += len(places)
        now = wall_ms()
        self.done(places, now)
        try:
            if batch:
                acks, missing = mapping.parse_batch_order_response(resp, places, now)
            else:
                acks, missing = [mapping.parse_order_response(resp, places[0], now)], []
        except WireError as e:
            log.warning("order response unreadable: %s", e)
            return [], True
        out: list[VenueEvent] = []
        for a in acks:
            if a.venue_oid:
                self._learn(a.venue_oid, a.cloid)
            if a.status == OrderStatus.REJECTED:
                a = OrderAck(a.bot_id, a.coin, a.cloid, a.status, a.ts_ms, a.venue_oid, _reason(a.reason))
            out.append(a)
        return out, bool(missing)

    async def send_cancels(self, cancels: Sequence[Cancel], charged: bool = True) -> tuple[list[VenueEvent], bool]:
        """One DELETE /v1/client/order per cancel. The Bot charged the weight of one cancel
        request for the group: the extra requests are charged here."""
        cancels = list(cancels)
        if not cancels:
            return [], False
        covered = self.rest.limits.action_weight(RequestKind.CANCEL, len(cancels)) if charged else 0
        self.begin(cancels)
        events: list[VenueEvent] = []
        failed = False
        for i, c in enumerate(cancels):
            try:
                _, pq = mapping.cancel_request(c)
            except ValueError as e:
                self.done([c])
                events.append(CancelFailed(c.bot_id, c.coin, c.cloid, f"not sent: {e}", wall_ms()))
                continue
            self.cancel_requested.add(c.cloid)
            try:
                resp = await self.rest.action("DELETE", pq, RequestKind.CANCEL, charged=i < covered)
            except RateLimited as e:
                log.warning("cancel rate limited: %s", e)
                failed = True
                self.done(cancels[i:])
                break
            except OrderlyError as e:
                self.sent_cancels += 1
                self.done([c])
                if e.status >= 500:
                    log.warning("cancel request failed: %s", e)
                    failed = True  # outcome unknown: the reconcile re-sends it if the order still rests
                    continue
                events.append(CancelFailed(c.bot_id, c.coin, c.cloid, f"{e.code}: {e.venue_message}", wall_ms()))
                continue
            except VenueError as e:
                log.warning("cancel request failed: %s", e)
                failed = True
                self.done([c])
                continue
            self.sent_cancels += 1
            self.done([c])
            try:
                err = mapping.cancel_sent(resp)
            except WireError as e:
                log.warning("cancel response unreadable: %s", e)
                failed = True
                continue
            if err:
                events.append(CancelFailed(c.bot_id, c.coin, c.cloid, err, wall_ms()))
        return events, failed

    async def send_modifies(self, items: Sequence[tuple[Modify, int]], charged: bool = True
                            ) -> tuple[list[VenueEvent], bool]:
        """One PUT /v1/order per (modify, rest_lots): move the resting order to Modify.px with
        new total quantity Modify.sz (ticks / lots), by the venue order id learned for its cloid.

        charged: the Bot already charged one MODIFY request per modify; otherwise each is charged
        here. The reply EDIT_SENT only says the venue took the edit for processing: the outcome
        (OrderAck OPEN at the new price, or ModifyFailed) comes from the executionreport stream
        (see _edit_report), so a success returns no event. Refusals: the venue's error ->
        ModifyFailed with its code and text (post-only ones tagged "post-only would cross"); a 429
        -> ModifyFailed "rate limited (HTTP 429): ..." for it and every later item (not sent: the
        limiter is backing off); unknown venue order id or an unbuildable body -> ModifyFailed
        "not sent: ...". A 5xx or a transport error: uncertain=True, no event (the runner
        reconciles; a report that still comes is still taken as the outcome).
        """
        items = list(items)
        events: list[VenueEvent] = []
        uncertain = False
        now = wall_ms()
        self._prune_edits(now)
        for i, (m, rest_lots) in enumerate(items):
            oid = self._oid_of(m.cloid)
            if not oid:
                events.append(ModifyFailed(m.bot_id, m.coin, m.cloid, "not sent: venue order id unknown", wall_ms()))
                continue
            inst = self.instruments.get(m.coin)
            try:
                if inst is None:
                    raise ValueError(f"{m.coin} is not loaded")
                if rest_lots <= 0 or rest_lots > m.sz:
                    raise ValueError(f"nothing to rest ({rest_lots} of {m.sz} lots)")
                body = mapping.edit_order_body(m, oid, inst)
            except ValueError as e:
                events.append(ModifyFailed(m.bot_id, m.coin, m.cloid, f"not sent: {e}", wall_ms()))
                continue
            # Registered before the request: the stream's report may beat the REST reply.
            edit = _Edit(m, rest_lots, oid, wall_ms())
            self.editing[m.cloid] = edit
            self.inflight.add(m.cloid)
            try:
                resp = await self.rest.action("PUT", "/v1/order", RequestKind.MODIFY, body=body, charged=charged)
            except RateLimited as e:
                # The transport already backed the limiter off; the Bot backs off on the reason too.
                log.warning("edit rate limited: %s", e)
                held = self._end_edit(m.cloid)
                self._edit_done(m.cloid)
                now = wall_ms()
                events += held
                events += [ModifyFailed(x.bot_id, x.coin, x.cloid, "rate limited (HTTP 429): not modified", now)
                           for x, _ in items[i:]]
                break
            except OrderlyError as e:
                self.sent_modifies += 1
                self._edit_done(m.cloid)
                if e.status >= 500:
                    log.warning("edit request failed: %s", e)
                    uncertain = True  # it may have been taken: the report, or the reconcile, tells
                    continue
                held = self._end_edit(m.cloid)
                events.append(ModifyFailed(m.bot_id, m.coin, m.cloid,
                                           _reason(f"{e.code}: {e.venue_message}"), wall_ms()))
                events += held
                continue
            except VenueError as e:
                log.warning("edit request failed: %s", e)
                self._edit_done(m.cloid)
                uncertain = True
                continue
            self.sent_modifies += 1
            self._edit_done(m.cloid)
            try:
                err = mapping.edit_sent(resp)
            except WireError as e:
                log.warning("edit response unreadable: %s", e)
                uncertain = True
                continue
            if err:
                held = self._end_edit(m.cloid) if self.editing.get(m.cloid) is edit else []
                events.append(ModifyFailed(m.bot_id, m.coin, m.cloid, _reason(err), wall_ms()))
                events += held
        return events, uncertain

    async def cancel_open(self, orders: Sequence[OpenOrder]) -> list[str]:
        out: list[str] = []
        for o in orders:
            try:
                _, pq = mapping.cancel_order_request(o.coin, o.venue_oid)
                if o.cloid:
                    self.cancel_requested.add(o.cloid)
                resp = await self.rest.action("DELETE", pq, RequestKind.CANCEL)
                out.append(mapping.cancel_sent(resp))
            except (VenueError, ValueError) as e:
                out.append(str(e))
        return out

    async def schedule_cancel(self, time_ms: int | None) -> str:
        """cancel_all_after: trigger_after = time_ms - now, clamped to 5 s .. 15 min; 0 disarms."""
        trigger = 0 if time_ms is None else min(DEADMAN_MAX_MS, max(DEADMAN_MIN_MS, time_ms - wall_ms()))
        try:
            resp = await self.rest.action("POST", "/v1/order/cancel_all_after", RequestKind.CANCEL,
                                          body={"trigger_after": trigger})
            res = mapping.parse_rest(resp, "cancel_all_after")
        except VenueError as e:
            return str(e)
        return "" if res.ok else f"{res.code}: {res.message}"

    # ------------------------------------------------------------ private stream

    def private_streams(self, sink: StreamSink) -> list[OrderlyPrivateStream]:
        self._sink = sink  # held edit cancels are delivered here when no replacement follows
        stream = OrderlyPrivateStream(self.ws_private_url, self.signer, sink, self.parse_private,
                                      self.limiter, self.rng)
        self.streams.append(stream)
        return [stream]

    def parse_private(self, msg: dict[str, Any], recv_ms: int) -> list[VenueEvent]:
        """A private topic message -> our OrderAcks and new Fills (others' and other coins' are
        dropped; position pushes are kept in pushed_positions). Raises WireError."""
        topic = msg.get("topic")
        if topic == "executionreport":
            data = msg.get("data")
            if not isinstance(data, dict):
                raise WireError("executionreport", "data is not an object")
            if mapping.symbol_to_coin(data.get("symbol")) not in self.instruments:
                return []
            oid = str(data.get("orderId", ""))
            cloid = data.get("clientOrderId") or ""
            if oid and isinstance(cloid, str) and cloid:
                self._learn(oid, cloid)
            edit = self.editing.get(cloid) if isinstance(cloid, str) and cloid else None
            parsed = mapping.parse_execution_report(msg, self.instruments, self.bot_of)
            out: list[VenueEvent] = []
            if edit is not None:
                # The edit's outcome first (a fill at the new price also says it took effect),
                # then the fills as always. A report with nothing executed and status
                # PARTIAL_FILLED parses to nothing: the raw data still carries the outcome.
                acks = [e for e in parsed if isinstance(e, OrderAck)]
                out += (self._edit_report(edit, acks[0], data, recv_ms) if acks
                        else self._edit_outcome(edit, data, recv_ms))
                out += [f for f in parsed if isinstance(f, Fill) and self.accept_fill(f)]
                if data.get("status") == "FILLED":
                    self._end_edit(cloid)  # nothing left to move
                return out
            for ev in parsed:
                if isinstance(ev, Fill):
                    if self.accept_fill(ev):
                        out.append(ev)
                    continue
                if not ev.bot_id:
                    continue
                if ev.status in (OrderStatus.REJECTED, OrderStatus.CANCELLED):
                    ev = self._tag_post_only(ev, data)
                    self.cancel_requested.discard(ev.cloid)  # terminal: no later report to tell apart
                out.append(ev)
            return out
        if topic == "position":
            for p in mapping.parse_position_push(msg):
                self.pushed_positions[p.coin] = p
            return []
        return []  # balance, account, ...: not used

    # ------------------------------------------------------------ edits on the stream

    def _edit_report(self, edit: _Edit, ack: OrderAck, data: Mapping[str, Any], recv_ms: int) -> list[VenueEvent]:
        """An order report (no execution) of a cloid with an edit in flight -> the edit's outcome.

        - live at the edit's price and size: the edit took effect -> OrderAck(OPEN) at the local
          receipt time (the core compares it with the modify's send time: never a venue clock);
        - REJECTED: the edit was refused and the order rests unchanged -> ModifyFailed (tagged
          "post-only would cross" for a post-only refusal), never a REJECTED ack that would end it;
        - CANCELLED that we did not ask for: held back (a cancel + replace edit sends the
          replacement right after); delivered only if no replacement follows;
        - CANCELLED after our own cancel: the order's end, as always;
        - anything else (a late report of the order before the edit): dropped, so it cannot pass
          for the edit's answer.
        """
        status = data.get("status")
        m = edit.modify
        if status == "REJECTED":
            held = self._end_edit(ack.cloid)
            text = ack.reason.strip()
            post_only = data.get("type") == "POST_ONLY" or m.tif == Tif.ALO
            if post_only and not text:
                reason = "post-only would cross: POST_ONLY edit refused"
            else:
                reason = _reason(f"edit refused: {text or 'no reason given'}")
            return [ModifyFailed(m.bot_id, m.coin, ack.cloid, reason, wall_ms()), *held]
        if status in ("CANCELLED", "EXPIRED"):
            if ack.cloid in self.cancel_requested:
                self._end_edit(ack.cloid)  # a held cancel is this one again
                self.cancel_requested.discard(ack.cloid)
                return [ack]
            self._hold_cancel(edit, self._tag_post_only(ack, data))
            return []
        return self._edit_outcome(edit, data, recv_ms)

    def _edit_outcome(self, edit: _Edit, data: Mapping[str, Any], recv_ms: int) -> list[VenueEvent]:
        """OrderAck(OPEN) when the report shows the order live at the edit's price and size."""
        if data.get("status") not in _EDIT_LIVE:
            return []
        m = edit.modify
        inst = self.instruments[m.coin]
        try:
            px = mapping.to_units(data.get("price"), inst.tick_size)
            qty = mapping.to_units(data.get("quantity"), inst.lot_size)
        except (TypeError, ValueError, ArithmeticError):
            return []
        # The venue reports the order's total quantity; the remaining one is accepted too, as the
        # unit of an edit's order_quantity is UNVERIFIED (see mapping.edit_order_body).
        if px != m.px or qty not in (m.sz, edit.rest_lots):
            log.debug("report of %s during an edit is not the edit's outcome (%s x %s)", m.cloid, px, qty)
            return []
        self._end_edit(m.cloid)
        oid = str(data.get("orderId") or edit.order_id)
        self._learn(oid, m.cloid)
        # The local clock: recv_ms is the wall clock at receipt (the runner's), never a venue ts.
        return [OrderAck(m.bot_id, m.coin, m.cloid, OrderStatus.OPEN, recv_ms or wall_ms(), venue_oid=oid)]

    def _hold_cancel(self, edit: _Edit, ack: OrderAck) -> None:
        edit.held_cancel = ack
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a direct parse): the reconcile finds the order gone
        loop.call_later(EDIT_CANCEL_HOLD_S, self._release_cancel, ack.cloid, edit)

    def _release_cancel(self, cloid: str, edit: _Edit) -> None:
        """No replacement followed the held CANCELLED: the edit failed and the order is gone."""
        if self.editing.get(cloid) is not edit or edit.held_cancel is None:
            return
        ack = edit.held_cancel
        self._end_edit(cloid)
        now = wall_ms()
        m = edit.modify
        events: list[VenueEvent] = [
            ModifyFailed(m.bot_id, m.coin, cloid, _reason(f"order cancelled by the venue during the edit: "
                                                          f"{ack.reason or 'no reason given'}"), now),
            replace(ack, ts_ms=now),
        ]
        if self._sink is not None:
            self._sink.on_events(events, now)

    def _edit_done(self, cloid: str) -> None:
        """The PUT for `cloid` was answered (or failed): no longer in flight for the reconcile."""
        self.inflight.discard(cloid)
        self.response_ms[cloid] = wall_ms()

    def _end_edit(self, cloid: str) -> list[VenueEvent]:
        """Forget the edit of `cloid`; a CANCELLED report held for it is returned (the order's end:
        the edit's refusal that ends it here is not a replacement)."""
        e = self.editing.pop(cloid, None)
        if e is None or e.held_cancel is None:
            return []
        return [replace(e.held_cancel, ts_ms=wall_ms())]

    def _prune_edits(self, now: int) -> None:
        for cloid, e in list(self.editing.items()):
            if now - e.sent_ms > EDIT_STATE_TTL_MS:
                del self.editing[cloid]

    def _learn(self, oid: str, cloid: str) -> None:
        """Remember that venue order `oid` carries client order id `cloid` (both ways)."""
        self.cloid_of_oid[oid] = cloid
        self.oid_of_cloid[cloid] = oid

    def _oid_of(self, cloid: str) -> str:
        """The venue order id of `cloid` ('' when unknown)."""
        oid = self.oid_of_cloid.get(cloid)
        if oid:
            return oid
        # Learned elsewhere (the shared reconcile fills cloid_of_oid only).
        for o, c in self.cloid_of_oid.items():
            if c == cloid:
                self.oid_of_cloid[cloid] = o
                return o
        return ""

    def _tag_post_only(self, ack: OrderAck, data: Mapping[str, Any]) -> OrderAck:
        """A POST_ONLY order refused after its REST accept (nothing executed, no cancel of ours)."""
        if data.get("type") != "POST_ONLY" or ack.cloid in self.cancel_requested:
            return ack
        try:
            executed = float(data.get("totalExecutedQuantity") or 0)
        except (TypeError, ValueError):
            return ack
        if executed != 0:
            return ack
        if ack.reason.strip() and not _looks_post_only(ack.reason):
            return ack  # refused or cancelled for something else (margin, price range, dead man's switch...)
        return replace(ack, reason=f"post-only would cross: {ack.reason or 'POST_ONLY order refused'}")

    # ------------------------------------------------------------ misc

    def stats(self) -> dict[str, int]:
        return {
            "places": self.sent_places,
            "cancels": self.sent_cancels,
            "modifies": self.sent_modifies,
            "requests": self.rest.requests + self.market.rest.requests,
            "rate_limited": self.rest.rate_limited + self.market.rest.rate_limited,
            "ws_connections": sum(s.connections for s in [*self.streams, *self.market.streams]),
        }

    def close(self) -> None:
        self.rest.close()


# ---------------------------------------------------------------- factories


def _signer_from_env(environ: Mapping[str, str]) -> OrderlySigner:
    """The account's signer from WOOFI_ACCOUNT_ID / WOOFI_ORDERLY_KEY / WOOFI_ORDERLY_SECRET;
    GatewayError (naming the variable, never quoting the secret) when one is missing or wrong."""
    account = (environ.get("WOOFI_ACCOUNT_ID") or "").strip()
    key = (environ.get("WOOFI_ORDERLY_KEY") or "").strip()
    secret = (environ.get("WOOFI_ORDERLY_SECRET") or "").strip()
    missing = [n for n, v in (("WOOFI_ACCOUNT_ID", account), ("WOOFI_ORDERLY_KEY", key),
                              ("WOOFI_ORDERLY_SECRET", secret)) if not v]
    if missing:
        raise GatewayError(f"WOOFi Pro needs {', '.join(missing)} in the environment")
    if not _ACCOUNT_ID.fullmatch(account):
        raise GatewayError("WOOFI_ACCOUNT_ID must be the Orderly account id: 0x followed by 64 hex digits")
    try:
        signer = OrderlySigner(account, secret)
    except (ValueError, TypeError):
        # The decoder's own message may quote a character of the secret: never pass it on.
        raise GatewayError("WOOFI_ORDERLY_SECRET is not an Orderly ed25519 secret "
                           "(expected ed25519:<base58 of the 32-byte seed>)") from None
    want = key if key.startswith(KEY_PREFIX) else KEY_PREFIX + key
    if want != signer.orderly_key:
        raise GatewayError(f"WOOFI_ORDERLY_KEY does not match WOOFI_ORDERLY_SECRET (the secret's public key is "
                           f"{signer.orderly_key})")
    return signer


def market_data(mode: str, environ: Mapping[str, str], limiter: DualRateLimiter, rng: random.Random,
                on_rate_limited: OnRateLimited | None = None) -> WoofiMarketData:
    """Public market data for `mode` (testnet | mainnet). A valid Orderly key in the environment
    is used to sign REST book snapshots; without one, snapshots come over the public WS."""
    try:
        rest_url, ws_public, _ = urls_for(mode, environ)
    except ValueError as e:
        raise GatewayError(str(e)) from None
    try:
        signer: OrderlySigner | None = _signer_from_env(environ)
    except GatewayError:
        signer = None  # build_gateway reports the problem when the account is needed
    rest = OrderlyRest(rest_url, limiter, signer, rng, on_rate_limited)
    return WoofiMarketData(mode, rest, ws_public, limiter, rng)


def build_gateway(mode: str, environ: Mapping[str, str], limiter: DualRateLimiter, market: WoofiMarketData,
                  nonces: NonceAllocator, rng: random.Random, on_rate_limited: OnRateLimited | None = None
                  ) -> WoofiGateway:
    """The account gateway (nonces are not used by Orderly: requests carry a timestamp)."""
    if mode not in ("testnet", "mainnet"):
        raise GatewayError(f"WOOFi Pro live mode must be testnet or mainnet, not {mode!r}")
    signer = _signer_from_env(environ)
    rest_url, _, ws_private = urls_for(mode, environ)
    broker = (environ.get("WOOFI_BROKER_ID") or DEFAULT_BROKER_ID).strip()
    return WoofiGateway(mode=mode, account_id=signer.account_id, signer=signer, rest_url=rest_url,
                        ws_private_url=ws_private, limiter=limiter, market=market, rng=rng,
                        on_rate_limited=on_rate_limited, broker_id=broker)
