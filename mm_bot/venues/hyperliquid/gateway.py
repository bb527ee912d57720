"""The Hyperliquid side of the venue-neutral live contract (mm_bot/venues/gateway.py).

`HyperliquidMarketData` (public, no key): meta -> instruments, /info l2Book snapshots (REST
fallback), one WebSocket with l2Book + trades of every coin.
`HyperliquidGateway` (the account): signer (agent wallet key from the environment), nonce
allocator, REST client and the user stream (orderUpdates + userFills), translated both ways with
`mapping`:
- reads: clearinghouseState -> positions and equity, frontendOpenOrders, userFills,
  userRateLimit, userFees;
- actions: Place batches -> signed `order` actions (ALO batched apart from IOC/GTC), Cancel
  batches -> `cancelByCloid`, stray orders -> `cancel` by oid, `scheduleCancel` (dead man's
  switch);
- fills deduplicated by fill id across snapshots, reconnects and REST recovery.

The key lives only inside auth.L1Signer; nothing here logs request bodies, and every error text
is built from the venue's reply or the exception type, never from the key.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from mm_bot.core.nonces import NonceAllocator
from mm_bot.core.ratelimit import DualRateLimiter, RequestKind
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
from mm_bot.venues.errors import GatewayError, RateLimited, WireError
from mm_bot.venues.gateway import CancelFailed, GatewayBase, StreamSink, VenueEvent, dispatch, split_by_tif
from mm_bot.venues.hyperliquid import auth, mapping
from mm_bot.venues.hyperliquid.mapping import HlAsset
from mm_bot.venues.hyperliquid.rest import HlRestClient, HlRestError, is_rate_limit_text, urls_for
from mm_bot.venues.hyperliquid.ws import HlWebSocket

log = logging.getLogger("mm_bot.hl.gateway")

VENUE = "hyperliquid"
MAX_BATCH = 40  # one weight step of /exchange; larger batches are split
# Reconcile reads fills from this long before the newest one seen (and never further back than
# FILLS_LOOKBACK_MS): a fill the stream missed is older than the newest only by the outage.
FILLS_OVERLAP_MS = 10 * 60_000
FILLS_LOOKBACK_MS = 24 * 3_600_000
_HL_POST_ONLY = "post only order would have immediately matched"


def _reason(text: str) -> str:
    """Venue reject text, with Hyperliquid's post-only wording tagged so the Bot sees it as benign."""
    if _HL_POST_ONLY in text.lower():
        return f"post-only would cross: {text}"
    return text


def _stream_handler(sink: StreamSink, parse: Callable[[dict[str, Any], int], list]
                    ) -> Callable[[dict[str, Any], int], None]:
    return lambda msg, recv_ms: dispatch(sink, parse, msg, recv_ms)


class HyperliquidMarketData:
    """Public Hyperliquid data: instruments, REST book snapshots, the l2Book + trades stream."""

    venue = VENUE

    def __init__(self, *, mode: str, rest_url: str, ws_url: str, limiter: DualRateLimiter,
                 rng: random.Random | None = None,
                 on_rate_limited: Callable[[str, int, bool], None] | None = None) -> None:
        if mode not in ("testnet", "mainnet"):
            raise GatewayError(f"Hyperliquid mode must be testnet or mainnet, not {mode!r}")
        self.mode = mode
        self.rest_url = rest_url
        self.ws_url = ws_url
        self.limiter = limiter
        self.rng = rng or random.Random()
        self.client = HlRestClient(rest_url, limiter, self.rng, on_rate_limited)
        self.assets: dict[str, HlAsset] = {}
        self.instruments: dict[str, Instrument] = {}
        self.ws: HlWebSocket | None = None

    async def load(self, coins: Iterable[str]) -> dict[str, Instrument]:
        """meta -> instruments of every listed coin; GatewayError for unknown or delisted `coins`."""
        coins = list(coins)
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

    async def book_snapshot(self, coin: str) -> BookUpdate:
        """/info l2Book (weight 2) -> a full snapshot stamped with the local receive time."""
        resp = await self.client.info({"type": "l2Book", "coin": coin})
        return mapping.parse_l2_book(resp, self.instruments, wall_ms())

    def parse(self, msg: dict[str, Any], recv_ms: int) -> list:
        """A market WS message -> BookUpdate / TradePrints (coins we did not load are ignored)."""
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
        return []

    def subscriptions(self, coins: Iterable[str]) -> list[dict[str, Any]]:
        subs: list[dict[str, Any]] = []
        for c in sorted(set(coins)):
            subs.append({"type": "l2Book", "coin": c})
            subs.append({"type": "trades", "coin": c})
        return subs

    def market_stream(self, coins: Iterable[str], sink: StreamSink) -> HlWebSocket:
        name = "hyperliquid market stream"
        self.ws = HlWebSocket(self.ws_url, self.subscriptions(coins), _stream_handler(sink, self.parse),
                              lambda n: sink.on_connect(name, n, True),
                              lambda reason: sink.on_disconnect(name, reason, True), self.limiter, self.rng,
                              on_unreadable=lambda d, t: sink.on_wire_error(WireError("websocket", d), t))
        self.ws.name = name
        return self.ws

    def close(self) -> None:
        self.client.close()


