"""Hyperliquid WebSocket: one connection, many subscriptions, app-level ping, reconnect.

PROTOCOLS 1.2 / 4: subscribe with {"method":"subscribe","subscription":{...}}; data arrives as
{"channel", "data"}; the server closes a connection that sent nothing for 60 s, so we send
{"method":"ping"} every 50 s (answer: {"channel":"pong"}). The server may drop us any time and
keeps no subscription state: after every reconnect everything is subscribed again, and the owner
is told (on_connect(reconnect=True)) so it can resync (fresh l2Book, REST reconcile of orders).
Reconnects back off exponentially with jitter. Every client->server message is charged to the
shared limiter's "ws" bucket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import connect

from mm_bot.core.ratelimit import Denied, DualRateLimiter, RequestKind
from mm_bot.live.aio import wait_event
from mm_bot.live.clock import wall_ms

log = logging.getLogger("mm_bot.hl.ws")

PING_EVERY_S = 50.0
# No message at all for this long (l2Book pushes every ~0.5 s): treat the connection as dead.
SILENCE_TIMEOUT_S = 65.0
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
# A connection that lived this long resets the back-off.
STABLE_AFTER_S = 30.0
WELCOME_TEXT = "Websocket connection established."


def subscription_key(sub: dict[str, Any]) -> str:
    return json.dumps(sub, sort_keys=True)


class HlWebSocket:
    """Runs until `stop` is set: connect, subscribe, dispatch, ping, reconnect.

    on_message(msg, recv_ms) gets every data message (dict with 'channel'); on_connect(n) is
    called after the subscriptions of the n-th connection (1 = first) were sent;
    on_disconnect(reason) when a connection ends.
    """

    def __init__(self, url: str, subscriptions: list[dict[str, Any]],
                 on_message: Callable[[dict[str, Any], int], None],
                 on_connect: Callable[[int], None], on_disconnect: Callable[[str], None],
                 limiter: DualRateLimiter | None = None, rng: random.Random | None = None,
                 ping_every_s: float = PING_EVERY_S, silence_timeout_s: float = SILENCE_TIMEOUT_S) -> None:
        self.url = url
        self.subscriptions = list(subscriptions)
        self.on_message = on_message
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.limiter = limiter
        self.rng = rng or random.Random()
        self.ping_every_s = ping_every_s
        self.silence_timeout_s = silence_timeout_s
        self.connections = 0
        self.acked: set[str] = set()
        self.connected = asyncio.Event()
        self._ws = None

    def backoff_s(self, failures: int) -> float:
        """Exponential back-off with full jitter in [0.5, 1.5) x base * 2^(failures-1), capped."""
        base = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, failures - 1))
        return base * (0.5 + self.rng.random())

    async def _send(self, ws, msg: dict[str, Any]) -> None:
        if self.limiter is not None:
            while True:
                got = self.limiter.try_acquire(RequestKind.INFO, 1, wall_ms(), channel="ws")
                if not isinstance(got, Denied):
                    break
                await asyncio.sleep(max(0.01, (got.retry_at_ms - wall_ms()) / 1000))
        await ws.send(json.dumps(msg))

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            started = asyncio.get_running_loop().time()
            reason = ""
            try:
                async with connect(self.url, ping_interval=None, open_timeout=10, close_timeout=2,
                                   max_size=8 * 1024 * 1024, proxy=None) as ws:
                    self._ws = ws
                    self.connections += 1
                    self.acked.clear()
                    for sub in self.subscriptions:
                        await self._send(ws, {"method": "subscribe", "subscription": sub})
                    self.connected.set()
                    self.on_connect(self.connections)
                    reason = await self._pump(ws, stop)
            except (TimeoutError, OSError, websockets.exceptions.WebSocketException) as e:
                reason = f"{type(e).__name__}: {e}"[:200]
            finally:
                self._ws = None
            if self.connected.is_set():
                self.connected.clear()
                self.on_disconnect(reason or "closed")
            if stop.is_set():
                return
            lived = asyncio.get_running_loop().time() - started
            failures = 1 if lived >= STABLE_AFTER_S else failures + 1
            delay = self.backoff_s(failures)
            log.warning("websocket %s (%s); reconnecting in %.2f s", "lost" if self.connections else "failed",
                        reason, delay)
            if await wait_event(stop, delay):
                return

    async def _pump(self, ws, stop: asyncio.Event) -> str:
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + self.ping_every_s
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while True:
                timeout = max(0.0, min(next_ping - loop.time(), self.silence_timeout_s))
                recv = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait({recv, stopper}, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                if stopper in done:
                    recv.cancel()
                    await asyncio.gather(recv, return_exceptions=True)
                    return "stopping"
                if recv not in done:
                    recv.cancel()
                    await asyncio.gather(recv, return_exceptions=True)
                    if loop.time() >= next_ping:
                        await self._send(ws, {"method": "ping"})
                        next_ping = loop.time() + self.ping_every_s
                        continue
                    return f"no message for {self.silence_timeout_s:g} s"
                try:
                    raw = recv.result()
                except websockets.exceptions.ConnectionClosed as e:
                    return f"closed ({e.rcvd.code if e.rcvd else 'no close frame'})"
                if loop.time() >= next_ping:
                    await self._send(ws, {"method": "ping"})
                    next_ping = loop.time() + self.ping_every_s
                self._dispatch(raw)
        finally:
            stopper.cancel()

    def _dispatch(self, raw: str | bytes) -> None:
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        if raw == WELCOME_TEXT:
            return
        try:
            msg = json.loads(raw)
        except ValueError:
            log.warning("websocket: unreadable message (%d bytes)", len(raw))
            return
        if not isinstance(msg, dict):
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
        self.on_message(msg, wall_ms())

    async def close(self) -> None:
        ws = self._ws
        if ws is not None:
            await ws.close()
