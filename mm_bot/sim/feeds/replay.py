"""Replay of recorded market data: ``open_replay(spec, instruments)`` -> ReplayFeed.

Input: raw collector dumps (``<local receive ns> <json>`` per line, gzip or plain), the
format of the hftbacktest collector and of our own recorder: Binance USD-M / COIN-M futures
and spot combined streams, Hyperliquid ``l2Book``/``trades``, Orderly ``@orderbook`` /
``@orderbookupdate`` / ``@trade`` topics. The format is detected per line.

Streams. ``spec`` is a file, a glob or a directory (its *.gz, *.jsonl and *.ndjson files,
not recursive; a file or a glob may name any file). Each file is probed (first PROBE_LINES
lines) for its venue and coins; files with the same venue and coin set are one stream, joined in time order (e.g. btcusd_perp_20240808.gz then _20240809.gz: sequence
state carries over the file boundary). Several streams merge with ``heapq.merge`` on
ts_ms; two streams carrying the same coin name is a ReplayError (Binance spot and USD-M
both say BTCUSDT: replay them separately).

Binance bookTicker is not emitted for a symbol that has a depth stream (the rebuilt depth
book is exact and deeper, and a BBO racing the diffs would overwrite fresher levels); it
is counted, and with ``check_bbo=True`` compared with the rebuilt book. A symbol recorded
with bookTicker only gets each BBO as a one-level snapshot. See binance.py. Hyperliquid's
subscribe-time replay of old trades is dropped (hyperliquid.py).

Time basis. Every event carries ts_ms on the simulator clock.

* ``time_basis="local"`` (default, what we chose): ts_ms = local receive ms + a per-stream
  shift. The receive time is when a live bot would have seen the message, so it keeps the
  real feed latency and its jitter, and the receive order of lines is the order a live bot
  processes them. But the recorder's clock is not the exchange's: in the 2024-08 Binance
  dumps it runs ~1.27 s behind, which would give negative latencies. The shift is therefore
  max(0, max(exchange time - receive ms)) over the first PROBE_LINES lines, so latency is
  >= 0 there; if a later message would still be negative the shift is raised to make it 0
  (counted in stats.shift_raises; monotone, so the order stays non-decreasing). It is never
  negative: a positive latency is physically plausible (Hyperliquid: ~0.3-0.5 s) and
  cannot be told apart from clock offset, so it is kept.
* ``time_basis="exchange"``: ts_ms = the exchange's event time (Binance E, Hyperliquid
  time, Orderly ts); messages without one (spot snapshot, spot bookTicker) use the shifted
  receive time.

Either way ts_ms is made non-decreasing per stream (an earlier stamp is raised to the
previous one), so the merged feed is in non-decreasing ts_ms order. Diffs buffered before a
snapshot come out right after it, at the snapshot's ts_ms.

Sequence gaps (Binance U/u/pu, Orderly prevTs): the coin's book diffs are buffered and the
stream reads ahead (holding its output, at most RESYNC_WINDOW_MS of receive time) for a
later snapshot. If one comes, a FeedProblem(fatal=False) naming file:line of the gap and of
the snapshot is emitted at the gap's place and the book restarts from the snapshot (buffered
diffs applied by the same rules as at start). If none comes within the window or before the
end of the data (Binance dumps carry one REST snapshot at the start only), a
FeedProblem(fatal=True) naming file:line is emitted at the gap's place and the coin stops:
none of its later events (book or trades) come out; other coins go on. The same applies at
the start: diffs with no snapshot to start from are fatal for that coin.

Speed: lines are read in ~2 MiB blocks (zlib streaming), parsed with orjson, and price /
size strings become ticks / lots through per-coin memo dicts (``_Scale``); the in-sequence
depth diff is inlined in binance.py. ``processes=True`` moves all of that to one worker
process per stream, leaving the caller ~4x less work per level (see open_replay).

Errors: a truncated gzip, a bad line (not ``<ns> <json>``) and a data file without an
instrument raise ReplayError naming file and line, after every event before it was yielded.
Unknown message shapes (subscription acks, pings, other channels) and known shapes with
missing fields are skipped and counted (stats.unknown, stats.malformed).
"""

from __future__ import annotations

import glob as globmod
import heapq
import pickle
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from operator import attrgetter
from pathlib import Path

import orjson

from mm_bot.core.book import L2Book
from mm_bot.core.types import BUY, SELL, BookUpdate, FeedProblem, Instrument, MarketEvent, TradePrint
from mm_bot.sim.feeds import binance, hyperliquid
from mm_bot.sim.feeds.raw import ReplayError, bad_line, iter_blocks, split_line

