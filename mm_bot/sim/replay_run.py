"""One replay run: configs + recorded data -> a paper session on the virtual clock -> rows.

Used by `python -m mm_bot.run --simulate --replay` and by `python -m mm_bot.compare`.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from dataclasses import dataclass

import click

from mm_bot.core.bot import Bot
from mm_bot.core.records import BotRow, SystemEventRow
from mm_bot.sim.assemble import apply_instrument_overrides, build_session
from mm_bot.sim.driver import ReplayDriver, ReplayStats
from mm_bot.sim.feeds.replay import ReplayError, open_replay
from mm_bot.store.writer import SyncWriter


class ReplaySetupError(Exception):
    """The data cannot be replayed for these configs (missing coin, unreadable files)."""


@dataclass
class ReplayResult:
    bots: list[Bot]
    stats: ReplayStats
    wall_s: float
    ok: bool
    reason: str
    level_updates: int


def replay_instruments(configs: list, spec: str) -> dict:
    """Instrument of every coin of the configs: the data's defaults, overridden by `instruments`."""
    time_basis = configs[0].paper.replay_time
    try:
        feed = open_replay(spec, {}, time_basis=time_basis)
    except (ReplayError, OSError) as e:
        raise ReplaySetupError(f"replay {spec}: {e}") from None
    overrides: dict = {}
    for c in configs:
        for coin, ov in c.instruments.items():
            overrides.setdefault(coin, ov)
    out = {}
    for coin in sorted({c for cfg in configs for c in cfg.coins}):
        if coin not in feed.coins:
            raise ReplaySetupError(f"replay {spec}: coin {coin} is not in the data (it has {', '.join(feed.coins)})")
        out[coin] = apply_instrument_overrides(feed.instrument(coin), overrides.get(coin))
    return out


def run_replay(configs: list, spec: str, conn: sqlite3.Connection, seed: int, duration_s: float | None = None,
               phase_ms: int = 0, limits: dict | None = None, progress: bool = False) -> ReplayResult:
    """Replay `spec` for `configs`, writing every row into `conn`; returns the bots and figures.

    phase_ms shifts every bot's decision clock; progress shows a click progress bar on a terminal.
    Raises ReplaySetupError before anything is written when the data does not fit the configs.
    """
    instruments = replay_instruments(configs, spec)
    feed = open_replay(spec, instruments, time_basis=configs[0].paper.replay_time)
    writer = SyncWriter(conn)
    start = feed.start_ms()
    session, bots, warnings = build_session(configs, instruments, start, seed, limits)
    for w in warnings:
        writer.put(SystemEventRow(None, None, "config", "warning", w, "{}", start))
    for b in bots:
        writer.put(BotRow(b.bot_id, b.cfg.venue, "paper", b.cfg.to_json(), "running", start))
        b.event("start", "info", f"bot started in replay of {spec}", start, coins=list(b.cfg.coins))
    driver = ReplayDriver(session, bots, {c.bot_id: c.loop_ms for c in configs}, writer, phase_ms=phase_ms)
    events = feed if duration_s is None else _until(feed, start + int(duration_s * 1000))
    t0 = time.perf_counter()
    ok, reason = True, "end of data"
    try:
        if progress and sys.stderr.isatty():
            with click.progressbar(events, label="replaying", file=sys.stderr, show_pos=True) as bar:
                driver.run(bar)
        else:
            driver.run(events)
    except ReplayError as e:
        ok, reason = False, f"replay error: {e}"
        writer.put(SystemEventRow(None, None, "feed", "error", str(e), "{}", driver.now_ms))
    driver.finish(reason)
    for b in bots:
        writer.put(BotRow(b.bot_id, b.cfg.venue, "paper", b.cfg.to_json(),
                          "failed" if b.status == "failed" else "stopped", driver.now_ms))
        b.event("stop", "info", f"bot stopped ({reason})", driver.now_ms, reason=reason)
        writer.put_many(b.drain())
    writer.flush()
    return ReplayResult(bots, driver.stats, time.perf_counter() - t0, ok, reason, session.level_updates)


def _until(feed, end_ms: int):
    for ev in feed:
        if ev.ts_ms > end_ms:
            return
        yield ev
