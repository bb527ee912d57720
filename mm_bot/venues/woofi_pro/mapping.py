"""Orderly (WOOFi Pro) wire <-> core types. Pure functions, no I/O.

Wire -> core: WS `orderbook` / `orderbookupdate` (through OrderlyBookSequencer, which follows the
`prevTs` chain), `trade`, `bbo`, `executionreport`, `position`; REST envelopes, order acks, open
orders, positions, symbol info. Core -> wire: order bodies and cancel requests.

Prices/sizes become integer ticks/lots of the coin's Instrument (nearest grid point). Every malformed
message raises WireError(message_type, detail), never a bare KeyError/TypeError.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from mm_bot.core.types import (
    BUY,
    SELL,
    BookUpdate,
    Cancel,
    FeedProblem,
    Fill,
    Instrument,
    Modify,
    OpenOrder,
    OrderAck,
    OrderStatus,
    Place,
    Tif,
    TradePrint,
    VenuePosition,
)
from mm_bot.venues.errors import WireError

from .auth import path_with_query

SYMBOL_PREFIX = "PERP_"
SYMBOL_SUFFIX = "_USDC"
TIF_TO_ORDER_TYPE = {Tif.ALO: "POST_ONLY", Tif.IOC: "IOC", Tif.GTC: "LIMIT"}
ORDER_TYPE_TO_TIF = {
    "POST_ONLY": Tif.ALO,
    "IOC": Tif.IOC,
    "LIMIT": Tif.GTC,
    "FOK": Tif.IOC,
    "MARKET": Tif.IOC,
}
_STATUS = {
    "NEW": OrderStatus.OPEN,
    "PARTIAL_FILLED": OrderStatus.PARTIAL,
    "FILLED": OrderStatus.FILLED,
    "CANCELLED": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.CANCELLED,
    # Not in the documented list (NEW/PARTIAL_FILLED/FILLED/CANCELLED/REJECTED): some Orderly-family
    # engines report an edited order as REPLACED. Read as still resting, never as an unknown status
    # (a WireError would drop the report).
    "REPLACED": OrderStatus.OPEN,
}
MAX_CLIENT_ORDER_ID = 36

BotOf = str | Callable[[str], str]


@contextmanager
def wire_context(message_type: str) -> Iterator[None]:
    try:
        yield
    except WireError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
        raise WireError(message_type, f"{type(exc).__name__}: {exc}") from exc


# ---------------------------------------------------------------- small dataclasses


@dataclass(frozen=True, slots=True)
class Bbo:
    """Top of book from the `bbo` topic (px in ticks, sizes in lots)."""

    coin: str
    ts_ms: int
    bid_px: int
    bid_sz: int
    ask_px: int
    ask_sz: int


@dataclass(frozen=True, slots=True)
class RestResult:
    """A REST envelope `{success, data, timestamp}` or error `{success:false, code, message}`."""

    ok: bool
    data: Any
    code: int
    message: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class WsControl:
    """A WS control frame: ping/pong, auth/subscribe/request replies (error text when success is false)."""

    event: str
    success: bool
    id: str
    error: str
    ts_ms: int


# ---------------------------------------------------------------- numbers and symbols


def _step(step: float) -> Decimal:
    d = Decimal(repr(float(step)))
    if d <= 0:
        raise ValueError(f"step must be positive, got {step}")
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d


def format_units(n: int, step: float) -> str:
    """Exact decimal text of n * step, e.g. (1234567, 0.01) -> '12345.67'; no float noise."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError(f"expected integer ticks/lots, got {n!r}")
    return format(_step(step) * n, "f")


def to_decimal(value: Any) -> Decimal:
    if value is None or isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {value!r}")
        return Decimal(repr(value))
    if isinstance(value, int | str):
        d = Decimal(value)
        if not d.is_finite():
            raise ValueError(f"non-finite number {value!r}")
        return d
    raise ValueError(f"expected a number, got {type(value).__name__}")


def to_units(value: Any, step: float) -> int:
    """Nearest integer count of `step` in a wire number (float, int or decimal string)."""
    return int((to_decimal(value) / _step(step)).to_integral_value(rounding=ROUND_HALF_EVEN))


def _float(value: Any) -> float:
    return float(to_decimal(value))


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"expected an integer, got {value!r}")


def coin_to_symbol(coin: str) -> str:
    """'BTC' -> 'PERP_BTC_USDC'."""
    if not coin or "_" in coin:
        raise ValueError(f"bad coin {coin!r}")
    return f"{SYMBOL_PREFIX}{coin.upper()}{SYMBOL_SUFFIX}"