LOCAL = "local"
EXCHANGE = "exchange"
PROBE_LINES = 1000
RESYNC_WINDOW_MS = 60_000
DATA_SUFFIXES = (".gz", ".jsonl", ".ndjson")  # what a directory spec picks up

BINANCE_FUTURES = "binance-futures"
BINANCE_SPOT = "binance-spot"
HYPERLIQUID = "hyperliquid"
ORDERLY = "orderly"

# Trading rules of the symbols in ../shared/data (from each folder's SOURCE.txt), used when
# `instruments` has no entry for a coin. Keyed by (venue, coin): spot and USD-M both have
# a BTCUSDT with different rules.
DEFAULT_INSTRUMENTS: dict[tuple[str, str], Instrument] = {
    (BINANCE_FUTURES, "BTCUSDT"): Instrument("BTCUSDT", 0.1, 0.001),
    (BINANCE_FUTURES, "ETHUSDT"): Instrument("ETHUSDT", 0.01, 0.001),
    (BINANCE_FUTURES, "BTCUSD_PERP"): Instrument("BTCUSD_PERP", 0.1, 1.0, contract_size=100.0, inverse=True),
    (BINANCE_FUTURES, "ETHUSD_PERP"): Instrument("ETHUSD_PERP", 0.01, 1.0, contract_size=10.0, inverse=True),
    (BINANCE_SPOT, "BTCUSDT"): Instrument("BTCUSDT", 0.01, 0.00001),
    (BINANCE_SPOT, "ETHUSDT"): Instrument("ETHUSDT", 0.01, 0.0001),
    (HYPERLIQUID, "BTC"): Instrument("BTC", 1.0, 0.00001, min_notional_usd=10.0, max_sig_figs=5),
}

_WAIT, _SYNC, _DEAD = 0, 1, 2
_INF = 1 << 62
_ts_key = attrgetter("ts_ms")


@dataclass
class ReplayStats:
    """Counters of one pass over a ReplayFeed (reset when iteration starts)."""

    lines: int = 0
    book_updates: int = 0  # BookUpdate events emitted (snapshots included)
    levels: int = 0  # (px, sz) level updates in them
    snapshots: int = 0
    trades: int = 0
    gaps: int = 0  # sequence gaps found
    resyncs: int = 0  # gaps healed by a later snapshot (non-fatal FeedProblem)
    fatal: int = 0  # coins stopped (fatal FeedProblem)
    bookticker: int = 0  # bookTicker messages (not emitted unless the symbol has no depth)
    bbo_checked: int = 0
    bbo_mismatch: int = 0
    dropped_diffs: int = 0  # diffs older than the snapshot or duplicates
    stale_snapshots: int = 0  # snapshots not newer than the book, ignored
    stale_trades: int = 0  # Hyperliquid subscribe-time trade replay
    skipped_trades: int = 0  # Binance futures non-MARKET prints (insurance fund, ADL)
    after_fatal: int = 0  # messages of a stopped coin
    unknown: int = 0
    malformed: int = 0
    off_grid: int = 0  # distinct price/size strings not on the instrument's tick/lot grid
    shift_raises: int = 0
    shift_ms: dict[str, int] = field(default_factory=dict)  # stream -> final local-time shift

    def add(self, other: ReplayStats) -> None:
        """Add another pass's counters (a worker process's stream) into these."""
        for f in fields(self):
            if f.name == "shift_ms":
                self.shift_ms.update(other.shift_ms)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class _Scale(dict):
    """Memo of decimal string (or float) -> integer count of `unit`; misses convert.

    Price and size strings repeat a lot in book feeds, so a dict hit (~40 ns) replaces
    float() + multiply + round (~250 ns). Cleared when it grows past MAX entries.
    """

    MAX = 1 << 19
    __slots__ = ("inv", "off_grid")

    def __init__(self, unit: float) -> None:
        super().__init__()
        inv = 1.0 / unit
        r = round(inv)
        self.inv = float(r) if r and abs(inv - r) < 1e-9 * inv else inv
        self.off_grid = 0

    def __missing__(self, key: str | float) -> int:
        x = float(key) * self.inv
        v = int(x + 0.5)
        if abs(x - v) > 1e-6:
            self.off_grid += 1
        if len(self) >= self.MAX:
            self.clear()
        self[key] = v
        return v


