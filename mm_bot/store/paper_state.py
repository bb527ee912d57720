"""Restart state from the DB: bot positions (recomputed from fills), the paper venue's resting
orders and fill ledger, live orders of the earlier run, and the last nonce per signer.

Synchronous sqlite3, called by the shell before anything trades. The core only receives values
(Bot.restore_position / restore_order, PaperVenue.restore, NonceAllocator.restore).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from mm_bot.core.bot import Bot
from mm_bot.core.nonces import NonceAllocator
from mm_bot.core.position import Position
from mm_bot.core.records import NonceRow, PositionRow
from mm_bot.core.types import BUY, SELL, Fill, OrderStatus, Tif
from mm_bot.sim.paper import PaperVenue, SimOrder

LIVE_STATUSES = ("pending", "open", "partially_filled")


@dataclass
class RestoreSummary:
    """What a restart found in the DB, per bot and per venue."""

    fills: dict[str, int] = field(default_factory=dict)  # bot_id -> fills in `fills`
    positions: dict[str, dict[str, int]] = field(default_factory=dict)  # bot_id -> coin -> lots
    orders: dict[str, int] = field(default_factory=dict)  # bot_id -> live orders of the earlier run
    venue_orders: dict[str, int] = field(default_factory=dict)  # venue key -> resting orders
    venue_fills: dict[str, int] = field(default_factory=dict)  # venue key -> ledger fills

    @property
    def empty(self) -> bool:
        return not (any(self.fills.values()) or any(self.orders.values()) or any(self.venue_orders.values())
                    or any(self.venue_fills.values()))


def restore_bot(conn: sqlite3.Connection, bot: Bot, now_ms: int) -> tuple[int, dict[str, int], int]:
    """Seed a bot from the DB: each coin's position recomputed from its `fills` rows (so it equals
    their signed sum), the fill ids it has applied, and its earlier run's live orders.

    Returns (fills, coin -> position lots, live orders). Appends a positions row per restored coin.
    """
    positions: dict[str, Position] = {}
    n = 0
    for fill_id, coin, side, price, lots, fee in conn.execute(
        "SELECT fill_id, coin, side, price, size_lots, fee_usd FROM fills WHERE bot_id=? AND venue=? "
        "ORDER BY ts_ms, id", (bot.bot_id, bot.venue)):
        bot.seen_fills.add(fill_id)
        cs = bot.coins.get(coin)
        if cs is None:
            continue  # a coin this config no longer trades
        p = positions.setdefault(coin, Position(cs.inst))
        p.apply_fill(BUY if side == "buy" else SELL, cs.inst.to_ticks(price), lots, fee)
        n += 1
    for coin, p in positions.items():
        bot.restore_position(coin, p.lots, p.avg_entry, p.realized_usd, p.fees_usd, p.fills)
        bot.records.append(PositionRow(bot.bot_id, coin, p.size, p.lots, p.avg_entry, p.realized_usd, p.fees_usd,
                                       p.fills, now_ms))
    live = 0
    marks = ",".join("?" * len(LIVE_STATUSES))
    for coin, cloid, side, price, lots, filled, tif, status, ts, oid in conn.execute(
        f"SELECT coin, cloid, side, price, size_lots, filled_lots, tif, status, ts_ms, venue_oid FROM orders "
        f"WHERE bot_id=? AND status IN ({marks}) ORDER BY ts_ms, id", (bot.bot_id, *LIVE_STATUSES)):
        cs = bot.coins.get(coin)
        if cs is None or cloid in bot.orders.orders:
            continue
        bot.restore_order(coin, cloid, BUY if side == "buy" else SELL, cs.inst.to_ticks(price), lots, filled,
                          Tif(tif), OrderStatus(status), ts, oid)
        live += 1
    return n, {c: p.lots for c, p in positions.items()}, live


def restore_venue(conn: sqlite3.Connection, venue: PaperVenue, bot_ids: set[str] | None = None) -> tuple[int, int]:
    """Load a paper venue's resting orders (of `bot_ids` only, when given: a bot that is not in this
    run keeps its orders in the DB for its own restart) and its fill ledger; returns (orders, fills).
    Orders of coins this run has no instrument for stay in the DB too."""
    orders = [SimOrder(bot_id, coin, cloid, side, px, sz, filled, queue_ahead, seq)
              for cloid, bot_id, coin, side, px, sz, filled, queue_ahead, seq in conn.execute(
                  "SELECT cloid, bot_id, coin, side, px_ticks, sz_lots, filled_lots, queue_ahead, seq "
                  "FROM paper_orders WHERE venue_key=? AND open=1 ORDER BY seq", (venue.key,))
              if (bot_ids is None or bot_id in bot_ids) and coin in venue.instruments]
    fills = [Fill(bot_id, coin, cloid, fill_id, side, px, sz, bool(maker), fee, ts, left, cp)
             for fill_id, bot_id, coin, cloid, side, px, sz, maker, fee, left, cp, ts in conn.execute(
                 "SELECT fill_id, bot_id, coin, cloid, side, px_ticks, sz_lots, maker, fee_usd, remaining_lots, "
                 "counterparty, ts_ms FROM paper_fills WHERE venue_key=? ORDER BY ts_ms, id", (venue.key,))]
    venue.restore(orders, fills)
    return len(orders), len(fills)


def restore_session(conn: sqlite3.Connection, venues: dict[str, PaperVenue], bots: list[Bot],
                    now_ms: int) -> RestoreSummary:
    """restore_venue for every venue and restore_bot for every bot."""
    out = RestoreSummary()
    running = {b.bot_id for b in bots}
    for key, venue in venues.items():
        out.venue_orders[key], out.venue_fills[key] = restore_venue(conn, venue, running)
    for bot in bots:
        out.fills[bot.bot_id], out.positions[bot.bot_id], out.orders[bot.bot_id] = restore_bot(conn, bot, now_ms)
    return out


def load_nonces(conn: sqlite3.Connection, now_ms: int) -> NonceAllocator:
    """A NonceAllocator holding, per signer, max(last persisted nonce, now_ms)."""
    alloc = NonceAllocator()
    for signer, last in conn.execute("SELECT signer, last_nonce FROM nonces"):
        alloc.restore(signer, max(int(last), now_ms))
    return alloc


def nonce_rows(alloc: NonceAllocator, now_ms: int) -> list[NonceRow]:
    """Rows persisting every signer's last nonce (the upsert never lowers a stored value)."""
    return [NonceRow(signer, last, now_ms) for signer, last in sorted(alloc.snapshot().items())]


def persist_nonces(conn: sqlite3.Connection, alloc: NonceAllocator, now_ms: int) -> None:
    """Write the last nonce per signer now (synchronously: a live shell calls this before it sends
    a signed action, so a crash can never make it reuse a nonce)."""
    from mm_bot.store.writer import write_batch

    write_batch(conn, nonce_rows(alloc, now_ms))
