"""StandX: body-signature vectors byte for byte, every fixture parsed, order tracking, wire formatting."""

from __future__ import annotations

import base64
import json

import pytest
from nacl.signing import VerifyKey

from mm_bot.core.types import (
    BUY,
    SELL,
    BookUpdate,
    Cancel,
    Fill,
    Instrument,
    OrderAck,
    OrderStatus,
    Place,
    Tif,
)
from mm_bot.venues.standx import auth, mapping
from mm_bot.venues.standx.mapping import StandxOrderTracker, WireError
from mm_bot.venues.woofi_pro.mapping import WireError as OrderlyWireError

from ._shared_dirs import FIXTURES, VECTORS, fixture_files, load_json

BTC = Instrument("BTC", tick_size=0.01, lot_size=0.001)
INSTRUMENTS = {"BTC": BTC}


def _vectors() -> dict:
    return load_json(VECTORS / "vectors_standx.json")


def _fixture(name: str) -> dict:
    return load_json(FIXTURES / "standx" / name)


def _signer(token: str = "jwt.token.here") -> auth.StandxSigner:
    return auth.StandxSigner(_vectors()["meta"]["ed25519_seed_hex"], token)


# ---------------------------------------------------------------- signing vectors


def test_key_formats() -> None:
    meta = _vectors()["meta"]
    seed = bytes.fromhex(meta["ed25519_seed_hex"])
    signer = _signer()
    assert signer.public_key.hex() == meta["public_key_hex"]
    assert signer.request_id_key == meta["public_key_base58 (the 'requestId' used at prepare-signin)"]
    assert auth.StandxSigner(seed).public_key == signer.public_key
    assert auth.StandxSigner(auth.b58encode(seed)).public_key == signer.public_key
    with pytest.raises(ValueError):
        auth.StandxSigner(b"\x01" * 31)


def test_every_vector_byte_for_byte() -> None:
    data = _vectors()
    meta = data["meta"]
    rid, ts = meta["x-request-id"], meta["x-request-timestamp"]
    signer = _signer("<JWT>")
    verify = VerifyKey(signer.public_key)
    assert len(data["vectors"]) >= 5
    for v in data["vectors"]:
        name, body = v["name"], v["body"]
        msg = auth.signing_message(rid, ts, body)
        assert msg == v["message_to_sign"], name
        sig = signer.sign(rid, ts, body)
        assert sig == v["signature_base64"], name
        assert base64.b64decode(sig).hex() == v["signature_hex"], name
        verify.verify(msg.encode(), base64.b64decode(sig))
        text, headers = signer.signed_request(json.loads(body), ts, request_id=rid, session_id="sess-1")
        expected = dict(v["headers"], **{"x-session-id": "sess-1", "Content-Type": "application/json"})
        x_headers = signer.body_headers(body, ts, rid)
        assert x_headers == {k: v["headers"][k] for k in x_headers}, name
        if name == "docs_example_spaced_json":
            assert text != body  # we always send compact JSON; the spaced text signs differently
            continue
        assert text == body, name
        assert headers == expected, name


def test_body_headers_defaults_and_missing_token() -> None:
    signer = _signer()
    h = signer.body_headers('{"a":1}', 5)
    assert h["x-request-sign-version"] == "v1" and len(h["x-request-id"]) == 36
    assert h["x-request-signature"] == signer.sign(h["x-request-id"], 5, '{"a":1}')
    with pytest.raises(ValueError):
        auth.StandxSigner(b"\x02" * 32).bearer_headers()


def test_new_order_from_place_reproduces_signed_vector() -> None:
    data = _vectors()
    meta = data["meta"]
    v = next(x for x in data["vectors"] if x["name"] == "new_order_alo")
    place = Place("b1", "BTC", "mm-0001", BUY, 6000000, 1, tif=Tif.ALO)
    body = mapping.place_to_new_order(place, BTC)
    text, headers = _signer().signed_request(
        body, meta["x-request-timestamp"], request_id=meta["x-request-id"]
    )
    assert text == v["body"]
    assert headers["x-request-signature"] == v["signature_base64"]