class _Coin:
    __slots__ = (
        "name",
        "inst",
        "pc",
        "sc",
        "state",
        "last",
        "lo",
        "need_first",
        "fast",
        "buf",
        "hold",
        "deadline",
        "bbo_book",
        "book",
        "bt",
    )

    def __init__(self, name: str, inst: Instrument, bbo_book: bool, check: bool) -> None:
        self.name = name
        self.inst = inst
        self.pc = _Scale(inst.tick_size)
        self.sc = _Scale(inst.lot_size)
        self.state = _WAIT
        self.last = 0  # last applied (or snapshot) update id
        self.lo = 0  # lo of the last applied diff
        self.need_first = False
        self.fast = False  # synced, past the first diff, no check book: binance.py's inlined path
        self.buf: list[tuple] = []
        self.hold: _Hold | None = None
        self.deadline = _INF
        self.bbo_book = bbo_book  # no depth stream: bookTicker is the book
        self.book = L2Book(name) if check else None
        self.bt: tuple[int, int, int] | None = None  # bookTicker waiting for its diff (check_bbo)


class _Hold:
    """Placeholder in a stream's output while a coin waits for a snapshot."""

    __slots__ = ("coin", "ts_ms", "index", "msg", "where")

    def __init__(self, coin: str, ts_ms: int, index: int, msg: str | None, where: str) -> None:
        self.coin = coin
        self.ts_ms = ts_ms
        self.index = index
        self.msg = msg
        self.where = where


@dataclass
class _Probe:
    path: Path
    first_ns: int = 0
    venue: str = ""
    coins: set[str] = field(default_factory=set)
    depth: set[str] = field(default_factory=set)
    shift_ms: int = 0
    min_ex: int = _INF  # earliest exchange time in the probed lines (a trades message: its last)
    lines: int = 0  # non-blank lines probed
    error: ReplayError | None = None  # a read or parse error in the probed lines

    @property
    def single_coin(self) -> str | None:
        return next(iter(self.coins)) if len(self.coins) == 1 else None


def orderly_coin(symbol: str) -> str:
    """PERP_BTC_USDC -> BTC (the bot's coin name); other symbols stay as they are."""
    parts = symbol.split("_")
    if len(parts) == 3 and parts[0] == "PERP":
        return parts[1]
    return symbol


_DATE_TAIL = re.compile(r"[_-]\d{6,}$")


def _file_symbol(path: Path) -> str:
    """btcusd_perp_20240808.gz -> BTCUSD_PERP (the symbol a one-symbol dump is named after)."""
    name = path.name
    for suf in (".gz", ".jsonl", ".ndjson", ".txt", ".log", ".json"):
        if name.endswith(suf):
            name = name[: -len(suf)]
    return _DATE_TAIL.sub("", name).upper()


def _probe(path: Path, lines: int = PROBE_LINES) -> _Probe:
    """Venue, coins, depth-carrying coins and clock shift from the first lines of a file."""
    p = _Probe(path)
    spot = fut = unnamed_snapshot = False
    shift = -_INF
    n = 0
    blocks = iter_blocks(path)
    try:
        for lineno, block in blocks:
            for i, line in enumerate(block, lineno):
                if not line.strip():
                    continue
                p.lines += 1
                ns, obj = split_line(line, path, i)
                if not p.first_ns:
                    p.first_ns = ns
                lms = ns // 1_000_000
                ex = None
                if type(obj) is not dict:
                    continue
                d = obj.get("data") if "stream" in obj else obj if "e" in obj else None
                if type(d) is dict:
                    p.venue = p.venue or "binance"
                    sym = d.get("s")
                    e = d.get("e")
                    if sym and (
                        e in ("depthUpdate", "trade", "bookTicker") or (e is None and "A" in d and "u" in d)
                    ):
                        p.coins.add(sym.upper())
                    if e == "depthUpdate":
                        p.depth.add(sym.upper())
                        fut |= "pu" in d
                        spot |= "pu" not in d
                    elif e == "trade":
                        fut |= "X" in d
                        spot |= "M" in d
                    ex = d.get("E")
                elif "lastUpdateId" in obj:
                    sym = obj.get("symbol")
                    if sym:
                        p.coins.add(sym.upper())
                        p.depth.add(sym.upper())
                    else:
                        unnamed_snapshot = True
                    ex = obj.get("E")
                elif "channel" in obj:
                    ch, d = obj["channel"], obj.get("data")
                    if ch == "l2Book":
                        p.venue = HYPERLIQUID
                        p.coins.add(d["coin"])
                        p.depth.add(d["coin"])
                        ex = d.get("time")
                    elif ch == "trades" and d:
                        p.venue = HYPERLIQUID
                        p.coins.update(t["coin"] for t in d)
                        ex = max(t["time"] for t in d)
                elif "topic" in obj:
                    sym, _, kind = obj["topic"].partition("@")
                    if kind in ("orderbook", "orderbookupdate", "trade"):
                        p.venue = ORDERLY
                        coin = orderly_coin(sym)
                        p.coins.add(coin)
                        if kind != "trade":
                            p.depth.add(coin)
                        ex = obj.get("ts")
                if type(ex) is int:
                    shift = max(shift, ex - lms)
                    p.min_ex = min(p.min_ex, ex)
                n += 1
                if n >= lines:
                    raise StopIteration
    except StopIteration:
        pass
    except ReplayError as exc:
        p.error = exc  # the full pass raises it at its position, after the events before it
    except (KeyError, TypeError, AttributeError, ValueError):
        pass  # a malformed message: the full pass counts it
    finally:
        blocks.close()
    if p.venue == "binance":
        p.venue = BINANCE_SPOT if spot else BINANCE_FUTURES
        if unnamed_snapshot:
            coin = p.single_coin or _file_symbol(path)
            p.coins.add(coin)
            p.depth.add(coin)
    p.shift_ms = max(0, shift)
    return p


