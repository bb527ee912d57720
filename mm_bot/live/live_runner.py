"""The asyncio shell for live trading, the same for every venue (mm_bot/venues/gateway.py).

Same shape as the paper shell (mm_bot/live/runner.py): one quoting task per (bot, coin) waking
every loop_ms, a venue side (one public market stream carrying books + trades of every coin,
shared by every bot quoting it; the account's private streams; a sender task that batches the
bots' actions into the venue's requests), the one DB writer task, the commands poller, and a
clean shutdown. Extra live tasks: the dead man's switch where the venue has one (armed while we
run, refreshed every 30 s for +60 s), order reconciliation (after every reconnect, failed request
or refused cancel, and every 60 s: open orders + recent fills by REST, fills deduplicated by id;
every 5 s while a private stream is down, budget permitting) and the REST book fallback (books
polled by REST when `use_websocket` is false, or while the market stream has been down for
REST_FALLBACK_AFTER_S).

Start-up: instruments; account fees (fallback: the configs' paper fees); equity and positions;
fills missed since the last run are recovered for cloids the DB knows; each bot's positions come
from the DB, checked against the venue (a coin quoted by one bot only takes the venue's size);
then EVERY open order in the coins the bots trade is cancelled (ours from an earlier run or not)
and the cancels confirmed by REST before quoting.

Shutdown (SIGINT / SIGTERM / --duration): stop every bot, send its cancels, then sweep: REST open
orders until none of ours rests (cancel by venue id what is left), disarm the dead man's switch
only once confirmed, write closing rows, flush, checkpoint; exit 0 (1 if orders could not be
confirmed cancelled: the dead man's switch, where there is one, then stays armed).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import random
import signal
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field

from mm_bot.core.book import L2Book
from mm_bot.core.bot import Bot, is_benign_reject
from mm_bot.core.compliance import SelfMatchRegistry
from mm_bot.core.nonces import NonceAllocator
from mm_bot.core.ratelimit import DualRateLimiter, LimiterPolicy, VenueLimits
from mm_bot.core.records import BotRow, NonceRow, RateLimitRow, SystemEventRow
from mm_bot.core.types import (
    BookUpdate,
    Cancel,
    CancelFailed,
    FeedProblem,
    Fill,
    Modify,
    ModifyFailed,
    OrderAck,
    OrderStatus,
    Place,
    TradePrint,
)
from mm_bot.live.aio import wait_event
from mm_bot.live.clock import wall_ms
from mm_bot.live.commands import apply_command, poll_commands
from mm_bot.live.runner import CONSOLE_EVERY_S, RunStats
from mm_bot.store.writer import AsyncWriter, open_async_writer
from mm_bot.venues.errors import GatewayError, VenueError, WireError
from mm_bot.venues.gateway import Gateway

log = logging.getLogger("mm_bot.live")

DEADMAN_EVERY_S = 30.0
DEADMAN_HORIZON_MS = 60_000
RECONCILE_EVERY_S = 60.0
RECONCILE_MIN_GAP_S = 1.0
USAGE_EVERY_S = 10.0
# While a private stream is down, fills and order states come from REST this often, as long as
# the REST window is less than RECONCILE_STREAM_DOWN_MAX_PCT used (recent-fills reads are heavy:
# Hyperliquid charges userFills 20 + 1 per 20 fills returned).
RECONCILE_STREAM_DOWN_S = 5.0
RECONCILE_STREAM_DOWN_MAX_PCT = 50.0
# A market stream down this long (a normal reconnect takes well under it): books come from REST.
REST_FALLBACK_AFTER_S = 5.0
# Fastest REST book poll (s), whatever loop_ms * market_data_update_freq says.
REST_BOOK_MIN_S = 0.25
SHUTDOWN_CONFIRM_S = 15.0
# A modify unanswered this long is settled by the price its order rests at in the venue's open orders.
MODIFY_SETTLE_MS = 3_000
STARTUP_CONFIRM_TRIES = 5


@dataclass
class PriorState:
    """What the DB remembers from earlier runs."""

    positions: dict[tuple[str, str], tuple[int, float, float, float, int]] = field(default_factory=dict)
    fill_ids: set[str] = field(default_factory=set)
    bot_of_cloid: dict[str, str] = field(default_factory=dict)
    # signer -> last nonce, when the DB has a `nonces` table (schema v4); None without one.
    nonces: dict[str, int] | None = None


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
    def __init__(self, gateway: Gateway, bots: list[Bot], books: dict[str, L2Book], configs: list,
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
        self.market_down_since: float | None = None
        self.private_down: set[str] = set()
        self.use_websocket = any(c.use_websocket for c in configs)
        self.rest_book_s = max(REST_BOOK_MIN_S, min((c.loop_ms * c.market_data_update_freq for c in configs),
                                                    default=1000) / 1000)
        self.rest_books = 0
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
        """Venue events (acks, fills, refused cancels and modifies) to their bots."""
        for ev in events:
            if isinstance(ev, CancelFailed):
                log.info("cancel refused for %s %s: %s", ev.bot_id, ev.cloid, ev.reason)
                self.reconcile_kick.set()
                continue
            if isinstance(ev, ModifyFailed) and not is_benign_reject(ev.reason):
                # The order may be gone or elsewhere: the venue's open orders settle it.
                self.reconcile_kick.set()
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

    def on_wire_error(self, err: WireError, recv_ms: int) -> None:
        """An unreadable venue message: skipped, and written to system_events (rate-limited)."""
        self._wire_errors += 1
        if self._wire_errors <= 20 or self._wire_errors % 1000 == 0:
            self._event("feed", "warning", f"unreadable {err.message_type} message from {self.gw.venue}: "
                        f"{err.detail}", recv_ms, count=self._wire_errors, message_type=err.message_type)

    def on_events(self, events: list, recv_ms: int) -> None:
        """Stream events: books and trades to the shared books, the rest to the bots."""
        venue_events = []
        for ev in events:
            if isinstance(ev, BookUpdate):
                book = self.books.get(ev.coin)
                if book is not None:
                    book.apply(ev)
                    self.book_events += 1
                # The market stream is back once it delivers books again (not merely connected).
                self.market_down_since = None
            elif isinstance(ev, TradePrint):
                self.trades += 1
            elif isinstance(ev, FeedProblem):
                book = self.books.get(ev.coin)
                if book is not None:
                    book.mark_out_of_sync()
                self._event("feed", "warning", f"{ev.coin}: {ev.message}; book unusable until a fresh snapshot",
                            recv_ms, ev.coin)
            else:
                venue_events.append(ev)
                if self.starting and isinstance(ev, Fill):
                    self.early_fills.append(ev)
        if venue_events:
            self.deliver(venue_events)

    def on_connect(self, stream: str, n: int, market: bool) -> None:
        now = wall_ms()
        if not market:
            self.private_down.discard(stream)
        if n == 1:
            self._event("feed", "info", f"{stream} connected", now, stream=stream, connection=n)
            return
        down = now - self.disconnected_ms if self.disconnected_ms else None
        what = "books unusable until a fresh snapshot; " if market else ""
        self._event("feed", "info", f"{stream} reconnected (connection {n}), subscriptions sent again; "
                    f"{what}reconciling orders", now, stream=stream, connection=n, down_ms=down)
        self.reconcile_kick.set()

    def on_disconnect(self, stream: str, reason: str, market: bool) -> None:
        now = wall_ms()
        self.disconnected_ms = now
        if market:
            if self.market_down_since is None:
                self.market_down_since = asyncio.get_running_loop().time()
            for book in self.books.values():
                book.mark_out_of_sync()
            self._event("feed", "warning", f"{stream} disconnected ({reason}): books marked out of sync",
                        now, stream=stream, reason=reason)
        else:
            self.private_down.add(stream)
            self._event("feed", "warning", f"{stream} disconnected ({reason}): order states and fills "
                        "come from REST until it is back", now, stream=stream, reason=reason)
            self.reconcile_kick.set()

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
        """Drain the outbox: cancels first (40 a call), then modifies (one request per 40 for bots
        with batch_orders, else one each), then placements grouped per the bots' batch_orders and
        the venue's batch rules. The Bot already charged the limiter."""
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
                await self._send_modifies([a for _, a in batch if isinstance(a, Modify)])
                batched = [p for p in places if self.configs[p.bot_id].batch_orders]
                single = [p for p in places if not self.configs[p.bot_id].batch_orders]
                for group in self.gw.split_places(batched, True) + self.gw.split_places(single, False):
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

    async def _send_modifies(self, modifies: list[Modify]) -> None:
        """Modifies with the lots each order should rest with (its new total minus what it filled
        so far); an order already filled up to the new total is not sent (its fills answer it)."""
        items: list[tuple[Modify, int]] = []
        gone: list = []
        for m in modifies:
            o = self.bots[m.bot_id].orders.orders.get(m.cloid)
            rest = m.sz - (o.filled if o is not None else 0)
            if rest > 0:
                items.append((m, rest))
            else:
                gone.append(ModifyFailed(m.bot_id, m.coin, m.cloid, "not sent: the order filled first", wall_ms()))
        self.deliver(gone)
        batched = [it for it in items if self.configs[it[0].bot_id].batch_orders]
        groups = [batched[i:i + 40] for i in range(0, len(batched), 40)]
        groups += [[it] for it in items if not self.configs[it[0].bot_id].batch_orders]
        for group in groups:
            events, uncertain = await self.gw.send_modifies(group)
            if uncertain:
                self.reconcile_kick.set()
            self.deliver(events)

    async def _rest_book_task(self) -> None:
        """Books by REST while the market stream is off (use_websocket false) or has been down for
        REST_FALLBACK_AFTER_S: a fresh snapshot per coin every rest_book_s, through the limiter."""
        loop = asyncio.get_running_loop()
        while not self.stop_event.is_set():
            if await wait_event(self.stop_event, self.rest_book_s):
                return
            since = self.market_down_since
            if since is None or loop.time() - since < REST_FALLBACK_AFTER_S:
                continue
            for coin in self.coins:
                try:
                    snap = await self.gw.market.book_snapshot(coin)
                except VenueError as e:
                    log.warning("REST book %s: %s", coin, e)
                    continue
                # The stream may have come back (and sent newer books) while we waited.
                if self.market_down_since is None:
                    break
                self.books[coin].apply(snap)
                self.rest_books += 1

    async def _reconcile_task(self) -> None:
        last = 0.0
        loop = asyncio.get_running_loop()
        while not self.stop_event.is_set():
            # Woken by a request (reconnect, failed request, refused cancel): fills too; the
            # periodic pass only checks open orders (the private stream carries the fills) unless
            # that stream is down.
            every = RECONCILE_STREAM_DOWN_S if self.private_down else RECONCILE_EVERY_S
            kicked = await wait_event(self.reconcile_kick, every)
            if self.stop_event.is_set():
                return
            if not kicked and self.private_down:
                rest = self.limiter.usage(wall_ms()).get("rest")
                if rest is not None and rest.pct >= RECONCILE_STREAM_DOWN_MAX_PCT:
                    continue  # keep the budget for quoting and cancels; the next pass may fit
                kicked = True
            gap = loop.time() - last
            if gap < RECONCILE_MIN_GAP_S and await wait_event(self.stop_event, RECONCILE_MIN_GAP_S - gap):
                return
            self.reconcile_kick.clear()
            last = loop.time()
            try:
                await self.reconcile_once("requested" if kicked else "periodic", with_fills=kicked)
            except VenueError as e:
                self._event("reconcile", "warning", f"reconcile failed: {e}", wall_ms())
            self._flush()

    async def reconcile_once(self, why: str, with_fills: bool = True) -> None:
        res = await self.gw.reconcile(self._live_orders(), with_fills)
        self.deliver(res.events)
        self._settle_modifies(res.open_orders)
        changed = [e for e in res.events if isinstance(e, OrderAck)]
        if res.strays:
            errs = await self.gw.cancel_open(res.strays)
            self._event("reconcile", "warning", f"cancelled {len(res.strays)} stray order(s) of ours", wall_ms(),
                        oids=[o.venue_oid for o in res.strays], errors=[e for e in errs if e])
        if res.recancel:
            cancels = [Cancel(b, c, cl) for b, c, cl in res.recancel]
            events, _ = await self.gw.send_cancels(cancels, charged=False)
            self.deliver(events)
        if changed or res.recovered_fills or res.strays or res.recancel:
            self._event("reconcile", "info", f"reconcile ({why}): {len(changed)} order state(s) corrected, "
                        f"{res.recovered_fills} fill(s) recovered, {len(res.strays)} stray(s), "
                        f"{len(res.recancel)} cancel(s) re-sent", wall_ms(),
                        corrected=[(e.cloid, e.status.value) for e in changed])

    def _settle_modifies(self, open_orders: list) -> None:
        """A modify whose answer never came (older than MODIFY_SETTLE_MS, not in flight): the price
        the order rests at on the venue says whether it took effect."""
        now = wall_ms()
        for vo in open_orders:
            bot = self.bots.get(self.gw.bot_of_cloid.get(vo.cloid, ""))
            o = bot.orders.orders.get(vo.cloid) if bot is not None else None
            if (o is None or o.modify is None or vo.cloid in self.gw.inflight
                    or now - o.modify_sent_ms < MODIFY_SETTLE_MS):
                continue
            took = bot.settle_modify(vo.cloid, vo.px, vo.venue_oid, now)
            self._event("reconcile", "info", f"{vo.coin}: modify of {vo.cloid} unanswered; the venue has the order "
                        f"at the {'new' if took else 'old'} price", now, vo.coin, cloid=vo.cloid, took=took)
            self._collect(bot)

    async def _deadman_task(self) -> None:
        while not self.stop_event.is_set():
            if await wait_event(self.stop_event, DEADMAN_EVERY_S):
                return
            await self._arm_deadman()

    async def _arm_deadman(self) -> None:
        if not self.gw.deadman:
            return
        now = wall_ms()
        err = await self.gw.schedule_cancel(now + DEADMAN_HORIZON_MS)
        if err:
            self._event("deadman", "warning", f"dead man's switch refused: {err}", now)

    async def _usage_task(self) -> None:
        while not self.stop_event.is_set():
            if await wait_event(self.stop_event, USAGE_EVERY_S):
                return
            now = wall_ms()
            self._nonce_rows(now)
            for s in self.limiter.usage(now).values():
                self.records.append(RateLimitRow(self.gw.venue, self.account_label, s.channel, s.used,
                                                 s.capacity, s.pct, int(s.critical), now))
            self._flush()

    def _nonce_rows(self, now: int) -> None:
        """Queue the last nonce per signer (restart: the next run starts above it)."""
        if self.prior.nonces is not None and self.gw.nonces is not None:
            self.records += [NonceRow(signer, last, now) for signer, last in self.gw.nonces.snapshot().items()]

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
            venue_lots = inst.to_lots(vp.qty) if vp else 0
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
            note = await gw.budget_note()
            if note:
                self._event("rate_limit", "info", note, wall_ms())
        except VenueError as e:
            log.warning("account rate-limit status unavailable: %s", e)

    async def _cancel_open_orders_at_start(self) -> None:
        coins = set(self.coins)
        cancelled: list[str] = []
        for _ in range(STARTUP_CONFIRM_TRIES):
            todo = [o for o in await self.gw.open_orders() if o.coin in coins]
            if not todo:
                break
            errs = await self.gw.cancel_open(todo)
            cancelled += [o.venue_oid for o, e in zip(todo, errs, strict=True) if not e]
            await asyncio.sleep(0.2)
        else:
            left = [o.venue_oid for o in await self.gw.open_orders() if o.coin in coins]
            if left:
                raise GatewayError(f"{len(left)} open order(s) in {', '.join(sorted(coins))} could not be "
                                   "cancelled at start")
        if cancelled:
            self._event("reconcile", "warning", f"start: cancelled {len(cancelled)} open order(s) found in "
                        f"{', '.join(sorted(coins))} (confirmed by the venue's open orders)", wall_ms(), oids=cancelled)

    # ------------------------------------------------------------ lifecycle

    async def run(self, own_process: bool = True) -> RunStats:
        """Start up, quote until a stop, shut down. own_process=False: a LiveProcess running several
        venues handles the signals and the commands table for every runner."""
        loop = asyncio.get_running_loop()
        if own_process:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_stop, sig.name)
        conn, self.writer = await open_async_writer(self.db_path)
        start = wall_ms()
        self.stats.started_ms = start
        tasks: list[asyncio.Task] = []
        stream_tasks: list[asyncio.Task] = []
        sender_task = None
        try:
            for bot in self.bots.values():
                cfg = self.configs[bot.bot_id]
                self.records.append(BotRow(bot.bot_id, cfg.venue, cfg.mode, cfg.to_json(), "running", start))
                bot.event("start", "info", f"bot started live on {cfg.venue} {cfg.mode} ({', '.join(cfg.coins)})",
                          start, coins=list(cfg.coins), loop_ms=cfg.loop_ms)
            books_from = "websocket" if self.use_websocket else f"REST every {self.rest_book_s:g} s"
            self._event("start", "info", f"live runner started: {len(self.bots)} bots on {self.gw.venue} "
                        f"{self.gw.mode}, account {self.gw.account}; books from {books_from}", start,
                        bots=list(self.bots), duration_s=self.duration_s)
            self._flush()
            self.restore_prior()
            # The streams start first so fills during the start-up reconcile are not missed.
            streams = list(self.gw.private_streams(self))
            if self.use_websocket:
                streams.append(self.gw.market.market_stream(self.coins, self))
            else:
                self.market_down_since = asyncio.get_running_loop().time() - REST_FALLBACK_AFTER_S
            stream_tasks = [asyncio.create_task(st.run(self.ws_stop), name=st.name) for st in streams]
            sender_task = asyncio.create_task(self._sender_task(), name="sender")
            tasks.append(asyncio.create_task(self._rest_book_task(), name="rest-books"))
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
                          *([asyncio.create_task(self._command_task(conn), name="commands")] if own_process else []),
                          asyncio.create_task(self._console_task(), name="console")]
                if self.duration_s is not None:
                    if not await wait_event(self.stop_event, max(0.0, self.duration_s - (wall_ms() - start) / 1000)):
                        self.request_stop("duration")
                else:
                    await self.stop_event.wait()
        except VenueError as e:
            self.stop_reason = f"start-up failed: {e}"
            self.stats.extra["error"] = str(e)
            self._event("error", "critical", f"live start-up failed: {e}", wall_ms())
            log.error("live start-up failed: %s", e)
        finally:
            self.stop_event.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await self._shutdown(stream_tasks, sender_task)
            except Exception as e:  # noqa: BLE001 - a bug here must not hang the process
                log.error("shutdown failed: %s: %s", type(e).__name__, e)
                self._event("error", "critical", f"shutdown failed: {type(e).__name__}: {e}; open orders "
                            "unconfirmed", wall_ms())
                self.stats.extra["error"] = f"shutdown failed: {type(e).__name__}"
                self.stats.open_orders_at_exit = 1
                self.ws_stop.set()
                self.sender_stop.set()
                for t in [sender_task, *stream_tasks]:
                    if t is not None:
                        t.cancel()
                await asyncio.gather(*[t for t in [sender_task, *stream_tasks] if t is not None],
                                     return_exceptions=True)
                self._flush()
            if own_process:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
            await self.writer.close()
            self.stats.rows_written = self.writer.rows_written
            await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await conn.close()
            self.gw.close()
        return self.stats

    async def _shutdown(self, stream_tasks: list[asyncio.Task], sender_task) -> None:
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
        for t in [sender_task, *stream_tasks]:
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
        if not self.gw.instruments:
            return [], True
        ours: list = []
        confirmed = False
        while loop.time() < deadline:
            try:
                # Open orders only: fills missed now are recovered at the next start.
                res = await self.gw.reconcile(self._live_orders(), with_fills=False)
            except VenueError as e:
                log.warning("shutdown sweep: %s", e)
                await asyncio.sleep(0.5)
                continue
            self.deliver(res.events)
            ours = [o for o in res.open_orders if o.cloid in self.gw.bot_of_cloid]
            confirmed = True
            if not ours:
                break
            await self.gw.cancel_open(ours)
            await asyncio.sleep(0.2)
            confirmed = False
        self._flush()
        return ours, confirmed