def symbol_to_coin(symbol: str) -> str:
    """'PERP_BTC_USDC' -> 'BTC'; WireError for anything else."""
    if (
        not isinstance(symbol, str)
        or not symbol.startswith(SYMBOL_PREFIX)
        or not symbol.endswith(SYMBOL_SUFFIX)
        or len(symbol) <= len(SYMBOL_PREFIX) + len(SYMBOL_SUFFIX)
    ):
        raise WireError("symbol", f"not an Orderly perp symbol: {symbol!r}")
    return symbol[len(SYMBOL_PREFIX) : -len(SYMBOL_SUFFIX)]


def _instrument(instruments: Mapping[str, Instrument], symbol: Any, message_type: str) -> Instrument:
    try:
        coin = symbol_to_coin(symbol)
    except WireError as exc:
        raise WireError(message_type, exc.detail) from None
    inst = instruments.get(coin)
    if inst is None:
        raise WireError(message_type, f"no instrument for {symbol}")
    return inst


def _side(value: Any) -> int:
    if value == "BUY":
        return BUY
    if value == "SELL":
        return SELL
    raise ValueError(f"bad side {value!r}")


def _bot(bot_id: BotOf, cloid: str) -> str:
    return bot_id(cloid) if callable(bot_id) else bot_id


def _data(msg: Any) -> dict[str, Any]:
    data = msg["data"]
    if not isinstance(data, dict):
        raise ValueError("data is not an object")
    return data


def _levels(rows: Any, inst: Instrument) -> tuple[tuple[int, int], ...]:
    """[[px, qty], ...] or [{price, quantity}, ...] -> ((ticks, lots), ...)."""
    if not isinstance(rows, list):
        raise ValueError("levels are not a list")
    out: list[tuple[int, int]] = []
    for row in rows:
        if isinstance(row, dict):
            px, qty = row["price"], row["quantity"]
        else:
            px, qty = row[0], row[1]
        out.append((to_units(px, inst.tick_size), to_units(qty, inst.lot_size)))
    return tuple(out)


def ws_topic(msg: Any) -> tuple[str, str]:
    """(symbol, kind) of a WS message: ('PERP_BTC_USDC', 'orderbookupdate'), ('', 'executionreport'),
    ('', 'event:ping') for control frames."""
    with wire_context("ws"):
        if not isinstance(msg, dict):
            raise ValueError("message is not an object")
        topic = msg.get("topic")
        if isinstance(topic, str):
            sym, _, kind = topic.rpartition("@")
            return sym, kind
        event = msg.get("event")
        if isinstance(event, str):
            if event == "request" and isinstance(msg.get("data"), dict):
                return str(msg["data"].get("symbol", "")), "request:orderbook"
            return "", f"event:{event}"
        raise ValueError("neither topic nor event")


# ---------------------------------------------------------------- market data


def parse_orderbook(msg: Any, inst: Instrument, recv_ms: int | None = None) -> tuple[BookUpdate, int]:
    """A full book: WS `orderbook` topic, the WS `request` orderbook reply, or REST /v1/orderbook.

    Returns (snapshot BookUpdate, venue ts in ms). BookUpdate.ts_ms is recv_ms when given.
    """
    with wire_context("orderbook"):
        data = _data(msg)
        if "ts" in data:  # WS request reply carries ts inside data
            ts = _int(data["ts"])
        elif "timestamp" in data:  # REST /v1/orderbook/{symbol}
            ts = _int(data["timestamp"])
        else:
            ts = _int(msg["ts"])
        if "symbol" in data and symbol_to_coin(data["symbol"]) != inst.coin:
            raise ValueError(f"symbol {data['symbol']} is not {inst.coin}")
        book = BookUpdate(
            coin=inst.coin,
            ts_ms=ts if recv_ms is None else recv_ms,
            bids=_levels(data["bids"], inst),
            asks=_levels(data["asks"], inst),
            snapshot=True,
        )
        return book, ts


def parse_orderbook_update(
    msg: Any, inst: Instrument, recv_ms: int | None = None
) -> tuple[BookUpdate, int, int]:
    """A WS `orderbookupdate` delta -> (BookUpdate, ts, prevTs). Use OrderlyBookSequencer to chain them."""
    with wire_context("orderbookupdate"):
        data = _data(msg)
        ts = _int(msg["ts"])
        prev = _int(data["prevTs"])
        if symbol_to_coin(data["symbol"]) != inst.coin:
            raise ValueError(f"symbol {data['symbol']} is not {inst.coin}")
        book = BookUpdate(
            coin=inst.coin,
            ts_ms=ts if recv_ms is None else recv_ms,
            bids=_levels(data["bids"], inst),
            asks=_levels(data["asks"], inst),
            snapshot=False,
        )
        return book, ts, prev