def _expand(spec: str | Path) -> list[Path]:
    path = Path(spec)
    if path.is_dir():
        files = [f for f in sorted(path.iterdir()) if f.is_file() and f.name.lower().endswith(DATA_SUFFIXES)]
    elif path.is_file():
        files = [path]
    else:
        files = [Path(f) for f in sorted(globmod.glob(str(spec))) if Path(f).is_file()]
    seen: set[Path] = set()
    out = []
    for f in files:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            out.append(f)
    if not out:
        raise ReplayError(f"{spec}: no data files")
    return out


class _Stream:
    """One venue+coin-set stream over one or more consecutive files."""

    def __init__(self, feed: ReplayFeed, probes: list[_Probe], stats: ReplayStats) -> None:
        self.feed = feed
        self.probes = probes
        self.stats = stats
        self.venue = probes[0].venue
        self.name = f"{self.venue}:{','.join(sorted(probes[0].coins))}"
        self.exchange_basis = feed.time_basis == EXCHANGE
        self.shift = probes[0].shift_ms
        self.last_ts = 0
        self.coins: dict[str, _Coin] = {}
        self.by_sym: dict[str, _Coin] = {}  # raw venue symbol -> coin (Binance: lower/upper case)
        # counters of the hot paths, kept here and added to stats at the end
        self.n_trades = 0
        self.n_books = 0
        self.n_levels = 0
        self.depth = set().union(*(p.depth for p in probes))
        self.out: list = []
        self.pending = 0
        self.deadline = _INF
        self.path = probes[0].path
        self.file_coin: str | None = None
        self.lms = 0
        self.skip_bt = not feed.check_bbo and all(c in self.depth for p in probes for c in p.coins)

    # ------------------------------------------------------------ the line loop

    def run(self) -> Iterator[MarketEvent]:
        stats = self.stats
        loads = orjson.loads
        on_binance = binance.on_event
        on_binance_snapshot = binance.on_snapshot
        on_hl = hyperliquid.on_message
        skip_bt = self.skip_bt
        try:
            for probe in self.probes:
                path = self.path = probe.path
                self.file_coin = probe.single_coin or _file_symbol(path)
                for lineno, lines in iter_blocks(path):
                    ln = lineno - 1
                    nbt = 0
                    for line in lines:
                        ln += 1
                        sp = line.find(b" ")
                        if skip_bt and line.find(b"@bookTicker", sp, sp + 64) > 0:
                            nbt += 1
                            continue
                        try:
                            if sp < 1:
                                if not line.strip():
                                    continue
                                raise ValueError("no '<ns> ' prefix")
                            lms = int(line[:sp]) // 1_000_000
                            obj = loads(line[sp + 1 :])
                        except ValueError as exc:
                            stats.lines += ln - lineno
                            raise bad_line(path, ln, line, exc) from exc
                        self.lms = lms
                        if lms > self.deadline:
                            self._expire(lms)
                        if type(obj) is not dict:
                            stats.unknown += 1
                            continue
                        try:
                            if "stream" in obj:
                                on_binance(self, obj["data"], lms, ln)
                            elif "channel" in obj:
                                on_hl(self, obj, lms, ln)
                            elif "topic" in obj:
                                _on_orderly(self, obj, lms, ln)
                            elif "lastUpdateId" in obj:
                                on_binance_snapshot(self, obj, lms, ln)
                            elif "e" in obj:
                                on_binance(self, obj, lms, ln)
                            elif obj.get("event") == "request" and type(obj.get("data")) is dict:
                                _on_orderly_request(self, obj, lms, ln)
                            else:
                                stats.unknown += 1
                        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
                            stats.malformed += 1
                        skip_bt = self.skip_bt  # a bookTicker-only coin may have appeared
                    stats.lines += len(lines)
                    stats.bookticker += nbt
                    if self.out and not self.pending:
                        yield from self._flush()
        except ReplayError:
            self._finish("before the read error")
            yield from self._flush()
            raise
        finally:
            self._close_stats()
        self._finish("before the end of the data")
        yield from self._flush()

    def _flush(self) -> Iterator[MarketEvent]:
        batch = self.out
        self.out = []
        for ev in batch:
            if ev is not None:
                yield ev

    def _close_stats(self) -> None:
        self.stats.shift_ms[self.name] = self.shift
        st = self.stats
        st.trades += self.n_trades
        st.book_updates += self.n_books
        st.levels += self.n_levels
        self.n_trades = self.n_books = self.n_levels = 0
        for c in self.coins.values():
            self.stats.off_grid += c.pc.off_grid + c.sc.off_grid
            c.pc.off_grid = c.sc.off_grid = 0

    # ------------------------------------------------------------ helpers for the venue modules

    def coin(self, name: str, ln: int) -> _Coin:
        c = self.coins.get(name)
        if c is None:
            inst = self.feed.instrument(name, self.venue)
            if inst is None:
                raise ReplayError(
                    f"{self.path}:{ln}: no instrument for coin {name!r} ({self.venue}); pass it in `instruments`"
                )
            bbo_book = name not in self.depth
            c = self.coins[name] = _Coin(name, inst, bbo_book, self.feed.check_bbo and not bbo_book)
            if bbo_book:
                self.skip_bt = False
        return c

    def ts(self, lms: int, ex: int | None) -> int:
        """ts_ms of a message received at `lms` (local ms) with exchange time `ex`."""
        if ex is not None:
            d = ex - lms
            if d > self.shift:
                self.shift = d
                self.stats.shift_raises += 1
            t = ex if self.exchange_basis else lms + self.shift
        else:
            t = lms + self.shift
        if t < self.last_ts:
            return self.last_ts
        self.last_ts = t
        return t

    def trade(self, c: _Coin, ts: int, px: int, sz: int, aggressor: int, tid: str, users: tuple) -> None:
        if c.state == _DEAD:
            self.stats.after_fatal += 1
            return
        self.out.append(TradePrint(c.name, ts, px, sz, aggressor, tid, users))
        self.n_trades += 1

    def full_book(self, c: _Coin, ts: int, bids: tuple, asks: tuple) -> None:
        """A message that replaces the whole book (Hyperliquid l2Book, bookTicker-only BBO)."""
        c.state = _SYNC
        ev = BookUpdate(c.name, ts, bids, asks, True)
        self.out.append(ev)
        st = self.stats
        st.book_updates += 1
        st.snapshots += 1
        st.levels += len(bids) + len(asks)

    def diff(
        self, c: _Coin, ts: int, path: Path, ln: int, lo: int, u: int, pu: int, b: list, a: list
    ) -> None:
        """A depth diff covering update ids (lo, u], chaining from id `pu` (see binance.py)."""
        if c.bbo_book:  # taken for bookTicker-only in the probe, but it has depth: wait for a snapshot
            c.bbo_book = False
            if c.state == _SYNC:
                c.state = _WAIT
        st = c.state
        if st == _SYNC:
            last = c.last
            if c.need_first:
                if u < last:
                    self.stats.dropped_diffs += 1
                    return
                if lo > last:
                    self._gap(
                        c,
                        ts,
                        path,
                        ln,
                        f"the first diff after the snapshot (id {last}) starts after it (covers {lo}..{u})",
                    )
                    c.buf.append((path, ln, lo, u, pu, b, a))
                    return
            elif pu != last:
                if u <= last:
                    self.stats.dropped_diffs += 1
                    return
                self._gap(c, ts, path, ln, f"diff chains from id {pu} but the previous diff ended at {last}")
                c.buf.append((path, ln, lo, u, pu, b, a))
                return
            pc, sc = c.pc, c.sc
            bids = tuple([(pc[p], sc[q]) for p, q in b])
            asks = tuple([(pc[p], sc[q]) for p, q in a])
            c.need_first = False
            c.fast = c.book is None
            c.last = u
            c.lo = lo
            ev = BookUpdate(c.name, ts, bids, asks, False)
            self.out.append(ev)
            stats = self.stats
            stats.book_updates += 1
            stats.levels += len(bids) + len(asks)
            if c.book is not None:
                c.book.apply(ev)
                bt = c.bt
                if bt is not None and lo < bt[0] <= u:
                    self._compare_bbo(c, bt)
                    c.bt = None
        elif st == _WAIT:
            if c.hold is None:
                self._hold(c, ts, path, ln, None)
            c.buf.append((path, ln, lo, u, pu, b, a))
        else:
            self.stats.after_fatal += 1

    def snapshot(self, c: _Coin, ts: int, ln: int, sid: int, b: list, a: list) -> None:
        """A depth snapshot whose state is update id `sid` (Binance lastUpdateId, Orderly ts)."""
        if c.state == _DEAD:
            self.stats.after_fatal += 1
            return
        if c.state == _SYNC and sid <= c.last:
            self.stats.stale_snapshots += 1
            return
        pc, sc = c.pc, c.sc
        bids = tuple([(pc[p], sc[q]) for p, q in b])
        asks = tuple([(pc[p], sc[q]) for p, q in a])
        ev = BookUpdate(c.name, ts, bids, asks, True)
        self.out.append(ev)
        stats = self.stats
        stats.book_updates += 1
        stats.snapshots += 1
        stats.levels += len(bids) + len(asks)
        if c.book is not None:
            c.book.apply(ev)
        h = c.hold
        if h is not None:
            if h.msg is None:
                self.out[h.index] = None
            else:
                self.out[h.index] = FeedProblem(
                    c.name, h.ts_ms, f"{h.msg}; resynced from the snapshot at {self.path}:{ln}", False
                )
                stats.resyncs += 1
            self._release(c)
        c.state = _SYNC
        c.last = sid
        c.need_first = True
        c.fast = False
        buf, c.buf = c.buf, []
        for path, bln, lo, u, pu, bb, ba in buf:
            self.diff(c, ts, path, bln, lo, u, pu, bb, ba)

    def check_bbo(self, c: _Coin, u: int, bid: int, ask: int) -> None:
        """Sanity check: compare a bookTicker with the book after the diff holding its update id.

        The bookTicker usually arrives before that diff, so it is kept until a diff covering
        its id is applied (a newer bookTicker replaces it).
        """
        if c.state != _SYNC:
            return
        if c.lo < u <= c.last and not c.need_first:
            self._compare_bbo(c, (u, bid, ask))
        elif u > c.last:
            c.bt = (u, bid, ask)

    def _compare_bbo(self, c: _Coin, bt: tuple[int, int, int]) -> None:
        self.stats.bbo_checked += 1
        if c.book.best_bid != bt[1] or c.book.best_ask != bt[2]:
            self.stats.bbo_mismatch += 1

    # ------------------------------------------------------------ gaps and holds

    def _gap(self, c: _Coin, ts: int, path: Path, ln: int, why: str) -> None:
        self.stats.gaps += 1
        c.state = _WAIT
        c.fast = False
        c.buf = []
        if c.book is not None:
            c.book.mark_out_of_sync()
        self._hold(c, ts, path, ln, f"{path}:{ln}: {c.name} sequence gap: {why}")

    def _hold(self, c: _Coin, ts: int, path: Path, ln: int, msg: str | None) -> None:
        h = c.hold = _Hold(c.name, ts, len(self.out), msg, f"{path}:{ln}")
        self.out.append(h)
        self.pending += 1
        c.deadline = self.lms + RESYNC_WINDOW_MS
        if c.deadline < self.deadline:
            self.deadline = c.deadline

    def _release(self, c: _Coin) -> None:
        c.hold = None
        c.deadline = _INF
        self.pending -= 1
        self.deadline = min((x.deadline for x in self.coins.values()), default=_INF)

    def _fatal(self, c: _Coin, why: str) -> None:
        h = c.hold
        msg = h.msg or f"{h.where}: {c.name}: depth diffs with no snapshot to start the book from"
        out = self.out
        out[h.index] = FeedProblem(c.name, h.ts_ms, f"{msg}; no snapshot {why}; {c.name} stops here", True)
        name = c.name
        for i in range(h.index + 1, len(out)):
            ev = out[i]
            if ev is not None and ev.coin == name:
                out[i] = None
                self.stats.after_fatal += 1
        self.stats.fatal += 1
        c.state = _DEAD
        c.fast = False
        c.buf = []
        self._release(c)

    def _expire(self, lms: int) -> None:
        for c in list(self.coins.values()):
            if c.hold is not None and c.deadline < lms:
                self._fatal(c, f"within {RESYNC_WINDOW_MS // 1000} s")

    def _finish(self, why: str) -> None:
        for c in list(self.coins.values()):
            if c.hold is not None:
                self._fatal(c, why)


