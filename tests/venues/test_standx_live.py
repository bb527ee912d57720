"""StandX live adapter (rest / ws / gateway) against the in-process fake venue (tests/fakes/standx.py).

Fast integration tests: signed requests accepted, tampered or replayed signatures and a wrong JWT
refused; place / cancel / open orders / positions / fills (stream and REST, deduplicated); ALO
rejects benign; seq gap -> FeedProblem; reconnect re-authenticates and resubscribes; 429 ->
RateLimited + limiter back-off; no secret in any error text or log; every shared StandX fixture
through the stream handlers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from mm_bot.core.bot import is_benign_reject
from mm_bot.core.ratelimit import DualRateLimiter, LimiterPolicy, RequestKind, limits_from_env
from mm_bot.core.types import (
    BUY,
    SELL,
    BookUpdate,
    Cancel,
    FeedProblem,
    Fill,
    OrderAck,
    OrderStatus,
    Place,
    Tif,
)
from mm_bot.live.clock import wall_ms
from mm_bot.venues.errors import GatewayError, RateLimited, RestError, WireError
from mm_bot.venues.gateway import CancelFailed
from mm_bot.venues.standx import gateway as sxgw
from mm_bot.venues.standx import mapping
from mm_bot.venues.standx.auth import StandxSigner
from mm_bot.venues.standx.rest import StandxRest, urls_for
from mm_bot.venues.standx.ws import StandxAccountStream, StandxMarketStream
from mm_bot.venues.transport import HttpJson
from mm_bot.venues.woofi_pro.auth import b58encode
from tests.fakes.standx import FakeStandx

from ._shared_dirs import fixture_files

SEED = bytes(range(1, 33))
KEY_B58 = b58encode(SEED)
ADDRESS = "0x3f5ce5fbfe3e9af3971dd833d26ba9b5c936f0be"


def _b64url(obj: Any) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def make_jwt(claims: dict) -> str:
    return ".".join([_b64url({"alg": "ES256", "typ": "JWT"}), _b64url(claims), _b64url(b"\x07" * 64)])


JWT = make_jwt({"address": ADDRESS, "chain": "bsc", "exp": 4102444800})
SECRETS = (JWT, JWT.split(".")[2], KEY_B58, SEED.hex())


def assert_no_secret(*texts: str) -> None:
    for t in texts:
        for s in SECRETS:
            assert s not in t, "a secret leaked into an error or log text"


class Sink:
    """Records what the streams deliver."""

    def __init__(self) -> None:
        self.events: list = []
        self.wire_errors: list[WireError] = []
        self.connects: list[tuple[str, int, bool]] = []
        self.disconnects: list[tuple[str, str, bool]] = []

    def on_events(self, events: list, recv_ms: int) -> None:
        self.events += events

    def on_wire_error(self, err: WireError, recv_ms: int) -> None:
        self.wire_errors.append(err)

    def on_connect(self, stream: str, n: int, market: bool) -> None:
        self.connects.append((stream, n, market))

    def on_disconnect(self, stream: str, reason: str, market: bool) -> None:
        self.disconnects.append((stream, reason, market))

    def of(self, cls: type) -> list:
        return [e for e in self.events if isinstance(e, cls)]


@pytest.fixture
def fake():
    f = FakeStandx(JWT, StandxSigner(SEED).public_key, push_every_s=0.1).start()
    yield f
    f.stop()


def env_for(fake: FakeStandx, **extra: str) -> dict[str, str]:
    return {"STANDX_JWT": JWT, "STANDX_REQUEST_SIGNING_KEY": KEY_B58, "STANDX_API_BASE": fake.rest_url,
            "STANDX_WS_URL": fake.ws_url, **extra}


def new_limiter() -> DualRateLimiter:
    # Short back-offs keep the 429 tests fast.
    return DualRateLimiter(limits_from_env("standx", {}), LimiterPolicy(backoff_base_ms=50, backoff_max_ms=200))


async def connect(fake: FakeStandx, env: dict[str, str] | None = None, limiter: DualRateLimiter | None = None,
                  on_rate_limited: Callable | None = None) -> sxgw.StandxGateway:
    limiter = limiter or new_limiter()
    rng = random.Random(1)
    env = env or env_for(fake)
    market = sxgw.market_data("testnet", env, limiter, rng, on_rate_limited)
    gw = sxgw.build_gateway("testnet", env, limiter, market, None, rng, on_rate_limited)  # type: ignore[arg-type]
    await market.load(["BTC"])
    return gw


async def until(cond: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        got = cond()
        if got:
            return got
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Streams:
    """Runs a gateway's account stream (and optionally the market stream) in the background."""

    def __init__(self, gw: sxgw.StandxGateway, market: bool = False) -> None:
        self.gw = gw
        self.sink = Sink()
        self.stop = asyncio.Event()
        self.streams = list(gw.private_streams(self.sink))
        if market:
            self.streams.append(gw.market.market_stream(["BTC"], self.sink))
        self.tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> Streams:
        self.tasks = [asyncio.create_task(s.run(self.stop)) for s in self.streams]
        await until(lambda: all(s.connected.is_set() for s in self.streams), what="streams connected")
        acct = self.streams[0]
        assert isinstance(acct, StandxAccountStream)
        await until(lambda: acct.authed, what="stream auth")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.gather(*self.tasks), 5)


