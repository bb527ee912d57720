"""Tests for mm_bot.core.compliance: self-match, loop guard, amend limiter, wallet uniqueness."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mm_bot.core.compliance import (
    AmendLimiter,
    LoopGuard,
    RestingOrder,
    SelfMatchRegistry,
    WalletClaim,
    check_unique_wallets,
    key_fingerprint,
)
from mm_bot.core.types import BUY, SELL, Place

T0 = 1_700_000_000_000


# ---------------------------------------------------------------- self-match


def test_self_match_across_bots_of_one_account():
    reg = SelfMatchRegistry()
    reg.register(RestingOrder("acct", "BTC", "s1", SELL, 100, "bot1"))
    reg.register(RestingOrder("acct", "BTC", "b1", BUY, 95, "bot2"))
    assert reg.would_self_match("acct", "BTC", BUY, 100)
    assert reg.would_self_match("acct", "BTC", BUY, 101)
    assert not reg.would_self_match("acct", "BTC", BUY, 99)
    assert reg.would_self_match("acct", "BTC", SELL, 95)
    assert not reg.would_self_match("acct", "BTC", SELL, 96)
    assert not reg.would_self_match("other", "BTC", BUY, 200)  # another account
    assert not reg.would_self_match("acct", "ETH", BUY, 200)  # another coin
    assert reg.best("acct", "BTC", SELL) == 100 and reg.best("acct", "BTC", BUY) == 95
    assert reg.remove("s1") and not reg.remove("s1")
    assert not reg.would_self_match("acct", "BTC", BUY, 1000)
    assert len(reg) == 1
    reg.register(RestingOrder.of_place("acct", Place("bot3", "BTC", "p1", SELL, 97, 2)))
    assert reg.would_self_match("acct", "BTC", BUY, 97)


def test_self_match_duplicate_prices_and_amend():
    reg = SelfMatchRegistry()
    reg.register(RestingOrder("a", "BTC", "s1", SELL, 100))
    reg.register(RestingOrder("a", "BTC", "s2", SELL, 100))
    reg.register(RestingOrder("a", "BTC", "s3", SELL, 104))
    reg.remove("s1")
    assert reg.best("a", "BTC", SELL) == 100  # s2 still rests there
    reg.register(RestingOrder("a", "BTC", "s2", SELL, 103))  # amend s2: 100 -> 103
    assert reg.best("a", "BTC", SELL) == 103
    assert not reg.would_self_match("a", "BTC", BUY, 102)
    reg.remove("s2")
    assert reg.best("a", "BTC", SELL) == 104


# (bot, side, price offset, cancel?: a random existing order of that bot is cancelled instead)
quote_step = st.tuples(st.integers(0, 1), st.sampled_from([BUY, SELL]), st.integers(-10, 10), st.booleans())


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(quote_step, min_size=1, max_size=120), seed=st.randoms(use_true_random=False))
def test_two_bots_on_one_account_never_cross_each_other(steps, seed):
    reg = SelfMatchRegistry()
    live: dict[str, RestingOrder] = {}
    n = 0
    for bot, side, off, cancel in steps:
        mine = sorted(c for c, o in live.items() if o.bot_id == f"bot{bot}")
        if cancel and mine:
            cloid = seed.choice(mine)
            assert reg.remove(cloid)
            del live[cloid]
            continue
        px = 1000 + off
        brute = any(o.side == -side and (px >= o.px if side == BUY else px <= o.px) for o in live.values())
        assert reg.would_self_match("acct", "BTC", side, px) == brute
        if brute:
            continue
        n += 1
        o = RestingOrder("acct", "BTC", f"c{n}", side, px, f"bot{bot}")
        reg.register(o)
        live[o.cloid] = o
        buys = [o.px for o in live.values() if o.side == BUY]
        sells = [o.px for o in live.values() if o.side == SELL]
        if buys and sells:
            assert max(buys) < min(sells)
        assert reg.best("acct", "BTC", BUY) == (max(buys) if buys else 0)
        assert reg.best("acct", "BTC", SELL) == (min(sells) if sells else 0)


# ---------------------------------------------------------------- loop guard


def test_loop_guard_blocks_reversal_inside_window():
    g = LoopGuard(min_holding_ms=1_000)
    assert g.allows("BTC", SELL, T0) and g.blocked_until_ms("BTC", SELL) == 0
    g.on_fill("BTC", BUY, T0)
    assert not g.allows("BTC", SELL, T0 + 999)
    assert g.allows("BTC", SELL, T0 + 1_000)
    assert g.allows("BTC", BUY, T0 + 1)  # same side: not a reversal
    assert g.allows("ETH", SELL, T0 + 1)  # other coin
    assert g.blocked_until_ms("BTC", SELL) == T0 + 1_000
    g.on_fill("BTC", SELL, T0 + 500)  # the last fill sets the window
    assert g.allows("BTC", SELL, T0 + 600)
    assert not g.allows("BTC", BUY, T0 + 1_499) and g.allows("BTC", BUY, T0 + 1_500)


# ---------------------------------------------------------------- amend limiter


def test_amend_limiter_sliding_window():
    lim = AmendLimiter(5.0)
    assert (lim.limit, lim.window_ms) == (5, 1_000)
    for i in range(5):
        assert lim.try_acquire("BTC", T0 + i * 100)
    assert not lim.allowed("BTC", T0 + 500)
    assert not lim.try_acquire("BTC", T0 + 999)
    assert lim.try_acquire("ETH", T0 + 999)  # per coin
    assert lim.used("BTC", T0 + 999) == 5
    assert lim.try_acquire("BTC", T0 + 1_000)  # the amend at T0 left the window
    assert not lim.try_acquire("BTC", T0 + 1_099)
    assert lim.try_acquire("BTC", T0 + 1_100)


def test_amend_limiter_fractional_rates():
    assert (AmendLimiter(2.5).limit, AmendLimiter(2.5).window_ms) == (2, 800)
    slow = AmendLimiter(0.5)
    assert (slow.limit, slow.window_ms) == (1, 2_000)
    assert slow.try_acquire("BTC", T0)
    assert not slow.try_acquire("BTC", T0 + 1_999)
    assert slow.try_acquire("BTC", T0 + 2_000)


# ---------------------------------------------------------------- wallets


def test_unique_wallets():
    k1, k2 = key_fingerprint("0xAAA"), key_fingerprint("0xBBB")
    assert k1 == key_fingerprint(" 0xaaa ") and len(k1) == 16 and k1 != k2
    ok = [("b1", "hyperliquid", "main", k1), ("b2", "hyperliquid", "main", k1),
          ("b3", "hyperliquid", "alt", k2), ("b4", "standx", "main", k2), ("p1", "hyperliquid", "main", "")]
    assert check_unique_wallets(ok) == []
    bad = check_unique_wallets([WalletClaim("b1", "hyperliquid", "main", k1),
                                WalletClaim("b2", "hyperliquid", "main", k2)])
    assert len(bad) == 1 and "b1" in bad[0] and "b2" in bad[0] and "'main'" in bad[0]
    assert "0xAAA" not in bad[0]
    bad = check_unique_wallets([("b1", "hyperliquid", "main", k1), ("b2", "hyperliquid", "alt", k1)])
    assert len(bad) == 1 and "different account labels" in bad[0] and "b1" in bad[0] and "b2" in bad[0]
