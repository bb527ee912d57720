"""Hyperliquid REST: POST /info (reads) and POST /exchange (signed actions).

`requests` runs in a worker thread (asyncio.to_thread) with a timeout on every call. Every
request this module sends is charged to the shared DualRateLimiter first (weights per
PROTOCOLS 1.7: /exchange 1 + floor(n/40), /info by type) unless the caller says the weight was
already charged (the Bot charges its own placements and cancels when it decides them).

Errors never carry secrets: request bodies (signatures) and keys are not put into exception
text or logs; transport errors are re-raised as HlRestError with the exception type and the
URL path only.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

import requests

from mm_bot.core.ratelimit import Denied, DualRateLimiter, RequestKind
from mm_bot.live.clock import wall_ms
from mm_bot.venues.errors import RateLimited as BaseRateLimited
from mm_bot.venues.errors import RestError
from mm_bot.venues.hyperliquid.auth import MAINNET_API_URL, TESTNET_API_URL
from mm_bot.venues.hyperliquid.mapping import exchange_weight, info_weight

log = logging.getLogger("mm_bot.hl.rest")

MAINNET_WS_URL = "wss://api.hyperliquid.xyz/ws"
TESTNET_WS_URL = "wss://api.hyperliquid-testnet.xyz/ws"
# (connect, read) seconds.
DEFAULT_TIMEOUT = (3.05, 10.0)
# Longest a caller waits for the limiter to grant a request before giving up.
MAX_LIMITER_WAIT_S = 30.0
_RATE_LIMIT_WORDS = ("rate limit", "too many", "ratelimit")


def urls_for(mode: str, environ: dict[str, str] | Any) -> tuple[str, str]:
    """(REST base URL, WS URL) for a bot mode ('testnet' | 'mainnet'); HL_REST_URL / HL_WS_URL override."""
    if mode == "mainnet":
        rest, ws = MAINNET_API_URL, MAINNET_WS_URL
    elif mode == "testnet":
        rest, ws = TESTNET_API_URL, TESTNET_WS_URL
    else:
        raise ValueError(f"no Hyperliquid endpoints for mode {mode!r}")
    rest = (environ.get("HL_REST_URL") or rest).rstrip("/")
    ws = environ.get("HL_WS_URL") or ws
    return rest, ws


class HlRestError(RestError):
    """A Hyperliquid REST call failed (transport, HTTP status or unreadable body)."""


class RateLimited(HlRestError, BaseRateLimited):
    """HTTP 429 or a rate-limit error text from Hyperliquid."""


def is_rate_limit_text(text: str) -> bool:
    low = text.lower()
    return any(w in low for w in _RATE_LIMIT_WORDS)


class HlRest:
    """Blocking JSON POST client (one requests.Session); call it through HlRestClient."""

    def __init__(self, base_url: str, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({"Content-Type": "application/json"})

    def post(self, path: str, body: dict[str, Any]) -> Any:
        url = self.base_url + path
        try:
            resp = self.session.post(url, json=body, timeout=self.timeout)
        except requests.Timeout:
            raise HlRestError(f"POST {path}: timed out") from None
        except requests.RequestException as e:
            raise HlRestError(f"POST {path}: {type(e).__name__}") from None
        if resp.status_code == 429:
            raise RateLimited(f"POST {path}: HTTP 429 (rate limited)", 429)
        if resp.status_code != 200:
            text = resp.text[:200].replace("\n", " ")
            raise HlRestError(f"POST {path}: HTTP {resp.status_code}: {text}", resp.status_code)
        try:
            return resp.json()
        except ValueError:
            raise HlRestError(f"POST {path}: response is not JSON", resp.status_code) from None

    def close(self) -> None:
        self.session.close()


class HlRestClient:
    """Async façade: limiter charge, worker thread, 429 -> limiter back-off + callback.

    on_rate_limited(path, backoff_until_ms, new_backoff) is called for every rate-limited reply
    (the runner writes a system_events row when new_backoff is True).
    """

    def __init__(self, rest: HlRest, limiter: DualRateLimiter, rng: random.Random | None = None,
                 on_rate_limited: Callable[[str, int, bool], None] | None = None,
                 clock: Callable[[], int] = wall_ms) -> None:
        self.rest = rest
        self.limiter = limiter
        self.rng = rng or random.Random()
        self.on_rate_limited = on_rate_limited
        self.clock = clock
        self.requests = 0
        self.rate_limited = 0

    async def acquire(self, kind: RequestKind, weight: int, max_wait_s: float = MAX_LIMITER_WAIT_S) -> None:
        """Wait until the limiter grants `weight`; HlRestError when that takes over max_wait_s."""
        deadline = self.clock() + int(max_wait_s * 1000)
        while True:
            now = self.clock()
            got = self.limiter.try_acquire(kind, weight, now)
            if not isinstance(got, Denied):
                return
            if got.retry_at_ms > deadline:
                raise HlRestError(f"rate limiter: {kind.value} weight {weight} not granted "
                                  f"within {max_wait_s:g} s ({got.reason.value})")
            await asyncio.sleep(max(0.01, (got.retry_at_ms - now) / 1000))

    def note_rate_limited(self, path: str) -> None:
        now = self.clock()
        was = self.limiter.in_backoff(now)
        until = self.limiter.on_rate_limited(now, self.rng)
        self.rate_limited += 1
        log.warning("%s rate limited by the venue; backing off until %d", path, until)
        if self.on_rate_limited is not None:
            self.on_rate_limited(path, until, not was)

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        self.requests += 1
        try:
            out = await asyncio.to_thread(self.rest.post, path, body)
        except RateLimited:
            self.note_rate_limited(path)
            raise
        self.limiter.on_success(self.clock())
        return out

    async def info(self, body: dict[str, Any], n_items: int = 0, retries: int = 3) -> Any:
        """POST /info (charged by type); retried on 429 / transport errors after the back-off."""
        rtype = str(body.get("type", ""))
        attempt = 0
        while True:
            await self.acquire(RequestKind.INFO, info_weight(rtype, n_items))
            try:
                return await self._post("/info", body)
            except HlRestError as e:
                attempt += 1
                if attempt > retries or (e.status and e.status not in (429, 500, 502, 503, 504)):
                    raise HlRestError(f"/info {rtype}: {e}", e.status) from None
                await asyncio.sleep(min(5.0, 0.25 * 2**attempt))

    async def exchange(self, body: dict[str, Any], kind: RequestKind, batch_len: int,
                       charged: bool = False) -> Any:
        """POST /exchange once (no retry: an action may have been applied). `charged`: the caller
        (the Bot) already took the weight from the limiter."""
        if not charged:
            await self.acquire(kind, exchange_weight(batch_len))
        out = await self._post("/exchange", body)
        if isinstance(out, dict) and out.get("status") == "err" and is_rate_limit_text(str(out.get("response"))):
            self.note_rate_limited("/exchange")
        return out