def _on_orderly(s: _Stream, obj: dict, lms: int, ln: int) -> None:
    """Orderly topics of our own recordings (no orderly.py in this package: kept here).

    ``@orderbookupdate`` deltas chain by data.prevTs == ts of the last applied update or
    snapshot; they map onto the diff machine with lo = pu = prevTs and u = ts, so the first
    delta after a snapshot at S must have prevTs <= S <= ts. ``@orderbook`` (full book every
    second) is a snapshot with id = its ts. ``@trade`` side is the taker's side.
    """
    sym, _, kind = obj["topic"].partition("@")
    d = obj["data"]
    ex = obj.get("ts")
    if kind == "orderbookupdate":
        c = s.coin(orderly_coin(sym), ln)
        ts = s.ts(lms, ex)
        prev = d["prevTs"]
        s.diff(c, ts, s.path, ln, prev, ex, prev, d["bids"], d["asks"])
    elif kind == "orderbook":
        c = s.coin(orderly_coin(sym), ln)
        ts = s.ts(lms, ex)
        s.snapshot(c, ts, ln, d.get("ts", ex), d["bids"], d["asks"])
    elif kind == "trade":
        for t in d if type(d) is list else (d,):
            c = s.coin(orderly_coin(t.get("symbol", sym)), ln)
            ts = s.ts(lms, t.get("ts", ex))
            s.trade(c, ts, c.pc[t["price"]], c.sc[t["size"]], BUY if t["side"] == "BUY" else SELL, "", ())
    else:
        s.stats.unknown += 1


