"""WOOFi Pro live adapter (rest, ws, gateway) against the fake venue on 127.0.0.1 (tests/fakes/woofi_pro.py).

In-process and fast: each test runs its own asyncio loop against a fresh fake. Covered: URLs and
key checks; signed requests accepted, tampered / expired ones refused; place (single and batch),
post-only refusal, cancel (by cloid, by venue id, unknown), open orders, positions, fills (stream
and REST, deduplicated, attributed after a restart); the book chain, a prevTs gap -> FeedProblem
then a resync from a snapshot (WS request, or REST when the request goes unanswered); reconnect
re-auths with a fresh timestamp and resubscribes; server pings answered; 429 -> RateLimited and
limiter back-off; secrets never in error texts or logs; every shared Orderly fixture through the
stream handlers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from mm_bot.core.nonces import NonceAllocator
from mm_bot.core.ratelimit import DualRateLimiter, LimiterPolicy, RequestKind, limits_from_env
from mm_bot.core.types import (
    BUY,
    SELL,
    BookUpdate,
    Cancel,
    FeedProblem,
    Fill,
    Instrument,
    Modify,
    ModifyFailed,
    OrderAck,
    OrderStatus,
    Place,
    Tif,
    TradePrint,
)
from mm_bot.live.clock import wall_ms
from mm_bot.venues.errors import GatewayError, RateLimited, WireError
from mm_bot.venues.gateway import CancelFailed
from mm_bot.venues.woofi_pro import gateway as woofi
from mm_bot.venues.woofi_pro.auth import OrderlySigner, b58encode
from mm_bot.venues.woofi_pro.rest import OrderlyError, OrderlyRest, urls_for
from tests.fakes.woofi_pro import FakeWoofi

from ._shared_dirs import fixture_files

SEED = bytes(range(100, 132))
SECRET = "ed25519:" + b58encode(SEED)
SIGNER = OrderlySigner("0x" + "ab" * 32, SECRET)
KEY = SIGNER.orderly_key
ACCOUNT = "0x" + "ab" * 32
FAST_LIMITS = {"WOOFI_REST_CAPACITY_PER_SEC": "1000", "WOOFI_REST_CAPACITY_PER_MIN": "100000",
               "WOOFI_WS_CAPACITY_PER_MIN": "100000"}


class Sink:
    """A StreamSink that records everything."""

    def __init__(self) -> None:
        self.events: list = []
        self.wire_errors: list[WireError] = []
        self.connects: list[tuple[str, int, bool]] = []
        self.disconnects: list[tuple[str, str, bool]] = []
        self.on_event: Callable[[Any], None] | None = None

    def on_events(self, events: list, recv_ms: int) -> None:
        self.events += events
        if self.on_event is not None:
            for e in events:
                self.on_event(e)

    def on_wire_error(self, err: WireError, recv_ms: int) -> None:
        self.wire_errors.append(err)

    def on_connect(self, stream: str, n: int, market: bool) -> None:
        self.connects.append((stream, n, market))

    def on_disconnect(self, stream: str, reason: str, market: bool) -> None:
        self.disconnects.append((stream, reason, market))

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def fake():
    f = FakeWoofi(ACCOUNT, KEY, push_every_s=0.05, snapshot_every_s=0.5).start()
    yield f
    f.stop()


def env_for(fake: FakeWoofi, **extra: str) -> dict[str, str]:
    return {"WOOFI_ACCOUNT_ID": ACCOUNT, "WOOFI_ORDERLY_KEY": KEY, "WOOFI_ORDERLY_SECRET": SECRET,
            **fake.env(), **extra}


def make(fake: FakeWoofi, limits_env: dict[str, str] | None = None, policy: LimiterPolicy | None = None,
         on_rate_limited=None) -> tuple[woofi.WoofiMarketData, woofi.WoofiGateway, DualRateLimiter]:
    env = env_for(fake)
    limiter = DualRateLimiter(limits_from_env("woofi_pro", FAST_LIMITS if limits_env is None else limits_env),
                              policy or LimiterPolicy(backoff_base_ms=50, backoff_max_ms=200))
    rng = random.Random(5)
    md = woofi.market_data("testnet", env, limiter, rng, on_rate_limited)
    gw = woofi.build_gateway("testnet", env, limiter, md, NonceAllocator(), rng, on_rate_limited)
    return md, gw, limiter


def run(coro: Awaitable, timeout: float = 20.0):
    async def main():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(main())


async def until(cond: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        got = cond()
        if got:
            return got
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Running:
    """Run WS connections as tasks for the body of an `async with`."""

    def __init__(self, *conns) -> None:
        self.conns = conns
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> Running:
        self.tasks = [asyncio.create_task(c.run(self.stop)) for c in self.conns]
        return self

    async def __aexit__(self, *exc) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 5)


def place(cloid: str, side: int, px: int, sz: int, tif: Tif = Tif.ALO, coin: str = "WOO",
          reduce_only: bool = False) -> Place:
    return Place("bot-a", coin, cloid, side, px, sz, tif, reduce_only)


def cloid(n: int) -> str:
    return "0x" + f"{n:032x}"


# ---------------------------------------------------------------- configuration


def test_urls_for_defaults_and_overrides() -> None:
    rest, pub, priv = urls_for("mainnet", {"WOOFI_ACCOUNT_ID": ACCOUNT})
    assert rest == "https://api.orderly.org"
    assert pub == f"wss://ws-evm.orderly.org/ws/stream/{ACCOUNT}"
    assert priv == f"wss://ws-private-evm.orderly.org/v2/ws/private/stream/{ACCOUNT}"
    rest, pub, priv = urls_for("testnet", {"WOOFI_ACCOUNT_ID": ACCOUNT})
    assert rest == "https://testnet-api.orderly.org"
    assert pub == f"wss://testnet-ws-evm.orderly.org/ws/stream/{ACCOUNT}"
    assert priv == f"wss://testnet-ws-private-evm.orderly.org/v2/ws/private/stream/{ACCOUNT}"
    rest, pub, priv = urls_for("testnet", {"WOOFI_ACCOUNT_ID": ACCOUNT, "WOOFI_REST_URL": "http://127.0.0.1:9/",
                                           "WOOFI_WS_PUBLIC_URL": "ws://h/p/{account_id}",
                                           "WOOFI_WS_PRIVATE_URL": "ws://h/q/{account_id}"})
    assert (rest, pub, priv) == ("http://127.0.0.1:9", f"ws://h/p/{ACCOUNT}", f"ws://h/q/{ACCOUNT}")
    # Public data without an account still has an id in the path.
    assert urls_for("mainnet", {})[1].endswith("/ws/stream/0x" + "0" * 64)
    with pytest.raises(ValueError):
        urls_for("paper", {})


def test_build_gateway_refuses_bad_keys_without_leaking_them(fake) -> None:
    limiter = DualRateLimiter(limits_from_env("woofi_pro", {}))
    rng = random.Random(1)
    good = env_for(fake)
    md = woofi.market_data("testnet", good, limiter, rng)
    other = "ed25519:" + b58encode(bytes(32))
    cases = {
        "missing": {**good, "WOOFI_ORDERLY_SECRET": ""},
        "account": {**good, "WOOFI_ACCOUNT_ID": "0x1234"},
        "secret": {**good, "WOOFI_ORDERLY_SECRET": SECRET[:-3] + "0Il"},  # characters outside base58
        "short": {**good, "WOOFI_ORDERLY_SECRET": "ed25519:" + b58encode(SEED[:8])},
        "mismatch": {**good, "WOOFI_ORDERLY_SECRET": other},
    }
    messages = {}
    for name, env in cases.items():
        with pytest.raises(GatewayError) as exc:
            woofi.build_gateway("testnet", env, limiter, md, NonceAllocator(), rng)
        messages[name] = str(exc.value)
    assert "WOOFI_ORDERLY_SECRET" in messages["missing"]
    assert "WOOFI_ACCOUNT_ID" in messages["account"]
    assert "WOOFI_ORDERLY_SECRET" in messages["secret"] and "WOOFI_ORDERLY_SECRET" in messages["short"]
    assert "does not match" in messages["mismatch"]
    for text in messages.values():
        for secret in (SECRET, SECRET[8:], SECRET[8:20], other[8:], SEED.hex()):
            assert secret not in text
        assert "0Il" not in text and "'0'" not in text
    with pytest.raises(GatewayError):
        woofi.build_gateway("paper", good, limiter, md, NonceAllocator(), rng)
    # The key may be given without its prefix.
    gw = woofi.build_gateway("testnet", {**good, "WOOFI_ORDERLY_KEY": KEY[len("ed25519:"):]}, limiter, md,
                             NonceAllocator(), rng)
    assert (gw.venue, gw.mode, gw.account, gw.nonces, gw.deadman) == ("woofi_pro", "testnet", ACCOUNT, None, True)
    assert gw.broker_id == "woofi_pro"
    gw.close()
    md.close()


# ---------------------------------------------------------------- signed REST


def test_signed_reads_accepted_and_parsed(fake) -> None:
    md, gw, _ = make(fake)

    async def main():
        inst = await md.load(["WOO", "BTC"])
        assert inst["WOO"] == Instrument("WOO", 0.00001, 0.01, 10.0)
        assert inst["BTC"].tick_size == 0.1 and inst["BTC"].lot_size == 0.00001
        with pytest.raises(GatewayError, match="DOGE"):
            await md.load(["DOGE"])
        assert await gw.fees_bps() == pytest.approx((2.0, 5.0))
        assert await gw.equity_usd() == 10000.0
        assert await gw.positions() == {}
        assert await gw.open_orders() == []
        assert await gw.user_fills() == []
        assert await gw.budget_note() is None
        book = await md.book_snapshot("WOO")
        assert book.snapshot and book.bids[0] == (30891, 246998) and book.asks[0] == (31075, 237963)

    run(main())
    assert fake.entries("bad_sig") == []
    paths = {(e["method"], e["path"]) for e in fake.entries("rest")}
    assert {("GET", "/v1/client/info"), ("GET", "/v1/positions"), ("GET", "/v1/orders"), ("GET", "/v1/trades"),
            ("GET", "/v1/orderbook/PERP_WOO_USDC")} <= paths
    assert gw.stats()["requests"] >= 8
    gw.close()
    md.close()


def test_tampered_or_stale_signatures_are_refused(fake) -> None:
    limiter = DualRateLimiter(limits_from_env("woofi_pro", FAST_LIMITS))
    impostor = OrderlySigner(ACCOUNT, bytes(32))
    impostor.orderly_key = KEY  # claims the registered key, signs with another one
    stale = OrderlyRest(fake.rest_url, limiter, SIGNER, clock=lambda: wall_ms() - 301_000)
    bad = OrderlyRest(fake.rest_url, limiter, impostor)
    good = OrderlyRest(fake.rest_url, limiter, SIGNER)

    async def main():
        for client, why in ((bad, "signature error"), (stale, "timestamp expired")):
            with pytest.raises(OrderlyError) as exc:
                await client.get("/v1/positions")
            assert exc.value.status == 401 and exc.value.code == -1002 and why in str(exc.value)
            assert "orderly-signature" not in str(exc.value)
        assert (await good.get("/v1/positions"))["success"] is True
        # A body changed after signing: refused.
        pq, body, headers = SIGNER.request(wall_ms(), "POST", "/v1/order/cancel_all_after",
                                           body={"trigger_after": 0})
        with pytest.raises(OrderlyError, match="signature error"):
            await good.lim.call("POST", pq, body.replace("0", "5000").encode(), headers)
        assert (await good.lim.call("POST", pq, body.encode(), headers))["success"] is True

    run(main())
    assert [e["why"] for e in fake.entries("bad_sig")] == ["signature error", "timestamp expired", "signature error"]
    for c in (stale, bad, good):
        c.close()


# ---------------------------------------------------------------- orders and fills


def test_place_cancel_open_orders_positions_and_fills(fake) -> None:
    md, gw, _ = make(fake)
    sink = Sink()

    async def main():
        await md.load(["WOO"])
        (priv,) = gw.private_streams(sink)
        async with Running(priv):
            await until(lambda: len(fake.entries("ws")) and any(
                e["event"] == "subscribe" and e["topic"] == "position" for e in fake.entries("ws")), what="subscribed")
            # A batch of two post-only quotes (one request), and a reduce-only order on its own.
            places = [place(cloid(1), BUY, 30800, 10000), place(cloid(2), SELL, 31200, 10000),
                      place(cloid(3), SELL, 31300, 5000, Tif.GTC, reduce_only=True)]
            groups = gw.split_places(places, True)
            assert [[p.cloid for p in g] for g in groups] == [[cloid(1), cloid(2)], [cloid(3)]]
            for g in groups:
                events, uncertain = await gw.send_places(g, charged=False)
                assert not uncertain
                assert all(isinstance(a, OrderAck) and a.status == OrderStatus.OPEN and a.venue_oid for a in events)
            assert {o["client_order_id"] for o in fake.resting()} == {cloid(1), cloid(2), cloid(3)}
            opened = await until(lambda: {e.cloid for e in sink.of(OrderAck) if e.status == OrderStatus.OPEN}
                                 >= {cloid(1), cloid(2), cloid(3)}, what="stream OPEN acks")
            assert opened
            orders = {o.cloid: o for o in await gw.open_orders()}
            assert orders[cloid(1)].px == 30800 and orders[cloid(1)].sz == 10000 and orders[cloid(1)].side == BUY
            assert orders[cloid(1)].tif == Tif.ALO and orders[cloid(3)].reduce_only

            # A post-only order that would cross: accepted by REST, refused on the stream.
            events, _ = await gw.send_places([place(cloid(4), BUY, 31100, 10000)], charged=False)
            assert events[0].status == OrderStatus.OPEN
            rej = await until(lambda: [e for e in sink.of(OrderAck) if e.cloid == cloid(4)
                                       and e.status == OrderStatus.REJECTED], what="post-only refusal")
            assert rej[0].reason.startswith("post-only would cross")
            # An order the venue refuses outright (off the tick grid is caught before; notional here).
            events, _ = await gw.send_places([place(cloid(5), BUY, 30000, 100)], charged=False)
            assert events[0].status == OrderStatus.REJECTED and "-1005" in events[0].reason
            # IOC crossing: a taker fill.
            await gw.send_places([place(cloid(6), SELL, 30891, 5000, Tif.IOC)], charged=False)
            taker = await until(lambda: [f for f in sink.of(Fill) if f.cloid == cloid(6)], what="IOC fill")
            assert taker[0].maker is False and taker[0].side == SELL and taker[0].px == 30891 and taker[0].sz == 5000

            # Our bid is traded through: a maker fill with the venue's trade id, fee and position.
            t = fake.trade_through("WOO", "BUY")
            fills = await until(lambda: [f for f in sink.of(Fill) if f.cloid == cloid(1)], what="maker fill")
            f = fills[0]
            assert (f.bot_id, f.fill_id, f.side, f.px, f.sz, f.maker) == ("bot-a", str(t["trade_id"]), BUY, 30800,
                                                                          10000, True)
            assert f.fee_usd == pytest.approx(30.8 * 0.0002)
            assert gw.pushed_positions["WOO"].qty == pytest.approx(50.0)  # -50 (IOC) + 100
            pos = await gw.positions()
            assert pos["WOO"].qty == pytest.approx(50.0)
            # REST fills carry the same ids: nothing new for accept_fill.
            rest_fills = {x.fill_id: x for x in await gw.user_fills()}
            assert rest_fills[f.fill_id].bot_id == "bot-a" and rest_fills[f.fill_id].cloid == cloid(1)
            assert not any(gw.accept_fill(x) for x in rest_fills.values())

            # Cancel by cloid: CANCEL_SENT gives no event; the stream brings CANCELLED.
            events, failed = await gw.send_cancels([Cancel("bot-a", "WOO", cloid(2))])
            assert (events, failed) == ([], False)
            await until(lambda: [e for e in sink.of(OrderAck) if e.cloid == cloid(2)
                                 and e.status == OrderStatus.CANCELLED], what="CANCELLED ack")
            cancelled = [e for e in sink.of(OrderAck) if e.cloid == cloid(2) and e.status == OrderStatus.CANCELLED]
            assert "post-only" not in cancelled[0].reason
            # An order that is gone: CancelFailed with the venue's text.
            events, failed = await gw.send_cancels([Cancel("bot-a", "WOO", cloid(2)), Cancel("bot-a", "WOO", cloid(1))])
            assert not failed and [type(e) for e in events] == [CancelFailed, CancelFailed]
            assert "-1006" in events[0].reason
            # How orders that left the book ended (reconcile asks when one vanished unseen).
            assert await gw.closed_status("WOO", cloid(1)) == (OrderStatus.FILLED, "FILLED")
            assert await gw.closed_status("WOO", cloid(2)) == (OrderStatus.CANCELLED, "CANCELLED")
            assert await gw.closed_status("WOO", cloid(3)) == (OrderStatus.OPEN, "NEW")
            assert await gw.closed_status("WOO", cloid(99)) is None
            # Cancel by venue id (strays).
            stray = [o for o in await gw.open_orders() if o.cloid == cloid(3)]
            assert await gw.cancel_open(stray) == [""]
            assert await gw.cancel_open(stray) != [""]
            assert fake.resting() == []

            # The dead man's switch: armed for ~60 s, then disarmed.
            assert await gw.schedule_cancel(wall_ms() + 60_000) == ""
            assert await gw.schedule_cancel(wall_ms() + 1_000) == ""  # clamped to the 5 s minimum
            assert await gw.schedule_cancel(None) == ""
            triggers = [e["trigger"] for e in fake.entries("deadman")]
            assert 55_000 <= triggers[0] <= 60_000 and triggers[1:] == [5_000, 0]
            fake.fail_next(1, status=500)
            err = await gw.schedule_cancel(None)
            assert "HTTP 500" in err and "-1000" in err
        stats = gw.stats()
        assert stats["places"] == 6 and stats["cancels"] == 3 and stats["ws_connections"] == 1

    run(main())
    assert sink.wire_errors == []
    orders = fake.entries("order")
    assert [o["batch"] for o in orders] == [True, False, False, False, False]
    assert orders[0]["types"] == ["POST_ONLY", "POST_ONLY"] and orders[1]["types"] == ["LIMIT"]
    gw.close()
    md.close()


def test_fills_attributed_after_a_restart(fake) -> None:
    md, gw, _ = make(fake)

    async def first():
        await md.load(["WOO"])
        await gw.send_places([place(cloid(11), BUY, 30800, 10000)], charged=False)

    run(first())
    t = fake.trade_through("WOO", "BUY")
    gw.close()
    md.close()
    # A fresh process: knows the cloid (from its DB) but not the venue's order id.
    md, gw, _ = make(fake)

    async def second():
        await md.load(["WOO"])
        gw.bot_of_cloid[cloid(11)] = "bot-a"
        fills = await gw.user_fills()
        assert [(f.bot_id, f.cloid, f.fill_id, f.sz, f.maker) for f in fills] == [
            ("bot-a", cloid(11), str(t["trade_id"]), 10000, True)]
        assert gw.accept_fill(fills[0]) and not gw.accept_fill(fills[0])
        n = len(fake.entries("rest"))
        await gw.user_fills()  # order id known now: no second order lookup
        assert len(fake.entries("rest")) == n + 1

    run(second())
    gw.close()
    md.close()


def test_orders_are_read_page_by_page(fake, monkeypatch) -> None:
    monkeypatch.setattr(woofi, "ORDERS_PAGE_SIZE", 2)
    md, gw, _ = make(fake)

    async def main():
        await md.load(["WOO"])
        for i in range(5):
            await gw.send_places([place(cloid(20 + i), BUY, 30000 - i, 10000)], charged=False)
        got = await gw.open_orders()
        assert sorted(o.cloid for o in got) == [cloid(20 + i) for i in range(5)]

    run(main())
    pages = [e["query"]["page"] for e in fake.entries("rest") if e["path"] == "/v1/orders"]
    assert pages == ["1", "2", "3"]
    gw.close()
    md.close()


# ---------------------------------------------------------------- book stream


def fake_book_in_units(fake: FakeWoofi, inst: Instrument) -> tuple[int, dict[int, int], dict[int, int]]:
    def f():
        b = fake.books[inst.coin]
        conv = lambda side: {int(p / Decimal(str(inst.tick_size))): int(q / Decimal(str(inst.lot_size)))  # noqa: E731
                             for p, q in b[side].items()}
        return fake.book_ts[inst.coin], conv("bids"), conv("asks")
    return fake.call(f)


class BookKeeper:
    """Applies BookUpdates like the core book does (snapshot replaces; size 0 deletes)."""

    def __init__(self, coin: str = "WOO") -> None:
        self.coin = coin
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.snapshots = 0
        self.problems: list[FeedProblem] = []
        self.stale = True

    def __call__(self, e: Any) -> None:
        if getattr(e, "coin", None) != self.coin:
            return
        if isinstance(e, FeedProblem):
            self.problems.append(e)
            self.stale = True
        elif isinstance(e, BookUpdate):
            if e.snapshot:
                self.bids, self.asks = dict(e.bids), dict(e.asks)
                self.snapshots += 1
                self.stale = False
            else:
                assert not self.stale, "a delta applied to a stale book"
                for side, rows in ((self.bids, e.bids), (self.asks, e.asks)):
                    for px, sz in rows:
                        if sz == 0:
                            side.pop(px, None)
                        else:
                            side[px] = sz


async def book_matches(fake: FakeWoofi, stream, coin: str, keeper: BookKeeper, timeout: float = 5.0) -> None:
    inst = stream.instruments[coin]

    def same():
        ts, bids, asks = fake_book_in_units(fake, inst)
        return (not keeper.stale and stream.sequencers[coin].book_ts == ts
                and keeper.bids == bids and keeper.asks == asks)
    await until(same, timeout, "our book equal to the venue's")


def test_book_chain_gap_feedproblem_and_resync(fake) -> None:
    md, gw, _ = make(fake)
    sink = Sink()
    keeper = BookKeeper()
    sink.on_event = keeper

    async def main():
        await md.load(["WOO", "BTC"])
        stream = md.market_stream(["WOO", "BTC"], sink)
        async with Running(stream):
            await until(lambda: keeper.snapshots >= 1 and len(sink.of(BookUpdate)) > 10, what="book + deltas")
            await book_matches(fake, stream, "WOO", keeper)
            assert keeper.problems == [], "no FeedProblem for the deltas before the first snapshot"
            trades_before = len(sink.of(TradePrint))
            fake.trade_through("WOO", "BUY")  # nothing of ours rests: no trade
            assert len(sink.of(TradePrint)) == trades_before
            # A delta is lost: FeedProblem, then a fresh snapshot and the chain goes on.
            snaps = keeper.snapshots
            fake.skip_update("WOO")
            await until(lambda: keeper.problems, what="a FeedProblem")
            assert keeper.problems[0].coin == "WOO" and "prevTs" in keeper.problems[0].message
            await until(lambda: keeper.snapshots > snaps and not keeper.stale, what="resync")
            await book_matches(fake, stream, "WOO", keeper)
            assert stream.gaps == 1
            # The venue stops answering WS snapshot requests: the REST book is used instead.
            fake.set_ws_requests(False)
            stream.snapshot_timeout_s = 0.3
            snaps = keeper.snapshots
            fake.skip_update("WOO")
            await until(lambda: keeper.snapshots > snaps and not keeper.stale, what="REST resync")
            assert stream.rest_resyncs == 1
            await book_matches(fake, stream, "WOO", keeper)
        requests = [e for e in fake.entries("ws") if e["event"] == "request"]
        assert len(requests) == 4  # WOO + BTC at connect, one per gap
        assert [e["via"] for e in fake.entries("snapshot")][-1] == "rest"
        topics = {e["topic"] for e in fake.entries("ws") if e["event"] == "subscribe"}
        assert topics == {"PERP_WOO_USDC@orderbookupdate", "PERP_WOO_USDC@trade",
                          "PERP_BTC_USDC@orderbookupdate", "PERP_BTC_USDC@trade"}

    run(main())
    assert sink.wire_errors == []
    gw.close()
    md.close()


def test_public_trades_are_streamed(fake) -> None:
    md, gw, _ = make(fake)
    sink = Sink()

    async def main():
        await md.load(["WOO"])
        stream = md.market_stream(["WOO"], sink)
        async with Running(stream):
            await until(lambda: sink.of(BookUpdate), what="book")
            await gw.send_places([place(cloid(30), BUY, 31075, 5000, Tif.GTC)], charged=False)  # lifts the ask
            prints = await until(lambda: sink.of(TradePrint), what="trade print")
            assert (prints[0].coin, prints[0].px, prints[0].sz, prints[0].aggressor) == ("WOO", 31075, 5000, BUY)

    run(main())
    gw.close()
    md.close()


def test_snapshot_without_keys_uses_the_websocket(fake) -> None:
    limiter = DualRateLimiter(limits_from_env("woofi_pro", FAST_LIMITS))
    md = woofi.market_data("testnet", fake.env(), limiter, random.Random(1))
    assert md.rest.signer is None

    async def main():
        await md.load(["NEAR"])
        book = await md.book_snapshot("NEAR")
        assert book.snapshot and book.bids[0] == (14990, 289) and book.asks[0] == (15000, 44)

    run(main())
    assert [e["via"] for e in fake.entries("snapshot")] == ["ws"]
    md.close()


# ---------------------------------------------------------------- reconnects and pings


def test_reconnect_reauths_with_a_fresh_timestamp_and_resubscribes(fake) -> None:
    md, gw, _ = make(fake)
    sink = Sink()
    keeper = BookKeeper()
    sink.on_event = keeper

    async def main():
        await md.load(["WOO"])
        pub = md.market_stream(["WOO"], sink)
        (priv,) = gw.private_streams(sink)
        async with Running(pub, priv):
            await until(lambda: keeper.snapshots == 1 and priv.authed, what="first connections")
            await asyncio.sleep(0.05)  # a later auth has a later timestamp
            assert fake.drop_ws() == 2
            await until(lambda: pub.connections == 2 and priv.connections == 2 and priv.authed, 10, "reconnects")
            await until(lambda: keeper.snapshots == 2, what="a fresh snapshot after the reconnect")
            await book_matches(fake, pub, "WOO", keeper)
            # Orders and fills flow on the new private connection.
            await gw.send_places([place(cloid(40), BUY, 30800, 10000)], charged=False)
            fake.trade_through("WOO", "BUY")
            await until(lambda: sink.of(Fill), what="a fill on the new connection")
        auths = [e for e in fake.entries("ws") if e["event"] == "auth"]
        assert [a["ok"] for a in auths] == [True, True] and auths[1]["ts"] > auths[0]["ts"]
        subs = [(e["topic"], e["private"]) for e in fake.entries("ws") if e["event"] == "subscribe"]
        assert sorted(subs) == sorted([("PERP_WOO_USDC@orderbookupdate", False), ("PERP_WOO_USDC@trade", False),
                                       ("executionreport", True), ("position", True)] * 2)
        assert sorted(sink.connects) == sorted([(pub.name, 1, True), (pub.name, 2, True),
                                                (priv.name, 1, False), (priv.name, 2, False)])
        assert sorted((s, m) for s, _, m in sink.disconnects[:2]) == [(priv.name, False), (pub.name, True)]
        assert gw.stats()["ws_connections"] == 4

    run(main())
    assert sink.wire_errors == []
    gw.close()
    md.close()


def test_server_pings_are_answered_and_bad_auth_reported(fake) -> None:
    md, gw, _ = make(fake)
    sink = Sink()

    async def main():
        await md.load(["WOO"])
        fake.set_ping_every(0.1)
        pub = md.market_stream(["WOO"], sink)
        (priv,) = gw.private_streams(sink)
        async with Running(pub, priv):
            await until(lambda: pub.pongs >= 2 and priv.pongs >= 2, what="pongs")
        pongs = [e["private"] for e in fake.entries("ws") if e["event"] == "pong"]
        assert pongs.count(True) >= 2 and pongs.count(False) >= 2
        # An impostor key: the auth is refused, reported, and the connection closed for a retry.
        impostor = OrderlySigner(ACCOUNT, bytes(32))
        impostor.orderly_key = KEY
        gw.signer = impostor
        bad_sink = Sink()
        (bad,) = gw.private_streams(bad_sink)
        async with Running(bad):
            await until(lambda: bad_sink.wire_errors, what="auth refusal")
            await until(lambda: bad_sink.disconnects, what="the refused connection closed")
        assert bad_sink.wire_errors[0].message_type == "auth" and not bad.authed
        assert not any(e.get("topic") == "executionreport" and e["event"] == "subscribe" and "error" not in e
                       for e in fake.entries("ws")[-6:] if e["event"] == "subscribe" and e["private"])

    run(main())
    gw.close()
    md.close()


# ---------------------------------------------------------------- rate limits and secrets


def test_429_is_rate_limited_with_limiter_backoff(fake) -> None:
    calls: list[tuple[str, int, bool]] = []
    md, gw, limiter = make(fake, on_rate_limited=lambda path, until_ms, new: calls.append((path, until_ms, new)))

    async def main():
        await md.load(["WOO"])
        fake.fail_next(1)
        events, uncertain = await gw.send_places([place(cloid(50), BUY, 30800, 10000)], charged=False)
        assert not uncertain and events[0].status == OrderStatus.REJECTED
        assert "429" in events[0].reason and "rate limited" in events[0].reason
        assert limiter.in_backoff(wall_ms())
        assert calls and calls[0][0] == "POST /v1/order" and calls[0][2] is True
        # During the back-off placements wait; reads are retried after it.
        fake.fail_next(1)
        assert await gw.open_orders() == []
        # Cancels during a 429: failed (no answer), to be retried.
        await asyncio.sleep(0.3)
        fake.fail_next(1)
        events, failed = await gw.send_cancels([Cancel("bot-a", "WOO", cloid(50))], charged=False)
        assert failed and events == []
        # A direct action raises RateLimited (a subclass of the shared error).
        await asyncio.sleep(0.5)
        fake.fail_next(1)
        with pytest.raises(RateLimited):
            await gw.rest.action("POST", "/v1/order/cancel_all_after", RequestKind.CANCEL, body={"trigger_after": 0})
        assert gw.stats()["rate_limited"] == 4
        # A server error on a placement: the outcome is unknown (uncertain -> reconcile), not a reject.
        fake.fail_next(1, status=502)
        assert await gw.send_places([place(cloid(51), BUY, 30800, 10000)], charged=False) == ([], True)
        assert cloid(51) not in gw.inflight

    run(main())
    assert len(fake.entries("http_error")) == 5
    gw.close()
    md.close()


def test_secrets_never_in_errors_or_logs(fake, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    md, gw, _ = make(fake)
    texts: list[str] = []

    async def main():
        await md.load(["WOO"])
        impostor = OrderlySigner(ACCOUNT, bytes(32))
        impostor.orderly_key = KEY
        gw.rest.signer = impostor
        texts.append(await gw.schedule_cancel(None))
        events, _ = await gw.send_places([place(cloid(60), BUY, 30800, 10000)], charged=False)
        texts.append(events[0].reason)
        events, _ = await gw.send_cancels([Cancel("bot-a", "WOO", cloid(60))])
        texts.extend(str(e) for e in events)
        texts.extend(await gw.cancel_open([]))
        gw.rest.signer = SIGNER
        fake.fail_next(1, status=500)
        texts.append(await gw.schedule_cancel(None))
        # A dead endpoint: transport errors.
        dead = OrderlyRest("http://127.0.0.1:9", gw.limiter, SIGNER)
        try:
            await dead.action("POST", "/v1/order", RequestKind.PLACE, body={"x": 1})
        except Exception as e:  # noqa: BLE001
            texts.append(str(e))
        dead.close()

    run(main())
    texts.append(caplog.text)
    assert any("signature error" in t for t in texts) and any("HTTP 500" in t for t in texts)
    sig = SIGNER.headers(wall_ms(), "GET", "/v1/positions")["orderly-signature"]
    for t in texts:
        for secret in (SECRET, SECRET[8:], SEED.hex(), sig[:20], "orderly-signature"):
            assert secret not in t, t
    gw.close()
    md.close()


# ---------------------------------------------------------------- shared fixtures


def test_every_orderly_fixture_goes_through_the_stream_handlers(fake) -> None:
    files = fixture_files("orderly")
    if not files:
        pytest.skip("../shared/fixtures/orderly not found (the shared dir beside the repo root)")
    md, gw, _ = make(fake)
    for coin, tick, lot in (("WOO", 0.00001, 0.01), ("NEAR", 0.01, 0.00000001), ("MATIC", 0.0001, 1.0)):
        md.instruments[coin] = Instrument(coin, tick, lot)
    seen: dict[str, list] = {}

    async def main():
        pub_sink, priv_sink = Sink(), Sink()
        pub = md.market_stream(["WOO", "NEAR", "MATIC"], pub_sink)
        (priv,) = gw.private_streams(priv_sink)
        for path in files:
            doc = json.loads(path.read_text())
            for part in ("msg", "reply"):
                if part not in doc:
                    continue
                text = json.dumps(doc[part])
                for name, stream, sink in (("pub", pub, pub_sink), ("priv", priv, priv_sink)):
                    n_ev, n_err = len(sink.events), len(sink.wire_errors)
                    stream.handle(text, 1_700_000_000_000)  # must never raise
                    seen[f"{path.stem}.{part}.{name}"] = sink.events[n_ev:] + sink.wire_errors[n_err:]
        pub.handle("not json", 1)
        assert isinstance(pub_sink.wire_errors[-1], WireError)
        # The executionreport fixture is of someone else's order (no client order id) but its
        # bot attribution still works for one of ours.
        report = json.loads((files[0].parent / "ws_executionreport.json").read_text())["msg"]
        report["data"].update(clientOrderId=cloid(70), status="PARTIAL_FILLED", tradeId=55, executedPrice=0.7699,
                              executedQuantity=3000.0, totalExecutedQuantity=3000.0, fee=0.46, maker=True)
        gw.bot_of_cloid[cloid(70)] = "bot-m"
        fills = gw.parse_private(report, 1)
        assert fills == [Fill("bot-m", "MATIC", cloid(70), "55", BUY, 7699, 3000, True, 0.46, 1704679472448, 4029)]
        assert gw.parse_private(report, 2) == []  # the same trade again: deduplicated

    run(main())
    by = {k: v for k, v in seen.items()}
    assert [type(e) for e in by["ws_orderbook.msg.pub"]] == [BookUpdate]
    assert by["ws_orderbook.msg.pub"][0].snapshot and by["ws_orderbook.msg.pub"][0].coin == "WOO"
    assert [type(e) for e in by["ws_trade.msg.pub"]] == [TradePrint]
    assert [type(e) for e in by["ws_request_orderbook.reply.pub"]] == [BookUpdate]
    # A delta before any snapshot (and no connection that asked for one): the book is unusable.
    assert [type(e) for e in by["ws_orderbookupdate.msg.pub"]] == [FeedProblem]
    assert by["ws_executionreport.msg.priv"] == []  # not one of our orders
    assert by["ws_bbo.msg.pub"] == [] and by["ws_ping.msg.pub"] == [] and by["ws_ping.reply.pub"] == []
    assert [type(e) for e in by["ws_error.msg.pub"]] == [WireError]
    assert "invalid symbol" in str(by["ws_error.msg.pub"][0])
    assert by["ws_auth.reply.priv"] == []
    # Client frames and REST envelopes are not stream messages: reported, never raised.
    assert all(isinstance(e, WireError) for e in by["rest_error.msg.pub"])
    gw.close()
    md.close()


# ---------------------------------------------------------------- pure helpers of the live adapter


def test_fee_units_batch_replies_and_post_only_reasons() -> None:
    from mm_bot.venues.woofi_pro import mapping

    assert mapping.fee_rate_bps(0.0002) == pytest.approx(2.0)
    assert mapping.fee_rate_bps(2) == 2.0 and mapping.fee_rate_bps("-0.00005") == pytest.approx(-0.5)
    assert mapping.fee_rate_bps(0) == 0.0
    places = [place(cloid(1), BUY, 30800, 10000), place(cloid(2), SELL, 31200, 10000),
              place(cloid(3), SELL, 31300, 10000)]
    reply = {"success": True, "timestamp": 1, "data": {"rows": [
        {"order_id": 7, "client_order_id": cloid(1), "error_message": "none"},
        {"order_id": None, "client_order_id": cloid(2), "error_message": "price out of range"}]}}
    acks, missing = mapping.parse_batch_order_response(reply, places, 5)
    assert [(a.cloid, a.status, a.venue_oid, a.reason) for a in acks] == [
        (cloid(1), OrderStatus.OPEN, "7", ""), (cloid(2), OrderStatus.REJECTED, "", "price out of range")]
    assert missing == [places[2]]
    acks, missing = mapping.parse_batch_order_response(
        {"success": False, "code": -1005, "message": "bad"}, places, 5)
    assert {a.status for a in acks} == {OrderStatus.REJECTED} and acks[0].reason == "-1005: bad" and not missing
    with pytest.raises(ValueError):
        mapping.batch_order_body([place(cloid(1), BUY, 1, 1, reduce_only=True)], {"WOO": Instrument("WOO", 1e-5, .01)})
    assert woofi._reason("Post only order would take liquidity").startswith("post-only would cross")
    assert woofi._reason("insufficient margin") == "insufficient margin"
    assert woofi._reason("", post_only_order=True).startswith("post-only would cross")
    assert mapping.cancel_sent({"success": True, "data": {"status": "CANCEL_SENT"}}) == ""
    assert mapping.cancel_sent({"success": False, "code": -1006, "message": "gone"}) == "-1006: gone"


# ---------------------------------------------------------------- in-place edits (requote by modify)


def modify(cl: str, side: int, px: int, sz: int, tif: Tif = Tif.ALO, coin: str = "WOO") -> Modify:
    return Modify("bot-a", coin, cl, side, px, sz, tif)


def test_edit_body_reproduces_the_signed_put_vector() -> None:
    """mapping.edit_order_body + the signer give the connector's PUT /v1/order bytes and headers."""
    from mm_bot.venues.woofi_pro import mapping

    from ._shared_dirs import VECTORS, load_json

    data = load_json(VECTORS / "vectors_orderly.json")
    meta = data["meta"]
    v = next(x for x in data["vectors"] if x["name"] == "put_edit_order")
    inst = Instrument("BTC", tick_size=0.5, lot_size=0.001)
    m = Modify("b1", "BTC", "mm-0001", BUY, 120002, 2, Tif.ALO)  # 60001.0 x 0.002
    body = mapping.edit_order_body(m, "123456", inst)
    signer = OrderlySigner(meta["orderly_account_id"], meta["orderly_secret"])
    pq, text, hdr = signer.request(meta["timestamp_ms"], "PUT", "/v1/order", body=body, urlsafe=False)
    assert (pq, text) == (v["path_with_query"], v["body"])
    assert hdr == v["headers_sent_by_connector"]
    _, _, hdr = signer.request(meta["timestamp_ms"], "PUT", "/v1/order", body=body)
    assert hdr["orderly-signature"] == v["signature_base64url"]
    # LIMIT for GTC; bad ids and sizes are refused before anything is sent.
    assert mapping.edit_order_body(modify("c", SELL, 30800, 100, Tif.GTC), "7", WOO_INST)["order_type"] == "LIMIT"
    for bad_oid, bad in (("x1", m), ("1", Modify("b1", "BTC", "c", BUY, 0, 2, Tif.ALO)),
                         ("1", Modify("b1", "ETH", "c", BUY, 1, 2, Tif.ALO))):
        with pytest.raises(ValueError):
            mapping.edit_order_body(bad, bad_oid, inst)
    assert mapping.edit_sent({"success": True, "data": {"status": "EDIT_SENT"}, "timestamp": 1}) == ""
    assert mapping.edit_sent({"success": False, "code": -1006, "message": "gone"}) == "-1006: gone"
    assert "unexpected" in mapping.edit_sent({"success": True, "data": {"status": "HUH"}})