class HyperliquidGateway(GatewayBase):
    """One Hyperliquid account (or vault / sub-account) traded through an agent wallet."""

    venue = VENUE
    deadman = True

    def __init__(self, *, market: HyperliquidMarketData, secret_key: str, account_address: str,
                 limiter: DualRateLimiter, nonces: NonceAllocator | None = None,
                 vault_address: str | None = None, rng: random.Random | None = None,
                 on_rate_limited: Callable[[str, int, bool], None] | None = None) -> None:
        super().__init__()
        self.market = market
        self.mode = market.mode
        self.is_mainnet = self.mode == "mainnet"
        try:
            self.signer = auth.L1Signer(secret_key, is_mainnet=self.is_mainnet,
                                        vault_address=vault_address or None)
            user = vault_address or account_address
            auth._address_bytes(user)
        except auth.SigningError as e:
            # SigningError text never quotes the key.
            raise GatewayError(f"HL_SECRET_KEY / HL_ACCOUNT_ADDRESS: {e}") from None
        self.user = user.lower()
        self.account = self.user
        self.limiter = limiter
        self.nonces = nonces or NonceAllocator()
        self.rng = rng or random.Random()
        # Same REST session as the market data: the venue's weight limit is per IP.
        self.client = market.client
        if on_rate_limited is not None:
            self.client.on_rate_limited = on_rate_limited
        self.ws: HlWebSocket | None = None
        self._fills_n = 2000
        self._fills_since_ms: int | None = None
        # The oids a modify replaced (Hyperliquid gives a modified order a new oid): their updates
        # (a "canceled" for the old oid) are not ours to act on.
        self.replaced_oids: set[str] = set()

    @property
    def agent_address(self) -> str:
        return self.signer.address

    @property
    def instruments(self) -> dict[str, Instrument]:
        return self.market.instruments

    @property
    def assets(self) -> dict[str, HlAsset]:
        return self.market.assets

    # ------------------------------------------------------------ reads

    async def clearinghouse(self) -> Any:
        return await self.client.info({"type": "clearinghouseState", "user": self.user, "dex": ""})

    async def positions(self) -> dict[str, VenuePosition]:
        """clearinghouseState -> positions by coin (qty signed, base units)."""
        now = wall_ms()
        return {c: VenuePosition(c, p.size, p.entry_px or 0.0, 0.0, p.unrealized_pnl, now)
                for c, p in mapping.parse_positions(await self.clearinghouse()).items()}

    async def equity_usd(self) -> float | None:
        try:
            value = mapping.parse_margin_summary(await self.clearinghouse()).account_value
        except WireError as e:
            log.warning("account value unavailable: %s", e)
            return None
        return value if value > 0 else None

    async def open_orders(self) -> list[OpenOrder]:
        """frontendOpenOrders in loaded coins -> core OpenOrders (price ticks, size lots)."""
        resp = await self.client.info({"type": "frontendOpenOrders", "user": self.user})
        out = []
        for o in mapping.parse_open_orders(resp):
            inst = self.instruments.get(o.coin)
            if inst is None:
                continue
            px, sz = mapping.open_order_ticks(o, inst)
            orig = inst.to_lots(o.orig_sz) if o.orig_sz else sz
            tif = {"Alo": Tif.ALO, "Ioc": Tif.IOC}.get(o.tif, Tif.GTC)
            out.append(OpenOrder(o.coin, o.cloid, o.oid, o.side, px, orig, orig - sz,
                                 OrderStatus.PARTIAL if orig > sz else OrderStatus.OPEN, tif, o.reduce_only,
                                 o.timestamp_ms))
        return out

    async def user_fills(self) -> list[Fill]:
        """Recent fills of the account in coins we know, attributed by cloid/oid.

        The first call (start-up recovery) reads `userFills` (the latest 2000); later ones (reconcile)
        read `userFillsByTime` from FILLS_OVERLAP_MS before the newest fill seen, so a busy account's
        long history is not paid for again on every reconcile (the venue charges 20 + 1 per 20 fills
        returned). Fills are deduplicated by id downstream, so the overlap costs nothing but weight.
        """
        if self._fills_since_ms is None:
            req: dict[str, Any] = {"type": "userFills", "user": self.user}
        else:
            req = {"type": "userFillsByTime", "user": self.user, "startTime": self._fills_since_ms,
                   "aggregateByTime": False}
        # Charge what the last answer held (2000 at first): the size of this one is not known yet.
        resp = await self.client.info(req, n_items=self._fills_n)
        self._fills_n = len(resp) if isinstance(resp, list) else 2000
        uf = mapping.parse_user_fills(resp, self.instruments, self.bot_of_cloid, self.cloid_of_oid,
                                      skip_unknown=True)
        newest = max((f.ts_ms for f in uf.fills), default=0)
        floor = wall_ms() - FILLS_LOOKBACK_MS
        self._fills_since_ms = max(floor, self._fills_since_ms or 0, newest - FILLS_OVERLAP_MS)
        return list(uf.fills)

    async def closed_status(self, coin: str, cloid: str) -> tuple[OrderStatus, str] | None:
        """/info orderStatus by cloid (weight 2): how an order that left the book ended."""
        try:
            return mapping.parse_order_status(
                await self.client.info({"type": "orderStatus", "user": self.user, "oid": cloid}))
        except (HlRestError, WireError) as e:
            log.warning("orderStatus %s: %s", cloid, e)
            return None

    async def user_rate_limit(self) -> mapping.RateLimitStatus:
        return mapping.parse_user_rate_limit(
            await self.client.info({"type": "userRateLimit", "user": self.user}))

    async def budget_note(self) -> str | None:
        """userRateLimit: the address's action budget (used of cap + surplus)."""
        rl = await self.user_rate_limit()
        return f"address budget: {rl.n_requests_used} used of {rl.n_requests_cap + rl.n_requests_surplus}"

    async def fees_bps(self) -> tuple[float, float] | None:
        """(maker, taker) fee in bps from userFees, None when unreadable."""
        try:
            resp = await self.client.info({"type": "userFees", "user": self.user})
            return float(resp["userAddRate"]) * 1e4, float(resp["userCrossRate"]) * 1e4
        except (HlRestError, KeyError, TypeError, ValueError) as e:
            log.warning("userFees unavailable (%s); using the configured fees", type(e).__name__)
            return None

    # ------------------------------------------------------------ actions

    def _signed(self, action: dict[str, Any]) -> dict[str, Any]:
        nonce = self.nonces.next(self.signer.address, wall_ms())
        return self.signer.body(action, nonce)

    def split_places(self, places: Sequence[Place], batch: bool) -> list[list[Place]]:
        """ALO apart from IOC/GTC (ALO-only batches are prioritized by the venue), <= 40 a request."""
        return split_by_tif(places, batch, MAX_BATCH)

    async def send_places(self, places: Sequence[Place], charged: bool = True) -> tuple[list[VenueEvent], bool]:
        """One signed `order` request for `places` (<= 40, one tif family).

        Returns (acks, uncertain): uncertain is True when the request failed in transport, so
        the orders may or may not rest (the caller reconciles); a 429 rejects them all.
        """
        self.begin(places)
        try:
            body = self._signed(mapping.places_to_action(places, self.assets))
        except (ValueError, auth.SigningError) as e:
            return self.reject_all(places, f"not sent: {e}"), False
        try:
            resp = await self.client.exchange(body, RequestKind.PLACE, len(places), charged=charged)
        except RateLimited:
            return self.reject_all(places, "rate limited (HTTP 429): not placed"), False
        except HlRestError as e:
            log.warning("order request failed: %s", e)
            self.done(places)
            return [], True
        self.sent_places += len(places)
        now = wall_ms()
        self.done(places, now)
        try:
            acks = mapping.order_response_to_acks(resp, places, now)
        except WireError as e:
            log.warning("order response unreadable: %s", e)
            return [], True
        out: list[VenueEvent] = []
        for a in acks:
            self.note_oid(a.venue_oid, a.cloid)
            if a.status == OrderStatus.REJECTED:
                if is_rate_limit_text(a.reason):
                    self.client.note_rate_limited("/exchange order")
                a = OrderAck(a.bot_id, a.coin, a.cloid, a.status, a.ts_ms, a.venue_oid, _reason(a.reason))
            out.append(a)
        return out, False

    async def send_cancels(self, cancels: Sequence[Cancel], charged: bool = True) -> tuple[list[VenueEvent], bool]:
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
        self.done(cancels, now)
        try:
            return mapping.cancel_response_to_events(resp, cancels, now), False
        except WireError as e:
            log.warning("cancel response unreadable: %s", e)
            return [], True

    async def send_modifies(self, items: Sequence[tuple[Modify, int]], charged: bool = True
                            ) -> tuple[list[VenueEvent], bool]:
        """One signed `batchModify` for `items` (<= 40); see Gateway.send_modifies.

        Hyperliquid gives a modified order a new oid; the old oid's updates are ignored from the
        moment the modify is sent (re-admitted if it is refused), so its "canceled" never closes
        the order on our side.
        """
        mods = [m for m, _ in items]
        now = wall_ms()
        try:
            body = self._signed(mapping.modifies_to_action(items, self.assets))
        except (ValueError, auth.SigningError) as e:
            return [ModifyFailed(m.bot_id, m.coin, m.cloid, f"not sent: {e}", now) for m in mods], False
        old = {m.cloid: self.oid_of_cloid.get(m.cloid, "") for m in mods}
        self.replaced_oids |= {oid for oid in old.values() if oid}
        self.begin(mods)
        try:
            resp = await self.client.exchange(body, RequestKind.MODIFY, len(mods), charged=charged)
        except RateLimited:
            self._readmit(old.values())
            self.done(mods)
            now = wall_ms()
            return [ModifyFailed(m.bot_id, m.coin, m.cloid, "rate limited (HTTP 429): not modified", now)
                    for m in mods], False
        except HlRestError as e:
            log.warning("modify request failed: %s", e)
            self.done(mods)
            return [], True
        now = wall_ms()
        self.done(mods, now)
        places = [Place(m.bot_id, m.coin, m.cloid, m.side, m.px, rest, m.tif, m.reduce_only) for m, rest in items]
        try:
            acks = mapping.order_response_to_acks(resp, places, now)
        except WireError as e:
            log.warning("modify response unreadable: %s", e)
            return [], True
        out: list[VenueEvent] = []
        for m, a in zip(mods, acks, strict=True):
            if a.status == OrderStatus.REJECTED:
                self._readmit([old[m.cloid]])
                if is_rate_limit_text(a.reason):
                    self.client.note_rate_limited("/exchange batchModify")
                out.append(ModifyFailed(m.bot_id, m.coin, m.cloid, _reason(a.reason), now))
                continue
            self.note_oid(a.venue_oid, m.cloid)
            # FILLED (a GTC modify that crossed) reaches the Bot as such; its fills follow.
            out.append(a)
        self.sent_modifies += len(mods)
        return out, False

    def _readmit(self, oids: Iterable[str]) -> None:
        """A modify that did not happen: the old oid is the order's again."""
        self.replaced_oids -= set(oids)

    async def cancel_open(self, orders: Sequence[OpenOrder]) -> list[str]:
        """Cancel open orders by (asset, oid), charged here; '' per success, else the error text."""
        out: list[str] = []
        for i in range(0, len(orders), MAX_BATCH):
            chunk = list(orders[i:i + MAX_BATCH])
            pairs = [(self.assets[o.coin].asset_id, int(o.venue_oid)) for o in chunk]
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
        return mapping.exchange_error(resp)

    # ------------------------------------------------------------ user stream

    def parse(self, msg: dict[str, Any], recv_ms: int) -> list[OrderAck | Fill]:
        """A user WS message -> OrderAcks / new Fills of our bots. Raises WireError."""
        ch = msg.get("channel")
        if ch == "orderUpdates":
            out: list = []
            for a in mapping.parse_order_updates(msg, self.bot_of_cloid):
                if a.venue_oid in self.replaced_oids:
                    continue  # the order this oid named was modified into a new oid
                if a.venue_oid and a.cloid and a.status == OrderStatus.OPEN:
                    self.note_oid(a.venue_oid, a.cloid)
                if a.bot_id:
                    out.append(a)
            return out
        if ch in ("userFills", "user"):
            uf = mapping.parse_user_fills(msg, self.instruments, self.bot_of_cloid, self.cloid_of_oid,
                                          skip_unknown=True)
            return [f for f in uf.fills if self.accept_fill(f)]
        return []

    def private_streams(self, sink: StreamSink) -> list[HlWebSocket]:
        name = "hyperliquid user stream"
        subs = [{"type": "orderUpdates", "user": self.user}, {"type": "userFills", "user": self.user}]
        self.ws = HlWebSocket(self.market.ws_url, subs, _stream_handler(sink, self.parse),
                              lambda n: sink.on_connect(name, n, False),
                              lambda reason: sink.on_disconnect(name, reason, False), self.limiter, self.rng,
                              on_unreadable=lambda d, t: sink.on_wire_error(WireError("websocket", d), t))
        self.ws.name = name
        return [self.ws]

    def stats(self) -> dict[str, int]:
        ws = [w for w in (self.market.ws, self.ws) if w is not None]
        return {"places": self.sent_places, "cancels": self.sent_cancels, "modifies": self.sent_modifies,
                "requests": self.client.requests,
                "rate_limited": self.client.rate_limited, "ws_connections": sum(w.connections for w in ws)}

    def close(self) -> None:
        self.market.close()


