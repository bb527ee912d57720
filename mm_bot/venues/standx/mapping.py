"""StandX perps wire <-> core types. Pure functions, no I/O.

Wire -> core: market-stream `depth_book`, authenticated `order` / `position` channels, stream auth
reply, `{code, message, request_id}` results (HTTP and ws-api), REST open orders / positions / symbol
info. Core -> wire: new_order / cancel_order / cancel_orders bodies. Decimals travel as JSON strings.

StandX docs are marked "under construction"; what they leave open is coded defensively and marked
UNVERIFIED. Malformed messages raise WireError(message_type, detail) (the same class as the Orderly
mapping, so one `except WireError` covers both venues).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mm_bot.core.types import (
    BUY,
    SELL,
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
from mm_bot.venues.woofi_pro.mapping import (
    BotOf,
    WireError,
    format_units,
    to_decimal,
    to_units,
    wire_context,
)

__all__ = [
    "ApiResult",
    "OpenOrder",
    "OrderUpdate",
    "StandxOrderTracker",
    "StreamAuth",
    "VenuePosition",
    "WireError",
    "cancel_order_body",
    "cancel_orders_body",
    "coin_to_symbol",
    "instrument_from_symbol_info",
    "iso_to_ms",
    "parse_api_result",
    "parse_depth_book",
    "parse_open_orders",
    "parse_order",
    "parse_position_push",
    "parse_positions",
    "parse_stream_auth",
    "parse_symbol_info",
    "parse_ws_order",
    "place_to_new_order",
    "result_to_ack",
    "subscribe_frame",
    "symbol_fees",
    "symbol_to_coin",
]

QUOTE = "USD"
TIF_WIRE = {Tif.ALO: "alo", Tif.IOC: "ioc", Tif.GTC: "gtc"}
_TIF_CORE = {v: k for k, v in TIF_WIRE.items()}
# UNVERIFIED: status vocabulary; docs list open/canceled/filled/rejected/untriggered but examples show "new".
_STATUS = {
    "new": OrderStatus.OPEN,
    "open": OrderStatus.OPEN,
    "partially_filled": OrderStatus.PARTIAL,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
    "untriggered": OrderStatus.PENDING,
}


# ---------------------------------------------------------------- dataclasses


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One order record (REST query_order(s) row or `order` channel push). fill_avg_px in quote units."""

    coin: str
    cloid: str
    venue_oid: str
    side: int
    px: int
    sz: int
    filled: int
    fill_avg_px: float
    status: OrderStatus
    tif: Tif
    order_type: str
    reduce_only: bool
    ts_ms: int


@dataclass(frozen=True, slots=True)
class ApiResult:
    """`{code, message, request_id}` from POST /api/* and the ws-api order response stream."""

    ok: bool
    code: int
    message: str
    request_id: str


@dataclass(frozen=True, slots=True)
class StreamAuth:
    """Market-stream auth reply `{seq, channel:"auth", data:{code, msg}}`."""

    ok: bool
    code: int
    message: str
    seq: int


# ---------------------------------------------------------------- helpers


def coin_to_symbol(coin: str) -> str:
    """'BTC' -> 'BTC-USD'."""
    if not coin or "-" in coin:
        raise ValueError(f"bad coin {coin!r}")
    return f"{coin.upper()}-{QUOTE}"


def symbol_to_coin(symbol: Any) -> str:
    """'BTC-USD' -> 'BTC'; WireError for anything else."""
    if not isinstance(symbol, str) or not symbol.endswith("-" + QUOTE) or len(symbol) <= len(QUOTE) + 1:
        raise WireError("symbol", f"not a StandX perp symbol: {symbol!r}")
    return symbol[: -len(QUOTE) - 1]


def iso_to_ms(text: Any) -> int:
    """'2025-08-11T10:06:37.182464902Z' -> epoch ms (nanosecond fractions truncated to ms)."""
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO 8601 time, got {text!r}")
    s = text.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    frac_ms = 0
    if "." in s:
        head, rest = s.split(".", 1)
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        frac_ms = int((digits + "000")[:3])
        s = head + rest
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1000 + frac_ms


