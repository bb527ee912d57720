"""Compare bot configs on the same recorded market data, in one command.

    python -m mm_bot.compare --replay data.gz --config A.json --config B.json [--phases N] [--coin COIN]

Each config runs alone (its own SQLite database, in memory unless ``--keep-dbs DIR``) through
:func:`mm_bot.sim.replay_run.run_replay`, so bots never share a paper venue, a queue or a rate
limiter. With ``--phases N`` each config runs N times, its decision clock shifted by
``phase_ms = k * loop_ms // N`` (k = 0..N-1), and every cell shows the mean over the phases and
their min..max: a difference smaller than that spread is noise of where the loop ticks fall.

Every figure is a whole-run figure recomputed from the run's rows (not an average of the
per-minute ``performance_metrics`` rows), per DESIGN section 6:

- fills: rows of ``fills``. maker ratio: maker fills / fills (by count; by notional in JSON).
- cancels per fill: ``trades`` rows of kind ``cancel`` (cancel requests) / fills.
- amends: sum of the ``amends`` column of the per-minute ``performance_metrics`` rows (the first
  row at each timestamp; the second is the rolling window). The order path has no modify
  today, so this is 0 until it has one.
- order rest (median, ms): per order (not IOC), from its first ``order_events`` row ``open`` (or
  ``partially_filled``) - the venue accepted it - to its first ``filled`` / ``cancelled`` /
  ``rejected`` row; median by linear interpolation (:func:`mm_bot.core.ti.quantile`).
- holding time (average, s): FIFO over the fills in time order, in exact lots; each matched
  piece gives (close fill time - open fill time), weighted by its size. Lots still open at the
  end are not counted.
- two-sided uptime (share): time during which at least one bid and one ask were resting at
  the venue (``order_events``: from acceptance to the fill or cancel that ended the order) /
  run time (``system_events`` start to stop), pooled over the config's coins.
- slippage vs mid (bps): side x (price - mid_at_fill) / mid_at_fill x 1e4, notional-weighted
  over the fills with a mid; negative is edge earned.
- markouts at +1 s, +10 s, +60 s (bps): side x (mid then - price) / price x 1e4, "mid then" is
  the market mid in effect at fill time + horizon, from the recorded data itself (the book
  rebuilt from the same events the run saw, updated at every book event); notional-weighted
  over the fills whose horizon ends inside the run's data (so a 345 s file has no 60 s markout
  for its last minute of fills).
- spread at fill (bps): notional-weighted mean of ``fills.spread_bps_at_fill``.
- volume and fees (USD): sums of ``fills.notional_usd`` and ``fills.fee_usd``.
- PnL (USD): ``total_usd`` of the last ``pnl_tracking`` row per coin (realized + unrealized at
  the final mid - fees + funding), summed over coins. PnL per $1,000 traded = PnL / volume x 1000.

Exit codes: 0 done, 2 bad configuration or data that does not fit a config (nothing run), 1 a
replay failed part way.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
import sys
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
from tabulate import tabulate

from mm_bot.config import ConfigError, FrozenDict, discover_config_files, load_configs
from mm_bot.core.book import L2Book
from mm_bot.core.ti import quantile
from mm_bot.core.types import BookUpdate, FeedProblem
from mm_bot.sim.feeds.replay import ReplayError, open_replay
from mm_bot.sim.replay_run import ReplaySetupError, replay_instruments, run_replay
from mm_bot.store.db import open_db

EXIT_CONFIG = 2
MARKOUT_HORIZONS_MS = (1_000, 10_000, 60_000)


@dataclass(frozen=True)
class Metric:
    key: str
    header: str
    # value -> cell text
    fmt: Callable[[float], str]


def _num(decimals: int, scale: float = 1.0, suffix: str = "") -> Callable[[float], str]:
    return lambda v: f"{v * scale:,.{decimals}f}{suffix}"


METRICS: tuple[Metric, ...] = (
    Metric("fills", "fills", _num(0)),
    Metric("maker_ratio", "maker", _num(1, 100, "%")),
    Metric("cancels_per_fill", "cancels\n/fill", _num(2)),
    Metric("amends", "amends", _num(0)),
    Metric("rest_ms_median", "rest\nmed ms", _num(0)),
    Metric("holding_s_avg", "hold\navg s", _num(1)),
    Metric("two_sided_share", "2-sided\nuptime", _num(1, 100, "%")),
    Metric("slippage_bps", "slip\nbps", _num(2)),
    Metric("markout_1s_bps", "mkout\n1s bps", _num(2)),
    Metric("markout_10s_bps", "mkout\n10s bps", _num(2)),
    Metric("markout_60s_bps", "mkout\n60s bps", _num(2)),
    Metric("spread_at_fill_bps", "spread\nbps", _num(3)),
    Metric("volume_usd", "volume\n$", _num(0)),
    Metric("fees_usd", "fees\n$", _num(2)),
    Metric("pnl_usd", "PnL\n$", _num(2)),
    Metric("pnl_per_1k_usd", "PnL per\n$1k", _num(3)),
)
METRIC_KEYS = tuple(m.key for m in METRICS)
# Counts: the mean over phases gets one more decimal than a single run's value.
_COUNT_KEYS = frozenset({"fills", "amends"})


class CompareError(Exception):
    """Nothing can run: every problem is listed, one per line."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Entry:
    """One --config: its label in the table, the file and the (possibly coin-overridden) config."""

    label: str
    path: Path
    cfg: object