WOO_INST = Instrument("WOO", tick_size=0.00001, lot_size=0.01)


async def _subscribed(fake: FakeWoofi) -> None:
    await until(lambda: any(e["event"] == "subscribe" and e.get("topic") == "executionreport"
                            for e in fake.entries("ws")), what="subscribed")


def _resting(fake: FakeWoofi, cl: str) -> dict | None:
    return next((o for o in fake.resting() if o["client_order_id"] == cl), None)


def test_edit_moves_the_order_and_never_acks_a_cancel(fake, monkeypatch) -> None:
    """An accepted edit: EDIT_SENT gives no event, the stream's report of the new price gives
    OrderAck(OPEN) stamped with the local clock; with every report style the venue may use (a live
    NEW, REPLACED, or CANCELLED + NEW of a new order id) no CANCELLED ack comes out; fills keep
    flowing, deduplicated."""
    monkeypatch.setattr(woofi, "EDIT_CANCEL_HOLD_S", 0.3)
    md, gw, limiter = make(fake)
    sink = Sink()
    c = cloid(70)

    async def edit_and_ack(px: int, sz: int, rest: int) -> OrderAck:
        sent = wall_ms()
        n = len(sink.events)
        events, uncertain = await gw.send_modifies([(modify(c, BUY, px, sz), rest)])
        assert (events, uncertain) == ([], False)
        acks = await until(lambda: [e for e in sink.events[n:] if isinstance(e, OrderAck) and e.cloid == c],
                           what="the edit's ack")
        ack = acks[0]
        assert ack.status == OrderStatus.OPEN and ack.ts_ms >= sent and ack.venue_oid
        assert ack.ts_ms <= wall_ms()
        return ack

    async def main():
        await md.load(["WOO"])
        (priv,) = gw.private_streams(sink)
        async with Running(priv):
            await _subscribed(fake)
            events, _ = await gw.send_places([place(c, BUY, 30800, 10000)], charged=False)
            oid = events[0].venue_oid
            await until(lambda: [e for e in sink.of(OrderAck) if e.cloid == c], what="stream NEW")
            ack = await edit_and_ack(30810, 10000, 10000)
            assert ack.venue_oid == oid  # edited in place: same order id
            o = _resting(fake, c)
            assert (Decimal(o["price"]), Decimal(o["quantity"]), o["order_id"]) == (Decimal("0.3081"), 100, int(oid))
            # A smaller size at the same price.
            await edit_and_ack(30810, 8000, 8000)
            assert Decimal(_resting(fake, c)["quantity"]) == 80

            fake.set_edit_style("REPLACED")
            await edit_and_ack(30805, 8000, 8000)
            assert Decimal(_resting(fake, c)["price"]) == Decimal("0.30805")

            fake.set_edit_style("cancel_replace")
            ack = await edit_and_ack(30801, 8000, 8000)
            o = _resting(fake, c)
            assert Decimal(o["price"]) == Decimal("0.30801") and str(o["order_id"]) == ack.venue_oid != oid
            assert gw.oid_of_cloid[c] == ack.venue_oid  # later edits and cancels use the new id
            await asyncio.sleep(0.5)  # longer than the hold: the replaced order's CANCELLED stays held

            # Fills keep flowing: one Fill at the new price, once.
            t = fake.trade_through("WOO", "BUY")
            fills = await until(lambda: [f for f in sink.of(Fill) if f.cloid == c], what="the fill")
            assert fills[0].px == 30801 and fills[0].sz == 8000 and fills[0].fill_id == str(t["trade_id"])
            await asyncio.sleep(0.1)
            assert len([f for f in sink.of(Fill) if f.cloid == c]) == 1

    run(main())
    mine = [e for e in sink.of(OrderAck) if e.cloid == c]
    assert OrderStatus.CANCELLED not in {e.status for e in mine}, "an edit must never look like a cancel"
    assert not sink.of(ModifyFailed) and sink.wire_errors == []
    edits = fake.entries("edit")
    assert len(edits) == 4 and all(e["ok"] and e["applied"] for e in edits)
    assert fake.entries("bad_sig") == []
    assert gw.stats()["modifies"] == 4 and gw.editing == {}
    gw.close()
    md.close()