def _side(value: Any) -> int:
    if value == "buy":
        return BUY
    if value == "sell":
        return SELL
    raise ValueError(f"bad side {value!r}")


def _inst(instruments: Mapping[str, Instrument], symbol: Any, message_type: str) -> Instrument:
    try:
        coin = symbol_to_coin(symbol)
    except WireError as exc:
        raise WireError(message_type, exc.detail) from None
    inst = instruments.get(coin)
    if inst is None:
        raise WireError(message_type, f"no instrument for {symbol}")
    return inst


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not an object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{what} is not a list")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


# ---------------------------------------------------------------- market stream


def subscribe_frame(channel: str, coin: str | None = None) -> dict[str, Any]:
    sub: dict[str, Any] = {"channel": channel}
    if coin:
        sub["symbol"] = coin_to_symbol(coin)
    return {"subscribe": sub}


def parse_depth_book(msg: Any, inst: Instrument, recv_ms: int) -> BookUpdate:
    """`depth_book` push -> full-book BookUpdate, bids best-first (descending), asks ascending.

    The message carries no venue time, so ts_ms is the receive time.
    """
    # UNVERIFIED: docs don't say snapshot vs delta; treated as a full snapshot (as the third-party MM does).
    mt = "depth_book"
    with wire_context(mt):
        msg = _obj(msg, "message")
        if msg.get("channel") != mt:
            raise ValueError(f"channel is {msg.get('channel')!r}")
        data = _obj(msg["data"], "data")
        if symbol_to_coin(data.get("symbol", msg.get("symbol"))) != inst.coin:
            raise ValueError(f"symbol is not {inst.coin}")

        def levels(rows: Any) -> list[tuple[int, int]]:
            return [
                (to_units(r[0], inst.tick_size), to_units(r[1], inst.lot_size)) for r in _list(rows, "levels")
            ]

        bids = sorted(levels(data["bids"]), key=lambda lv: -lv[0])
        asks = sorted(levels(data["asks"]), key=lambda lv: lv[0])
        return BookUpdate(inst.coin, int(recv_ms), tuple(bids), tuple(asks), snapshot=True)


def parse_stream_auth(msg: Any) -> StreamAuth:
    mt = "auth"
    with wire_context(mt):
        msg = _obj(msg, "message")
        if msg.get("channel") != mt:
            raise ValueError(f"channel is {msg.get('channel')!r}")
        data = _obj(msg["data"], "data")
        code = _int(data["code"])
        return StreamAuth(
            ok=code == 200, code=code, message=str(data.get("msg", "")), seq=_int(msg.get("seq", 0))
        )


# ---------------------------------------------------------------- orders


def parse_order(row: Any, instruments: Mapping[str, Instrument], message_type: str = "order") -> OrderUpdate:
    """One order record (query_order / query_orders / query_open_orders row, `order` channel data)."""
    with wire_context(message_type):
        row = _obj(row, "order")
        inst = _inst(instruments, row["symbol"], message_type)
        status = _STATUS.get(row["status"])
        if status is None:
            raise ValueError(f"unknown status {row['status']!r}")
        sz = to_units(row["qty"], inst.lot_size)
        filled = to_units(row.get("fill_qty") or "0", inst.lot_size)
        if status == OrderStatus.OPEN and filled > 0:
            status = OrderStatus.PARTIAL
        tif = _TIF_CORE.get(row.get("time_in_force", "gtc"))
        if tif is None:
            raise ValueError(f"unknown time_in_force {row['time_in_force']!r}")
        price = row.get("price")
        return OrderUpdate(
            coin=inst.coin,
            cloid=str(row.get("cl_ord_id") or ""),
            venue_oid=str(_int(row["id"])),
            side=_side(row["side"]),
            px=to_units(price, inst.tick_size) if price not in (None, "") else 0,
            sz=sz,
            filled=filled,
            fill_avg_px=float(to_decimal(row.get("fill_avg_price") or "0")),
            status=status,
            tif=tif,
            order_type=str(row.get("order_type", "limit")),
            reduce_only=bool(row.get("reduce_only", False)),
            ts_ms=iso_to_ms(row.get("updated_at") or row["created_at"]),
        )