VENUE_MODULES = {
    "hyperliquid": "mm_bot.venues.hyperliquid.gateway",
    "woofi_pro": "mm_bot.venues.woofi_pro.gateway",
    "standx": "mm_bot.venues.standx.gateway",
}


def venue_module(venue: str):
    """The venue's gateway module: market_data(...) and build_gateway(...) (imported on demand, so
    a venue's optional dependencies load only when it trades)."""
    return importlib.import_module(VENUE_MODULES[venue])


async def build_runner(configs: list, db_path: str, duration_s: float | None, environ: Mapping[str, str],
                       limits: Mapping[str, VenueLimits]) -> tuple[int, LiveRunner | None]:
    """The gateway, bots and runner for `configs` (one venue, one mode): (0, runner), or (exit code,
    None) when the start is refused (2: keys, coins) or the venue cannot be reached (1)."""
    venue, mode = configs[0].venue, configs[0].mode
    limiter = DualRateLimiter(limits[venue], LimiterPolicy(share_pct=configs[0].rate_limits_share_pct))
    start = wall_ms()
    rng = random.Random(start)
    holder: dict[str, LiveRunner] = {}

    def on_rate_limited(path: str, until: int, new: bool) -> None:
        if "r" in holder:
            holder["r"].on_rate_limited(path, until, new)

    prior = load_prior_state(db_path, venue, [c.bot_id for c in configs])
    mod = venue_module(venue)
    market = None
    try:
        market = mod.market_data(mode, environ, limiter, rng, on_rate_limited)
        gw = mod.build_gateway(mode, environ, limiter, market, NonceAllocator(prior.nonces), rng, on_rate_limited)
    except GatewayError as e:
        log.error("live mode refused: %s", e)
        if market is not None:
            market.close()
        return 2, None
    coins = sorted({c for cfg in configs for c in cfg.coins})
    try:
        instruments = await market.load(coins)
        fees = await gw.fees_bps()
        equity = await gw.equity_usd()
        if equity is None:
            log.warning("account value unavailable; using paper.starting_equity_usd")
    except GatewayError as e:
        log.error("live mode refused: %s", e)
        gw.close()
        return 2, None
    except VenueError as e:
        log.error("cannot reach %s %s: %s", venue, mode, e)
        gw.close()
        return 1, None
    books = {c: L2Book(c) for c in coins}
    registry = SelfMatchRegistry()
    bots = []
    for cfg in configs:
        maker, taker = fees if fees is not None else (cfg.paper.maker_fee_bps, cfg.paper.taker_fee_bps)
        insts = {c: instruments[c] for c in cfg.coins}
        bot = Bot(cfg, insts, venue, maker, start, seed=start, limiter=limiter, self_match=registry,
                  taker_fee_bps=taker, starting_equity_usd=equity if equity else cfg.paper.starting_equity_usd)
        for c in cfg.coins:
            bot.attach_book(c, books[c])
        bots.append(bot)
    runner = LiveRunner(gw, bots, books, configs, db_path, duration_s, limiter, prior)
    holder["r"] = runner
    log.info("live: %d bot(s) on %s %s, account %s, coins %s", len(bots), venue, mode, gw.account,
             ", ".join(coins))
    return 0, runner