@dataclass
class RunResult:
    phase_ms: int
    metrics: dict
    wall_s: float
    events: int
    ok: bool
    reason: str
    db: str


@dataclass
class ConfigResult:
    entry: Entry
    runs: list[RunResult] = field(default_factory=list)

    def summary(self) -> dict[str, dict]:
        return {k: summarize([r.metrics.get(k) for r in self.runs]) for k in METRIC_KEYS}


# ---------------------------------------------------------------- configs


def override_coin(cfg, coin: str):
    """`cfg` quoting only `coin`: its `instruments`, `synthetic` and `per_coin` entries for that
    coin are kept (if any), the other coins' are dropped."""

    def only(d):
        return FrozenDict({k: v for k, v in d.items() if k == coin})

    return dataclasses.replace(cfg, coins=(coin,), instruments=only(cfg.instruments),
                               synthetic=only(cfg.synthetic), per_coin=only(cfg.per_coin))


def load_entries(paths: list[Path], coin: str | None = None) -> list[Entry]:
    """Load each config file on its own (two files may share a bot_id: they never run together).

    Raises CompareError listing every problem of every file.
    """
    problems: list[str] = []
    loaded: list[tuple[Path, object]] = []
    for p in paths:
        try:
            files = discover_config_files(Path(p), None)
            cfg = load_configs(files)[0]
        except ConfigError as e:
            problems += e.problems
            continue
        loaded.append((Path(p), override_coin(cfg, coin) if coin else cfg))
    if problems:
        raise CompareError(problems)
    ids = [cfg.bot_id for _, cfg in loaded]
    entries = []
    for p, cfg in loaded:
        label = cfg.bot_id if ids.count(cfg.bot_id) == 1 else f"{cfg.bot_id} ({p})"
        entries.append(Entry(label, p, cfg))
    labels = [e.label for e in entries]
    for i, e in enumerate(entries):
        if labels.count(e.label) > 1:
            e.label = f"{e.label} #{labels[: i + 1].count(e.label)}"
    return entries


def check_data(entries: list[Entry], spec: str) -> dict[str, dict]:
    """Instruments per entry label; CompareError when a config's coin is not in the data."""
    problems: list[str] = []
    out: dict[str, dict] = {}
    for e in entries:
        try:
            out[e.label] = replay_instruments([e.cfg], spec)
        except ReplaySetupError as err:
            msg = f"{e.path}: {err}"
            if "is not in the data" in str(err):
                msg += " (--coin COIN runs every config on one coin of the data)"
            problems.append(msg)
    if problems:
        raise CompareError(problems)
    return out