def test_edit_refusals_post_only_unknown_gone_429_and_5xx(fake) -> None:
    """A POST_ONLY edit that would cross is refused on the stream (the order rests unchanged):
    ModifyFailed "post-only would cross"; an unknown order id is not sent; an order that is gone
    gets the venue's text; a 429 refuses that edit and the rest of the call and backs the limiter
    off; a 5xx is uncertain (no event)."""
    md, gw, limiter = make(fake)
    sink = Sink()
    c1, c2, c3 = cloid(80), cloid(81), cloid(82)

    async def main():
        await md.load(["WOO"])
        (priv,) = gw.private_streams(sink)
        async with Running(priv):
            await _subscribed(fake)
            for cl, side, px in ((c1, BUY, 30800), (c2, SELL, 31200), (c3, BUY, 30700)):
                events, _ = await gw.send_places([place(cl, side, px, 10000)], charged=False)
                assert events[0].status == OrderStatus.OPEN
            await until(lambda: len([e for e in sink.of(OrderAck) if e.status == OrderStatus.OPEN]) >= 3,
                        what="stream NEW x3")
            n_acks = len(sink.of(OrderAck))

            # Post-only cross: bid moved above the best ask (0.31075).
            events, uncertain = await gw.send_modifies([(modify(c1, BUY, 31100, 10000), 10000)])
            assert (events, uncertain) == ([], False)
            failed = await until(lambda: sink.of(ModifyFailed), what="the post-only refusal")
            assert failed[0].cloid == c1 and failed[0].reason.startswith("post-only would cross")
            assert Decimal(_resting(fake, c1)["price"]) == Decimal("0.308")  # unchanged
            assert len(sink.of(OrderAck)) == n_acks, "a refused edit is no ack (neither REJECTED nor OPEN)"
            assert c1 not in gw.editing

            # Unknown venue order id: not sent.
            events, uncertain = await gw.send_modifies([(modify(cloid(99), BUY, 30800, 10000), 10000)])
            assert not uncertain and [(type(e), e.reason) for e in events] == [
                (ModifyFailed, "not sent: venue order id unknown")]
            # Nothing left to rest: not sent.
            events, _ = await gw.send_modifies([(modify(c1, BUY, 30800, 10000), 0)])
            assert events[0].reason.startswith("not sent:")
            # An order that is gone (cancelled): the venue's refusal text.
            await gw.send_cancels([Cancel("bot-a", "WOO", c3)], charged=False)
            await until(lambda: _resting(fake, c3) is None, what="c3 cancelled")
            events, uncertain = await gw.send_modifies([(modify(c3, BUY, 30710, 10000), 10000)])
            assert not uncertain and isinstance(events[0], ModifyFailed)
            assert "-1006" in events[0].reason and "already canceled" in events[0].reason
            assert c3 not in gw.editing

            # 429: the first edit refused by the venue, the second not sent; the limiter backs off.
            n_edits = len(fake.entries("edit"))
            fake.fail_next(1)
            events, uncertain = await gw.send_modifies([(modify(c1, BUY, 30790, 10000), 10000),
                                                        (modify(c2, SELL, 31210, 10000), 10000)])
            assert not uncertain and [e.cloid for e in events] == [c1, c2]
            assert all(isinstance(e, ModifyFailed) and e.reason.startswith("rate limited (HTTP 429)")
                       for e in events)
            assert limiter.in_backoff(wall_ms())
            assert len(fake.entries("edit")) == n_edits and gw.editing == {}
            await asyncio.sleep(0.3)

            # 5xx: the outcome is unknown -> uncertain, no event; the edit stays expected.
            fake.fail_next(1, status=502)
            assert await gw.send_modifies([(modify(c2, SELL, 31210, 10000), 10000)]) == ([], True)
            assert c2 in gw.editing and c2 not in gw.inflight
            # Charged here when the caller did not.
            events, uncertain = await gw.send_modifies([(modify(c2, SELL, 31220, 10000), 10000)], charged=False)
            assert (events, uncertain) == ([], False)
            ack = await until(lambda: [e for e in sink.of(OrderAck) if e.cloid == c2 and e.status == OrderStatus.OPEN
                                       and Decimal(_resting(fake, c2)["price"]) == Decimal("0.3122")], what="c2 ack")
            assert ack

    run(main())
    assert not [e for e in sink.of(OrderAck) if e.cloid in (c1, c2) and e.status != OrderStatus.OPEN]
    assert sink.wire_errors == []
    gw.close()
    md.close()