def parse_ws_order(msg: Any, instruments: Mapping[str, Instrument]) -> OrderUpdate:
    """`order` channel push `{seq, channel:"order", data:{...}}` -> OrderUpdate."""
    mt = "order"
    with wire_context(mt):
        msg = _obj(msg, "message")
        if msg.get("channel") != mt:
            raise ValueError(f"channel is {msg.get('channel')!r}")
        data = msg["data"]
    return parse_order(data, instruments, mt)


def parse_open_orders(msg: Any, instruments: Mapping[str, Instrument]) -> list[OpenOrder]:
    """GET /api/query_open_orders `{page_size, result:[order], total}` -> OpenOrder list
    (symbols without an instrument are skipped)."""
    mt = "query_open_orders"
    with wire_context(mt):
        rows = _list(_obj(msg, "response")["result"], "result")
        out: list[OpenOrder] = []
        for row in rows:
            if symbol_to_coin(_obj(row, "order")["symbol"]) not in instruments:
                continue
            u = parse_order(row, instruments, mt)
            out.append(
                OpenOrder(u.coin, u.cloid, u.venue_oid, u.side, u.px, u.sz, u.filled, u.status, u.tif,
                          u.reduce_only, u.ts_ms)
            )  # fmt: skip
        return out


@dataclass
class _Seen:
    filled: int = 0
    notional: float = 0.0
    rested: bool = False
    acked: bool = False


@dataclass
class StandxOrderTracker:
    """Turns `order` channel pushes into OrderAck / Fill events.

    StandX order pushes carry cumulative fill_qty and fill_avg_price; the tracker emits a Fill for
    each increase, its price derived from the change in filled notional and its id
    '<order id>-<cumulative lots>' (stable across replays of the same push).
    """

    # UNVERIFIED: per-trade data (trade id, maker flag, fee) of the `trade` channel is undocumented, so
    # fills are derived: maker = ALO, or an order seen resting before it filled; fee = rate x notional.

    instruments: Mapping[str, Instrument]
    bot_id: BotOf = ""
    maker_fee: float = 0.0001
    taker_fee: float = 0.0004
    _orders: dict[str, _Seen] = field(default_factory=dict)

    def on_order(self, update: OrderUpdate) -> list[OrderAck | Fill]:
        inst = self.instruments[update.coin]
        seen = self._orders.setdefault(update.venue_oid, _Seen())
        bot = self.bot_id(update.cloid) if callable(self.bot_id) else self.bot_id
        out: list[OrderAck | Fill] = []
        if update.status in (OrderStatus.OPEN, OrderStatus.PARTIAL) and not seen.acked:
            seen.acked = True
            out.append(
                OrderAck(bot, update.coin, update.cloid, OrderStatus.OPEN, update.ts_ms, update.venue_oid)
            )
        if update.filled > seen.filled:
            lots = update.filled - seen.filled
            notional = update.fill_avg_px * inst.sz(update.filled)
            px_quote = (notional - seen.notional) / inst.sz(lots)
            maker = update.tif == Tif.ALO or (update.tif == Tif.GTC and seen.rested)
            fee = (self.maker_fee if maker else self.taker_fee) * px_quote * inst.sz(lots)
            out.append(
                Fill(
                    bot_id=bot,
                    coin=update.coin,
                    cloid=update.cloid,
                    fill_id=f"{update.venue_oid}-{update.filled}",
                    side=update.side,
                    px=inst.to_ticks(px_quote),
                    sz=lots,
                    maker=maker,
                    fee_usd=round(fee, 12),
                    ts_ms=update.ts_ms,
                    remaining=max(update.sz - update.filled, 0),
                )
            )
            seen.filled, seen.notional = update.filled, notional
        if update.status in (OrderStatus.OPEN, OrderStatus.PARTIAL):
            seen.rested = True
        if update.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            out.append(
                OrderAck(bot, update.coin, update.cloid, update.status, update.ts_ms, update.venue_oid)
            )
        if update.status in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED):
            del self._orders[update.venue_oid]
        return out


