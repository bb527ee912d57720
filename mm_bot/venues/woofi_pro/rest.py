"""WOOFi Pro (Orderly) REST: endpoints, signed requests, Orderly error envelopes, limiter charging.

PROTOCOLS 2.1-2.3: base https://api.orderly.org (testnet https://testnet-api.orderly.org); GET and
DELETE carry their parameters in the query string, POST/PUT a JSON body; every private call is
signed with the account's ed25519 Orderly key over `timestamp + METHOD + path?query + body`
(auth.OrderlySigner), with a timestamp that must be within 300 s of the venue's clock. Replies are
`{success, data, timestamp}` or `{success:false, code, message}`; HTTP 429 and code -1003 mean
rate limited.

What this module guarantees:
- the signed bytes are the sent bytes (the body text is signed, then sent as those exact bytes);
- a fresh timestamp per attempt (a retried read is signed again);
- every request is charged to the shared DualRateLimiter first (RequestKind PLACE / CANCEL /
  INFO, weights from the limiter's VenueLimits for woofi_pro) unless the caller already did;
- error texts hold the method, the path and the venue's code/message, never headers, keys,
  signatures or request bodies.

UNVERIFIED: the signature encoding (base64url per the docs; the official connector sends standard
base64, PROTOCOLS 5.3): base64url is sent. The public WS path needs an account id; without
WOOFI_ACCOUNT_ID (paper trading on live data) a zero id is used, which the docs neither allow
nor forbid.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import requests

from mm_bot.core.ratelimit import DualRateLimiter, RequestKind, VenueLimits
from mm_bot.live.clock import wall_ms
from mm_bot.venues.errors import RateLimited, RestError
from mm_bot.venues.transport import DEFAULT_TIMEOUT, HttpJson, LimitedRest

from .auth import OrderlySigner, path_with_query

log = logging.getLogger("mm_bot.woofi.rest")

MAINNET_REST_URL = "https://api.orderly.org"
TESTNET_REST_URL = "https://testnet-api.orderly.org"
MAINNET_WS_PUBLIC_URL = "wss://ws-evm.orderly.org/ws/stream/{account_id}"
TESTNET_WS_PUBLIC_URL = "wss://testnet-ws-evm.orderly.org/ws/stream/{account_id}"
MAINNET_WS_PRIVATE_URL = "wss://ws-private-evm.orderly.org/v2/ws/private/stream/{account_id}"
TESTNET_WS_PRIVATE_URL = "wss://testnet-ws-private-evm.orderly.org/v2/ws/private/stream/{account_id}"
# Public streams need an id in the path even without an account (paper trading on live data).
PUBLIC_PLACEHOLDER_ACCOUNT = "0x" + "0" * 64
RATE_LIMIT_CODE = -1003


def urls_for(mode: str, environ: Mapping[str, str]) -> tuple[str, str, str]:
    """(REST base URL, public WS URL, private WS URL) for 'testnet' | 'mainnet'.

    WOOFI_REST_URL / WOOFI_WS_PUBLIC_URL / WOOFI_WS_PRIVATE_URL override them; `{account_id}` in
    any WS URL becomes WOOFI_ACCOUNT_ID (a zero id for the public stream when it is unset).
    """
    if mode == "mainnet":
        rest, pub, priv = MAINNET_REST_URL, MAINNET_WS_PUBLIC_URL, MAINNET_WS_PRIVATE_URL
    elif mode == "testnet":
        rest, pub, priv = TESTNET_REST_URL, TESTNET_WS_PUBLIC_URL, TESTNET_WS_PRIVATE_URL
    else:
        raise ValueError(f"no WOOFi Pro endpoints for mode {mode!r}")
    account = (environ.get("WOOFI_ACCOUNT_ID") or "").strip()
    rest = (environ.get("WOOFI_REST_URL") or rest).rstrip("/")
    pub = (environ.get("WOOFI_WS_PUBLIC_URL") or pub).replace("{account_id}", account or PUBLIC_PLACEHOLDER_ACCOUNT)
    priv = (environ.get("WOOFI_WS_PRIVATE_URL") or priv).replace("{account_id}", account)
    return rest, pub, priv


class OrderlyError(RestError):
    """The venue answered `{success:false, code, message}` (code and message kept apart)."""

    def __init__(self, message: str, status: int, code: int, venue_message: str) -> None:
        super().__init__(message, status)
        self.code = code
        self.venue_message = venue_message


class OrderlyRateLimited(OrderlyError, RateLimited):
    """HTTP 429 or code -1003."""


def _envelope_error(reply: Any) -> tuple[int, str] | None:
    """(code, message) of an Orderly error envelope, None for anything else."""
    if isinstance(reply, dict) and reply.get("success") is False:
        code = reply.get("code", 0)
        return (code if isinstance(code, int) and not isinstance(code, bool) else 0), str(reply.get("message", ""))[:300]
    return None


class OrderlyHttp(HttpJson):
    """HttpJson that reads Orderly's error envelope on any status: OrderlyError(code, message)."""

    def request(self, method: str, path_query: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> Any:
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
        err = _envelope_error(out)
        if resp.status_code == 429 or (err is not None and err[0] == RATE_LIMIT_CODE):
            code, msg = err or (RATE_LIMIT_CODE, "too many requests")
            raise OrderlyRateLimited(f"{what}: HTTP {resp.status_code} (rate limited): {code}: {msg}", 429, code, msg)
        if err is not None:
            raise OrderlyError(f"{what}: HTTP {resp.status_code}: {err[0]}: {err[1]}", resp.status_code, *err)
        if not 200 <= resp.status_code < 300:
            text = resp.text[:200].replace("\n", " ")
            raise RestError(f"{what}: HTTP {resp.status_code}: {text}", resp.status_code)
        if out is None:
            raise RestError(f"{what}: response is not JSON", resp.status_code)
        return out


Params = Iterable[tuple[str, Any]] | Mapping[str, Any] | None


class OrderlyRest:
    """Signed (and public) Orderly REST calls through the shared limiter. Async; one per venue base URL.

    `signer` may be None (public reads only). Reads are retried on 429 / 5xx / transport errors
    (a fresh signature per attempt); actions are sent once.
    """

    def __init__(self, base_url: str, limiter: DualRateLimiter, signer: OrderlySigner | None = None,
                 rng: random.Random | None = None,
                 on_rate_limited: Callable[[str, int, bool], None] | None = None,
                 clock: Callable[[], int] = wall_ms, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self.signer = signer
        self.clock = clock
        self.limits: VenueLimits = limiter.limits
        self.lim = LimitedRest(OrderlyHttp(base_url, timeout), limiter, rng, on_rate_limited, clock)

    @property
    def requests(self) -> int:
        return self.lim.requests

    @property
    def rate_limited(self) -> int:
        return self.lim.rate_limited

    def _headers(self, method: str, path_query: str, body: str = "") -> dict[str, str]:
        if self.signer is None:
            raise RestError(f"{method} {path_query.split('?', 1)[0]}: needs an Orderly key (WOOFI_ORDERLY_SECRET)")
        return self.signer.headers(self.clock(), method, path_query, body)

    async def public_get(self, path: str, params: Params = None) -> Any:
        """An unsigned GET (public endpoints), charged as INFO weight 1, retried."""
        return await self.lim.read("GET", path_with_query(path, params), None, self.limits.info_weight())

    async def get(self, path: str, params: Params = None) -> Any:
        """A signed GET, charged as INFO, retried with a fresh timestamp per attempt."""
        pq = path_with_query(path, params)
        return await self.lim.read("GET", pq, lambda: self._headers("GET", pq), self.limits.info_weight())

    async def action(self, method: str, path: str, kind: RequestKind, params: Params = None,
                     body: Any = None, batch_len: int = 1, charged: bool = False) -> Any:
        """A signed order action (POST/PUT body, DELETE query), sent once.

        charged: the caller already took the weight (the Bot charges its own placements and
        cancels). The signature is made after the limiter granted the request, so the 300 s
        timestamp window is never eaten by a wait.
        """
        method = method.upper()
        if not charged:
            await self.lim.acquire(kind, self.limits.action_weight(kind, batch_len))
        if self.signer is None:
            raise RestError(f"{method} {path}: needs an Orderly key (WOOFI_ORDERLY_SECRET)")
        pq, text, headers = self.signer.request(self.clock(), method, path, params, body)
        return await self.lim.call(method, pq, text.encode("utf-8") if text else None, headers)

    def note_rate_limited(self, path: str) -> None:
        self.lim.note_rate_limited(path)

    def close(self) -> None:
        self.lim.close()
