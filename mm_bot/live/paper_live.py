"""Paper trading on live public data: `--simulate --market-data live` (no keys needed).

The bots and the paper venue are exactly those of the synthetic paper mode (mm_bot/live/runner.py);
only the market differs: each venue's public stream (books + trades of every coin, one connection
per venue shared by every bot) feeds the paper session, instruments come from the venue's own
rules, and while a stream is down the books are stale (no quoting) until it is back, or polled by
REST once it has been down for REST_FALLBACK_AFTER_S (as in live trading).

Public data comes from mainnet by default (`--data-network testnet` for the test network); the
venue URL variables (HL_REST_URL, HL_WS_URL, WOOFI_*, STANDX_*) override it, as in live mode.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Mapping

from mm_bot.core.ratelimit import DualRateLimiter, VenueLimits
from mm_bot.core.records import SystemEventRow
from mm_bot.core.types import BookUpdate, FeedProblem, Instrument, TradePrint
from mm_bot.live.aio import wait_event
from mm_bot.live.clock import wall_ms
from mm_bot.live.live_runner import REST_BOOK_MIN_S, REST_FALLBACK_AFTER_S, venue_module
from mm_bot.live.runner import PaperRunner
from mm_bot.venues.errors import VenueError, WireError
from mm_bot.venues.gateway import MarketData

log = logging.getLogger("mm_bot.paper_live")


class LiveFeed:
    """The StreamSink of one venue's public stream in paper mode: events go to the paper session."""

    def __init__(self, venue: str, market: MarketData, coins: list[str], rest_book_s: float) -> None:
        self.venue = venue
        self.market = market
        self.coins = coins
        self.rest_book_s = rest_book_s
        self.runner: PaperRunner | None = None
        self.down_since: float | None = None
        self.wire_errors = 0
        self.rest_books = 0

    def _record(self, kind: str, severity: str, message: str, now: int, coin: str | None = None, **details) -> None:
        if self.runner is not None:
            self.runner.session.records.append(SystemEventRow(None, coin, kind, severity, message,
                                                              json.dumps(details, sort_keys=True), now))

    def on_events(self, events: list, recv_ms: int) -> None:
        if self.runner is None:
            return
        for ev in events:
            if isinstance(ev, BookUpdate | TradePrint | FeedProblem):
                self.runner.session.market(ev, recv_ms)
            if isinstance(ev, BookUpdate):
                # The stream is back once it delivers books again (not merely connected).
                self.down_since = None
        self.runner.venue_kick.set()
        self.runner.flush()

    def on_wire_error(self, err: WireError, recv_ms: int) -> None:
        self.wire_errors += 1
        if self.wire_errors <= 20 or self.wire_errors % 1000 == 0:
            self._record("feed", "warning", f"unreadable {err.message_type} message from {self.venue}: "
                         f"{err.detail}", recv_ms, count=self.wire_errors)

    def on_connect(self, stream: str, n: int, market: bool) -> None:
        self._record("feed", "info", f"{stream} {'connected' if n == 1 else f'reconnected (connection {n})'}",
                     wall_ms(), stream=stream, connection=n)

    def on_disconnect(self, stream: str, reason: str, market: bool) -> None:
        now = wall_ms()
        if self.down_since is None:
            self.down_since = asyncio.get_running_loop().time()
        if self.runner is not None:
            for coin in self.coins:
                self.runner.session.market(FeedProblem(coin, now, f"{stream} disconnected ({reason})"), now)
        self._record("feed", "warning", f"{stream} disconnected ({reason}): books marked out of sync", now,
                     stream=stream, reason=reason)

    async def rest_fallback(self, stop: asyncio.Event) -> None:
        """Poll REST books while the stream has been down for REST_FALLBACK_AFTER_S."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            if await wait_event(stop, self.rest_book_s):
                return
            if self.down_since is None or loop.time() - self.down_since < REST_FALLBACK_AFTER_S:
                continue
            for coin in self.coins:
                try:
                    snap = await self.market.book_snapshot(coin)
                except VenueError as e:
                    log.warning("REST book %s %s: %s", self.venue, coin, e)
                    continue
                if self.down_since is None or self.runner is None:
                    break
                self.runner.session.market(snap, wall_ms())
                self.rest_books += 1
            if self.runner is not None:
                self.runner.venue_kick.set()
                self.runner.flush()


def coins_by_venue(configs: list) -> tuple[dict[str, list[str]], list[str]]:
    """venue -> coins of the bots on it, and problems (a coin traded on two venues: their books differ)."""
    out: dict[str, set[str]] = {}
    for c in configs:
        out.setdefault(c.venue, set()).update(c.coins)
    problems = []
    seen: dict[str, str] = {}
    for venue, coins in sorted(out.items()):
        for coin in sorted(coins):
            if coin in seen:
                problems.append(f"coin {coin} is quoted on {seen[coin]} and {venue}: paper trading on live data "
                                "keeps one book per coin; run the venues in separate processes")
            seen[coin] = venue
    return {v: sorted(c) for v, c in out.items()}, problems


async def load_live_markets(configs: list, environ: Mapping[str, str], limits: Mapping[str, VenueLimits],
                            network: str, seed: int) -> tuple[dict[str, Instrument], list[LiveFeed]]:
    """Instruments of every coin from its venue, and one LiveFeed per venue. Raises VenueError."""
    by_venue, problems = coins_by_venue(configs)
    if problems:
        raise VenueError("; ".join(problems))
    rng = random.Random(seed)
    rest_book_s = max(REST_BOOK_MIN_S, min(c.loop_ms * c.market_data_update_freq for c in configs) / 1000)
    instruments: dict[str, Instrument] = {}
    feeds: list[LiveFeed] = []
    try:
        for venue, coins in by_venue.items():
            market = venue_module(venue).market_data(network, environ, DualRateLimiter(limits[venue]), rng)
            feeds.append(LiveFeed(venue, market, coins, rest_book_s))
            loaded = await market.load(coins)
            instruments.update({c: loaded[c] for c in coins})
    except BaseException:
        for f in feeds:
            f.market.close()
        raise
    return instruments, feeds