def phase_offsets(loop_ms: int, phases: int) -> list[int]:
    """Decision-clock shifts of the N phases: k * loop_ms // N for k = 0..N-1."""
    return [k * loop_ms // phases for k in range(phases)]


# ---------------------------------------------------------------- market mids (for markouts)


@dataclass
class MidPath:
    """The market mid of one coin after every book event of the replay: mid in effect at t."""

    ts: list[int] = field(default_factory=list)
    mid: list[float] = field(default_factory=list)
    end_ms: int = 0  # time of the last event of the run's data for this coin

    def add(self, t: int, m: float) -> None:
        if self.ts and self.ts[-1] == t:
            self.mid[-1] = m
        elif not self.mid or self.mid[-1] != m:
            self.ts.append(t)
            self.mid.append(m)

    def at(self, t: int) -> float | None:
        """Mid in effect at t (the last change at or before t); None before the first or after the data."""
        if t > self.end_ms:
            return None
        i = bisect_right(self.ts, t) - 1
        return self.mid[i] if i >= 0 else None


def market_mids(spec: str, instruments: dict, time_basis: str, duration_s: float | None) -> dict[str, MidPath]:
    """Rebuild every coin's book from the same events a run sees and record its mid path.

    A mid is recorded while the book is in sync, two-sided and not crossed; a sequence gap
    (FeedProblem) pauses it until the next snapshot, a fatal one ends the coin.
    """
    feed = open_replay(spec, instruments, time_basis=time_basis)
    end = None if duration_s is None else feed.start_ms() + int(duration_s * 1000)
    books = {c: L2Book(c) for c in instruments}
    paths = {c: MidPath() for c in instruments}
    half_tick = {c: inst.tick_size / 2 for c, inst in instruments.items()}
    dead: set[str] = set()
    for ev in _until_error(feed):
        if end is not None and ev.ts_ms > end:
            break
        coin = ev.coin
        path = paths.get(coin)
        if path is None or coin in dead:
            continue
        path.end_ms = ev.ts_ms
        if isinstance(ev, BookUpdate):
            book = books[coin]
            book.apply(ev)
            if book.in_sync and book.best_bid and book.best_ask and book.best_bid < book.best_ask:
                path.add(ev.ts_ms, book.mid2() * half_tick[coin])
        elif isinstance(ev, FeedProblem):
            books[coin].mark_out_of_sync()
            if ev.fatal:
                dead.add(coin)
    return paths


def _until_error(feed):
    """The feed's events up to a read error (the run itself reports it and fails with exit 1)."""
    try:
        yield from feed
    except ReplayError:
        return


# ---------------------------------------------------------------- metrics from the rows


def fifo_holding(fills: list[tuple[int, int, int, float]]) -> list[tuple[int, float]]:
    """FIFO holding samples from fills (ts_ms, side +1/-1, lots, size per lot), in time order.

    Returns (close time - open time, matched size) per matched piece; a fill larger than the
    open position closes it and opens the rest on its own side at its own time.
    """
    lots: list[list[int]] = []  # [open_ts, lots, side], all of one side, oldest first
    out: list[tuple[int, float]] = []
    for ts, side, n, per_lot in fills:
        rem = n
        while rem > 0 and lots and lots[0][2] != side:
            lot = lots[0]
            m = min(rem, lot[1])
            out.append((ts - lot[0], m * per_lot))
            lot[1] -= m
            rem -= m
            if lot[1] == 0:
                lots.pop(0)
        if rem > 0:
            lots.append([ts, rem, side])
    return out


def two_sided_ms(intervals: list[tuple[int, int, int]], start: int, stop: int) -> int:
    """Milliseconds in [start, stop] with at least one bid and one ask resting.

    intervals: (side +1/-1, from_ms, to_ms) of each resting order.
    """
    edges: list[tuple[int, int, int]] = []
    for side, a, b in intervals:
        a, b = max(a, start), min(b, stop)
        if b > a:
            edges.append((a, 1, side))
            edges.append((b, -1, side))
    edges.sort(key=lambda e: (e[0], e[1]))  # at equal times, ends before starts
    count = {1: 0, -1: 0}
    both = 0
    last = start
    for t, d, side in edges:
        if count[1] > 0 and count[-1] > 0:
            both += t - last
        last = t
        count[side] += d
    return both


def _wmean(pairs: list[tuple[float, float]]) -> float | None:
    tw = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / tw if tw > 0 else None


_ACCEPT = ("open", "partially_filled")
_DONE = ("filled", "cancelled", "rejected")


def run_metrics(conn: sqlite3.Connection, bot_id: str, coins: list[str], mids: dict[str, MidPath]) -> dict:
    """Whole-run figures of one bot (pooled over `coins`) from its rows; None where undefined."""
    fills: list[tuple] = []
    cancels = placements = amends = 0
    rests: list[float] = []
    holds: list[tuple[int, float]] = []
    two_ms = span_ms = 0
    pnl: float | None = None
    marks: list[list[tuple[float, float]]] = [[] for _ in MARKOUT_HORIZONS_MS]
    start, stop = _span(conn, bot_id)
    for coin in coins:
        rows = conn.execute(
            "SELECT ts_ms, CASE side WHEN 'buy' THEN 1 ELSE -1 END, price, size, size_lots, maker, fee_usd, "
            "notional_usd, mid_at_fill, spread_bps_at_fill FROM fills WHERE bot_id=? AND coin=? "
            "ORDER BY ts_ms, id", (bot_id, coin)).fetchall()
        fills += rows
        holds += fifo_holding([(r[0], r[1], r[4], r[3] / r[4] if r[4] else 0.0) for r in rows])
        path = mids.get(coin)
        for ts, side, px, _sz, _lots, _mk, _fee, notional, _mid, _spr in rows:
            for i, h in enumerate(MARKOUT_HORIZONS_MS):
                then = path.at(ts + h) if path is not None and px > 0 else None
                if then is not None:
                    marks[i].append((side * (then - px) / px * 1e4, notional))
        cancels += conn.execute("SELECT COUNT(*) FROM trades WHERE bot_id=? AND coin=? AND kind='cancel'",
                                (bot_id, coin)).fetchone()[0]
        placements += conn.execute("SELECT COUNT(*) FROM trades WHERE bot_id=? AND coin=? AND kind='place'",
                                   (bot_id, coin)).fetchone()[0]
        amends += conn.execute(
            "SELECT COALESCE(SUM(amends), 0) FROM performance_metrics p WHERE bot_id=? AND coin=? AND id = "
            "(SELECT MIN(id) FROM performance_metrics q WHERE q.bot_id=p.bot_id AND q.coin=p.coin "
            "AND q.ts_ms=p.ts_ms)", (bot_id, coin)).fetchone()[0]
        sides = {cloid: (1 if side == "buy" else -1, tif) for cloid, side, tif in conn.execute(
            "SELECT cloid, side, tif FROM orders WHERE bot_id=? AND coin=?", (bot_id, coin))}
        accepted: dict[str, int] = {}
        done: dict[str, int] = {}
        for cloid, event, ts in conn.execute(
                "SELECT cloid, event, ts_ms FROM order_events WHERE bot_id=? AND coin=? ORDER BY ts_ms, id",
                (bot_id, coin)):
            if event in _ACCEPT and cloid not in accepted and sides.get(cloid, (0, "ioc"))[1] != "ioc":
                accepted[cloid] = ts
            elif event in _DONE and cloid in accepted and cloid not in done:
                done[cloid] = ts
        rests += [float(done[c] - t0) for c, t0 in accepted.items() if c in done]
        intervals = [(sides[c][0], t0, done.get(c, stop)) for c, t0 in accepted.items()]
        two_ms += two_sided_ms(intervals, start, stop)
        span_ms += max(0, stop - start)
        last = conn.execute("SELECT total_usd FROM pnl_tracking WHERE bot_id=? AND coin=? "
                            "ORDER BY ts_ms DESC, id DESC LIMIT 1", (bot_id, coin)).fetchone()
        if last is not None:
            pnl = (pnl or 0.0) + last[0]
    n = len(fills)
    maker = sum(r[5] for r in fills)
    volume = sum(r[7] for r in fills)
    maker_vol = sum(r[7] for r in fills if r[5])
    fees = sum(r[6] for r in fills)
    priced = [r for r in fills if r[8] > 0]
    hold_avg = _wmean([(float(h), w) for h, w in holds])
    return {
        "fills": n,
        "maker_fills": maker,
        "maker_ratio": maker / n if n else None,
        "maker_ratio_notional": maker_vol / volume if volume > 0 else None,
        "placements": placements,
        "cancels": cancels,
        "cancels_per_fill": cancels / n if n else None,
        "amends": amends,
        "orders_rested": len(rests),
        "rest_ms_median": quantile(rests, 0.5),
        "rest_ms_p90": quantile(rests, 0.9),
        "holding_s_avg": hold_avg / 1000 if hold_avg is not None else None,
        "two_sided_s": two_ms / 1000,
        "run_s": span_ms / 1000,
        "two_sided_share": two_ms / span_ms if span_ms > 0 else None,
        "slippage_bps": _wmean([(r[1] * (r[2] - r[8]) / r[8] * 1e4, r[7]) for r in priced]),
        "markout_1s_bps": _wmean(marks[0]),
        "markout_10s_bps": _wmean(marks[1]),
        "markout_60s_bps": _wmean(marks[2]),
        "markout_fills": [len(m) for m in marks],
        "spread_at_fill_bps": _wmean([(r[9], r[7]) for r in priced]),
        "volume_usd": volume,
        "fees_usd": fees,
        "pnl_usd": pnl,
        "pnl_per_1k_usd": pnl / volume * 1000 if pnl is not None and volume > 0 else None,
    }


def _span(conn: sqlite3.Connection, bot_id: str) -> tuple[int, int]:
    """(start, stop) of the bot's run from its start and stop system events."""
    start = conn.execute("SELECT MIN(ts_ms) FROM system_events WHERE bot_id=? AND kind='start'",
                         (bot_id,)).fetchone()[0]
    stop = conn.execute("SELECT MAX(ts_ms) FROM system_events WHERE bot_id=? AND kind='stop'",
                        (bot_id,)).fetchone()[0]
    return int(start or 0), int(stop if stop is not None else start or 0)


# ---------------------------------------------------------------- running


def summarize(values: list) -> dict:
    """Mean, min and max of the defined values (None: undefined in that run), and how many."""
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return {"mean": None, "min": None, "max": None, "n": 0}
    return {"mean": math.fsum(xs) / len(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def compare(entries: list[Entry], spec: str, phases: int = 1, seed: int = 1, duration_s: float | None = None,
            keep_dir: Path | None = None, limits: dict | None = None,
            progress: Callable[[str], None] | None = None) -> list[ConfigResult]:
    """Run every entry `phases` times on `spec`, each run alone in its own database."""
    instruments = check_data(entries, spec)
    mid_cache: dict[tuple, dict[str, MidPath]] = {}
    results = []
    for ei, e in enumerate(entries):
        cfg = e.cfg
        inst = instruments[e.label]
        key = (cfg.paper.replay_time, tuple(sorted((c, i.tick_size, i.lot_size) for c, i in inst.items())))
        if key not in mid_cache:
            mid_cache[key] = market_mids(spec, inst, cfg.paper.replay_time, duration_s)
        mids = mid_cache[key]
        cr = ConfigResult(e)
        for k, phase in enumerate(phase_offsets(cfg.loop_ms, phases)):
            if keep_dir is not None:
                keep_dir.mkdir(parents=True, exist_ok=True)
                db = str(keep_dir / f"{ei + 1:02d}_{_slug(e.label)}_phase{k}.db")
                Path(db).unlink(missing_ok=True)
            else:
                db = ":memory:"
            conn = open_db(db)
            try:
                res = run_replay([cfg], spec, conn, seed, duration_s, phase_ms=phase, limits=limits)
                m = run_metrics(conn, cfg.bot_id, list(cfg.coins), mids)
                if keep_dir is not None:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            cr.runs.append(RunResult(phase, m, res.wall_s, res.stats.events, res.ok, res.reason,
                                     db if keep_dir is not None else ""))
            if progress is not None:
                progress(f"{e.label}: phase {k + 1}/{phases} (phase_ms {phase}) {res.wall_s:.2f} s, "
                         f"{m['fills']} fills")
        results.append(cr)
    return results


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:60]


# ---------------------------------------------------------------- output


def cell(metric: Metric, s: dict, phases: int) -> str:
    """One table cell: the value (one run) or mean, then min..max on a second line (phases)."""
    if s["n"] == 0:
        return "-"
    fmt = metric.fmt
    if phases == 1:
        return fmt(s["mean"])
    mean = _num(1)(s["mean"]) if metric.key in _COUNT_KEYS else fmt(s["mean"])
    text = f"{mean}\n{fmt(s['min'])}..{fmt(s['max'])}"
    if s["n"] < phases:
        text += f"\n({s['n']}/{phases} runs)"
    return text


def format_table(results: list[ConfigResult], phases: int) -> str:
    rows = []
    for cr in results:
        s = cr.summary()
        rows.append([cr.entry.label] + [cell(m, s[m.key], phases) for m in METRICS])
    return tabulate(rows, headers=["config"] + [m.header for m in METRICS], tablefmt="simple",
                    disable_numparse=True, colalign=("left",) + ("right",) * len(METRICS))


def to_json(results: list[ConfigResult], meta: dict) -> dict:
    out = dict(meta)
    out["configs"] = []
    for cr in results:
        e = cr.entry
        out["configs"].append({
            "label": e.label, "bot_id": e.cfg.bot_id, "file": str(e.path), "coins": list(e.cfg.coins),
            "loop_ms": e.cfg.loop_ms, "summary": cr.summary(),
            "runs": [{"phase_ms": r.phase_ms, "wall_s": r.wall_s, "events": r.events, "ok": r.ok,
                      "reason": r.reason, "db": r.db, "metrics": r.metrics} for r in cr.runs],
        })
    return out


LEGEND = (
    "maker: maker fills / fills. cancels/fill: cancel requests / fills. rest: accepted -> filled or "
    "cancelled (median). hold: FIFO holding time, size-weighted mean. 2-sided: share of the run with a bid and "
    "an ask resting. slip: side x (fill - mid) / mid, < 0 is edge. mkout: side x (mid then - fill) / fill, > 0 "
    "is good. PnL: fees included, marked to mid at the end. See docs/COMPARE.md."
)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--replay", "spec", required=True,
              help="Recorded market data (a file, a glob or a directory), as for mm_bot.run --replay.")
@click.option("--config", "config_files", multiple=True, required=True, type=click.Path(path_type=Path),
              help="A bot config JSON file; repeat for each config to compare.")
@click.option("--coin", default=None,
              help="Run every config on this coin only (overrides each config's `coins`; its instruments "
                   "and per_coin settings for this coin are kept).")
@click.option("--phases", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs per config, the decision clock shifted by k/N of its loop_ms; cells show the mean "
                   "and min..max.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the queue model and jitter.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Replay only this many seconds of data (default: all of it).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table: one tabulate table; json: every run's figures and the summaries.")
@click.option("--keep-dbs", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Keep each run's SQLite file in this directory (default: in memory, discarded).")
def main(spec, config_files, coin, phases, seed, duration, fmt, keep_dbs):
    """Run several bot configs on the same recorded data and print one comparison table.

    Each config runs alone in its own database. Exit codes: 0 done, 2 bad configuration or
    data that does not fit a config (nothing run), 1 a replay failed part way.
    """
    from mm_bot.run import venue_limits

    t0 = time.perf_counter()
    if coin is not None and not coin.strip():
        _fail(["(command line): --coin: must not be empty"])
    try:
        entries = load_entries(list(config_files), coin)
    except CompareError as e:
        _fail(e.problems)
    limits = venue_limits([e.cfg for e in entries])
    progress = (lambda msg: click.echo(msg, err=True)) if sys.stderr.isatty() else None
    try:
        results = compare(entries, spec, phases, seed, duration, keep_dbs, limits, progress)
    except CompareError as e:
        _fail(e.problems)
    except ReplayError as e:
        _fail([f"replay {spec}: {e}"])
    wall = time.perf_counter() - t0
    failed = [f"{cr.entry.label} phase_ms {r.phase_ms}: {r.reason}" for cr in results for r in cr.runs if not r.ok]
    meta = {"replay": spec, "coin": coin, "phases": phases, "seed": seed, "duration_s": duration,
            "wall_s": wall, "failed_runs": failed}
    if fmt == "json":
        click.echo(json.dumps(to_json(results, meta), indent=1))
    else:
        click.echo(format_table(results, phases))
        runs = sum(len(cr.runs) for cr in results)
        shown = "mean, then min..max over the phases" if phases > 1 else "one run each"
        click.echo(f"\n{spec}{f' as {coin}' if coin else ''}: {len(results)} configs x {phases} phase(s) "
                   f"(phase_ms = k x loop_ms / {phases}), seed {seed}"
                   f"{f', first {duration:g} s' if duration else ''}; cells: {shown}.")
        click.echo(LEGEND)
        click.echo(f"wall time {wall:.1f} s for {runs} runs")
    if failed:
        click.echo("error: replay failed part way:\n" + "\n".join(failed), err=True)
        sys.exit(1)


def _fail(problems: list[str]) -> None:
    click.echo("comparison refused, nothing run:\n" + "\n".join(problems), err=True)
    sys.exit(EXIT_CONFIG)


if __name__ == "__main__":
    main()
