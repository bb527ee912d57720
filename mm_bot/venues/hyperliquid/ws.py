"""Hyperliquid WebSocket: one connection, many subscriptions, app-level ping, reconnect.

PROTOCOLS 1.2 / 4: subscribe with {"method":"subscribe","subscription":{...}}; data arrives as
{"channel", "data"}; the server closes a connection that sent nothing for 60 s, so we send
{"method":"ping"} every 50 s (answer: {"channel":"pong"}). The server may drop us any time and
keeps no subscription state: after every reconnect everything is subscribed again, and the owner
is told (on_connect(n > 1)) so it can resync (fresh l2Book, REST reconcile of orders).
Connection, back-off and limiter charging: mm_bot/live/wsconn.py.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from typing import Any

from mm_bot.core.ratelimit import DualRateLimiter
from mm_bot.live.wsconn import ReconnectingWebSocket, parse_json_object

log = logging.getLogger("mm_bot.hl.ws")

PING_EVERY_S = 50.0
# No message at all for this long (l2Book pushes every ~0.5 s): treat the connection as dead.
SILENCE_TIMEOUT_S = 65.0
WELCOME_TEXT = "Websocket connection established."


def subscription_key(sub: dict[str, Any]) -> str:
    return json.dumps(sub, sort_keys=True)


class HlWebSocket(ReconnectingWebSocket):
    """on_message(msg, recv_ms) gets every data message (dict with 'channel'); on_connect(n) is
    called after the subscriptions of the n-th connection (1 = first) were sent;
    on_disconnect(reason) when a connection ends."""

    name = "hyperliquid websocket"

    def __init__(self, url: str, subscriptions: list[dict[str, Any]],
                 on_message: Callable[[dict[str, Any], int], None],
                 on_connect: Callable[[int], None], on_disconnect: Callable[[str], None],
                 limiter: DualRateLimiter | None = None, rng: random.Random | None = None,
                 ping_every_s: float = PING_EVERY_S, silence_timeout_s: float = SILENCE_TIMEOUT_S,
                 on_unreadable: Callable[[str, int], None] | None = None) -> None:
        super().__init__(url, on_connect, on_disconnect, limiter, rng, ping_every_s, silence_timeout_s)
        self.subscriptions = list(subscriptions)
        self.on_message = on_message
        self.on_unreadable = on_unreadable
        self.acked: set[str] = set()

    def opening_frames(self) -> list[dict[str, Any]]:
        self.acked.clear()
        return [{"method": "subscribe", "subscription": sub} for sub in self.subscriptions]

    def ping_frame(self) -> dict[str, Any]:
        return {"method": "ping"}

    def handle(self, text: str, recv_ms: int) -> None:
        if text == WELCOME_TEXT:
            return
        msg = parse_json_object(text)
        if msg is None:
            log.warning("websocket: unreadable message (%d bytes)", len(text))
            if self.on_unreadable is not None:
                self.on_unreadable(f"not a JSON object ({len(text)} bytes)", recv_ms)
            return
        channel = msg.get("channel")
        if channel == "pong":
            return
        if channel == "subscriptionResponse":
            data = msg.get("data") or {}
            sub = data.get("subscription") if isinstance(data, dict) else None
            if isinstance(sub, dict):
                self.acked.add(subscription_key(sub))
            return
        if channel == "error":
            log.warning("websocket error message: %s", str(msg.get("data"))[:200])
            return
        self.on_message(msg, recv_ms)