def bid_place(cloid: str, px: int, sz: int = 2, tif: Tif = Tif.ALO, side: int = BUY) -> Place:
    return Place("bot-a", "BTC", cloid, side, px, sz, tif)


# ---------------------------------------------------------------- configuration


def test_urls_for_defaults_overrides_and_bad_mode() -> None:
    assert urls_for("mainnet", {}) == ("https://perps.standx.com", "wss://perps.standx.com/ws-stream/v1")
    assert urls_for("testnet", {}) == ("https://testnet.perps.standx.com", "wss://testnet.perps.standx.com/ws-stream/v1")
    assert urls_for("testnet", {"STANDX_API_BASE": "http://127.0.0.1:9/", "STANDX_WS_URL": "ws://127.0.0.1:9/x"}) == (
        "http://127.0.0.1:9", "ws://127.0.0.1:9/x")
    with pytest.raises(ValueError):
        urls_for("devnet", {})


def test_build_gateway_refuses_missing_or_malformed_secrets() -> None:
    limiter, rng = new_limiter(), random.Random(1)
    market = sxgw.market_data("testnet", {}, limiter, rng)
    texts = []
    for env, word in [({}, "STANDX_JWT is not set"),
                      ({"STANDX_JWT": "not-a-jwt", "STANDX_REQUEST_SIGNING_KEY": KEY_B58}, "STANDX_JWT is malformed"),
                      ({"STANDX_JWT": JWT}, "STANDX_REQUEST_SIGNING_KEY is not set"),
                      ({"STANDX_JWT": JWT, "STANDX_REQUEST_SIGNING_KEY": KEY_B58[:-5] + "0OIl0"}, "is malformed"),
                      ({"STANDX_JWT": JWT, "STANDX_REQUEST_SIGNING_KEY": SEED.hex()[:-2]}, "is malformed"),
                      ({"STANDX_JWT": make_jwt({"exp": 1_700_000_000}), "STANDX_REQUEST_SIGNING_KEY": KEY_B58},
                       "STANDX_JWT expired at 2023-11-14 22:13 UTC")]:
        with pytest.raises(GatewayError) as ei:
            sxgw.build_gateway("testnet", env, limiter, market, None, rng)  # type: ignore[arg-type]
        assert word in str(ei.value)
        texts.append(str(ei.value))
    with pytest.raises(GatewayError):
        sxgw.build_gateway("paper", {"STANDX_JWT": JWT, "STANDX_REQUEST_SIGNING_KEY": KEY_B58}, limiter, market,
                           None, rng)  # type: ignore[arg-type]
    assert_no_secret(*texts)
    market.close()