class OrderlyBookSequencer:
    """Follows the `prevTs` chain of one symbol's `orderbookupdate` deltas (PROTOCOLS section 4).

    Feed it snapshots (`orderbook` topic, WS request reply, REST orderbook) and deltas; it returns the
    BookUpdates to apply in order, or a FeedProblem when the chain breaks (resync needed: fetch a
    snapshot). Deltas that arrive while out of sync are buffered and replayed after the next snapshot,
    sorted by ts, dropping those that the snapshot already covers. A delta is applied when
    prevTs <= book ts < ts: in sync that means prevTs == book ts; right after a snapshot it also
    accepts the delta that straddles the snapshot time, which is safe because delta levels carry
    absolute quantities as of ts.
    """

    def __init__(self, inst: Instrument, max_buffer: int = 2000) -> None:
        self.inst = inst
        self.max_buffer = max_buffer
        self.book_ts: int | None = None
        self.needs_resync = True
        self._buffer: list[tuple[int, int, BookUpdate]] = []
        self._reported = False

    def reset(self) -> None:
        """Forget the book (e.g. after a reconnect): the next snapshot restarts the chain."""
        self.book_ts = None
        self.needs_resync = True
        self._buffer.clear()
        self._reported = False

    def on_message(self, msg: Any, recv_ms: int | None = None) -> list[BookUpdate | FeedProblem]:
        """Dispatch on the message kind: `orderbookupdate` is a delta, anything else with a book a snapshot."""
        topic = msg.get("topic", "") if isinstance(msg, dict) else ""
        if isinstance(topic, str) and topic.endswith("@orderbookupdate"):
            return self.on_update(msg, recv_ms)
        return self.on_snapshot(msg, recv_ms)

    def on_snapshot(self, msg: Any, recv_ms: int | None = None) -> list[BookUpdate | FeedProblem]:
        book, ts = parse_orderbook(msg, self.inst, recv_ms)
        if not self.needs_resync and self.book_ts is not None and ts < self.book_ts:
            return []  # older than the book we already have
        self.book_ts = ts
        self.needs_resync = False
        self._reported = False
        out: list[BookUpdate | FeedProblem] = [book]
        pending = sorted(self._buffer, key=lambda item: item[0])
        self._buffer.clear()
        for i, (d_ts, d_prev, delta) in enumerate(pending):
            if d_ts <= self.book_ts:
                continue
            if d_prev <= self.book_ts:
                self.book_ts = d_ts
                out.append(delta)
                continue
            self._buffer = [p for p in pending[i:] if p[0] > self.book_ts]
            self.needs_resync = True
            self._reported = True
            out.append(self._problem(d_ts, d_prev))
            break
        return out

    def on_update(self, msg: Any, recv_ms: int | None = None) -> list[BookUpdate | FeedProblem]:
        delta, ts, prev = parse_orderbook_update(msg, self.inst, recv_ms)
        if self.needs_resync or self.book_ts is None:
            self._buffer.append((ts, prev, delta))
            if len(self._buffer) > self.max_buffer:
                del self._buffer[: len(self._buffer) - self.max_buffer]
            if self._reported:
                return []
            self._reported = True
            return [FeedProblem(self.inst.coin, delta.ts_ms, "orderbook: awaiting snapshot (resync needed)")]
        if ts <= self.book_ts:
            return []  # already contained in the book
        if prev <= self.book_ts:
            self.book_ts = ts
            return [delta]
        self.needs_resync = True
        self._reported = True
        self._buffer.append((ts, prev, delta))
        return [self._problem(delta.ts_ms, prev)]

    def _problem(self, ts_ms: int, prev: int) -> FeedProblem:
        return FeedProblem(
            self.inst.coin,
            ts_ms,
            f"orderbookupdate gap: prevTs {prev} != book ts {self.book_ts}; resync from snapshot",
        )


def parse_trade(msg: Any, inst: Instrument, recv_ms: int | None = None) -> TradePrint:
    """WS `{sym}@trade` -> TradePrint (side is the taker's side)."""
    with wire_context("trade"):
        data = _data(msg)
        if symbol_to_coin(data["symbol"]) != inst.coin:
            raise ValueError(f"symbol {data['symbol']} is not {inst.coin}")
        ts = _int(msg["ts"])
        return TradePrint(
            coin=inst.coin,
            ts_ms=ts if recv_ms is None else recv_ms,
            px=to_units(data["price"], inst.tick_size),
            sz=to_units(data["size"], inst.lot_size),
            aggressor=_side(data["side"]),
        )


