"""WOOFi Pro (Orderly) WebSockets: the public market stream and the private account stream.

Connection, reconnect back-off with jitter, limiter charging: mm_bot/live/wsconn.py.
PROTOCOLS 2.4 / 4:
- The server sends `{"event":"ping"}` every 10 s and drops a client that misses 10 pongs: every
  ping is answered with `{"event":"pong"}` at once. We send no pings of our own; a connection
  silent for SILENCE_TIMEOUT_S (three server pings) is treated as dead and reconnected.
- The server keeps no state across connections: every reconnect sends the opening frames again.

Public stream (`OrderlyPublicStream`), per coin: `{sym}@orderbookupdate` (200 ms deltas carrying
`ts` and `prevTs`) and `{sym}@trade`. The book is built from deltas on top of a snapshot requested
with the WS `request orderbook` frame right after the subscriptions (so deltas arriving first are
buffered, not lost), then chained by prevTs through mapping.OrderlyBookSequencer: a gap gives a
FeedProblem (the book is unusable) and a new snapshot request; buffered deltas newer than the
snapshot are replayed. We deliberately do NOT subscribe `{sym}@orderbook` (a full 100-level book
every second): the JS SDK's delta + on-demand snapshot scheme of PROTOCOLS 4 gives the same book
for a fraction of the traffic. UNVERIFIED (no live check): that the `request` reply's `data.ts` is
on the same clock as the deltas' `ts` (the sequencer would report a gap, and resync, if not);
when no snapshot reply comes within SNAPSHOT_TIMEOUT_S the REST snapshot (`fallback`) is used.

Private stream (`OrderlyPrivateStream`): the auth frame first, signed over a fresh timestamp on
EVERY connect (the official connector's re-auth on reconnect is broken, PROTOCOLS 4), then
`executionreport` and `position` subscriptions. A subscription refused because the auth reply
had not been processed yet is sent again after the auth succeeds; a refused auth closes the
connection (reconnect with back-off) and is reported as a WireError, never with the key.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from mm_bot.core.ratelimit import DualRateLimiter
from mm_bot.core.types import BookUpdate, FeedProblem, Fill, Instrument, OrderAck, TradePrint
from mm_bot.live.clock import wall_ms
from mm_bot.live.wsconn import ReconnectingWebSocket, parse_json_object
from mm_bot.venues.errors import VenueError, WireError
from mm_bot.venues.gateway import CancelFailed, StreamSink, dispatch

from . import mapping
from .auth import OrderlySigner
from .mapping import OrderlyBookSequencer

log = logging.getLogger("mm_bot.woofi.ws")

# Three missed server pings (10 s apart) without any other message: the connection is dead.
SILENCE_TIMEOUT_S = 35.0
# A snapshot request unanswered this long falls back to REST.
SNAPSHOT_TIMEOUT_S = 3.0
# At most one snapshot request per coin this often (a venue chain that keeps breaking must not
# turn into a request storm).
SNAPSHOT_MIN_GAP_S = 1.0

# What the streams hand to the sink.
StreamEvent = BookUpdate | TradePrint | FeedProblem | OrderAck | Fill | CancelFailed


class OrderlyPublicStream(ReconnectingWebSocket):
    """One public connection: books (deltas chained by prevTs) and trades of every coin."""

    name = "woofi_pro market stream"

    def __init__(self, url: str, instruments: Mapping[str, Instrument], coins: Iterable[str], sink: StreamSink,
                 limiter: DualRateLimiter | None = None, rng: random.Random | None = None,
                 fallback: Callable[[str], Awaitable[Any]] | None = None,
                 silence_timeout_s: float = SILENCE_TIMEOUT_S,
                 snapshot_timeout_s: float = SNAPSHOT_TIMEOUT_S) -> None:
        super().__init__(url, self._connected, self._disconnected, limiter, rng,
                         ping_every_s=10.0, silence_timeout_s=silence_timeout_s)
        self.sink = sink
        self.coins = sorted(set(coins))
        self.instruments = instruments
        self.by_symbol = {mapping.coin_to_symbol(c): c for c in self.coins}
        self.sequencers = {c: OrderlyBookSequencer(instruments[c]) for c in self.coins}
        self.fallback = fallback
        self.snapshot_timeout_s = snapshot_timeout_s
        self._ids = itertools.count(1)
        # coin -> monotonic time the outstanding snapshot request was sent.
        self._requested: dict[str, float] = {}
        # coin -> monotonic time of the last snapshot request (throttle).
        self._last_request: dict[str, float] = {}
        # coins still waiting for their first snapshot after a connect: the sequencer's
        # "awaiting snapshot" problem is expected there and not reported.
        self._syncing: set[str] = set()
        self._rest_tasks: set[asyncio.Task] = set()
        self.snapshots = 0
        self.gaps = 0
        self.rest_resyncs = 0
        self.pongs = 0

    # ------------------------------------------------------------ wsconn hooks

    def opening_frames(self) -> list[dict[str, Any]]:
        now = asyncio.get_running_loop().time()
        frames: list[dict[str, Any]] = []
        for c in self.coins:
            sym = mapping.coin_to_symbol(c)
            frames.append(mapping.subscribe_frame(f"s{next(self._ids)}", f"{sym}@orderbookupdate"))
            frames.append(mapping.subscribe_frame(f"s{next(self._ids)}", f"{sym}@trade"))
        for c in self.coins:
            # After the subscriptions: deltas newer than the snapshot are buffered, then replayed.
            self.sequencers[c].reset()
            self._syncing.add(c)
            self._requested[c] = now
            self._last_request[c] = now
            frames.append(mapping.request_orderbook_frame(f"r{next(self._ids)}", c))
        return frames

    def _connected(self, n: int) -> None:
        self.sink.on_connect(self.name, n, True)

    def _disconnected(self, reason: str) -> None:
        self._requested.clear()
        self.sink.on_disconnect(self.name, reason, True)

    def handle(self, text: str, recv_ms: int) -> None:
        dispatch(self.sink, self.parse, parse_json_object(text), recv_ms, len(text))
        self._check_timeouts()

    # ------------------------------------------------------------ parsing

    def parse(self, msg: dict[str, Any], recv_ms: int) -> list[StreamEvent]:
        """One public message -> core events (control frames answered here). Raises WireError."""
        topic = msg.get("topic")
        if isinstance(topic, str):
            sym, _, kind = topic.rpartition("@")
            coin = self.by_symbol.get(sym)
            if coin is None:
                return []  # a topic we did not subscribe (or of another symbol): ignore
            if kind == "orderbookupdate":
                return self._book(coin, self.sequencers[coin].on_update(msg, recv_ms))
            if kind == "orderbook":
                return self._book(coin, self.sequencers[coin].on_snapshot(msg, recv_ms))
            if kind == "trade":
                return [mapping.parse_trade(msg, self.instruments[coin], recv_ms)]
            return []
        ctl = mapping.parse_ws_control(msg)
        if ctl.event == "ping":
            self.queue(mapping.pong_frame())
            self.pongs += 1
            return []
        if ctl.event == "request":
            if not ctl.success:
                raise WireError("request", f"snapshot request refused: {ctl.error}")
            data = msg.get("data")
            coin = self.by_symbol.get(data.get("symbol")) if isinstance(data, dict) else None
            if coin is None:
                return []
            self._requested.pop(coin, None)
            return self.apply_snapshot(coin, msg, recv_ms)
        if not ctl.success:
            raise WireError(f"event:{ctl.event}", ctl.error or "refused")
        return []  # subscribe acks, pongs

    def apply_snapshot(self, coin: str, msg: Any, recv_ms: int) -> list[StreamEvent]:
        """A full book (WS request reply or REST /v1/orderbook envelope) for `coin`."""
        self.snapshots += 1
        self._syncing.discard(coin)
        return self._book(coin, self.sequencers[coin].on_snapshot(msg, recv_ms))

    def _book(self, coin: str, out: list[BookUpdate | FeedProblem]) -> list[StreamEvent]:
        problems = [e for e in out if isinstance(e, FeedProblem)]
        if not problems:
            return list(out)
        if coin in self._syncing:
            # Deltas before the first snapshot of a connection: expected, the request is out.
            out = [e for e in out if not isinstance(e, FeedProblem)]
        else:
            self.gaps += 1
        self.request_snapshot(coin)
        return list(out)

    # ------------------------------------------------------------ resync

    def request_snapshot(self, coin: str) -> None:
        """Ask for a fresh book of `coin` (WS request; REST when that goes unanswered)."""
        if coin in self._requested or self._ws is None:
            return
        now = asyncio.get_running_loop().time()
        if now - self._last_request.get(coin, -1e9) < SNAPSHOT_MIN_GAP_S:
            return
        self._last_request[coin] = now
        self._requested[coin] = now
        self.queue(mapping.request_orderbook_frame(f"r{next(self._ids)}", coin))

    def _check_timeouts(self) -> None:
        for coin, seq in self.sequencers.items():
            # A resync that the throttle held back is asked for now.
            if seq.needs_resync and coin not in self._requested:
                self.request_snapshot(coin)
        if not self._requested or self.fallback is None:
            return
        now = asyncio.get_running_loop().time()
        for coin, t in list(self._requested.items()):
            if now - t >= self.snapshot_timeout_s:
                # Keep the entry (no second request) until the REST answer came.
                self._requested[coin] = float("inf")
                task = asyncio.get_running_loop().create_task(self._rest_resync(coin))
                self._rest_tasks.add(task)
                task.add_done_callback(self._rest_tasks.discard)

    async def _rest_resync(self, coin: str) -> None:
        assert self.fallback is not None
        self.rest_resyncs += 1
        try:
            msg = await self.fallback(coin)
            recv = wall_ms()
            if self._ws is None:
                return  # disconnected meanwhile: the next connection requests its own
            events = self.apply_snapshot(coin, msg, recv)
            if events:
                self.sink.on_events(events, recv)
        except WireError as e:
            self.sink.on_wire_error(e, wall_ms())
        except VenueError as e:
            log.warning("REST book snapshot of %s failed: %s", coin, e)
        finally:
            if self._requested.get(coin) == float("inf"):
                del self._requested[coin]


class OrderlyPrivateStream(ReconnectingWebSocket):
    """The account's executionreport and position topics, authenticated on every connect.

    dispatch(msg, recv_ms) -> core events is the gateway's parser of the private topics.
    """

    name = "woofi_pro account stream"
    TOPICS = ("executionreport", "position")

    def __init__(self, url: str, signer: OrderlySigner, sink: StreamSink,
                 dispatch: Callable[[dict[str, Any], int], list[StreamEvent]],
                 limiter: DualRateLimiter | None = None, rng: random.Random | None = None,
                 clock: Callable[[], int] = wall_ms, silence_timeout_s: float = SILENCE_TIMEOUT_S) -> None:
        super().__init__(url, self._connected, self._disconnected, limiter, rng,
                         ping_every_s=10.0, silence_timeout_s=silence_timeout_s)
        self.signer = signer
        self.sink = sink
        self.dispatch = dispatch
        self.clock = clock
        self._ids = itertools.count(1)
        self.authed = False
        self._resubscribe: set[str] = set()
        self._topic_of_id: dict[str, str] = {}
        self.auths = 0
        self.pongs = 0

    def opening_frames(self) -> list[dict[str, Any]]:
        self.authed = False
        self._resubscribe.clear()
        self._topic_of_id.clear()
        self.auths += 1
        frames: list[dict[str, Any]] = [self.signer.ws_auth_frame(f"a{next(self._ids)}", self.clock())]
        for topic in self.TOPICS:
            frames.append(self._subscribe(topic))
        return frames

    def _subscribe(self, topic: str) -> dict[str, Any]:
        fid = f"s{next(self._ids)}"
        self._topic_of_id[fid] = topic
        return mapping.subscribe_frame(fid, topic)

    def _connected(self, n: int) -> None:
        self.sink.on_connect(self.name, n, False)

    def _disconnected(self, reason: str) -> None:
        self.authed = False
        self.sink.on_disconnect(self.name, reason, False)

    def handle(self, text: str, recv_ms: int) -> None:
        dispatch(self.sink, self.parse, parse_json_object(text), recv_ms, len(text))

    def parse(self, msg: dict[str, Any], recv_ms: int) -> list[StreamEvent]:
        if isinstance(msg.get("topic"), str):
            return self.dispatch(msg, recv_ms)
        ctl = mapping.parse_ws_control(msg)
        if ctl.event == "ping":
            self.queue(mapping.pong_frame())
            self.pongs += 1
            return []
        if ctl.event == "auth":
            if not ctl.success:
                self._close_soon()
                raise WireError("auth", f"private stream authentication refused: {ctl.error[:200]}")
            self.authed = True
            for topic in sorted(self._resubscribe):
                self.queue(self._subscribe(topic))
            self._resubscribe.clear()
            return []
        if ctl.event == "subscribe" and not ctl.success:
            topic = self._topic_of_id.get(ctl.id, "")
            if not self.authed and topic:
                self._resubscribe.add(topic)  # processed before the auth: again once authed
                return []
            raise WireError("subscribe", f"{topic or ctl.id} refused: {ctl.error[:200]}")
        if not ctl.success:
            raise WireError(f"event:{ctl.event}", ctl.error[:200] or "refused")
        return []

    def _close_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self.close())
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