def test_account_label_from_jwt_and_contract_attributes() -> None:
    limiter, rng = new_limiter(), random.Random(1)
    market = sxgw.market_data("mainnet", {}, limiter, rng)
    gw = sxgw.build_gateway("mainnet", {"STANDX_JWT": JWT, "STANDX_REQUEST_SIGNING_KEY": SEED.hex()}, limiter,
                            market, None, rng)  # type: ignore[arg-type]
    assert (gw.venue, gw.mode, gw.account, gw.nonces, gw.deadman) == ("standx", "mainnet", ADDRESS, None, False)
    assert gw.market is market and gw.instruments is market.instruments and gw.bot_of_cloid == {}
    assert gw.rest_url == "https://perps.standx.com"
    opaque = make_jwt({"sub": 5}).replace(_b64url({"sub": 5}), "bm90anNvbg")
    gw2 = sxgw.build_gateway("mainnet", {"STANDX_JWT": opaque, "STANDX_REQUEST_SIGNING_KEY": KEY_B58}, limiter,
                             market, None, rng)  # type: ignore[arg-type]
    assert gw2.account == "standx"
    places = [bid_place(f"c{i}", 100) for i in range(3)]
    assert gw.split_places(places, True) == [[p] for p in places]
    assert asyncio.run(gw.schedule_cancel(wall_ms() + 60_000)) == ""
    assert asyncio.run(gw.budget_note()) is None
    gw.close()


# ---------------------------------------------------------------- REST


def test_public_reads_instruments_fees_book_equity(fake) -> None:
    async def main():
        gw = await connect(fake)
        inst = gw.instruments["BTC"]
        assert (inst.tick_size, inst.lot_size, inst.min_notional_usd) == (0.01, 0.001, 0.0)
        assert await gw.fees_bps() == pytest.approx((1.0, 4.0))
        assert await gw.equity_usd() == 10000.0
        book = await gw.market.book_snapshot("BTC")
        assert isinstance(book, BookUpdate) and book.snapshot
        assert book.bids == ((12188452, 1), (12188422, 1)) and book.asks == ((12189602, 839), (12189632, 1051))
        with pytest.raises(GatewayError, match="not listed"):
            await gw.market.load(["BTC", "DOGE"])
        assert await gw.positions() == {} and await gw.open_orders() == [] and await gw.user_fills() == []
        gw.close()
    asyncio.run(main())
    reads = [e for e in fake.entries("http") if e["method"] == "GET"]
    assert {e["path"] for e in reads} >= {"/api/query_symbol_info", "/api/query_depth_book", "/api/query_balance",
                                          "/api/query_positions", "/api/query_open_orders", "/api/query_trades"}
    assert not fake.entries("auth_error")


