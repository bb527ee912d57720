"""A fake Hyperliquid on 127.0.0.1: REST POST /info + /exchange and the WebSocket, real wire format.

Runs one asyncio loop in a background thread hosting a minimal HTTP/1.1 server (asyncio streams,
keep-alive, JSON POST) and a `websockets` server, both on port 0. Seeded from the recorded
payloads in ../shared/fixtures/hyperliquid: `meta` (asset ids, szDecimals), `l2Book` (DYDX from
info_l2Book, BTC from ws_l2Book), `userRateLimit`, `clearinghouseState` margin figures and the
account's older `userFills` history.

It checks what a real venue checks: the EIP-712 signature of every /exchange body must recover
the agent address (else the venue's "User or API Wallet ... does not exist."), nonces must be
unused, above the smallest of the last 100 and within (now - 2 d, now + 1 d); prices need <= 5
significant figures (or an integer) and <= 6 - szDecimals decimals; sizes <= szDecimals decimals;
$10 minimum; ALO orders that would cross are refused with the venue's text.

Test controls (thread-safe, from the test thread): trade_through() prints a trade through one of
our resting orders (-> orderUpdates "filled", userFills, trades pushes), drop_ws() aborts every
WebSocket (optionally holding back l2Book on the next connections), fail_next(n) answers HTTP 429
to the next n requests, add_resting() / fill_order() put an order on the book and fill it (in part)
directly, plus views of resting orders, positions and a log of every request.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

from mm_bot.venues.hyperliquid.auth import action_hash, construct_phantom_agent, l1_payload
from tests.fakes.base import FakeVenueServer

FIXTURES = (Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "hyperliquid").resolve()
MAKER_FEE = Decimal("0.00015")
TAKER_FEE = Decimal("0.00045")
DAY_MS = 86_400_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _fmt(d: Decimal) -> str:
    if d == 0:
        return "0.0"
    s = f"{d.normalize():f}"
    return s if "." in s else s + ".0"


def _wire(d: Decimal) -> str:
    return "0" if d == 0 else f"{d.normalize():f}"


class FakeHyperliquid(FakeVenueServer):
    name = "fake-hl"
    ws_ping_interval = None

    def __init__(self, agent_address: str, account_address: str, is_mainnet: bool = False,
                 push_every_s: float = 0.3) -> None:
        super().__init__()
        self.agent = agent_address.lower()
        self.account = account_address.lower()
        self.is_mainnet = is_mainnet
        self.push_every_s = push_every_s
        self.universe = _load("info_meta.json")["response"]["universe"]
        self.asset_of = {u["name"]: i for i, u in enumerate(self.universe)}
        self.books: dict[str, list[list[dict]]] = {}
        l2 = _load("info_l2Book.json")["response"]
        self.books[l2["coin"]] = l2["levels"]
        ws_l2 = _load("ws_l2Book.json")["msg"]["data"]
        self.books[ws_l2["coin"]] = ws_l2["levels"]
        ch = _load("info_clearinghouseState.json")["response"]
        self.margin = ch["marginSummary"]
        self.cross_margin = ch["crossMarginSummary"]
        self.withdrawable = ch["withdrawable"]
        self.rate_limit = _load("info_userRateLimit.json")["response"]
        self.history_fills: list[dict] = _load("info_userFills.json")["response"]
        self.fills: list[dict] = []  # ours, oldest first
        self.orders: dict[int, dict] = {}  # resting
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # coin -> (szi, entryPx)
        self.oids = itertools.count(77738308)
        self.rng = random.Random(7)
        self.tids: set[int] = set()
        self.nonces: list[int] = []
        self.scheduled_cancel: int | None = None
        self.fail_left = 0
        self.fail_status = 429
        self.log: list[dict] = []
        self.next_book_delay_s = 0.0
        self.refuse_until = 0.0
        # oid -> the last orderUpdates entry of that order (answers /info orderStatus).
        self.statuses: dict[int, dict] = {}

    # ------------------------------------------------------------ lifecycle

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/ws"

    def background(self) -> list:
        return [self._pusher()]

    # ------------------------------------------------------------ test controls

    def resting(self) -> list[dict]:
        return self.call(lambda: [dict(o) for o in self.orders.values()])

    def position(self, coin: str) -> Decimal:
        return self.call(lambda: self.positions.get(coin, (Decimal(0), Decimal(0)))[0])

    def fail_next(self, n: int, status: int = 429) -> None:
        def f():
            self.fail_left, self.fail_status = n, status
        self.call(f)

    def drop_ws(self, book_delay_s: float = 0.0, refuse_s: float = 0.0) -> int:
        """Abort every WebSocket; the next connections get no l2Book for book_delay_s, and
        connections are refused (closed at once) for refuse_s."""
        def f():
            self.next_book_delay_s = book_delay_s
            self.refuse_until = asyncio.get_running_loop().time() + refuse_s
            n = 0
            for ws in list(self.conns):
                ws.transport.abort()
                n += 1
            self._log("ws", event="drop", n=n)
            return n
        return self.call(f)

    def trade_through(self, coin: str, side: str) -> dict | None:
        """Fill our best resting order on `side` ('B' bid, 'A' ask) of `coin` in full, as maker."""
        def f():
            cands = [o for o in self.orders.values() if o["coin"] == coin and o["side"] == side]
            if not cands:
                return None
            best = max(cands, key=lambda o: Decimal(o["limitPx"]) * (1 if side == "B" else -1))
            del self.orders[best["oid"]]
            px, sz = Decimal(best["limitPx"]), Decimal(best["sz"])
            self._push_order_update(best, "filled")
            fill = self._make_fill(best, px, sz, crossed=False)
            return fill
        return self.call(f)

    def add_resting(self, coin: str, side: str, px: str, sz: str, cloid: str | None = None,
                    tif: str = "Alo") -> int:
        """Put an order straight on the book (no signature, nonce or price checks); returns its oid.
        side 'B' bid / 'A' ask; px and sz as wire strings ("2.1", "10")."""
        def f():
            oid = next(self.oids)
            self.orders[oid] = {"coin": coin, "side": side, "limitPx": _wire(Decimal(px)),
                                "sz": _wire(Decimal(sz)), "origSz": _wire(Decimal(sz)), "oid": oid,
                                "timestamp": now_ms(), "tif": tif, "reduceOnly": False, "cloid": cloid}
            self._push_order_update(self.orders[oid], "open")
            return oid
        return self.call(f)

    def fill_order(self, oid: int, sz: str | None = None, crossed: bool = False) -> dict:
        """Fill `sz` (default: all that rests) of resting order `oid` at its limit price; a partial
        fill leaves the rest resting (origSz unchanged). Returns the userFills entry."""
        def f():
            o = self.orders[oid]
            px, left = Decimal(o["limitPx"]), Decimal(o["sz"])
            qty = left if sz is None else min(left, Decimal(sz))
            if qty >= left:
                del self.orders[oid]
                self._push_order_update(o, "filled")
            else:
                o["sz"] = _wire(left - qty)
            return self._make_fill(o, px, qty, crossed=crossed)
        return self.call(f)

    def shift_book(self, coin: str, delta: str) -> None:
        """Move every level of `coin`'s book by `delta` (a price string, e.g. "0.004"): the market moves."""
        def f():
            for side in self.books[coin]:
                for lvl in side:
                    lvl["px"] = _wire(Decimal(lvl["px"]) + Decimal(delta))
        self.call(f)

    def entries(self, kind: str) -> list[dict]:
        return self.call(lambda: [dict(e) for e in self.log if e["kind"] == kind])

    # ------------------------------------------------------------ internals

    def _log(self, kind: str, **kw) -> None:
        self.log.append({"kind": kind, "t": now_ms(), **kw})

    def _new_tid(self) -> int:
        while True:
            t = self.rng.getrandbits(50)
            if t not in self.tids:
                self.tids.add(t)
                return t

    def _bbo(self, coin: str) -> tuple[Decimal, Decimal]:
        bids, asks = self.books[coin]
        return Decimal(bids[0]["px"]), Decimal(asks[0]["px"])

    def _make_fill(self, order: dict, px: Decimal, sz: Decimal, crossed: bool) -> dict:
        coin, side = order["coin"], order["side"]
        szi, entry = self.positions.get(coin, (Decimal(0), Decimal(0)))
        signed = sz if side == "B" else -sz
        new = szi + signed
        closed = Decimal(0)
        if szi == 0 or (szi > 0) == (signed > 0):
            entry = (abs(szi) * entry + sz * px) / abs(new)
            direction = "Open Long" if side == "B" else "Open Short"
        else:
            closing = min(sz, abs(szi))
            closed = closing * (px - entry) * (1 if szi > 0 else -1)
            direction = "Close Long" if szi > 0 else "Close Short"
            if new == 0:
                entry = Decimal(0)
            elif (new > 0) != (szi > 0):
                entry = px
        self.positions[coin] = (new, entry)
        t = now_ms()
        tid = self._new_tid()
        fee = (px * sz * (TAKER_FEE if crossed else MAKER_FEE)).quantize(Decimal("0.000001"))
        fill = {"coin": coin, "px": _wire(px), "sz": _wire(sz), "side": side, "time": t,
                "startPosition": _fmt(szi), "dir": direction, "closedPnl": _fmt(closed),
                "hash": "0x" + self.rng.getrandbits(256).to_bytes(32, "big").hex(), "oid": order["oid"],
                "crossed": crossed, "fee": _wire(fee), "tid": tid, "feeToken": "USDC"}
        if order.get("cloid"):
            fill["cloid"] = order["cloid"]
        self.fills.append(fill)
        self._log("fill", coin=coin, side=side, px=fill["px"], sz=fill["sz"], oid=order["oid"],
                  cloid=order.get("cloid"), tid=tid)
        buyer, seller = (self.account, "0x" + "ab" * 20) if side == "B" else ("0x" + "ab" * 20, self.account)
        taker_side = side if crossed else ("A" if side == "B" else "B")
        trade = {"coin": coin, "side": taker_side, "px": fill["px"], "sz": fill["sz"], "hash": fill["hash"],
                 "time": t, "tid": tid, "users": [buyer, seller]}
        self._broadcast(lambda s: s.get(("trades", coin)), {"channel": "trades", "data": [trade]})
        self._broadcast(lambda s: s.get(("userFills", self.account)),
                        {"channel": "userFills", "data": {"user": self.account, "fills": [fill]}})
        return fill

    def _push_order_update(self, o: dict, status: str) -> None:
        order = {k: o[k] for k in ("coin", "side", "limitPx", "sz", "oid", "timestamp", "origSz")}
        if o.get("cloid"):
            order["cloid"] = o["cloid"]
        msg = {"channel": "orderUpdates", "data": [{"order": order, "status": status, "statusTimestamp": now_ms()}]}
        self.statuses[o["oid"]] = msg["data"][0]
        self._broadcast(lambda s: s.get(("orderUpdates", self.account)), msg)

    def _broadcast(self, want, msg: dict) -> None:
        text = json.dumps(msg)
        for ws, st in list(self.conns.items()):
            if want(st["subs"]):
                asyncio.ensure_future(self._safe_send(ws, text))

    @staticmethod
    async def _safe_send(ws, text: str) -> None:
        try:
            await ws.send(text)
        except Exception:  # noqa: BLE001 - a dropped client
            pass

    # ------------------------------------------------------------ WebSocket

    async def _ws_conn(self, ws) -> None:
        if ws.request.path != "/ws":
            await ws.close(1008, "bad path")
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self.refuse_until:
            self._log("ws", event="refused")
            await ws.close(1013, "try again later")
            return
        st = {"subs": {}, "book_ready": loop.time() + self.next_book_delay_s, "first_book_sent": False}
        self.next_book_delay_s = 0.0
        self.conns[ws] = st
        self._log("ws", event="connect")
        try:
            await ws.send("Websocket connection established.")
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                method = msg.get("method")
                if method == "ping":
                    await ws.send(json.dumps({"channel": "pong"}))
                elif method in ("subscribe", "unsubscribe"):
                    sub = msg.get("subscription") or {}
                    key = (sub.get("type"), sub.get("coin") or (sub.get("user") or "").lower())
                    if method == "subscribe":
                        st["subs"][key] = sub
                    else:
                        st["subs"].pop(key, None)
                    self._log("ws", event=method, sub=sub)
                    await ws.send(json.dumps({"channel": "subscriptionResponse",
                                              "data": {"method": method, "subscription": sub}}))
                    if method == "subscribe" and key[0] == "userFills":
                        snap = (self.history_fills[:5] + list(reversed(self.fills)))
                        await ws.send(json.dumps({"channel": "userFills", "data": {
                            "isSnapshot": True, "user": self.account, "fills": snap}}))
        except Exception:  # noqa: BLE001 - client went away
            pass
        finally:
            self.conns.pop(ws, None)
            self._log("ws", event="disconnect")

    async def _pusher(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.push_every_s)
            t = now_ms()
            self._run_schedule_cancel(t)
            for ws, st in list(self.conns.items()):
                if loop.time() < st["book_ready"]:
                    continue
                for (typ, coin), _ in list(st["subs"].items()):
                    if typ == "l2Book" and coin in self.books:
                        msg = {"channel": "l2Book", "data": {"coin": coin, "time": t, "levels": self.books[coin]}}
                        await self._safe_send(ws, json.dumps(msg))
                        if not st["first_book_sent"]:
                            st["first_book_sent"] = True
                            self._log("ws", event="first_book", coin=coin)

    def _run_schedule_cancel(self, t: int) -> None:
        if self.scheduled_cancel is not None and t >= self.scheduled_cancel:
            self.scheduled_cancel = None
            for oid in list(self.orders):
                self._push_order_update(self.orders.pop(oid), "scheduledCancel")
            self._log("schedule_cancel_fired")

    # ------------------------------------------------------------ HTTP

    async def http_request(self, method: str, target: str, headers: dict[str, str], body: bytes
                           ) -> tuple[int, Any]:
        return self._route(method, target, body)

    def _route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if method != "POST" or path not in ("/info", "/exchange"):
            return 404, b"Not Found"
        if self.fail_left > 0:
            self.fail_left -= 1
            self._log("http_error", path=path, status=self.fail_status)
            return self.fail_status, b"Too Many Requests"
        try:
            req = json.loads(body)
        except ValueError:
            return 400, b"Failed to parse the request body as JSON"
        if path == "/info":
            return self._info(req)
        return 200, self._exchange(req)

    # ------------------------------------------------------------ /info

    def _info(self, req: dict) -> tuple[int, Any]:
        typ = req.get("type")
        user = (req.get("user") or "").lower()
        self._log("info", type=typ, user=user)
        if typ == "meta":
            return 200, {"universe": self.universe}
        if typ == "l2Book":
            coin = req.get("coin")
            return 200, {"coin": coin, "time": now_ms(), "levels": self.books.get(coin, [[], []])}
        if typ == "clearinghouseState":
            return 200, self._clearinghouse(user)
        if typ in ("frontendOpenOrders", "openOrders"):
            if user != self.account:
                return 200, []
            out = []
            for o in sorted(self.orders.values(), key=lambda o: -o["timestamp"]):
                if typ == "openOrders":
                    out.append({k: o[k] for k in ("coin", "limitPx", "oid", "side", "sz", "timestamp")})
                else:
                    d = {"children": [], "coin": o["coin"], "isPositionTpsl": False, "isTrigger": False,
                         "limitPx": o["limitPx"], "oid": o["oid"], "orderType": "Limit", "origSz": o["origSz"],
                         "reduceOnly": o["reduceOnly"], "side": o["side"], "sz": o["sz"], "tif": o["tif"],
                         "timestamp": o["timestamp"], "triggerCondition": "N/A", "triggerPx": "0.0"}
                    if o.get("cloid"):
                        d["cloid"] = o["cloid"]
                    out.append(d)
            return 200, out
        if typ == "userFills":
            if user != self.account:
                return 200, []
            return 200, (list(reversed(self.fills)) + self.history_fills)[:2000]
        if typ == "userFillsByTime":
            if user != self.account:
                return 200, []
            start, end = int(req.get("startTime", 0)), int(req.get("endTime") or 2**62)
            rows = [f for f in list(reversed(self.fills)) + self.history_fills if start <= f["time"] <= end]
            return 200, rows[:2000]
        if typ == "orderStatus":
            ref = req.get("oid")
            for oid, entry in reversed(self.statuses.items()):  # the latest oid of a cloid first
                if (oid == ref or entry["order"].get("cloid") == ref) and user == self.account:
                    return 200, {"status": "order", "order": entry}
            return 200, {"status": "unknownOid"}
        if typ == "userRateLimit":
            return 200, self.rate_limit
        if typ == "userFees":
            return 200, {"userCrossRate": "0.00045", "userAddRate": "0.00015", "userSpotCrossRate": "0.0007",
                         "userSpotAddRate": "0.0004", "activeReferralDiscount": "0.0", "dailyUserVlm": []}
        return 422, b"Failed to deserialize the JSON body into the target type"

    def _clearinghouse(self, user: str) -> dict:
        positions = []
        if user == self.account:
            for coin, (szi, entry) in sorted(self.positions.items()):
                if szi == 0:
                    continue
                value = abs(szi) * entry
                positions.append({"type": "oneWay", "position": {
                    "coin": coin, "szi": _wire(szi), "entryPx": _wire(entry), "leverage": {"type": "cross", "value": 20},
                    "liquidationPx": None, "marginUsed": _wire(value / 20), "positionValue": _wire(value),
                    "returnOnEquity": "0.0", "unrealizedPnl": "0.0", "maxTradeSzs": ["1000.0", "1000.0"]}})
        return {"assetPositions": positions, "marginSummary": self.margin, "crossMarginSummary": self.cross_margin,
                "withdrawable": self.withdrawable, "crossMaintenanceMarginUsed": "0.0", "time": now_ms()}

    # ------------------------------------------------------------ /exchange

    def _recover(self, req: dict) -> str:
        sig = req["signature"]
        h = action_hash(req["action"], req.get("vaultAddress"), req["nonce"], req.get("expiresAfter"))
        msg = encode_typed_data(full_message=l1_payload(construct_phantom_agent(h, self.is_mainnet)))
        v = int(sig["v"])
        return Account.recover_message(msg, vrs=(v, int(sig["r"], 16), int(sig["s"], 16))).lower()

    def _check_nonce(self, nonce: int) -> str:
        t = now_ms()
        if not isinstance(nonce, int) or nonce <= t - 2 * DAY_MS or nonce >= t + DAY_MS:
            return f"Invalid nonce: nonce {nonce} is outside the allowed window"
        if nonce in self.nonces:
            return "Invalid nonce: duplicate nonce"
        top = sorted(self.nonces, reverse=True)[:100]
        if len(top) == 100 and nonce <= top[-1]:
            return "Invalid nonce: nonce too low"
        self.nonces = top + [nonce]
        return ""

    def _exchange(self, req: dict) -> dict:
        action = req.get("action") or {}
        typ = action.get("type")
        try:
            signer = self._recover(req)
        except Exception as e:  # noqa: BLE001
            self._log("exchange", type=typ, error=f"bad signature {type(e).__name__}")
            return {"status": "err", "response": "Invalid signature"}
        if signer != self.agent:
            self._log("exchange", type=typ, error="unknown signer", signer=signer)
            return {"status": "err", "response": f"User or API Wallet {signer} does not exist."}
        if req.get("vaultAddress") is not None:
            return {"status": "err", "response": "Vault not registered"}
        err = self._check_nonce(req.get("nonce"))
        if err:
            self._log("exchange", type=typ, error=err)
            return {"status": "err", "response": err}
        if typ == "order":
            statuses = [self._order(w) for w in action.get("orders", [])]
            self._log("exchange", type=typ, tifs=[w["t"]["limit"]["tif"] for w in action["orders"]],
                      cloids=[w.get("c") for w in action["orders"]], statuses=statuses,
                      book_ok=self._book_flag())
            return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}
        if typ in ("cancel", "cancelByCloid"):
            statuses = []
            targets = []
            for c in action.get("cancels", []):
                if typ == "cancel":
                    o = self.orders.get(c["o"])
                    o = o if o is not None and self.asset_of[o["coin"]] == c["a"] else None
                else:
                    o = next((x for x in self.orders.values()
                              if x.get("cloid") == c["cloid"] and self.asset_of[x["coin"]] == c["asset"]), None)
                if o is None:
                    statuses.append({"error": "Order was never placed, already canceled, or filled."})
                    targets.append(c.get("o") or c.get("cloid"))
                    continue
                del self.orders[o["oid"]]
                self._push_order_update(o, "canceled")
                statuses.append("success")
                targets.append(o["oid"] if typ == "cancel" else o.get("cloid"))
            self._log("exchange", type=typ, targets=targets, statuses=statuses)
            return {"status": "ok", "response": {"type": "cancel", "data": {"statuses": statuses}}}
        if typ == "batchModify":
            statuses = [self._modify(m.get("oid"), m.get("order") or {}) for m in action.get("modifies", [])]
            self._log("exchange", type=typ, cloids=[m["order"].get("c") for m in action["modifies"]],
                      pxs=[m["order"].get("p") for m in action["modifies"]], statuses=statuses,
                      book_ok=self._book_flag())
            return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}
        if typ == "scheduleCancel":
            t = action.get("time")
            if t is not None and t < now_ms() + 5000:
                self._log("exchange", type=typ, time=t, error="too early")
                return {"status": "err", "response": "Scheduled cancel time too early, must be at least 5 seconds "
                                                     "from now."}
            self.scheduled_cancel = t
            self._log("exchange", type=typ, time=t)
            return {"status": "ok", "response": {"type": "default"}}
        self._log("exchange", type=typ, error="unknown action")
        return {"status": "err", "response": f"Unknown action type {typ!r}"}

    def _book_flag(self) -> bool:
        """True when every connection that subscribed to a book has received one (no stale window)."""
        return all(st["first_book_sent"] for st in self.conns.values()
                   if any(k[0] == "l2Book" for k in st["subs"])) and bool(self.conns)

    def _modify(self, ref, w: dict) -> dict:
        """batchModify entry: the order (by oid or cloid) is replaced by a new one with a new oid;
        the old oid gets a "canceled" update after the new one's "open" (the order a client must not
        read as the cloid being cancelled). A refused new order leaves the old one resting."""
        o = next((x for x in self.orders.values() if x["oid"] == ref or (x.get("cloid") and x["cloid"] == ref)),
                 None)
        if o is None:
            return {"error": "Cannot modify canceled or filled order"}
        del self.orders[o["oid"]]
        st = self._order(w)
        if "error" in st:
            self.orders[o["oid"]] = o
            return st
        self._push_order_update(o, "canceled")
        return st

    def _order(self, w: dict) -> dict:
        a = w["a"]
        if not 0 <= a < len(self.universe):
            return {"error": "Asset not found."}
        coin = self.universe[a]["name"]
        szd = self.universe[a]["szDecimals"]
        px, sz = Decimal(w["p"]), Decimal(w["s"])
        if w["p"] != _wire(px) or w["s"] != _wire(sz):
            return {"error": "Order has invalid price or size: trailing zeros."}
        decimals = max(0, -px.normalize().as_tuple().exponent)
        sig = len(px.normalize().as_tuple().digits)
        if px <= 0 or (px != px.to_integral_value() and (sig > 5 or decimals > 6 - szd)):
            return {"error": "Order has invalid price."}
        if sz <= 0 or max(0, -sz.normalize().as_tuple().exponent) > szd:
            return {"error": "Order has invalid size."}
        if px * sz < 10:
            return {"error": "Order must have minimum value of $10."}
        tif = w["t"]["limit"]["tif"]
        is_buy = bool(w["b"])
        cloid = w.get("c")
        if cloid and any(o.get("cloid") == cloid for o in self.orders.values()):
            return {"error": "Duplicate cloid."}
        if coin not in self.books:
            return {"error": "Order could not be placed: no liquidity."}
        bb, ba = self._bbo(coin)
        crosses = px >= ba if is_buy else px <= bb
        oid = next(self.oids)
        order = {"coin": coin, "side": "B" if is_buy else "A", "limitPx": _wire(px), "sz": _wire(sz),
                 "origSz": _wire(sz), "oid": oid, "timestamp": now_ms(), "tif": tif,
                 "reduceOnly": bool(w["r"]), "cloid": cloid}
        if tif == "Alo" and crosses:
            return {"error": f"Post only order would have immediately matched, bbo was {bb}@{ba}. asset={a}"}
        if crosses:
            fill_px = ba if is_buy else bb
            self._push_order_update(order, "filled")
            self._make_fill(order, fill_px, sz, crossed=True)
            out = {"filled": {"totalSz": _wire(sz), "avgPx": _wire(fill_px), "oid": oid}}
            if cloid:
                out["filled"]["cloid"] = cloid
            return out
        if tif == "Ioc":
            return {"error": f"Order could not immediately match against any resting orders. asset={a}"}
        self.orders[oid] = order
        self._push_order_update(order, "open")
        out = {"resting": {"oid": oid}}
        if cloid:
            out["resting"]["cloid"] = cloid
        return out