def _on_orderly_request(s: _Stream, obj: dict, lms: int, ln: int) -> None:
    """Reply to ``{"event":"request","params":{"type":"orderbook"}}``: a resync snapshot."""
    d = obj["data"]
    if "asks" not in d or "symbol" not in d:
        s.stats.unknown += 1
        return
    c = s.coin(orderly_coin(d["symbol"]), ln)
    ex = d.get("ts", obj.get("ts"))
    s.snapshot(c, s.ts(lms, ex), ln, ex, d["bids"], d["asks"])


class ReplayFeed:
    """Iterable of MarketEvent in non-decreasing ts_ms over the files of one spec.

    coins: coin names in the data (as the bot config names them); source_files: the files
    in stream order; stats: ReplayStats of the current/last pass (a fresh one per __iter__).
    """

    def __init__(
        self,
        streams: list[list[_Probe]],
        instruments: dict[str, Instrument],
        time_basis: str,
        check_bbo: bool,
        processes: bool = False,
    ) -> None:
        self._streams = streams
        self.instruments = instruments
        self.time_basis = time_basis
        self.check_bbo = check_bbo
        self.processes = processes
        self.coins: list[str] = sorted({c for ps in streams for p in ps for c in p.coins})
        self.source_files: list[Path] = [p.path for ps in streams for p in ps]
        self.stats = ReplayStats()

    def instrument(self, coin: str, venue: str | None = None) -> Instrument | None:
        """The Instrument used for `coin`: the one passed in, else DEFAULT_INSTRUMENTS for the
        venue of the stream carrying it (or `venue`), else None."""
        inst = self.instruments.get(coin)
        if inst is not None:
            return inst
        if venue is None:
            venue = next((ps[0].venue for ps in self._streams if any(coin in p.coins for p in ps)), "")
        return DEFAULT_INSTRUMENTS.get((venue, coin))

    def start_ms(self) -> int:
        """A replay-clock time no later than the first event: the earliest first line of the
        streams on the chosen time basis (from the open-time probe, so no pass is needed)."""
        starts = []
        for ps in self._streams:
            p = ps[0]
            local = p.first_ns // 1_000_000 + p.shift_ms
            starts.append(min(local, p.min_ex) if self.time_basis == EXCHANGE else local)
        return min(starts)

    def __iter__(self) -> Iterator[MarketEvent]:
        self.stats = stats = ReplayStats()
        if self.processes:
            runs = [self._remote(ps, stats) for ps in self._streams]
        else:
            runs = [_Stream(self, ps, stats).run() for ps in self._streams]
        if len(runs) == 1:
            return runs[0]
        return heapq.merge(*runs, key=_ts_key)

    def _remote(self, probes: list[_Probe], stats: ReplayStats) -> Iterator[MarketEvent]:
        """One stream read in a worker process; its events arrive as pickled row batches.

        The worker (a fresh interpreter running _worker_stdio, not multiprocessing: no fork
        of a threaded caller and no re-import of the caller's __main__) does decompression,
        JSON and tick conversion on another core; here only unpickling (C) and event
        construction remain. Frames are 8-byte length + pickle on the worker's stdout; the
        pipe's buffer bounds memory.
        """
        proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        try:
            proc.stdin.write(orjson.dumps(sys.path) + b"\n")
            args = (probes, self.instruments, self.time_basis, self.check_bbo)
            proc.stdin.write(pickle.dumps(args, 5))
            proc.stdin.close()
            out = proc.stdout
            while True:
                head = out.read(8)
                if len(head) < 8:
                    raise ReplayError(f"{probes[0].path}: replay worker died (exit code {proc.wait(5)})")
                msg = pickle.loads(out.read(int.from_bytes(head, "little")))
                if type(msg) is list:
                    for r in msg:
                        k = r[0]
                        if k == 0:
                            yield BookUpdate(r[1], r[2], r[3], r[4], r[5])
                        elif k == 1:
                            yield TradePrint(r[1], r[2], r[3], r[4], r[5], r[6], r[7])
                        else:
                            yield FeedProblem(r[1], r[2], r[3], r[4])
                    continue
                tag, value, worker_stats = msg
                stats.add(worker_stats)
                if tag == "error":
                    raise ReplayError(value)
                return
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()


