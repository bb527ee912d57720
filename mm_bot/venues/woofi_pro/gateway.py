"""The WOOFi Pro (Orderly) venue objects the live runner talks to (see mm_bot/venues/gateway.py).

`WoofiMarketData` (public): instruments from GET /v1/public/info, book snapshots (signed REST
GET /v1/orderbook/{symbol} when an Orderly key is configured, else a one-shot WS `request
orderbook`), and the shared public stream (ws.OrderlyPublicStream).

`WoofiGateway` (private, one account): fees (GET /v1/client/info), equity and positions
(GET /v1/positions, GET /v1/client/holding), open orders (GET /v1/orders?status=INCOMPLETE, every
page), recent fills (GET /v1/trades, attributed through order id -> client_order_id), placements
(POST /v1/order, or POST /v1/batch-order for up to 10 orders without reduce_only), cancels by
client order id (DELETE /v1/client/order), cancels by venue id (DELETE /v1/order), the dead man's
switch (POST /v1/order/cancel_all_after), and the private stream (executionreport -> OrderAck /
Fill, fills deduplicated by trade id).

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

UNVERIFIED (no live check; coded defensively): the unit of /v1/client/info fee rates (fraction
or bps: mapping.fee_rate_bps reads both); whether total_collateral_value includes unsettled PnL;
the batch-order reply rows; that a REST trade `id` equals the stream's `tradeId` (the fill id
both use); the cancel_all_after access (the venue may refuse it: the refusal text is returned).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from websockets.asyncio.client import connect

from mm_bot.core.nonces import NonceAllocator
from mm_bot.core.ratelimit import Denied, DualRateLimiter, RequestKind
from mm_bot.core.types import (
    BookUpdate,
    Cancel,
    Fill,
    Instrument,
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
                self.cloid_of_oid[o.venue_oid] = o.cloid
        return out

    async def open_orders(self) -> list[OpenOrder]:
        return await self._orders([("status", "INCOMPLETE")], MAX_ORDER_PAGES)

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
                self.cloid_of_oid[a.venue_oid] = a.cloid
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
                self.cloid_of_oid[oid] = cloid
            out: list[VenueEvent] = []
            for ev in mapping.parse_execution_report(msg, self.instruments, self.bot_of):
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
