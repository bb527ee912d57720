"""Hyperliquid wire <-> core: every relevant shared fixture, rounding rules, malformed input."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm_bot.core.types import BUY, SELL, Cancel, Fill, Instrument, OrderAck, OrderStatus, Place, Tif
from mm_bot.venues.hyperliquid import auth, mapping, rules
from mm_bot.venues.hyperliquid.mapping import WireError
from tests.venues._shared import load_shared_json, shared_dir

FIXTURE_DIR = ("fixtures", "hyperliquid")


def fx(name: str):
    return load_shared_json(*FIXTURE_DIR, f"{name}.json")


def inst(coin: str, sz_decimals: int) -> Instrument:
    return Instrument(
        coin=coin,
        tick_size=float(Decimal(1).scaleb(-max(0, 6 - sz_decimals))),
        lot_size=float(Decimal(1).scaleb(-sz_decimals)),
        min_notional_usd=10.0,
        max_sig_figs=5,
    )


BTC = inst("BTC", 5)
ETH = inst("ETH", 4)
SOL = inst("SOL", 2)
OP = inst("OP", 1)
DOGE = inst("DOGE", 0)
KPEPE = inst("kPEPE", 0)
INSTS = {i.coin: i for i in (BTC, ETH, SOL, OP, DOGE, KPEPE)}
ASSETS = {
    c: mapping.HlAsset(coin=c, asset_id=i, sz_decimals=d, instrument=INSTS[c])
    for i, (c, d) in enumerate((("BTC", 5), ("ETH", 4), ("SOL", 2), ("OP", 1), ("DOGE", 0), ("kPEPE", 0)))
}


@pytest.fixture(scope="module")
def meta_assets() -> dict[str, mapping.HlAsset]:
    return mapping.parse_meta(fx("info_meta")["response"])


@pytest.fixture(scope="module")
def meta_insts(meta_assets) -> dict[str, Instrument]:
    return mapping.instruments(meta_assets)


# ---------------------------------------------------------------- fixture coverage

PARSED_FIXTURES = {
    "info_meta",
    "ws_l2Book",
    "info_l2Book",
    "ws_trades",
    "ws_orderUpdates",
    "ws_user_fills",
    "info_userFills",
    "info_userFillsByTime",
    "info_clearinghouseState",
    "info_openOrders",
    "info_frontendOpenOrders",
    "info_historicalOrders",
    "info_userRateLimit",
    "exchange_order_resp_resting",
    "exchange_order_resp_filled",
    "exchange_order_resp_error",
    "exchange_cancel_resp",
    "exchange_cancel_resp_error",
    "ws_post_order",
}
# Not needed by the market maker's order path (market data summaries, staking, vaults, control frames).
IRRELEVANT_FIXTURES = {
    "info_allMids",
    "info_candleSnapshot",
    "info_delegatorHistory",
    "info_extraAgents",
    "info_fundingHistory",
    "info_portfolio",
    "info_userFunding",
    "info_userNonFundingLedgerUpdates",
    "info_userRole",
    "info_userTwapSliceFills",
    "info_userVaultEquities",
    "ws_ping",
    "ws_subscribe_ack",
    "ws_subscribe_l2Book",
}


def test_every_fixture_is_classified():
    folder = shared_dir().joinpath(*FIXTURE_DIR)
    if not folder.is_dir():
        pytest.skip(f"shared fixtures not found: {folder}")
    names = {p.stem for p in folder.glob("*.json")}
    assert names - PARSED_FIXTURES - IRRELEVANT_FIXTURES == set(), "new fixture: parse it or classify it"
    assert PARSED_FIXTURES <= names


# ---------------------------------------------------------------- meta


def test_parse_meta(meta_assets):
    assert len(meta_assets) == 28
    btc = meta_assets["BTC"]
    assert (btc.asset_id, btc.sz_decimals, btc.max_leverage) == (0, 5, 50)
    assert btc.instrument == Instrument("BTC", 0.1, 1e-05, 10.0, max_sig_figs=5)
    assert meta_assets["ETH"].asset_id == 1
    assert meta_assets["ETH"].instrument.tick_size == 0.01
    assert meta_assets["SOL"].asset_id == 5
    assert meta_assets["DOGE"].asset_id == 12
    kpepe = meta_assets["kPEPE"]
    assert kpepe.asset_id == 15 and kpepe.instrument.tick_size == 1e-06 and kpepe.instrument.lot_size == 1.0
    assert [a.asset_id for a in meta_assets.values()] == list(range(28))


def test_parse_meta_and_asset_ctxs_and_flags():
    resp = [
        {
            "universe": [
                {"name": "X", "szDecimals": 2, "maxLeverage": 3, "onlyIsolated": True, "isDelisted": True}
            ]
        },
        [{"markPx": "1.0"}],
    ]
    x = mapping.parse_meta(resp, asset_offset=110000)["X"]
    assert (x.asset_id, x.only_isolated, x.delisted, x.instrument.tick_size) == (110000, True, True, 0.0001)
    spot = mapping.parse_meta({"universe": [{"name": "P", "szDecimals": 0}]}, max_decimals=8)["P"]
    assert spot.instrument.tick_size == 1e-08


# ---------------------------------------------------------------- market data


def test_ws_l2book(meta_insts):
    book = mapping.parse_l2_book(fx("ws_l2Book")["msg"], meta_insts)
    assert book.coin == "BTC" and book.snapshot is True and book.ts_ms == 1700687397641
    # BTC tick 0.1, lot 0.00001
    assert book.bids == ((20803, 7469230), (20800, 16228290), (18255, 2590), (18236, 2590))
    assert book.asks == ((20805, 7301800), (20806, 7467990), (21189, 37749500), (21221, 34886440))
    assert mapping.parse_l2_book(fx("ws_l2Book")["msg"], meta_insts, recv_ms=5).ts_ms == 5


def test_info_l2book(meta_insts):
    resp = fx("info_l2Book")["response"]
    book = mapping.parse_l2_book(resp, meta_insts)
    assert book.coin == "DYDX" and book.ts_ms == 1689630203930
    assert len(book.bids) == len(book.asks) == 20
    dydx = meta_insts["DYDX"]  # szDecimals 1: tick 0.00001, lot 0.1
    assert book.bids[0] == (211100, 1344) and book.asks[0] == (211240, 3523)
    assert dydx.px(book.bids[0][0]) == 2.111 and dydx.sz(book.asks[0][1]) == 352.3
    assert all(a[0] > b[0] for a, b in zip(book.bids, book.bids[1:], strict=False))
    assert all(a[0] < b[0] for a, b in zip(book.asks, book.asks[1:], strict=False))


def test_ws_trades_old_format(meta_insts):
    trades = mapping.parse_trades(fx("ws_trades")["msg"], meta_insts)
    assert len(trades) == 2
    t0, t1 = trades
    assert (t0.coin, t0.px, t0.sz, t0.aggressor, t0.ts_ms) == ("BTC", 20090, 790, SELL, 1701156061468)
    assert t0.trade_id == "0x3e2bc327cc925903cebe0408315a98010b002fda921d23fd1468bbb5d573f902"
    assert t0.users == ()
    assert t1.aggressor == BUY


def test_ws_trades_with_tid_and_users():
    msg = {
        "channel": "trades",
        "data": [
            {
                "coin": "ETH",
                "side": "B",
                "px": "3001.5",
                "sz": "0.25",
                "hash": "0xab",
                "time": 1700000000123,
                "tid": 118906512037719,
                "users": ["0xbuyer", "0xseller"],
            }
        ],
    }
    (t,) = mapping.parse_trades(msg, INSTS, recv_ms=1700000000200)
    assert t == mapping.TradePrint(
        coin="ETH",
        ts_ms=1700000000200,
        px=300150,
        sz=2500,
        aggressor=BUY,
        trade_id="118906512037719",
        users=("0xbuyer", "0xseller"),
    )


# ---------------------------------------------------------------- order updates and fills


def test_ws_order_updates():
    cloid = "0x48424f54534548554436306163343632"
    (ack,) = mapping.parse_order_updates(fx("ws_orderUpdates")["msg"], {cloid: "bot-1"})
    assert ack == OrderAck(
        bot_id="bot-1",
        coin="ETH",
        cloid=cloid,
        status=OrderStatus.CANCELLED,
        ts_ms=1700688453173,
        venue_oid="2260108845",
        reason="canceled",
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("open", OrderStatus.OPEN),
        ("triggered", OrderStatus.OPEN),
        ("filled", OrderStatus.FILLED),
        ("canceled", OrderStatus.CANCELLED),
        ("marginCanceled", OrderStatus.CANCELLED),
        ("selfTradeCanceled", OrderStatus.CANCELLED),
        ("scheduledCancel", OrderStatus.CANCELLED),
        ("rejected", OrderStatus.REJECTED),
        ("badAloPxRejected", OrderStatus.REJECTED),
        ("iocCancelRejected", OrderStatus.REJECTED),
        ("minTradeNtlRejected", OrderStatus.REJECTED),
    ],
)
def test_order_status_vocabulary(status, expected):
    assert mapping.order_status_from_wire(status) == expected


def test_order_update_open_without_cloid():
    msg = {
        "channel": "orderUpdates",
        "data": [
            {
                "order": {
                    "coin": "BTC",
                    "side": "B",
                    "limitPx": "1",
                    "sz": "1",
                    "oid": 7,
                    "timestamp": 1,
                    "origSz": "1",
                },
                "status": "open",
                "statusTimestamp": 2,
            }
        ],
    }
    (ack,) = mapping.parse_order_updates(msg)
    assert (ack.status, ack.cloid, ack.bot_id, ack.reason, ack.venue_oid) == (
        OrderStatus.OPEN,
        "",
        "",
        "",
        "7",
    )


def test_ws_user_event_fill():
    fills = mapping.parse_user_fills(
        fx("ws_user_fills")["msg"], INSTS, cloid_of_oid={"2260113568": "0x" + "0" * 31 + "9"}
    )
    assert fills.is_snapshot is False
    (f,) = fills.fills
    assert f == Fill(
        bot_id="",
        coin="ETH",
        cloid="0x" + "0" * 31 + "9",
        fill_id="0x544c46b72e0efdada8cd04080bb32b010d005a7d0554c10c4d0287e9a2c237e7:2260113568:2091.3:0.01:0.0",
        side=BUY,
        px=209130,
        sz=100,
        maker=False,
        fee_usd=0.005228,
        ts_ms=1700688460805,
    )


def test_ws_user_fills_snapshot_with_tid_and_cloid():
    cloid = "0x00000000000000000000000000000002"
    msg = {
        "channel": "userFills",
        "data": {
            "isSnapshot": True,
            "user": "0xabc",
            "fills": [
                {
                    "coin": "BTC",
                    "px": "60010",
                    "sz": "0.01",
                    "side": "A",
                    "time": 1700000000999,
                    "startPosition": "0.02",
                    "dir": "Close Long",
                    "closedPnl": "0.2",
                    "hash": "0xff",
                    "oid": 42,
                    "crossed": False,
                    "fee": "-0.00006",
                    "tid": 987654321,
                    "feeToken": "USDC",
                    "cloid": cloid,
                }
            ],
        },
    }
    uf = mapping.parse_user_fills(msg, INSTS, {cloid: "bot-7"})
    assert uf.is_snapshot is True and uf.user == "0xabc"
    (f,) = uf.fills
    assert (f.bot_id, f.cloid, f.fill_id, f.side, f.px, f.sz, f.maker, f.fee_usd) == (
        "bot-7",
        cloid,
        "987654321",
        SELL,
        600100,
        1000,
        True,
        -0.00006,
    )


def test_user_event_without_fills_gives_none():
    msg = {"channel": "user", "data": {"nonUserCancel": [{"coin": "BTC", "oid": 1}]}}
    assert mapping.parse_user_fills(msg, INSTS).fills == ()


@pytest.mark.parametrize("name", ["info_userFills", "info_userFillsByTime"])
def test_info_user_fills(name, meta_insts):
    resp = fx(name)["response"]
    uf = mapping.parse_user_fills(resp, meta_insts)
    assert len(uf.fills) == 500
    assert sum(f.maker for f in uf.fills) == 261
    assert sum(f.side == BUY for f in uf.fills) == 265
    f = uf.fills[0]
    assert (f.coin, f.side, f.maker, f.fee_usd, f.ts_ms) == ("SUI", SELL, False, 0.0, 1683245884863)
    assert meta_insts["SUI"].px(f.px) == 1.3189 and meta_insts["SUI"].sz(f.sz) == 142.7
    assert len({x.fill_id for x in uf.fills}) == 500
    for raw, fill in zip(resp, uf.fills, strict=True):
        i = meta_insts[raw["coin"]]
        assert Decimal(raw["px"]) == rules.price_decimal(i, fill.px)
        assert Decimal(raw["sz"]) == rules.size_decimal(i, fill.sz)
        assert fill.maker is (not raw["crossed"])


def test_user_fills_unknown_coin():
    fills = [
        {"coin": "@107", "px": "1", "sz": "1", "side": "B", "time": 1, "oid": 1, "crossed": True, "fee": "0"}
    ]
    with pytest.raises(WireError) as info:
        mapping.parse_user_fills(fills, INSTS)
    assert info.value.message_type == "userFills"
    assert mapping.parse_user_fills(fills, INSTS, skip_unknown=True).fills == ()


# ---------------------------------------------------------------- /info account state


def test_clearinghouse_positions():
    resp = fx("info_clearinghouseState")["response"]
    pos = mapping.parse_positions(resp)
    assert len(pos) == 12
    btc = pos["BTC"]
    assert btc == mapping.VenuePosition(
        coin="BTC",
        size=-0.00785,
        entry_px=26951.0,
        unrealized_pnl=-0.08007,
        liquidation_px=173198.69592357,
        leverage=20.0,
        leverage_type="cross",
        margin_used=10.582271,
        position_value=211.64542,
    )
    assert pos["ETH"].size == 0.1334 and pos["ETH"].entry_px == 1705.82 and pos["ETH"].liquidation_px is None
    assert pos["ARB"].size == 246.5 and pos["DYDX"].size == -121.2
    summary = mapping.parse_margin_summary(resp)
    assert summary == mapping.MarginSummary(1182.312496, 171.740766, 3434.815334, 1010.57173, 0)


def test_clearinghouse_zero_position_dropped():
    resp = {
        "assetPositions": [{"type": "oneWay", "position": {"coin": "BTC", "szi": "0.0", "entryPx": None}}],
        "marginSummary": {},
    }
    assert mapping.parse_positions(resp) == {}


def test_open_orders(meta_insts):
    orders = mapping.parse_open_orders(fx("info_openOrders")["response"])
    assert len(orders) == 196
    o = orders[0]
    assert o == mapping.OpenOrder(
        coin="MATIC", oid="62269971", side=BUY, px=1.0357, sz=208.7, timestamp_ms=1679940217356
    )
    assert orders[1].side == SELL and orders[1].coin == "ARB"
    assert mapping.open_order_ticks(o, meta_insts["MATIC"]) == (103570, 2087)
    for order in orders:
        mapping.open_order_ticks(order, meta_insts[order.coin])  # every one on its grid


def test_frontend_open_orders():
    orders = mapping.parse_open_orders(fx("info_frontendOpenOrders")["response"])
    assert len(orders) == 3  # children are duplicates of top-level trigger orders
    tp, sl, limit = orders
    assert (tp.order_type, tp.is_trigger, tp.reduce_only, tp.tif, tp.side) == (
        "Take Profit Market",
        True,
        True,
        "",
        SELL,
    )
    assert sl.oid == "3184595906" and sl.px == 9.1954
    assert limit == mapping.OpenOrder(
        coin="INJ",
        oid="3184595905",
        side=BUY,
        px=10.0,
        sz=12.5,
        timestamp_ms=1700126022555,
        cloid="",
        orig_sz=12.5,
        tif="Gtc",
        reduce_only=False,
        is_trigger=False,
        order_type="Limit",
    )


def test_historical_orders_inner_order_and_status():
    resp = fx("info_historicalOrders")["response"]
    orders = mapping.parse_open_orders([x["order"] for x in resp])
    assert len(orders) == 5
    assert (orders[0].coin, orders[0].tif, orders[0].oid) == ("TON", "Ioc", "141682155424")
    assert mapping.order_status_from_wire(resp[0]["status"]) == OrderStatus.REJECTED


def test_open_order_with_cloid():
    cloid = "0x" + "ab" * 16
    raw = [
        {
            "coin": "BTC",
            "limitPx": "60000.0",
            "oid": 1,
            "side": "A",
            "sz": "0.001",
            "timestamp": 2,
            "cloid": cloid,
        }
    ]
    (o,) = mapping.parse_open_orders(raw)
    assert o.cloid == cloid
    assert mapping.open_order_ticks(o, BTC) == (600000, 100)


def test_user_rate_limit():
    rl = mapping.parse_user_rate_limit(fx("info_userRateLimit")["response"])
    assert rl == mapping.RateLimitStatus(
        cum_vlm=170043721737.45,
        n_requests_used=36589831368,
        n_requests_cap=170043731737,
        n_requests_surplus=0,
    )
    assert rl.remaining == 170043731737 - 36589831368
    rl2 = mapping.parse_user_rate_limit(
        {"cumVlm": "0.0", "nRequestsUsed": 5, "nRequestsCap": 10000, "nRequestsSurplus": 7}
    )
    assert rl2.remaining == 10002


# ---------------------------------------------------------------- /exchange responses


def _place(cloid: str = "0x" + "0" * 31 + "1", **kw) -> Place:
    base = dict(bot_id="b1", coin="BTC", cloid=cloid, side=BUY, px=600000, sz=100, tif=Tif.ALO)
    base.update(kw)
    return Place(**base)


def test_order_response_resting():
    resp = fx("exchange_order_resp_resting")["msg"]
    assert mapping.parse_order_statuses(resp, 1) == [mapping.OrderResult(kind="resting", oid="77738308")]
    (ack,) = mapping.order_response_to_acks(resp, [_place()], 123)
    assert ack == OrderAck("b1", "BTC", _place().cloid, OrderStatus.OPEN, 123, venue_oid="77738308")


def test_order_response_filled():
    resp = fx("exchange_order_resp_filled")["msg"]
    (res,) = mapping.parse_order_statuses(resp, 1)
    assert res == mapping.OrderResult(kind="filled", oid="77747314", total_sz=0.02, avg_px=1891.4)
    (ack,) = mapping.order_response_to_acks(resp, [_place(tif=Tif.IOC)], 5)
    assert (ack.status, ack.venue_oid) == (OrderStatus.FILLED, "77747314")


def test_order_response_error():
    resp = fx("exchange_order_resp_error")["msg"]
    (ack,) = mapping.order_response_to_acks(resp, [_place()], 9)
    assert ack.status == OrderStatus.REJECTED
    assert ack.reason == "Order must have minimum value of $10."
    assert ack.venue_oid == ""


def test_order_response_mixed_batch_and_whole_error():
    resp = {
        "status": "ok",
        "response": {
            "type": "order",
            "data": {
                "statuses": [
                    {"resting": {"oid": 1, "cloid": "0x" + "0" * 31 + "1"}},
                    {"error": "Post only order would have immediately matched, bbo was 60000@60001"},
                ]
            },
        },
    }
    places = [_place(), _place(cloid="0x" + "0" * 31 + "2", side=SELL, px=600010)]
    acks = mapping.order_response_to_acks(resp, places, 1)
    assert [a.status for a in acks] == [OrderStatus.OPEN, OrderStatus.REJECTED]
    assert acks[1].reason.startswith("Post only order")
    err = {"status": "err", "response": "User or API Wallet 0x12 does not exist."}
    acks = mapping.order_response_to_acks(err, places, 1)
    assert [a.status for a in acks] == [OrderStatus.REJECTED] * 2
    assert all(a.reason == "User or API Wallet 0x12 does not exist." for a in acks)
    assert mapping.exchange_error(err) == "User or API Wallet 0x12 does not exist."
    assert mapping.exchange_error(resp) == ""


def test_cancel_responses():
    c = Cancel(bot_id="b1", coin="BTC", cloid="0x" + "0" * 31 + "1")
    ok = mapping.cancel_response_to_events(fx("exchange_cancel_resp")["msg"], [c], 77)
    assert ok == [OrderAck("b1", "BTC", c.cloid, OrderStatus.CANCELLED, 77)]
    bad = mapping.cancel_response_to_events(fx("exchange_cancel_resp_error")["msg"], [c], 78)
    assert bad == [
        mapping.CancelFailed("b1", "BTC", c.cloid, "Order was never placed, already canceled, or filled.", 78)
    ]
    assert mapping.parse_cancel_statuses(fx("exchange_cancel_resp")["msg"], 1) == [""]


# ---------------------------------------------------------------- core -> wire


def _vectors() -> dict:
    return load_shared_json("vectors", "vectors_hyperliquid.json")


C1 = "0x00000000000000000000000000000001"


def test_place_to_wire_reproduces_signed_vectors():
    vecs = {v["name"]: v for v in _vectors()["vectors"]}
    key = _vectors()["meta"]["private_key"]
    cases = {
        "order_alo_with_cloid": [_place(cloid=C1)],
        "order_ioc_with_cloid": [_place(cloid=C1, tif=Tif.IOC)],
        "order_gtc_with_cloid": [_place(cloid=C1, tif=Tif.GTC)],
        "order_alo_batch_two_sided": [
            _place(cloid="0x00000000000000000000000000000002", px=599900, sz=1000),
            _place(cloid="0x00000000000000000000000000000003", side=SELL, px=600100, sz=1000),
        ],
        "order_alo_no_cloid_sell": [
            Place(bot_id="b", coin="ETH", cloid="", side=SELL, px=167010, sz=147, tif=Tif.ALO)
        ],
    }
    for name, places in cases.items():
        vec = vecs[name]
        action = mapping.places_to_action(places, ASSETS)
        assert action == vec["action"], name
        assert auth.packb(action).hex() == vec["msgpack_action_hex"], name
        for net, is_mainnet in (("mainnet", True), ("testnet", False)):
            sig = auth.sign_l1_action(key, action, None, vec["nonce"], None, is_mainnet)
            assert sig == vec["signatures"][net]["sdk_signature"], (name, net)


def test_cancel_to_wire_reproduces_vector():
    vec = next(v for v in _vectors()["vectors"] if v["name"] == "cancel_by_cloid")
    action = mapping.cancels_to_action([Cancel(bot_id="b", coin="BTC", cloid=C1)], ASSETS)
    assert action == vec["action"]
    assert auth.packb(action).hex() == vec["msgpack_action_hex"]


def test_place_matches_docs_ws_post_order():
    payload = fx("ws_post_order")["msg"]["request"]["payload"]
    eth4 = {"ETH": mapping.HlAsset(coin="ETH", asset_id=4, sz_decimals=4, instrument=ETH)}
    place = Place(bot_id="b", coin="ETH", cloid="", side=BUY, px=110000, sz=2000, tif=Tif.GTC)
    assert mapping.places_to_action([place], eth4) == payload["action"]


def test_place_to_wire_flags_and_validation():
    wire = mapping.place_to_wire(_place(reduce_only=True, tif=Tif.IOC, side=SELL), ASSETS["BTC"])
    assert wire == {
        "a": 0,
        "b": False,
        "p": "60000",
        "s": "0.001",
        "r": True,
        "t": {"limit": {"tif": "Ioc"}},
        "c": "0x00000000000000000000000000000001",
    }
    with pytest.raises(ValueError):  # 60000.1 has 6 significant figures
        mapping.place_to_wire(_place(px=600001), ASSETS["BTC"])
    with pytest.raises(ValueError):
        mapping.place_to_wire(_place(sz=0), ASSETS["BTC"])
    with pytest.raises(ValueError):
        mapping.place_to_wire(_place(cloid="0x1"), ASSETS["BTC"])
    with pytest.raises(ValueError):
        mapping.place_to_wire(_place(coin="ETH"), ASSETS["BTC"])
    with pytest.raises(ValueError):
        mapping.places_to_action([_place(coin="XYZ")], ASSETS)
    with pytest.raises(ValueError):
        mapping.places_to_action([], ASSETS)
    # an integer price above 5 significant figures is valid, a fractional one is not
    assert mapping.place_to_wire(_place(px=1234560), ASSETS["BTC"])["p"] == "123456"
    with pytest.raises(ValueError):
        mapping.place_to_wire(_place(px=1234561), ASSETS["BTC"])  # 123456.1


@pytest.mark.parametrize(("n", "weight"), [(0, 1), (1, 1), (39, 1), (40, 2), (79, 2), (80, 3), (1000, 26)])
def test_exchange_weight(n, weight):
    assert mapping.exchange_weight(n) == weight


def test_info_weight():
    assert mapping.info_weight("l2Book") == 2
    assert mapping.info_weight("clearinghouseState") == 2
    assert mapping.info_weight("meta") == 20
    assert mapping.info_weight("userRole") == 60
    assert mapping.info_weight("userFills", 500) == 45
    assert mapping.info_weight("candleSnapshot", 120) == 22


# ---------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    ("instrument", "px", "bid", "ask"),
    [
        (BTC, 105055.37, "105055", "105056"),  # >= 10^5: integers always valid, 1 dollar step
        (BTC, 123456.7, "123456", "123457"),
        (BTC, 60123.456, "60123", "60124"),  # 5 integer digits: no decimals left
        (BTC, 9999.95, "9999.9", "10000"),  # 4 integer digits: 1 decimal (also the tick)
        (BTC, 60000.0, "60000", "60000"),  # already valid: unchanged both ways
        (ETH, 1670.123, "1670.1", "1670.2"),  # 5 sig figs bind before 2 decimals
        (ETH, 0.00123456, "0", "0.01"),  # below one tick: a bid is unquotable
        (ETH, 99.999, "99.99", "100"),
        (SOL, 145.6789, "145.67", "145.68"),
        (OP, 1.2345678, "1.2345", "1.2346"),
        (DOGE, 0.1234567, "0.12345", "0.12346"),
        (KPEPE, 0.0012345, "0.001234", "0.001235"),  # 6 decimals bind before 5 sig figs
        (KPEPE, 0.000012345, "0.000012", "0.000013"),
        (DOGE, 12345.678, "12345", "12346"),
    ],
)
def test_round_price_worked_examples(instrument, px, bid, ask):
    b = rules.round_price(instrument, px, BUY)
    a = rules.round_price(instrument, px, SELL)
    assert rules.px_to_wire(instrument, b) == bid
    assert rules.px_to_wire(instrument, a) == ask
    assert rules.is_valid_price(instrument, a)
    assert b == 0 or rules.is_valid_price(instrument, b)


def test_round_price_btc_ticks():
    assert rules.round_price(BTC, 105055.37, BUY) == 1050550
    assert BTC.px(rules.round_price(BTC, 105055.37, BUY)) == 105055.0


def test_sdk_rounding_examples_from_vectors():
    examples = _vectors()["rounding_examples"]["examples"]
    for ex in examples:
        i = inst(ex["coin"], ex["szDecimals"])
        ticks = rules.round_price_nearest(i, ex["px_in"])
        assert rules.px_to_wire(i, ticks) == ex["px_wire"], ex
        assert float(rules.price_decimal(i, ticks)) == ex["px_rounded"]
        lots = rules.round_size_nearest(i, ex["sz_in"])
        assert rules.sz_to_wire(i, lots) == ex["sz_wire"], ex
        # the directional rounding brackets the input
        assert rules.price_decimal(i, rules.round_price(i, ex["px_in"], BUY)) <= Decimal(repr(ex["px_in"]))
        assert rules.price_decimal(i, rules.round_price(i, ex["px_in"], SELL)) >= Decimal(repr(ex["px_in"]))


@pytest.mark.parametrize(
    ("instrument", "sz", "lots", "wire"),
    [(BTC, 0.0012345, 123, "0.00123"), (DOGE, 100.7, 100, "100"), (SOL, 1.239, 123, "1.23"), (OP, 12.345678, 123, "12.3"),
     (ETH, 0.00009, 0, "0")],
)  # fmt: skip
def test_round_size_down(instrument, sz, lots, wire):
    assert rules.round_size(instrument, sz) == lots
    assert rules.sz_to_wire(instrument, lots) == wire


def test_is_valid_price():
    assert rules.is_valid_price(BTC, 1234560)  # 123456: integers always valid
    assert not rules.is_valid_price(BTC, 1234567)  # 123456.7: 7 significant figures
    assert not rules.is_valid_price(BTC, 600001)  # 60000.1: 6 significant figures
    assert rules.is_valid_price(BTC, 600000)  # 60000
    assert rules.is_valid_price(BTC, 99999)  # 9999.9
    assert not rules.is_valid_price(BTC, 0) and not rules.is_valid_price(BTC, -5)
    assert rules.is_valid_price(KPEPE, 12345)  # 0.012345: 5 sig figs, 6 decimals
    assert not rules.is_valid_price(KPEPE, 123456)  # 0.123456: 6 sig figs
    assert rules.is_valid_price(KPEPE, 1234)  # 0.001234
    assert not rules.is_valid_price(ETH, 123456)  # 1234.56: 6 sig figs
    assert rules.is_valid_price(ETH, 12345)  # 123.45


def test_notional_helpers():
    assert rules.min_lots(BTC, 600000) == 17  # 10 / (60000 * 0.00001) = 16.7
    assert rules.notional_ok(BTC, 600000, 17) and not rules.notional_ok(BTC, 600000, 16)
    assert rules.min_lots(DOGE, 100000) == 100  # 0.1 * 100 = 10


def test_rounding_rejects_bad_input():
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            rules.round_price(BTC, bad, BUY)
    with pytest.raises(ValueError):
        rules.round_price(BTC, 1.0, 0)
    with pytest.raises(ValueError):
        rules.round_size(BTC, -0.1)


SZ_DECIMALS = st.integers(min_value=0, max_value=6)
PRICES = st.floats(min_value=1e-7, max_value=5e7, allow_nan=False, allow_infinity=False)


@settings(max_examples=400, deadline=None)
@given(SZ_DECIMALS, PRICES)
def test_rounding_never_loosens_and_obeys_both_rules(szd, px):
    i = inst("X", szd)
    raw = Decimal(repr(px))
    bid = rules.round_price(i, px, BUY)
    ask = rules.round_price(i, px, SELL)
    bid_px, ask_px = rules.price_decimal(i, bid), rules.price_decimal(i, ask)
    assert bid_px <= raw <= ask_px
    assert ask > 0 and rules.is_valid_price(i, ask)
    assert bid == 0 or rules.is_valid_price(i, bid)
    # the tightest valid price: within one step of the input
    step = rules.price_step(i, raw)
    assert raw - bid_px < step and ask_px - raw < step
    # both rules, checked directly on the decimal text
    for ticks in (bid, ask):
        if ticks <= 0:
            continue
        p = rules.price_decimal(i, ticks).normalize()
        if p != p.to_integral_value():
            digits = len(p.as_tuple().digits)
            decimals = -p.as_tuple().exponent
            assert digits <= 5 and decimals <= 6 - szd
    # idempotent: a valid price rounds to itself both ways
    if bid > 0:
        assert rules.round_price(i, bid_px, BUY) == bid == rules.round_price(i, bid_px, SELL)


@settings(max_examples=200, deadline=None)
@given(SZ_DECIMALS, st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_round_size_never_exceeds(szd, sz):
    i = inst("X", szd)
    lots = rules.round_size(i, sz)
    raw = Decimal(repr(sz))
    assert rules.size_decimal(i, lots) <= raw < rules.size_decimal(i, lots + 1)


# ---------------------------------------------------------------- malformed messages


MALFORMED = [
    ("l2Book", lambda m: mapping.parse_l2_book(m, INSTS), {"channel": "l2Book"}),
    ("l2Book", lambda m: mapping.parse_l2_book(m, INSTS), {"channel": "l2Book", "data": {"coin": "BTC", "time": 1}}),
    ("l2Book", lambda m: mapping.parse_l2_book(m, INSTS), {"channel": "trades", "data": {}}),
    ("l2Book", lambda m: mapping.parse_l2_book(m, INSTS), {"coin": "BTC", "time": 1, "levels": [[]]}),
    ("l2Book", lambda m: mapping.parse_l2_book(m, INSTS), {"coin": "ZZZ", "time": 1, "levels": [[], []]}),
    ("l2Book", lambda m: mapping.parse_l2_book(m, INSTS),
     {"coin": "BTC", "time": 1, "levels": [[{"px": "60000.05", "sz": "1", "n": 1}], []]}),
    ("l2Book", lambda m: mapping.parse_l2_book(m, INSTS),
     {"coin": "BTC", "time": 1, "levels": [[{"px": "abc", "sz": "1", "n": 1}], []]}),
    ("l2Book", lambda m: mapping.parse_l2_book(m, INSTS), {"coin": "BTC", "time": "1", "levels": [[], []]}),
    ("l2Book", lambda m: mapping.parse_l2_book(m, INSTS), ["not", "a", "book"]),
    ("l2Book", lambda m: mapping.parse_l2_book(m, INSTS), None),
    ("trades", lambda m: mapping.parse_trades(m, INSTS), {"channel": "trades", "data": {"coin": "BTC"}}),
    ("trades", lambda m: mapping.parse_trades(m, INSTS),
     {"channel": "trades", "data": [{"coin": "BTC", "side": "X", "px": "1", "sz": "1", "time": 1}]}),
    ("trades", lambda m: mapping.parse_trades(m, INSTS),
     {"channel": "trades", "data": [{"coin": "BTC", "side": "B", "px": "1", "time": 1}]}),
    ("trades", lambda m: mapping.parse_trades(m, INSTS),
     {"channel": "trades", "data": [{"coin": "BTC", "side": "B", "px": "1", "sz": "1", "time": 1, "users": 5}]}),
    ("orderUpdates", mapping.parse_order_updates, {"channel": "orderUpdates", "data": [{"status": "open"}]}),
    ("orderUpdates", mapping.parse_order_updates,
     {"channel": "orderUpdates", "data": [{"order": {"coin": "BTC", "oid": 1}, "status": "weird", "statusTimestamp": 1}]}),
    ("orderUpdates", mapping.parse_order_updates,
     {"channel": "orderUpdates", "data": [{"order": {"coin": "BTC", "oid": "1"}, "status": "open", "statusTimestamp": 1}]}),
    ("orderUpdates", mapping.parse_order_updates, {"channel": "orderUpdates", "data": "x"}),
    ("userFills", lambda m: mapping.parse_user_fills(m, INSTS), {"channel": "userFills", "data": []}),
    ("userFills", lambda m: mapping.parse_user_fills(m, INSTS), {"channel": "userFills", "data": {"fills": [{}]}}),
    ("userFills", lambda m: mapping.parse_user_fills(m, INSTS),
     [{"coin": "BTC", "px": "1", "sz": "1", "side": "B", "time": 1, "oid": 1, "crossed": "yes", "fee": "0"}]),
    ("userFills", lambda m: mapping.parse_user_fills(m, INSTS),
     [{"coin": "BTC", "px": "1", "sz": "1", "side": "B", "time": 1, "oid": 1, "crossed": True, "fee": None}]),
    ("userFills", lambda m: mapping.parse_user_fills(m, INSTS), 17),
    ("clearinghouseState", mapping.parse_positions, {}),
    ("clearinghouseState", mapping.parse_positions, {"assetPositions": [{"position": {"coin": "BTC"}}]}),
    ("clearinghouseState", mapping.parse_positions, {"assetPositions": [{"position": {"coin": "BTC", "szi": "x"}}]}),
    ("clearinghouseState", mapping.parse_margin_summary, {"marginSummary": {"accountValue": "1"}}),
    ("openOrders", mapping.parse_open_orders, {"coin": "BTC"}),
    ("openOrders", mapping.parse_open_orders, [{"coin": "BTC", "limitPx": "1", "oid": 1, "side": "B", "timestamp": 1}]),
    ("openOrders", mapping.parse_open_orders,
     [{"coin": "BTC", "limitPx": "1", "oid": 1, "side": "B", "sz": "1", "timestamp": 1, "cloid": 5}]),
    ("userRateLimit", mapping.parse_user_rate_limit, {"cumVlm": "1", "nRequestsUsed": 1}),
    ("userRateLimit", mapping.parse_user_rate_limit, {"cumVlm": "1", "nRequestsUsed": "1", "nRequestsCap": 1}),
    ("userRateLimit", mapping.parse_user_rate_limit, []),
    ("meta", mapping.parse_meta, {"universe": [{"name": "BTC"}]}),
    ("meta", mapping.parse_meta, {"universe": [{"name": "BTC", "szDecimals": "5"}]}),
    ("meta", mapping.parse_meta, {"universe": [{"name": "BTC", "szDecimals": -1}]}),
    ("meta", mapping.parse_meta, {}),
    ("order", lambda m: mapping.parse_order_statuses(m, 1), {"status": "ok", "response": {"type": "order"}}),
    ("order", lambda m: mapping.parse_order_statuses(m, 2),
     {"status": "ok", "response": {"type": "order", "data": {"statuses": [{"resting": {"oid": 1}}]}}}),
    ("order", lambda m: mapping.parse_order_statuses(m, 1),
     {"status": "ok", "response": {"type": "order", "data": {"statuses": [{"waiting": {}}]}}}),
    ("order", lambda m: mapping.parse_order_statuses(m, 1),
     {"status": "ok", "response": {"type": "cancel", "data": {"statuses": ["success"]}}}),
    ("order", lambda m: mapping.parse_order_statuses(m, 1),
     {"status": "ok", "response": {"type": "order", "data": {"statuses": [{"filled": {"oid": 1}}]}}}),
    ("order", lambda m: mapping.order_response_to_acks(m, [_place()], 1), "garbage"),
    ("cancel", lambda m: mapping.parse_cancel_statuses(m, 1),
     {"status": "ok", "response": {"type": "cancel", "data": {"statuses": ["maybe"]}}}),
    ("cancel", lambda m: mapping.parse_cancel_statuses(m, 1), {"response": {}}),
    ("cancel", lambda m: mapping.cancel_response_to_events(m, [Cancel("b", "BTC", C1)], 1), []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mtype", "fn", "msg"), MALFORMED, ids=[f"{m[0]}-{i}" for i, m in enumerate(MALFORMED)]
)
def test_malformed_raises_wire_error_naming_the_type(mtype, fn, msg):
    with pytest.raises(WireError) as info:
        fn(msg)
    assert info.value.message_type == mtype
    assert str(info.value).startswith(f"{mtype}: ")
    assert info.value.detail


PARSERS = [
    ("l2Book", lambda m: mapping.parse_l2_book(m, INSTS)),
    ("trades", lambda m: mapping.parse_trades(m, INSTS)),
    ("orderUpdates", mapping.parse_order_updates),
    ("userFills", lambda m: mapping.parse_user_fills(m, INSTS)),
    ("clearinghouseState", mapping.parse_positions),
    ("clearinghouseState", mapping.parse_margin_summary),
    ("openOrders", mapping.parse_open_orders),
    ("userRateLimit", mapping.parse_user_rate_limit),
    ("meta", mapping.parse_meta),
    ("order", lambda m: mapping.parse_order_statuses(m, 1)),
    ("cancel", lambda m: mapping.parse_cancel_statuses(m, 1)),
]

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
    | st.sampled_from(["BTC", "B", "A", "1.5", "ok", "order", "cancel", "l2Book", "success"]),
    lambda kids: st.lists(kids, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            ["channel", "data", "coin", "time", "levels", "px", "sz", "side", "oid", "order", "status", "statusTimestamp",
             "fills", "crossed", "fee", "assetPositions", "position", "szi", "universe", "name", "szDecimals",
             "response", "type", "statuses", "resting", "filled", "error", "limitPx", "timestamp", "cumVlm",
             "nRequestsUsed", "nRequestsCap", "marginSummary", "withdrawable", "accountValue"]
        ),
        kids,
        max_size=6,
    ),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PARSERS), JSONISH)
def test_fuzz_parsers_raise_only_wire_error(parser, msg):
    mtype, fn = parser
    try:
        fn(msg)
    except WireError as e:
        assert e.message_type == mtype


def test_fixture_json_is_unchanged_by_parsing():
    msg = fx("ws_l2Book")["msg"]
    before = json.dumps(msg, sort_keys=True)
    mapping.parse_l2_book(msg, INSTS)
    assert json.dumps(msg, sort_keys=True) == before


def test_parse_order_status():
    entry = {"order": {"coin": "BTC", "side": "B", "limitPx": "60000.0", "sz": "0.0", "oid": 7, "timestamp": 1,
                       "origSz": "0.01", "cloid": "0x" + "ab" * 16}, "status": "filled", "statusTimestamp": 2}
    assert mapping.parse_order_status({"status": "order", "order": entry}) == (OrderStatus.FILLED, "filled")
    entry["status"] = "marginCanceled"
    assert mapping.parse_order_status({"status": "order", "order": entry}) == (OrderStatus.CANCELLED,
                                                                              "marginCanceled")
    assert mapping.parse_order_status({"status": "unknownOid"}) is None
    with pytest.raises(mapping.WireError, match="orderStatus"):
        mapping.parse_order_status({"status": "order", "order": {"status": "weird"}})
    with pytest.raises(mapping.WireError, match="orderStatus"):
        mapping.parse_order_status({"status": "order"})