_BATCH = 4096
_WORKER_BOOT = (
    "import sys, json; sys.path[:0] = json.loads(sys.stdin.buffer.readline()); "
    "from mm_bot.sim.feeds.replay import _worker_stdio; _worker_stdio()"
)


def _worker_stdio() -> None:
    """Worker process of ReplayFeed(processes=True): args pickled on stdin, frames on stdout."""
    probes, instruments, time_basis, check_bbo = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the frame stream

    def send(obj: object) -> None:
        data = pickle.dumps(obj, 5)
        out.write(len(data).to_bytes(8, "little"))
        out.write(data)

    feed = ReplayFeed([probes], instruments, time_basis, check_bbo)
    batch: list[tuple] = []
    add = batch.append
    end = ("end", "")
    try:
        try:
            for ev in feed:
                t = type(ev)
                if t is BookUpdate:
                    add((0, ev.coin, ev.ts_ms, ev.bids, ev.asks, ev.snapshot))
                elif t is TradePrint:
                    add((1, ev.coin, ev.ts_ms, ev.px, ev.sz, ev.aggressor, ev.trade_id, ev.users))
                else:
                    add((2, ev.coin, ev.ts_ms, ev.message, ev.fatal))
                if len(batch) >= _BATCH:
                    send(batch)
                    batch.clear()
        except ReplayError as exc:
            end = ("error", str(exc))
        except Exception as exc:  # reported to the reader as a ReplayError
            end = ("error", f"{probes[0].path}: replay worker failed: {exc!r}")
        if batch:
            send(batch)
        send((end[0], end[1], feed.stats))
        out.flush()
    except (BrokenPipeError, OSError):
        pass  # the reader stopped early