def test_edit_reports_parsed_defensively(fake, monkeypatch) -> None:
    """Reports of an order with an edit in flight, fed straight to the parser: a late report at
    the old price is not the edit's answer; a fill at the new price acks the edit then fills; a
    REJECTED report is a ModifyFailed (never a REJECTED ack); a CANCELLED not followed by a
    replacement is delivered after the hold (the order is gone), one after our own cancel at once."""
    monkeypatch.setattr(woofi, "EDIT_CANCEL_HOLD_S", 0.05)
    md, gw, _ = make(fake)
    sink = Sink()

    def report(cl: str, status: str, px: float, qty: float, trade_id: int = 0, executed: float = 0.0,
               total: float = 0.0, reason: str = "", oid: int = 555) -> dict:
        return {"topic": "executionreport", "ts": 1, "data": {
            "symbol": "PERP_WOO_USDC", "clientOrderId": cl, "orderId": oid, "type": "POST_ONLY", "side": "BUY",
            "quantity": qty, "price": px, "tradeId": trade_id, "executedPrice": px if trade_id else 0.0,
            "executedQuantity": executed, "fee": 0.0, "feeAsset": "USDC", "totalExecutedQuantity": total,
            "avgExecutedPrice": 0, "status": status, "reason": reason, "timestamp": 1, "maker": True}}

    async def main():
        await md.load(["WOO"])
        gw.private_streams(sink)  # the sink for released cancels; not connected
        for n in range(4):
            gw.track(place(cloid(n), BUY, 30800, 10000))
            gw._learn(str(555 + n), cloid(n))
        # A late NEW at the old price, then a partial fill at the new price with the edit's size.
        gw.editing[cloid(0)] = woofi._Edit(modify(cloid(0), BUY, 30810, 10000), 10000, "555", wall_ms())
        assert gw.parse_private(report(cloid(0), "NEW", 0.308, 100.0), 1234) == []
        out = gw.parse_private(report(cloid(0), "PARTIAL_FILLED", 0.3081, 100.0, 42, 30.0, 30.0), 1234)
        assert [type(e) for e in out] == [OrderAck, Fill]
        assert out[0].status == OrderStatus.OPEN and out[0].ts_ms == 1234 and out[0].venue_oid == "555"
        assert out[1].sz == 3000 and cloid(0) not in gw.editing
        assert gw.parse_private(report(cloid(0), "PARTIAL_FILLED", 0.3081, 100.0, 42, 30.0, 30.0), 1300) == []
        # A partially filled order's edit report: PARTIAL_FILLED with nothing executed, remaining size.
        gw.editing[cloid(0)] = woofi._Edit(modify(cloid(0), BUY, 30820, 9000), 6000, "555", wall_ms())
        out = gw.parse_private(report(cloid(0), "PARTIAL_FILLED", 0.3082, 60.0, 0, 0.0, 30.0), 1400)
        assert [(type(e), e.status) for e in out] == [(OrderAck, OrderStatus.OPEN)]

        # REJECTED for an edit: ModifyFailed, tagged when post-only.
        gw.editing[cloid(1)] = woofi._Edit(modify(cloid(1), BUY, 31100, 10000), 10000, "556", wall_ms())
        out = gw.parse_private(report(cloid(1), "REJECTED", 0.308, 100.0, oid=556,
                                      reason="post only order would take liquidity"), 1500)
        assert [type(e) for e in out] == [ModifyFailed] and out[0].reason.startswith("post-only would cross")
        gw.editing[cloid(1)] = woofi._Edit(modify(cloid(1), BUY, 30900, 10000, Tif.GTC), 10000, "556", wall_ms())
        out = gw.parse_private(report(cloid(1), "REJECTED", 0.308, 100.0, oid=556, reason="price out of range")
                               | {}, 1500)
        assert out[0].reason == "edit refused: price out of range"

        # CANCELLED with no replacement after it: held, then ModifyFailed + CANCELLED (the order is gone).
        gw.editing[cloid(2)] = woofi._Edit(modify(cloid(2), BUY, 30810, 10000), 10000, "557", wall_ms())
        assert gw.parse_private(report(cloid(2), "CANCELLED", 0.308, 100.0, oid=557, reason="margin"), 1600) == []
        await until(lambda: sink.events, timeout=2, what="the released cancel")
        assert [type(e) for e in sink.events] == [ModifyFailed, OrderAck]
        assert sink.events[1].status == OrderStatus.CANCELLED and cloid(2) not in gw.editing
        # Our own cancel while an edit is in flight: the CANCELLED ack at once.
        gw.editing[cloid(3)] = woofi._Edit(modify(cloid(3), BUY, 30810, 10000), 10000, "558", wall_ms())
        gw.cancel_requested.add(cloid(3))
        out = gw.parse_private(report(cloid(3), "CANCELLED", 0.308, 100.0, oid=558), 1700)
        assert [(type(e), e.status) for e in out] == [(OrderAck, OrderStatus.CANCELLED)]
        # A REPLACED status is understood outside an edit too (never a WireError).
        assert gw.parse_private(report(cloid(3), "REPLACED", 0.308, 100.0, oid=558), 1800)[0].status == \
            OrderStatus.OPEN

    run(main())
    gw.close()
    md.close()
