"""The asyncio shell for live trading (Hyperliquid testnet / mainnet).

Same shape as the paper shell (mm_bot/live/runner.py): one quoting task per (bot, coin) waking
every loop_ms, a venue side (here: one WebSocket carrying l2Book + trades of every coin, shared by
every bot quoting it, and orderUpdates + userFills of the account; a sender task that batches the
bots' actions into signed /exchange requests), the one DB writer task, the commands poller, and a
clean shutdown. Extra live tasks: the dead man's switch (scheduleCancel armed while we run,
refreshed every 30 s for +60 s) and order reconciliation (after every reconnect, failed request or
refused cancel, and every 60 s: REST frontendOpenOrders + userFills, fills deduplicated by id).

Start-up: meta -> instruments; userFees (fallback: the configs' paper fees); clearinghouseState ->
account equity and positions; fills missed since the last run are recovered from userFills for
cloids the DB knows; each bot's positions come from the DB, checked against the venue (a coin
quoted by one bot only takes the venue's size); then EVERY open order in the coins the bots trade
is cancelled (ours from an earlier run or not) and the cancels confirmed by REST before quoting.

Shutdown (SIGINT / SIGTERM / --duration): stop every bot, send its cancels, then sweep: REST
frontendOpenOrders until none of our orders rests (cancel by oid what is left), disarm the dead
man's switch only once confirmed, write closing rows, flush, checkpoint; exit 0 (1 if orders
could not be confirmed cancelled: the dead man's switch then stays armed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from mm_bot.core.book import L2Book
from mm_bot.core.bot import Bot
from mm_bot.core.compliance import SelfMatchRegistry
from mm_bot.core.nonces import NonceAllocator
from mm_bot.core.ratelimit import DualRateLimiter, LimiterPolicy, VenueLimits
from mm_bot.core.records import BotRow, RateLimitRow, SystemEventRow
from mm_bot.core.types import BookUpdate, Cancel, Fill, OrderAck, OrderStatus, Place, TradePrint
from mm_bot.live.aio import wait_event
from mm_bot.live.clock import wall_ms
from mm_bot.live.commands import apply_command, poll_commands
from mm_bot.live.runner import CONSOLE_EVERY_S, RunStats
from mm_bot.store.writer import AsyncWriter, open_async_writer
from mm_bot.venues.hyperliquid.gateway import GatewayError, HyperliquidGateway, split_places
from mm_bot.venues.hyperliquid.mapping import CancelFailed, WireError
from mm_bot.venues.hyperliquid.rest import HlRestError, urls_for

log = logging.getLogger("mm_bot.live")

DEADMAN_EVERY_S = 30.0
DEADMAN_HORIZON_MS = 60_000
RECONCILE_EVERY_S = 60.0
RECONCILE_MIN_GAP_S = 1.0
USAGE_EVERY_S = 10.0
SHUTDOWN_CONFIRM_S = 15.0
STARTUP_CONFIRM_TRIES = 5


@dataclass
class PriorState:
    """What the DB remembers from earlier runs."""

    positions: dict[tuple[str, str], tuple[int, float, float, float, int]] = field(default_factory=dict)
    fill_ids: set[str] = field(default_factory=set)
    bot_of_cloid: dict[str, str] = field(default_factory=dict)
    # signer -> last nonce, when the DB has a `nonces` table (schema v4); None without one.
    nonces: dict[str, int] | None = None


@dataclass(frozen=True, slots=True)
class LiveNonceRow:
    """The last nonce issued per signer (table `nonces`): the upsert never lowers a stored value."""

    TABLE: ClassVar[str] = "nonces"
    CONFLICT: ClassVar[str] = (
        "ON CONFLICT(signer) DO UPDATE SET last_nonce=MAX(last_nonce, excluded.last_nonce), ts_ms=excluded.ts_ms"
    )
    signer: str
    last_nonce: int
    ts_ms: int


def load_prior_state(db_path: str, venue: str, bot_ids: list[str]) -> PriorState:
    """Positions, seen fill ids and cloid -> bot of `bot_ids` from the DB (empty for a new file)."""
    st = PriorState()
    conn = sqlite3.connect(db_path)
    try:
        marks = ",".join("?" * len(bot_ids))
        for bot_id, coin, lots, avg, realized, fees, fills in conn.execute(
                f"SELECT bot_id, coin, size_lots, avg_entry, realized_usd, fees_usd, fills FROM positions "
                f"WHERE bot_id IN ({marks})", bot_ids):
            st.positions[(bot_id, coin)] = (int(lots), float(avg), float(realized), float(fees), int(fills))
        st.fill_ids = {r[0] for r in conn.execute("SELECT fill_id FROM fills WHERE venue=?", (venue,))}
        for bot_id, cloid in conn.execute(f"SELECT bot_id, cloid FROM orders WHERE bot_id IN ({marks})", bot_ids):
            st.bot_of_cloid[cloid] = bot_id
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='nonces'").fetchone():
            st.nonces = {signer: int(last) for signer, last in conn.execute("SELECT signer, last_nonce FROM nonces")}
    finally:
        conn.close()
    return st


class LiveRunner:
    def __init__(self, gateway: HyperliquidGateway, bots: list[Bot], books: dict[str, L2Book], configs: list,
                 db_path: str, duration_s: float | None, limiter: DualRateLimiter, prior: PriorState) -> None:
        self.gw = gateway
        self.bots = {b.bot_id: b for b in bots}
        self.books = books
        self.configs = {c.bot_id: c for c in configs}
        self.db_path = db_path
        self.duration_s = duration_s
        self.limiter = limiter
        self.prior = prior
        self.coins = sorted({c for b in bots for c in b.coins})
        self.account_label = configs[0].account if configs else "default"
        self.stop_event = asyncio.Event()
        self.ws_stop = asyncio.Event()
        self.sender_stop = asyncio.Event()
        self.send_kick = asyncio.Event()
        self.reconcile_kick = asyncio.Event()
        self.outbox: list[tuple[Bot, Place | Cancel]] = []
        self.sending = False
        self.records: list = []
        self.failed: set[str] = set()
        self.writer: AsyncWriter | None = None
        self.stats = RunStats()
        self.stop_reason = "duration"
        self.book_events = 0
        self.trades = 0
        self.disconnected_ms: int | None = None
        self._wire_errors = 0
        self.starting = True
        self.early_fills: list[Fill] = []

    # ------------------------------------------------------------ plumbing

    def mode(self, bot_id: str) -> str:
        return self.configs[bot_id].mode

    def request_stop(self, reason: str) -> None:
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.stop_event.set()

    def _event(self, kind: str, severity: str, message: str, now: int, coin: str | None = None, **details) -> None:
        self.records.append(SystemEventRow(None, coin, kind, severity, message,
                                           json.dumps(details, sort_keys=True, default=str), now))

    def _collect(self, bot: Bot) -> None:
        if bot.records:
            self.records.extend(bot.records)
            bot.records.clear()

    def _flush(self) -> None:
        for bot in self.bots.values():
            self._collect(bot)
        if self.records and self.writer is not None:
            self.writer.put_many(self.records)
            self.records = []

    def submit(self, bot: Bot, actions: list) -> None:
        for a in actions:
            if isinstance(a, Place):
                self.gw.track(a)
            self.outbox.append((bot, a))
        if actions:
            self.send_kick.set()
        self._collect(bot)

    def fail_bot(self, bot: Bot, exc: Exception, now: int) -> None:
        """An exception in one bot: record it, cancel its orders, the others go on."""
        self.failed.add(bot.bot_id)
        bot.event("error", "critical", f"bot stopped after an exception: {type(exc).__name__}: {exc}", now,
                  exc_type=type(exc).__name__)
        try:
            self.submit(bot, bot.stop(now, "bot failed"))
        except Exception as e:  # noqa: BLE001 - the sweep at shutdown still cancels by REST
            log.error("bot %s: stop failed too: %s", bot.bot_id, type(e).__name__)
        bot.status = "failed"
        self._collect(bot)

    def deliver(self, events: list) -> None:
        """Venue events (acks, fills, refused cancels) to their bots."""
        for ev in events:
            if isinstance(ev, CancelFailed):
                log.info("cancel refused for %s %s: %s", ev.bot_id, ev.cloid, ev.reason)
                self.reconcile_kick.set()
                continue
            bot = self.bots.get(ev.bot_id)
            if bot is None:
                continue
            try:
                self.submit(bot, bot.on_venue_event(ev))
            except Exception as e:  # noqa: BLE001 - one bot's bug must not stop the others
                self.fail_bot(bot, e, wall_ms())
            self._collect(bot)

    def _live_orders(self) -> dict[str, tuple[str, str, OrderStatus, bool]]:
        out = {}
        for bot in self.bots.values():
            for coin in bot.coins:
                for o in bot.orders.live(coin):
                    out[o.cloid] = (bot.bot_id, coin, o.status, o.cancel_requested)
        return out

    # ------------------------------------------------------------ venue callbacks

    def on_rate_limited(self, path: str, until_ms: int, new_backoff: bool) -> None:
        if new_backoff:
            now = wall_ms()
            self._event("rate_limit", "warning", f"venue rate limit on {path}: backing off for "
                        f"{max(0, until_ms - now)} ms (level {self.limiter.backoff_level}); only cancels pass",
                        now, path=path, backoff_until_ms=until_ms, level=self.limiter.backoff_level)

    def on_ws_message(self, msg: dict, recv_ms: int) -> None:
        try:
            events = self.gw.parse_ws(msg, recv_ms)
        except WireError as e:
            self._wire_errors += 1
            if self._wire_errors <= 20 or self._wire_errors % 1000 == 0:
                self._event("feed", "warning", f"unreadable {e.message_type} message: {e.detail}", recv_ms,
                            count=self._wire_errors)
            return
        venue_events = []
        for ev in events:
            if isinstance(ev, BookUpdate):
                book = self.books.get(ev.coin)
                if book is not None:
                    book.apply(ev)
                    self.book_events += 1
            elif isinstance(ev, TradePrint):
                self.trades += 1
            else:
                venue_events.append(ev)
                if self.starting and isinstance(ev, Fill):
                    self.early_fills.append(ev)
        if venue_events:
            self.deliver(venue_events)

    def on_ws_connect(self, n: int) -> None:
        now = wall_ms()
        subs = len(self.gw.ws.subscriptions) if self.gw.ws else 0
        if n == 1:
            self._event("feed", "info", f"websocket connected, {subs} subscriptions", now, connection=n)
            return
        down = now - self.disconnected_ms if self.disconnected_ms else None
        self._event("feed", "info", f"websocket reconnected (connection {n}), {subs} subscriptions sent again; "
                    "books unusable until a fresh l2Book; reconciling orders", now, connection=n, down_ms=down)
        self.reconcile_kick.set()

    def on_ws_disconnect(self, reason: str) -> None:
        now = wall_ms()
        self.disconnected_ms = now
        for book in self.books.values():
            book.mark_out_of_sync()
        self._event("feed", "warning", f"websocket disconnected ({reason}): books marked out of sync", now,
                    reason=reason)

    # ------------------------------------------------------------ tasks

    async def _quote_task(self, bot: Bot, coin: str, loop_ms: int) -> None:
        nxt = wall_ms()
        while not self.stop_event.is_set() and bot.status in ("running", "paused"):
            delay = (nxt - wall_ms()) / 1000
            if delay > 0 and await wait_event(self.stop_event, delay):
                return
            now = wall_ms()
            if bot.bot_id not in self.failed:
                try:
                    self.submit(bot, bot.on_tick(coin, now))
                except Exception as e:  # noqa: BLE001 - one bot's bug must not stop the others
                    self.fail_bot(bot, e, now)
            self._flush()
            nxt += loop_ms
            if nxt < now:
                nxt = now + loop_ms

    async def _sender_task(self) -> None:
        """Drain the outbox: cancels first (one cancelByCloid per 40), then placements batched per
        the bots' batch_orders (ALO apart from IOC/GTC). The Bot already charged the limiter."""
        while True:
            if not self.outbox:
                if self.sender_stop.is_set():
                    return
                self.send_kick.clear()
                await wait_event(self.send_kick, 0.5)
                continue
            batch, self.outbox = self.outbox, []
            self.sending = True
            try:
                cancels = [a for _, a in batch if isinstance(a, Cancel)]
                places = [a for _, a in batch if isinstance(a, Place)]
                for i in range(0, len(cancels), 40):
                    events, failed = await self.gw.send_cancels(cancels[i:i + 40])
                    if failed:
                        self.reconcile_kick.set()
                    self.deliver(events)
                batched = [p for p in places if self.configs[p.bot_id].batch_orders]
                single = [p for p in places if not self.configs[p.bot_id].batch_orders]
                for group in split_places(batched, True) + split_places(single, False):
                    events, uncertain = await self.gw.send_places(group)
                    if uncertain:
                        self.reconcile_kick.set()
                    self.deliver(events)
            except Exception as e:  # noqa: BLE001 - keep sending; reconcile repairs our view
                log.error("sender: %s: %s", type(e).__name__, e)
                self._event("error", "error", f"sending actions failed: {type(e).__name__}: {e}", wall_ms())
                self.reconcile_kick.set()
            finally:
                self.sending = False
            self._flush()

    async def _reconcile_task(self) -> None:
        last = 0.0
        loop = asyncio.get_running_loop()
        while not self.stop_event.is_set():
            # Woken by a request (reconnect, failed request, refused cancel): fills too; the
            # periodic pass only checks open orders (the userFills stream carries the fills).
            kicked = await wait_event(self.reconcile_kick, RECONCILE_EVERY_S)
            if self.stop_event.is_set():
                return
            gap = loop.time() - last
            if gap < RECONCILE_MIN_GAP_S and await wait_event(self.stop_event, RECONCILE_MIN_GAP_S - gap):
                return
            self.reconcile_kick.clear()
            last = loop.time()
            try:
                await self.reconcile_once("requested" if kicked else "periodic", with_fills=kicked)
            except (HlRestError, WireError) as e:
                self._event("reconcile", "warning", f"reconcile failed: {e}", wall_ms())
            self._flush()

    async def reconcile_once(self, why: str, with_fills: bool = True) -> None:
        res = await self.gw.reconcile(self._live_orders(), with_fills)
        self.deliver(res.events)
        changed = [e for e in res.events if isinstance(e, OrderAck)]
        if res.strays:
            errs = await self.gw.cancel_oids(res.strays)
            self._event("reconcile", "warning", f"cancelled {len(res.strays)} stray order(s) of ours", wall_ms(),
                        oids=[o.oid for o in res.strays], errors=[e for e in errs if e])
        if res.recancel:
            cancels = [Cancel(b, c, cl) for b, c, cl in res.recancel]
            events, _ = await self.gw.send_cancels(cancels, charged=False)
            self.deliver(events)
        if changed or res.recovered_fills or res.strays or res.recancel:
            self._event("reconcile", "info", f"reconcile ({why}): {len(changed)} order state(s) corrected, "
                        f"{res.recovered_fills} fill(s) recovered, {len(res.strays)} stray(s), "
                        f"{len(res.recancel)} cancel(s) re-sent", wall_ms(),
                        corrected=[(e.cloid, e.status.value) for e in changed])

    async def _deadman_task(self) -> None:
        while not self.stop_event.is_set():
            if await wait_event(self.stop_event, DEADMAN_EVERY_S):
                return
            await self._arm_deadman()

    async def _arm_deadman(self) -> None:
        now = wall_ms()
        err = await self.gw.schedule_cancel(now + DEADMAN_HORIZON_MS)
        if err:
            self._event("deadman", "warning", f"scheduleCancel refused: {err}", now)

    async def _usage_task(self) -> None:
        while not self.stop_event.is_set():
            if await wait_event(self.stop_event, USAGE_EVERY_S):
                return
            now = wall_ms()
            self._nonce_rows(now)
            for s in self.limiter.usage(now).values():
                self.records.append(RateLimitRow("hyperliquid", self.account_label, s.channel, s.used,
                                                 s.capacity, s.pct, int(s.critical), now))
            self._flush()

    def _nonce_rows(self, now: int) -> None:
        """Queue the last nonce per signer (restart: the next run starts above it)."""
        if self.prior.nonces is not None:
            self.records += [LiveNonceRow(signer, last, now) for signer, last in self.gw.nonces.snapshot().items()]

    async def _console_task(self) -> None:
        bots = [b for b in self.bots.values() if b.telemetry_console]
        while bots and not self.stop_event.is_set():
            if not await wait_event(self.stop_event, CONSOLE_EVERY_S):
                now = wall_ms()
                for b in bots:
                    for coin in b.coins:
                        log.info("%s", b.status_line(coin, now))

    async def _command_task(self, conn) -> None:
        # A lambda, not a bound append: the records list is swapped at every flush.
        await poll_commands(conn, self.stop_event, self.apply_command, lambda r: self.records.append(r), self._flush)

    def apply_command(self, bot_id: str | None, command: str, now: int, coin: str | None = None
                      ) -> tuple[str, str]:
        """Carry out one manual command; returns (status, result). coin narrows flatten/take_profit."""
        return apply_command(list(self.bots.values()), bot_id, command, now, coin, self.submit, self.request_stop,
                             lambda r: self.records.append(r), self.configs, lambda cfg: cfg.mode)

    # ------------------------------------------------------------ start-up

    def restore_prior(self) -> None:
        """DB state of earlier runs: seen fill ids, our cloids, each bot's positions. Runs before the
        stream starts, so no fill can reach a bot ahead of its restored position."""
        gw = self.gw
        gw.seen_fills |= self.prior.fill_ids
        for cloid, bot_id in self.prior.bot_of_cloid.items():
            gw.bot_of_cloid.setdefault(cloid, bot_id)
        for (bot_id, coin), (lots, avg, realized, fees, fills) in self.prior.positions.items():
            bot = self.bots.get(bot_id)
            if bot is not None and coin in bot.coins:
                bot.restore_position(coin, lots, avg, realized, fees, fills)

    async def startup(self) -> None:
        """Recover fills, restore and check positions, cancel every open order of our coins."""
        gw = self.gw
        now = wall_ms()
        recovered = [f for f in await gw.user_fills() if gw.accept_fill(f) and f.bot_id in self.bots]
        self.deliver(recovered)
        # Fills the WS userFills snapshot delivered first count as recovered too.
        recovered = self.early_fills + recovered
        self.early_fills = []
        if recovered:
            self._event("reconcile", "warning", f"recovered {len(recovered)} fill(s) made while the runner was "
                        "down", now, fill_ids=[f.fill_id for f in recovered])
        venue_pos = await gw.positions()
        for coin in self.coins:
            inst = gw.instruments[coin]
            vp = venue_pos.get(coin)
            venue_lots = inst.to_lots(vp.size) if vp else 0
            holders = [b for b in self.bots.values() if coin in b.coins]
            ours = sum(b.coins[coin].position.lots for b in holders)
            if venue_lots == ours:
                if venue_lots:
                    self._event("reconcile", "info", f"{coin}: position {inst.sz(venue_lots)} matches the venue",
                                now, coin, lots=venue_lots)
                continue
            if len(holders) == 1:
                b = holders[0]
                p = b.coins[coin].position
                entry = vp.entry_px if vp and vp.entry_px else p.avg_entry
                b.restore_position(coin, venue_lots, entry if venue_lots else 0.0, p.realized_usd, p.fees_usd,
                                   p.fills)
                self._event("reconcile", "warning", f"{coin}: bot {b.bot_id} position set from the venue: "
                            f"{inst.sz(venue_lots)} (DB and fills said {inst.sz(ours)})", now, coin,
                            venue_lots=venue_lots, db_lots=ours, bot_id=b.bot_id)
            else:
                self._event("reconcile", "error", f"{coin}: venue position {inst.sz(venue_lots)} differs from the "
                            f"bots' sum {inst.sz(ours)}; each bot keeps its own (several bots share the coin)",
                            now, coin, venue_lots=venue_lots, db_lots=ours)
        await self._cancel_open_orders_at_start()
        await self._arm_deadman()
        try:
            rl = await gw.user_rate_limit()
            self._event("rate_limit", "info", f"address budget: {rl.n_requests_used} used of "
                        f"{rl.n_requests_cap + rl.n_requests_surplus}", wall_ms(), used=rl.n_requests_used,
                        cap=rl.n_requests_cap, surplus=rl.n_requests_surplus)
        except (HlRestError, WireError) as e:
            log.warning("userRateLimit unavailable: %s", e)

    async def _cancel_open_orders_at_start(self) -> None:
        coins = set(self.coins)
        cancelled: list[str] = []
        for _ in range(STARTUP_CONFIRM_TRIES):
            todo = [o for o in await self.gw.open_orders() if o.coin in coins]
            if not todo:
                break
            errs = await self.gw.cancel_oids(todo)
            cancelled += [o.oid for o, e in zip(todo, errs, strict=True) if not e]
            await asyncio.sleep(0.2)
        else:
            left = [o.oid for o in await self.gw.open_orders() if o.coin in coins]
            if left:
                raise GatewayError(f"{len(left)} open order(s) in {', '.join(sorted(coins))} could not be "
                                   "cancelled at start")
        if cancelled:
            self._event("reconcile", "warning", f"start: cancelled {len(cancelled)} open order(s) found in "
                        f"{', '.join(sorted(coins))} (confirmed by frontendOpenOrders)", wall_ms(), oids=cancelled)

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> RunStats:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        conn, self.writer = await open_async_writer(self.db_path)
        start = wall_ms()
        self.stats.started_ms = start
        tasks: list[asyncio.Task] = []
        ws_task = sender_task = None
        try:
            for bot in self.bots.values():
                cfg = self.configs[bot.bot_id]
                self.records.append(BotRow(bot.bot_id, cfg.venue, cfg.mode, cfg.to_json(), "running", start))
                bot.event("start", "info", f"bot started live on {cfg.venue} {cfg.mode} ({', '.join(cfg.coins)})",
                          start, coins=list(cfg.coins), loop_ms=cfg.loop_ms)
            self._event("start", "info", f"live runner started: {len(self.bots)} bots on hyperliquid "
                        f"{self.gw.mode}, account {self.gw.user}, agent {self.gw.agent_address}", start,
                        bots=list(self.bots), duration_s=self.duration_s)
            self._flush()
            self.restore_prior()
            ws = self.gw.make_ws(self.coins, self.on_ws_message, self.on_ws_connect, self.on_ws_disconnect)
            # The stream starts first so fills during the start-up reconcile are not missed.
            ws_task = asyncio.create_task(ws.run(self.ws_stop), name="hl-ws")
            sender_task = asyncio.create_task(self._sender_task(), name="hl-sender")
            start_job = asyncio.ensure_future(self.startup())
            stopper = asyncio.ensure_future(self.stop_event.wait())
            await asyncio.wait({start_job, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not start_job.done():
                start_job.cancel()
                await asyncio.gather(start_job, return_exceptions=True)
            else:
                start_job.result()
            self.starting = False
            self._flush()
            if not self.stop_event.is_set():
                for bot in self.bots.values():
                    loop_ms = self.configs[bot.bot_id].loop_ms
                    for coin in bot.coins:
                        tasks.append(asyncio.create_task(self._quote_task(bot, coin, loop_ms),
                                                         name=f"q-{bot.bot_id}-{coin}"))
                tasks += [asyncio.create_task(self._reconcile_task(), name="reconcile"),
                          asyncio.create_task(self._deadman_task(), name="deadman"),
                          asyncio.create_task(self._usage_task(), name="usage"),
                          asyncio.create_task(self._command_task(conn), name="commands"),
                          asyncio.create_task(self._console_task(), name="console")]
                if self.duration_s is not None:
                    if not await wait_event(self.stop_event, max(0.0, self.duration_s - (wall_ms() - start) / 1000)):
                        self.request_stop("duration")
                else:
                    await self.stop_event.wait()
        except (GatewayError, HlRestError, WireError) as e:
            self.stop_reason = f"start-up failed: {e}"
            self.stats.extra["error"] = str(e)
            self._event("error", "critical", f"live start-up failed: {e}", wall_ms())
            log.error("live start-up failed: %s", e)
        finally:
            self.stop_event.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._shutdown(ws_task, sender_task)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self.writer.close()
            self.stats.rows_written = self.writer.rows_written
            await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await conn.close()
            self.gw.close()
        return self.stats

    async def _shutdown(self, ws_task, sender_task) -> None:
        now = wall_ms()
        reason = f"shutdown ({self.stop_reason})"
        for bot in self.bots.values():
            if bot.status in ("running", "paused"):
                try:
                    self.submit(bot, bot.stop(now, reason))
                except Exception as e:  # noqa: BLE001 - the REST sweep below still cancels
                    log.error("bot %s: stop failed: %s", bot.bot_id, type(e).__name__)
        self.send_kick.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while (self.outbox or self.sending) and loop.time() < deadline and sender_task is not None:
            await asyncio.sleep(0.02)
        left, confirmed = await self._sweep(loop.time() + SHUTDOWN_CONFIRM_S)
        if confirmed and not left:
            err = await self.gw.schedule_cancel(None)
            if err:
                self._event("deadman", "warning", f"could not disarm scheduleCancel: {err}", wall_ms())
        self.sender_stop.set()
        self.send_kick.set()
        self.ws_stop.set()
        for t in (sender_task, ws_task):
            if t is not None:
                try:
                    await asyncio.wait_for(t, 5)
                except (TimeoutError, Exception) as e:  # noqa: BLE001
                    log.warning("task %s did not end cleanly: %s", t.get_name(), type(e).__name__)
        now = wall_ms()
        for bot in self.bots.values():
            bot.final_records(now)
            status = bot.status if bot.status in ("failed", "killed") else "stopped"
            cfg = self.configs[bot.bot_id]
            self.records.append(BotRow(bot.bot_id, cfg.venue, cfg.mode, cfg.to_json(), status, now))
            bot.event("stop", "info", f"bot stopped ({self.stop_reason})", now, reason=self.stop_reason)
        self._nonce_rows(now)
        n_left = len(left) if confirmed else -1
        sev = "info" if confirmed and not left else "error"
        msg = (f"runner stopped ({self.stop_reason}); open orders on the venue: {n_left}" if confirmed else
               f"runner stopped ({self.stop_reason}); open orders could NOT be confirmed (venue unreachable); "
               "the dead man's switch stays armed")
        self._event("stop", sev, msg, now, reason=self.stop_reason, open_orders=n_left)
        self.stats.ended_ms = now
        self.stats.stop_reason = self.stop_reason
        self.stats.open_orders_at_exit = len(left) if confirmed else 1
        self._flush()

    async def _sweep(self, deadline: float) -> tuple[list, bool]:
        """Cancel by REST until none of our orders rests; (left, confirmed)."""
        loop = asyncio.get_running_loop()
        if not self.gw.assets:
            return [], True
        ours: list = []
        confirmed = False
        while loop.time() < deadline:
            try:
                res = await self.gw.reconcile(self._live_orders())
            except (HlRestError, WireError) as e:
                log.warning("shutdown sweep: %s", e)
                await asyncio.sleep(0.5)
                continue
            self.deliver(res.events)
            ours = [o for o in res.open_orders if o.cloid in self.gw.bot_of_cloid]
            confirmed = True
            if not ours:
                break
            await self.gw.cancel_oids(ours)
            await asyncio.sleep(0.2)
            confirmed = False
        self._flush()
        return ours, confirmed


async def run_live(configs: list, db_path: str, duration_s: float | None, environ: Mapping[str, str],
                   limits: Mapping[str, VenueLimits]) -> tuple[int, LiveRunner | None]:
    """Build the gateway and bots for `configs` (all Hyperliquid, one mode) and run. (exit code, runner)."""
    mode = configs[0].mode
    rest_url, ws_url = urls_for(mode, environ)
    limiter = DualRateLimiter(limits["hyperliquid"], LimiterPolicy(share_pct=configs[0].rate_limits_share_pct))
    start = wall_ms()
    rng = random.Random(start)
    holder: dict[str, LiveRunner] = {}

    def on_rate_limited(path: str, until: int, new: bool) -> None:
        if "r" in holder:
            holder["r"].on_rate_limited(path, until, new)

    prior = load_prior_state(db_path, "hyperliquid", [c.bot_id for c in configs])
    try:
        gw = HyperliquidGateway(mode=mode, secret_key=environ.get("HL_SECRET_KEY", ""),
                                account_address=environ.get("HL_ACCOUNT_ADDRESS", ""), rest_url=rest_url,
                                ws_url=ws_url, limiter=limiter, nonces=NonceAllocator(prior.nonces),
                                vault_address=environ.get("HL_VAULT_ADDRESS") or None, rng=rng,
                                on_rate_limited=on_rate_limited)
    except GatewayError as e:
        log.error("live mode refused: %s", e)
        return 2, None
    coins = sorted({c for cfg in configs for c in cfg.coins})
    try:
        instruments = await gw.load_meta(coins)
        fees = await gw.fees_bps()
        margin = None
        try:
            from mm_bot.venues.hyperliquid.mapping import parse_margin_summary

            margin = parse_margin_summary(await gw.clearinghouse())
        except WireError as e:
            log.warning("account value unavailable (%s); using paper.starting_equity_usd", e)
    except GatewayError as e:
        log.error("live mode refused: %s", e)
        gw.close()
        return 2, None
    except (HlRestError, WireError) as e:
        log.error("cannot reach Hyperliquid %s at %s: %s", mode, rest_url, e)
        gw.close()
        return 1, None
    books = {c: L2Book(c) for c in coins}
    registry = SelfMatchRegistry()
    bots = []
    for cfg in configs:
        maker, taker = fees if fees is not None else (cfg.paper.maker_fee_bps, cfg.paper.taker_fee_bps)
        equity = margin.account_value if margin is not None and margin.account_value > 0 \
            else cfg.paper.starting_equity_usd
        insts = {c: instruments[c] for c in cfg.coins}
        bot = Bot(cfg, insts, "hyperliquid", maker, start, seed=start, limiter=limiter, self_match=registry,
                  taker_fee_bps=taker, starting_equity_usd=equity)
        for c in cfg.coins:
            bot.attach_book(c, books[c])
        bots.append(bot)
    runner = LiveRunner(gw, bots, books, configs, db_path, duration_s, limiter, prior)
    holder["r"] = runner
    log.info("live: %d bot(s) on Hyperliquid %s (%s), coins %s", len(bots), mode, rest_url, ", ".join(coins))
    stats = await runner.run()
    if "error" in stats.extra:
        return 1, runner
    return (0 if stats.open_orders_at_exit == 0 else 1), runner


def live_env_problems(configs: list, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Problems that refuse a live start beyond missing keys: mixed modes in one process."""
    modes = sorted({c.mode for c in configs})
    if len(modes) > 1:
        return [f"live bots in one process must share one mode (Hyperliquid account from HL_ACCOUNT_ADDRESS); "
                f"got {', '.join(modes)}: run testnet and mainnet bots in separate processes"]
    return []


def sent_counts(runner: LiveRunner | None) -> dict:
    if runner is None:
        return {}
    return {"places": runner.gw.sent_places, "cancels": runner.gw.sent_cancels,
            "requests": runner.gw.client.requests, "rate_limited": runner.gw.client.rate_limited,
            "ws_connections": runner.gw.ws.connections if runner.gw.ws else 0,
            "book_events": runner.book_events, "trades": runner.trades}

