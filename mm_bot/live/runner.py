"""The asyncio shell for paper trading in real time.

One process, every bot: one market-data task per coin (shared by every bot quoting
it), one quoting task per (bot, coin) waking every loop_ms, one task delivering paper
venue events when they fall due, one DB writer task. The core is driven with the wall
clock's now_ms. Shutdown (SIGINT, SIGTERM or --duration): stop every bot, wait for the
venue to confirm the cancels, write closing rows, flush the writer, checkpoint the WAL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from mm_bot.core.bot import Bot
from mm_bot.core.nonces import NonceAllocator
from mm_bot.core.records import BotRow, SystemEventRow
from mm_bot.live.aio import wait_event
from mm_bot.live.clock import wall_ms
from mm_bot.live.commands import apply_command, poll_commands
from mm_bot.sim.session import PaperSession
from mm_bot.store.paper_state import RestoreSummary, nonce_rows
from mm_bot.store.writer import AsyncWriter, open_async_writer

log = logging.getLogger("mm_bot.runner")

CONSOLE_EVERY_S = 10.0


@dataclass
class RunStats:
    started_ms: int = 0
    ended_ms: int = 0
    stop_reason: str = ""
    open_orders_at_exit: int = 0
    rows_written: int = 0
    extra: dict = field(default_factory=dict)


class PaperRunner:
    """Runs a PaperSession in real time against per-coin market sources.

    `sources` maps coin -> an object with `next_event_ms()` and `events_until(t_ms)` (the
    synthetic market). Push-driven market data (live public streams, mm_bot/live/paper_live.py)
    comes as `background` coroutines instead: each is called with the stop event and runs as a
    task until shutdown, feeding `session.market` itself.
    """

    def __init__(self, session: PaperSession, bots: list[Bot], sources: dict, db_path: str,
                 duration_s: float | None, configs: list, nonces: NonceAllocator | None = None,
                 restored: RestoreSummary | None = None,
                 background: list[Callable[[asyncio.Event], Awaitable[None]]] | None = None) -> None:
        """nonces: the process's NonceAllocator restored from the DB (persisted again at shutdown);
        restored: what the restart loaded (store.paper_state.restore_session), for the start event."""
        self.session = session
        self.nonces = nonces if nonces is not None else NonceAllocator()
        self.restored = restored
        self.background = list(background or [])
        self.bots = bots
        self.sources = sources
        self.db_path = db_path
        self.duration_s = duration_s
        self.configs = {c.bot_id: c for c in configs}
        self.stop_event = asyncio.Event()
        self.venue_kick = asyncio.Event()
        self._venue_done = False
        self.stats = RunStats()
        self.writer: AsyncWriter | None = None
        self.stop_reason = "duration"

    # ------------------------------------------------------------ plumbing

    def flush(self) -> None:
        """Hand the session's new records to the DB writer."""
        recs = self.session.drain()
        if recs and self.writer is not None:
            self.writer.put_many(recs)

    def request_stop(self, reason: str) -> None:
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.stop_event.set()

    async def _sleep_until(self, t_ms: int) -> bool:
        """Sleep until wall time t_ms or a stop request; True if stopping."""
        delay = (t_ms - wall_ms()) / 1000
        if delay > 0:
            return await wait_event(self.stop_event, delay)
        return self.stop_event.is_set()

    # ------------------------------------------------------------ tasks

    async def _market_task(self, coin: str, source) -> None:
        while not self.stop_event.is_set():
            nxt = source.next_event_ms()
            if await self._sleep_until(nxt):
                return
            now = wall_ms()
            for ev in source.events_until(now):
                self.session.market(ev, now)
            self.venue_kick.set()
            self.flush()

    async def _quote_task(self, bot: Bot, coin: str, loop_ms: int) -> None:
        nxt = wall_ms()
        # A killed or stopped bot that still owes a flatten keeps ticking: the bot retries it.
        while not self.stop_event.is_set() and bot.wants_ticks:
            if await self._sleep_until(nxt):
                return
            now = wall_ms()
            self.session.tick(bot, coin, now)
            self.venue_kick.set()
            self.flush()
            nxt += loop_ms
            if nxt < now:
                # Fell behind (a slow step): skip the missed ticks rather than burst.
                nxt = now + loop_ms

    async def _venue_task(self) -> None:
        # Ends on its own flag at shutdown (after the last cancels are confirmed), not by cancel().
        while not self._venue_done:
            now = wall_ms()
            self.session.pump(now)
            self.flush()
            due = self.session.next_due_ms()
            timeout = 0.5 if due is None else max(0.0, (due - wall_ms()) / 1000)
            self.venue_kick.clear()
            await wait_event(self.venue_kick, timeout)

    async def _console_task(self) -> None:
        """Every CONSOLE_EVERY_S, one status line per coin of the bots with telemetry_console."""
        bots = [b for b in self.bots if b.telemetry_console]
        while bots and not self.stop_event.is_set():
            if not await wait_event(self.stop_event, CONSOLE_EVERY_S):
                now = wall_ms()
                for b in bots:
                    for coin in b.coins:
                        log.info("%s", b.status_line(coin, now))

    async def _command_task(self, conn) -> None:
        """Poll the commands table (scripts/kill.py) and act within COMMAND_POLL_S."""

        def after() -> None:
            self.venue_kick.set()
            self.flush()

        # A lambda, not a bound append: the session swaps its records list at every drain.
        await poll_commands(conn, self.stop_event, self.apply_command, lambda r: self.session.records.append(r), after)

    def apply_command(self, bot_id: str | None, command: str, now: int, coin: str | None = None
                      ) -> tuple[str, str]:
        """Carry out one manual command; returns (status, result). coin narrows flatten/take_profit."""
        return apply_command(self.bots, bot_id, command, now, coin,
                             lambda bot, acts: self.session.submit(bot, acts, now), self.request_stop,
                             lambda r: self.session.records.append(r), self.configs, lambda cfg: "paper")

    # ------------------------------------------------------------ lifecycle

    def _process_event(self, kind: str, severity: str, message: str, now: int, **details) -> None:
        self.session.records.append(SystemEventRow(None, None, kind, severity, message,
                                                   json.dumps(details, sort_keys=True), now))

    async def run(self) -> RunStats:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        conn, self.writer = await open_async_writer(self.db_path)
        start = wall_ms()
        self.stats.started_ms = start
        for bot in self.bots:
            cfg = self.configs[bot.bot_id]
            self.session.records.append(BotRow(bot.bot_id, cfg.venue, "paper", cfg.to_json(), "running", start))
            bot.event("start", "info", f"bot started in paper mode on {cfg.venue} ({', '.join(cfg.coins)})",
                      start, coins=list(cfg.coins), loop_ms=cfg.loop_ms)
        self._process_event("start", "info", f"runner started: {len(self.bots)} bots, paper mode", start,
                            bots=[b.bot_id for b in self.bots], duration_s=self.duration_s)
        self._startup_reconcile(start)
        self.flush()

        tasks = [asyncio.create_task(self._market_task(c, s), name=f"md-{c}") for c, s in self.sources.items()]
        tasks += [asyncio.create_task(job(self.stop_event)) for job in self.background]
        for bot in self.bots:
            loop_ms = self.configs[bot.bot_id].loop_ms
            for coin in bot.coins:
                tasks.append(asyncio.create_task(self._quote_task(bot, coin, loop_ms), name=f"q-{bot.bot_id}-{coin}"))
        tasks.append(asyncio.create_task(self._command_task(conn), name="commands"))
        tasks.append(asyncio.create_task(self._console_task(), name="console"))
        venue_task = asyncio.create_task(self._venue_task(), name="paper-venue")
        try:
            if self.duration_s is not None:
                if not await wait_event(self.stop_event, self.duration_s):
                    self.request_stop("duration")
            else:
                await self.stop_event.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._shutdown(venue_task)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self.writer.close()
            self.stats.rows_written = self.writer.rows_written
            await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await conn.close()
        return self.stats

    def _startup_reconcile(self, now: int) -> None:
        """Restart: reconcile every bot with its paper venue before it quotes (missed fills applied,
        stray orders cancelled, orders of the earlier run closed), and record the outcome."""
        r = self.restored
        if r is None or r.empty:
            return
        for bot in self.bots:
            self.session.reconcile(bot, now, grace_ms=0, force=True)
            venue = self.session.venue_of[bot.bot_id]
            coins = {}
            for coin, cs in bot.coins.items():
                ledger = venue.ledger.get((bot.bot_id, coin), 0)
                coins[coin] = {"position_lots": cs.position.lots, "ledger_lots": ledger,
                               "match": cs.position.lots == ledger}
            ok = all(c["match"] for c in coins.values())
            bot.event("restart", "info" if ok else "error",
                      f"restart: {r.fills.get(bot.bot_id, 0)} fills and {r.orders.get(bot.bot_id, 0)} live orders "
                      f"loaded; reconciled with the paper venue ({bot.last_reconcile}); positions "
                      f"{'match' if ok else 'DO NOT match'} the venue ledger", now, coins=coins,
                      reconcile=bot.last_reconcile, venue_orders=len(venue.open_orders(bot.bot_id)))
        self._process_event("restart", "info", f"restart: paper venues restored ({r.venue_orders} resting orders, "
                            f"{r.venue_fills} ledger fills)", now, venue_orders=r.venue_orders,
                            venue_fills=r.venue_fills)

    async def _shutdown(self, venue_task: asyncio.Task) -> None:
        now = wall_ms()
        self.session.stop_all(now, f"shutdown ({self.stop_reason})")
        self.venue_kick.set()
        # Wait for the paper venue to process the cancels (entry + response latency).
        deadline = wall_ms() + 5000
        while self.session.open_orders() and wall_ms() < deadline:
            await asyncio.sleep(0.01)
        while self.session.next_due_ms() is not None and wall_ms() < deadline:
            await asyncio.sleep(0.01)
        # Closing reconciliation: orders whose cancel ack was lost are closed, strays cancelled.
        now = wall_ms()
        for bot in self.bots:
            self.session.reconcile(bot, now, grace_ms=0, force=True)
        self.venue_kick.set()
        while (self.session.open_orders() or self.session.next_due_ms() is not None) and wall_ms() < deadline:
            await asyncio.sleep(0.01)
        self._venue_done = True
        self.venue_kick.set()
        await asyncio.gather(venue_task, return_exceptions=True)
        now = wall_ms()
        self.session.pump(now)
        left = self.session.open_orders()
        for bot in self.bots:
            bot.final_records(now)
            status = bot.status if bot.status in ("failed", "killed") else "stopped"
            cfg = self.configs[bot.bot_id]
            self.session.records.append(BotRow(bot.bot_id, cfg.venue, "paper", cfg.to_json(), status, now))
            bot.event("stop", "info", f"bot stopped ({self.stop_reason})", now, reason=self.stop_reason)
        sev = "info" if left == 0 else "error"
        self._process_event("stop", sev, f"runner stopped ({self.stop_reason}); open paper orders: {left}", now,
                            reason=self.stop_reason, open_orders=left)
        self.stats.ended_ms = now
        self.stats.stop_reason = self.stop_reason
        self.stats.open_orders_at_exit = left
        # Last usage sample: its window holds every grant of the final minute (the whole of a short run).
        self.session.sample_rate_limits(now)
        self.session.records.extend(nonce_rows(self.nonces, now))
        self.flush()
