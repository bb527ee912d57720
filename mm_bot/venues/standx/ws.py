"""StandX market stream (wss://.../ws-stream/v1): public books and the account's order/position pushes.

Two connections to the same URL, each a ReconnectingWebSocket (mm_bot/live/wsconn.py: back-off
with jitter, silence watchdog, limiter charging of client frames):
- StandxMarketStream: `{"subscribe":{"channel":"depth_book","symbol":"BTC-USD"}}` per coin, sent
  again after every reconnect. Each depth_book message is treated as a FULL snapshot of the book
  (UNVERIFIED: the docs do not say snapshot or delta; their examples carry both sides and the
  third-party MM treats each message as a snapshot), re-sorted best-first by mapping.
- StandxAccountStream: `{"auth":{"token":<JWT>,"streams":[{"channel":"order"},{"channel":"position"}]}}`
  as the first frame of EVERY connection (auth and channels are per connection), then order and
  position pushes. A refused auth is reported as a WireError and the connection is dropped, so
  the back-off governs the retries.

Keep-alive: the server sends WebSocket protocol Ping frames every 10 s and the `websockets`
library answers them, so no application ping is sent. A market connection with no message for
SILENCE_TIMEOUT_S (30 s; books push continuously) is treated as dead and reconnected. The account
connection carries messages only when the account changes and protocol pings are not visible
here, so its watchdog is ACCOUNT_SILENCE_TIMEOUT_S (300 s, the server's own Pong timeout): a
shorter one would reconnect (and reconcile) a quiet account every 30 s.

Sequence numbers (UNVERIFIED, PROTOCOLS 4): every message carries `seq`; we assume it counts up
by one per message of a connection, across channels, restarting on a new connection. On the
market connection a jump (seq > last + 1) means dropped messages: a FeedProblem is emitted for
every coin, making every book stale until its next depth_book (a full snapshot, so the next one
heals it). A seq that does not increase is ignored (duplicate). Defensive fallback: if the first
GAP_CHECK_WINDOW messages of a connection show a gap on at least GAP_DISABLE_RATIO of them, the
assumption is evidently wrong for this server: gap checking is switched off for the process and
a warning logged (otherwise every message would mark the books stale). On the account connection a
gap is logged and reported as a WireError (missed order pushes are recovered by the runner's
periodic REST reconcile).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mm_bot.core.ratelimit import DualRateLimiter
from mm_bot.core.types import FeedProblem, Instrument
from mm_bot.live.wsconn import ReconnectingWebSocket, parse_json_object
from mm_bot.venues.errors import WireError
from mm_bot.venues.gateway import StreamSink
from mm_bot.venues.standx import mapping
from mm_bot.venues.standx.auth import StandxSigner

log = logging.getLogger("mm_bot.standx.ws")

# Books push several times a second; 30 s of nothing means a dead connection.
SILENCE_TIMEOUT_S = 30.0
# Account pushes can be quiet for long: the server's 10 s protocol pings do not count as messages,
# so the account connection gets a longer watchdog (a reconnect there also triggers a reconcile).
ACCOUNT_SILENCE_TIMEOUT_S = 300.0
# Unused: StandX needs no application ping (protocol pings are answered by `websockets`).
PING_EVERY_S = 3600.0
GAP_CHECK_WINDOW = 20
GAP_DISABLE_RATIO = 0.5
ACCOUNT_CHANNELS = ("order", "position")
MARKET_STREAM = "standx market"
ACCOUNT_STREAM = "standx account"


class _SeqWatch:
    """Per-connection `seq` tracking (see the module docstring for the assumption)."""

    def __init__(self) -> None:
        self.enabled = True
        self.last: int | None = None
        self.seen = 0
        self.gaps = 0
        self.total_gaps = 0

    def reset(self) -> None:
        self.last = None
        self.seen = 0
        self.gaps = 0

    def observe(self, seq: Any) -> tuple[int, int] | None:
        """(expected, got) when this message shows a gap, else None. Non-int seq: ignored."""
        if not self.enabled or isinstance(seq, bool) or not isinstance(seq, int):
            return None
        prev, self.last = self.last, seq if self.last is None else max(self.last, seq)
        self.seen += 1
        if prev is None or seq <= prev + 1:
            return None
        self.gaps += 1
        self.total_gaps += 1
        if self.seen <= GAP_CHECK_WINDOW and self.gaps >= max(3, GAP_CHECK_WINDOW * GAP_DISABLE_RATIO):
            self.enabled = False
            log.warning("standx: seq is not contiguous on this connection (%d gaps in %d messages); "
                        "gap detection switched off", self.gaps, self.seen)
            return None
        return prev + 1, seq


class StandxMarketStream(ReconnectingWebSocket):
    """Public depth_book of `coins` -> sink.on_events([BookUpdate]); seq gaps -> FeedProblem per coin."""

    name = "standx market stream"

    def __init__(self, url: str, coins: Iterable[str], instruments: Mapping[str, Instrument], sink: StreamSink,
                 limiter: DualRateLimiter | None = None, rng: random.Random | None = None,
                 silence_timeout_s: float = SILENCE_TIMEOUT_S) -> None:
        self.sink = sink
        super().__init__(url, self._connected, self._disconnected, limiter, rng, PING_EVERY_S, silence_timeout_s)
        self.coins = sorted(set(coins))
        self.instruments = instruments
        self.seq = _SeqWatch()
        self.books = 0
        self.gaps = 0

    def _connected(self, n: int) -> None:
        self.sink.on_connect(MARKET_STREAM, n, True)

    def _disconnected(self, reason: str) -> None:
        self.sink.on_disconnect(MARKET_STREAM, reason, True)

    def opening_frames(self) -> list[dict[str, Any]]:
        self.seq.reset()
        return [mapping.subscribe_frame("depth_book", c) for c in self.coins]

    def handle(self, text: str, recv_ms: int) -> None:
        msg = parse_json_object(text)
        if msg is None:
            self.sink.on_wire_error(WireError("market stream", f"not a JSON object ({len(text)} bytes)"), recv_ms)
            return
        gap = self.seq.observe(msg.get("seq"))
        if gap is not None:
            self.gaps += 1
            why = f"seq gap on the StandX market stream: expected {gap[0]}, got {gap[1]}; book stale until the next depth_book"
            log.warning("%s", why)
            self.sink.on_events([FeedProblem(c, recv_ms, why) for c in self.coins], recv_ms)
        channel = msg.get("channel")
        if channel == "depth_book":
            sym = msg.get("symbol")
            if sym is None and isinstance(msg.get("data"), dict):
                sym = msg["data"].get("symbol")
            try:
                inst = self.instruments.get(mapping.symbol_to_coin(sym))
                if inst is None:
                    return  # a coin we did not ask for
                book = mapping.parse_depth_book(msg, inst, recv_ms)
            except WireError as e:
                self.sink.on_wire_error(WireError("depth_book", e.detail), recv_ms)
                return
            self.books += 1
            self.sink.on_events([book], recv_ms)
            return
        if channel in (None, "price", "auth"):
            # `price` is not subscribed; a message without a channel is a server notice (e.g. 408).
            if channel is None and msg.get("code") not in (None, 0, 200):
                log.warning("standx market stream notice: code %s %s", msg.get("code"), str(msg.get("message"))[:200])
            return


class StandxAccountStream(ReconnectingWebSocket):
    """The account's order / position pushes (authenticated with the JWT on every connection).

    on_order(msg, recv_ms) -> core events (OrderAck / Fill, already deduplicated) for the sink;
    on_position(msg, recv_ms) keeps the gateway's latest position view (nothing for the sink).
    Both may raise WireError (reported to the sink, the message skipped).
    """

    name = "standx account stream"

    def __init__(self, url: str, signer: StandxSigner, sink: StreamSink,
                 on_order: Callable[[dict[str, Any], int], list],
                 on_position: Callable[[dict[str, Any], int], None],
                 limiter: DualRateLimiter | None = None, rng: random.Random | None = None,
                 silence_timeout_s: float = ACCOUNT_SILENCE_TIMEOUT_S) -> None:
        self.sink = sink
        super().__init__(url, self._connected, self._disconnected, limiter, rng, PING_EVERY_S, silence_timeout_s)
        self.signer = signer
        self.on_order = on_order
        self.on_position = on_position
        self.seq = _SeqWatch()
        self.authed = False
        self.auth_failures = 0
        self.gaps = 0

    def _connected(self, n: int) -> None:
        self.sink.on_connect(ACCOUNT_STREAM, n, False)

    def _disconnected(self, reason: str) -> None:
        self.authed = False
        self.sink.on_disconnect(ACCOUNT_STREAM, reason, False)

    def opening_frames(self) -> list[dict[str, Any]]:
        self.seq.reset()
        self.authed = False
        return [self.signer.stream_auth_frame(list(ACCOUNT_CHANNELS))]

    def handle(self, text: str, recv_ms: int) -> None:
        msg = parse_json_object(text)
        if msg is None:
            self.sink.on_wire_error(WireError("account stream", f"not a JSON object ({len(text)} bytes)"), recv_ms)
            return
        gap = self.seq.observe(msg.get("seq"))
        if gap is not None:
            self.gaps += 1
            self.sink.on_wire_error(WireError("account stream", f"seq gap: expected {gap[0]}, got {gap[1]} "
                                                                "(order pushes may be missing)"), recv_ms)
        channel = msg.get("channel")
        try:
            if channel == "auth":
                res = mapping.parse_stream_auth(msg)
                if res.ok:
                    self.authed = True
                    return
                self.auth_failures += 1
                # The reply text is the venue's; the token is never part of it.
                self.sink.on_wire_error(WireError("auth", f"stream auth refused: code {res.code} {res.message[:100]}"),
                                        recv_ms)
                self._drop()
                return
            if channel == "order":
                events = self.on_order(msg, recv_ms)
                if events:
                    self.sink.on_events(events, recv_ms)
                return
            if channel == "position":
                self.on_position(msg, recv_ms)
                return
        except WireError as e:
            self.sink.on_wire_error(e, recv_ms)
            return
        if channel is None and msg.get("code") not in (None, 0, 200):
            log.warning("standx account stream notice: code %s %s", msg.get("code"), str(msg.get("message"))[:200])

    def _drop(self) -> None:
        """Close the connection (the reconnect loop retries with back-off)."""
        ws = self._ws
        if ws is not None:
            ws.transport.abort()