def market_data(mode: str, environ: Mapping[str, str], limiter: DualRateLimiter, rng: random.Random,
                on_rate_limited: Callable[[str, int, bool], None] | None = None) -> HyperliquidMarketData:
    """Public data for `mode` (testnet | mainnet); HL_REST_URL / HL_WS_URL override the URLs."""
    try:
        rest_url, ws_url = urls_for(mode, environ)
    except ValueError as e:
        raise GatewayError(str(e)) from None
    return HyperliquidMarketData(mode=mode, rest_url=rest_url, ws_url=ws_url, limiter=limiter, rng=rng,
                                 on_rate_limited=on_rate_limited)


def build_gateway(mode: str, environ: Mapping[str, str], limiter: DualRateLimiter, market: HyperliquidMarketData,
                  nonces: NonceAllocator, rng: random.Random,
                  on_rate_limited: Callable[[str, int, bool], None] | None = None) -> HyperliquidGateway:
    """The account from HL_SECRET_KEY (agent wallet), HL_ACCOUNT_ADDRESS and optional HL_VAULT_ADDRESS."""
    return HyperliquidGateway(market=market, secret_key=environ.get("HL_SECRET_KEY", ""),
                              account_address=environ.get("HL_ACCOUNT_ADDRESS", ""), limiter=limiter,
                              nonces=nonces, vault_address=environ.get("HL_VAULT_ADDRESS") or None, rng=rng,
                              on_rate_limited=on_rate_limited)