def exit_code(runner: LiveRunner) -> int:
    """0 when the runner stopped cleanly with no order left on the venue, else 1."""
    if "error" in runner.stats.extra:
        return 1
    return 0 if runner.stats.open_orders_at_exit == 0 else 1


def venue_groups(configs: list) -> list[list]:
    """The configs split by venue, in the order the venues first appear (one runner each)."""
    groups: dict[str, list] = {}
    for c in configs:
        groups.setdefault(c.venue, []).append(c)
    return list(groups.values())


async def run_live(configs: list, db_path: str, duration_s: float | None, environ: Mapping[str, str],
                   limits: Mapping[str, VenueLimits]) -> tuple[int, list[LiveRunner]]:
    """Run `configs` live: one runner per venue (its own streams, gateway and limiter), all in this
    process. Every runner is built before any quotes, so a refused start starts nothing.
    Returns (exit code: the worst of the runners', the runners)."""
    runners: list[LiveRunner] = []
    for group in venue_groups(configs):
        code, runner = await build_runner(group, db_path, duration_s, environ, limits)
        if runner is None:
            for r in runners:
                r.gw.close()
            return code, runners
        runners.append(runner)
    if len(runners) == 1:
        await runners[0].run()
    else:
        await LiveProcess(runners, db_path).run()
    return max(exit_code(r) for r in runners), runners