def test_cancel_bodies_reproduce_vectors() -> None:
    data = _vectors()
    by_name = {v["name"]: v for v in data["vectors"]}
    body = mapping.cancel_order_body(Cancel("b1", "BTC", "mm-0001"))
    assert auth.dumps_body(body) == by_name["cancel_order_by_cl_ord_id"]["body"]
    assert auth.dumps_body(mapping.cancel_orders_body(["a", "b"])) == '{"cl_ord_id_list":["a","b"]}'
    with pytest.raises(ValueError):
        mapping.cancel_order_body(Cancel("b1", "BTC", ""))


# ---------------------------------------------------------------- fixtures


def test_all_fixture_files_are_covered() -> None:
    files = {p.name for p in fixture_files("standx")}
    if not files:
        pytest.skip(f"shared fixtures not found under {FIXTURES / 'standx'}")
    covered = {
        "http_new_order.json",
        "ws_api_login.json",
        "ws_api_order_reject.json",
        "ws_auth.json",
        "ws_order.json",
        "ws_subscribe_depth_book.json",
    }
    assert files == covered, f"new fixture files need a test: {sorted(files - covered)}"


def test_fixture_http_new_order() -> None:
    fx = _fixture("http_new_order.json")
    inst = Instrument("BTC", tick_size=1.0, lot_size=0.1)
    place = Place("b1", "BTC", "", BUY, 50000, 1, tif=Tif.GTC)
    assert mapping.place_to_new_order(place, inst) == fx["msg"]
    res = mapping.parse_api_result(fx["reply"], "new_order")
    assert res == mapping.ApiResult(True, 0, "success", "xxx-xxx-xxx")
    assert mapping.result_to_ack(res, place, 1) is None


def test_fixture_ws_api_login() -> None:
    fx = _fixture("ws_api_login.json")
    frame = auth.StandxSigner(b"\x03" * 32, "your.jwt.token").ws_api_login_frame(
        "consistent-session-id", "unique-request-id"
    )
    assert frame == fx["msg"]


def test_fixture_ws_api_order_reject() -> None:
    res = mapping.parse_api_result(_fixture("ws_api_order_reject.json")["msg"], "order:new")
    assert res == mapping.ApiResult(False, 400, "alo order rejected", "1187e114-1914-4111-8da1-2aaaa86bb1b9")
    place = Place("b1", "BTC", "mm-5", SELL, 6000000, 2)
    assert mapping.result_to_ack(res, place, 77) == OrderAck(
        "b1", "BTC", "mm-5", OrderStatus.REJECTED, 77, reason="alo order rejected"
    )
    assert mapping.result_to_ack(res, Cancel("b1", "BTC", "mm-5"), 77) is None


def test_ws_api_order_frame_signs_params_string() -> None:
    meta = _vectors()["meta"]
    v = next(x for x in _vectors()["vectors"] if x["name"] == "cancel_order_by_id")
    frame = _signer().ws_api_frame("s", meta["x-request-id"], "order:cancel", {"order_id": 2424844},
                                   meta["x-request-timestamp"])  # fmt: skip
    assert frame["params"] == v["body"]
    assert frame["header"] == {
        k: v["headers"][k] for k in ("x-request-id", "x-request-timestamp", "x-request-signature")
    }


def test_fixture_ws_auth() -> None:
    fx = _fixture("ws_auth.json")
    assert auth.StandxSigner(b"\x03" * 32, "<your_jwt_token>").stream_auth_frame(["order"]) == fx["msg"]
    assert mapping.parse_stream_auth(fx["reply"]) == mapping.StreamAuth(True, 200, "success", 1)


def test_fixture_ws_order_filled() -> None:
    fx = _fixture("ws_order.json")
    assert mapping.subscribe_frame("order") == fx["msg"]
    upd = mapping.parse_ws_order(fx["reply"], INSTRUMENTS)
    assert upd == mapping.OrderUpdate(
        coin="BTC", cloid="01K2C9H93Y42RW8KD6RSVWVDVV", venue_oid="2547027", side=BUY, px=12124520, sz=1000,
        filled=1000, fill_avg_px=121245.21, status=OrderStatus.FILLED, tif=Tif.IOC, order_type="market",
        reduce_only=False, ts_ms=mapping.iso_to_ms("2025-08-11T10:06:37.182Z"),
    )  # fmt: skip
    assert upd.ts_ms == 1754906797182
    tracker = StandxOrderTracker(INSTRUMENTS, bot_id="b1", maker_fee=0.0001, taker_fee=0.0004)
    (fill,) = tracker.on_order(upd)
    assert fill == Fill(
        "b1", "BTC", "01K2C9H93Y42RW8KD6RSVWVDVV", "2547027-1000", BUY, 12124521, 1000, False,
        pytest.approx(0.0004 * 121245.21), upd.ts_ms, remaining=0,
    )  # fmt: skip
    assert (
        tracker.on_order(upd)[0].fill_id == fill.fill_id
    )  # terminal -> forgotten; a replay gives the same id


