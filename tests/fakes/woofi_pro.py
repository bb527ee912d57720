"""A fake WOOFi Pro (Orderly) on 127.0.0.1: REST + public and private WebSockets, real wire format.

One asyncio loop in a background thread hosts a minimal HTTP/1.1 server (asyncio streams,
keep-alive) and a `websockets` server (paths /ws/stream/{account_id} and
/v2/ws/private/stream/{account_id}), both on port 0. Books are seeded from the recorded payloads
in ../shared/fixtures/orderly when present (WOO from ws_orderbook.json, NEAR from
ws_request_orderbook.json; BTC is synthetic) and change every push_every_s: each change goes out
as a `{sym}@orderbookupdate` delta whose prevTs is the ts of the previous one; `{sym}@orderbook`
subscribers get a full snapshot every second; `request orderbook` (WS) and GET /v1/orderbook (REST)
give a snapshot stamped with the ts of the last delta applied.

What a real venue checks, it checks: every private REST request must carry the registered
orderly-key and account id, a timestamp within 300 s of now and an ed25519 signature (base64url or
standard base64) over exactly `timestamp + METHOD + path?query + body` as received; the private
WS must authenticate (signature over the timestamp) before it can subscribe. Orders must be on the
tick/lot grid and above the minimum notional; POST_ONLY orders that would cross are accepted by
REST and then refused on the executionreport stream; crossing LIMIT/IOC orders fill at once.

PUT /v1/order edits a resting order in place (EDIT_SENT, then the stream's report; see _edit_order).

Test controls (thread-safe, from the test thread): resting(), position(coin), fail_next(n, status)
(HTTP 429 + code -1003 by default), drop_ws(book_delay_s) (abort every WS; snapshots held back for
book_delay_s), trade_through(coin, side) (fills our best resting order as maker: executionreport,
position push, public trade), skip_update(coin, n) (deltas applied but not sent: a prevTs gap),
entries(kind) (a log of everything), set_ping_every(s), set_ws_requests(False) (snapshot requests
unanswered: clients must fall back to REST), shift_book(coin, ticks) (the market moves),
set_edit_style(style) (how accepted edits are reported).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from mm_bot.venues.woofi_pro.auth import b58decode
from tests.fakes.base import FakeVenueServer

FIXTURES = (Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "orderly").resolve()
MAKER_FEE = Decimal("0.0002")
TAKER_FEE = Decimal("0.0005")
WINDOW_MS = 300_000
# coin -> (quote_tick, base_tick, min_notional)
SYMBOLS = {
    "WOO": (Decimal("0.00001"), Decimal("0.01"), Decimal("10")),
    "NEAR": (Decimal("0.001"), Decimal("0.01"), Decimal("10")),
    "BTC": (Decimal("0.1"), Decimal("0.00001"), Decimal("10")),
}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def sym(coin: str) -> str:
    return f"PERP_{coin}_USDC"


def coin_of(symbol: Any) -> str | None:
    if isinstance(symbol, str) and symbol.startswith("PERP_") and symbol.endswith("_USDC"):
        coin = symbol[5:-5]
        return coin if coin in SYMBOLS else None
    return None


def _num(d: Decimal) -> float:
    return float(d)


def _dec(v: Any) -> Decimal:
    if isinstance(v, bool) or v is None:
        raise ValueError("not a number")
    return Decimal(str(v))


def _seed_books() -> dict[str, dict[str, dict[Decimal, Decimal]]]:
    books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}

    def levels(rows) -> dict[Decimal, Decimal]:
        return {Decimal(str(p)): Decimal(str(q)) for p, q in rows}

    ob = FIXTURES / "ws_orderbook.json"
    if ob.exists():
        d = json.loads(ob.read_text())["msg"]["data"]
        books["WOO"] = {"bids": levels(d["bids"]), "asks": levels(d["asks"])}
    else:
        books["WOO"] = {"bids": {Decimal("0.30891"): Decimal("2469.98"), Decimal("0.3089"): Decimal("482.5")},
                        "asks": {Decimal("0.31075"): Decimal("2379.63"), Decimal("0.31076"): Decimal("4818.76")}}
    rq = FIXTURES / "ws_request_orderbook.json"
    if rq.exists():
        d = json.loads(rq.read_text())["reply"]["data"]
        # The fixture's sizes have 6-8 decimals: round them onto the fake's 0.01 lot grid.
        books["NEAR"] = {side: {Decimal(str(p)): max(Decimal("0.01"), Decimal(str(q)).quantize(Decimal("0.01")))
                                for p, q in d[side]} for side in ("bids", "asks")}
    else:
        books["NEAR"] = {"bids": {Decimal("14.99"): Decimal("2.89")}, "asks": {Decimal("15"): Decimal("0.44")}}
    books["BTC"] = {"bids": {Decimal("60000.0") - i: Decimal("0.5") for i in range(5)},
                    "asks": {Decimal("60001.0") + i: Decimal("0.5") for i in range(5)}}
    # A few deeper levels on each side so deltas can add and delete levels away from the top.
    for coin, book in books.items():
        tick = SYMBOLS[coin][0]
        worst_bid, worst_ask = min(book["bids"]), max(book["asks"])
        for i in range(1, 4):
            book["bids"].setdefault(worst_bid - tick * 10 * i, Decimal("100") if coin != "BTC" else Decimal("1"))
            book["asks"].setdefault(worst_ask + tick * 10 * i, Decimal("100") if coin != "BTC" else Decimal("1"))
    return books


class FakeWoofi(FakeVenueServer):
    name = "fake-woofi"
    ws_ping_interval = None

    def __init__(self, account_id: str, orderly_key_public: str, push_every_s: float = 0.2,
                 snapshot_every_s: float = 1.0, ping_every_s: float = 10.0) -> None:
        super().__init__()
        self.account = account_id
        self.orderly_key = orderly_key_public
        raw = orderly_key_public[len("ed25519:"):] if orderly_key_public.startswith("ed25519:") else orderly_key_public
        self.verify_key = VerifyKey(b58decode(raw))
        self.push_every_s = push_every_s
        self.snapshot_every_s = snapshot_every_s
        self.ping_every_s = ping_every_s
        self.books = _seed_books()
        self.book_ts = {c: now_ms() - 1000 for c in self.books}
        self.skip = {c: 0 for c in self.books}
        self.orders: dict[int, dict] = {}  # resting
        self.history: dict[int, dict] = {}  # every order ever accepted
        self.trades: list[dict] = []  # our executions, oldest first
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # coin -> (qty, average open price)
        self.oids = itertools.count(300_000_001)
        self.tids = itertools.count(900_000_001)
        self.seq = itertools.count(1)
        self.rng = random.Random(11)
        self.deadman_at: int | None = None
        self.fail_left = 0
        self.fail_status = 429
        self.log: list[dict] = []
        self.snapshot_hold_until = 0.0
        self.answer_ws_requests = True
        # How an accepted edit is reported: "NEW" (a live report with the new price; PARTIAL_FILLED
        # once something executed), "REPLACED", or "cancel_replace" (CANCELLED of the old order id,
        # then NEW of a new order id with the same client order id).
        self.edit_style = "NEW"

    # ------------------------------------------------------------ lifecycle

    @property
    def ws_public_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/ws/stream/{{account_id}}"

    @property
    def ws_private_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/v2/ws/private/stream/{{account_id}}"

    def env(self) -> dict[str, str]:
        """The URL overrides pointing a runner at this fake."""
        return {"WOOFI_REST_URL": self.rest_url, "WOOFI_WS_PUBLIC_URL": self.ws_public_url,
                "WOOFI_WS_PRIVATE_URL": self.ws_private_url}

    def background(self) -> list:
        return [self._pusher(), self._snapshotter(), self._pinger()]

    # ------------------------------------------------------------ test controls

    def resting(self) -> list[dict]:
        return self.call(lambda: [self._order_view(o) for o in self.orders.values()])

    def position(self, coin: str) -> Decimal:
        return self.call(lambda: self.positions.get(coin, (Decimal(0), Decimal(0)))[0])

    def fail_next(self, n: int, status: int = 429) -> None:
        def f():
            self.fail_left, self.fail_status = n, status
        self.call(f)

    def set_ping_every(self, seconds: float) -> None:
        def f():
            self.ping_every_s = seconds
        self.call(f)

    def set_ws_requests(self, answer: bool) -> None:
        """False: WS `request orderbook` frames get no reply (clients must fall back to REST)."""
        def f():
            self.answer_ws_requests = answer
        self.call(f)

    def skip_update(self, coin: str = "", n: int = 1) -> None:
        """The next n deltas of `coin` (every coin when '') change the book but are not sent."""
        def f():
            for c in ([coin] if coin else list(self.skip)):
                self.skip[c] += n
            self._log("ws", event="skip", coin=coin, n=n)
        self.call(f)

    def drop_ws(self, book_delay_s: float = 0.0) -> int:
        """Abort every WebSocket; snapshots (WS request, REST orderbook) wait book_delay_s."""
        def f():
            self.snapshot_hold_until = asyncio.get_running_loop().time() + book_delay_s
            n = 0
            for ws in list(self.conns):
                ws.transport.abort()
                n += 1
            self._log("ws", event="drop", n=n)
            return n
        return self.call(f)

    def trade_through(self, coin: str, side: str) -> dict | None:
        """Fill our best resting order on `side` ('BUY'/'SELL', or 'B'/'A') of `coin` in full, as maker."""
        side = {"B": "BUY", "A": "SELL"}.get(side, side)

        def f():
            cands = [o for o in self.orders.values() if o["coin"] == coin and o["side"] == side]
            if not cands:
                return None
            best = max(cands, key=lambda o: o["price"] * (1 if side == "BUY" else -1))
            qty = best["quantity"] - best["executed"]
            trade = self._execute(best, best["price"], qty, maker=True)
            return {"trade_id": trade["id"], "client_order_id": best["client_order_id"], "order_id": best["order_id"],
                    "price": str(best["price"]), "quantity": str(qty), "side": side}
        return self.call(f)

    def entries(self, kind: str) -> list[dict]:
        return self.call(lambda: [dict(e) for e in self.log if e["kind"] == kind])

    def set_edit_style(self, style: str) -> None:
        """How accepted edits are reported on the stream: "NEW", "REPLACED" or "cancel_replace"."""
        if style not in ("NEW", "REPLACED", "cancel_replace"):
            raise ValueError(f"unknown edit style {style!r}")

        def f():
            self.edit_style = style
        self.call(f)

    def shift_book(self, coin: str, ticks: int) -> None:
        """Move every level of `coin`'s book by `ticks` price ticks (the market moves): one
        `orderbookupdate` delta, chained by prevTs like every other, deletes the old levels and adds
        the new ones. Our resting orders do not trade against the moved book."""
        def f():
            tick = SYMBOLS[coin][0]
            book = self.books[coin]
            rows: dict[str, list] = {}
            for side in ("bids", "asks"):
                old = book[side]
                new = {p + tick * ticks: q for p, q in old.items()}
                change = {p: Decimal(0) for p in old if p not in new}
                change.update(new)
                book[side] = new
                rows[side] = [[_num(p), _num(q)] for p, q in sorted(change.items())]
            prev = self.book_ts[coin]
            ts = max(now_ms(), prev + 1)
            self.book_ts[coin] = ts
            self._log("shift", coin=coin, ticks=ticks)
            msg = {"topic": f"{sym(coin)}@orderbookupdate", "ts": ts,
                   "data": {"symbol": sym(coin), "prevTs": prev, "asks": rows["asks"], "bids": rows["bids"]}}
            self._send_all(lambda st: not st["private"] and f"{sym(coin)}@orderbookupdate" in st["subs"], msg)
        self.call(f)

    # ------------------------------------------------------------ internals

    def _log(self, kind: str, **kw) -> None:
        self.log.append({"kind": kind, "t": now_ms(), **kw})

    @staticmethod
    def _order_view(o: dict) -> dict:
        return {"order_id": o["order_id"], "client_order_id": o["client_order_id"], "coin": o["coin"],
                "side": o["side"], "type": o["type"], "price": str(o["price"]), "quantity": str(o["quantity"]),
                "executed": str(o["executed"]), "reduce_only": o["reduce_only"]}

    def _bbo(self, coin: str) -> tuple[Decimal, Decimal]:
        b = self.books[coin]
        return max(b["bids"]), min(b["asks"])

    def _send_all(self, want, msg: dict) -> None:
        text = json.dumps(msg)
        for ws, st in list(self.conns.items()):
            if want(st):
                asyncio.ensure_future(self._safe_send(ws, text))

    @staticmethod
    async def _safe_send(ws, text: str) -> None:
        try:
            await ws.send(text)
        except Exception:  # noqa: BLE001 - a dropped client
            pass

    def _private(self, topic: str, data: dict) -> None:
        msg = {"topic": topic, "ts": now_ms(), "data": data}
        self._send_all(lambda st: st["private"] and st["authed"] and topic in st["subs"], msg)

    def _report(self, o: dict, status: str, reason: str = "", trade: dict | None = None,
                set_status: bool = True) -> None:
        t = now_ms()
        if set_status:  # False: a report about a request (a refused edit), the order keeps its state
            o["status"] = status
            o["updated_time"] = t
        self._private("executionreport", {
            "symbol": sym(o["coin"]), "clientOrderId": o["client_order_id"], "orderId": o["order_id"],
            "type": o["type"], "side": o["side"], "quantity": _num(o["quantity"]), "price": _num(o["price"]),
            "tradeId": trade["id"] if trade else 0,
            "executedPrice": trade["executed_price"] if trade else 0.0,
            "executedQuantity": trade["executed_quantity"] if trade else 0.0,
            "fee": trade["fee"] if trade else 0.0, "feeAsset": "USDC",
            "totalExecutedQuantity": _num(o["executed"]), "avgExecutedPrice": trade["executed_price"] if trade else 0,
            "status": status, "reason": reason, "totalFee": trade["fee"] if trade else 0.0,
            "visibleQuantity": _num(o["quantity"]), "timestamp": t, "marginMode": "CROSS",
            "maker": bool(trade and trade["is_maker"]), "match_id": str(t), "seq": next(self.seq),
        })

    def _execute(self, o: dict, px: Decimal, qty: Decimal, maker: bool) -> dict:
        """One execution of order `o`: trade row, executionreport, position, public trade."""
        coin = o["coin"]
        o["executed"] += qty
        done = o["executed"] >= o["quantity"]
        if done:
            self.orders.pop(o["order_id"], None)
        fee = (px * qty * (MAKER_FEE if maker else TAKER_FEE)).quantize(Decimal("0.000001"))
        trade = {"id": next(self.tids), "symbol": sym(coin), "fee": _num(fee), "fee_asset": "USDC",
                 "side": o["side"], "order_id": o["order_id"], "executed_price": _num(px),
                 "executed_quantity": _num(qty), "executed_timestamp": now_ms(), "is_maker": 1 if maker else 0,
                 "match_id": str(now_ms())}
        self.trades.append(trade)
        self._report(o, "FILLED" if done else "PARTIAL_FILLED", trade=trade)
        signed = qty if o["side"] == "BUY" else -qty
        old, avg = self.positions.get(coin, (Decimal(0), Decimal(0)))
        new = old + signed
        if old == 0 or (old > 0) == (signed > 0):
            avg = (abs(old) * avg + qty * px) / abs(new)
        elif new == 0:
            avg = Decimal(0)
        elif (new > 0) != (old > 0):
            avg = px
        self.positions[coin] = (new, avg)
        self._private("position", {"positions": [self._position_push(coin)]})
        taker_side = ("SELL" if o["side"] == "BUY" else "BUY") if maker else o["side"]
        self._send_all(lambda st: not st["private"] and f"{sym(coin)}@trade" in st["subs"],
                       {"topic": f"{sym(coin)}@trade", "ts": now_ms(),
                        "data": {"symbol": sym(coin), "price": _num(px), "size": _num(qty), "side": taker_side}})
        self._log("fill", coin=coin, side=o["side"], price=str(px), quantity=str(qty), order_id=o["order_id"],
                  client_order_id=o["client_order_id"], trade_id=trade["id"], maker=maker)
        return trade

    def _position_push(self, coin: str) -> dict:
        qty, avg = self.positions.get(coin, (Decimal(0), Decimal(0)))
        bid, ask = self._bbo(coin)
        mark = (bid + ask) / 2
        return {"symbol": sym(coin), "positionQty": _num(qty), "costPosition": _num(qty * avg),
                "lastSumUnitaryFunding": 0.0, "sumUnitaryFundingVersion": 0, "averageOpenPrice": _num(avg),
                "settlePrice": _num(avg), "markPrice": _num(mark), "unsettledPnl": _num((mark - avg) * qty),
                "pendingLongQty": 0.0, "pendingShortQty": 0.0, "fee24H": 0.0, "seq": next(self.seq),
                "timestamp": now_ms()}

    # ------------------------------------------------------------ WebSocket

    async def _ws_conn(self, ws) -> None:
        path = ws.request.path
        if path.startswith("/ws/stream/"):
            private = False
        elif path == f"/v2/ws/private/stream/{self.account}":
            private = True
        else:
            self._log("ws", event="refused", path=path)
            await ws.close(1008, "bad path")
            return
        st = {"private": private, "subs": set(), "authed": False, "first_book": False}
        self.conns[ws] = st
        self._log("ws", event="connect", private=private)
        try:
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(msg, dict):
                    await self._ws_message(ws, st, msg)
        except Exception:  # noqa: BLE001 - client went away
            pass
        finally:
            self.conns.pop(ws, None)
            self._log("ws", event="disconnect", private=private)

    async def _ws_message(self, ws, st: dict, msg: dict) -> None:
        event = msg.get("event")
        mid = msg.get("id", "")
        if event == "pong":
            self._log("ws", event="pong", private=st["private"])
            return
        if event == "ping":
            await ws.send(json.dumps({"event": "pong", "ts": now_ms()}))
            return
        if event == "auth":
            ok, why = self._check_ws_auth(msg.get("params") or {}) if st["private"] else (False, "not a private stream")
            st["authed"] = ok
            self._log("ws", event="auth", ok=ok, why=why, ts=(msg.get("params") or {}).get("timestamp"))
            reply = {"id": mid, "event": "auth", "success": ok, "ts": now_ms()}
            if not ok:
                reply["errorMsg"] = why
            await ws.send(json.dumps(reply))
            return
        if event in ("subscribe", "unsubscribe"):
            topic = str(msg.get("topic", ""))
            err = self._topic_error(st, topic)
            if err:
                self._log("ws", event=event, topic=topic, error=err, private=st["private"])
                await ws.send(json.dumps({"id": mid, "event": event, "success": False, "ts": now_ms(), "errorMsg": err}))
                return
            (st["subs"].add if event == "subscribe" else st["subs"].discard)(topic)
            self._log("ws", event=event, topic=topic, private=st["private"])
            await ws.send(json.dumps({"id": mid, "event": event, "success": True, "ts": now_ms()}))
            return
        if event == "request":
            params = msg.get("params") or {}
            coin = coin_of(params.get("symbol"))
            if params.get("type") != "orderbook" or coin is None:
                await ws.send(json.dumps({"id": mid, "event": "request", "success": False, "ts": now_ms(),
                                          "errorMsg": "invalid request"}))
                return
            self._log("ws", event="request", coin=coin, answered=self.answer_ws_requests)
            if self.answer_ws_requests:
                asyncio.ensure_future(self._answer_request(ws, st, mid, coin))
            return
        await ws.send(json.dumps({"id": mid, "event": event, "success": False, "ts": now_ms(),
                                  "errorMsg": "unknown event"}))

    async def _answer_request(self, ws, st: dict, mid: str, coin: str) -> None:
        await self._hold_snapshot()
        b = self.books[coin]
        data = {"symbol": sym(coin), "ts": self.book_ts[coin],
                "asks": [[_num(p), _num(q)] for p, q in sorted(b["asks"].items())],
                "bids": [[_num(p), _num(q)] for p, q in sorted(b["bids"].items(), reverse=True)]}
        self._log("snapshot", via="ws", coin=coin, ts=self.book_ts[coin])
        if not st["first_book"]:
            st["first_book"] = True
            self._log("ws", event="first_book", coin=coin)
        await self._safe_send(ws, json.dumps({"id": mid, "event": "request", "success": True, "ts": now_ms(),
                                              "data": data}))

    async def _hold_snapshot(self) -> None:
        wait = self.snapshot_hold_until - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)

    def _topic_error(self, st: dict, topic: str) -> str:
        if st["private"]:
            if not st["authed"]:
                return "not authenticated"
            return "" if topic in ("executionreport", "position", "balance", "account") else f"invalid topic {topic}"
        symbol, _, kind = topic.rpartition("@")
        if coin_of(symbol) is None:
            return f"invalid symbol {symbol}"
        return "" if kind in ("orderbookupdate", "orderbook", "trade", "bbo") else f"invalid topic {topic}"

    def _check_ws_auth(self, params: dict) -> tuple[bool, str]:
        if params.get("orderly_key") != self.orderly_key:
            return False, "orderly key error"
        ts = params.get("timestamp")
        if not isinstance(ts, int) or abs(now_ms() - ts) > WINDOW_MS:
            return False, "timestamp expired"
        if not self._verify(str(ts).encode(), str(params.get("sign", ""))):
            return False, "signature error"
        return True, ""

    def _verify(self, message: bytes, sig: str) -> bool:
        for decode in (base64.urlsafe_b64decode, base64.b64decode):
            try:
                self.verify_key.verify(message, decode(sig + "=" * (-len(sig) % 4)))
                return True
            except (BadSignatureError, ValueError):
                continue
        return False

    async def _pusher(self) -> None:
        """Every push_every_s: one delta per coin (a level's size changes; now and then a deep level
        comes or goes), chained by prevTs; the dead man's switch fires when due."""
        n = 0
        while True:
            await asyncio.sleep(self.push_every_s)
            n += 1
            t = now_ms()
            self._run_deadman(t)
            for coin, book in self.books.items():
                prev = self.book_ts[coin]
                ts = max(t, prev + 1)
                side = self.rng.choice(("bids", "asks"))
                levels = book[side]
                tick, lot, _ = SYMBOLS[coin]
                change: dict[Decimal, Decimal]
                if n % 7 == 0:
                    # Add or delete a level far from the top (qty 0 deletes).
                    edge = min(levels) if side == "bids" else max(levels)
                    far = edge - tick * 50 if side == "bids" else edge + tick * 50
                    if len(levels) > 6:
                        change = {edge: Decimal(0)}
                    else:
                        change = {far: lot * 1000}
                else:
                    px = self.rng.choice(sorted(levels))
                    qty = (levels[px] * Decimal(self.rng.uniform(0.8, 1.25))).quantize(lot)
                    change = {px: max(qty, lot)}
                for px, qty in change.items():
                    if qty == 0:
                        levels.pop(px, None)
                    else:
                        levels[px] = qty
                self.book_ts[coin] = ts
                if self.skip[coin] > 0:
                    self.skip[coin] -= 1
                    self._log("skipped", coin=coin, ts=ts, prev=prev)
                    continue
                rows = [[_num(p), _num(q)] for p, q in change.items()]
                msg = {"topic": f"{sym(coin)}@orderbookupdate", "ts": ts,
                       "data": {"symbol": sym(coin), "prevTs": prev, "asks": rows if side == "asks" else [],
                                "bids": rows if side == "bids" else []}}
                self._send_all(lambda st, c=coin: not st["private"] and f"{sym(c)}@orderbookupdate" in st["subs"], msg)

    async def _snapshotter(self) -> None:
        while True:
            await asyncio.sleep(self.snapshot_every_s)
            for coin, b in self.books.items():
                msg = {"topic": f"{sym(coin)}@orderbook", "ts": self.book_ts[coin],
                       "data": {"symbol": sym(coin),
                                "asks": [[_num(p), _num(q)] for p, q in sorted(b["asks"].items())],
                                "bids": [[_num(p), _num(q)] for p, q in sorted(b["bids"].items(), reverse=True)]}}
                self._send_all(lambda st, c=coin: not st["private"] and f"{sym(c)}@orderbook" in st["subs"], msg)

    async def _pinger(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.05)  # short steps: set_ping_every takes effect at once
            if loop.time() - last >= self.ping_every_s:
                last = loop.time()
                self._send_all(lambda st: True, {"event": "ping", "ts": now_ms()})

    def _run_deadman(self, t: int) -> None:
        if self.deadman_at is not None and t >= self.deadman_at:
            self.deadman_at = None
            for o in list(self.orders.values()):
                self.orders.pop(o["order_id"])
                self._report(o, "CANCELLED", "cancel_all_after")
            self._log("deadman_fired")

    # ------------------------------------------------------------ HTTP

    async def http_request(self, method: str, target: str, headers: dict[str, str], body: bytes
                           ) -> tuple[int, Any]:
        return await self._route(method, target, headers, body)

    @staticmethod
    def _err(status: int, code: int, message: str) -> tuple[int, dict]:
        return status, {"success": False, "code": code, "message": message}

    @staticmethod
    def _ok(data: Any) -> tuple[int, dict]:
        return 200, {"success": True, "data": data, "timestamp": now_ms()}

    def _check_signature(self, method: str, target: str, headers: dict, body: bytes) -> str:
        ts = headers.get("orderly-timestamp", "")
        if headers.get("orderly-account-id") != self.account:
            return "orderly-account-id mismatch"
        if headers.get("orderly-key") != self.orderly_key:
            return "orderly key error"
        if not ts.isdigit() or abs(now_ms() - int(ts)) > WINDOW_MS:
            return "timestamp expired"
        message = ts.encode() + method.encode() + target.encode("latin-1") + body
        if not self._verify(message, headers.get("orderly-signature", "")):
            return "signature error"
        return ""

    async def _route(self, method: str, target: str, headers: dict, body: bytes) -> tuple[int, Any]:
        path = urlsplit(target).path
        query = dict(parse_qsl(urlsplit(target).query, keep_blank_values=True))
        if self.fail_left > 0:
            self.fail_left -= 1
            self._log("http_error", method=method, path=path, status=self.fail_status)
            if self.fail_status == 429:
                return self._err(429, -1003, "Rate limit exceed.")
            return self._err(self.fail_status, -1000, "An unknown error occurred while processing the request.")
        if method == "GET" and path == "/v1/public/info":
            self._log("rest", method=method, path=path)
            return self._ok({"rows": [self._symbol_info(c) for c in SYMBOLS]})
        why = self._check_signature(method, target, headers, body)
        if why:
            self._log("bad_sig", method=method, path=path, why=why)
            return self._err(401, -1002, f"Invalid request: {why}")
        try:
            req = json.loads(body) if body else {}
        except ValueError:
            return self._err(400, -1005, "request body is not JSON")
        self._log("rest", method=method, path=path, query=query)
        try:
            return await self._signed(method, path, query, req)
        except (KeyError, ValueError, TypeError, ArithmeticError) as e:
            return self._err(400, -1005, f"invalid parameter: {type(e).__name__}")

    def _symbol_info(self, coin: str) -> dict:
        tick, lot, min_notional = SYMBOLS[coin]
        return {"symbol": sym(coin), "quote_min": 0, "quote_max": 200000, "quote_tick": _num(tick),
                "base_min": _num(lot), "base_max": 1000000, "base_tick": _num(lot), "min_notional": _num(min_notional),
                "price_range": 0.03, "price_scope": 0.4, "std_liquidation_fee": 0.03, "liquidator_fee": 0.015,
                "claim_insurance_fund_discount": 0.0075, "funding_period": 8, "cap_funding": 0.000375,
                "floor_funding": -0.000375, "interest_rate": 0.0001, "created_time": 1684140107326,
                "updated_time": 1704078000000}

    async def _signed(self, method: str, path: str, query: dict, req: Any) -> tuple[int, Any]:
        if method == "GET" and path.startswith("/v1/orderbook/"):
            coin = coin_of(path.rsplit("/", 1)[1])
            if coin is None:
                return self._err(400, -1005, "invalid symbol")
            await self._hold_snapshot()
            b = self.books[coin]
            self._log("snapshot", via="rest", coin=coin, ts=self.book_ts[coin])
            return self._ok({"asks": [{"price": _num(p), "quantity": _num(q)} for p, q in sorted(b["asks"].items())],
                             "bids": [{"price": _num(p), "quantity": _num(q)}
                                      for p, q in sorted(b["bids"].items(), reverse=True)],
                             "timestamp": self.book_ts[coin]})
        if method == "GET" and path == "/v1/client/info":
            return self._ok({"account_id": self.account, "account_mode": "FUTURES", "max_leverage": 10,
                             "taker_fee_rate": 0, "maker_fee_rate": 0, "futures_taker_fee_rate": _num(TAKER_FEE),
                             "futures_maker_fee_rate": _num(MAKER_FEE), "maintenance_cancel_orders": True})
        if method == "GET" and path == "/v1/positions":
            rows = []
            for coin, (qty, avg) in sorted(self.positions.items()):
                p = self._position_push(coin)
                rows.append({"symbol": sym(coin), "position_qty": _num(qty), "cost_position": _num(qty * avg),
                             "average_open_price": _num(avg), "mark_price": p["markPrice"],
                             "unsettled_pnl": p["unsettledPnl"], "settle_price": _num(avg), "est_liq_price": 0,
                             "pending_long_qty": 0, "pending_short_qty": 0, "leverage": 10, "seq": p["seq"],
                             "timestamp": now_ms()})
            return self._ok({"margin_ratio": 10, "initial_margin_ratio": 0.1, "maintenance_margin_ratio": 0.05,
                             "open_margin_ratio": 10, "current_margin_ratio_with_orders": 10,
                             "total_collateral_value": 10000.0, "free_collateral": 9000.0, "rows": rows})
        if method == "GET" and path == "/v1/client/holding":
            return self._ok({"holding": [{"token": "USDC", "holding": 10000.0, "frozen": 0, "pending_short": 0,
                                          "updated_time": now_ms()}]})
        if method == "GET" and path == "/v1/orders":
            return self._list_orders(query)
        if method == "GET" and path.startswith("/v1/client/order/"):
            cloid = path.rsplit("/", 1)[1]
            mine = [o for o in self.history.values() if o["client_order_id"] == cloid]
            if not mine:
                return self._err(400, -1006, "Your order and symbol are not valid or already canceled.")
            o = max(mine, key=lambda x: x["order_id"])
            return self._ok({"order_id": o["order_id"], "client_order_id": cloid, "symbol": sym(o["coin"]),
                             "side": o["side"], "type": o["type"], "price": _num(o["price"]),
                             "quantity": _num(o["quantity"]), "executed": _num(o["executed"]), "status": o["status"],
                             "created_time": o["created_time"], "updated_time": o["updated_time"]})
        if method == "GET" and path == "/v1/trades":
            start, end = int(query.get("start_t", 0)), int(query.get("end_t", 2**62))
            rows = [t for t in reversed(self.trades) if start <= t["executed_timestamp"] <= end][:500]
            return self._ok({"meta": {"total": len(rows), "records_per_page": 500, "current_page": 1},
                             "rows": rows})
        if method == "POST" and path == "/v1/order":
            out = self._new_order(req)
            self._log("order", cloids=[req.get("client_order_id")], types=[req.get("order_type")],
                      ok=[out[0] == 200], batch=False, book_ok=self._book_ok())
            return out
        if method == "POST" and path == "/v1/batch-order":
            orders = req.get("orders")
            if not isinstance(orders, list) or not 1 <= len(orders) <= 10:
                return self._err(400, -1005, "orders must hold 1..10 orders")
            if any(o.get("reduce_only") for o in orders):
                return self._err(400, -1005, "reduce_only is not supported in batch orders")
            rows, oks = [], []
            for o in orders:
                status, payload = self._new_order(o)
                oks.append(status == 200)
                if status == 200:
                    rows.append({**payload["data"], "error_message": "none"})
                else:
                    rows.append({"order_id": None, "client_order_id": o.get("client_order_id"),
                                 "error_message": payload["message"]})
            self._log("order", cloids=[o.get("client_order_id") for o in orders],
                      types=[o.get("order_type") for o in orders], ok=oks, batch=True, book_ok=self._book_ok())
            return self._ok({"rows": rows})
        if method == "PUT" and path == "/v1/order":
            return self._edit_order(req)
        if method == "DELETE" and path in ("/v1/client/order", "/v1/order"):
            coin = coin_of(query.get("symbol"))
            if path == "/v1/client/order":
                key, target = "client_order_id", query.get("client_order_id")
            else:
                key, target = "order_id", int(query.get("order_id", "0"))
            o = next((x for x in self.orders.values() if x[key] == target and x["coin"] == coin), None)
            if o is None:
                self._log("cancel", by=key, target=target, ok=False)
                return self._err(400, -1006, "Your order and symbol are not valid or already canceled.")
            self.orders.pop(o["order_id"])
            self._log("cancel", by=key, target=target, ok=True, client_order_id=o["client_order_id"])
            asyncio.get_running_loop().call_soon(self._report, o, "CANCELLED")
            return self._ok({"status": "CANCEL_SENT"})
        if method == "DELETE" and path == "/v1/orders":
            coin = coin_of(query.get("symbol")) if query.get("symbol") else None
            gone = [o for o in self.orders.values() if coin is None or o["coin"] == coin]
            for o in gone:
                self.orders.pop(o["order_id"])
                asyncio.get_running_loop().call_soon(self._report, o, "CANCELLED")
            self._log("cancel_all", coin=coin, n=len(gone))
            return self._ok({"status": "CANCEL_ALL_SENT"})
        if method == "POST" and path == "/v1/order/cancel_all_after":
            trigger = req.get("trigger_after")
            if not isinstance(trigger, int) or not (trigger == 0 or 5000 <= trigger <= 900000):
                self._log("deadman", trigger=trigger, ok=False)
                return self._err(400, -1005, "trigger_after must be 0 or between 5000 and 900000")
            self.deadman_at = None if trigger == 0 else now_ms() + trigger
            self._log("deadman", trigger=trigger, ok=True)
            return self._ok({"expected_trigger_time": self.deadman_at or 0})
        return self._err(404, -1000, f"no route {method} {path}")

    def _book_ok(self) -> bool:
        """True when every public connection subscribed to a book has received a snapshot."""
        pub = [st for st in self.conns.values() if not st["private"]]
        return bool(pub) and all(st["first_book"] for st in pub)

    def _list_orders(self, query: dict) -> tuple[int, Any]:
        status = query.get("status", "")
        page, size = int(query.get("page", 1)), min(500, int(query.get("size", 25)))
        start, end = int(query.get("start_t", 0)), int(query.get("end_t", 2**62))
        if status == "INCOMPLETE":
            src = list(self.orders.values())
        else:
            src = [o for o in self.history.values() if not status or o["status"] == status]
        src = [o for o in src if start <= o["created_time"] <= end]
        src.sort(key=lambda o: (-o["created_time"], -o["order_id"]))
        chunk = src[(page - 1) * size: page * size]
        rows = [{"order_id": o["order_id"], "user_id": 1, "price": _num(o["price"]), "type": o["type"],
                 "quantity": _num(o["quantity"]), "amount": None, "executed_quantity": _num(o["executed"]),
                 "total_executed_quantity": _num(o["executed"]), "visible_quantity": _num(o["quantity"]),
                 "symbol": sym(o["coin"]), "side": o["side"], "status": o["status"], "total_fee": 0,
                 "fee_asset": "USDC", "client_order_id": o["client_order_id"] or None,
                 "reduce_only": o["reduce_only"], "average_executed_price": None,
                 "created_time": o["created_time"], "updated_time": o["updated_time"], "realized_pnl": 0}
                for o in chunk]
        return self._ok({"meta": {"total": len(src), "records_per_page": size, "current_page": page},
                         "rows": rows})

    def _new_order(self, req: dict) -> tuple[int, Any]:
        coin = coin_of(req.get("symbol"))
        if coin is None:
            return self._err(400, -1005, "invalid symbol")
        tick, lot, min_notional = SYMBOLS[coin]
        otype, side = req.get("order_type"), req.get("side")
        if otype not in ("LIMIT", "POST_ONLY", "IOC") or side not in ("BUY", "SELL"):
            return self._err(400, -1005, "invalid order_type or side")
        try:
            px, qty = _dec(req["order_price"]), _dec(req["order_quantity"])
        except (KeyError, ValueError, ArithmeticError):
            return self._err(400, -1005, "order_price and order_quantity must be numbers")
        if px <= 0 or px % tick != 0:
            return self._err(400, -1005, f"order_price must be a positive multiple of {tick}")
        if qty <= 0 or qty % lot != 0:
            return self._err(400, -1005, f"order_quantity must be a positive multiple of {lot}")
        if px * qty < min_notional:
            return self._err(400, -1005, f"order notional must be at least {min_notional}")
        cloid = req.get("client_order_id") or ""
        if not isinstance(cloid, str) or len(cloid) > 36 or cloid.startswith("-"):
            return self._err(400, -1005, "client_order_id must be at most 36 characters, not starting with '-'")
        if cloid and any(o["client_order_id"] == cloid for o in self.orders.values()):
            return self._err(400, -1005, "client_order_id already exists")
        t = now_ms()
        o = {"order_id": next(self.oids), "client_order_id": cloid, "coin": coin, "side": side, "type": otype,
             "price": px, "quantity": qty, "executed": Decimal(0), "status": "NEW",
             "reduce_only": bool(req.get("reduce_only", False)), "created_time": t, "updated_time": t}
        self.history[o["order_id"]] = o
        bid, ask = self._bbo(coin)
        crosses = px >= ask if side == "BUY" else px <= bid
        loop = asyncio.get_running_loop()
        # The REST reply goes first; the stream reports what became of the order right after.
        if otype == "POST_ONLY" and crosses:
            loop.call_soon(self._report, o, "REJECTED", "post only order would take liquidity")
        elif crosses:
            loop.call_soon(self._execute, o, ask if side == "BUY" else bid, qty, False)
        elif otype == "IOC":
            loop.call_soon(self._report, o, "CANCELLED", "IOC not filled")
        else:
            self.orders[o["order_id"]] = o
            loop.call_soon(self._report, o, "NEW")
        return self._ok({"order_id": o["order_id"], "client_order_id": cloid, "order_type": otype,
                         "order_price": _num(px), "order_quantity": _num(qty), "order_amount": None})

    def _edit_order(self, req: dict) -> tuple[int, Any]:
        """PUT /v1/order: move a resting order to order_price / order_quantity (its new total
        quantity, executed part included). Reply EDIT_SENT; the stream then reports the outcome:
        the order live at its new price (see edit_style), or, for a POST_ONLY edit that would
        cross, a REJECTED report while the order rests unchanged (the same stream-side refusal as
        a crossing POST_ONLY placement). A crossing LIMIT edit trades at once as taker. Unknown,
        filled or cancelled orders and changes of side / type are refused with an error reply."""
        def refuse(code: int, message: str, **kw) -> tuple[int, Any]:
            self._log("edit", ok=False, order_id=req.get("order_id"), reason=message, **kw)
            return self._err(400, code, message)

        coin = coin_of(req.get("symbol"))
        if coin is None:
            return refuse(-1005, "invalid symbol")
        try:
            oid = int(req["order_id"])
            px, qty = _dec(req["order_price"]), _dec(req["order_quantity"])
        except (KeyError, ValueError, TypeError, ArithmeticError):
            return refuse(-1005, "order_id, order_price and order_quantity are required")
        o = self.orders.get(oid)
        if o is None or o["coin"] != coin:
            done = self.history.get(oid)
            if done is not None and done["status"] == "FILLED":
                return refuse(-1006, "The order is already filled.")
            return refuse(-1006, "Your order and symbol are not valid or already canceled.")
        if req.get("side") != o["side"] or req.get("order_type") != o["type"]:
            return refuse(-1005, "order_type and side cannot be changed by an edit")
        tick, lot, min_notional = SYMBOLS[coin]
        if px <= 0 or px % tick != 0:
            return refuse(-1005, f"order_price must be a positive multiple of {tick}")
        if qty <= 0 or qty % lot != 0:
            return refuse(-1005, f"order_quantity must be a positive multiple of {lot}")
        if qty <= o["executed"]:
            return refuse(-1005, "order_quantity must be greater than the executed quantity")
        if px * (qty - o["executed"]) < min_notional:
            return refuse(-1005, f"order notional must be at least {min_notional}")
        bid, ask = self._bbo(coin)
        crosses = px >= ask if o["side"] == "BUY" else px <= bid
        loop = asyncio.get_running_loop()
        cloid = o["client_order_id"]
        if o["type"] == "POST_ONLY" and crosses:
            self._log("edit", ok=True, order_id=oid, client_order_id=cloid, applied=False,
                      price=str(px), quantity=str(qty), reason="post only")
            loop.call_soon(lambda: self._report(o, "REJECTED", "post only order would take liquidity",
                                                set_status=False))
            return self._ok({"status": "EDIT_SENT"})
        t = now_ms()
        if self.edit_style == "cancel_replace":
            self.orders.pop(oid)
            replaced = o
            o = dict(o, order_id=next(self.oids), price=px, quantity=qty, created_time=t, updated_time=t)
            self.history[o["order_id"]] = o
            self.orders[o["order_id"]] = o
            loop.call_soon(self._report, replaced, "CANCELLED", "replaced by an edit")
        else:
            o["price"], o["quantity"], o["updated_time"] = px, qty, t
        status = self.edit_style if self.edit_style != "cancel_replace" else "NEW"
        if status == "NEW" and o["executed"] > 0:
            status = "PARTIAL_FILLED"
        loop.call_soon(self._report, o, status)
        if crosses:
            loop.call_soon(self._execute, o, ask if o["side"] == "BUY" else bid, qty - o["executed"], False)
        self._log("edit", ok=True, order_id=oid, new_order_id=o["order_id"], client_order_id=cloid, applied=True,
                  price=str(px), quantity=str(qty))
        return self._ok({"status": "EDIT_SENT"})