def parse_api_result(msg: Any, message_type: str = "api_result") -> ApiResult:
    """`{code, message, request_id}`: code 0 is success (for new_order: accepted, not yet executed)."""
    with wire_context(message_type):
        msg = _obj(msg, "response")
        code = _int(msg["code"])
        return ApiResult(code == 0, code, str(msg.get("message", "")), str(msg.get("request_id", "")))


def result_to_ack(result: ApiResult, action: Place | Cancel, ts_ms: int) -> OrderAck | None:
    """A failed result for a Place -> REJECTED ack; success (or a cancel result) -> None, since the
    order / its cancel is confirmed on the `order` channel."""
    if result.ok or not isinstance(action, Place):
        return None
    return OrderAck(
        action.bot_id, action.coin, action.cloid, OrderStatus.REJECTED, ts_ms, reason=result.message
    )


# ---------------------------------------------------------------- positions and symbols


def _position(row: Any, ts_default: int) -> VenuePosition:
    row = _obj(row, "position")
    stamp = row.get("time") or row.get("updated_at")
    return VenuePosition(
        coin=symbol_to_coin(row["symbol"]),
        # UNVERIFIED: sign convention of qty for shorts (no side field documented); taken as signed.
        qty=float(to_decimal(row["qty"])),
        entry_px=float(to_decimal(row.get("entry_price") or "0")),
        mark_px=float(to_decimal(row.get("mark_price") or "0")),
        unrealized_pnl=float(to_decimal(row.get("upnl") or "0")),
        ts_ms=iso_to_ms(stamp) if stamp else ts_default,
    )


def parse_positions(msg: Any, ts_default: int = 0) -> list[VenuePosition]:
    """GET /api/query_positions `[position]` -> positions."""
    with wire_context("query_positions"):
        return [_position(r, ts_default) for r in _list(msg, "response")]


def parse_position_push(msg: Any, ts_default: int = 0) -> VenuePosition:
    """`position` channel push `{seq, channel:"position", data:{...}}`."""
    mt = "position"
    with wire_context(mt):
        msg = _obj(msg, "message")
        if msg.get("channel") != mt:
            raise ValueError(f"channel is {msg.get('channel')!r}")
        return _position(msg["data"], ts_default)


def instrument_from_symbol_info(row: Any) -> Instrument:
    """One query_symbol_info row -> Instrument (ticks from price/qty_tick_decimals).

    StandX has a minimum order quantity, not a minimum notional: min_notional_usd stays 0.
    """
    with wire_context("query_symbol_info"):
        row = _obj(row, "symbol info")
        pd, qd = _int(row["price_tick_decimals"]), _int(row["qty_tick_decimals"])
        return Instrument(
            coin=symbol_to_coin(row["symbol"]),
            tick_size=float(f"1e-{pd}"),
            lot_size=float(f"1e-{qd}"),
        )


def symbol_fees(row: Any) -> tuple[float, float]:
    """(maker_fee, taker_fee) rates of a query_symbol_info row."""
    with wire_context("query_symbol_info"):
        row = _obj(row, "symbol info")
        return float(to_decimal(row["maker_fee"])), float(to_decimal(row["taker_fee"]))


def parse_symbol_info(msg: Any) -> dict[str, Instrument]:
    """GET /api/query_symbol_info `[row]` (or one object) -> {coin: Instrument}."""
    with wire_context("query_symbol_info"):
        rows = [msg] if isinstance(msg, dict) else _list(msg, "response")
        insts = [instrument_from_symbol_info(r) for r in rows]
    return {i.coin: i for i in insts}


# ---------------------------------------------------------------- core -> wire