def test_signatures_checked_tampered_replayed_wrong_jwt_refused(fake, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    http = HttpJson(fake.rest_url)
    body = {"cl_ord_id_list": ["nope"]}
    signer = StandxSigner(SEED, JWT)
    # A valid request is accepted (the unknown id is reported back, not refused for auth).
    text, headers = signer.signed_request(body, wall_ms())
    assert http.request("POST", "/api/cancel_orders", text.encode(), headers) == [
        {"cl_ord_id": "nope", "code": 400, "message": "order not found"}]
    errors = []
    # The same request id again: replay refused.
    with pytest.raises(RestError) as ei:
        http.request("POST", "/api/cancel_orders", text.encode(), headers)
    assert ei.value.status == 401 and "already used" in str(ei.value)
    errors.append(str(ei.value))
    # Tampered body (the bytes sent differ from the bytes signed).
    text, headers = signer.signed_request(body, wall_ms())
    with pytest.raises(RestError) as ei:
        http.request("POST", "/api/cancel_orders", text.replace("nope", "nopf").encode(), headers)
    assert "invalid body signature" in str(ei.value)
    errors.append(str(ei.value))
    # Signed with another key.
    other = StandxSigner(bytes(range(2, 34)), JWT)
    text, headers = other.signed_request(body, wall_ms())
    with pytest.raises(RestError) as ei:
        http.request("POST", "/api/cancel_orders", text.encode(), headers)
    assert "invalid body signature" in str(ei.value)
    errors.append(str(ei.value))

    async def wrong_jwt():
        gw = await connect(fake, env_for(fake, STANDX_JWT=make_jwt({"address": "0xdead"})))
        with pytest.raises(RestError) as e1:
            await gw.open_orders()
        events, uncertain = await gw.send_places([bid_place("x1", 12100000)])
        gw.close()
        return e1.value, events, uncertain

    err, events, uncertain = asyncio.run(wrong_jwt())
    assert err.status == 401 and not uncertain
    assert events[0].status == OrderStatus.REJECTED and "401" in events[0].reason
    errors += [str(err), events[0].reason]
    assert len(fake.entries("auth_error")) == 5
    http.close()
    assert_no_secret(*errors, caplog.text)


def test_place_open_cancel_open_orders(fake) -> None:
    async def main():
        gw = await connect(fake)
        async with Streams(gw) as st:
            p = bid_place("0x" + "ab" * 16, 12100000)
            gw.track(p)
            events, uncertain = await gw.send_places([p])
            # Accepted is not executed: no ack yet; the order stream says open.
            assert events == [] and not uncertain
            ack = await until(lambda: st.sink.of(OrderAck), what="open ack")
            assert ack[0].status == OrderStatus.OPEN and ack[0].cloid == p.cloid and ack[0].bot_id == "bot-a"
            oo = await gw.open_orders()
            assert [(o.cloid, o.side, o.px, o.sz, o.status, o.tif) for o in oo] == [
                (p.cloid, BUY, 12100000, 2, OrderStatus.OPEN, Tif.ALO)]
            assert gw.cloid_of_oid[oo[0].venue_oid] == p.cloid
            events, failed = await gw.send_cancels([Cancel("bot-a", "BTC", p.cloid)])
            assert events == [] and not failed
            await until(lambda: any(a.status == OrderStatus.CANCELLED for a in st.sink.of(OrderAck)), what="cancel")
            assert await gw.open_orders() == []
            # How it ended, by cloid (reconcile asks when an order vanished unseen); unknown -> None.
            assert await gw.closed_status("BTC", p.cloid) == (OrderStatus.CANCELLED, "cancelled")
            assert await gw.closed_status("BTC", "0x" + "ee" * 16) is None
            # Cancelling again: refused -> CancelFailed.
            events, failed = await gw.send_cancels([Cancel("bot-a", "BTC", p.cloid)])
            assert not failed and len(events) == 1 and isinstance(events[0], CancelFailed)
            assert "not found" in events[0].reason
            # cancel_open by venue id: '' for a resting order, the venue's text for a gone one.
            q = bid_place("0x" + "cd" * 16, 12000000)
            await gw.send_places([q])
            await until(lambda: fake.resting(), what="second order resting")
            oo = await gw.open_orders()
            assert await gw.cancel_open(oo) == [""]
            assert (await gw.cancel_open(oo))[0] == "order not found"
            assert gw.stats()["places"] == 2 and gw.stats()["ws_connections"] == 1
        gw.close()
    asyncio.run(main())
    posts = [e for e in fake.entries("http") if e["method"] == "POST"]
    assert [e["path"] for e in posts].count("/api/new_order") == 2
    assert not fake.entries("auth_error")


def test_alo_reject_arrives_later_and_is_benign(fake) -> None:
    async def main():
        gw = await connect(fake)
        async with Streams(gw) as st:
            p = bid_place("0x" + "01" * 16, 12189602)  # at the best ask: would cross
            gw.track(p)
            assert await gw.send_places([p]) == ([], False)
            acks = await until(lambda: st.sink.of(OrderAck), what="reject")
        gw.close()
        return acks
    acks = asyncio.run(main())
    assert acks[0].status == OrderStatus.REJECTED and "post-only would cross" in acks[0].reason
    assert is_benign_reject(acks[0].reason)
    assert fake.entries("alo_reject")


def test_immediate_refusal_and_bad_place(fake) -> None:
    async def main():
        gw = await connect(fake)
        # An odd price precision cannot be expressed: mapping refuses before sending.
        bad = Place("bot-a", "BTC", "c-bad", BUY, 0, 1)
        ev, unc = await gw.send_places([bad])
        assert ev[0].status == OrderStatus.REJECTED and "not sent" in ev[0].reason and not unc
        # Below min_order_qty is refused by the venue with code 400 -> REJECTED now.
        fake.call(lambda: fake.symbols["BTC-USD"].__setitem__("min_order_qty", "0.010"))
        ev, unc = await gw.send_places([bid_place("c-small", 12000000, sz=2)])
        assert ev[0].status == OrderStatus.REJECTED and "invalid qty" in ev[0].reason and not unc
        gw.close()
    asyncio.run(main())


def test_fills_stream_and_rest_deduplicated_and_positions(fake) -> None:
    async def main():
        gw = await connect(fake)
        async with Streams(gw) as st:
            p = bid_place("0x" + "02" * 16, 12100000, sz=5)
            gw.track(p)
            await gw.send_places([p])
            await until(lambda: fake.resting(), what="resting")
            part = fake.trade_through("BTC", "buy", qty="0.002")
            rest = fake.trade_through("BTC", "buy")
            fills = await until(lambda: len(st.sink.of(Fill)) >= 2 and st.sink.of(Fill), what="two fills")
            assert [(f.sz, f.px, f.maker, f.side, f.cloid) for f in fills] == [
                (2, 12100000, True, BUY, p.cloid), (3, 12100000, True, BUY, p.cloid)]
            assert [f.fill_id for f in fills] == [f"{part['id']}-2", f"{rest['id']}-5"]
            assert fills[0].fee_usd == pytest.approx(0.0001 * 121000 * 0.002)
            # REST recovery gives the same ids: nothing new.
            recovered = await gw.user_fills()
            assert sorted(f.fill_id for f in recovered) == sorted(f.fill_id for f in fills)
            assert all(f.bot_id == "bot-a" for f in recovered)
            assert not [f for f in recovered if gw.accept_fill(f)]
            pos = await gw.positions()
            assert pos["BTC"].qty == pytest.approx(0.005)
            await until(lambda: "BTC" in gw.last_positions, what="position push")
            assert gw.last_positions["BTC"].qty == pytest.approx(0.005)

            # A fresh gateway (a restart): REST first, then a stream push summarising both trades.
            gw2 = await connect(fake)
            gw2.bot_of_cloid[p.cloid] = "bot-a"
            rec2 = [f for f in await gw2.user_fills() if gw2.accept_fill(f)]
            assert [f.sz for f in rec2] == [2, 3] and all(f.maker for f in rec2)
            push = {"seq": 9, "channel": "order", "data": {**fake.call(lambda: dict(fake.all_orders[part["id"]]))}}
            assert gw2.on_order_push(push, wall_ms()) == []
            gw2.close()
        gw.close()
    asyncio.run(main())


def test_stream_fill_overlapping_rest_is_trimmed(fake) -> None:
    async def main():
        gw = await connect(fake)
        p = bid_place("0x" + "03" * 16, 12100000, sz=5)
        gw.track(p)
        await gw.send_places([p])
        await until(lambda: fake.resting(), what="resting")
        oid = fake.resting()[0]["id"]
        fake.trade_through("BTC", "buy", qty="0.002")
        # REST sees the first trade (2 lots) before any stream push.
        assert [f.sz for f in await gw.user_fills() if gw.accept_fill(f)] == [2]
        fake.trade_through("BTC", "buy", qty="0.001")
        # The stream's first push for this order reports 3 lots cumulative: only 1 is new.
        row = fake.call(lambda: dict(fake.all_orders[oid]))
        out = gw.on_order_push({"seq": 1, "channel": "order", "data": row}, wall_ms())
        fills = [e for e in out if isinstance(e, Fill)]
        assert [(f.sz, f.fill_id) for f in fills] == [(1, f"{oid}-3")]
        gw.close()
    asyncio.run(main())


def test_user_fills_resolves_unknown_order_ids_with_query_orders(fake) -> None:
    async def main():
        gw = await connect(fake)
        p = bid_place("0x" + "04" * 16, 12100000, sz=2)
        gw.track(p)
        await gw.send_places([p])
        await until(lambda: fake.resting(), what="resting")
        fake.trade_through("BTC", "buy")
        gw2 = await connect(fake)  # knows the cloid (from the DB) but not the order id
        gw2.bot_of_cloid[p.cloid] = "bot-a"
        fills = await gw2.user_fills()
        assert [(f.bot_id, f.cloid, f.sz) for f in fills] == [("bot-a", p.cloid, 2)]
        gw.close()
        gw2.close()
    asyncio.run(main())
    assert any(e["path"] == "/api/query_orders" for e in fake.entries("http"))


# ---------------------------------------------------------------- streams


def test_seq_gap_on_market_stream_is_a_feed_problem(fake) -> None:
    async def main():
        gw = await connect(fake)
        async with Streams(gw, market=True) as st:
            await until(lambda: st.sink.of(BookUpdate), what="a book")
            assert not st.sink.of(FeedProblem)
            fake.skip_seq()
            probs = await until(lambda: st.sink.of(FeedProblem), what="a FeedProblem")
            assert probs[0].coin == "BTC" and "seq gap" in probs[0].message and not probs[0].fatal
            n = len(st.sink.events)
            await until(lambda: any(isinstance(e, BookUpdate) for e in st.sink.events[n:]), what="next book")
        gw.close()
        return st
    st = asyncio.run(main())
    assert len(st.sink.of(FeedProblem)) == 1


def test_reconnect_reauthenticates_and_resubscribes(fake) -> None:
    async def main():
        gw = await connect(fake)
        async with Streams(gw, market=True) as st:
            await until(lambda: st.sink.of(BookUpdate), what="a book")
            assert fake.drop_ws() == 2
            await until(lambda: len(st.sink.connects) >= 4, timeout=8, what="both streams reconnected")
            await until(lambda: st.streams[0].authed, what="re-auth")
            assert {(s, n) for s, n, _ in st.sink.connects} == {
                ("standx account", 1), ("standx account", 2), ("standx market", 1), ("standx market", 2)}
            assert {(s, m) for s, _, m in st.sink.disconnects} == {("standx account", False), ("standx market", True)}
            # Orders still flow after the reconnect.
            p = bid_place("0x" + "05" * 16, 12100000)
            gw.track(p)
            await gw.send_places([p])
            await until(lambda: st.sink.of(OrderAck), what="ack after reconnect")
        gw.close()
    asyncio.run(main())
    ws = fake.entries("ws")
    auths = [e for e in ws if e["event"] == "auth"]
    assert len(auths) == 2 and all(e["ok"] and e["streams"] == ["order", "position"] for e in auths)
    subs = [e for e in ws if e["event"] == "subscribe"]
    assert [(e["channel"], e["symbol"]) for e in subs] == [("depth_book", "BTC-USD")] * 2


def test_refused_stream_auth_is_reported_and_retried(fake) -> None:
    async def main():
        gw = await connect(fake, env_for(fake, STANDX_JWT=make_jwt({"address": "0xdead"})))
        sink = Sink()
        stop = asyncio.Event()
        (acct,) = gw.private_streams(sink)
        task = asyncio.create_task(acct.run(stop))
        await until(lambda: sink.wire_errors, what="auth refusal")
        stop.set()
        await asyncio.wait_for(task, 5)
        gw.close()
        return sink
    sink = asyncio.run(main())
    assert sink.wire_errors[0].message_type == "auth" and "401" in sink.wire_errors[0].detail
    assert_no_secret(*(str(e) for e in sink.wire_errors))


def test_rate_limited_place_and_read_back_off(fake) -> None:
    calls = []

    async def main():
        limiter = new_limiter()
        gw = await connect(fake, limiter=limiter, on_rate_limited=lambda *a: calls.append(a))
        fake.fail_next(1)
        events, uncertain = await gw.send_places([bid_place("c429", 12100000)])
        assert not uncertain and events[0].status == OrderStatus.REJECTED
        assert "rate limited (HTTP 429)" in events[0].reason
        assert limiter.in_backoff(wall_ms()) and limiter.backoff_level == 1
        # Cancels still pass during the back-off; a rate-limited cancel is "no answer" (retry).
        fake.fail_next(1)
        assert await gw.send_cancels([Cancel("bot-a", "BTC", "c429")]) == ([], True)
        # A read is retried after a 429 and then succeeds.
        fake.fail_next(1)
        assert await gw.open_orders() == []
        with pytest.raises(RateLimited):
            fake.fail_next(1)
            await gw.rest.post("/api/cancel_orders", {"cl_ord_id_list": ["x"]}, RequestKind.CANCEL)
        assert gw.stats()["rate_limited"] == 4
        gw.close()
    asyncio.run(main())
    assert calls and calls[0][0] == "POST /api/new_order" and calls[0][2] is True
    assert len(fake.entries("http_error")) == 4


def test_transport_failure_is_uncertain() -> None:
    async def main():
        env = {"STANDX_JWT": JWT, "STANDX_REQUEST_SIGNING_KEY": KEY_B58, "STANDX_API_BASE": "http://127.0.0.1:9"}
        limiter, rng = new_limiter(), random.Random(1)
        market = sxgw.market_data("testnet", env, limiter, rng)
        gw = sxgw.build_gateway("testnet", env, limiter, market, None, rng)  # type: ignore[arg-type]
        market.instruments["BTC"] = mapping.parse_symbol_info(
            {"symbol": "BTC-USD", "price_tick_decimals": 2, "qty_tick_decimals": 3})["BTC"]
        events, uncertain = await gw.send_places([bid_place("c-x", 12100000)])
        assert events == [] and uncertain and "c-x" not in gw.inflight
        assert await gw.send_cancels([Cancel("bot-a", "BTC", "c-x")]) == ([], True)
        gw.close()
    asyncio.run(main())


def test_rest_client_errors_never_carry_secrets(fake, caplog) -> None:
    caplog.set_level(logging.DEBUG)

    async def main():
        limiter = new_limiter()
        rest = StandxRest(fake.rest_url, limiter, StandxSigner(SEED, JWT))
        texts = []
        for status in (400, 401, 500):
            fake.fail_next(1, status)
            with pytest.raises(RestError) as ei:
                await rest.post("/api/new_order", {"symbol": "BTC-USD"}, RequestKind.PLACE)
            texts.append(str(ei.value))
        with pytest.raises(RestError) as ei:
            await rest.post("/api/new_order", {"symbol": "ETH-USD", "side": "buy"}, RequestKind.PLACE)
        assert "code 400" in str(ei.value) and "invalid symbol" in str(ei.value)
        texts.append(str(ei.value))
        rest.close()
        return texts
    texts = asyncio.run(main())
    assert_no_secret(*texts, caplog.text)


# ---------------------------------------------------------------- shared fixtures


def test_every_shared_fixture_through_the_stream_handlers() -> None:
    files = fixture_files("standx")
    if not files:
        pytest.skip("shared StandX fixtures not found (expected ../shared/fixtures/standx beside the repo root)")
    inst = mapping.parse_symbol_info({"symbol": "BTC-USD", "price_tick_decimals": 2, "qty_tick_decimals": 3})
    limiter, rng = new_limiter(), random.Random(1)
    market = sxgw.StandxMarketData("mainnet", "http://127.0.0.1:9", "ws://127.0.0.1:9", limiter, rng)
    market.instruments.update(inst)
    gw = sxgw.StandxGateway(mode="mainnet", signer=StandxSigner(SEED, JWT), market=market,
                            rest_url="http://127.0.0.1:9", ws_url="ws://127.0.0.1:9", limiter=limiter, rng=rng)
    msink, asink = Sink(), Sink()
    mstream = StandxMarketStream("ws://127.0.0.1:9", ["BTC"], market.instruments, msink)
    astream = gw.private_streams(asink)[0]
    seen = {}
    for path in files:
        # Each file is an independent sample: its seq says nothing about the previous file's.
        mstream.seq.reset()
        astream.seq.reset()
        doc = json.loads(path.read_text())
        order_data = doc.get("reply", {}).get("data") if isinstance(doc.get("reply"), dict) else None
        if isinstance(order_data, dict) and order_data.get("cl_ord_id"):
            gw.bot_of_cloid[order_data["cl_ord_id"]] = "bot-x"
        for key in ("msg", "reply"):
            if key not in doc:
                continue
            text = json.dumps(doc[key])
            n_m, n_a = len(msink.events) + len(msink.wire_errors), len(asink.events) + len(asink.wire_errors)
            mstream.handle(text, 1_754_900_000_000)  # must never raise
            astream.handle(text, 1_754_900_000_000)
            seen[(path.name, key)] = (msink.events[n_m:] if len(msink.events) > n_m else [],
                                      asink.events[n_a:] if len(asink.events) > n_a else [])
    book = seen[("ws_subscribe_depth_book.json", "reply")][0]
    assert isinstance(book[0], BookUpdate) and book[0].bids[0] == (12188452, 1)
    order_events = seen[("ws_order.json", "reply")][1]
    fills = [e for e in order_events if isinstance(e, Fill)]
    assert len(fills) == 1 and fills[0].sz == 1000 and fills[0].bot_id == "bot-x" and not fills[0].maker
    assert fills[0].fill_id == "2547027-1000" and fills[0].px == 12124521
    assert astream.authed  # ws_auth.json reply {"code":200}
    assert not msink.wire_errors and not asink.wire_errors
    market.close()


def test_cancel_failures_reader() -> None:
    assert mapping.cancel_failures([], ["a", "b"]) == {}
    assert mapping.cancel_failures({"code": 0, "message": "success"}, ["a"]) == {}
    assert mapping.cancel_failures({"code": 400, "message": "bad"}, ["a", "b"]) == {"a": "bad", "b": "bad"}
    assert mapping.cancel_failures([{"cl_ord_id": "b", "code": 400, "message": "order not found"}], ["a", "b"]) == {
        "b": "order not found"}
    assert mapping.cancel_failures([{"order_id": 7, "error": "gone"}], ["7"]) == {"7": "gone"}
    assert mapping.cancel_failures(["a"], ["a", "b"]) == {"a": "refused by the venue"}
    assert mapping.cancel_failures([{"message": "all bad"}], ["a"]) == {"a": "all bad"}
    assert mapping.cancel_failures("weird", ["a"]) == {}


def test_trades_to_fills_cumulative_ids_and_maker_inference() -> None:
    inst = mapping.parse_symbol_info({"symbol": "BTC-USD", "price_tick_decimals": 2, "qty_tick_decimals": 3})
    rows = {"result": [
        {"id": 3, "order_id": 11, "symbol": "BTC-USD", "side": "sell", "price": "100.00", "qty": "0.002",
         "fee_qty": "0.00008", "created_at": "2025-08-11T03:36:19.352620Z"},
        {"id": 2, "order_id": 11, "symbol": "BTC-USD", "side": "sell", "price": "100.00", "qty": "0.001",
         "fee_qty": "0.00001", "created_at": "2025-08-11T03:36:19.352620Z"},
        {"id": 4, "order_id": 12, "symbol": "ETH-USD", "side": "buy", "price": "1", "qty": "1",
         "fee_qty": "0", "created_at": "2025-08-11T03:36:19.352620Z"},
    ]}
    trades = mapping.parse_trades(rows, inst)
    fills = mapping.trades_to_fills(trades, inst, {"11": "c11"}, lambda c: "bot" if c == "c11" else "", {"BTC": 0.0001})
    assert [(f.fill_id, f.sz, f.side, f.maker, f.bot_id) for f in fills] == [
        ("11-1", 1, SELL, True, "bot"), ("11-3", 2, SELL, False, "bot")]
    assert fills[1].fee_usd == pytest.approx(0.00008)
    assert mapping.split_fill_id("11-3") == ("11", 3) and mapping.split_fill_id("0xab") is None
    assert Decimal(str(fills[0].ts_ms)) > 0


def test_post_only_reason_tags_only_alo_rejects() -> None:
    assert sxgw.post_only_reason("alo order rejected") == "post-only would cross: alo order rejected"
    assert is_benign_reject(sxgw.post_only_reason("Post only order would immediately match"))
    for text in ("insufficient balance", "invalid qty", "reduce only order rejected"):
        assert sxgw.post_only_reason(text) == text and not is_benign_reject(text)