def parse_bbo(msg: Any, inst: Instrument, recv_ms: int | None = None) -> Bbo:
    """WS `{sym}@bbo` -> Bbo (top of book only; not a BookUpdate, which would wipe deeper levels)."""
    with wire_context("bbo"):
        data = _data(msg)
        if symbol_to_coin(data["symbol"]) != inst.coin:
            raise ValueError(f"symbol {data['symbol']} is not {inst.coin}")
        ts = _int(msg["ts"])
        return Bbo(
            coin=inst.coin,
            ts_ms=ts if recv_ms is None else recv_ms,
            bid_px=to_units(data["bid"], inst.tick_size),
            bid_sz=to_units(data["bidSize"], inst.lot_size),
            ask_px=to_units(data["ask"], inst.tick_size),
            ask_sz=to_units(data["askSize"], inst.lot_size),
        )


# ---------------------------------------------------------------- private WS


def parse_execution_report(
    msg: Any, instruments: Mapping[str, Instrument], bot_id: BotOf = ""
) -> list[OrderAck | Fill]:
    """WS `executionreport` -> [OrderAck] (NEW/CANCELLED/REJECTED/EXPIRED) or [Fill] (a trade).

    bot_id is a string or a function of the client order id. The fee is taken as reported
    (feeAsset is USDC on Orderly perps; positive = cost). Fill.remaining = quantity - totalExecutedQuantity.
    """
    mt = "executionreport"
    with wire_context(mt):
        data = _data(msg)
        inst = _instrument(instruments, data["symbol"], mt)
        cloid = data.get("clientOrderId") or ""
        if not isinstance(cloid, str):
            raise ValueError(f"bad clientOrderId {cloid!r}")
        status_text = data["status"]
        status = _STATUS.get(status_text)
        if status is None:
            raise ValueError(f"unknown status {status_text!r}")
        ts = _int(data.get("timestamp", msg.get("ts")))
        oid = str(_int(data["orderId"]))
        bot = _bot(bot_id, cloid)
        if status in (OrderStatus.PARTIAL, OrderStatus.FILLED):
            executed = to_units(data["executedQuantity"], inst.lot_size)
            if executed <= 0:
                return []
            total = to_units(data["totalExecutedQuantity"], inst.lot_size)
            qty = to_units(data["quantity"], inst.lot_size)
            return [
                Fill(
                    bot_id=bot,
                    coin=inst.coin,
                    cloid=cloid,
                    fill_id=str(_int(data["tradeId"])),
                    side=_side(data["side"]),
                    px=to_units(data["executedPrice"], inst.tick_size),
                    sz=executed,
                    maker=bool(data["maker"]),
                    fee_usd=_float(data.get("fee", 0.0)),
                    ts_ms=ts,
                    remaining=max(qty - total, 0),
                )
            ]
        reason = data.get("reason") or ""
        return [
            OrderAck(
                bot_id=bot,
                coin=inst.coin,
                cloid=cloid,
                status=status,
                ts_ms=ts,
                venue_oid=oid,
                reason=str(reason),
            )
        ]


def parse_position_push(msg: Any) -> list[VenuePosition]:
    """WS `position` topic (`data.positions[]`, camelCase fields) -> positions."""
    mt = "position"
    with wire_context(mt):
        data = _data(msg)
        rows = data["positions"]
        if not isinstance(rows, list):
            raise ValueError("positions is not a list")
        ts_default = _int(msg.get("ts", 0))
        return [
            VenuePosition(
                coin=symbol_to_coin(r["symbol"]),
                qty=_float(r["positionQty"]),
                entry_px=_float(r.get("averageOpenPrice") or 0),
                mark_px=_float(r.get("markPrice") or 0),
                unrealized_pnl=_float(r.get("unsettledPnl") or 0),
                ts_ms=_int(r.get("timestamp", ts_default)),
            )
            for r in rows
        ]


def parse_ws_control(msg: Any) -> WsControl:
    """ping / pong / auth / subscribe / unsubscribe / request replies."""
    with wire_context("ws_event"):
        event = msg["event"]
        if not isinstance(event, str):
            raise ValueError("event is not a string")
        success = msg.get("success", True)
        if not isinstance(success, bool):
            raise ValueError(f"success is not a bool: {success!r}")
        return WsControl(
            event=event,
            success=success,
            id=str(msg.get("id", "")),
            error=str(msg.get("errorMsg", "")),
            ts_ms=_int(msg.get("ts", 0)),
        )


def pong_frame() -> dict[str, str]:
    return {"event": "pong"}


def subscribe_frame(frame_id: str, topic: str) -> dict[str, str]:
    return {"id": frame_id, "event": "subscribe", "topic": topic}


def request_orderbook_frame(frame_id: str, coin: str) -> dict[str, Any]:
    return {
        "id": frame_id,
        "event": "request",
        "params": {"type": "orderbook", "symbol": coin_to_symbol(coin)},
    }


# ---------------------------------------------------------------- REST


