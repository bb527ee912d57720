"""StandX perps REST (PROTOCOLS.md section 3): public reads, JWT reads, body-signed actions.

- Public GETs (query_symbol_info, query_depth_book): no auth header.
- Account GETs (query_open_orders, query_orders, query_positions, query_balance, query_trades):
  `Authorization: Bearer <JWT>` only (the docs sign only bodies; SX-3P signs only POSTs).
- Actions (POST new_order / cancel_order / cancel_orders): JWT + the four x-request-* body
  signature headers computed over exactly the bytes sent, with a fresh x-request-id (uuid4) and
  x-request-timestamp (wall ms) per request.

Every request is charged to the shared DualRateLimiter first (reads as INFO, retried on 429/5xx;
actions as PLACE/CANCEL, sent once) through transport.LimitedRest; HTTP 429 (or a body with code
429) raises RateLimited and starts the limiter's back-off. A body `{code != 0, message}` raises
ApiRejected (a RestError carrying the venue's code and message: a definite refusal, nothing was
applied). Error texts hold the method, the path and the venue's reply only: never the JWT, the
signing key, a signature or a request body (the transport never puts headers or bodies in errors).

Endpoints: mainnet REST https://perps.standx.com, market stream wss://perps.standx.com/ws-stream/v1
(DOC). The testnet URLs below (https://testnet.perps.standx.com, wss://testnet.perps.standx.com/
ws-stream/v1) are UNVERIFIED: they appear only in third-party code (PROTOCOLS 3 / 5.5). Both can be
overridden with STANDX_API_BASE and STANDX_WS_URL. Rate limits: only "429" is documented
(UNVERIFIED numbers in core/ratelimit.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from mm_bot.core.ratelimit import DualRateLimiter, RequestKind
from mm_bot.live.clock import wall_ms
from mm_bot.venues.errors import RestError
from mm_bot.venues.standx.auth import StandxSigner
from mm_bot.venues.transport import DEFAULT_TIMEOUT, HttpJson, LimitedRest

MAINNET_REST_URL = "https://perps.standx.com"
MAINNET_WS_URL = "wss://perps.standx.com/ws-stream/v1"
# UNVERIFIED (third-party code only): override with STANDX_API_BASE / STANDX_WS_URL when wrong.
TESTNET_REST_URL = "https://testnet.perps.standx.com"
TESTNET_WS_URL = "wss://testnet.perps.standx.com/ws-stream/v1"

# Paths (DOC perps-http).
NEW_ORDER = "/api/new_order"
CANCEL_ORDER = "/api/cancel_order"
CANCEL_ORDERS = "/api/cancel_orders"
QUERY_SYMBOL_INFO = "/api/query_symbol_info"
QUERY_DEPTH_BOOK = "/api/query_depth_book"
QUERY_OPEN_ORDERS = "/api/query_open_orders"
QUERY_ORDERS = "/api/query_orders"
QUERY_ORDER = "/api/query_order"
QUERY_POSITIONS = "/api/query_positions"
QUERY_BALANCE = "/api/query_balance"
QUERY_TRADES = "/api/query_trades"

OPEN_ORDERS_LIMIT = 1200  # DOC: query_open_orders limit <= 1200
HISTORY_LIMIT = 500  # DOC: query_orders / query_trades limit <= 500


def urls_for(mode: str, environ: Mapping[str, str]) -> tuple[str, str]:
    """(REST base URL, market-stream WS URL) for a bot mode; STANDX_API_BASE / STANDX_WS_URL override.

    'mainnet' -> the documented URLs; 'testnet' -> UNVERIFIED testnet URLs; 'paper' (live public
    data for paper trading) -> mainnet. Any other mode: ValueError.
    """
    if mode in ("mainnet", "paper"):
        rest, ws = MAINNET_REST_URL, MAINNET_WS_URL
    elif mode == "testnet":
        rest, ws = TESTNET_REST_URL, TESTNET_WS_URL
    else:
        raise ValueError(f"no StandX endpoints for mode {mode!r}")
    rest = (environ.get("STANDX_API_BASE") or rest).rstrip("/")
    ws = environ.get("STANDX_WS_URL") or ws
    return rest, ws


class ApiRejected(RestError):
    """The venue answered `{code != 0, message}`: a definite refusal (nothing applied).
    `code` is the venue's code, `venue_message` its text."""

    def __init__(self, message: str, code: int, venue_message: str, status: int = 200) -> None:
        super().__init__(message, status)
        self.code = code
        self.venue_message = venue_message


def _is_rate_limited(status: int, reply: Any) -> bool:
    # UNVERIFIED: only HTTP 429 is documented; a body code 429 is treated the same way.
    return status == 429 or (isinstance(reply, dict) and reply.get("code") == 429)


