"""The Hyperliquid venue object the live runner talks to.

It owns the signer (agent wallet key from the environment), the nonce allocator, the REST client
and the WebSocket, and translates both ways with `mapping`:
- reads: meta -> instruments, clearinghouseState -> positions and equity, frontendOpenOrders,
  userFills, userRateLimit, userFees;
- actions: Place batches -> signed `order` actions (ALO batched apart from IOC/GTC), Cancel
  batches -> `cancelByCloid`, stray orders -> `cancel` by oid, `scheduleCancel` (dead man's
  switch);
- WS: l2Book / trades per coin, orderUpdates / userFills of the account -> BookUpdate, OrderAck,
  Fill (fills deduplicated by fill id across snapshots, reconnects and REST recovery).

The key lives only inside auth.L1Signer; nothing here logs request bodies, and every error text
is built from the venue's reply or the exception type, never from the key.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mm_bot.core.nonces import NonceAllocator
from mm_bot.core.ratelimit import DualRateLimiter, RequestKind
from mm_bot.core.types import (
    BookUpdate,
    Cancel,
    Fill,
    Instrument,
    OrderAck,
    OrderStatus,
    Place,
    Tif,
    TradePrint,
)
from mm_bot.live.clock import wall_ms
from mm_bot.venues.hyperliquid import auth, mapping
from mm_bot.venues.hyperliquid.mapping import CancelFailed, HlAsset, OpenOrder, VenuePosition, WireError
from mm_bot.venues.hyperliquid.rest import HlRest, HlRestClient, HlRestError, RateLimited, is_rate_limit_text
from mm_bot.venues.hyperliquid.ws import HlWebSocket

log = logging.getLogger("mm_bot.hl.gateway")

VENUE = "hyperliquid"
MAX_BATCH = 40  # one weight step of /exchange; larger batches are split
_HL_POST_ONLY = "post only order would have immediately matched"

VenueOut = OrderAck | Fill | CancelFailed


class GatewayError(Exception):
    """Start-up could not proceed (bad key/address, unknown coin, venue unreachable). No secrets."""


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    events: list  # OrderAck / Fill for our live orders
    strays: list[OpenOrder]  # open on the venue with one of our cloids, but not live here
    recancel: list[tuple[str, str, str]]  # (bot_id, coin, cloid): cancel requested but still open
    open_orders: list[OpenOrder]
    recovered_fills: int


def _reason(text: str) -> str:
    """Venue reject text, with Hyperliquid's post-only wording tagged so the Bot sees it as benign."""
    if _HL_POST_ONLY in text.lower():
        return f"post-only would cross: {text}"
    return text