def parse_rest(msg: Any, message_type: str = "rest") -> RestResult:
    """The `{success, data, timestamp}` / `{success:false, code, message}` envelope."""
    with wire_context(message_type):
        if not isinstance(msg, dict):
            raise ValueError("response is not an object")
        ok = msg["success"]
        if not isinstance(ok, bool):
            raise ValueError(f"success is not a bool: {ok!r}")
        return RestResult(
            ok=ok,
            data=msg.get("data"),
            code=_int(msg.get("code", 0)),
            message=str(msg.get("message", "")),
            ts_ms=_int(msg.get("timestamp", 0)),
        )


def parse_order_status(msg: Any) -> tuple[OrderStatus, str]:
    """GET /v1/client/order/{client_order_id} -> (status, the venue's status word)."""
    mt = "client order"
    res = ok_result(msg, mt)
    with wire_context(mt):
        word = str(res.data["status"])
        if word not in _STATUS:
            raise ValueError(f"unknown order status {word!r}")
        return _STATUS[word], word


def parse_order_response(msg: Any, place: Place, ts_ms: int) -> OrderAck:
    """POST /v1/order reply -> OrderAck: OPEN (accepted; fills and post-only rejects follow on the
    executionreport stream) or REJECTED with 'code: message'."""
    mt = "order_response"
    res = parse_rest(msg, mt)
    if not res.ok:
        return OrderAck(
            bot_id=place.bot_id,
            coin=place.coin,
            cloid=place.cloid,
            status=OrderStatus.REJECTED,
            ts_ms=ts_ms,
            reason=f"{res.code}: {res.message}",
        )
    with wire_context(mt):
        data = res.data
        if not isinstance(data, dict):
            raise ValueError("data is not an object")
        cid = data.get("client_order_id") or place.cloid
        if cid != place.cloid:
            raise ValueError(f"client_order_id {cid!r} is not {place.cloid!r}")
        return OrderAck(
            bot_id=place.bot_id,
            coin=place.coin,
            cloid=place.cloid,
            status=OrderStatus.OPEN,
            ts_ms=ts_ms,
            venue_oid=str(_int(data["order_id"])),
        )


def ok_result(msg: Any, mt: str) -> RestResult:
    """parse_rest, with an error envelope raised as WireError(mt, 'error response CODE: MESSAGE')."""
    res = parse_rest(msg, mt)
    if not res.ok:
        raise WireError(mt, f"error response {res.code}: {res.message}")
    return res


def _rows(res: RestResult) -> list[dict[str, Any]]:
    data = res.data
    rows = data["rows"] if isinstance(data, dict) and "rows" in data else data
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("rows are not a list of objects")
    return rows


def parse_open_orders(msg: Any, instruments: Mapping[str, Instrument]) -> list[OpenOrder]:
    """GET /v1/orders?status=INCOMPLETE -> OpenOrder list (symbols without an instrument are skipped)."""
    mt = "orders"
    res = ok_result(msg, mt)
    with wire_context(mt):
        out: list[OpenOrder] = []
        for r in _rows(res):
            coin = symbol_to_coin(r["symbol"])
            inst = instruments.get(coin)
            if inst is None:
                continue
            status = _STATUS.get(r["status"], OrderStatus.OPEN)
            out.append(
                OpenOrder(
                    coin=coin,
                    cloid=str(r.get("client_order_id") or ""),
                    venue_oid=str(_int(r["order_id"])),
                    side=_side(r["side"]),
                    px=to_units(r["price"], inst.tick_size),
                    sz=to_units(r["quantity"], inst.lot_size),
                    filled=to_units(r.get("executed") or 0, inst.lot_size),
                    status=status,
                    tif=ORDER_TYPE_TO_TIF.get(r.get("type", "LIMIT"), Tif.GTC),
                    reduce_only=bool(r.get("reduce_only", False)),
                    ts_ms=_int(r.get("updated_time") or r.get("created_time") or res.ts_ms),
                )
            )
        return out


def parse_positions(msg: Any) -> list[VenuePosition]:
    """GET /v1/positions -> positions (`data.rows[]`, snake_case fields)."""
    mt = "positions"
    res = ok_result(msg, mt)
    with wire_context(mt):
        return [
            VenuePosition(
                coin=symbol_to_coin(r["symbol"]),
                qty=_float(r["position_qty"]),
                entry_px=_float(r.get("average_open_price") or 0),
                mark_px=_float(r.get("mark_price") or 0),
                unrealized_pnl=_float(r.get("unsettled_pnl") or 0),
                ts_ms=_int(r.get("timestamp") or res.ts_ms),
            )
            for r in _rows(res)
        ]


