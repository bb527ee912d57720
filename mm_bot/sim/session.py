"""A paper-trading session: shared books, paper venues and bots, wired together.

Sans-I/O glue used by both shells (the discrete-event replay driver and the asyncio
paper runner): a market event updates the shared book of its coin and the queues of
every paper venue; due venue events go to their bot; bot actions go to that bot's
venue. There is one paper venue per (venue, account), as there is one real account.
Every method takes the injected clock's now_ms. Records are collected for the writer.
"""

from __future__ import annotations

import json
import logging

from mm_bot.core.book import L2Book
from mm_bot.core.bot import Bot
from mm_bot.core.records import RateLimitRow, SystemEventRow
from mm_bot.core.types import BookUpdate, FeedProblem, FundingRate, TradePrint
from mm_bot.sim.paper import PaperVenue

log = logging.getLogger("mm_bot.session")

# Rate-limit usage is sampled every this many quoting-loop passes (all bots together).
USAGE_EVERY_TICKS = 100


class PaperSession:
    def __init__(self, books: dict[str, L2Book], venues: dict[str, PaperVenue], bot_venue: dict[str, str],
                 bots: list[Bot], limiters: dict | None = None) -> None:
        """books: coin -> shared book; venues: key -> venue; bot_venue: bot_id -> venue key;
        limiters: venue key ('venue:account') -> the shared DualRateLimiter."""
        self.books = books
        self.venues = venues
        self.venue_list = list(venues.values())
        self.bots = {b.bot_id: b for b in bots}
        self.venue_of = {bid: venues[key] for bid, key in bot_venue.items()}
        self.bots_of_coin: dict[str, list[Bot]] = {}
        for b in bots:
            for coin in b.coins:
                b.attach_book(coin, books[coin])
                self.bots_of_coin.setdefault(coin, []).append(b)
        self.limiters = limiters or {}
        self.ticks = 0
        self.records: list = []
        self.failed: set[str] = set()
        self.book_events = 0
        self.level_updates = 0
        self.trades = 0
        self.stopped_coins: set[str] = set()

    # ------------------------------------------------------------ market data

    def market(self, ev, now_ms: int) -> None:
        """Feed one market event (BookUpdate, TradePrint or FeedProblem)."""
        if isinstance(ev, BookUpdate):
            book = self.books.get(ev.coin)
            if book is None or ev.coin in self.stopped_coins:
                return
            for v in self.venue_list:
                v.on_book_update(ev)
            book.apply(ev)
            for v in self.venue_list:
                v.after_book_update(ev.coin, now_ms)
            self.book_events += 1
            self.level_updates += len(ev.bids) + len(ev.asks)
        elif isinstance(ev, TradePrint):
            if ev.coin in self.books:
                for v in self.venue_list:
                    v.on_trade(ev)
                for bot in self.bots_of_coin.get(ev.coin, ()):
                    bot.on_trade(ev)
                self.trades += 1
        elif isinstance(ev, FundingRate):
            for bot in self.bots.values():
                if ev.coin in bot.coins:
                    bot.on_funding(ev.coin, ev.rate, now_ms)
        elif isinstance(ev, FeedProblem):
            book = self.books.get(ev.coin)
            if book is not None:
                book.mark_out_of_sync()
            if ev.fatal:
                self.stopped_coins.add(ev.coin)
            # On the console too: the message names the file and line of a replay's problem.
            log.log(logging.ERROR if ev.fatal else logging.WARNING, "feed problem: %s", ev.message)
            self.records.append(SystemEventRow(None, ev.coin, "feed", "error" if ev.fatal else "warning",
                                               ev.message, json.dumps({"fatal": ev.fatal}), now_ms))

    # ------------------------------------------------------------ venue <-> bots

    def next_due_ms(self) -> int | None:
        """Earliest pending venue arrival or delivery across venues."""
        due = [t for v in self.venue_list if (t := v.next_due_ms()) is not None]
        return min(due) if due else None

    def pump(self, now_ms: int) -> None:
        """Deliver every venue event due by now to its bot."""
        for v in self.venue_list:
            due = v.advance(now_ms)
            # The venue's rows (fault events, its persisted orders and ledger) go to the writer
            # ahead of the bot rows they cause, so a crash never persists a fill the venue lacks.
            self._take_venue_records(v)
            for vev in due:
                bot = self.bots.get(vev.bot_id)
                if bot is None:
                    continue
                try:
                    for a in bot.on_venue_event(vev):
                        v.submit(a, now_ms)
                except Exception as e:  # noqa: BLE001 - one bot's bug must not stop the others
                    self.fail_bot(bot, e, now_ms)
                self._collect(bot)

    def tick(self, bot: Bot, coin: str, now_ms: int) -> None:
        """One quoting-loop pass of one (bot, coin)."""
        if bot.bot_id in self.failed:
            return
        venue = self.venue_of[bot.bot_id]
        try:
            for a in bot.on_tick(coin, now_ms):
                venue.submit(a, now_ms)
        except Exception as e:  # noqa: BLE001 - one bot's bug must not stop the others
            self.fail_bot(bot, e, now_ms)
        if bot.reconcile_due() and bot.bot_id not in self.failed:
            self.reconcile(bot, now_ms)
        self._collect(bot)
        self.ticks += 1
        if self.ticks % USAGE_EVERY_TICKS == 0:
            self.sample_rate_limits(now_ms)

    def reconcile(self, bot: Bot, now_ms: int, grace_ms: int | None = None, force: bool = False) -> bool:
        """Answer a bot's reconciliation query from its paper venue and send the cancels it asks
        for; False when the bot's rate limiter refused the reads (it retries on a later loop).
        grace_ms: None for the bot's default; 0 at a restart or shutdown (nothing in flight).
        force: read even while the limiter refuses (start and shutdown only)."""
        since = bot.begin_reconcile(now_ms, force)
        if since is None:
            return False
        venue = self.venue_of[bot.bot_id]
        self._take_venue_records(venue)
        snap = venue.reconcile_snapshot(bot.bot_id, now_ms, since)
        try:
            actions = bot.on_reconcile(snap) if grace_ms is None else bot.on_reconcile(snap, grace_ms)
            for a in actions:
                venue.submit(a, now_ms)
        except Exception as e:  # noqa: BLE001 - one bot's bug must not stop the others
            self.fail_bot(bot, e, now_ms)
        self._collect(bot)
        return True

    def _take_venue_records(self, venue: PaperVenue) -> None:
        if venue.records:
            self.records.extend(venue.records)
            venue.records.clear()

    def sample_rate_limits(self, now_ms: int) -> None:
        """rate_limit_usage rows for every shared limiter (and a log line)."""
        for key, lim in self.limiters.items():
            venue, _, account = key.partition(":")
            for s in lim.usage(now_ms).values():
                self.records.append(RateLimitRow(venue, account, s.channel, s.used, s.capacity, s.pct,
                                                 int(s.critical), now_ms))
                log.debug("rate limit %s %s: %s/%s (%.1f%%)%s", key, s.channel, s.used, s.capacity, s.pct,
                          " CRITICAL" if s.critical else "")

    def fail_bot(self, bot: Bot, exc: Exception, now_ms: int) -> None:
        """Record an exception in one bot and stop that bot only (its orders are cancelled)."""
        self.failed.add(bot.bot_id)
        bot.event("error", "critical", f"bot stopped after an exception: {type(exc).__name__}: {exc}",
                  now_ms, exc_type=type(exc).__name__)
        venue = self.venue_of[bot.bot_id]
        try:
            for a in bot.stop(now_ms, "bot failed"):
                venue.submit(a, now_ms)
        except Exception:  # noqa: BLE001 - the cancel path itself failed: sweep the venue directly
            venue.purge_bot(bot.bot_id, now_ms)
        bot.status = "failed"
        self._collect(bot)

    def submit(self, bot: Bot, actions: list, now_ms: int) -> None:
        """Send actions a shell obtained from `bot` (manual commands) to its venue."""
        venue = self.venue_of[bot.bot_id]
        for a in actions:
            venue.submit(a, now_ms)
        self._collect(bot)

    def stop_all(self, now_ms: int, reason: str) -> None:
        """Stop every running bot: cancel all its orders."""
        for bot in self.bots.values():
            if bot.status == "running":
                for a in bot.stop(now_ms, reason):
                    self.venue_of[bot.bot_id].submit(a, now_ms)
            self._collect(bot)

    def open_orders(self) -> int:
        """Orders resting on the paper venues."""
        return sum(len(v.open_orders()) for v in self.venue_list)

    def _collect(self, bot: Bot) -> None:
        if bot.records:
            self.records.extend(bot.records)
            bot.records.clear()

    def drain(self) -> list:
        """Take every record produced since the last drain."""
        for v in self.venue_list:
            self._take_venue_records(v)
        for bot in self.bots.values():
            self._collect(bot)
        out = self.records
        self.records = []
        return out
