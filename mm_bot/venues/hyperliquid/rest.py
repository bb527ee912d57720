"""Hyperliquid REST: POST /info (reads) and POST /exchange (signed actions).

Built on the shared transport (mm_bot/venues/transport.py: `requests` in a worker thread, a
timeout on every call, 429 -> limiter back-off). Every request is charged to the shared
DualRateLimiter first (weights per PROTOCOLS 1.7: /exchange 1 + floor(n/40), /info by type)
unless the caller says the weight was already charged (the Bot charges its own placements,
cancels and modifies when it decides them).

Errors never carry secrets: request bodies (signatures) and keys are not put into exception
text or logs; failures are RestError (HlRestError) with the path and the venue's reply only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from typing import Any

from mm_bot.core.ratelimit import DualRateLimiter, RequestKind
from mm_bot.live.clock import wall_ms
from mm_bot.venues.errors import RestError
from mm_bot.venues.hyperliquid.auth import MAINNET_API_URL, TESTNET_API_URL
from mm_bot.venues.hyperliquid.mapping import exchange_weight, info_weight
from mm_bot.venues.transport import RETRY_STATUSES, HttpJson, LimitedRest

log = logging.getLogger("mm_bot.hl.rest")

MAINNET_WS_URL = "wss://api.hyperliquid.xyz/ws"
TESTNET_WS_URL = "wss://api.hyperliquid-testnet.xyz/ws"
_JSON = {"Content-Type": "application/json"}
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


HlRestError = RestError  # the name the Hyperliquid modules use


def is_rate_limit_text(text: str) -> bool:
    low = text.lower()
    return any(w in low for w in _RATE_LIMIT_WORDS)


class HlRestClient(LimitedRest):
    """POST /info and /exchange with Hyperliquid's weights (see LimitedRest for charging and 429s)."""

    def __init__(self, rest_url: str, limiter: DualRateLimiter, rng: random.Random | None = None,
                 on_rate_limited: Callable[[str, int, bool], None] | None = None,
                 clock: Callable[[], int] = wall_ms) -> None:
        super().__init__(HttpJson(rest_url), limiter, rng, on_rate_limited, clock)

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        return await self.call("POST", path, json.dumps(body).encode(), _JSON)

    async def info(self, body: dict[str, Any], n_items: int = 0, retries: int = 3) -> Any:
        """POST /info (charged by type); retried on 429 / 5xx / transport errors after a pause."""
        rtype = str(body.get("type", ""))
        attempt = 0
        while True:
            await self.acquire(RequestKind.INFO, info_weight(rtype, n_items))
            try:
                return await self._post("/info", body)
            except RestError as e:
                attempt += 1
                if attempt > retries or (e.status and e.status not in RETRY_STATUSES):
                    raise RestError(f"/info {rtype}: {e}", e.status) from None
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