def instrument_from_symbol_info(row: Any) -> Instrument:
    """One `/v1/public/info` row -> Instrument (quote_tick, base_tick, min_notional)."""
    with wire_context("symbol_info"):
        return Instrument(
            coin=symbol_to_coin(row["symbol"]),
            tick_size=_float(row["quote_tick"]),
            lot_size=_float(row["base_tick"]),
            min_notional_usd=_float(row.get("min_notional") or 0),
        )


def parse_symbol_info(msg: Any) -> dict[str, Instrument]:
    """GET /v1/public/info (rows) or /v1/public/info/{symbol} (one object) -> {coin: Instrument}."""
    mt = "symbol_info"
    res = ok_result(msg, mt)
    with wire_context(mt):
        insts = [instrument_from_symbol_info(r) for r in _rows(res)]
    return {i.coin: i for i in insts}


# ---------------------------------------------------------------- core -> wire


def place_to_order_body(place: Place, inst: Instrument, as_numbers: bool = False) -> dict[str, Any]:
    """Place -> POST /v1/order body (key order fixed, so the signed JSON text is deterministic).

    Prices/quantities are exact decimal strings of ticks/lots by default; as_numbers=True emits
    JSON numbers instead (the form of the docs and the official connector; the shortest float repr of
    an exact decimal of <= 15 significant digits prints back as that decimal).
    """
    # UNVERIFIED: string order_price/order_quantity; the OpenAPI examples and the connector send numbers.
    if place.coin != inst.coin:
        raise ValueError(f"place for {place.coin} with instrument of {inst.coin}")
    if place.side not in (BUY, SELL):
        raise ValueError(f"bad side {place.side}")
    if place.px <= 0 or place.sz <= 0:
        raise ValueError("price and size must be positive")
    if not place.cloid or len(place.cloid) > MAX_CLIENT_ORDER_ID or place.cloid.startswith("-"):
        raise ValueError(f"client_order_id {place.cloid!r}: 1..36 chars, not starting with '-'")
    px = format_units(place.px, inst.tick_size)
    qty = format_units(place.sz, inst.lot_size)
    body: dict[str, Any] = {
        "symbol": coin_to_symbol(place.coin),
        "order_type": TIF_TO_ORDER_TYPE[Tif(place.tif)],
        "side": "BUY" if place.side == BUY else "SELL",
        "client_order_id": place.cloid,
        "order_price": float(px) if as_numbers else px,
        "order_quantity": float(qty) if as_numbers else qty,
    }
    if place.reduce_only:
        body["reduce_only"] = True
    return body


def edit_order_body(modify: Modify, order_id: str, inst: Instrument) -> dict[str, Any]:
    """Modify -> PUT /v1/order body (PROTOCOLS 2.3: only price and quantity can change; order_id,
    symbol, order_type and side identify the order).

    Keys in the order the official connector sends them (alphabetical: `edit_order` signs
    json.dumps of its sorted kwargs), order_id as a string, price/quantity as JSON numbers: the
    signed text reproduces the connector's PUT /v1/order vector byte for byte.

    order_quantity is the order's new TOTAL quantity (Modify.sz lots, the filled lots included),
    the same quantity the venue reports for the order (`quantity` beside `totalExecutedQuantity`).
    UNVERIFIED: the docs do not say whether an edit's order_quantity is the total or what is left
    to fill; the total is the reading consistent with every other Orderly order quantity.
    """
    if modify.coin != inst.coin:
        raise ValueError(f"modify for {modify.coin} with instrument of {inst.coin}")
    if modify.side not in (BUY, SELL):
        raise ValueError(f"bad side {modify.side}")
    if modify.px <= 0 or modify.sz <= 0:
        raise ValueError("price and size must be positive")
    oid = str(order_id).strip()
    if not oid.isdigit():
        raise ValueError(f"bad venue order id {order_id!r}")
    return {
        "order_id": oid,
        "order_price": float(format_units(modify.px, inst.tick_size)),
        "order_quantity": float(format_units(modify.sz, inst.lot_size)),
        "order_type": TIF_TO_ORDER_TYPE[Tif(modify.tif)],
        "side": "BUY" if modify.side == BUY else "SELL",
        "symbol": coin_to_symbol(modify.coin),
    }


def edit_sent(msg: Any) -> str:
    """A PUT /v1/order reply -> '' when the venue took the edit for processing (`data.status`
    EDIT_SENT), else the venue's error text. EDIT_SENT is not the outcome: that comes on the
    executionreport stream."""
    res = parse_rest(msg, "edit_order")
    if not res.ok:
        return f"{res.code}: {res.message}"
    status = res.data.get("status") if isinstance(res.data, dict) else None
    if status in (None, "EDIT_SENT", "SUCCESS"):
        return ""
    return f"unexpected edit status {status!r}"


