"""One reconnecting WebSocket connection, shared by every venue's ws.py.

What every venue needs and this class does: connect (no proxy, bounded frame size), send the
opening frames (auth, subscriptions) again after every reconnect, keep the connection alive
with an application-level ping when the venue wants one, treat a silent connection as dead,
and reconnect with exponential back-off and full jitter (a connection that lived
STABLE_AFTER_S resets the back-off). Every client->server frame is charged to the shared
limiter's "ws" bucket.

What differs per venue lives in a subclass: `opening_frames()` (what to send after connect),
`ping_frame()` (None: the venue pings us, or the WebSocket protocol ping is enough) and
`handle(text, recv_ms)` (parse one text frame; answer server pings with `queue()`).

Owners are told on_connect(n) after the opening frames of the n-th connection went out, and
on_disconnect(reason) when a connection ends, so they can mark books stale and resync.
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

log = logging.getLogger("mm_bot.ws")

BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
# A connection that lived this long resets the back-off.
STABLE_AFTER_S = 30.0
MAX_FRAME_BYTES = 8 * 1024 * 1024


class ReconnectingWebSocket:
    """Runs until `stop` is set: connect, send opening frames, dispatch, ping, reconnect."""

    name = "websocket"

    def __init__(self, url: str, on_connect: Callable[[int], None], on_disconnect: Callable[[str], None],
                 limiter: DualRateLimiter | None = None, rng: random.Random | None = None,
                 ping_every_s: float = 50.0, silence_timeout_s: float = 65.0) -> None:
        self.url = url
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.limiter = limiter
        self.rng = rng or random.Random()
        self.ping_every_s = ping_every_s
        self.silence_timeout_s = silence_timeout_s
        self.connections = 0
        self.connected = asyncio.Event()
        self._ws = None
        self._outbox: list[dict[str, Any]] = []
        self._outbox_kick = asyncio.Event()

    # ------------------------------------------------------------ venue hooks

    def opening_frames(self) -> list[dict[str, Any]]:
        """Frames sent, in order, after every (re)connect: auth, then subscriptions."""
        return []

    def ping_frame(self) -> dict[str, Any] | None:
        """The application-level keep-alive frame, or None when the venue needs none from us."""
        return None

    def handle(self, text: str, recv_ms: int) -> None:
        """One text frame from the venue (recv_ms: wall clock at receipt)."""

    # ------------------------------------------------------------ plumbing

    def queue(self, frame: dict[str, Any]) -> None:
        """Send `frame` from the connection task as soon as possible (dropped while disconnected:
        the opening frames of the next connection restore the state)."""
        if self._ws is not None:
            self._outbox.append(frame)
            self._outbox_kick.set()

    def backoff_s(self, failures: int) -> float:
        """Exponential back-off with full jitter in [0.5, 1.5) x base * 2^(failures-1), capped (s)."""
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
                                   max_size=MAX_FRAME_BYTES, proxy=None) as ws:
                    self._ws = ws
                    self._outbox.clear()
                    self.connections += 1
                    for frame in self.opening_frames():
                        await self._send(ws, frame)
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
            log.warning("%s %s (%s); reconnecting in %.2f s", self.name,
                        "lost" if self.connections else "failed", reason, delay)
            if await wait_event(stop, delay):
                return

    async def _pump(self, ws, stop: asyncio.Event) -> str:
        loop = asyncio.get_running_loop()
        ping = self.ping_frame() is not None
        next_ping = loop.time() + self.ping_every_s if ping else float("inf")
        last_rx = loop.time()
        stopper = asyncio.ensure_future(stop.wait())
        recv = asyncio.ensure_future(ws.recv())
        try:
            while True:
                while self._outbox:
                    await self._send(ws, self._outbox.pop(0))
                self._outbox_kick.clear()
                kick = asyncio.ensure_future(self._outbox_kick.wait())
                now = loop.time()
                timeout = max(0.0, min(next_ping - now, last_rx + self.silence_timeout_s - now))
                done, _ = await asyncio.wait({recv, stopper, kick}, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                kick.cancel()
                if stopper in done:
                    return "stopping"
                if recv in done:
                    try:
                        raw = recv.result()
                    except websockets.exceptions.ConnectionClosed as e:
                        return f"closed ({e.rcvd.code if e.rcvd else 'no close frame'})"
                    last_rx = loop.time()
                    recv = asyncio.ensure_future(ws.recv())
                    self.handle(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw, wall_ms())
                if loop.time() >= next_ping:
                    await self._send(ws, self.ping_frame() or {})
                    next_ping = loop.time() + self.ping_every_s
                if loop.time() - last_rx >= self.silence_timeout_s:
                    return f"no message for {self.silence_timeout_s:g} s"
        finally:
            stopper.cancel()
            recv.cancel()
            await asyncio.gather(stopper, recv, return_exceptions=True)

    async def close(self) -> None:
        ws = self._ws
        if ws is not None:
            await ws.close()


def parse_json_object(text: str) -> dict[str, Any] | None:
    """A text frame as a JSON object, or None (not JSON, or not an object)."""
    try:
        msg = json.loads(text)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None
