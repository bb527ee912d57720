"""The StandX perps venue for the live runner: StandxMarketData (public) and StandxGateway (account).

Implements mm_bot.venues.gateway.MarketData / Gateway on top of auth (JWT + ed25519 body
signatures), rest (REST client), ws (market and account streams) and mapping (wire <-> core).

- Instruments, fees: query_symbol_info (tick/lot from price/qty_tick_decimals; maker/taker fee
  rates of the symbol, reported in bps). StandX has a minimum order quantity, not a minimum
  notional (min_notional_usd stays 0; the venue refuses smaller orders).
- Equity: query_balance `equity` (best effort: None when unreadable). Positions: query_positions
  (qty taken as signed, UNVERIFIED). Open orders: query_open_orders.
- Placing: one POST new_order per Place (no batch endpoint): the reply `{code:0}` means ACCEPTED,
  NOT executed, so no ack is produced then (the order stays PENDING, mapping.result_to_ack); the
  order stream then says open / filled / rejected. An ALO order that would cross is rejected LATER
  on the order stream (status `rejected`): its ack reason reads "post-only would cross: ..." so the
  Bot treats it as benign quoting. (UNVERIFIED: the docs show ALO rejects on the ws-api Order
  Response Stream; that the `order` channel also pushes them is assumed. Should it not, such an
  order stays PENDING until the next reconcile finds it not open and closes it.) `{code != 0}` or an HTTP 4xx -> REJECTED now; HTTP 429 -> every
  order REJECTED "rate limited (HTTP 429)" and the limiter backs off; a transport error or 5xx ->
  uncertain (the runner reconciles).
- Cancelling: POST cancel_orders by cl_ord_id_list (our cancels) or order_id_list (cancel_open);
  the reply (documented as `[]`) is read defensively by mapping.cancel_failures; refused ids ->
  CancelFailed. Confirmations come from the order stream (`canceled`).
- Fills: from the order stream via StandxOrderTracker (cumulative fill_qty / fill_avg_price ->
  one Fill per increase, id '<order id>-<cumulative lots>'), and for recovery from GET
  query_trades mapped to the SAME id scheme (cumulative lots per order over the trades returned;
  trades carry no client order id, so order ids are resolved through the order stream, open
  orders and, for unknown ones, one query_orders call). Both sources are deduplicated by
  accept_fill, which also tracks the highest cumulative lots accounted per order, so a stream push
  summarising two trades and the two REST trades never count a lot twice (a stream fill that
  partly overlaps fills already taken from REST is trimmed to the new lots, at the stream's
  average-derived price: an approximation, only in that rare overlap).
- Dead man's switch: StandX documents none. `deadman = False` and schedule_cancel() returns "" without
  doing anything; the runner relies on its shutdown sweep (and a restart cancels leftovers).
- Position pushes update `last_positions` (not sent to the sink: the runner reads positions by REST).

Secrets (STANDX_JWT, STANDX_REQUEST_SIGNING_KEY) live only in the StandxSigner; no error text or log
line built here contains them, a signature or a request body.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mm_bot.core.nonces import NonceAllocator
from mm_bot.core.ratelimit import DualRateLimiter
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
from mm_bot.venues.errors import GatewayError, RateLimited, RestError, WireError
from mm_bot.venues.gateway import CancelFailed, GatewayBase, StreamSink, VenueEvent, split_by_tif
from mm_bot.venues.standx import mapping
from mm_bot.venues.standx.auth import StandxSigner
from mm_bot.venues.standx.rest import ApiRejected, StandxRest, urls_for
from mm_bot.venues.standx.ws import StandxAccountStream, StandxMarketStream

log = logging.getLogger("mm_bot.standx.gateway")

VENUE = "standx"
JWT_ENV = "STANDX_JWT"
KEY_ENV = "STANDX_REQUEST_SIGNING_KEY"
# cancel_orders ids per request (no documented maximum; kept modest).
MAX_CANCEL_IDS = 100
# Venue wording of a post-only refusal (DOC ws-api example: "alo order rejected").
_ALO_TEXT = re.compile(r"\balo\b|post[ -]?only|would cross|immediately match", re.IGNORECASE)
_JWT_SEGMENT = re.compile(r"^[A-Za-z0-9_\-=]+$")


def post_only_reason(text: str) -> str:
    """A venue reject text, tagged "post-only would cross" when it is an ALO reject (benign)."""
    if _ALO_TEXT.search(text) and "post-only would cross" not in text.lower():
        return f"post-only would cross: {text}"
    return text


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, decoded WITHOUT verification (labels and expiry hints only); {} when
    unreadable."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def jwt_address(token: str) -> str:
    """The `address` claim of a JWT payload (unverified: a label only); '' when absent or unreadable."""
    claims = jwt_claims(token)
    for key in ("address", "wallet", "addr"):
        v = claims.get(key)
        if isinstance(v, str) and v and len(v) <= 128:
            return v
    return ""


def check_jwt(token: str, now_ms: int) -> None:
    """GatewayError when STANDX_JWT is missing, not shaped like a JWT or past its (unverified)
    `exp` claim; never quoting the token."""
    if not token:
        raise GatewayError(f"{JWT_ENV} is not set (the StandX JWT from sign-in or the API token page)")
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(p and _JWT_SEGMENT.match(p) for p in parts):
        raise GatewayError(f"{JWT_ENV} is malformed: expected a JWT (three base64url segments joined by '.')")
    # `exp` (epoch seconds), when readable: an expired token would only fail every request later.
    exp = jwt_claims(token).get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool) and 0 < exp < 1e11:
        left_s = exp - now_ms / 1000
        when = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%d %H:%M UTC")
        if left_s <= 0:
            raise GatewayError(f"{JWT_ENV} expired at {when}: sign in again (StandX tokens last 7 days by default)")
        if left_s < 86_400:
            log.warning("%s expires at %s (in %.1f h)", JWT_ENV, when, left_s / 3600)


class StandxMarketData:
    """Public StandX data: instruments, REST book snapshots, the shared depth_book stream."""

    venue = VENUE

    def __init__(self, mode: str, rest_url: str, ws_url: str, limiter: DualRateLimiter,
                 rng: random.Random | None = None, on_rate_limited=None) -> None:
        self.mode = mode
        self.rest_url = rest_url
        self.ws_url = ws_url
        self.limiter = limiter
        self.rng = rng or random.Random()
        self.rest = StandxRest(rest_url, limiter, None, self.rng, on_rate_limited)
        self.instruments: dict[str, Instrument] = {}
        # coin -> its query_symbol_info row (fees, min_order_qty...).
        self.symbol_rows: dict[str, dict[str, Any]] = {}
        self.stream: StandxMarketStream | None = None
        self._closed = False

    async def load(self, coins: Iterable[str]) -> dict[str, Instrument]:
        """Instruments of `coins` from query_symbol_info; GatewayError for an unlisted or disabled coin."""
        wanted = sorted(set(coins))
        reply = await self.rest.query_symbol_info()
        try:
            rows = [reply] if isinstance(reply, dict) else list(reply)
            insts = mapping.parse_symbol_info(rows)
        except (WireError, TypeError) as e:
            raise GatewayError(f"query_symbol_info unreadable: {e}") from None
        by_coin = {}
        for r in rows:
            if isinstance(r, dict):
                try:
                    by_coin[mapping.symbol_to_coin(r.get("symbol"))] = r
                except WireError:
                    continue
        missing = [c for c in wanted if c not in insts]
        if missing:
            raise GatewayError(f"coins not listed on StandX {self.mode}: {', '.join(missing)}")
        # Optional flags in the docs' examples: `enabled` (bool), `status` ("trading").
        off = [c for c in wanted if by_coin[c].get("enabled") is False
               or by_coin[c].get("status") not in (None, "trading")]
        if off:
            raise GatewayError(f"coins not trading on StandX {self.mode}: {', '.join(off)}")
        for c in wanted:
            self.instruments[c] = insts[c]
            self.symbol_rows[c] = by_coin[c]
        return {c: self.instruments[c] for c in wanted}

    def fees(self, coin: str) -> tuple[float, float] | None:
        """(maker, taker) fee RATES of a loaded coin (0.0001 = 1 bp), None when unreadable."""
        row = self.symbol_rows.get(coin)
        if row is None:
            return None
        try:
            return mapping.symbol_fees(row)
        except WireError:
            return None

    async def book_snapshot(self, coin: str) -> BookUpdate:
        inst = self.instruments[coin]
        reply = await self.rest.query_depth_book(mapping.coin_to_symbol(coin))
        return mapping.parse_depth_snapshot(reply, inst, wall_ms())

    def market_stream(self, coins: Iterable[str], sink: StreamSink) -> StandxMarketStream:
        self.stream = StandxMarketStream(self.ws_url, coins, self.instruments, sink, self.limiter, self.rng)
        return self.stream

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.rest.close()


class StandxGateway(GatewayBase):
    """The private side of one StandX account (see the module docstring)."""

    venue = VENUE
    deadman = False

    def __init__(self, *, mode: str, signer: StandxSigner, market: StandxMarketData, rest_url: str,
                 ws_url: str, limiter: DualRateLimiter, rng: random.Random | None = None,
                 on_rate_limited=None, account: str = VENUE) -> None:
        super().__init__()
        if mode not in ("testnet", "mainnet"):
            raise GatewayError(f"StandX live mode must be testnet or mainnet, not {mode!r}")
        self.mode = mode
        self.account = account
        self.market = market
        # The same dict as the market's: filled in place by market.load().
        self.instruments: dict[str, Instrument] = market.instruments
        self.signer = signer
        self.rest_url = rest_url
        self.ws_url = ws_url
        self.limiter = limiter
        self.rng = rng or random.Random()
        self.nonces: NonceAllocator | None = None
        self.rest = StandxRest(rest_url, limiter, signer, self.rng, on_rate_limited)
        self.trackers: dict[str, mapping.StandxOrderTracker] = {}
        # venue order id -> highest cumulative filled lots already accounted (stream or REST).
        self.accounted: dict[str, int] = {}
        self._accounted_from_seen = 0
        self.last_positions: dict[str, VenuePosition] = {}
        self.stream: StandxAccountStream | None = None
        # Order ids known not to be ours (query_orders did not name a cloid of ours).
        self._foreign_oids: set[str] = set()

    # ------------------------------------------------------------ reads

    async def fees_bps(self) -> tuple[float, float] | None:
        """(maker, taker) of the first loaded coin in bps (rates x 1e4), from query_symbol_info.
        Per-symbol fees that differ between coins: the first coin's (a warning is logged)."""
        fees = {c: self.market.fees(c) for c in sorted(self.instruments)}
        got = [f for f in fees.values() if f is not None]
        if not got:
            return None
        if len(set(got)) > 1:
            log.warning("StandX fees differ between coins %s; using the first coin's", fees)
        maker, taker = got[0]
        return maker * 1e4, taker * 1e4

    async def equity_usd(self) -> float | None:
        try:
            return mapping.parse_balance_equity(await self.rest.query_balance())
        except (RestError, WireError) as e:
            log.warning("query_balance unavailable (%s)", type(e).__name__)
            return None

    async def positions(self) -> dict[str, VenuePosition]:
        rows = mapping.parse_positions(await self.rest.query_positions(), wall_ms())
        out: dict[str, VenuePosition] = {}
        for p in rows:
            if p.coin in self.instruments:
                # Several rows per coin (isolated + cross) add up.
                prev = out.get(p.coin)
                out[p.coin] = p if prev is None else VenuePosition(
                    p.coin, prev.qty + p.qty, p.entry_px, p.mark_px, prev.unrealized_pnl + p.unrealized_pnl,
                    max(prev.ts_ms, p.ts_ms))
        return out

    async def open_orders(self) -> list[OpenOrder]:
        orders = mapping.parse_open_orders(await self.rest.query_open_orders(), self.instruments)
        for o in orders:
            if o.cloid:
                self.cloid_of_oid[o.venue_oid] = o.cloid
        return orders

    async def closed_status(self, coin: str, cloid: str) -> tuple[OrderStatus, str] | None:
        """GET query_order by cl_ord_id: how an order that left the book ended (the reply is taken to
        be one order record, as query_orders rows are: UNVERIFIED)."""
        try:
            u = mapping.parse_order(await self.rest.query_order(cloid), self.instruments, "query_order")
        except (RestError, WireError) as e:
            log.warning("query_order %s: %s", cloid, e)
            return None
        return u.status, u.status.value

    async def user_fills(self) -> list[Fill]:
        """The account's recent trades (query_trades, up to 500) as Fills with the stream's id
        scheme; order ids resolved to cloids (one query_orders call for unknown ones)."""
        trades = mapping.parse_trades(await self.rest.query_trades(), self.instruments)
        unknown = {t.venue_oid for t in trades
                   if t.venue_oid not in self.cloid_of_oid and t.venue_oid not in self._foreign_oids}
        if unknown:
            try:
                for u in mapping.parse_orders(await self.rest.query_orders(), self.instruments):
                    if u.cloid:
                        self.cloid_of_oid.setdefault(u.venue_oid, u.cloid)
            except (RestError, WireError) as e:
                log.warning("query_orders unavailable (%s): some fills may stay unattributed", type(e).__name__)
            else:
                self._foreign_oids |= {o for o in unknown if o not in self.cloid_of_oid}
        makers = {c: f[0] for c in self.instruments if (f := self.market.fees(c)) is not None}
        return mapping.trades_to_fills(trades, self.instruments, self.cloid_of_oid, self.bot_of, makers)

    # ------------------------------------------------------------ fills

    def _sync_accounted(self) -> None:
        """Fold fill ids the runner added to seen_fills (earlier runs) into `accounted`."""
        if len(self.seen_fills) == self._accounted_from_seen:
            return
        for fid in self.seen_fills:
            parts = mapping.split_fill_id(fid)
            if parts is not None and parts[1] > self.accounted.get(parts[0], 0):
                self.accounted[parts[0]] = parts[1]
        self._accounted_from_seen = len(self.seen_fills)

    def accept_fill(self, f: Fill) -> bool:
        """True the first time a fill id is seen, the fill is ours and it adds lots beyond what was
        already accounted for its order (see the module docstring)."""
        if not f.bot_id or f.fill_id in self.seen_fills:
            return False
        self._sync_accounted()
        parts = mapping.split_fill_id(f.fill_id)
        if parts is not None:
            oid, cum = parts
            if cum <= self.accounted.get(oid, 0):
                self.seen_fills.add(f.fill_id)
                self._accounted_from_seen = len(self.seen_fills)
                return False
            self.accounted[oid] = cum
        self.seen_fills.add(f.fill_id)
        self._accounted_from_seen = len(self.seen_fills)
        return True

    def _tracker(self, coin: str) -> mapping.StandxOrderTracker:
        tr = self.trackers.get(coin)
        if tr is None:
            fees = self.market.fees(coin) or (0.0001, 0.0004)
            tr = mapping.StandxOrderTracker(self.instruments, self.bot_of, fees[0], fees[1])
            self.trackers[coin] = tr
        return tr

    def on_order_push(self, msg: dict[str, Any], recv_ms: int) -> list[VenueEvent]:
        """An `order` channel push -> our OrderAcks and new Fills (WireError when unreadable)."""
        data = msg.get("data")
        try:
            symbol_coin = mapping.symbol_to_coin(data.get("symbol") if isinstance(data, dict) else None)
        except WireError as e:
            raise WireError("order", e.detail) from None
        if symbol_coin not in self.instruments:
            return []
        update = mapping.parse_ws_order(msg, self.instruments)
        if update.cloid:
            self.cloid_of_oid[update.venue_oid] = update.cloid
        remark = str(data.get("remark") or "")
        out: list[VenueEvent] = []
        for ev in self._tracker(update.coin).on_order(update):
            if not ev.bot_id:
                continue
            if isinstance(ev, Fill):
                ev = self._trim(ev)
                if ev is None or not self.accept_fill(ev):
                    continue
            elif ev.status == OrderStatus.REJECTED:
                # The push carries no reason field (at most `remark`); an ALO order is rejected
                # asynchronously only when it would cross (DOC perps-http new_order note).
                base = remark or ("alo order rejected" if update.tif == Tif.ALO else "rejected by the venue")
                reason = base
                if update.tif == Tif.ALO and "post-only would cross" not in base:
                    reason = f"post-only would cross: {base}"
                ev = OrderAck(ev.bot_id, ev.coin, ev.cloid, ev.status, ev.ts_ms, ev.venue_oid, reason)
            out.append(ev)
        return out

    def _trim(self, f: Fill) -> Fill | None:
        """A stream fill reduced to the lots beyond what is already accounted for its order."""
        self._sync_accounted()
        parts = mapping.split_fill_id(f.fill_id)
        if parts is None:
            return f
        oid, cum = parts
        new = cum - self.accounted.get(oid, 0)
        if new <= 0:
            return None
        if new >= f.sz:
            return f
        fee = f.fee_usd * new / f.sz
        return Fill(f.bot_id, f.coin, f.cloid, f.fill_id, f.side, f.px, new, f.maker, round(fee, 12), f.ts_ms,
                    f.remaining, f.counterparty)

    def on_position_push(self, msg: dict[str, Any], recv_ms: int) -> None:
        p = mapping.parse_position_push(msg, recv_ms)
        self.last_positions[p.coin] = p

    # ------------------------------------------------------------ actions

    async def send_places(self, places: Sequence[Place], charged: bool = True) -> tuple[list[VenueEvent], bool]:
        """One new_order per Place (split_places gives groups of one; a longer group is sent one
        by one). Accepted orders produce no event here (they stay PENDING until the order stream
        answers)."""
        events: list[VenueEvent] = []
        uncertain = False
        for p in places:
            evs, unc = await self._place_one(p, charged)
            events += evs
            uncertain = uncertain or unc
        return events, uncertain

    async def _place_one(self, p: Place, charged: bool) -> tuple[list[VenueEvent], bool]:
        self.begin([p])
        inst = self.instruments.get(p.coin)
        try:
            if inst is None:
                raise ValueError(f"no instrument for {p.coin}")
            body = mapping.place_to_new_order(p, inst)
        except ValueError as e:
            return self.reject_all([p], f"not sent: {e}"), False
        try:
            reply = await self.rest.new_order(body, charged=charged)
        except RateLimited:
            return self.reject_all([p], "rate limited (HTTP 429): not placed"), False
        except ApiRejected as e:
            return self.reject_all([p], post_only_reason(e.venue_message or str(e))), False
        except RestError as e:
            if 400 <= e.status < 500:
                # A definite refusal (bad request, auth): nothing was placed.
                return self.reject_all([p], str(e)), False
            log.warning("new_order failed: %s", e)
            self.done([p])
            return [], True
        self.sent_places += 1
        now = wall_ms()
        self.done([p], now)
        try:
            ack = mapping.result_to_ack(mapping.parse_api_result(reply, "new_order"), p, now)
        except WireError as e:
            log.warning("new_order reply unreadable: %s", e)
            return [], True
        if ack is None:
            return [], False
        return [OrderAck(ack.bot_id, ack.coin, ack.cloid, ack.status, ack.ts_ms, ack.venue_oid,
                         post_only_reason(ack.reason))], False

    async def send_cancels(self, cancels: Sequence[Cancel], charged: bool = True) -> tuple[list[VenueEvent], bool]:
        """cancel_orders by cl_ord_id_list. (events, failed): failed when no answer came (transport
        error, 5xx, 429): nothing is known, retry later."""
        if not cancels:
            return [], False
        cloids = [c.cloid for c in cancels]
        try:
            reply = await self.rest.cancel_orders(mapping.cancel_orders_body(cloids), charged=charged)
        except ApiRejected as e:
            return self._cancel_refused(cancels, dict.fromkeys(cloids, e.venue_message or str(e))), False
        except RateLimited as e:
            log.warning("cancel_orders rate limited: %s", e)
            return [], True
        except RestError as e:
            if 400 <= e.status < 500:
                return self._cancel_refused(cancels, dict.fromkeys(cloids, str(e))), False
            log.warning("cancel_orders failed: %s", e)
            return [], True
        self.sent_cancels += len(cancels)
        return self._cancel_refused(cancels, mapping.cancel_failures(reply, cloids)), False

    def _cancel_refused(self, cancels: Sequence[Cancel], refused: Mapping[str, str]) -> list[VenueEvent]:
        now = wall_ms()
        self.done(cancels, now)
        return [CancelFailed(c.bot_id, c.coin, c.cloid, refused[c.cloid], now) for c in cancels if c.cloid in refused]

    async def send_modifies(self, items: Sequence[tuple[Modify, int]], charged: bool = True
                            ) -> tuple[list[VenueEvent], bool]:
        """StandX documents no order edit: every modify is refused here, unsent (the config refuses
        `requote_with_modify` for StandX bots, so this only guards against a misrouted action)."""
        now = wall_ms()
        return [ModifyFailed(m.bot_id, m.coin, m.cloid, "not sent: StandX has no order modify endpoint", now)
                for m, _ in items], False

    async def cancel_open(self, orders: Sequence[OpenOrder]) -> list[str]:
        """cancel_orders by order_id_list (charged here): '' per success, else the error text."""
        out: list[str] = []
        for i in range(0, len(orders), MAX_CANCEL_IDS):
            chunk = list(orders[i:i + MAX_CANCEL_IDS])
            ids = [int(o.venue_oid) for o in chunk]
            try:
                reply = await self.rest.cancel_orders({"order_id_list": ids})
            except RestError as e:
                out += [str(e)] * len(chunk)
                continue
            refused = mapping.cancel_failures(reply, [str(x) for x in ids])
            out += [refused.get(o.venue_oid, "") for o in chunk]
        return out

    async def schedule_cancel(self, time_ms: int | None) -> str:
        """No venue-side dead man's switch on StandX (none documented): nothing to arm, ''.
        The runner's shutdown sweep and the start-up cancel of leftovers cover it."""
        return ""

    async def budget_note(self) -> str | None:
        return None

    def split_places(self, places: Sequence[Place], batch: bool) -> list[list[Place]]:
        """One order per request: StandX has no batch order endpoint."""
        return split_by_tif(places, False, 1)

    # ------------------------------------------------------------ streams

    def private_streams(self, sink: StreamSink) -> list[StandxAccountStream]:
        self.stream = StandxAccountStream(self.ws_url, self.signer, sink, self.on_order_push, self.on_position_push,
                                          self.limiter, self.rng)
        return [self.stream]

    def stats(self) -> dict[str, int]:
        market_ws = self.market.stream.connections if self.market.stream else 0
        account_ws = self.stream.connections if self.stream else 0
        return {
            "places": self.sent_places,
            "cancels": self.sent_cancels,
            "requests": self.rest.requests + self.market.rest.requests,
            "rate_limited": self.rest.rate_limited + self.market.rest.rate_limited,
            "ws_connections": market_ws + account_ws,
        }

    def close(self) -> None:
        self.rest.close()
        self.market.close()


