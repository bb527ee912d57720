"""The discrete-event replay driver: the same bots on a virtual clock, nothing sleeps.

Three kinds of timed work share one timeline: market events (from the feed, in
time order), quoting-loop ticks of every (bot, coin) every loop_ms, and paper-venue
arrivals and deliveries (latency). Before a market event at time t is applied, every
tick and venue event due at or before t runs, in time order; ties run venue events
first, then ticks, then the market event. Same inputs and seed, same rows.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mm_bot.core.bot import Bot
from mm_bot.sim.session import PaperSession


@dataclass
class ReplayStats:
    events: int = 0
    first_ms: int = 0
    last_ms: int = 0
    ticks: int = 0


class ReplayDriver:
    def __init__(self, session: PaperSession, bots: list[Bot], loop_ms: dict[str, int], sink,
                 phase_ms: int = 0, flush_every: int = 20000) -> None:
        """loop_ms: bot_id -> quoting interval; sink: object with put_many(records);
        phase_ms shifts every bot's decision clock (for phase-robust comparisons)."""
        self.session = session
        self.bots = bots
        self.loop_ms = loop_ms
        self.sink = sink
        self.phase_ms = phase_ms
        self.flush_every = flush_every
        self.timers: list[tuple[int, int, Bot, str]] = []
        self.stats = ReplayStats()
        self.now_ms = 0

    def _start_timers(self, t0: int) -> None:
        seq = 0
        for bot in self.bots:
            step = self.loop_ms[bot.bot_id]
            first = (t0 // step + 1) * step + self.phase_ms % step
            for coin in bot.coins:
                seq += 1
                heapq.heappush(self.timers, (first, seq, bot, coin))

    def _run_until(self, t: int) -> None:
        """Run every tick and venue event due at or before t, in time order."""
        session, timers = self.session, self.timers
        while True:
            due = session.next_due_ms()
            tick_t = timers[0][0] if timers else None
            if due is not None and due <= t and (tick_t is None or due <= tick_t):
                self.now_ms = due
                session.pump(due)
                continue
            if tick_t is not None and tick_t <= t:
                _, seq, bot, coin = heapq.heappop(timers)
                self.now_ms = tick_t
                session.tick(bot, coin, tick_t)
                self.stats.ticks += 1
                if bot.wants_ticks:
                    heapq.heappush(timers, (tick_t + self.loop_ms[bot.bot_id], seq, bot, coin))
                continue
            break

    def run(self, feed: Iterable, progress=None) -> ReplayStats:
        """Replay every market event of `feed`; stops every bot at the last event's time.

        progress, if given, is called with the number of events processed so far every
        few thousand events (for a progress bar).
        """
        it: Iterator = iter(feed)
        session, sink, st = self.session, self.sink, self.stats
        started = False
        n = 0
        try:
            for ev in it:
                t = ev.ts_ms
                if not started:
                    started = True
                    st.first_ms = t
                    self._start_timers(t)
                self._run_until(t)
                self.now_ms = t
                session.market(ev, t)
                n += 1
                if n % self.flush_every == 0:
                    sink.put_many(session.drain())
                    if progress is not None:
                        progress(n)
        finally:
            st.events = n
            st.last_ms = self.now_ms
            sink.put_many(session.drain())
        return st

    def _drain_venues(self) -> None:
        """Run venue latency out on the virtual clock: at most a few round trips."""
        for _ in range(100):
            due = self.session.next_due_ms()
            if due is None:
                break
            self.now_ms = max(self.now_ms, due)
            self.session.pump(self.now_ms)

    def finish(self, reason: str) -> None:
        """Stop every bot, let the venue confirm the cancels, write closing rows."""
        t = self.now_ms
        self.session.stop_all(t, reason)
        self._drain_venues()
        # Closing reconciliation: fills whose notification was lost, orders whose ack was lost.
        for bot in self.bots:
            self.session.reconcile(bot, self.now_ms, grace_ms=0, force=True)
        self._drain_venues()
        for bot in self.bots:
            bot.final_records(self.now_ms)
        self.sink.put_many(self.session.drain())
