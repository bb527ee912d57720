"""REST transport shared by the venue adapters: `requests` in a worker thread, a timeout on every
call, every request charged to the shared DualRateLimiter first, 429 -> limiter back-off.

`HttpJson` is the blocking part (one requests.Session). It sends exactly the bytes it is given
(venues that sign the body need the signed bytes and the sent bytes to be the same) and maps
failures to RestError / RateLimited whose text holds the method, the path and the venue's reply,
never headers (signatures, tokens) or the request body.

`LimitedRest` is the async façade the gateways call: `acquire` waits for the limiter (bounded),
`call` runs one request in a thread and feeds 429s into the limiter's back-off.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

import requests

from mm_bot.core.ratelimit import Denied, DualRateLimiter, RequestKind
from mm_bot.live.clock import wall_ms
from mm_bot.venues.errors import RateLimited, RestError

log = logging.getLogger("mm_bot.rest")

# (connect, read) seconds.
DEFAULT_TIMEOUT = (3.05, 10.0)
# Longest a caller waits for the limiter to grant a request before giving up.
MAX_LIMITER_WAIT_S = 30.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class HttpJson:
    """Blocking JSON-over-HTTP client for one base URL; call it through LimitedRest."""

    def __init__(self, base_url: str, timeout: tuple[float, float] = DEFAULT_TIMEOUT,
                 is_rate_limited: Callable[[int, Any], bool] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        # Never read proxies from the environment: tests point URLs at 127.0.0.1.
        self.session.trust_env = False
        self.is_rate_limited = is_rate_limited

    def request(self, method: str, path_query: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> Any:
        """Send `method path_query` with exactly `body`; the decoded JSON reply.

        Raises RateLimited on HTTP 429 (or when `is_rate_limited(status, reply)` says so) and
        RestError on a transport failure, a non-2xx status or a reply that is not JSON.
        """
        what = f"{method} {path_query.split('?', 1)[0]}"
        try:
            resp = self.session.request(method, self.base_url + path_query, data=body,
                                        headers=dict(headers or {}), timeout=self.timeout)
        except requests.Timeout:
            raise RestError(f"{what}: timed out") from None
        except requests.RequestException as e:
            raise RestError(f"{what}: {type(e).__name__}") from None
        try:
            out = resp.json()
        except ValueError:
            out = None
        if resp.status_code == 429 or (self.is_rate_limited is not None and self.is_rate_limited(resp.status_code, out)):
            raise RateLimited(f"{what}: HTTP {resp.status_code} (rate limited)", 429)
        if not 200 <= resp.status_code < 300:
            text = resp.text[:200].replace("\n", " ")
            raise RestError(f"{what}: HTTP {resp.status_code}: {text}", resp.status_code)
        if out is None and resp.content:
            raise RestError(f"{what}: response is not JSON", resp.status_code)
        return out

    def close(self) -> None:
        self.session.close()


class LimitedRest:
    """Async façade: limiter charge, worker thread, 429 -> limiter back-off + callback.

    on_rate_limited(path, backoff_until_ms, new_backoff) is called for every rate-limited reply
    (the runner writes a system_events row when new_backoff is True).
    """

    def __init__(self, http: HttpJson, limiter: DualRateLimiter, rng: random.Random | None = None,
                 on_rate_limited: Callable[[str, int, bool], None] | None = None,
                 clock: Callable[[], int] = wall_ms) -> None:
        self.http = http
        self.limiter = limiter
        self.rng = rng or random.Random()
        self.on_rate_limited = on_rate_limited
        self.clock = clock
        self.requests = 0
        self.rate_limited = 0

    async def acquire(self, kind: RequestKind, weight: int, max_wait_s: float = MAX_LIMITER_WAIT_S) -> None:
        """Wait until the limiter grants `weight`; RestError when that takes over max_wait_s."""
        deadline = self.clock() + int(max_wait_s * 1000)
        while True:
            now = self.clock()
            got = self.limiter.try_acquire(kind, weight, now)
            if not isinstance(got, Denied):
                return
            if got.retry_at_ms > deadline:
                raise RestError(f"rate limiter: {kind.value} weight {weight} not granted "
                                f"within {max_wait_s:g} s ({got.reason.value})")
            await asyncio.sleep(max(0.01, (got.retry_at_ms - now) / 1000))

    def note_rate_limited(self, path: str) -> None:
        """The venue said 429: back off (only cancels pass) and tell the owner."""
        now = self.clock()
        was = self.limiter.in_backoff(now)
        until = self.limiter.on_rate_limited(now, self.rng)
        self.rate_limited += 1
        log.warning("%s rate limited by the venue; backing off until %d", path, until)
        if self.on_rate_limited is not None:
            self.on_rate_limited(path, until, not was)

    async def call(self, method: str, path_query: str, body: bytes | None = None,
                   headers: Mapping[str, str] | None = None) -> Any:
        """One request in a worker thread (not charged here: see acquire)."""
        self.requests += 1
        try:
            out = await asyncio.to_thread(self.http.request, method, path_query, body, headers)
        except RateLimited:
            self.note_rate_limited(f"{method} {path_query.split('?', 1)[0]}")
            raise
        self.limiter.on_success(self.clock())
        return out

    async def read(self, method: str, path_query: str, make_headers: Callable[[], Mapping[str, str]] | None = None,
                   weight: int = 1, retries: int = 3) -> Any:
        """A read (charged as INFO), retried on 429 / 5xx / transport errors after a pause.
        make_headers is called per attempt (signatures carry a fresh timestamp)."""
        attempt = 0
        while True:
            await self.acquire(RequestKind.INFO, weight)
            try:
                return await self.call(method, path_query, None, make_headers() if make_headers else None)
            except RestError as e:
                attempt += 1
                if attempt > retries or (e.status and e.status not in RETRY_STATUSES):
                    raise
                await asyncio.sleep(min(5.0, 0.25 * 2 ** attempt))

    async def write(self, method: str, path_query: str, body: bytes | None,
                    headers: Mapping[str, str] | None, kind: RequestKind, weight: int = 1,
                    charged: bool = False) -> Any:
        """An action, sent once (never retried: it may have been applied). `charged`: the caller
        (the Bot) already took the weight from the limiter."""
        if not charged:
            await self.acquire(kind, weight)
        return await self.call(method, path_query, body, headers)

    def close(self) -> None:
        self.http.close()