def test_tracker_resting_alo_partial_fills_and_cancel() -> None:
    base = _fixture("ws_order.json")["reply"]["data"]

    def push(**kw: object) -> mapping.OrderUpdate:
        row = dict(base, order_type="limit", time_in_force="alo", side="sell", id=9, cl_ord_id="mm-9",
                   price="60000.00", qty="0.003", fill_qty="0", fill_avg_price="0")  # fmt: skip
        row.update(kw)
        return mapping.parse_order(row, INSTRUMENTS)

    tracker = StandxOrderTracker(INSTRUMENTS, bot_id=lambda c: "bot-" + c)
    assert tracker.on_order(push(status="new")) == [
        OrderAck("bot-mm-9", "BTC", "mm-9", OrderStatus.OPEN, push(status="new").ts_ms, "9")
    ]
    (f1,) = tracker.on_order(push(status="open", fill_qty="0.001", fill_avg_price="60000.00"))
    assert (f1.px, f1.sz, f1.maker, f1.remaining, f1.side) == (6000000, 1, True, 2, SELL)
    assert f1.fee_usd == pytest.approx(60000 * 0.001 * 0.0001)
    (f2,) = tracker.on_order(push(status="open", fill_qty="0.002", fill_avg_price="60000.50"))
    assert (f2.px, f2.sz, f2.fill_id) == (6000100, 1, "9-2")
    (ack,) = tracker.on_order(push(status="canceled", fill_qty="0.002", fill_avg_price="60000.50"))
    assert ack.status == OrderStatus.CANCELLED and ack.cloid == "mm-9"


def test_fixture_depth_book() -> None:
    fx = _fixture("ws_subscribe_depth_book.json")
    assert mapping.subscribe_frame("depth_book", "BTC") == fx["msg"]
    book = mapping.parse_depth_book(fx["reply"], BTC, recv_ms=123)
    assert book == BookUpdate(
        "BTC",
        123,
        bids=((12188452, 1), (12188422, 1)),
        asks=((12189602, 839), (12189632, 1051)),
        snapshot=True,
    )


# ---------------------------------------------------------------- REST (hand-made per SX-DOC examples)


def test_rest_open_orders_positions_symbol_info() -> None:
    row = {
        "avail_locked": "3.071880000", "cl_ord_id": "01K2BK4ZKQE0C308SRD39P8N9Z", "closed_block": -1,
        "created_at": "2025-08-11T03:35:25.559151Z", "created_block": -1, "fill_avg_price": "0", "fill_qty": "0",
        "id": 1820682, "leverage": "10", "liq_id": 0, "margin": "0", "order_type": "limit", "payload": None,
        "position_id": 15, "price": "121900.00", "qty": "0.060", "reduce_only": False, "remark": "",
        "side": "sell", "source": "user", "status": "new", "symbol": "BTC-USD", "time_in_force": "gtc",
        "updated_at": "2025-08-11T03:35:25.559151Z", "user": "bsc_0x...",
    }  # fmt: skip
    other = dict(row, symbol="ETH-USD")
    resp = {"page_size": 2, "result": [row, other], "total": 2}
    assert mapping.parse_open_orders(resp, INSTRUMENTS) == [
        mapping.OpenOrder("BTC", "01K2BK4ZKQE0C308SRD39P8N9Z", "1820682", SELL, 12190000, 60, 0, OrderStatus.OPEN,
                          Tif.GTC, False, 1754883325559)
    ]  # fmt: skip
    positions = [{"entry_price": "121737.96", "mark_price": "121715.05", "qty": "0.940", "symbol": "BTC-USD",
                  "time": "2025-08-11T03:41:40.922818Z", "upnl": "-21.53540", "status": "open"}]  # fmt: skip
    assert mapping.parse_positions(positions) == [
        mapping.VenuePosition("BTC", 0.94, 121737.96, 121715.05, -21.5354, 1754883700922)
    ]
    push = {"seq": 36, "channel": "position", "data": {"entry_price": "121677.65", "qty": "23.669",
            "symbol": "BTC-USD", "updated_at": "2025-08-10T09:05:50.265265Z"}}  # fmt: skip
    assert mapping.parse_position_push(push) == mapping.VenuePosition("BTC", 23.669, 121677.65, 0.0, 0.0,
                                                                      1754816750265)  # fmt: skip
    info = [{"base_asset": "BTC", "maker_fee": "0.0001", "min_order_qty": "0.001", "price_tick_decimals": 2,
             "qty_tick_decimals": 3, "symbol": "BTC-USD", "taker_fee": "0.0004"}]  # fmt: skip
    assert mapping.parse_symbol_info(info) == {"BTC": Instrument("BTC", 0.01, 0.001)}
    assert mapping.symbol_fees(info[0]) == (0.0001, 0.0004)
    zero = dict(info[0], price_tick_decimals=0)
    assert mapping.instrument_from_symbol_info(zero).tick_size == 1.0


