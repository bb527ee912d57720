"""Tests for mm_bot.core.nonces: strictly increasing per signer, restore, clock steps, HL rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm_bot.core.nonces import (
    DAY_MS,
    HL_NONCE_SET_SIZE,
    NonceAllocator,
    NonceCheck,
    check_hl_nonce,
)

T0 = 1_700_000_000_000
SIGNERS = ["0xAbC0000000000000000000000000000000000001", "0xdef0000000000000000000000000000000000002"]

# (bot index, signer index, clock step in ms — negative = the clock went backwards)
step = st.tuples(st.integers(0, 4), st.integers(0, 1), st.integers(-5_000, 5_000))


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=300))
def test_nonces_strictly_increase_per_signer_across_bots(steps):
    alloc = NonceAllocator()  # one allocator shared by every bot of the process
    now = T0
    issued: dict[str, list[int]] = {s.lower(): [] for s in SIGNERS}
    per_bot: dict[tuple[int, str], list[int]] = {}
    for bot, signer_i, dt in steps:
        now += dt
        signer = SIGNERS[signer_i]
        nonce = alloc.next(signer, now)
        prev = issued[signer.lower()]
        assert nonce >= now or (prev and nonce == prev[-1] + 1)
        assert not prev or nonce == max(now, prev[-1] + 1)
        prev.append(nonce)
        per_bot.setdefault((bot, signer.lower()), []).append(nonce)
    for seq in issued.values():
        assert all(a < b for a, b in zip(seq, seq[1:], strict=False))
    for seq in per_bot.values():
        assert all(a < b for a, b in zip(seq, seq[1:], strict=False))


@settings(max_examples=100, deadline=None)
@given(
    before=st.lists(st.integers(-2_000, 2_000), min_size=1, max_size=50),
    after=st.lists(st.integers(-2_000, 2_000), min_size=1, max_size=50),
    restart_clock=st.integers(-DAY_MS, DAY_MS),
)
def test_restart_restores_above_persisted_value(before, after, restart_clock):
    alloc = NonceAllocator()
    now = T0
    for dt in before:
        now += dt
        alloc.next(SIGNERS[0], now)
    persisted = alloc.snapshot()  # the shell writes this to the DB
    last_before = alloc.last(SIGNERS[0])
    restarted = NonceAllocator(seed=persisted)  # new process
    now += restart_clock  # the restarted host's clock may be behind or ahead
    first = restarted.next(SIGNERS[0], now)
    assert first == max(now, last_before + 1)
    prev = first
    for dt in after:
        now += dt
        nonce = restarted.next(SIGNERS[0], now)
        assert nonce > prev
        prev = nonce


def test_clock_going_backwards_keeps_increasing():
    alloc = NonceAllocator()
    assert alloc.next("0xA", T0) == T0
    assert alloc.next("0xa", T0) == T0 + 1  # same ms, another bot: case-insensitive signer
    assert alloc.next("0xA", T0 - 60_000) == T0 + 2  # NTP step back
    assert alloc.next("0xB", T0 - 60_000) == T0 - 60_000  # other signers are independent
    assert alloc.next("0xA", T0 + 10) == T0 + 10  # clock caught up


def test_restore_never_lowers_and_validates():
    alloc = NonceAllocator()
    alloc.restore("0xA", T0 + 500)
    assert alloc.next("0xA", T0) == T0 + 501
    alloc.restore("0xA", T0)  # a stale DB value is harmless
    assert alloc.last("0xA") == T0 + 501
    assert alloc.next("0xA", T0 + 10_000) == T0 + 10_000
    assert alloc.last("0xnew") is None
    with pytest.raises(ValueError):
        alloc.restore("0xA", -1)
    with pytest.raises(ValueError):
        alloc.next("", T0)


def test_hl_time_window_bounds():
    t = T0
    assert check_hl_nonce(t, t) is NonceCheck.OK
    assert check_hl_nonce(t - 2 * DAY_MS + 1, t) is NonceCheck.OK
    assert check_hl_nonce(t - 2 * DAY_MS, t) is NonceCheck.TOO_OLD
    assert check_hl_nonce(t + DAY_MS - 1, t) is NonceCheck.OK
    assert check_hl_nonce(t + DAY_MS, t) is NonceCheck.TOO_FAR_AHEAD


def test_hl_hundred_highest_rule():
    t = T0
    used = list(range(t - 1_000, t - 1_000 + 150))  # 150 used; the venue keeps the top 100
    smallest_kept = t - 1_000 + 50
    assert check_hl_nonce(smallest_kept, t, used) is NonceCheck.DUPLICATE
    assert check_hl_nonce(smallest_kept - 1, t, used) is NonceCheck.NOT_ABOVE_MIN
    assert check_hl_nonce(t - 1_000 + 150, t, used) is NonceCheck.OK
    # Fewer than 100 known: any unused nonce in the window is fine, even below them.
    few = used[-(HL_NONCE_SET_SIZE - 1) :]
    assert check_hl_nonce(t - 5_000, t, few) is NonceCheck.OK
    # Gaps below the 100 highest may be filled: kept = top 100 of a sparse set.
    sparse = list(range(t - 10_000, t, 100))  # 100 nonces, every 100 ms
    assert check_hl_nonce(t - 10_000 + 50, t, sparse) is NonceCheck.OK
    assert check_hl_nonce(t - 10_000 - 1, t, sparse) is NonceCheck.NOT_ABOVE_MIN


def test_allocator_issues_acceptable_nonces_and_flags_far_future_restore():
    alloc = NonceAllocator()
    used: list[int] = []
    for i in range(300):
        nonce = alloc.next("0xA", T0 + i // 3)  # three per ms: counter runs ahead of the clock
        assert check_hl_nonce(nonce, T0 + i // 3, used) is NonceCheck.OK
        used.append(nonce)
    assert alloc.check_next_hl("0xA", T0) is NonceCheck.OK
    # A DB value written by a host whose clock ran two days fast: next() would be rejected.
    alloc.restore("0xA", T0 + 2 * DAY_MS)
    assert alloc.check_next_hl("0xA", T0) is NonceCheck.TOO_FAR_AHEAD
    assert alloc.last("0xA") == T0 + 2 * DAY_MS  # checking issued nothing
    assert NonceAllocator().check_next_hl("0xZ", T0) is NonceCheck.OK