def open_replay(
    spec: str | Path,
    instruments: dict[str, Instrument] | None = None,
    time_basis: str = LOCAL,
    *,
    check_bbo: bool = False,
    processes: bool = False,
) -> ReplayFeed:
    """Open recorded data for replay.

    spec: a file, a glob or a directory. instruments: coin -> Instrument; coins missing
    there use DEFAULT_INSTRUMENTS. time_basis: "local" (shifted receive time) or
    "exchange" (see the module docstring). check_bbo: rebuild each book in the reader and
    compare bookTickers with it (stats.bbo_checked / bbo_mismatch); slower, for tests.
    processes: read each stream in a worker process (spawned per iteration, ~0.2 s to
    start); the calling process then only rebuilds events, ~3x the in-process rate when a
    spare core exists. Same events, order, errors and stats.
    Raises ReplayError when no file matches, a file has no recognisable data, or two
    streams carry the same coin.
    """
    if time_basis not in (LOCAL, EXCHANGE):
        raise ValueError(f"time_basis must be {LOCAL!r} or {EXCHANGE!r}, not {time_basis!r}")
    instruments = dict(instruments or {})
    probes = [p for p in map(_probe, _expand(spec)) if p.lines or p.error]  # empty files are skipped
    if not probes:
        raise ReplayError(f"{spec}: only empty files")
    for p in probes:
        if p.error is not None and not p.coins:
            raise p.error
        if not p.venue or not p.coins:
            raise ReplayError(
                f"{p.path}:1: unknown format: no Binance, Hyperliquid or Orderly market data "
                f"in the first {PROBE_LINES} lines"
            )
    groups: dict[tuple[str, frozenset[str]], list[_Probe]] = {}
    for p in sorted(probes, key=lambda p: p.first_ns):
        groups.setdefault((p.venue, frozenset(p.coins)), []).append(p)
    owner: dict[str, str] = {}
    for (venue, coins), ps in groups.items():
        for coin in coins:
            where = f"{venue} in {ps[0].path}"
            if coin in owner:
                raise ReplayError(
                    f"coin {coin!r} is in two streams ({owner[coin]} and {where}); replay them separately"
                )
            owner[coin] = where
            if instruments.get(coin) is None and (venue, coin) not in DEFAULT_INSTRUMENTS:
                raise ReplayError(
                    f"{ps[0].path}: no instrument for coin {coin!r} ({venue}); pass it in `instruments`"
                )
    streams = sorted(groups.values(), key=lambda ps: ps[0].first_ns)
    return ReplayFeed(streams, instruments, time_basis, check_bbo, processes)