class HyperliquidGateway:
    venue = VENUE

    def __init__(self, *, mode: str, secret_key: str, account_address: str, rest_url: str, ws_url: str,
                 limiter: DualRateLimiter, nonces: NonceAllocator | None = None,
                 vault_address: str | None = None, rng: random.Random | None = None,
                 on_rate_limited: Callable[[str, int, bool], None] | None = None) -> None:
        if mode not in ("testnet", "mainnet"):
            raise GatewayError(f"Hyperliquid live mode must be testnet or mainnet, not {mode!r}")
        self.mode = mode
        self.is_mainnet = mode == "mainnet"
        try:
            self.signer = auth.L1Signer(secret_key, is_mainnet=self.is_mainnet,
                                        vault_address=vault_address or None)
            user = vault_address or account_address
            auth._address_bytes(user)
        except auth.SigningError as e:
            # SigningError text never quotes the key.
            raise GatewayError(f"HL_SECRET_KEY / HL_ACCOUNT_ADDRESS: {e}") from None
        self.user = user.lower()
        self.rest_url = rest_url
        self.ws_url = ws_url
        self.limiter = limiter
        self.nonces = nonces or NonceAllocator()
        self.rng = rng or random.Random()
        self.client = HlRestClient(HlRest(rest_url), limiter, self.rng, on_rate_limited)
        self.assets: dict[str, HlAsset] = {}
        self.instruments: dict[str, Instrument] = {}
        # cloid -> bot_id of every order of ours (this run and, for recovery, earlier runs).
        self.bot_of_cloid: dict[str, str] = {}
        self.cloid_of_oid: dict[str, str] = {}
        self.seen_fills: set[str] = set()
        # cloids whose /exchange request is in flight, and when each got its last response.
        self.inflight: set[str] = set()
        self.response_ms: dict[str, int] = {}
        self.ws: HlWebSocket | None = None
        self.sent_places = 0
        self.sent_cancels = 0
        self._fills_n = 2000

    @property
    def agent_address(self) -> str:
        return self.signer.address

    # ------------------------------------------------------------ reads

    async def load_meta(self, coins: Iterable[str]) -> dict[str, Instrument]:
        resp = await self.client.info({"type": "meta", "dex": ""})
        try:
            self.assets = mapping.parse_meta(resp)
        except WireError as e:
            raise GatewayError(f"meta: {e}") from None
        missing = sorted(set(coins) - set(self.assets))
        if missing:
            raise GatewayError(f"coins not listed on Hyperliquid {self.mode}: {', '.join(missing)}")
        delisted = sorted(c for c in coins if self.assets[c].delisted)
        if delisted:
            raise GatewayError(f"coins delisted on Hyperliquid {self.mode}: {', '.join(delisted)}")
        self.instruments = mapping.instruments(self.assets)
        return self.instruments

    async def clearinghouse(self) -> Any:
        return await self.client.info({"type": "clearinghouseState", "user": self.user, "dex": ""})

    async def positions(self) -> dict[str, VenuePosition]:
        return mapping.parse_positions(await self.clearinghouse())

    async def open_orders(self) -> list[OpenOrder]:
        resp = await self.client.info({"type": "frontendOpenOrders", "user": self.user})
        return mapping.parse_open_orders(resp)

    async def user_fills(self) -> list[Fill]:
        """Recent fills of the account (up to 2000) in coins we know, attributed by cloid/oid."""
        # The venue charges +1 per 20 items returned: charge what the last answer held (2000 at first).
        resp = await self.client.info({"type": "userFills", "user": self.user}, n_items=self._fills_n)
        self._fills_n = len(resp) if isinstance(resp, list) else 2000
        uf = mapping.parse_user_fills(resp, self.instruments, self.bot_of_cloid, self.cloid_of_oid,
                                      skip_unknown=True)
        return list(uf.fills)

    async def user_rate_limit(self) -> mapping.RateLimitStatus:
        return mapping.parse_user_rate_limit(
            await self.client.info({"type": "userRateLimit", "user": self.user}))

    async def fees_bps(self) -> tuple[float, float] | None:
        """(maker, taker) fee in bps from userFees, None when unreadable."""
        try:
            resp = await self.client.info({"type": "userFees", "user": self.user})
            return float(resp["userAddRate"]) * 1e4, float(resp["userCrossRate"]) * 1e4
        except (HlRestError, KeyError, TypeError, ValueError) as e:
            log.warning("userFees unavailable (%s); using the configured fees", type(e).__name__)
            return None

    # ------------------------------------------------------------ fills

    def accept_fill(self, f: Fill) -> bool:
        """True the first time a fill id is seen and the fill belongs to one of our bots."""
        if not f.bot_id or f.fill_id in self.seen_fills:
            return False
        self.seen_fills.add(f.fill_id)
        return True

    # ------------------------------------------------------------ actions

    def _signed(self, action: dict[str, Any]) -> dict[str, Any]:
        nonce = self.nonces.next(self.signer.address, wall_ms())
        return self.signer.body(action, nonce)

    def track(self, place: Place) -> None:
        self.bot_of_cloid[place.cloid] = place.bot_id

    async def send_places(self, places: Sequence[Place], charged: bool = True) -> tuple[list[VenueOut], bool]:
        """One signed `order` request for `places` (<= 40, one tif family).

        Returns (acks, uncertain): uncertain is True when the request failed in transport, so
        the orders may or may not rest (the caller reconciles); a 429 rejects them all.
        """
        for p in places:
            self.track(p)
            self.inflight.add(p.cloid)
        try:
            action = mapping.places_to_action(places, self.assets)
            body = self._signed(action)
        except (ValueError, auth.SigningError) as e:
            for p in places:
                self.inflight.discard(p.cloid)
            now = wall_ms()
            return [OrderAck(p.bot_id, p.coin, p.cloid, OrderStatus.REJECTED, now, reason=f"not sent: {e}")
                    for p in places], False
        try:
            resp = await self.client.exchange(body, RequestKind.PLACE, len(places), charged=charged)
        except RateLimited:
            return self._reject_all(places, "rate limited (HTTP 429): not placed"), False
        except HlRestError as e:
            log.warning("order request failed: %s", e)
            self._done(places)
            return [], True
        self.sent_places += len(places)
        now = wall_ms()
        self._done(places, now)
        try:
            acks = mapping.order_response_to_acks(resp, places, now)
        except WireError as e:
            log.warning("order response unreadable: %s", e)
            return [], True
        out: list[VenueOut] = []
        for a in acks:
            if a.venue_oid:
                self.cloid_of_oid[a.venue_oid] = a.cloid
            if a.status == OrderStatus.REJECTED:
                if is_rate_limit_text(a.reason):
                    self.client.note_rate_limited("/exchange order")
                a = OrderAck(a.bot_id, a.coin, a.cloid, a.status, a.ts_ms, a.venue_oid, _reason(a.reason))
            out.append(a)
        return out, False

    def _done(self, items: Sequence[Place | Cancel], now: int | None = None) -> None:
        t = wall_ms() if now is None else now
        for it in items:
            self.inflight.discard(it.cloid)
            self.response_ms[it.cloid] = t

    def _reject_all(self, places: Sequence[Place], reason: str) -> list[VenueOut]:
        self._done(places)
        now = wall_ms()
        return [OrderAck(p.bot_id, p.coin, p.cloid, OrderStatus.REJECTED, now, reason=reason) for p in places]

    async def send_cancels(self, cancels: Sequence[Cancel], charged: bool = True) -> tuple[list[VenueOut], bool]:
        """One signed `cancelByCloid` request. Returns (events, failed): failed is True when the
        request did not get an answer (transport error or 429): nothing is known, retry later."""
        try:
            body = self._signed(mapping.cancels_to_action(cancels, self.assets))
        except (ValueError, auth.SigningError) as e:
            now = wall_ms()
            return [CancelFailed(c.bot_id, c.coin, c.cloid, f"not sent: {e}", now) for c in cancels], False
        try:
            resp = await self.client.exchange(body, RequestKind.CANCEL, len(cancels), charged=charged)
        except HlRestError as e:
            log.warning("cancel request failed: %s", e)
            return [], True
        self.sent_cancels += len(cancels)
        now = wall_ms()
        self._done(cancels, now)
        try:
            return mapping.cancel_response_to_events(resp, cancels, now), False
        except WireError as e:
            log.warning("cancel response unreadable: %s", e)
            return [], True

    async def cancel_oids(self, orders: Sequence[OpenOrder]) -> list[str]:
        """Cancel open orders by (asset, oid), charged here; '' per success, else the error text."""
        out: list[str] = []
        for i in range(0, len(orders), MAX_BATCH):
            chunk = list(orders[i:i + MAX_BATCH])
            pairs = [(self.assets[o.coin].asset_id, int(o.oid)) for o in chunk]
            body = self._signed(auth.cancel_action(pairs))
            try:
                resp = await self.client.exchange(body, RequestKind.CANCEL, len(chunk))
                out += mapping.parse_cancel_statuses(resp, len(chunk))
            except (HlRestError, WireError) as e:
                out += [str(e)] * len(chunk)
        return out

    async def schedule_cancel(self, time_ms: int | None) -> str:
        """Arm (time_ms) or clear (None) the dead man's switch; '' on success, else the error."""
        try:
            resp = await self.client.exchange(self._signed(auth.schedule_cancel_action(time_ms)),
                                              RequestKind.CANCEL, 1)
        except HlRestError as e:
            return str(e)
        err = mapping.exchange_error(resp)
        return err

    # ------------------------------------------------------------ reconcile

    async def reconcile(self, live: dict[str, tuple[str, str, OrderStatus, bool]],
                        with_fills: bool = True) -> ReconcileResult:
        """Compare our live orders (cloid -> (bot_id, coin, status, cancel_requested)) with the venue.

        Fills missed while the stream was down come first (userFills, deduplicated); then every
        live order whose last /exchange answer came before the snapshot: open on the venue ->
        OPEN ack, gone -> CANCELLED ack ("not open on the venue"); orders still in flight are left
        alone. Venue orders carrying one of our cloids that are not live here are strays.
        """
        started = wall_ms()
        fills = [f for f in await self.user_fills() if self.accept_fill(f)] if with_fills else []
        open_orders = await self.open_orders()
        by_cloid = {o.cloid: o for o in open_orders if o.cloid}
        now = wall_ms()
        events: list = list(fills)
        recancel: list[tuple[str, str, str]] = []
        for cloid, (bot_id, coin, status, cancel_requested) in live.items():
            if cloid in self.inflight:
                continue
            if self.response_ms.get(cloid, 0) >= started:
                continue
            o = by_cloid.get(cloid)
            if o is not None:
                self.cloid_of_oid[o.oid] = cloid
                if status == OrderStatus.PENDING:
                    events.append(OrderAck(bot_id, coin, cloid, OrderStatus.OPEN, now, venue_oid=o.oid))
                if cancel_requested:
                    recancel.append((bot_id, coin, cloid))
            else:
                events.append(OrderAck(bot_id, coin, cloid, OrderStatus.CANCELLED, now,
                                       reason="not open on the venue (reconcile)"))
        strays = [o for o in open_orders if o.cloid and o.cloid in self.bot_of_cloid and o.cloid not in live
                  and o.cloid not in self.inflight]
        return ReconcileResult(events, strays, recancel, open_orders, len(fills))

    # ------------------------------------------------------------ websocket

    def subscriptions(self, coins: Iterable[str]) -> list[dict[str, Any]]:
        subs: list[dict[str, Any]] = []
        for c in sorted(set(coins)):
            subs.append({"type": "l2Book", "coin": c})
            subs.append({"type": "trades", "coin": c})
        subs.append({"type": "orderUpdates", "user": self.user})
        subs.append({"type": "userFills", "user": self.user})
        return subs

    def parse_ws(self, msg: dict[str, Any], recv_ms: int) -> list[BookUpdate | TradePrint | OrderAck | Fill]:
        """A WS data message -> core events (unknown channels give nothing). Raises WireError."""
        ch = msg.get("channel")
        if ch == "l2Book":
            coin = (msg.get("data") or {}).get("coin") if isinstance(msg.get("data"), dict) else None
            if coin not in self.instruments:
                return []
            return [mapping.parse_l2_book(msg, self.instruments, recv_ms)]
        if ch == "trades":
            data = msg.get("data")
            if isinstance(data, list):
                data = [t for t in data if isinstance(t, dict) and t.get("coin") in self.instruments]
            return list(mapping.parse_trades({"channel": "trades", "data": data}, self.instruments, recv_ms))
        if ch == "orderUpdates":
            acks = mapping.parse_order_updates(msg, self.bot_of_cloid)
            out: list = []
            for a in acks:
                if a.venue_oid and a.cloid:
                    self.cloid_of_oid[a.venue_oid] = a.cloid
                if a.bot_id:
                    out.append(a)
            return out
        if ch in ("userFills", "user"):
            uf = mapping.parse_user_fills(msg, self.instruments, self.bot_of_cloid, self.cloid_of_oid,
                                          skip_unknown=True)
            return [f for f in uf.fills if self.accept_fill(f)]
        return []

    def make_ws(self, coins: Iterable[str], on_message: Callable[[dict[str, Any], int], None],
                on_connect: Callable[[int], None], on_disconnect: Callable[[str], None]) -> HlWebSocket:
        self.ws = HlWebSocket(self.ws_url, self.subscriptions(coins), on_message, on_connect, on_disconnect,
                              self.limiter, self.rng)
        return self.ws

    def close(self) -> None:
        self.client.rest.close()


def split_places(places: Sequence[Place], batch: bool) -> list[list[Place]]:
    """Request groups: ALO apart from IOC/GTC (ALO-only batches are prioritized by the venue),
    at most MAX_BATCH per request; one order per request when batching is off."""
    if not batch:
        return [[p] for p in places]
    alo = [p for p in places if p.tif == Tif.ALO]
    rest = [p for p in places if p.tif != Tif.ALO]
    out = []
    for group in (alo, rest):
        for i in range(0, len(group), MAX_BATCH):
            out.append(group[i:i + MAX_BATCH])
    return out
