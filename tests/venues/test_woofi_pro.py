"""WOOFi Pro (Orderly): signing vectors byte for byte, every fixture parsed, sequencer, wire formatting."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import VerifyKey

from mm_bot.core.types import (
    BUY,
    SELL,
    BookUpdate,
    Cancel,
    FeedProblem,
    Fill,
    Instrument,
    OrderAck,
    OrderStatus,
    Place,
    Tif,
    TradePrint,
)
from mm_bot.venues.woofi_pro import auth, mapping
from mm_bot.venues.woofi_pro.mapping import OrderlyBookSequencer, WireError

from ._shared_dirs import FIXTURES, VECTORS, fixture_files, load_json

WOO = Instrument("WOO", tick_size=0.00001, lot_size=0.01)
NEAR = Instrument("NEAR", tick_size=0.01, lot_size=0.00000001)
MATIC = Instrument("MATIC", tick_size=0.0001, lot_size=1.0)
BTC = Instrument("BTC", tick_size=0.1, lot_size=0.00001, min_notional_usd=10.0)
INSTRUMENTS = {i.coin: i for i in (WOO, NEAR, MATIC, BTC)}


def _vectors() -> dict:
    return load_json(VECTORS / "vectors_orderly.json")


def _fixture(name: str) -> dict:
    return load_json(FIXTURES / "orderly" / name)


# ---------------------------------------------------------------- signing vectors


def test_base58_codec() -> None:
    assert auth.b58encode(b"") == ""
    assert auth.b58encode(b"\0\0\x01") == "112"
    assert auth.b58decode("112") == b"\0\0\x01"
    blob = bytes(range(256))
    assert auth.b58decode(auth.b58encode(blob)) == blob
    with pytest.raises(ValueError):
        auth.b58decode("0OIl")


def test_key_formats_match_vectors() -> None:
    meta = _vectors()["meta"]
    seed = bytes.fromhex(meta["ed25519_seed_hex"])
    assert auth.KEY_PREFIX + auth.b58encode(seed) == meta["orderly_secret"]
    assert auth.seed_from_secret(meta["orderly_secret"]) == seed
    signer = auth.OrderlySigner(meta["orderly_account_id"], meta["orderly_secret"])
    assert signer.public_key.hex() == meta["public_key_hex"]
    assert signer.orderly_key == meta["orderly_key"]
    # the same key from raw seed bytes, and from a 64-byte seed+pubkey encoding
    assert auth.OrderlySigner("a", seed).orderly_key == meta["orderly_key"]
    assert (
        auth.OrderlySigner("a", auth.b58encode(seed + signer.public_key)).orderly_key == meta["orderly_key"]
    )
    with pytest.raises(ValueError):
        auth.seed_from_secret("ed25519:" + auth.b58encode(b"\x01" * 16))


def test_every_rest_vector_byte_for_byte() -> None:
    data = _vectors()
    meta = data["meta"]
    ts = meta["timestamp_ms"]
    signer = auth.OrderlySigner(meta["orderly_account_id"], meta["orderly_secret"])
    verify = VerifyKey(signer.public_key)
    assert len(data["vectors"]) >= 11
    for v in data["vectors"]:
        name, method, pq, body = v["name"], v["http_method"], v["path_with_query"], v["body"]
        url = urlsplit(v["url"])
        assert pq == url.path + (f"?{url.query}" if url.query else ""), name
        msg = auth.signing_message(ts, method, pq, body)
        assert msg == v["message_to_sign"], name
        sig = signer.sign_bytes(msg)
        assert sig.hex() == v["signature_hex"], name
        assert signer.sign(msg, urlsafe=False) == v["signature_base64_std"], name
        assert signer.sign(msg) == v["signature_base64url"], name
        verify.verify(msg.encode(), base64.urlsafe_b64decode(v["signature_base64url"]))
        # the exact header set the official connector sent (it uses std base64)
        assert signer.headers(ts, method, pq, body, urlsafe=False) == v["headers_sent_by_connector"], name
        hdr = signer.headers(ts, method, pq, body)
        assert hdr["orderly-signature"] == v["signature_base64url"], name
        compact = v.get("compact_body_variant")
        if compact:
            assert json.dumps(json.loads(body), separators=(",", ":")) == compact["body"], name
            assert auth.signing_message(ts, method, pq, compact["body"]) == compact["message_to_sign"], name
            assert signer.sign(compact["message_to_sign"]) == compact["signature_base64url"], name


def test_request_builder_reproduces_vectors() -> None:
    data = _vectors()
    meta = data["meta"]
    ts = meta["timestamp_ms"]
    signer = auth.OrderlySigner(meta["orderly_account_id"], meta["orderly_secret"])
    by_name = {v["name"]: v for v in data["vectors"]}
    v = by_name["post_order_post_only"]
    pq, body, hdr = signer.request(ts, "POST", "/v1/order", body=v["connector_call"]["kwargs"], urlsafe=False)
    assert (pq, body, hdr) == ("/v1/order", v["body"], v["headers_sent_by_connector"])
    pq, body, hdr = signer.request(ts, "POST", "/v1/order", body=v["connector_call"]["kwargs"], compact=True)
    assert body == v["compact_body_variant"]["body"]
    assert hdr["orderly-signature"] == v["compact_body_variant"]["signature_base64url"]
    v = by_name["get_orders_incomplete"]
    pq, body, hdr = signer.request(
        ts, "GET", "/v1/orders", params=v["connector_call"]["kwargs"], urlsafe=False
    )
    assert (pq, body, hdr) == (v["path_with_query"], "", v["headers_sent_by_connector"])
    v = by_name["delete_batch_order"]
    pq, _, hdr = signer.request(ts, "DELETE", "/v1/batch-order", params=[("order_ids", "1,2")])
    assert pq == v["path_with_query"] and hdr["orderly-signature"] == v["signature_base64url"]
    with pytest.raises(ValueError):
        signer.request(ts, "GET", "/v1/orders", body={"a": 1})
    with pytest.raises(ValueError):
        auth.query_string([("symbol", "A&B")])


def test_ws_auth_vector() -> None:
    data = _vectors()
    meta, ws = data["meta"], data["ws"]
    signer = auth.OrderlySigner(meta["orderly_account_id"], meta["orderly_secret"])
    ts = meta["timestamp_ms"]
    assert str(ts) == ws["message_to_sign"]
    assert signer.sign(ws["message_to_sign"], urlsafe=False) == ws["signature_base64_std"]
    assert signer.sign(ws["message_to_sign"]) == ws["signature_base64url"]
    frame = signer.ws_auth_frame("id-1", ts, urlsafe=False)
    expected = dict(ws["auth_frame_as_connector_sends"], id="id-1")
    assert frame == expected
    assert signer.ws_auth_params(ts)["sign"] == ws["signature_base64url"]
    # the documented frame has the same shape
    doc = _fixture("ws_auth.json")["msg"]
    assert set(frame) == set(doc) and set(frame["params"]) == set(doc["params"])


# ---------------------------------------------------------------- fixtures


def test_all_fixture_files_are_covered() -> None:
    files = {p.name for p in fixture_files("orderly")}
    if not files:
        pytest.skip(f"shared fixtures not found under {FIXTURES / 'orderly'}")
    covered = {
        "rest_error.json",
        "ws_auth.json",
        "ws_bbo.json",
        "ws_error.json",
        "ws_executionreport.json",
        "ws_orderbook.json",
        "ws_orderbookupdate.json",
        "ws_ping.json",
        "ws_request_orderbook.json",
        "ws_trade.json",
    }
    assert files == covered, f"new fixture files need a test: {sorted(files - covered)}"


def test_fixture_orderbook_snapshot() -> None:
    msg = _fixture("ws_orderbook.json")["msg"]
    assert mapping.ws_topic(msg) == ("PERP_WOO_USDC", "orderbook")
    book, ts = mapping.parse_orderbook(msg, WOO)
    assert ts == 1614152140945
    assert book == BookUpdate(
        "WOO", 1614152140945, bids=((30891, 246998), (30890, 48250)), asks=((31075, 237963), (31076, 481876)),
        snapshot=True,
    )  # fmt: skip
    assert mapping.parse_orderbook(msg, WOO, recv_ms=5)[0].ts_ms == 5


def test_fixture_orderbookupdate() -> None:
    msg = _fixture("ws_orderbookupdate.json")["msg"]
    assert mapping.ws_topic(msg) == ("PERP_NEAR_USDC", "orderbookupdate")
    book, ts, prev = mapping.parse_orderbook_update(msg, NEAR)
    assert (ts, prev) == (1618826337580, 1618826337380)
    assert book.snapshot is False
    assert book.asks == ((1515, 392864000), (1580, 0))
    assert book.bids == ((1420, 103895025), (1360, 108070000))


def test_fixture_request_orderbook_then_update_chain() -> None:
    fx = _fixture("ws_request_orderbook.json")
    assert fx["msg"] == mapping.request_orderbook_frame("clientID1", "NEAR")
    reply = fx["reply"]
    assert mapping.ws_topic(reply) == ("PERP_NEAR_USDC", "request:orderbook")
    ctl = mapping.parse_ws_control(reply)
    assert (ctl.event, ctl.success, ctl.ts_ms) == ("request", True, 1618880432419)
    book, ts = mapping.parse_orderbook(reply, NEAR)
    assert ts == 1618880432380  # the book's own ts inside data
    assert book.bids == ((1499, 288746600), (1476, 203471100))
    assert book.asks == ((1500, 44395100), (1502, 256600))
    seq = OrderlyBookSequencer(NEAR)
    assert seq.on_message(reply) == [book]
    assert seq.book_ts == ts and not seq.needs_resync


def test_fixture_trade() -> None:
    msg = _fixture("ws_trade.json")["msg"]
    assert mapping.parse_trade(msg, WOO) == TradePrint(
        "WOO", 1618820361552, px=37988, sz=30000, aggressor=BUY
    )


def test_fixture_bbo() -> None:
    msg = _fixture("ws_bbo.json")["msg"]
    bbo = mapping.parse_bbo(msg, WOO)
    assert bbo == mapping.Bbo("WOO", 1614152296945, bid_px=30776, bid_sz=2524614, ask_px=30939, ask_sz=450853)


def test_fixture_executionreport_new() -> None:
    msg = _fixture("ws_executionreport.json")["msg"]
    assert mapping.ws_topic(msg) == ("", "executionreport")
    events = mapping.parse_execution_report(msg, INSTRUMENTS, bot_id="b1")
    assert events == [
        OrderAck("b1", "MATIC", "", OrderStatus.OPEN, 1704679472448, venue_oid="292820969", reason="")
    ]


def test_executionreport_fill_and_cancel() -> None:
    base = _fixture("ws_executionreport.json")["msg"]
    data = dict(
        base["data"], clientOrderId="mm-7", status="PARTIAL_FILLED", tradeId=998877, executedPrice=0.7699,
        executedQuantity=3000.0, totalExecutedQuantity=3000.0, fee=-0.23, maker=True,
    )  # fmt: skip
    fill = mapping.parse_execution_report(dict(base, data=data), INSTRUMENTS, bot_id=lambda c: f"bot-of-{c}")
    assert fill == [
        Fill(
            "bot-of-mm-7",
            "MATIC",
            "mm-7",
            "998877",
            BUY,
            7699,
            3000,
            True,
            -0.23,
            1704679472448,
            remaining=4029,
        )
    ]
    data = dict(data, status="CANCELLED", reason="user cancel")
    assert mapping.parse_execution_report(dict(base, data=data), INSTRUMENTS) == [
        OrderAck("", "MATIC", "mm-7", OrderStatus.CANCELLED, 1704679472448, "292820969", "user cancel")
    ]


def test_fixture_ws_ping_error_auth_and_rest_error() -> None:
    ping = _fixture("ws_ping.json")
    assert mapping.ws_topic(ping["msg"]) == ("", "event:ping")
    assert mapping.parse_ws_control(ping["msg"]) == mapping.WsControl("ping", True, "", "", 0)
    assert mapping.parse_ws_control(ping["reply"]).ts_ms == 1614667590000
    assert mapping.pong_frame() == {"event": "pong"}
    err = mapping.parse_ws_control(_fixture("ws_error.json")["msg"])
    assert err == mapping.WsControl(
        "subscribe", False, "clientID7", "invalid symbol PERP_BTC_USDC", 1614141150601
    )
    ok = mapping.parse_ws_control(_fixture("ws_auth.json")["reply"])
    assert ok == mapping.WsControl("auth", True, "123r", "", 1621910107315)
    place = Place("b1", "BTC", "mm-0001", BUY, 600005, 100)
    ack = mapping.parse_order_response(_fixture("rest_error.json")["msg"], place, 42)
    assert ack == OrderAck("b1", "BTC", "mm-0001", OrderStatus.REJECTED, 42,
                           reason="-1005: order_price must be a positive number")  # fmt: skip
    res = mapping.parse_rest(_fixture("rest_error.json")["msg"])
    assert (res.ok, res.code) == (False, -1005)


# ---------------------------------------------------------------- sequencer on hand-made messages


def _snap(ts: int, bids: list, asks: list) -> dict:
    return {
        "topic": "PERP_BTC_USDC@orderbook",
        "ts": ts,
        "data": {"symbol": "PERP_BTC_USDC", "bids": bids, "asks": asks},
    }


def _upd(ts: int, prev: int, bids: list, asks: list) -> dict:
    return {
        "topic": "PERP_BTC_USDC@orderbookupdate",
        "ts": ts,
        "data": {"symbol": "PERP_BTC_USDC", "prevTs": prev, "bids": bids, "asks": asks},
    }


def test_sequencer_chain_gap_and_resync() -> None:
    seq = OrderlyBookSequencer(BTC)
    # a delta before any snapshot is buffered and asks for a snapshot once
    early = seq.on_message(_upd(1200, 1000, [[100.0, 1.0]], []))
    assert len(early) == 1 and isinstance(early[0], FeedProblem) and early[0].coin == "BTC"
    assert seq.on_message(_upd(1400, 1200, [[100.1, 2.0]], [])) == []
    # snapshot at 1300 replays buffered deltas: 1200 is covered, 1400 straddles -> applied
    out = seq.on_message(_snap(1300, [[100.0, 1.5]], [[100.5, 1.0]]))
    assert [type(e) for e in out] == [BookUpdate, BookUpdate]
    assert out[0].snapshot and out[0].bids == ((1000, 150000),) and out[0].asks == ((1005, 100000),)
    assert not out[1].snapshot and out[1].bids == ((1001, 200000),)
    assert seq.book_ts == 1400 and not seq.needs_resync
    # chained delta applies
    (d,) = seq.on_message(_upd(1600, 1400, [], [[100.5, 0]]), recv_ms=99)
    assert d == BookUpdate("BTC", 99, (), ((1005, 0),), snapshot=False)
    # a duplicate/stale delta is ignored
    assert seq.on_message(_upd(1600, 1400, [], [])) == []
    # gap: prevTs 1800 != 1600 -> one FeedProblem, then quiet buffering
    (p,) = seq.on_message(_upd(2000, 1800, [[99.0, 1.0]], []))
    assert isinstance(p, FeedProblem) and "1800" in p.message and "1600" in p.message and not p.fatal
    assert seq.needs_resync
    assert seq.on_message(_upd(2200, 2000, [[98.0, 1.0]], [])) == []
    # a snapshot older than the gap does not bridge it -> still out of sync, problem reported again
    out = seq.on_message(_snap(1700, [[100.0, 1.0]], []))
    assert out[0].snapshot and isinstance(out[-1], FeedProblem) and seq.needs_resync
    # a fresh snapshot at 2000 resyncs and replays the 2200 delta
    out = seq.on_message(_snap(2000, [[99.0, 1.0]], [[101.0, 1.0]]))
    assert [e.snapshot for e in out] == [True, False] and out[1].bids == ((980, 100000),)
    assert seq.book_ts == 2200 and not seq.needs_resync
    # an older periodic snapshot while in sync is ignored; a newer one is taken
    assert seq.on_message(_snap(2100, [], [])) == []
    assert seq.on_message(_snap(2400, [[99.0, 1.0]], []))[0].snapshot
    seq.reset()
    assert seq.needs_resync and seq.book_ts is None


def test_sequencer_rejects_other_symbol() -> None:
    seq = OrderlyBookSequencer(WOO)
    with pytest.raises(WireError) as err:
        seq.on_message(_snap(1, [], []))
    assert err.value.message_type == "orderbook"


# ---------------------------------------------------------------- core -> wire


def test_place_to_wire_formatting() -> None:
    inst = Instrument("BTC", tick_size=0.01, lot_size=0.0001)
    place = Place("b1", "BTC", "mm-1", BUY, 1234567, 3, tif=Tif.ALO)
    body = mapping.place_to_order_body(place, inst)
    assert body == {
        "symbol": "PERP_BTC_USDC",
        "order_type": "POST_ONLY",
        "side": "BUY",
        "client_order_id": "mm-1",
        "order_price": "12345.67",
        "order_quantity": "0.0003",
    }
    sell = Place("b1", "BTC", "mm-2", SELL, 7, 123456789, tif=Tif.IOC, reduce_only=True)
    body = mapping.place_to_order_body(sell, inst)
    assert (body["order_type"], body["side"], body["order_price"], body["order_quantity"]) == (
        "IOC", "SELL", "0.07", "12345.6789",
    )  # fmt: skip
    assert body["reduce_only"] is True
    gtc = mapping.place_to_order_body(
        Place("b", "BTC", "c", BUY, 3, 1, tif=Tif.GTC), Instrument("BTC", 0.1, 1e-05)
    )
    assert (gtc["order_type"], gtc["order_price"], gtc["order_quantity"]) == ("LIMIT", "0.3", "0.00001")
    assert mapping.format_units(100, 10.0) == "1000"
    assert mapping.format_units(3, 0.1) == "0.3"


def test_place_reproduces_signed_vector_body() -> None:
    data = _vectors()
    meta = data["meta"]
    v = next(x for x in data["vectors"] if x["name"] == "post_order_post_only")
    inst = Instrument("BTC", tick_size=0.5, lot_size=0.001)
    place = Place("b1", "BTC", "mm-0001", BUY, 120001, 1, tif=Tif.ALO)
    body = mapping.place_to_order_body(place, inst, as_numbers=True)
    signer = auth.OrderlySigner(meta["orderly_account_id"], meta["orderly_secret"])
    pq, text, hdr = signer.request(meta["timestamp_ms"], "POST", "/v1/order", body=body, urlsafe=False)
    assert text == v["body"] and hdr == v["headers_sent_by_connector"]


def test_place_validation() -> None:
    inst = Instrument("BTC", 0.1, 0.001)
    for bad in (
        Place("b", "BTC", "x" * 37, BUY, 1, 1),
        Place("b", "BTC", "-x", BUY, 1, 1),
        Place("b", "BTC", "c", BUY, 0, 1),
        Place("b", "ETH", "c", BUY, 1, 1),
        Place("b", "BTC", "c", 0, 1, 1),
    ):
        with pytest.raises(ValueError):
            mapping.place_to_order_body(bad, inst)


def test_cancel_and_other_requests_match_vectors() -> None:
    by_name = {v["name"]: v for v in _vectors()["vectors"]}
    method, pq = mapping.cancel_request(Cancel("b1", "BTC", "mm-0001"))
    v = by_name["delete_order_by_client_order_id"]
    assert (method, pq) == (v["http_method"], v["path_with_query"])
    v = by_name["delete_all_orders_symbol"]
    assert mapping.cancel_all_request("BTC") == (v["http_method"], v["path_with_query"])
    v = by_name["get_orders_incomplete"]
    assert mapping.open_orders_request("BTC") == (v["http_method"], v["path_with_query"])


def test_symbols() -> None:
    assert mapping.coin_to_symbol("BTC") == "PERP_BTC_USDC"
    assert mapping.symbol_to_coin("PERP_1000PEPE_USDC") == "1000PEPE"
    for bad in ("BTC-USD", "PERP__USDC", "PERP_BTC_USDT", 5):
        with pytest.raises(WireError):
            mapping.symbol_to_coin(bad)


# ---------------------------------------------------------------- REST (hand-made per OR-DOC shapes)


def test_rest_open_orders_positions_symbol_info_and_ack() -> None:
    orders = {
        "success": True,
        "timestamp": 1700000000500,
        "data": {
            "meta": {"total": 2, "records_per_page": 25, "current_page": 1},
            "rows": [
                {"symbol": "PERP_BTC_USDC", "status": "PARTIAL_FILLED", "side": "SELL", "order_id": 13,
                 "price": 60000.5, "type": "POST_ONLY", "quantity": 0.002, "executed": 0.001,
                 "client_order_id": "mm-9", "created_time": 1700000000000, "updated_time": 1700000000100,
                 "reduce_only": False},
                {"symbol": "PERP_DOGE_USDC", "status": "NEW", "side": "BUY", "order_id": 14, "price": 0.1,
                 "type": "LIMIT", "quantity": 10, "executed": 0, "client_order_id": None,
                 "created_time": 1700000000000},
            ],
        },
    }  # fmt: skip
    assert mapping.parse_open_orders(orders, INSTRUMENTS) == [
        mapping.OpenOrder("BTC", "mm-9", "13", SELL, 600005, 200, 100, OrderStatus.PARTIAL, Tif.ALO, False,
                          1700000000100)
    ]  # fmt: skip
    positions = {
        "success": True,
        "timestamp": 1700000000600,
        "data": {"rows": [{"symbol": "PERP_BTC_USDC", "position_qty": -0.5, "average_open_price": 60100.2,
                           "mark_price": 60000.0, "unsettled_pnl": 50.1, "timestamp": 1700000000400}]},
    }  # fmt: skip
    assert mapping.parse_positions(positions) == [
        mapping.VenuePosition("BTC", -0.5, 60100.2, 60000.0, 50.1, 1700000000400)
    ]
    push = {"topic": "position", "ts": 7, "data": {"positions": [
        {"symbol": "PERP_ETH_USDC", "positionQty": 1.5, "averageOpenPrice": 3000.25, "markPrice": 3001.0,
         "unsettledPnl": 1.125}]}}  # fmt: skip
    assert mapping.parse_position_push(push) == [mapping.VenuePosition("ETH", 1.5, 3000.25, 3001.0, 1.125, 7)]
    info = {"success": True, "data": {"rows": [
        {"symbol": "PERP_BTC_USDC", "quote_min": 0, "quote_max": 100000, "quote_tick": 0.1, "base_min": 0.00001,
         "base_max": 20, "base_tick": 0.00001, "min_notional": 10, "price_range": 0.02}]}}  # fmt: skip
    assert mapping.parse_symbol_info(info) == {"BTC": Instrument("BTC", 0.1, 0.00001, min_notional_usd=10.0)}
    one = {"success": True, "data": info["data"]["rows"][0]}
    assert mapping.parse_symbol_info(one)["BTC"].tick_size == 0.1
    place = Place("b1", "BTC", "mm-0001", BUY, 600005, 100)
    ok = {"success": True, "timestamp": 1, "data": {"order_id": 123456, "client_order_id": "mm-0001",
                                                     "order_type": "POST_ONLY", "order_price": 60000.5,
                                                     "order_quantity": 0.001}}  # fmt: skip
    assert mapping.parse_order_response(ok, place, 9) == OrderAck(
        "b1", "BTC", "mm-0001", OrderStatus.OPEN, 9, venue_oid="123456"
    )


# ---------------------------------------------------------------- malformed -> WireError


@pytest.mark.parametrize(
    ("fn", "msg", "message_type"),
    [
        (lambda m: mapping.parse_trade(m, WOO), {"topic": "PERP_WOO_USDC@trade", "ts": 1, "data": {}}, "trade"),
        (lambda m: mapping.parse_trade(m, WOO), {"topic": "x", "ts": 1,
         "data": {"symbol": "PERP_WOO_USDC", "price": "abc", "size": 1, "side": "BUY"}}, "trade"),
        (lambda m: mapping.parse_trade(m, WOO), {"topic": "x", "ts": 1,
         "data": {"symbol": "PERP_WOO_USDC", "price": 1, "size": 1, "side": "UP"}}, "trade"),
        (lambda m: mapping.parse_bbo(m, WOO), {"ts": 1, "data": None}, "bbo"),
        (lambda m: mapping.parse_orderbook(m, WOO), {"ts": 1, "data": {"symbol": "PERP_WOO_USDC", "bids": 3}},
         "orderbook"),
        (lambda m: mapping.parse_orderbook(m, WOO), {"ts": 1, "data": {"bids": [[1.0]], "asks": []}}, "orderbook"),
        (lambda m: mapping.parse_orderbook_update(m, WOO), {"ts": 1, "data": {"symbol": "PERP_WOO_USDC"}},
         "orderbookupdate"),
        (lambda m: OrderlyBookSequencer(WOO).on_message(m),
         {"topic": "PERP_WOO_USDC@orderbookupdate", "ts": "x", "data": {}}, "orderbookupdate"),
        (lambda m: mapping.parse_execution_report(m, INSTRUMENTS), {"data": {"symbol": "PERP_BTC_USDC"}},
         "executionreport"),
        (lambda m: mapping.parse_execution_report(m, INSTRUMENTS), {"data": {"symbol": "PERP_XYZ_USDC"}},
         "executionreport"),
        (lambda m: mapping.parse_execution_report(m, INSTRUMENTS), {"data": {
            "symbol": "PERP_BTC_USDC", "status": "WEIRD", "orderId": 1}}, "executionreport"),
        (lambda m: mapping.parse_position_push(m), {"data": {"positions": [{"symbol": "PERP_BTC_USDC"}]}},
         "position"),
        (lambda m: mapping.parse_positions(m), {"success": True, "data": {"rows": [{"x": 1}]}}, "positions"),
        (lambda m: mapping.parse_positions(m), {"success": False, "code": -1003, "message": "slow"}, "positions"),
        (lambda m: mapping.parse_open_orders(m, INSTRUMENTS), {"success": "yes"}, "orders"),
        (lambda m: mapping.parse_symbol_info(m), {"success": True, "data": {"rows": [{"symbol": "PERP_BTC_USDC"}]}},
         "symbol_info"),
        (lambda m: mapping.parse_ws_control(m), {"id": 1}, "ws_event"),
        (lambda m: mapping.ws_topic(m), [], "ws"),
        (lambda m: mapping.parse_order_response(m, Place("b", "BTC", "c", BUY, 1, 1), 0),
         {"success": True, "data": {}}, "order_response"),
    ],
)  # fmt: skip
def test_malformed_messages_raise_wire_error(fn, msg, message_type) -> None:
    with pytest.raises(WireError) as err:
        fn(msg)
    assert err.value.message_type == message_type
    assert str(err.value).startswith(message_type)
    assert not isinstance(err.value, KeyError)


# ---------------------------------------------------------------- properties


@given(st.binary(max_size=80))
def test_base58_roundtrip(blob: bytes) -> None:
    assert auth.b58decode(auth.b58encode(blob)) == blob


@given(
    st.integers(min_value=0, max_value=10**12),
    st.sampled_from([1e-08, 1e-05, 0.0001, 0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 10.0]),
)
def test_format_units_is_exact_and_roundtrips(n: int, step: float) -> None:
    text = mapping.format_units(n, step)
    assert "e" not in text.lower()
    assert Decimal(text) == Decimal(repr(step)) * n
    assert mapping.to_units(text, step) == n
    assert mapping.to_units(float(text), step) == n