def _check_code(what: str, reply: Any) -> Any:
    """Raise ApiRejected for a `{code != 0}` body; return the reply otherwise."""
    if isinstance(reply, dict) and "code" in reply:
        code = reply.get("code")
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
            text = str(reply.get("message", ""))[:200]
            raise ApiRejected(f"{what}: code {code}: {text}", code, text)
    return reply


class StandxRest:
    """Async StandX REST client (one HTTP session); thread-safe enough for one event loop.

    signer: the JWT + request-signing key holder; None for a public-data-only client.
    """

    def __init__(self, base_url: str, limiter: DualRateLimiter, signer: StandxSigner | None = None,
                 rng: random.Random | None = None,
                 on_rate_limited: Callable[[str, int, bool], None] | None = None,
                 clock: Callable[[], int] = wall_ms,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self.clock = clock
        self.http = HttpJson(self.base_url, timeout, is_rate_limited=_is_rate_limited)
        self.client = LimitedRest(self.http, limiter, rng, on_rate_limited, clock)

    @property
    def requests(self) -> int:
        return self.client.requests

    @property
    def rate_limited(self) -> int:
        return self.client.rate_limited

    def _bearer(self) -> dict[str, str]:
        if self.signer is None:
            raise RestError("StandX account request without credentials")
        return self.signer.bearer_headers()

    @staticmethod
    def _path(path: str, params: Mapping[str, Any] | None) -> str:
        q = {k: v for k, v in (params or {}).items() if v is not None}
        return f"{path}?{urlencode(q)}" if q else path

    async def public(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a public endpoint (charged as INFO, retried on 429 / 5xx / transport errors)."""
        pq = self._path(path, params)
        return _check_code(f"GET {path}", await self.client.read("GET", pq))

    async def query(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET an account endpoint with the JWT bearer (charged as INFO, retried)."""
        pq = self._path(path, params)
        return _check_code(f"GET {path}", await self.client.read("GET", pq, self._bearer))

    async def post(self, path: str, body: Mapping[str, Any], kind: RequestKind, charged: bool = False) -> Any:
        """POST a body-signed action once (never retried: it may have been applied).

        The body is serialised once (compact JSON) and those exact bytes are both signed and sent.
        charged: the caller already took the weight from the limiter.
        """
        if self.signer is None:
            raise RestError(f"POST {path}: no credentials")
        text, headers = self.signer.signed_request(dict(body), self.clock())
        reply = await self.client.write("POST", path, text.encode("utf-8"), headers, kind, 1, charged)
        return _check_code(f"POST {path}", reply)

    # ------------------------------------------------------------ endpoints

    async def query_symbol_info(self, symbol: str | None = None) -> Any:
        return await self.public(QUERY_SYMBOL_INFO, {"symbol": symbol})

    async def query_depth_book(self, symbol: str) -> Any:
        return await self.public(QUERY_DEPTH_BOOK, {"symbol": symbol})

    async def query_open_orders(self, symbol: str | None = None) -> Any:
        return await self.query(QUERY_OPEN_ORDERS, {"symbol": symbol, "limit": OPEN_ORDERS_LIMIT})

    async def query_order(self, cl_ord_id: str) -> Any:
        """One order by our client id (any status)."""
        return await self.query(QUERY_ORDER, {"cl_ord_id": cl_ord_id})

    async def query_orders(self, symbol: str | None = None, limit: int = HISTORY_LIMIT) -> Any:
        return await self.query(QUERY_ORDERS, {"symbol": symbol, "limit": limit})

    async def query_positions(self, symbol: str | None = None) -> Any:
        return await self.query(QUERY_POSITIONS, {"symbol": symbol})

    async def query_balance(self) -> Any:
        return await self.query(QUERY_BALANCE)

    async def query_trades(self, symbol: str | None = None, limit: int = HISTORY_LIMIT) -> Any:
        return await self.query(QUERY_TRADES, {"symbol": symbol, "limit": limit})

    async def new_order(self, body: Mapping[str, Any], charged: bool = False) -> Any:
        return await self.post(NEW_ORDER, body, RequestKind.PLACE, charged)

    async def cancel_order(self, body: Mapping[str, Any], charged: bool = False) -> Any:
        return await self.post(CANCEL_ORDER, body, RequestKind.CANCEL, charged)

    async def cancel_orders(self, body: Mapping[str, Any], charged: bool = False) -> Any:
        return await self.post(CANCEL_ORDERS, body, RequestKind.CANCEL, charged)

    def close(self) -> None:
        self.client.close()
