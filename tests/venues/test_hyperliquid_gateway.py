"""The Hyperliquid gateway in-process against the local fake: reconcile tells filled from cancelled
by /info orderStatus for orders that left the book while nobody was listening."""

from __future__ import annotations

import asyncio
import random

import pytest

from mm_bot.core.ratelimit import DEFAULT_LIMITS, DualRateLimiter
from mm_bot.core.types import OrderAck, OrderStatus

fakes = pytest.importorskip("tests.fakes.hyperliquid")
if not fakes.FIXTURES.exists():
    pytest.skip(f"shared fixtures not found: {fakes.FIXTURES}", allow_module_level=True)

from eth_account import Account  # noqa: E402

from mm_bot.venues.hyperliquid.gateway import build_gateway, market_data  # noqa: E402

SECRET = "0x" + "11" * 32
ACCOUNT = "0x" + "22" * 20
FILLED = "0x" + "0a" * 16
CANCELLED = "0x" + "0b" * 16
UNKNOWN = "0x" + "0c" * 16
RESTING = "0x" + "0d" * 16


def test_reconcile_reads_how_gone_orders_ended():
    fake = fakes.FakeHyperliquid(Account.from_key(SECRET).address, ACCOUNT).start()
    try:
        env = {"HL_SECRET_KEY": SECRET, "HL_ACCOUNT_ADDRESS": ACCOUNT, "HL_REST_URL": fake.rest_url,
               "HL_WS_URL": fake.ws_url}

        async def main():
            limiter = DualRateLimiter(DEFAULT_LIMITS["hyperliquid"])
            rng = random.Random(1)
            md = market_data("testnet", env, limiter, rng)
            gw = build_gateway("testnet", env, limiter, md, None, rng)
            try:
                await md.load(["DYDX"])
                filled = fake.add_resting("DYDX", "B", "0.5", "100", FILLED)
                fake.fill_order(filled)
                gone = fake.add_resting("DYDX", "A", "9", "100", CANCELLED)
                fake.call(lambda: fake._push_order_update(fake.orders.pop(gone), "canceled"))
                fake.add_resting("DYDX", "B", "0.4", "100", RESTING)
                live = {c: ("b1", "DYDX", OrderStatus.OPEN, False) for c in (FILLED, CANCELLED, UNKNOWN, RESTING)}
                for c in live:
                    gw.bot_of_cloid[c] = "b1"
                return await gw.reconcile(live, with_fills=False)
            finally:
                gw.close()

        res = asyncio.run(main())
    finally:
        fake.stop()
    acks = {e.cloid: e for e in res.events if isinstance(e, OrderAck)}
    assert acks[FILLED].status == OrderStatus.FILLED and "filled" in acks[FILLED].reason
    assert acks[CANCELLED].status == OrderStatus.CANCELLED and "canceled" in acks[CANCELLED].reason
    assert acks[UNKNOWN].status == OrderStatus.CANCELLED and "not open on the venue" in acks[UNKNOWN].reason
    assert RESTING not in acks, "an order still resting is left alone"
    assert [o.cloid for o in res.open_orders] == [RESTING]
    assert res.open_orders[0].px == 40000 and res.open_orders[0].sz == 1000  # DYDX: tick 1e-5, lot 0.1


def test_reconcile_reads_only_recent_fills_after_the_first_call():
    """Start-up recovery reads userFills (the latest 2000); later reads use userFillsByTime from a
    little before the newest fill, so a long history is not charged again on every reconcile."""
    fake = fakes.FakeHyperliquid(Account.from_key(SECRET).address, ACCOUNT).start()
    try:
        env = {"HL_SECRET_KEY": SECRET, "HL_ACCOUNT_ADDRESS": ACCOUNT, "HL_REST_URL": fake.rest_url,
               "HL_WS_URL": fake.ws_url}

        async def main():
            limiter = DualRateLimiter(DEFAULT_LIMITS["hyperliquid"])
            rng = random.Random(1)
            md = market_data("testnet", env, limiter, rng)
            gw = build_gateway("testnet", env, limiter, md, None, rng)
            try:
                await md.load(["DYDX"])
                gw.bot_of_cloid[FILLED] = "b1"
                first = await gw.user_fills()
                oid = fake.add_resting("DYDX", "B", "0.5", "100", FILLED)
                fake.fill_order(oid)
                second = await gw.user_fills()
                return first, second
            finally:
                gw.close()

        first, second = asyncio.run(main())
        reads = [e["type"] for e in fake.entries("info") if e["type"].startswith("userFills")]
    finally:
        fake.stop()
    assert reads == ["userFills", "userFillsByTime"]
    assert len(first) > 100, "the first read is the whole recent history"
    assert [f.cloid for f in second] == [FILLED] and second[0].bot_id == "b1"