class LiveProcess:
    """Several venue runners in one process: one signal handler and one commands poller for all
    (a command goes to the runner holding its bot; one without a bot to every runner)."""

    def __init__(self, runners: list[LiveRunner], db_path: str) -> None:
        self.runners = runners
        self.db_path = db_path
        self.done = asyncio.Event()
        self.records: list = []

    def request_stop(self, reason: str) -> None:
        for r in self.runners:
            r.request_stop(reason)

    def apply_command(self, bot_id: str | None, command: str, now: int, coin: str | None = None
                      ) -> tuple[str, str]:
        """Route one manual command; returns (status, result)."""
        # A runner that is stopping has closed (or is closing) its writer: nothing more for it.
        running = [r for r in self.runners if not r.stop_event.is_set()]
        if bot_id is not None:
            owner = next((r for r in self.runners if bot_id in r.bots), None)
            if owner is None:
                return "failed", f"no bot '{bot_id}' in this process"
            if owner not in running:
                return "failed", f"bot '{bot_id}': its {owner.gw.venue} runner is stopping"
            return owner.apply_command(bot_id, command, now, coin)
        if not running:
            return "failed", "every runner is stopping"
        results = [r.apply_command(None, command, now, coin) for r in running]
        status = "done" if any(st == "done" for st, _ in results) else "failed"
        return status, "; ".join(f"{r.gw.venue}: {res}" for r, (_, res) in zip(running, results, strict=True))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        conn, writer = await open_async_writer(self.db_path)

        def flush() -> None:
            if self.records:
                writer.put_many(self.records)
                self.records = []
            for r in self.runners:
                r._flush()

        poller = asyncio.create_task(poll_commands(conn, self.done, self.apply_command,
                                                   lambda rec: self.records.append(rec), flush))
        try:
            results = await asyncio.gather(*(r.run(own_process=False) for r in self.runners), return_exceptions=True)
            for r, res in zip(self.runners, results, strict=True):
                if isinstance(res, BaseException):
                    log.error("%s runner failed: %s: %s", r.gw.venue, type(res).__name__, res)
                    r.stats.extra["error"] = f"{type(res).__name__}: {res}"
        finally:
            self.done.set()
            await asyncio.gather(poller, return_exceptions=True)
            flush()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await writer.close()
            await conn.close()


def live_env_problems(configs: list, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Problems that refuse a live start beyond missing keys: one mode per venue (one account each)."""
    problems = []
    for group in venue_groups(configs):
        modes = sorted({c.mode for c in group})
        if len(modes) > 1:
            problems.append(f"live bots on {group[0].venue} in one process must share one mode (one account from "
                            f"the environment); got {', '.join(modes)}: run testnet and mainnet in separate "
                            "processes (they can share one --db)")
    return problems


def sent_counts(runner: LiveRunner | None) -> dict:
    if runner is None:
        return {}
    return {**runner.gw.stats(), "book_events": runner.book_events, "rest_books": runner.rest_books,
            "trades": runner.trades}