def cancel_request(cancel: Cancel) -> tuple[str, str]:
    """Cancel by client order id -> ('DELETE', '/v1/client/order?client_order_id=..&symbol=..')."""
    params = [("client_order_id", cancel.cloid), ("symbol", coin_to_symbol(cancel.coin))]
    return "DELETE", path_with_query("/v1/client/order", params)


def cancel_all_request(coin: str | None = None) -> tuple[str, str]:
    """('DELETE', '/v1/orders?symbol=..') (all symbols when coin is None)."""
    params = [("symbol", coin_to_symbol(coin))] if coin else None
    return "DELETE", path_with_query("/v1/orders", params)


def open_orders_request(coin: str | None = None) -> tuple[str, str]:
    """('GET', '/v1/orders?symbol=..&status=INCOMPLETE')."""
    params: list[tuple[str, str]] = [("symbol", coin_to_symbol(coin))] if coin else []
    params.append(("status", "INCOMPLETE"))
    return "GET", path_with_query("/v1/orders", params)


# ---------------------------------------------------------------- live adapter helpers (REST)


def order_filled_units(row: Mapping[str, Any], inst: Instrument) -> int:
    """Executed lots of a /v1/orders row. The OpenAPI example names it `total_executed_quantity`
    (with `executed_quantity` beside it); older docs `executed`. UNVERIFIED which one the live API sends."""
    for key in ("total_executed_quantity", "executed_quantity", "executed"):
        value = row.get(key)
        if value is not None:
            return to_units(value, inst.lot_size)
    return 0


def parse_orders_page(msg: Any, instruments: Mapping[str, Instrument]) -> tuple[list[OpenOrder], int, int]:
    """One page of GET /v1/orders -> (orders in known coins, total rows on the venue or -1, rows on this page).

    `data.meta.total` gives the row count over every page (records_per_page, current_page beside it).
    Unlike parse_open_orders it reads the executed quantity under every name the docs use.
    """
    mt = "orders"
    res = ok_result(msg, mt)
    with wire_context(mt):
        rows = _rows(res)
        meta = res.data.get("meta") if isinstance(res.data, dict) else None
        total = _int(meta.get("total", -1)) if isinstance(meta, dict) else -1
        out: list[OpenOrder] = []
        for r in rows:
            coin = symbol_to_coin(r["symbol"])
            inst = instruments.get(coin)
            if inst is None:
                continue
            out.append(
                OpenOrder(
                    coin=coin,
                    cloid=str(r.get("client_order_id") or ""),
                    venue_oid=str(_int(r["order_id"])),
                    side=_side(r["side"]),
                    px=to_units(r.get("price") or 0, inst.tick_size),
                    sz=to_units(r["quantity"], inst.lot_size),
                    filled=order_filled_units(r, inst),
                    status=_STATUS.get(r.get("status", "NEW"), OrderStatus.OPEN),
                    tif=ORDER_TYPE_TO_TIF.get(r.get("type", "LIMIT"), Tif.GTC),
                    reduce_only=bool(r.get("reduce_only", False)),
                    ts_ms=_int(r.get("updated_time") or r.get("created_time") or res.ts_ms),
                )
            )
        return out, total, len(rows)


@dataclass(frozen=True, slots=True)
class ClientTrade:
    """One row of GET /v1/trades (our executions). px in ticks, sz in lots, fee in USDC (+ = cost)."""

    trade_id: str
    order_id: str
    coin: str
    side: int
    px: int
    sz: int
    maker: bool
    fee_usd: float
    ts_ms: int


def parse_client_trades(msg: Any, instruments: Mapping[str, Instrument]) -> list[ClientTrade]:
    """GET /v1/trades -> our executions in known coins (rows: id, symbol, side, order_id,
    executed_price, executed_quantity, fee, fee_asset, is_maker (1/0), executed_timestamp).
    The rows carry no client_order_id: attribute them through the order id."""
    mt = "trades"
    res = ok_result(msg, mt)
    with wire_context(mt):
        out: list[ClientTrade] = []
        for r in _rows(res):
            coin = symbol_to_coin(r["symbol"])
            inst = instruments.get(coin)
            if inst is None:
                continue
            out.append(
                ClientTrade(
                    trade_id=str(_int(r["id"])),
                    order_id=str(_int(r["order_id"])),
                    coin=coin,
                    side=_side(r["side"]),
                    px=to_units(r["executed_price"], inst.tick_size),
                    sz=to_units(r["executed_quantity"], inst.lot_size),
                    maker=bool(r.get("is_maker")),
                    fee_usd=_float(r.get("fee") or 0),
                    ts_ms=_int(r.get("executed_timestamp") or res.ts_ms),
                )
            )
        return out


