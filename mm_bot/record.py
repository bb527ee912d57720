"""Market-data recorder: public book and trade streams into raw-dump files the replay reads.

    python -m mm_bot.record --venue hyperliquid --coins BTC,ETH --out data/rec [--minutes 60] [--testnet]
    python -m mm_bot.record --venue woofi_pro --coins BTC --out data/rec [--flush-seconds 2]

What is subscribed (every coin of --coins, one connection per run):

* hyperliquid: ``{"method":"subscribe","subscription":{"type":"l2Book","coin":C}}`` and the same
  with ``{"type":"trades","coin":C}``. Coin names are case-sensitive there (``kPEPE``) and are
  sent as given.
* woofi_pro (Orderly public stream): ``{"id":"rec-<n>","event":"subscribe","topic":T}`` for
  T = ``PERP_<C>_USDC@orderbook`` (full book every 1 s), ``@orderbookupdate`` (200 ms deltas
  chained by prevTs) and ``@trade``. C is upper-cased; a coin given as ``PERP_X_USDC`` is used
  as the symbol.

File format (what ``mm_bot.sim.feeds.open_replay`` and the hftbacktest collector dumps share):
one received text frame per line, ``<time.time_ns() at receive, 19 digits> <frame text>\\n``,
gzip. The frame text is written exactly as received, except that a CR or LF in it (only
possible as JSON whitespace, since JSON strings cannot hold raw newlines) becomes a space so
that one frame stays one line. The stamp is taken when the frame is handed to the recorder by
the websockets library (after its read buffer), on the local wall clock.

Recorded: every text frame that parses as JSON, except heartbeats: market data, subscription
acks (Hyperliquid ``subscriptionResponse``, Orderly ``{"id","event":"subscribe","success"}``)
and venue error messages (also logged on stderr). The acks are the only trace of a reconnect
inside a file (no marker lines are written, the file holds venue messages only); the replay
reader skips them (counted as unknown). Not recorded: Hyperliquid ``{"channel":"pong"}``,
Orderly ``{"event":"ping"}`` / ``{"event":"pong"}``, non-JSON text (Hyperliquid greets with
``Websocket connection established.``) and binary frames; they are counted in the stats.

Files: one per (venue, UTC day), all coins of the run in the same file:
``<out>/<venue>_<YYYYMMDD>.gz`` (e.g. ``hyperliquid_20260121.gz``). The day is that of the
line's stamp; at 00:00 UTC the old file is closed (a complete gzip) and the next day's is
created with its first line, so no empty files are left. A file is never appended to: if the
name exists (a second run on the same day), ``<venue>_<YYYYMMDD>.1.gz``, ``.2.gz``, ... is used;
the replay reader orders the files of a stream by their first stamp. Replay a directory with
one run's coin set per venue (the reader groups files by venue and coin set and refuses two
streams with the same coin). The gzip stream is flushed with ``Z_SYNC_FLUSH`` every
``FLUSH_INTERVAL_S`` seconds, so a killed run loses at most that much and leaves a file whose
every complete line decompresses (the replay reader reads them, then reports the truncation).
Data reaches the OS, not the disk: no fsync.

Heartbeats (PROTOCOLS.md section 4): Hyperliquid gets ``{"method":"ping"}`` every 50 s (the
server drops connections idle for 60 s); Orderly's ``{"event":"ping"}`` is answered with
``{"event":"pong"}``. websockets' protocol-level pings stay on. A connection that delivers no
frame for ``idle_timeout`` seconds (90 s Hyperliquid, which answers every ping; 60 s Orderly,
which pings every 10 s) is treated as dead.

Reconnects: any drop, failed connect or idle timeout -> wait with exponential back-off and
jitter (0.5 s doubling up to 30 s, each delay drawn in [d/2, d]; reset once a connection
has lived 60 s), reconnect, subscribe to everything again. Each drop is logged on stderr with
counts (connects, drops, lines recorded).

Stops: SIGINT/SIGTERM or the end of ``--minutes`` close the current file properly and exit 0.
A write error (disk full, ...) or a bad URL stops the run with exit code 1. On a terminal the
stderr status line shows messages, messages per second, files and reconnects; it is silent
when stderr is not a TTY (log lines about connects and drops are still written).

URLs: Hyperliquid ``wss://api.hyperliquid.xyz/ws`` (``--testnet``:
``wss://api.hyperliquid-testnet.xyz/ws``), env ``HL_WS_URL`` overrides. Orderly
``wss://ws-evm.orderly.org/ws/stream/{account_id}`` (``--testnet``:
``wss://testnet-ws-evm.orderly.org/ws/stream/{account_id}``), env ``WOOFI_WS_PUBLIC_URL``
overrides (a ``{account_id}`` in it is filled in). Public topics accept any account id: env
``WOOFI_ACCOUNT_ID`` if set, else the placeholder ``PUBLIC_ACCOUNT_PLACEHOLDER`` (0x + 64 zeros).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import random
import signal
import sys
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson
import websockets
from websockets.asyncio.client import connect

log = logging.getLogger("mm_bot.record")

HYPERLIQUID = "hyperliquid"
WOOFI_PRO = "woofi_pro"
VENUES = (HYPERLIQUID, WOOFI_PRO)

HL_WS_MAINNET = "wss://api.hyperliquid.xyz/ws"
HL_WS_TESTNET = "wss://api.hyperliquid-testnet.xyz/ws"
ORDERLY_WS_MAINNET = "wss://ws-evm.orderly.org/ws/stream/{account_id}"
ORDERLY_WS_TESTNET = "wss://testnet-ws-evm.orderly.org/ws/stream/{account_id}"
# Public Orderly topics need an account id in the URL but do not check it.
PUBLIC_ACCOUNT_PLACEHOLDER = "0x" + "0" * 64

NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S
FLUSH_INTERVAL_S = 2.0
HL_PING_INTERVAL_S = 50.0
STABLE_AFTER_S = 60.0
MAX_FRAME_BYTES = 1 << 24

HL_PING = '{"method":"ping"}'
ORDERLY_PONG = '{"event":"pong"}'

# what to do with a frame
RECORD = "record"
HEARTBEAT = "heartbeat"
REPLY_PONG = "reply_pong"


class RecordError(Exception):
    """The run cannot go on (write error, bad URL): not retried by reconnecting."""


# ---------------------------------------------------------------------------- files


def day_name(day: int) -> str:
    """UTC days since the epoch -> 'YYYYMMDD'."""
    return datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y%m%d")


def one_line(text: str) -> str:
    """The frame as one line: CR/LF (JSON whitespace only) become spaces."""
    if "\n" in text or "\r" in text:
        return text.replace("\r", " ").replace("\n", " ")
    return text


class RotatingGzipWriter:
    """Lines ``<ns> <text>`` into ``<out_dir>/<prefix>_<YYYYMMDD>.gz``, one file per UTC day.

    ``write(text, ns=None)`` stamps with ``clock()`` unless given ``ns`` and writes into the
    file of the stamp's UTC day, opening it (and closing the previous day's) when the day
    changes. ``tick()`` closes the file once ``clock()`` has passed its day's end even when no
    line comes, and flushes. The gzip stream is sync-flushed when ``flush_interval_s`` has
    passed since the last flush (checked on write and tick), so a killed process leaves a
    readable prefix. ``files`` lists every file opened, in order.
    """

    def __init__(
        self,
        out_dir: str | Path,
        prefix: str,
        clock: Callable[[], int] = time.time_ns,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        compresslevel: int = 6,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.prefix = prefix
        self._clock = clock
        self._flush_ns = int(flush_interval_s * NS_PER_S)
        self._level = compresslevel
        self._raw: Any = None
        self._gz: gzip.GzipFile | None = None
        self._day: int | None = None
        self._last_flush = 0
        self._dirty = False
        self.path: Path | None = None  # the file open now
        self.files: list[Path] = []
        self.lines = 0
        self.bytes_in = 0

    def _name(self, day: int, n: int) -> Path:
        tail = f".{n}" if n else ""
        return self.out_dir / f"{self.prefix}_{day_name(day)}{tail}.gz"

    def _open(self, day: int, now: int) -> None:
        self.close()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        n = 0
        while True:
            path = self._name(day, n)
            try:
                raw = open(path, "xb")  # closed in close()
            except FileExistsError:
                n += 1
                continue
            break
        self._raw = raw
        self._gz = gzip.GzipFile(filename=path.name[:-3], mode="wb", fileobj=raw, compresslevel=self._level)
        self._day = day
        self._last_flush = now
        self.path = path
        self.files.append(path)

    def write(self, text: str, ns: int | None = None) -> int:
        """Write one line; returns its stamp."""
        if ns is None:
            ns = self._clock()
        day = ns // NS_PER_DAY
        if day != self._day or self._gz is None:
            self._open(day, ns)
        data = b"%d %s\n" % (ns, one_line(text).encode())
        assert self._gz is not None
        self._gz.write(data)
        self.lines += 1
        self.bytes_in += len(data)
        self._dirty = True
        if ns - self._last_flush >= self._flush_ns or ns < self._last_flush:
            self.flush(ns)
        return ns

    def tick(self) -> None:
        """Close the file once its UTC day is over; flush when the interval has passed."""
        if self._gz is None:
            return
        now = self._clock()
        if now // NS_PER_DAY > (self._day or 0):
            self.close()
        elif self._dirty and (now - self._last_flush >= self._flush_ns or now < self._last_flush):
            self.flush(now)

    def flush(self, now: int | None = None) -> None:
        """Sync-flush the gzip stream: every line so far decompresses from the file as it is."""
        if self._gz is not None:
            self._gz.flush(zlib.Z_SYNC_FLUSH)
            self._dirty = False
            self._last_flush = self._clock() if now is None else now

    def close(self) -> None:
        """Finish the current gzip (trailer written) and close the file; idempotent."""
        gz, raw = self._gz, self._raw
        self._gz = self._raw = None
        self._day = None
        self.path = None
        self._dirty = False
        if gz is not None:
            try:
                gz.close()
            finally:
                raw.close()

    def __enter__(self) -> RotatingGzipWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------- venues


def orderly_symbol(coin: str) -> str:
    c = coin.upper()
    return c if c.startswith("PERP_") else f"PERP_{c}_USDC"


def subscriptions(venue: str, coins: Sequence[str], next_id: Callable[[], str]) -> list[str]:
    """The subscribe messages for every coin, as sent (text)."""
    out: list[dict] = []
    if venue == HYPERLIQUID:
        for c in coins:
            for kind in ("l2Book", "trades"):
                out.append({"method": "subscribe", "subscription": {"type": kind, "coin": c}})
    elif venue == WOOFI_PRO:
        for c in coins:
            sym = orderly_symbol(c)
            for kind in ("orderbook", "orderbookupdate", "trade"):
                out.append({"id": next_id(), "event": "subscribe", "topic": f"{sym}@{kind}"})
    else:
        raise ValueError(f"unknown venue {venue!r} (one of {', '.join(VENUES)})")
    return [orjson.dumps(m).decode() for m in out]


def classify(venue: str, obj: object) -> str:
    """RECORD, HEARTBEAT (drop) or REPLY_PONG (drop and answer) for a parsed frame."""
    if type(obj) is not dict:
        return RECORD
    if venue == HYPERLIQUID:
        return HEARTBEAT if obj.get("channel") == "pong" else RECORD
    ev = obj.get("event")
    if ev == "ping":
        return REPLY_PONG
    if ev == "pong":
        return HEARTBEAT
    return RECORD


def venue_error(venue: str, obj: object) -> str | None:
    """The text of a venue error message (failed subscription ...), else None."""
    if type(obj) is not dict:
        return None
    if venue == HYPERLIQUID:
        if obj.get("channel") == "error":
            return str(obj.get("data"))
        return None
    if obj.get("success") is False:
        return f"{obj.get('event')} {obj.get('id')}: {obj.get('errorMsg') or obj.get('message')}"
    return None


def default_url(venue: str, testnet: bool = False, environ: Mapping[str, str] | None = None) -> str:
    """The public WS URL of a venue, after the env overrides (see the module docstring)."""
    env = os.environ if environ is None else environ
    if venue == HYPERLIQUID:
        return env.get("HL_WS_URL") or (HL_WS_TESTNET if testnet else HL_WS_MAINNET)
    if venue == WOOFI_PRO:
        url = env.get("WOOFI_WS_PUBLIC_URL") or (ORDERLY_WS_TESTNET if testnet else ORDERLY_WS_MAINNET)
        account = env.get("WOOFI_ACCOUNT_ID") or PUBLIC_ACCOUNT_PLACEHOLDER
        return url.replace("{account_id}", account)
    raise ValueError(f"unknown venue {venue!r} (one of {', '.join(VENUES)})")


# ---------------------------------------------------------------------------- recorder


class Backoff:
    """Exponential back-off with jitter: base delay ``initial * factor**n`` capped at ``cap``;
    each returned delay is drawn uniformly in [base/2, base]."""

    def __init__(
        self,
        initial: float = 0.5,
        cap: float = 30.0,
        factor: float = 2.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.initial, self.cap, self.factor, self._rng = initial, cap, factor, rng
        self.attempt = 0

    def next(self) -> float:
        base = min(self.cap, self.initial * self.factor**self.attempt)
        self.attempt += 1
        return base * (0.5 + 0.5 * self._rng())

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class RecorderStats:
    recorded: int = 0  # lines written
    heartbeats: int = 0  # pings/pongs received and not recorded
    pongs_sent: int = 0
    pings_sent: int = 0
    non_json: int = 0  # text frames that are not JSON (not recorded)
    binary: int = 0  # binary frames (not recorded)
    venue_errors: int = 0
    connects: int = 0  # successful connections
    drops: int = 0  # connections lost or attempts failed
    subscribe_sent: int = 0
    last_drop: str = ""
    files: list[Path] = field(default_factory=list)


class _Done(Exception):
    """max_messages reached."""


class Recorder:
    """Records one venue's public streams for ``coins`` into ``out_dir`` until stopped.

    ``await run(stop_event)`` connects, subscribes, records and reconnects on any drop until
    ``stop_event`` is set (or ``max_messages`` lines were written), then closes the file and
    returns the stats. ``clock`` stamps the lines (ns since the epoch, UTC days pick the file).
    """

    def __init__(
        self,
        venue: str,
        coins: Sequence[str],
        out_dir: str | Path,
        url: str | None = None,
        clock: Callable[[], int] = time.time_ns,
        *,
        testnet: bool = False,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        backoff: Backoff | None = None,
        stable_after_s: float = STABLE_AFTER_S,
        ping_interval_s: float | None = None,
        idle_timeout_s: float | None = None,
        max_messages: int | None = None,
        proxy: str | bool | None = True,
        on_status: Callable[[Recorder], None] | None = None,
        status_interval_s: float = 1.0,
    ) -> None:
        if venue not in VENUES:
            raise ValueError(f"unknown venue {venue!r} (one of {', '.join(VENUES)})")
        coins = list(dict.fromkeys(c.strip() for c in coins if c.strip()))
        if not coins:
            raise ValueError("no coins to record")
        self.venue = venue
        self.coins = coins
        self.url = url or default_url(venue, testnet)
        self.clock = clock
        self.writer = RotatingGzipWriter(out_dir, venue, clock, flush_interval_s)
        self.flush_interval_s = flush_interval_s
        self.backoff = backoff or Backoff()
        self.stable_after_s = stable_after_s
        hl = venue == HYPERLIQUID
        self.ping_interval_s = (
            ping_interval_s if ping_interval_s is not None else (HL_PING_INTERVAL_S if hl else None)
        )
        self.idle_timeout_s = idle_timeout_s if idle_timeout_s is not None else (90.0 if hl else 60.0)
        self.max_messages = max_messages
        self.proxy = proxy
        self.on_status = on_status
        self.status_interval_s = status_interval_s
        self.stats = RecorderStats(files=self.writer.files)
        self.started = time.monotonic()
        self._ids = 0

    def _next_id(self) -> str:
        self._ids += 1
        return f"rec-{self._ids}"

    # -- one connection

    async def _pinger(self, ws: Any) -> None:
        assert self.ping_interval_s is not None
        while True:
            await asyncio.sleep(self.ping_interval_s)
            await ws.send(HL_PING)
            self.stats.pings_sent += 1

    async def _connection(self, on_connected: Callable[[], None]) -> None:
        async with connect(
            self.url,
            open_timeout=15,
            close_timeout=2,
            max_size=MAX_FRAME_BYTES,
            proxy=self.proxy,
        ) as ws:
            self.stats.connects += 1
            on_connected()
            subs = subscriptions(self.venue, self.coins, self._next_id)
            for m in subs:
                await ws.send(m)
            self.stats.subscribe_sent += len(subs)
            log.info(
                "%s: connected to %s (connect #%d), subscribed %d streams for %s",
                self.venue,
                self.url,
                self.stats.connects,
                len(subs),
                ",".join(self.coins),
            )
            pinger = asyncio.create_task(self._pinger(ws)) if self.ping_interval_s else None
            try:
                await self._receive(ws)
            except (_Done, asyncio.CancelledError):
                await ws.close()  # we are stopping: a normal closure (1000), not 1011
                raise
            finally:
                if pinger is not None:
                    pinger.cancel()
                    with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                        await pinger

    async def _receive(self, ws: Any) -> None:
        st = self.stats
        venue = self.venue
        loads = orjson.loads
        idle = self.idle_timeout_s
        while True:
            try:
                msg = await asyncio.wait_for(ws.recv(), idle)
            except TimeoutError:
                raise ConnectionError(f"no frame for {idle:g} s") from None
            ns = self.clock()
            if type(msg) is not str:
                st.binary += 1
                continue
            try:
                obj = loads(msg)
            except orjson.JSONDecodeError:
                st.non_json += 1
                continue
            what = classify(venue, obj)
            if what == HEARTBEAT:
                st.heartbeats += 1
                continue
            if what == REPLY_PONG:
                st.heartbeats += 1
                await ws.send(ORDERLY_PONG)
                st.pongs_sent += 1
                continue
            err = venue_error(venue, obj)
            if err is not None:
                st.venue_errors += 1
                log.warning("%s: venue error: %s", venue, err[:300])
            try:
                self.writer.write(msg, ns)
            except OSError as exc:
                raise RecordError(f"cannot write {self.writer.path}: {exc}") from exc
            st.recorded += 1
            if self.max_messages is not None and st.recorded >= self.max_messages:
                raise _Done

    # -- the run

    async def _housekeeping(self) -> None:
        next_status = time.monotonic()
        period = max(0.05, min(0.5, self.status_interval_s, self.flush_interval_s))
        while True:
            await asyncio.sleep(period)
            try:
                self.writer.tick()
            except OSError as exc:
                raise RecordError(f"cannot write {self.writer.path}: {exc}") from exc
            if self.on_status is not None and time.monotonic() >= next_status:
                next_status = time.monotonic() + self.status_interval_s
                self.on_status(self)

    async def run(self, stop_event: asyncio.Event) -> RecorderStats:
        """Record until ``stop_event`` is set; the file is closed properly on return."""
        self.started = time.monotonic()
        stop_wait = asyncio.create_task(stop_event.wait())
        house = asyncio.create_task(self._housekeeping())
        st = self.stats
        conn: asyncio.Task | None = None
        try:
            while not stop_event.is_set():
                connected_at: list[float] = []
                conn = asyncio.create_task(
                    self._connection(lambda c=connected_at: c.append(time.monotonic()))
                )
                done, _ = await asyncio.wait({conn, stop_wait, house}, return_when=asyncio.FIRST_COMPLETED)
                if house in done:
                    conn.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await conn
                    house.result()  # raises the RecordError
                if conn not in done:  # stopped
                    conn.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await conn
                    break
                exc = conn.exception()
                if isinstance(exc, _Done):
                    break
                if isinstance(exc, (RecordError, websockets.InvalidURI)):
                    raise exc if isinstance(exc, RecordError) else RecordError(f"bad URL {self.url!r}: {exc}")
                reason = "closed by the server" if exc is None else f"{type(exc).__name__}: {exc}"
                st.drops += 1
                st.last_drop = reason
                lived = time.monotonic() - connected_at[0] if connected_at else 0.0
                if lived >= self.stable_after_s:
                    self.backoff.reset()
                delay = self.backoff.next()
                log.warning(
                    "%s: %s after %.1f s (%s); reconnect #%d in %.2f s (connects %d, drops %d, recorded %d)",
                    self.venue,
                    "connection lost" if connected_at else "connect failed",
                    lived,
                    reason[:300],
                    st.drops,
                    delay,
                    st.connects,
                    st.drops,
                    st.recorded,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stop_wait), delay)
        finally:
            if conn is not None and not conn.done():  # run() itself was cancelled
                conn.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await conn
            for t in (stop_wait, house):
                t.cancel()
            with contextlib.suppress(asyncio.CancelledError, RecordError):
                await house
            with contextlib.suppress(asyncio.CancelledError):
                await stop_wait
            self.writer.close()
        return st


# ---------------------------------------------------------------------------- CLI


class _Console:
    """stderr: log lines, plus a status line redrawn in place when stderr is a terminal."""

    def __init__(self, tty: bool, minutes: float | None) -> None:
        self.tty = tty
        self.minutes = minutes
        self.shown = False
        self._last = (time.monotonic(), 0)
        self.rate = 0.0

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            self.shown = False

    def status(self, rec: Recorder) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        t0, n0 = self._last
        st = rec.stats
        if now > t0:
            self.rate = (st.recorded - n0) / (now - t0)
        self._last = (now, st.recorded)
        elapsed = now - rec.started
        left = ""
        if self.minutes:
            left = f", {max(0.0, self.minutes * 60 - elapsed):.0f} s left"
        cur = rec.writer.path.name if rec.writer.path else "-"
        line = (
            f"{rec.venue} {','.join(rec.coins)}: {st.recorded} msgs, {self.rate:.1f} msg/s, "
            f"{len(st.files)} file(s) [{cur}, {rec.writer.bytes_in / 1e6:.1f} MB raw], "
            f"reconnects {st.drops}, {elapsed:.0f} s{left}"
        )
        sys.stderr.write("\r\x1b[K" + line)
        sys.stderr.flush()
        self.shown = True


class _ConsoleHandler(logging.StreamHandler):
    def __init__(self, console: _Console) -> None:
        super().__init__(sys.stderr)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        self.console.clear()
        super().emit(record)


async def _main(rec: Recorder, minutes: float | None) -> RecorderStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if minutes is not None:
        loop.call_later(minutes * 60.0, stop.set)
    return await rec.run(stop)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--venue", required=True, type=click.Choice(VENUES), help="Venue whose public streams to record."
)
@click.option("--coins", required=True, help="Comma-separated coins, e.g. BTC,ETH.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory (created if missing); files <venue>_<YYYYMMDD>.gz.",
)
@click.option(
    "--minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop after this many minutes (default: until SIGINT/SIGTERM).",
)
@click.option("--testnet", is_flag=True, help="Use the venue's testnet URL.")
@click.option(
    "--flush-seconds",
    type=click.FloatRange(min=0),
    default=FLUSH_INTERVAL_S,
    show_default=True,
    help="Sync-flush the gzip this often (what a killed run can lose at most).",
)
def main(
    venue: str, coins: str, out_dir: Path, minutes: float | None, testnet: bool, flush_seconds: float
) -> None:
    """Record public book and trade streams into raw-dump files (one line per WS message,
    `<receive ns> <json>`, gzip, one file per venue and UTC day) for replay."""
    coin_list = [c.strip() for c in coins.split(",") if c.strip()]
    if not coin_list:
        raise click.BadParameter("no coins given", param_hint="--coins")
    console = _Console(sys.stderr.isatty(), minutes)
    for h in [h for h in log.handlers if isinstance(h, _ConsoleHandler)]:
        log.removeHandler(h)
    handler = _ConsoleHandler(console)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        rec = Recorder(
            venue,
            coin_list,
            out_dir,
            testnet=testnet,
            flush_interval_s=flush_seconds,
            on_status=console.status,
        )
        st = asyncio.run(_main(rec, minutes))
    except (RecordError, OSError) as exc:
        console.clear()
        click.echo(f"record: {exc}", err=True)
        sys.exit(1)
    console.clear()
    names = ", ".join(p.name for p in st.files) or "none"
    log.info(
        "%s: stopped; %d messages recorded into %s (connects %d, drops %d, heartbeats %d, pongs sent %d, "
        "non-JSON %d)",
        venue,
        st.recorded,
        names,
        st.connects,
        st.drops,
        st.heartbeats,
        st.pongs_sent,
        st.non_json,
    )


if __name__ == "__main__":
    main()
