"""A fake StandX perps venue on 127.0.0.1: REST /api/* and the market stream, real wire format.

One asyncio loop in a background thread hosts a minimal HTTP/1.1 server (keep-alive, GET with a
query string, POST with a JSON body) and a `websockets` server at /ws-stream/v1, both on port 0.
The BTC-USD book is seeded from ../shared/fixtures/standx/ws_subscribe_depth_book.json when present
(else the same levels built in); symbol info follows the docs' example (2 price decimals, 3 qty
decimals, maker 0.0001, taker 0.0004).

What it checks, like the venue would: the bearer JWT on every account call and on stream auth;
on every POST the ed25519 body signature (x-request-sign-version v1, x-request-id,
x-request-timestamp within 60 s, x-request-signature over "v1,{id},{ts},{exact body bytes}") with
the public key given; request ids are single-use; price/qty precision and min qty.

Behaviour: new_order answers {code:0} (accepted) and matches ~10 ms later: an ALO order that would
cross is pushed as status `rejected`; a crossing GTC/IOC order fills at the touch as taker; a
non-crossing IOC is cancelled; others rest (pushed `open`). Every stream message carries `seq`,
contiguous per connection. Authenticated connections get `order` and `position` pushes.

Test controls (thread-safe, from the test thread): resting(), position(coin), fail_next(n, status),
drop_ws(book_delay_s), trade_through(coin, side, qty=None), entries(kind), skip_seq(), plus
set_book(coin, bids, asks).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from tests.fakes.base import FakeVenueServer

FIXTURES = (Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "standx").resolve()
WS_PATH = "/ws-stream/v1"
MAKER_FEE = Decimal("0.0001")
TAKER_FEE = Decimal("0.0004")
USER = "bsc_0xfa4e0000000000000000000000000000000000aa"
SYMBOL_INFO = [{
    "base_asset": "BTC", "base_decimals": 9, "created_at": "2025-07-10T05:15:32.089568Z", "def_leverage": "10",
    "depth_ticks": "0.01,0.1,1", "enabled": True, "maker_fee": "0.0001", "max_leverage": "20",
    "max_open_orders": "100", "max_order_qty": "100", "max_position_size": "1000", "min_order_qty": "0.001",
    "price_cap_ratio": "0.3", "price_floor_ratio": "0.3", "price_tick_decimals": 2, "qty_tick_decimals": 3,
    "quote_asset": "DUSD", "quote_decimals": 9, "symbol": "BTC-USD", "taker_fee": "0.0004",
    "updated_at": "2025-07-10T05:15:32.089568Z",
}]
_BUILTIN_BOOK = {"asks": [["121896.02", "0.839"], ["121896.32", "1.051"]],
                 "bids": [["121884.22", "0.001"], ["121884.52", "0.001"]]}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _seed_book() -> dict[str, list[list[str]]]:
    path = FIXTURES / "ws_subscribe_depth_book.json"
    if path.exists():
        data = json.loads(path.read_text())["reply"]["data"]
        return {"asks": data["asks"], "bids": data["bids"]}
    return _BUILTIN_BOOK


class FakeStandx(FakeVenueServer):
    name = "fake-standx"
    ws_ping_interval = 10

    def __init__(self, jwt: str, signing_public_key: bytes, push_every_s: float = 0.3,
                 match_delay_s: float = 0.01) -> None:
        super().__init__()
        self.jwt = jwt
        self.verify_key = VerifyKey(bytes(signing_public_key))
        self.push_every_s = push_every_s
        self.match_delay_s = match_delay_s
        self.symbols = {r["symbol"]: dict(r) for r in SYMBOL_INFO}
        seed = _seed_book()
        # symbol -> (bids best-first, asks best-first) as [Decimal px, Decimal qty]
        self.books: dict[str, tuple[list[list[Decimal]], list[list[Decimal]]]] = {
            "BTC-USD": (sorted(([Decimal(p), Decimal(q)] for p, q in seed["bids"]), key=lambda lv: -lv[0]),
                        sorted(([Decimal(p), Decimal(q)] for p, q in seed["asks"]), key=lambda lv: lv[0]))}
        self.orders: dict[int, dict] = {}  # resting, wire rows
        self.all_orders: dict[int, dict] = {}  # every order (query_orders)
        self.trades: list[dict] = []
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (signed qty, entry)
        self.order_ids = itertools.count(2_547_000)
        self.trade_ids = itertools.count(409_870)
        self.request_ids: set[str] = set()
        self.fail_left = 0
        self.fail_status = 429
        self.log: list[dict] = []
        self.next_book_delay_s = 0.0

    # ------------------------------------------------------------ lifecycle

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}{WS_PATH}"

    def background(self) -> list:
        return [self._pusher()]

    # ------------------------------------------------------------ test controls

    def resting(self) -> list[dict]:
        return self.call(lambda: [dict(o) for o in self.orders.values()])

    def position(self, coin: str) -> Decimal:
        return self.call(lambda: self.positions.get(f"{coin}-USD", (Decimal(0), Decimal(0)))[0])

    def fail_next(self, n: int, status: int = 429) -> None:
        def f():
            self.fail_left, self.fail_status = n, status
        self.call(f)

    def drop_ws(self, book_delay_s: float = 0.0) -> int:
        """Abort every WebSocket; the next connections get no depth_book for book_delay_s."""
        def f():
            self.next_book_delay_s = book_delay_s
            n = 0
            for ws in list(self.conns):
                ws.transport.abort()
                n += 1
            self._log("ws", event="drop", n=n)
            return n
        return self.call(f)

    def skip_seq(self) -> None:
        """The next message on every connection skips one seq number (a lost message)."""
        def f():
            for st in self.conns.values():
                st["seq"] += 1
            self._log("ws", event="skip_seq")
        self.call(f)

    def set_book(self, coin: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
        def f():
            self.books[f"{coin}-USD"] = (sorted(([Decimal(p), Decimal(q)] for p, q in bids), key=lambda lv: -lv[0]),
                                         sorted(([Decimal(p), Decimal(q)] for p, q in asks), key=lambda lv: lv[0]))
        self.call(f)

    def trade_through(self, coin: str, side: str, qty: str | None = None) -> dict | None:
        """Fill our best resting order on `side` ('buy' / 'sell') of `coin` as maker, in full or
        `qty` of it. Returns {id, cl_ord_id, qty, price, side, trade_id, cum_qty} or None."""
        def f():
            sym = f"{coin}-USD"
            cands = [o for o in self.orders.values() if o["symbol"] == sym and o["side"] == side]
            if not cands:
                return None
            best = max(cands, key=lambda o: Decimal(o["price"]) * (1 if side == "buy" else -1))
            left = Decimal(best["qty"]) - Decimal(best["fill_qty"])
            q = min(left, Decimal(qty)) if qty is not None else left
            trade = self._execute(best, Decimal(best["price"]), q, maker=True)
            return {"id": best["id"], "cl_ord_id": best["cl_ord_id"], "qty": self._fmt_qty(sym, q),
                    "price": best["price"], "side": side, "trade_id": trade["id"], "cum_qty": best["fill_qty"]}
        return self.call(f)

    def entries(self, kind: str) -> list[dict]:
        return self.call(lambda: [dict(e) for e in self.log if e["kind"] == kind])

    # ------------------------------------------------------------ internals

    def _log(self, kind: str, **kw) -> None:
        self.log.append({"kind": kind, "t": now_ms(), **kw})

    def _decimals(self, sym: str) -> tuple[int, int]:
        row = self.symbols[sym]
        return row["price_tick_decimals"], row["qty_tick_decimals"]

    def _fmt_px(self, sym: str, d: Decimal) -> str:
        return f"{d:.{self._decimals(sym)[0]}f}"

    def _fmt_qty(self, sym: str, d: Decimal) -> str:
        return f"{d:.{self._decimals(sym)[1]}f}"

    def _bbo(self, sym: str) -> tuple[Decimal, Decimal]:
        bids, asks = self.books[sym]
        return bids[0][0], asks[0][0]

    def _execute(self, o: dict, px: Decimal, q: Decimal, maker: bool) -> dict:
        """Fill q of order o at px: update the order, position and trades; push order + position."""
        sym = o["symbol"]
        filled_before = Decimal(o["fill_qty"])
        avg_before = Decimal(o["fill_avg_price"])
        filled = filled_before + q
        avg = (filled_before * avg_before + q * px) / filled
        o["fill_qty"] = self._fmt_qty(sym, filled)
        o["fill_avg_price"] = f"{avg.quantize(Decimal('0.000001')).normalize():f}"
        o["updated_at"] = iso_now()
        done = filled >= Decimal(o["qty"])
        o["status"] = "filled" if done else "partially_filled"
        if done:
            self.orders.pop(o["id"], None)
        signed = q if o["side"] == "buy" else -q
        qty0, entry = self.positions.get(sym, (Decimal(0), Decimal(0)))
        new = qty0 + signed
        pnl = Decimal(0)
        if qty0 == 0 or (qty0 > 0) == (signed > 0):
            entry = (abs(qty0) * entry + q * px) / abs(new)
        else:
            closing = min(q, abs(qty0))
            pnl = closing * (px - entry) * (1 if qty0 > 0 else -1)
            if new == 0:
                entry = Decimal(0)
            elif (new > 0) != (qty0 > 0):
                entry = px
        self.positions[sym] = (new, entry)
        value = px * q
        fee = (value * (MAKER_FEE if maker else TAKER_FEE)).quantize(Decimal("0.000001"))
        trade = {"created_at": iso_now(), "fee_asset": "DUSD", "fee_qty": f"{fee:f}", "id": next(self.trade_ids),
                 "order_id": o["id"], "pnl": f"{pnl:f}", "price": self._fmt_px(sym, px),
                 "qty": self._fmt_qty(sym, q), "side": o["side"], "symbol": sym, "updated_at": iso_now(),
                 "user": USER, "value": f"{value:f}"}
        self.trades.append(trade)
        self._log("fill", symbol=sym, side=o["side"], price=trade["price"], qty=trade["qty"], order_id=o["id"],
                  cl_ord_id=o["cl_ord_id"], trade_id=trade["id"], maker=maker)
        self._push_order(o)
        self._push_position(sym)
        return trade

    def _push_order(self, o: dict) -> None:
        self._broadcast("order", {"channel": "order", "data": dict(o)})

    def _push_position(self, sym: str) -> None:
        qty, entry = self.positions.get(sym, (Decimal(0), Decimal(0)))
        data = {"created_at": iso_now(), "entry_price": self._fmt_px(sym, entry), "entry_value": f"{abs(qty) * entry:f}",
                "id": 15, "initial_margin": "0", "leverage": "10", "margin_asset": "DUSD", "margin_mode": "cross",
                "qty": self._fmt_qty(sym, qty), "realized_pnl": "0", "status": "open", "symbol": sym,
                "updated_at": iso_now(), "user": USER}
        self._broadcast("position", {"channel": "position", "data": data})

    def _broadcast(self, channel: str, msg: dict) -> None:
        for ws, st in list(self.conns.items()):
            if st["authed"] and channel in st["private"]:
                self._send(ws, st, msg)

    def _send(self, ws, st: dict, msg: dict) -> None:
        st["seq"] += 1
        text = json.dumps({"seq": st["seq"], **msg})
        asyncio.ensure_future(self._safe_send(ws, text))

    @staticmethod
    async def _safe_send(ws, text: str) -> None:
        try:
            await ws.send(text)
        except Exception:  # noqa: BLE001 - a dropped client
            pass

    def _book_msg(self, sym: str) -> dict:
        bids, asks = self.books[sym]
        # The docs' example lists bids ascending: keep that order on the wire.
        return {"channel": "depth_book", "symbol": sym, "data": {
            "asks": [[self._fmt_px(sym, p), self._fmt_qty(sym, q)] for p, q in asks],
            "bids": [[self._fmt_px(sym, p), self._fmt_qty(sym, q)] for p, q in reversed(bids)],
            "symbol": sym}}

    def _book_flag(self) -> bool:
        """True when every connection subscribed to a book has received one since it connected."""
        subs = [st for st in self.conns.values() if st["books"]]
        return bool(subs) and all(st["first_book_sent"] for st in subs)

    # ------------------------------------------------------------ WebSocket

    async def _ws_conn(self, ws) -> None:
        if ws.request.path != WS_PATH:
            await ws.close(1008, "bad path")
            return
        loop = asyncio.get_running_loop()
        st = {"seq": 0, "books": set(), "private": set(), "authed": False,
              "book_ready": loop.time() + self.next_book_delay_s, "first_book_sent": False}
        self.next_book_delay_s = 0.0
        self.conns[ws] = st
        self._log("ws", event="connect")
        try:
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(msg, dict):
                    continue
                if "auth" in msg:
                    auth = msg["auth"] if isinstance(msg["auth"], dict) else {}
                    ok = auth.get("token") == self.jwt
                    streams = [s.get("channel") for s in auth.get("streams") or [] if isinstance(s, dict)]
                    self._log("ws", event="auth", ok=ok, streams=streams)
                    if ok:
                        st["authed"] = True
                        st["private"] |= {s for s in streams if s in ("order", "position", "balance", "trade")}
                        self._send(ws, st, {"channel": "auth", "data": {"code": 200, "msg": "success"}})
                    else:
                        self._send(ws, st, {"channel": "auth", "data": {"code": 401, "msg": "invalid token"}})
                elif "subscribe" in msg:
                    sub = msg["subscribe"] if isinstance(msg["subscribe"], dict) else {}
                    channel, sym = sub.get("channel"), sub.get("symbol")
                    self._log("ws", event="subscribe", channel=channel, symbol=sym)
                    if channel == "depth_book" and sym in self.books:
                        st["books"].add(sym)
                        if loop.time() >= st["book_ready"]:
                            self._send_book(ws, st, sym)
                    elif channel in ("order", "position", "balance", "trade") and st["authed"]:
                        st["private"].add(channel)
        except Exception:  # noqa: BLE001 - client went away
            pass
        finally:
            self.conns.pop(ws, None)
            self._log("ws", event="disconnect")

    def _send_book(self, ws, st: dict, sym: str) -> None:
        self._send(ws, st, self._book_msg(sym))
        if not st["first_book_sent"]:
            st["first_book_sent"] = True
            self._log("ws", event="first_book", symbol=sym)

    async def _pusher(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.push_every_s)
            for ws, st in list(self.conns.items()):
                if loop.time() < st["book_ready"]:
                    continue
                for sym in sorted(st["books"]):
                    self._send_book(ws, st, sym)

    # ------------------------------------------------------------ HTTP

    async def http_request(self, method: str, target: str, headers: dict[str, str], body: bytes
                           ) -> tuple[int, Any]:
        return self._route(method, target, headers, body)

    def _route(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        path = parts.path
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if self.fail_left > 0:
            self.fail_left -= 1
            self._log("http_error", path=path, status=self.fail_status)
            return self.fail_status, {"code": self.fail_status, "message": "Too Many Requests"}
        public = {"/api/query_symbol_info", "/api/query_depth_book"}
        if method == "GET" and path in public:
            self._log("http", method=method, path=path, query=q)
            return self._public(path, q)
        if headers.get("authorization") != f"Bearer {self.jwt}":
            self._log("auth_error", path=path, why="bad bearer token")
            return 401, {"code": 401, "message": "unauthorized"}
        if method == "GET":
            self._log("http", method=method, path=path, query=q)
            return self._account(path, q)
        if method != "POST":
            return 404, b"Not Found"
        err = self._check_signature(headers, body)
        if err:
            self._log("auth_error", path=path, why=err)
            return 401, {"code": 401, "message": err}
        try:
            req = json.loads(body)
        except ValueError:
            return 400, {"code": 400, "message": "invalid json"}
        self._log("http", method=method, path=path)
        if path == "/api/new_order":
            return 200, self._new_order(req, headers["x-request-id"])
        if path == "/api/cancel_orders":
            return 200, self._cancel_orders(req)
        if path == "/api/cancel_order":
            return 200, self._cancel_order(req, headers["x-request-id"])
        return 404, {"code": 404, "message": "not found"}

    def _check_signature(self, headers: dict[str, str], body: bytes) -> str:
        if headers.get("x-request-sign-version") != "v1":
            return "missing or bad x-request-sign-version"
        rid, ts, sig = headers.get("x-request-id"), headers.get("x-request-timestamp"), headers.get("x-request-signature")
        if not rid or not ts or not sig:
            return "missing signature headers"
        if not ts.isdigit() or abs(int(ts) - now_ms()) > 60_000:
            return "x-request-timestamp outside the allowed window"
        if rid in self.request_ids:
            return "x-request-id already used"
        msg = b"v1," + rid.encode() + b"," + ts.encode() + b"," + body
        try:
            self.verify_key.verify(msg, base64.b64decode(sig, validate=True))
        except (BadSignatureError, ValueError):
            return "invalid body signature"
        self.request_ids.add(rid)
        return ""

    def _public(self, path: str, q: dict[str, str]) -> tuple[int, Any]:
        if path == "/api/query_symbol_info":
            sym = q.get("symbol")
            return 200, [r for s, r in self.symbols.items() if sym in (None, s)]
        sym = q.get("symbol", "")
        if sym not in self.books:
            return 400, {"code": 400, "message": f"unknown symbol {sym}"}
        return 200, self._book_msg(sym)["data"]

    def _account(self, path: str, q: dict[str, str]) -> tuple[int, Any]:
        sym = q.get("symbol")
        if path == "/api/query_open_orders":
            rows = [dict(o, status="new" if o["status"] == "open" else o["status"])
                    for o in sorted(self.orders.values(), key=lambda o: -o["id"]) if sym in (None, o["symbol"])]
            return 200, {"page_size": len(rows), "result": rows, "total": len(rows)}
        if path == "/api/query_order":
            o = next((o for o in sorted(self.all_orders.values(), key=lambda o: -o["id"])
                      if o.get("cl_ord_id") == q.get("cl_ord_id") or str(o["id"]) == q.get("order_id")), None)
            if o is None:
                return 404, {"code": 404, "message": "order not found"}
            return 200, dict(o)
        if path == "/api/query_orders":
            rows = [dict(o) for o in sorted(self.all_orders.values(), key=lambda o: -o["id"])
                    if sym in (None, o["symbol"])][: int(q.get("limit", "100"))]
            return 200, {"page_size": len(rows), "result": rows, "total": len(rows)}
        if path == "/api/query_trades":
            rows = [dict(t) for t in reversed(self.trades) if sym in (None, t["symbol"])][: int(q.get("limit", "100"))]
            return 200, {"page_size": len(rows), "result": rows, "total": len(rows)}
        if path == "/api/query_positions":
            out = []
            for s, (qty, entry) in sorted(self.positions.items()):
                if qty == 0 or sym not in (None, s):
                    continue
                out.append({"entry_price": self._fmt_px(s, entry), "id": 15, "leverage": "10", "margin_asset": "DUSD",
                            "margin_mode": "cross", "mark_price": self._fmt_px(s, sum(self._bbo(s)) / 2),
                            "qty": self._fmt_qty(s, qty), "status": "open", "symbol": s, "time": iso_now(),
                            "upnl": "0", "user": USER, "created_at": iso_now(), "updated_at": iso_now()})
            return 200, out
        if path == "/api/query_balance":
            return 200, {"isolated_balance": "0", "isolated_upnl": "0", "cross_balance": "10000.0",
                         "cross_margin": "0", "cross_upnl": "0", "locked": "0", "cross_available": "10000.0",
                         "balance": "10000.0", "upnl": "0", "equity": "10000.0", "pnl_freeze": "0"}
        return 404, {"code": 404, "message": "not found"}

    # ------------------------------------------------------------ orders

    def _new_order(self, req: dict, request_id: str) -> dict:
        sym = req.get("symbol")
        cl = req.get("cl_ord_id") or f"auto-{next(self.order_ids)}"
        entry = {"symbol": sym, "cl_ord_id": cl, "tif": req.get("time_in_force"), "side": req.get("side"),
                 "price": req.get("price"), "qty": req.get("qty"), "book_ok": self._book_flag()}

        def refuse(message: str) -> dict:
            self._log("order", **entry, error=message)
            return {"code": 400, "message": message, "request_id": request_id}

        if sym not in self.symbols:
            return refuse("invalid symbol")
        if req.get("order_type") != "limit" or req.get("side") not in ("buy", "sell"):
            return refuse("invalid order type or side")
        if req.get("time_in_force") not in ("gtc", "ioc", "alo"):
            return refuse("invalid time_in_force")
        pd, qd = self._decimals(sym)
        try:
            px, qty = Decimal(req["price"]), Decimal(req["qty"])
        except (KeyError, ArithmeticError, TypeError):
            return refuse("invalid price or qty")
        if not isinstance(req["price"], str) or not isinstance(req["qty"], str):
            return refuse("decimals must be JSON strings")
        if px <= 0 or -px.as_tuple().exponent > pd:
            return refuse("invalid price precision")
        if qty < Decimal(self.symbols[sym]["min_order_qty"]) or -qty.as_tuple().exponent > qd:
            return refuse("invalid qty")
        if any(o["cl_ord_id"] == cl for o in self.orders.values()):
            return refuse("duplicate cl_ord_id")
        oid = next(self.order_ids)
        t = iso_now()
        o = {"avail_locked": "0", "cl_ord_id": cl, "closed_block": -1, "created_at": t, "created_block": -1,
             "fill_avg_price": "0", "fill_qty": "0", "id": oid, "leverage": "10", "liq_id": 0, "margin": "0",
             "order_type": "limit", "payload": None, "position_id": 15, "price": self._fmt_px(sym, px),
             "qty": self._fmt_qty(sym, qty), "reduce_only": bool(req.get("reduce_only")), "remark": "",
             "side": req["side"], "source": "user", "status": "new", "symbol": sym,
             "time_in_force": req["time_in_force"], "updated_at": t, "user": USER}
        self.all_orders[oid] = o
        self._log("order", **entry, id=oid)
        # Accepted now, matched asynchronously (the venue's documented behaviour).
        asyncio.get_running_loop().call_later(self.match_delay_s, self._match, o)
        return {"code": 0, "message": "success", "request_id": request_id}

    def _match(self, o: dict) -> None:
        sym = o["symbol"]
        bb, ba = self._bbo(sym)
        px = Decimal(o["price"])
        buy = o["side"] == "buy"
        crosses = px >= ba if buy else px <= bb
        tif = o["time_in_force"]
        if crosses and tif == "alo":
            o["status"] = "rejected"
            o["updated_at"] = iso_now()
            self._log("alo_reject", id=o["id"], cl_ord_id=o["cl_ord_id"])
            self._push_order(o)
            return
        if crosses:
            self._execute(o, ba if buy else bb, Decimal(o["qty"]), maker=False)
            return
        if tif == "ioc":
            o["status"] = "canceled"
            o["updated_at"] = iso_now()
            self._push_order(o)
            return
        o["status"] = "open"
        o["updated_at"] = iso_now()
        self.orders[o["id"]] = o
        self._push_order(o)

    def _cancel(self, key: str, value: Any) -> bool:
        o = next((x for x in self.orders.values() if x[key] == value), None)
        if o is None:
            return False
        del self.orders[o["id"]]
        o["status"] = "canceled"
        o["updated_at"] = iso_now()
        self._push_order(o)
        return True

    def _cancel_orders(self, req: dict) -> Any:
        if "cl_ord_id_list" in req:
            key, ids = "cl_ord_id", list(req["cl_ord_id_list"])
        elif "order_id_list" in req:
            key, ids = "id", list(req["order_id_list"])
        else:
            return {"code": 400, "message": "order_id_list or cl_ord_id_list required"}
        failed = [i for i in ids if not self._cancel(key, i)]
        self._log("cancel", key=key, ids=ids, failed=failed)
        # Docs: the reply is `[]`. Refused ids: an UNVERIFIED error entry per id.
        wire_key = "cl_ord_id" if key == "cl_ord_id" else "order_id"
        return [{wire_key: i, "code": 400, "message": "order not found"} for i in failed]

    def _cancel_order(self, req: dict, request_id: str) -> dict:
        if "order_id" in req:
            ok = self._cancel("id", req["order_id"])
        else:
            ok = self._cancel("cl_ord_id", req.get("cl_ord_id"))
        self._log("cancel", key="single", ids=[req.get("order_id") or req.get("cl_ord_id")], failed=[] if ok else [1])
        if not ok:
            return {"code": 400, "message": "order not found", "request_id": request_id}
        return {"code": 0, "message": "success", "request_id": request_id}