def place_to_new_order(place: Place, inst: Instrument) -> dict[str, Any]:
    """Place -> POST /api/new_order body, keys in the docs' order; serialise with auth.dumps_body."""
    if place.coin != inst.coin:
        raise ValueError(f"place for {place.coin} with instrument of {inst.coin}")
    if place.side not in (BUY, SELL):
        raise ValueError(f"bad side {place.side}")
    if place.px <= 0 or place.sz <= 0:
        raise ValueError("price and size must be positive")
    body: dict[str, Any] = {
        "symbol": coin_to_symbol(place.coin),
        "side": "buy" if place.side == BUY else "sell",
        "order_type": "limit",
        "qty": format_units(place.sz, inst.lot_size),
        "price": format_units(place.px, inst.tick_size),
        "time_in_force": TIF_WIRE[Tif(place.tif)],
        "reduce_only": bool(place.reduce_only),
    }
    if place.cloid:
        body["cl_ord_id"] = place.cloid
    return body


def cancel_order_body(cancel: Cancel) -> dict[str, Any]:
    """Cancel -> POST /api/cancel_order body by client order id."""
    if not cancel.cloid:
        raise ValueError("cancel needs a client order id")
    return {"cl_ord_id": cancel.cloid}


def cancel_orders_body(cloids: list[str]) -> dict[str, Any]:
    """POST /api/cancel_orders body by client order ids."""
    return {"cl_ord_id_list": list(cloids)}


# ---------------------------------------------------------------- live adapter additions (REST reads)


@dataclass(frozen=True, slots=True)
class TradeRow:
    """One row of GET /api/query_trades (an execution of one of the account's orders).

    px in ticks, sz in lots; fee_usd is fee_qty (fee_asset DUSD, taken 1:1 as USD); ts_ms from
    created_at. The row carries the venue order id but no client order id.
    """

    trade_id: str
    venue_oid: str
    coin: str
    side: int
    px: int
    sz: int
    fee_usd: float
    ts_ms: int


def parse_depth_snapshot(msg: Any, inst: Instrument, recv_ms: int) -> BookUpdate:
    """GET /api/query_depth_book `{asks, bids, symbol?}` -> full-book BookUpdate (same rules as
    the `depth_book` push; ts_ms is the receive time)."""
    mt = "query_depth_book"
    with wire_context(mt):
        data = _obj(msg, "response")
        wrapped = {"channel": "depth_book", "symbol": data.get("symbol", coin_to_symbol(inst.coin)), "data": data}
    try:
        return parse_depth_book(wrapped, inst, recv_ms)
    except WireError as exc:
        raise WireError(mt, exc.detail) from None


def parse_trades(msg: Any, instruments: Mapping[str, Instrument]) -> list[TradeRow]:
    """GET /api/query_trades `{page_size, result:[trade], total}` (or a bare list) -> TradeRow list,
    oldest first (by trade id); symbols without an instrument are skipped."""
    mt = "query_trades"
    with wire_context(mt):
        rows = msg if isinstance(msg, list) else _list(_obj(msg, "response")["result"], "result")
        out: list[TradeRow] = []
        for row in rows:
            row = _obj(row, "trade")
            coin = symbol_to_coin(row["symbol"])
            inst = instruments.get(coin)
            if inst is None:
                continue
            out.append(TradeRow(
                trade_id=str(_int(row["id"])),
                venue_oid=str(_int(row["order_id"])),
                coin=coin,
                side=_side(row["side"]),
                px=to_units(row["price"], inst.tick_size),
                sz=to_units(row["qty"], inst.lot_size),
                fee_usd=float(to_decimal(row.get("fee_qty") or "0")),
                ts_ms=iso_to_ms(row.get("created_at") or row["updated_at"]),
            ))  # fmt: skip
        out.sort(key=lambda t: int(t.trade_id))
        return out


def parse_orders(msg: Any, instruments: Mapping[str, Instrument]) -> list[OrderUpdate]:
    """GET /api/query_orders `{page_size, result:[order], total}` -> OrderUpdate list (symbols
    without an instrument are skipped)."""
    mt = "query_orders"
    with wire_context(mt):
        rows = _list(_obj(msg, "response")["result"], "result")
        return [parse_order(r, instruments, mt) for r in rows
                if symbol_to_coin(_obj(r, "order")["symbol"]) in instruments]