def test_place_formatting_and_symbols() -> None:
    inst = Instrument("ETH", tick_size=0.01, lot_size=0.0001)
    body = mapping.place_to_new_order(Place("b", "ETH", "c1", SELL, 1234567, 25, tif=Tif.IOC, reduce_only=True),
                                      inst)  # fmt: skip
    assert body == {"symbol": "ETH-USD", "side": "sell", "order_type": "limit", "qty": "0.0025",
                    "price": "12345.67", "time_in_force": "ioc", "reduce_only": True, "cl_ord_id": "c1"}  # fmt: skip
    with pytest.raises(ValueError):
        mapping.place_to_new_order(Place("b", "BTC", "c", BUY, 1, 1), inst)
    assert mapping.coin_to_symbol("btc") == "BTC-USD" and mapping.symbol_to_coin("ETH-USD") == "ETH"
    for bad in ("PERP_BTC_USDC", "-USD", None):
        with pytest.raises(WireError):
            mapping.symbol_to_coin(bad)


# ---------------------------------------------------------------- malformed -> WireError


@pytest.mark.parametrize(
    ("fn", "msg", "message_type"),
    [
        (lambda m: mapping.parse_depth_book(m, BTC, 0), {"channel": "depth_book", "data": {"symbol": "BTC-USD"}},
         "depth_book"),
        (lambda m: mapping.parse_depth_book(m, BTC, 0), {"channel": "depth_book", "data": {
            "symbol": "BTC-USD", "bids": [["x", "1"]], "asks": []}}, "depth_book"),
        (lambda m: mapping.parse_depth_book(m, BTC, 0), {"channel": "price", "data": {}}, "depth_book"),
        (lambda m: mapping.parse_ws_order(m, INSTRUMENTS), {"channel": "order", "data": {"symbol": "BTC-USD"}},
         "order"),
        (lambda m: mapping.parse_ws_order(m, INSTRUMENTS), {"channel": "order", "data": "nope"}, "order"),
        (lambda m: mapping.parse_ws_order(m, INSTRUMENTS), {"channel": "order", "data": {
            "symbol": "BTC-USD", "status": "zombie"}}, "order"),
        (lambda m: mapping.parse_ws_order(m, INSTRUMENTS), {"channel": "order", "data": {
            "symbol": "SOL-USD", "status": "open"}}, "order"),
        (lambda m: mapping.parse_open_orders(m, INSTRUMENTS), {"result": {}}, "query_open_orders"),
        (lambda m: mapping.parse_positions(m), [{"symbol": "BTC-USD"}], "query_positions"),
        (lambda m: mapping.parse_positions(m), [{"symbol": "BTC-USD", "qty": "1", "time": "yesterday"}],
         "query_positions"),
        (lambda m: mapping.parse_position_push(m), {"channel": "position", "data": []}, "position"),
        (lambda m: mapping.parse_api_result(m, "new_order"), {"code": "0"}, "new_order"),
        (lambda m: mapping.parse_stream_auth(m), {"channel": "auth", "data": {}}, "auth"),
        (lambda m: mapping.parse_symbol_info(m), [{"symbol": "BTC-USD", "price_tick_decimals": "2"}],
         "query_symbol_info"),
    ],
)  # fmt: skip
def test_malformed_messages_raise_wire_error(fn, msg, message_type) -> None:
    with pytest.raises(WireError) as err:
        fn(msg)
    assert err.value.message_type == message_type
    assert isinstance(err.value, OrderlyWireError)  # one class for both venues