def fee_rate_bps(value: Any) -> float:
    """A /v1/client/info fee rate in bps. UNVERIFIED unit: the docs' examples are all 0. A value
    below 0.01 is read as a fraction (0.0002 -> 2 bps: a fraction of 1 % or more is not a real
    fee); anything else as bps already (2 -> 2 bps)."""
    rate = _float(value)
    return rate * 1e4 if abs(rate) < 0.01 else rate


def parse_client_info_fees(msg: Any) -> tuple[float, float]:
    """GET /v1/client/info -> (maker, taker) in bps; futures_* rates preferred (perps)."""
    mt = "client_info"
    res = ok_result(msg, mt)
    with wire_context(mt):
        data = res.data
        if not isinstance(data, dict):
            raise ValueError("data is not an object")
        maker = data.get("futures_maker_fee_rate", data.get("maker_fee_rate"))
        taker = data.get("futures_taker_fee_rate", data.get("taker_fee_rate"))
        return fee_rate_bps(maker), fee_rate_bps(taker)


def equity_from_positions(msg: Any) -> float | None:
    """GET /v1/positions -> account value in USD: `total_collateral_value` (None when absent).
    UNVERIFIED whether the venue already counts unsettled PnL in it (the docs do not say)."""
    mt = "positions"
    res = ok_result(msg, mt)
    with wire_context(mt):
        data = res.data
        if not isinstance(data, dict) or data.get("total_collateral_value") is None:
            return None
        return _float(data["total_collateral_value"])


def batch_order_body(places: list[Place], instruments: Mapping[str, Instrument],
                     as_numbers: bool = False) -> dict[str, Any]:
    """POST /v1/batch-order body {"orders": [...]} (1..10 orders, no reduce_only: not supported in batch)."""
    if not 1 <= len(places) <= 10:
        raise ValueError(f"a batch holds 1..10 orders, got {len(places)}")
    if any(p.reduce_only for p in places):
        raise ValueError("reduce_only is not supported in a batch order")
    return {"orders": [place_to_order_body(p, instruments[p.coin], as_numbers) for p in places]}


def parse_batch_order_response(msg: Any, places: list[Place], ts_ms: int) -> tuple[list[OrderAck], list[Place]]:
    """POST /v1/batch-order reply -> (acks, places the reply does not mention).

    A failed envelope rejects every order. Otherwise `data.rows[]` holds one row per order
    (order_id, client_order_id, and `error_message` for a refused one: UNVERIFIED shape, read
    defensively): a row with an order id is OPEN, one without is REJECTED with its error text.
    """
    mt = "batch_order"
    res = parse_rest(msg, mt)
    if not res.ok:
        reason = f"{res.code}: {res.message}"
        return [OrderAck(p.bot_id, p.coin, p.cloid, OrderStatus.REJECTED, ts_ms, reason=reason) for p in places], []
    with wire_context(mt):
        by_cloid: dict[str, dict[str, Any]] = {}
        for r in _rows(res):
            cid = r.get("client_order_id")
            if isinstance(cid, str) and cid:
                by_cloid[cid] = r
        acks: list[OrderAck] = []
        missing: list[Place] = []
        for p in places:
            r = by_cloid.get(p.cloid)
            if r is None:
                missing.append(p)
                continue
            err = str(r.get("error_message") or r.get("message") or "")
            oid = r.get("order_id")
            if oid not in (None, "", 0) and err.lower() in ("", "none"):
                acks.append(OrderAck(p.bot_id, p.coin, p.cloid, OrderStatus.OPEN, ts_ms, venue_oid=str(_int(oid))))
            else:
                acks.append(OrderAck(p.bot_id, p.coin, p.cloid, OrderStatus.REJECTED, ts_ms,
                                     reason=err or "rejected in batch"))
        return acks, missing


def cancel_order_request(coin: str, order_id: str) -> tuple[str, str]:
    """Cancel by venue order id -> ('DELETE', '/v1/order?order_id=..&symbol=..')."""
    params = [("order_id", str(_int(order_id))), ("symbol", coin_to_symbol(coin))]
    return "DELETE", path_with_query("/v1/order", params)


def cancel_sent(msg: Any) -> str:
    """A cancel reply -> '' when the venue took it (`data.status` CANCEL_SENT / CANCEL_ALL_SENT),
    else the venue's error text."""
    res = parse_rest(msg, "cancel")
    if not res.ok:
        return f"{res.code}: {res.message}"
    status = res.data.get("status") if isinstance(res.data, dict) else None
    if status in (None, "CANCEL_SENT", "CANCEL_ALL_SENT", "SUCCESS"):
        return ""
    return f"unexpected cancel status {status!r}"
