"""The plumbing every fake venue shares: an asyncio loop in a daemon thread serving HTTP (asyncio
streams) and WebSocket (websockets) on free 127.0.0.1 ports, its background tasks, and call() to run
code on that loop from the test thread. A subclass supplies _http_conn, _ws_conn and background()."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from typing import Any

from websockets.asyncio.server import serve

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 422: "Unprocessable Entity",
            429: "Too Many Requests", 500: "Internal Server Error"}


class FakeVenueServer:
    name = "fake venue"
    # Protocol-level pings from the server (None: none; StandX pings every 10 s).
    ws_ping_interval: float | None = None

    def __init__(self) -> None:
        self.conns: dict[Any, dict] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.http_port = 0
        self.ws_port = 0
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def background(self) -> list[Coroutine]:
        """Coroutines run while the server is up (book pushers, pingers)."""
        return []

    async def http_request(self, method: str, target: str, headers: dict[str, str], body: bytes
                           ) -> tuple[int, Any]:
        """(status, JSON payload or raw bytes) for one request; headers lower-cased."""
        raise RuntimeError(f"{type(self).__name__} defines no HTTP handler")

    async def _http_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A minimal HTTP/1.1 keep-alive server: enough for `requests` and nothing more."""
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                n = int(headers.get("content-length", "0"))
                body = await reader.readexactly(n) if n else b""
                status, payload = await self.http_request(method, target, headers, body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                writer.write(f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
                             "Content-Type: application/json\r\n"
                             f"Content-Length: {len(data)}\r\nConnection: keep-alive\r\n\r\n".encode() + data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _ws_conn(self, ws) -> None:
        raise RuntimeError(f"{type(self).__name__} defines no WebSocket handler")

    def start(self):
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{self.name} did not start")
        return self

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        http = await asyncio.start_server(self._http_conn, "127.0.0.1", 0)
        self.http_port = http.sockets[0].getsockname()[1]
        async with serve(self._ws_conn, "127.0.0.1", 0, ping_interval=self.ws_ping_interval) as ws_server:
            self.ws_port = next(iter(ws_server.sockets)).getsockname()[1]
            tasks = [asyncio.create_task(c) for c in self.background()]
            self._ready.set()
            await self._stop.wait()
            for t in tasks:
                t.cancel()
            for ws in list(self.conns):
                ws.transport.abort()
        http.close()
        for w in list(self._writers):
            w.close()
        await asyncio.sleep(0.05)

    def call(self, fn, *args):
        """Run fn(*args) on the fake's loop and return its result (test thread)."""
        async def job():
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(job(), self.loop).result(10)