def parse_balance_equity(msg: Any) -> float:
    """GET /api/query_balance -> account equity in USD (`equity`, else balance + upnl)."""
    with wire_context("query_balance"):
        msg = _obj(msg, "response")
        if msg.get("equity") not in (None, ""):
            return float(to_decimal(msg["equity"]))
        return float(to_decimal(msg["balance"]) + to_decimal(msg.get("upnl") or "0"))


def fill_id_of(venue_oid: str, cumulative_lots: int) -> str:
    """The fill id both the order stream (StandxOrderTracker) and REST trades use:
    '<order id>-<cumulative filled lots after this fill>'."""
    return f"{venue_oid}-{int(cumulative_lots)}"


def split_fill_id(fill_id: str) -> tuple[str, int] | None:
    """'<order id>-<cumulative lots>' -> (order id, lots); None for any other shape."""
    oid, sep, cum = fill_id.rpartition("-")
    if not sep or not oid.isdigit() or not cum.isdigit():
        return None
    return oid, int(cum)


def trades_to_fills(trades: list[TradeRow], instruments: Mapping[str, Instrument],
                    cloid_of_oid: Mapping[str, str], bot_of: BotOf,
                    maker_fee_of: Mapping[str, float] | None = None) -> list[Fill]:
    """Trade rows -> Fills with the order stream's id scheme (cumulative lots per order, counted
    over the rows given: every earlier trade of an order must be among them).

    Maker flag: the rows carry none; a fee at or below the coin's maker rate (maker_fee_of, by
    coin) x notional, or a zero/negative fee, counts as maker (UNVERIFIED: inferred from fees).
    """
    cum: dict[str, int] = {}
    out: list[Fill] = []
    for t in trades:
        inst = instruments[t.coin]
        total = cum.get(t.venue_oid, 0) + t.sz
        cum[t.venue_oid] = total
        cloid = cloid_of_oid.get(t.venue_oid, "")
        bot = (bot_of(cloid) if callable(bot_of) else bot_of) if cloid else ""
        notional = inst.px(t.px) * inst.sz(t.sz)
        rate = (maker_fee_of or {}).get(t.coin)
        maker = t.fee_usd <= 0 or (rate is not None and t.fee_usd <= abs(rate) * notional * 1.000001 + 1e-12)
        out.append(Fill(bot_id=bot, coin=t.coin, cloid=cloid, fill_id=fill_id_of(t.venue_oid, total),
                        side=t.side, px=t.px, sz=t.sz, maker=maker, fee_usd=t.fee_usd, ts_ms=t.ts_ms,
                        remaining=0))
    return out


def cancel_failures(reply: Any, requested: list[str]) -> dict[str, str]:
    """Which ids of a POST /api/cancel_orders request the venue refused: {id: reason}.

    The docs show the reply `[]` (UNVERIFIED beyond that). Read defensively: a `{code, message}`
    object with code != 0 refuses every id; a list entry naming an id (`cl_ord_id` / `order_id` /
    `id`, or the bare id) with an error (`code` != 0, `error`, `message`) refuses that id; an entry
    that names no id refuses every id. Anything else (an empty list, code 0) refuses none.
    """
    if isinstance(reply, dict):
        code = reply.get("code", 0)
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
            msg = str(reply.get("message") or f"code {code}")
            return dict.fromkeys(requested, msg)
        return {}
    if not isinstance(reply, list):
        return {}
    wanted = set(requested)
    out: dict[str, str] = {}
    for entry in reply:
        if isinstance(entry, str | int) and not isinstance(entry, bool):
            if str(entry) in wanted:
                out[str(entry)] = "refused by the venue"
            continue
        if not isinstance(entry, dict):
            continue
        code = entry.get("code", 1)
        if code == 0 and not entry.get("error"):
            continue
        reason = str(entry.get("message") or entry.get("error") or f"code {code}")
        ident = next((str(entry[k]) for k in ("cl_ord_id", "order_id", "id") if entry.get(k) not in (None, "")), "")
        if ident in wanted:
            out[ident] = reason
        elif not ident:
            out.update(dict.fromkeys(requested, reason))
    return out
