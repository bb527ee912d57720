"""Hyperliquid wire <-> core types. Pure functions, no I/O.

Venue -> core: `meta` -> per-coin HlAsset/Instrument; WS `l2Book`, `trades`, `orderUpdates`,
`userFills` / `user` -> BookUpdate, TradePrint, OrderAck, Fill; `/info` clearinghouseState,
openOrders / frontendOpenOrders, userRateLimit -> VenuePosition, OpenOrder, RateLimitStatus;
`/exchange` order and cancel responses -> OrderAck (+ CancelFailed).
Core -> venue: Place -> order wire, Cancel -> cancelByCloid wire, batches -> actions, request weights.

Any malformed message raises WireError(message_type, detail), never KeyError/TypeError.
Wire prices and sizes are converted to ticks and lots exactly (Decimal); a value off the
instrument's grid is a WireError. Hyperliquid messages carry no bot id: callers pass
`bot_of_cloid` (cloid -> bot_id) and, for fills without a cloid, `cloid_of_oid` (venue oid -> cloid).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from mm_bot.core.types import (
    BUY,
    SELL,
    BookUpdate,
    Cancel,
    CancelFailed,
    Fill,
    Instrument,
    Modify,
    OrderAck,
    OrderStatus,
    Place,
    Tif,
    TradePrint,
)
from mm_bot.venues.errors import WireError
from mm_bot.venues.hyperliquid import auth, rules

TIF_TO_WIRE = {Tif.ALO: "Alo", Tif.IOC: "Ioc", Tif.GTC: "Gtc"}
EXCHANGE_BATCH_STEP = 40

# /info request weights (PROTOCOLS.md 1.7); everything else weighs 20.
_INFO_WEIGHT_2 = frozenset(
    {"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState", "exchangeStatus"}
)
_INFO_WEIGHT_60 = frozenset({"userRole"})
_INFO_PER_20_ITEMS = frozenset(
    {
        "userFills",
        "userFillsByTime",
        "historicalOrders",
        "fundingHistory",
        "userFunding",
        "recentTrades",
        "userNonFundingLedgerUpdates",
        "userTwapSliceFills",
    }
)
_INFO_PER_60_ITEMS = frozenset({"candleSnapshot"})


# ---------------------------------------------------------------- venue-specific value types


@dataclass(frozen=True, slots=True)
class HlAsset:
    """One perp (or spot) market from `meta`: its asset id (index in universe + offset) and rules."""

    coin: str
    asset_id: int
    sz_decimals: int
    instrument: Instrument
    max_leverage: int = 0
    only_isolated: bool = False
    delisted: bool = False


@dataclass(frozen=True, slots=True)
class VenuePosition:
    """A position from clearinghouseState. size is signed (positive long), in base units."""

    coin: str
    size: float
    entry_px: float | None
    unrealized_pnl: float = 0.0
    liquidation_px: float | None = None
    leverage: float = 0.0
    leverage_type: str = ""
    margin_used: float = 0.0
    position_value: float = 0.0


@dataclass(frozen=True, slots=True)
class MarginSummary:
    """Account totals from clearinghouseState (crossMarginSummary falls back to marginSummary)."""

    account_value: float
    total_margin_used: float
    total_ntl_pos: float
    withdrawable: float
    time_ms: int = 0


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """A resting order from /info openOrders or frontendOpenOrders (the latter adds cloid, tif, ...)."""

    coin: str
    oid: str
    side: int
    px: float
    sz: float
    timestamp_ms: int
    cloid: str = ""
    orig_sz: float = 0.0
    tif: str = ""
    reduce_only: bool = False
    is_trigger: bool = False
    order_type: str = ""


@dataclass(frozen=True, slots=True)
class RateLimitStatus:
    """/info userRateLimit: address-level request budget."""

    cum_vlm: float
    n_requests_used: int
    n_requests_cap: int
    n_requests_surplus: int = 0

    @property
    def remaining(self) -> int:
        return self.n_requests_cap + self.n_requests_surplus - self.n_requests_used


@dataclass(frozen=True, slots=True)
class OrderResult:
    """One status of an /exchange order response. kind is 'resting', 'filled' or 'error'."""

    kind: str
    oid: str = ""
    cloid: str = ""
    total_sz: float = 0.0
    avg_px: float = 0.0
    error: str = ""


@dataclass(frozen=True, slots=True)
class UserFills:
    """A userFills / user (userEvents) message or an /info userFills response, converted."""

    is_snapshot: bool
    user: str
    fills: tuple[Fill, ...]


# ---------------------------------------------------------------- low-level readers

_T = TypeVar("_T")


def _wire(message_type: str) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Turn any stray lookup/type error inside a parser into WireError(message_type, ...)."""

    def deco(fn: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> _T:
            try:
                return fn(*args, **kwargs)
            except WireError:
                raise
            except (KeyError, IndexError, TypeError, ValueError, AttributeError, InvalidOperation) as e:
                raise WireError(message_type, f"{type(e).__name__}: {e}") from None

        return inner

    return deco


def _dict(obj: Any, mt: str, what: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise WireError(mt, f"{what} is not an object")
    return obj


def _list(obj: Any, mt: str, what: str) -> list[Any]:
    if not isinstance(obj, list | tuple):
        raise WireError(mt, f"{what} is not a list")
    return list(obj)


def _field(obj: Any, key: str, mt: str) -> Any:
    if not isinstance(obj, Mapping):
        raise WireError(mt, f"expected an object holding {key!r}")
    if key not in obj:
        raise WireError(mt, f"missing field {key!r}")
    return obj[key]


def _str(obj: Any, key: str, mt: str) -> str:
    v = _field(obj, key, mt)
    if not isinstance(v, str):
        raise WireError(mt, f"field {key!r} is not a string")
    return v


def _int(obj: Any, key: str, mt: str) -> int:
    v = _field(obj, key, mt)
    if isinstance(v, bool) or not isinstance(v, int):
        raise WireError(mt, f"field {key!r} is not an integer")
    return v


def _bool(obj: Any, key: str, mt: str) -> bool:
    v = _field(obj, key, mt)
    if not isinstance(v, bool):
        raise WireError(mt, f"field {key!r} is not a boolean")
    return v


def _num(value: Any, mt: str, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise WireError(mt, f"{what} is not a number")
    try:
        d = Decimal(value) if not isinstance(value, float) else Decimal(repr(value))
    except (InvalidOperation, ValueError):
        raise WireError(mt, f"{what} {value!r} is not a number") from None
    if not d.is_finite():
        raise WireError(mt, f"{what} {value!r} is not finite")
    return d


def _dec(obj: Any, key: str, mt: str) -> Decimal:
    return _num(_field(obj, key, mt), mt, f"field {key!r}")


def _float(obj: Any, key: str, mt: str) -> float:
    return float(_dec(obj, key, mt))


def _opt_float(obj: Any, key: str, mt: str) -> float | None:
    if not isinstance(obj, Mapping):
        raise WireError(mt, f"expected an object holding {key!r}")
    v = obj.get(key)
    if v is None:
        return None
    return float(_num(v, mt, f"field {key!r}"))


def _grid(d: Decimal, step: float, mt: str, what: str) -> int:
    q = d / rules.step_decimal(step)
    if q != q.to_integral_value():
        raise WireError(mt, f"{what} {d} is not on the grid of {step}")
    return int(q)


def _ticks(inst: Instrument, obj: Any, key: str, mt: str) -> int:
    return _grid(_dec(obj, key, mt), inst.tick_size, mt, f"{inst.coin} price")


def _lots(inst: Instrument, obj: Any, key: str, mt: str) -> int:
    return _grid(_dec(obj, key, mt), inst.lot_size, mt, f"{inst.coin} size")


def _side(obj: Any, mt: str) -> int:
    s = _str(obj, "side", mt)
    if s == "B":
        return BUY
    if s == "A":
        return SELL
    raise WireError(mt, f"unknown side {s!r}")


def _inst(insts: Mapping[str, Instrument], coin: str, mt: str) -> Instrument:
    inst = insts.get(coin)
    if inst is None:
        raise WireError(mt, f"unknown coin {coin!r}")
    return inst


def _oid(obj: Any, mt: str) -> str:
    return str(_int(obj, "oid", mt))


def _opt_cloid(obj: Mapping[str, Any], mt: str) -> str:
    c = obj.get("cloid")
    if c is None:
        return ""
    if not isinstance(c, str):
        raise WireError(mt, "field 'cloid' is not a string")
    return c


def _data(msg: Any, channel: str | tuple[str, ...], mt: str) -> Any:
    """`data` of a WS {channel, data} message; any other shape is returned as the payload itself."""
    if isinstance(msg, Mapping) and "channel" in msg:
        ch = msg["channel"]
        allowed = (channel,) if isinstance(channel, str) else channel
        if ch not in allowed:
            raise WireError(mt, f"unexpected channel {ch!r}")
        return _field(msg, "data", mt)
    return msg


# ---------------------------------------------------------------- meta -> instruments


@_wire("meta")
def parse_meta(
    resp: Any, *, max_decimals: int = rules.PERP_MAX_DECIMALS, asset_offset: int = 0
) -> dict[str, HlAsset]:
    """`meta` (or `metaAndAssetCtxs`) response -> {coin: HlAsset}; asset id = universe index + offset.

    tick_size = 10^-(max_decimals - szDecimals) (at least 1), lot_size = 10^-szDecimals,
    min notional $10, max_sig_figs 5.
    """
    mt = "meta"
    if isinstance(resp, list) and resp and isinstance(resp[0], Mapping):
        resp = resp[0]  # metaAndAssetCtxs: [meta, ctxs]
    universe = _list(_field(resp, "universe", mt), mt, "universe")
    out: dict[str, HlAsset] = {}
    for i, raw in enumerate(universe):
        entry = _dict(raw, mt, f"universe[{i}]")
        coin = _str(entry, "name", mt)
        szd = _int(entry, "szDecimals", mt)
        if szd < 0:
            raise WireError(mt, f"{coin}: negative szDecimals")
        px_decimals = max(0, max_decimals - szd)
        inst = Instrument(
            coin=coin,
            tick_size=float(Decimal(1).scaleb(-px_decimals)),
            lot_size=float(Decimal(1).scaleb(-szd)),
            min_notional_usd=rules.MIN_NOTIONAL_USD,
            max_sig_figs=rules.MAX_SIG_FIGS,
        )
        lev = entry.get("maxLeverage", 0)
        out[coin] = HlAsset(
            coin=coin,
            asset_id=asset_offset + i,
            sz_decimals=szd,
            instrument=inst,
            max_leverage=lev if isinstance(lev, int) and not isinstance(lev, bool) else 0,
            only_isolated=bool(entry.get("onlyIsolated", False)),
            delisted=bool(entry.get("isDelisted", False)),
        )
    return out


def instruments(assets: Mapping[str, HlAsset]) -> dict[str, Instrument]:
    """{coin: Instrument} of parsed meta assets."""
    return {coin: a.instrument for coin, a in assets.items()}


# ---------------------------------------------------------------- market data


@_wire("l2Book")
def parse_l2_book(msg: Any, insts: Mapping[str, Instrument], recv_ms: int | None = None) -> BookUpdate:
    """WS `l2Book` message (or /info l2Book response) -> BookUpdate(snapshot=True).

    ts_ms is `recv_ms` when given (the injected clock), else the venue's `time`.
    """
    mt = "l2Book"
    data = _data(msg, "l2Book", mt)
    coin = _str(data, "coin", mt)
    inst = _inst(insts, coin, mt)
    t = _int(data, "time", mt)
    levels = _list(_field(data, "levels", mt), mt, "levels")
    if len(levels) != 2:
        raise WireError(mt, f"levels has {len(levels)} sides, want 2")
    sides = []
    for name, side in zip(("bids", "asks"), levels, strict=True):
        out = []
        for lvl in _list(side, mt, name):
            out.append((_ticks(inst, lvl, "px", mt), _lots(inst, lvl, "sz", mt)))
        sides.append(tuple(out))
    return BookUpdate(
        coin=coin, ts_ms=t if recv_ms is None else recv_ms, bids=sides[0], asks=sides[1], snapshot=True
    )


@_wire("trades")
def parse_trades(msg: Any, insts: Mapping[str, Instrument], recv_ms: int | None = None) -> list[TradePrint]:
    """WS `trades` message -> TradePrints. side 'B' = taker bought; tid -> trade_id (hash when absent)."""
    mt = "trades"
    data = _list(_data(msg, "trades", mt), mt, "data")
    out = []
    for raw in data:
        tr = _dict(raw, mt, "trade")
        coin = _str(tr, "coin", mt)
        inst = _inst(insts, coin, mt)
        if "tid" in tr and tr["tid"] is not None:
            trade_id = str(_int(tr, "tid", mt))
        else:
            trade_id = str(tr.get("hash") or "")
        users_raw = tr.get("users") or []
        users = tuple(str(u) for u in _list(users_raw, mt, "users"))
        t = _int(tr, "time", mt)
        out.append(
            TradePrint(
                coin=coin,
                ts_ms=t if recv_ms is None else recv_ms,
                px=_ticks(inst, tr, "px", mt),
                sz=_lots(inst, tr, "sz", mt),
                aggressor=_side(tr, mt),
                trade_id=trade_id,
                users=users,
            )
        )
    return out


# ---------------------------------------------------------------- order updates and fills


def order_status_from_wire(status: str) -> OrderStatus:
    """Hyperliquid order status string -> OrderStatus ('open', 'filled', '*Canceled', '*Rejected', ...)."""
    if status in ("open", "triggered"):
        return OrderStatus.OPEN
    if status == "filled":
        return OrderStatus.FILLED
    if status == "rejected" or status.endswith("Rejected"):
        return OrderStatus.REJECTED
    if status in ("canceled", "cancelled", "scheduledCancel") or status.endswith("Canceled"):
        return OrderStatus.CANCELLED
    raise ValueError(f"unknown order status {status!r}")


@_wire("orderStatus")
def parse_order_status(resp: Any) -> tuple[OrderStatus, str] | None:
    """/info orderStatus -> (status, venue status text), None for {"status": "unknownOid"}."""
    mt = "orderStatus"
    body = _dict(resp, mt, "response")
    if body.get("status") == "unknownOid":
        return None
    entry = _dict(_field(body, "order", mt), mt, "order")
    text = _str(entry, "status", mt)
    try:
        return order_status_from_wire(text), text
    except ValueError as e:
        raise WireError(mt, str(e)) from None


@_wire("orderUpdates")
def parse_order_updates(msg: Any, bot_of_cloid: Mapping[str, str] | None = None) -> list[OrderAck]:
    """WS `orderUpdates` -> OrderAcks (OPEN / FILLED / CANCELLED / REJECTED, reason = venue status)."""
    mt = "orderUpdates"
    bots = bot_of_cloid or {}
    out = []
    for raw in _list(_data(msg, "orderUpdates", mt), mt, "data"):
        upd = _dict(raw, mt, "update")
        order = _dict(_field(upd, "order", mt), mt, "order")
        status_s = _str(upd, "status", mt)
        try:
            status = order_status_from_wire(status_s)
        except ValueError as e:
            raise WireError(mt, str(e)) from None
        cloid = _opt_cloid(order, mt)
        out.append(
            OrderAck(
                bot_id=bots.get(cloid, ""),
                coin=_str(order, "coin", mt),
                cloid=cloid,
                status=status,
                ts_ms=_int(upd, "statusTimestamp", mt),
                venue_oid=_oid(order, mt),
                reason="" if status == OrderStatus.OPEN else status_s,
            )
        )
    return out


def _fill_id(fl: Mapping[str, Any], mt: str) -> str:
    tid = fl.get("tid")
    if tid is not None:
        if isinstance(tid, bool) or not isinstance(tid, int):
            raise WireError(mt, "field 'tid' is not an integer")
        return str(tid)
    # older payloads have no tid: (hash, oid, px, sz, startPosition) identifies the fill
    parts = [str(fl.get(k, "")) for k in ("hash", "oid", "px", "sz", "startPosition")]
    return ":".join(parts)


def _fill(
    fl: Mapping[str, Any],
    inst: Instrument,
    bots: Mapping[str, str],
    cloids: Mapping[str, str],
    mt: str,
) -> Fill:
    oid = _oid(fl, mt)
    cloid = _opt_cloid(fl, mt) or cloids.get(oid, "")
    return Fill(
        bot_id=bots.get(cloid, ""),
        coin=inst.coin,
        cloid=cloid,
        fill_id=_fill_id(fl, mt),
        side=_side(fl, mt),
        px=_ticks(inst, fl, "px", mt),
        sz=_lots(inst, fl, "sz", mt),
        maker=not _bool(fl, "crossed", mt),
        fee_usd=_float(fl, "fee", mt),
        ts_ms=_int(fl, "time", mt),
    )


@_wire("userFills")
def parse_user_fills(
    msg: Any,
    insts: Mapping[str, Instrument],
    bot_of_cloid: Mapping[str, str] | None = None,
    cloid_of_oid: Mapping[str, str] | None = None,
    *,
    skip_unknown: bool = False,
) -> UserFills:
    """WS `userFills` or `user` (userEvents) message, or /info userFills list -> UserFills.

    crossed -> maker=False; fee (negative = rebate) -> fee_usd; tid -> fill_id. A fill carries no
    remaining size (Fill.remaining stays 0: the coordinator tracks it). A `user` event without fills
    (funding, liquidation, nonUserCancel) gives no fills. Fills in coins missing from `insts`
    raise, or are dropped with skip_unknown=True.
    """
    mt = "userFills"
    bots = bot_of_cloid or {}
    cloids = cloid_of_oid or {}
    is_snapshot = False
    user = ""
    if isinstance(msg, Mapping) and "channel" in msg:
        data = _data(msg, ("userFills", "user"), mt)
        body = _dict(data, mt, "data")
        snap = body.get("isSnapshot", False)
        is_snapshot = bool(snap)
        u = body.get("user", "")
        user = u if isinstance(u, str) else ""
        raw_fills = body.get("fills", [])
    else:
        raw_fills = msg
    out = []
    for raw in _list(raw_fills, mt, "fills"):
        fl = _dict(raw, mt, "fill")
        coin = _str(fl, "coin", mt)
        inst = insts.get(coin)
        if inst is None:
            if skip_unknown:
                continue
            raise WireError(mt, f"unknown coin {coin!r}")
        out.append(_fill(fl, inst, bots, cloids, mt))
    return UserFills(is_snapshot=is_snapshot, user=user, fills=tuple(out))


# ---------------------------------------------------------------- /info account state


@_wire("clearinghouseState")
def parse_positions(resp: Any) -> dict[str, VenuePosition]:
    """clearinghouseState -> {coin: VenuePosition} (signed size, entry price); zero sizes omitted."""
    mt = "clearinghouseState"
    out: dict[str, VenuePosition] = {}
    for raw in _list(_field(resp, "assetPositions", mt), mt, "assetPositions"):
        pos = _dict(_field(raw, "position", mt), mt, "position")
        coin = _str(pos, "coin", mt)
        size = _float(pos, "szi", mt)
        if size == 0.0:
            continue
        lev = pos.get("leverage")
        lev_value = 0.0
        lev_type = ""
        if isinstance(lev, Mapping):
            lev_value = float(_num(lev.get("value", 0), mt, "leverage value"))
            lt = lev.get("type", "")
            lev_type = lt if isinstance(lt, str) else ""
        out[coin] = VenuePosition(
            coin=coin,
            size=size,
            entry_px=_opt_float(pos, "entryPx", mt),
            unrealized_pnl=_opt_float(pos, "unrealizedPnl", mt) or 0.0,
            liquidation_px=_opt_float(pos, "liquidationPx", mt),
            leverage=lev_value,
            leverage_type=lev_type,
            margin_used=_opt_float(pos, "marginUsed", mt) or 0.0,
            position_value=_opt_float(pos, "positionValue", mt) or 0.0,
        )
    return out


@_wire("clearinghouseState")
def parse_margin_summary(resp: Any) -> MarginSummary:
    """clearinghouseState -> account value, margin used, notional, withdrawable."""
    mt = "clearinghouseState"
    body = _dict(resp, mt, "response")
    summary = body.get("crossMarginSummary") or _field(body, "marginSummary", mt)
    t = body.get("time", 0)
    return MarginSummary(
        account_value=_float(summary, "accountValue", mt),
        total_margin_used=_float(summary, "totalMarginUsed", mt),
        total_ntl_pos=_float(summary, "totalNtlPos", mt),
        withdrawable=_float(body, "withdrawable", mt),
        time_ms=t if isinstance(t, int) and not isinstance(t, bool) else 0,
    )


@_wire("openOrders")
def parse_open_orders(resp: Any) -> list[OpenOrder]:
    """/info openOrders or frontendOpenOrders -> OpenOrders (nested `children` are not repeated)."""
    mt = "openOrders"
    out = []
    for raw in _list(resp, mt, "response"):
        o = _dict(raw, mt, "order")
        tif = o.get("tif")
        out.append(
            OpenOrder(
                coin=_str(o, "coin", mt),
                oid=_oid(o, mt),
                side=_side(o, mt),
                px=_float(o, "limitPx", mt),
                sz=_float(o, "sz", mt),
                timestamp_ms=_int(o, "timestamp", mt),
                cloid=_opt_cloid(o, mt),
                orig_sz=_opt_float(o, "origSz", mt) or 0.0,
                tif=tif if isinstance(tif, str) else "",
                reduce_only=bool(o.get("reduceOnly", False)),
                is_trigger=bool(o.get("isTrigger", False)),
                order_type=str(o.get("orderType") or ""),
            )
        )
    return out


def open_order_ticks(order: OpenOrder, inst: Instrument) -> tuple[int, int]:
    """(price ticks, size lots) of an open order on its instrument's grid (WireError if off-grid)."""
    mt = "openOrders"
    px = _grid(_num(order.px, mt, "limitPx"), inst.tick_size, mt, f"{inst.coin} price")
    sz = _grid(_num(order.sz, mt, "sz"), inst.lot_size, mt, f"{inst.coin} size")
    return px, sz


@_wire("userRateLimit")
def parse_user_rate_limit(resp: Any) -> RateLimitStatus:
    mt = "userRateLimit"
    body = _dict(resp, mt, "response")
    surplus = body.get("nRequestsSurplus", 0)
    if isinstance(surplus, bool) or not isinstance(surplus, int):
        raise WireError(mt, "field 'nRequestsSurplus' is not an integer")
    return RateLimitStatus(
        cum_vlm=_float(body, "cumVlm", mt),
        n_requests_used=_int(body, "nRequestsUsed", mt),
        n_requests_cap=_int(body, "nRequestsCap", mt),
        n_requests_surplus=surplus,
    )


# ---------------------------------------------------------------- /exchange responses


def exchange_error(resp: Any) -> str:
    """'' for a {'status':'ok',...} response, else the venue's error text."""
    if isinstance(resp, Mapping) and resp.get("status") == "ok":
        return ""
    if isinstance(resp, Mapping) and "response" in resp:
        return str(resp["response"])
    return str(resp)


def _statuses(resp: Any, kinds: tuple[str, ...], n: int, mt: str) -> list[Any] | str:
    """The per-request statuses of an ok response, or the error text of an 'err' response."""
    body = _dict(resp, mt, "response")
    status = _field(body, "status", mt)
    if status != "ok":
        return str(body.get("response", status))
    inner = _dict(_field(body, "response", mt), mt, "response")
    rtype = _str(inner, "type", mt)
    if rtype not in kinds:
        raise WireError(mt, f"response type {rtype!r}, want {' or '.join(kinds)}")
    statuses = _list(_field(_field(inner, "data", mt), "statuses", mt), mt, "statuses")
    if len(statuses) != n:
        raise WireError(mt, f"{len(statuses)} statuses for {n} requests")
    return statuses


@_wire("order")
def parse_order_statuses(resp: Any, n: int) -> list[OrderResult]:
    """/exchange order response for `n` orders -> OrderResults; a whole-request error gives n errors."""
    mt = "order"
    statuses = _statuses(resp, ("order",), n, mt)
    if isinstance(statuses, str):
        return [OrderResult(kind="error", error=statuses) for _ in range(n)]
    out = []
    for raw in statuses:
        st = _dict(raw, mt, "status")
        if "resting" in st:
            r = _dict(st["resting"], mt, "resting")
            out.append(OrderResult(kind="resting", oid=_oid(r, mt), cloid=_opt_cloid(r, mt)))
        elif "filled" in st:
            f = _dict(st["filled"], mt, "filled")
            out.append(
                OrderResult(
                    kind="filled",
                    oid=_oid(f, mt),
                    cloid=_opt_cloid(f, mt),
                    total_sz=_float(f, "totalSz", mt),
                    avg_px=_float(f, "avgPx", mt),
                )
            )
        elif "error" in st:
            out.append(OrderResult(kind="error", error=str(st["error"])))
        else:
            raise WireError(mt, f"unknown order status {sorted(st)!r}")
    return out


def order_response_to_acks(resp: Any, places: Sequence[Place], ts_ms: int) -> list[OrderAck]:
    """/exchange order response for `places` (same order) -> one OrderAck each.

    resting -> OPEN, filled -> FILLED (the executions arrive as userFills), error -> REJECTED
    with the venue's text as reason.
    """
    results = parse_order_statuses(resp, len(places))
    out = []
    for place, res in zip(places, results, strict=True):
        if res.kind == "resting":
            status, reason = OrderStatus.OPEN, ""
        elif res.kind == "filled":
            status, reason = OrderStatus.FILLED, ""
        else:
            status, reason = OrderStatus.REJECTED, res.error
        out.append(
            OrderAck(
                bot_id=place.bot_id,
                coin=place.coin,
                cloid=place.cloid,
                status=status,
                ts_ms=ts_ms,
                venue_oid=res.oid,
                reason=reason,
            )
        )
    return out


@_wire("cancel")
def parse_cancel_statuses(resp: Any, n: int) -> list[str]:
    """/exchange cancel or cancelByCloid response for `n` cancels -> '' per success, else error text."""
    mt = "cancel"
    statuses = _statuses(resp, ("cancel", "cancelByCloid"), n, mt)
    if isinstance(statuses, str):
        return [statuses] * n
    out = []
    for st in statuses:
        if st == "success":
            out.append("")
        elif isinstance(st, Mapping) and "error" in st:
            out.append(str(st["error"]) or "error")
        else:
            raise WireError(mt, f"unknown cancel status {st!r}")
    return out


def cancel_response_to_events(
    resp: Any, cancels: Sequence[Cancel], ts_ms: int
) -> list[OrderAck | CancelFailed]:
    """/exchange cancel response for `cancels` -> OrderAck(CANCELLED) or CancelFailed each."""
    errors = parse_cancel_statuses(resp, len(cancels))
    out: list[OrderAck | CancelFailed] = []
    for c, err in zip(cancels, errors, strict=True):
        if err:
            out.append(CancelFailed(bot_id=c.bot_id, coin=c.coin, cloid=c.cloid, reason=err, ts_ms=ts_ms))
        else:
            out.append(
                OrderAck(
                    bot_id=c.bot_id, coin=c.coin, cloid=c.cloid, status=OrderStatus.CANCELLED, ts_ms=ts_ms
                )
            )
    return out


# ---------------------------------------------------------------- core -> wire


def _asset(assets: Mapping[str, HlAsset], coin: str) -> HlAsset:
    a = assets.get(coin)
    if a is None:
        raise ValueError(f"unknown coin {coin!r}")
    return a


def place_to_wire(place: Place, asset: HlAsset) -> dict[str, Any]:
    """Place -> order wire {a,b,p,s,r,t[,c]} ('c' omitted for an empty cloid).

    Raises ValueError for an invalid price (round with rules.round_price first), size or cloid.
    """
    inst = asset.instrument
    if place.coin != asset.coin:
        raise ValueError(f"place for {place.coin!r} given asset {asset.coin!r}")
    if place.side not in (BUY, SELL):
        raise ValueError(f"invalid side {place.side!r}")
    if not rules.is_valid_price(inst, place.px):
        raise ValueError(f"{place.coin}: {place.px} ticks is not a valid price")
    if place.sz <= 0:
        raise ValueError(f"{place.coin}: size must be at least one lot")
    tif = TIF_TO_WIRE[Tif(place.tif)]
    return auth.order_wire(
        asset=asset.asset_id,
        is_buy=place.side == BUY,
        px=rules.px_to_wire(inst, place.px),
        sz=rules.sz_to_wire(inst, place.sz),
        reduce_only=place.reduce_only,
        order_type={"limit": {"tif": tif}},
        cloid=place.cloid or None,
    )


def places_to_action(places: Sequence[Place], assets: Mapping[str, HlAsset]) -> dict[str, Any]:
    """A batch of Places -> one `order` action with grouping 'na'."""
    if not places:
        raise ValueError("empty order batch")
    return auth.order_action([place_to_wire(p, _asset(assets, p.coin)) for p in places])


def modifies_to_action(items: Sequence[tuple[Modify, int]], assets: Mapping[str, HlAsset]) -> dict[str, Any]:
    """(Modify, lots to rest with) pairs -> one signed-ready `batchModify` action. Each entry names
    the order by its cloid and carries the whole new order wire, cloid included (without `c` the
    modified order would lose our cloid). Raises ValueError like place_to_wire."""
    out = []
    for m, rest_lots in items:
        wire = place_to_wire(Place(m.bot_id, m.coin, m.cloid, m.side, m.px, rest_lots, m.tif, m.reduce_only),
                             _asset(assets, m.coin))
        out.append((m.cloid, wire))
    return auth.batch_modify_action(out)


def cancel_to_wire(cancel: Cancel, asset: HlAsset) -> dict[str, Any]:
    """Cancel -> cancelByCloid entry {asset, cloid}."""
    if cancel.coin != asset.coin:
        raise ValueError(f"cancel for {cancel.coin!r} given asset {asset.coin!r}")
    return {"asset": asset.asset_id, "cloid": auth.check_cloid(cancel.cloid)}


def cancels_to_action(cancels: Sequence[Cancel], assets: Mapping[str, HlAsset]) -> dict[str, Any]:
    """A batch of Cancels -> one `cancelByCloid` action."""
    if not cancels:
        raise ValueError("empty cancel batch")
    return {
        "type": "cancelByCloid",
        "cancels": [cancel_to_wire(c, _asset(assets, c.coin)) for c in cancels],
    }


def exchange_weight(batch_len: int) -> int:
    """IP weight of one /exchange request carrying `batch_len` orders or cancels: 1 + floor(n/40)."""
    if batch_len < 0:
        raise ValueError("batch length must not be negative")
    return 1 + batch_len // EXCHANGE_BATCH_STEP


def info_weight(request_type: str, n_items: int = 0) -> int:
    """IP weight of an /info request; n_items = items in the response for the per-item surcharges."""
    if request_type in _INFO_WEIGHT_2:
        return 2
    if request_type in _INFO_WEIGHT_60:
        return 60
    if request_type in _INFO_PER_20_ITEMS:
        return 20 + n_items // 20
    if request_type in _INFO_PER_60_ITEMS:
        return 20 + n_items // 60
    return 20
