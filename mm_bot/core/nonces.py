"""Nonce allocation per signer, shared by every bot of a process (sans-I/O, clock injected).

Hyperliquid (PROTOCOLS 1.4/1.5, DOC nonces-and-api-wallets.md): every /exchange action carries a
ms `nonce`. Per signer the venue keeps the 100 highest nonces; a new one must be greater than
the smallest of them, unused, and within (T - 2 days, T + 1 day) of the server time T. The SDK
uses the current ms time; we issue `max(now_ms, last + 1)`, so nonces stay strictly increasing
per signer even when several bots sign in the same millisecond or the clock steps back.

Restart: the shell persists the last issued nonce per signer in the DB and calls
`restore(signer, db_value)` before signing anything; the first nonce after a restart is then
`max(now_ms, db_value + 1)`, i.e. above both the persisted value and the current time.
Strict monotonicity holds only inside one allocator: processes must not share a signer
(PROTOCOLS: one API (agent) wallet per process).

Signers are keyed case-insensitively (addresses are lowercased).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

DAY_MS = 86_400_000
HL_NONCE_MAX_BEHIND_MS = 2 * DAY_MS  # nonce must be > T - 2 days
HL_NONCE_MAX_AHEAD_MS = 1 * DAY_MS  # nonce must be < T + 1 day
HL_NONCE_SET_SIZE = 100  # the venue keeps the 100 highest nonces per signer


class NonceCheck(StrEnum):
    OK = "ok"
    TOO_OLD = "too_old"  # nonce <= T - 2 days
    TOO_FAR_AHEAD = "too_far_ahead"  # nonce >= T + 1 day
    NOT_ABOVE_MIN = "not_above_min"  # 100 nonces kept and nonce <= the smallest of them
    DUPLICATE = "duplicate"  # already used


def check_hl_nonce(nonce: int, server_time_ms: int, recent: Iterable[int] = ()) -> NonceCheck:
    """Would Hyperliquid accept `nonce` at server time `server_time_ms`?

    `recent` is the signer's used nonces as far as known (any number; only the 100 highest
    matter). Checks, in order: the time window (T - 2 days, T + 1 day), exclusive; then unused;
    then, if 100 or more are known, greater than the smallest of the 100 highest.
    """
    if nonce <= server_time_ms - HL_NONCE_MAX_BEHIND_MS:
        return NonceCheck.TOO_OLD
    if nonce >= server_time_ms + HL_NONCE_MAX_AHEAD_MS:
        return NonceCheck.TOO_FAR_AHEAD
    top = sorted(set(recent), reverse=True)[:HL_NONCE_SET_SIZE]
    if nonce in top:
        return NonceCheck.DUPLICATE
    if len(top) == HL_NONCE_SET_SIZE and nonce <= top[-1]:
        return NonceCheck.NOT_ABOVE_MIN
    return NonceCheck.OK


class NonceAllocator:
    """Strictly increasing nonces per signer for all bots sharing this allocator."""

    __slots__ = ("_last",)

    def __init__(self, seed: Mapping[str, int] | None = None) -> None:
        self._last: dict[str, int] = {}
        for signer, last in (seed or {}).items():
            self.restore(signer, last)

    @staticmethod
    def _key(signer: str) -> str:
        if not signer:
            raise ValueError("signer must be a non-empty string")
        return signer.lower()

    def next(self, signer: str, now_ms: int) -> int:
        """max(now_ms, last + 1); records it as the signer's last nonce."""
        key = self._key(signer)
        last = self._last.get(key)
        nonce = now_ms if last is None or now_ms > last else last + 1
        self._last[key] = nonce
        return nonce

    def restore(self, signer: str, last: int) -> None:
        """Seed from persistence: the signer's last nonce becomes max(known, last). Never lowers
        it, so restoring a stale DB value after issuing newer nonces is harmless."""
        if not isinstance(last, int) or last < 0:
            raise ValueError(f"last nonce must be a non-negative integer, got {last!r}")
        key = self._key(signer)
        current = self._last.get(key)
        if current is None or last > current:
            self._last[key] = last

    def last(self, signer: str) -> int | None:
        """The signer's last issued (or restored) nonce, None if none."""
        return self._last.get(self._key(signer))

    def snapshot(self) -> dict[str, int]:
        """signer -> last nonce, for the shell to persist."""
        return dict(self._last)

    def check_next_hl(self, signer: str, server_time_ms: int) -> NonceCheck:
        """Whether the nonce next() would issue at server_time_ms passes Hyperliquid's time
        window (e.g. TOO_FAR_AHEAD after a DB value from a clock that ran a day fast). Issues
        nothing."""
        last = self.last(signer)
        candidate = server_time_ms if last is None or server_time_ms > last else last + 1
        return check_hl_nonce(candidate, server_time_ms)