# ---------------------------------------------------------------- factories (called by the runner)


def market_data(mode: str, environ: Mapping[str, str], limiter: DualRateLimiter, rng: random.Random,
                on_rate_limited=None) -> StandxMarketData:
    """Public StandX data for `mode` (URLs per rest.urls_for; STANDX_API_BASE / STANDX_WS_URL override)."""
    try:
        rest_url, ws_url = urls_for(mode, environ)
    except ValueError as e:
        raise GatewayError(str(e)) from None
    return StandxMarketData(mode, rest_url, ws_url, limiter, rng, on_rate_limited)


def build_gateway(mode: str, environ: Mapping[str, str], limiter: DualRateLimiter, market: StandxMarketData,
                  nonces: NonceAllocator, rng: random.Random, on_rate_limited=None) -> StandxGateway:
    """The account gateway from STANDX_JWT and STANDX_REQUEST_SIGNING_KEY (GatewayError, never quoting
    either, when missing or malformed). `nonces` is unused: StandX signs with request ids, not nonces."""
    if mode not in ("testnet", "mainnet"):
        raise GatewayError(f"StandX live mode must be testnet or mainnet, not {mode!r}")
    token = (environ.get(JWT_ENV) or "").strip()
    check_jwt(token, wall_ms())
    key = (environ.get(KEY_ENV) or "").strip()
    if not key:
        raise GatewayError(f"{KEY_ENV} is not set (the ed25519 request-signing key bound to the JWT)")
    try:
        signer = StandxSigner(key, token)
    except (ValueError, TypeError):
        # The parser's message may quote a character of the key: say only what is expected.
        raise GatewayError(f"{KEY_ENV} is malformed: expected an ed25519 key of 32 bytes "
                           "(base58, or 64 hex characters)") from None
    rest_url, ws_url = urls_for(mode, environ)
    return StandxGateway(mode=mode, signer=signer, market=market, rest_url=rest_url, ws_url=ws_url,
                         limiter=limiter, rng=rng, on_rate_limited=on_rate_limited,
                         account=jwt_address(token) or VENUE)
