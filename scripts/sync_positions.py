"""Pull positions, open orders and recent fills from the venue into the database (idempotent).

    python scripts/sync_positions.py --db hypertrade.db
    python scripts/sync_positions.py --db hypertrade.db --bot hl-btc --json

Bots synced: every live (testnet / mainnet) bot of the `bots` table, or only --bot ID. Each bot's
venue, mode, account label and coins come from its row (bots.venue, bots.mode, bots.config_json).
Bots are grouped by (venue, mode): one account per group, keys from the environment exactly as the
live runner reads them (mm_bot.venues.REQUIRED_ENV; HL_REST_URL / HL_WS_URL and the rate-limit
variables too). Keys are only handed to the venue adapter: nothing here prints or stores them.

Per group, the venue is read first (no DB lock is held meanwhile): instruments of the bots' coins,
positions, open orders, then the account's recent fills. The gateway's cloid -> bot map is seeded from
the `orders` table, so fills and orders are attributed to bots by cloid. Then ONE write transaction
(BEGIN IMMEDIATE, busy_timeout; it holds the lock only for the DB work, milliseconds, so a runner
writing the same WAL file waits at most that long) does:

* fills: every fill of a synced bot (in a coin it trades) whose fill_id is not in `fills` yet is
  inserted (plus its `trades` row, as the runner writes them; mid/spread at the fill are unknown
  here: 0, as the runner writes without a book). A second run inserts nothing. Fills of the account
  that no bot's cloid explains are counted and shown, never inserted; fills of a known bot that is
  not being synced (--bot) are counted apart.
* positions: the rule is that a positions row equals the signed sum of its fills, in exact lots
  (tests/e2e/conftest.py assert_positions_reconcile), and a restarted runner treats every fill_id
  in `fills` as already applied. So the inserted fills are applied to the bot's row, oldest first,
  with the bot's own accounting (mm_bot.core.position.Position: average cost, realized PnL, fees,
  fill count), in the same transaction as the inserts: the row moves by exactly the lots inserted,
  which is also what the runner does with fills it recovers at start-up. This is done for every
  synced bot, also in a coin several bots share (each fill belongs to one bot by its cloid).
  The venue's position is NEVER copied into a row: after the fills, a coin traded by one bot (on
  this venue, mode and account, counting bots not being synced) is compared with that bot's row; a
  coin several bots share is compared with the bots' sum. A difference that remains (fills older
  than the venue's fill history, trades made outside the bots, a shared coin) is shown, written as
  a `reconcile` warning event, and makes the exit code 1; the operator decides (the runner, at its
  next start, takes the venue's size for a coin only one bot trades). Before concluding on a
  difference the venue is read a second time (positions, then fills), so a fill landing between
  the reads is not mistaken for one. A row that already differed from its fills before the
  sync keeps that offset; the table notes it. Only sizes are compared: the venue's entry price
  is shown in --json but never replaces the bot's average cost (realized PnL is computed on it).
  While a runner trades these bots it owns their rows: its next positions write replaces the row
  with its own view, which converges as it applies the same fills (the runner dedupes by fill id);
  for a definitive picture run the script while the runner is stopped, or again after it.
* open orders: for our cloids (orders rows of the synced bots in the group's coins) the status
  follows the venue, with the order coordinator's vocabulary and rules: resting -> open (or
  partially_filled when part of it filled, filled lots from the venue or the fills, whichever is
  more), a DB-live order (pending / open / partially_filled) no longer on the venue -> filled when
  its fills cover its size, else cancelled, a cancelled order whose fills cover its size -> filled.
  Each change also gets an order_events row (event: the new status; detail: why, e.g. "not open on
  the venue (sync_positions)"); the reason column is left as it is (the runner fills it for rejects).
  Rows the runner updated after the venue was read are left alone, and so are pending orders
  younger than PENDING_GRACE_MS (their placement may still be in flight). Re-running changes
  nothing more. Orders of the account that are not ours are counted ("others"), never touched.
* a `reconcile` info event per bot and coin whose fills, position or orders changed, saying what.

Output: one table row per bot and coin (venue position, DB position after the sync, fills
inserted, open orders on the venue ours / others, orders updated, status), one line per group on
the fills read; --json prints the same as one JSON document.

Exit codes: 0 synced and consistent (every position equals the venue's); 1 a difference remains,
or a venue could not be reached (the message names the venue, mode and the error; other groups are
still synced); 2 usage or configuration errors: missing or non-mm_bot database, unknown or paper
--bot, invalid bots.config_json, missing environment variables (all listed), a venue not available
live in this version, bad rate-limit variables, bots of one venue and mode with different account
labels (one key per venue in the environment: use --bot), a key the venue adapter refuses, a coin
the venue does not list. Nothing is written for a group that fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import click  # noqa: E402
from tabulate import tabulate  # noqa: E402

from mm_bot.core.position import Position  # noqa: E402
from mm_bot.core.records import FillRow, OrderEventRow, PositionRow, SystemEventRow, TradeRow  # noqa: E402
from mm_bot.core.types import Fill, Instrument, OpenOrder, VenuePosition, side_name  # noqa: E402
from mm_bot.store.db import BUSY_TIMEOUT_MS, DbError, pragma_statements  # noqa: E402
from mm_bot.store.queries import require_tables  # noqa: E402
from mm_bot.store.writer import insert_sql, row_getter  # noqa: E402

TABLES = ("bots", "orders", "order_events", "trades", "fills", "positions", "system_events")
LIVE_STATUSES = ("pending", "open", "partially_filled")
TERMINAL = ("filled", "cancelled", "rejected")
PENDING_GRACE_MS = 10_000
REASON_GONE = "not open on the venue (sync_positions)"
CHUNK = 500


class UsageError(Exception):
    """Exit 2: the message says what and where."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def chunks(items: list, n: int = CHUNK) -> Iterable[list]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


# ---------------------------------------------------------------- bots and groups


@dataclass(frozen=True)
class BotInfo:
    bot_id: str
    venue: str
    mode: str
    account: str
    coins: tuple[str, ...]
    share_pct: float


@dataclass
class Group:
    venue: str
    mode: str
    account: str
    bots: list[BotInfo]  # the ones being synced
    known: list[BotInfo]  # every live bot of this venue, mode and account in the DB

    @property
    def coins(self) -> list[str]:
        return sorted({c for b in self.bots for c in b.coins})

    @property
    def label(self) -> str:
        return f"{self.venue} {self.mode}"


def read_bots(conn: sqlite3.Connection, db_path: Path) -> list[tuple[BotInfo, str]]:
    """Every bot of the bots table with its status; UsageError for an unreadable config_json."""
    out = []
    for bot_id, venue, mode, config_json, status in conn.execute(
            "SELECT bot_id, venue, mode, config_json, status FROM bots ORDER BY bot_id"):
        try:
            cfg = json.loads(config_json)
            if not isinstance(cfg, dict):
                raise ValueError("not a JSON object")
            coins = tuple(str(c) for c in cfg.get("coins") or ())
            account = str(cfg.get("account") or "default")
            share = float(cfg.get("rate_limits_share_pct") or 100.0)
        except (ValueError, TypeError) as e:
            raise UsageError(f"{db_path}: bots.config_json of bot '{bot_id}' is not a valid config ({e})") from None
        out.append((BotInfo(bot_id, venue, mode, account, coins, share), status))
    return out


def select_groups(bots: list[tuple[BotInfo, str]], bot_id: str | None, db_path: Path) -> list[Group]:
    live = [b for b, _ in bots if b.mode != "paper"]
    if bot_id is not None:
        found = next((b for b, _ in bots if b.bot_id == bot_id), None)
        if found is None:
            names = ", ".join(b.bot_id for b in live) or "none"
            raise UsageError(f"{db_path}: no bot '{bot_id}' in the bots table (live bots: {names})")
        if found.mode == "paper":
            raise UsageError(f"bot '{bot_id}' is a paper bot (mode paper): it has no venue account to sync")
        chosen = [found]
    else:
        chosen = live
    by_key: dict[tuple[str, str], list[BotInfo]] = defaultdict(list)
    for b in chosen:
        by_key[(b.venue, b.mode)].append(b)
    groups, problems = [], []
    for (venue, mode), members in sorted(by_key.items()):
        accounts = sorted({b.account for b in members})
        if len(accounts) > 1:
            problems.append(f"bots on {venue} {mode} use different accounts ("
                            + ", ".join(f"{b.bot_id}: {b.account}" for b in members)
                            + "); the environment holds one key per venue: sync them one at a time with --bot")
            continue
        known = [b for b in live if (b.venue, b.mode, b.account) == (venue, mode, accounts[0])]
        groups.append(Group(venue, mode, accounts[0], members, known))
    if problems:
        raise UsageError("\n".join(problems))
    return groups


def env_problems(groups: list[Group], environ: Mapping[str, str]) -> list[str]:
    """Why live access is impossible, as the runner refuses it (missing keys listed by name)."""
    from mm_bot.core.ratelimit import RateLimitConfigError, limits_from_env
    from mm_bot.venues import LIVE_VENUES_BUILT, REQUIRED_ENV, missing_env

    problems = []
    for g in groups:
        names = ", ".join(b.bot_id for b in g.bots)
        if g.venue not in LIVE_VENUES_BUILT:
            problems.append(f"{g.label} (bots {names}): live access to {g.venue} is not available in this version")
            continue
        missing = missing_env(g.venue, environ)
        if missing:
            problems.append(f"{g.label} (bots {names}) needs environment variables {', '.join(missing)} "
                            f"(required for {g.venue}: {', '.join(REQUIRED_ENV[g.venue])}; see setup_env.sh)")
            continue
        try:
            limits_from_env(g.venue, environ)
        except (RateLimitConfigError, ValueError) as e:
            problems.append(f"{g.label}: environment: {e}")
    return problems


# ---------------------------------------------------------------- the venue side


@dataclass
class Snapshot:
    account: str
    instruments: dict[str, Instrument]
    positions: dict[str, VenuePosition]
    fills: list[Fill]
    open_orders: list[OpenOrder]
    orders_ms: int  # wall clock just before open orders were read


def known_cloids(conn: sqlite3.Connection, bot_ids: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for ids in chunks(bot_ids):
        marks = ",".join("?" * len(ids))
        for bot, cloid in conn.execute(f"SELECT bot_id, cloid FROM orders WHERE bot_id IN ({marks})", ids):
            out[cloid] = bot
    return out


class VenueSession:
    """Market data + gateway of one group, built exactly as run_live builds them."""

    def __init__(self, group: Group, environ: Mapping[str, str]) -> None:
        from mm_bot.core.nonces import NonceAllocator
        from mm_bot.core.ratelimit import DualRateLimiter, LimiterPolicy, limits_from_env
        from mm_bot.live.live_runner import venue_module

        self.group = group
        limiter = DualRateLimiter(limits_from_env(group.venue, environ),
                                  LimiterPolicy(share_pct=min(b.share_pct for b in group.bots)))
        rng = random.Random(now_ms())
        mod = venue_module(group.venue)
        self.market = mod.market_data(group.mode, environ, limiter, rng)
        try:
            # Nothing is signed here: a fresh nonce allocator, never persisted.
            self.gw = mod.build_gateway(group.mode, environ, limiter, self.market, NonceAllocator(), rng)
        except BaseException:
            self.market.close()
            raise

    async def load(self, bot_of_cloid: dict[str, str]) -> None:
        await self.market.load(self.group.coins)
        self.gw.bot_of_cloid.update(bot_of_cloid)

    async def read(self) -> Snapshot:
        # Fills last: a fill landing between the reads shows in the fills, not in the positions (the
        # recheck reads both again and then sees it in both), and an order that left the book filled
        # before the open orders were read has its fills in the list (so it is not taken for cancelled).
        positions = await self.gw.positions()
        orders_ms = now_ms()
        coins = set(self.group.coins)
        opens = [o for o in await self.gw.open_orders() if o.coin in coins]
        fills = await self.gw.user_fills()
        return Snapshot(self.gw.account, dict(self.gw.instruments), positions, fills, opens, orders_ms)

    async def recheck(self, snap: Snapshot) -> Snapshot:
        positions = await self.gw.positions()
        fills = await self.gw.user_fills()
        return Snapshot(snap.account, snap.instruments, positions, fills, snap.open_orders, snap.orders_ms)

    def close(self) -> None:
        self.gw.close()


# ---------------------------------------------------------------- the plan (pure DB reads)


@dataclass
class CoinRow:
    bot_id: str
    coin: str
    shared: bool
    venue_lots: int
    venue_size: float
    venue_entry: float
    db_lots_before: int | None
    db_lots: int
    db_size: float
    db_entry: float
    bots_sum_lots: int
    fills_lots: int  # signed sum of the bot's fills in the coin after the sync
    fills_inserted: int
    open_ours: int
    open_others: int
    orders_updated: int
    unattributed_fills: int  # fills of the account in this coin that no bot's cloid explains
    status: str = "ok"
    note: str = ""


@dataclass
class OrderChange:
    bot_id: str
    coin: str
    cloid: str
    old_status: str
    status: str
    filled: float
    filled_lots: int
    venue_oid: str
    detail: str  # the order_events detail (the reason column stays for rejects, as the runner writes it)


@dataclass
class Plan:
    fills: list[FillRow] = field(default_factory=list)
    trades: list[TradeRow] = field(default_factory=list)
    positions: list[PositionRow] = field(default_factory=list)
    orders: list[OrderChange] = field(default_factory=list)
    events: list[SystemEventRow] = field(default_factory=list)
    rows: list[CoinRow] = field(default_factory=list)
    fills_read: int = 0
    unattributed: int = 0
    other_bots: int = 0

    @property
    def differences(self) -> list[CoinRow]:
        return [r for r in self.rows if r.status != "ok"]


def _ev(bot_id: str | None, coin: str | None, severity: str, message: str, ts: int, **details) -> SystemEventRow:
    return SystemEventRow(bot_id, coin, "reconcile", severity, message,
                          json.dumps(details, sort_keys=True, default=str), ts)


def plan_sync(conn: sqlite3.Connection, group: Group, snap: Snapshot, ts: int) -> Plan:
    """Everything the sync would write, from the DB as it is now and the venue snapshot."""
    p = Plan(fills_read=len(snap.fills))
    venue = group.venue
    synced = {b.bot_id: b for b in group.bots}
    known = {b.bot_id: b for b in group.known}
    insts = snap.instruments
    cloid_bot = known_cloids(conn, list(known))

    # -- fills
    ids = [f.fill_id for f in snap.fills]
    have: set[str] = set()
    for part in chunks(ids):
        marks = ",".join("?" * len(part))
        have |= {r[0] for r in conn.execute(f"SELECT fill_id FROM fills WHERE venue=? AND fill_id IN ({marks})",
                                            (venue, *part))}
    new_fills: dict[tuple[str, str], list[Fill]] = defaultdict(list)
    unattributed_by_coin: dict[str, int] = defaultdict(int)
    seen: set[str] = set()
    for f in snap.fills:
        bot = cloid_bot.get(f.cloid, "") if f.cloid else ""
        bot = bot or (f.bot_id if f.bot_id in known else "")
        if not bot:
            p.unattributed += 1
            unattributed_by_coin[f.coin] += 1
            continue
        if bot not in synced or f.coin not in synced[bot].coins:
            p.other_bots += 1
            continue
        if f.fill_id in have or f.fill_id in seen:
            continue
        seen.add(f.fill_id)
        new_fills[(bot, f.coin)].append(f)

    # -- open orders on the venue
    venue_by_cloid = {o.cloid: o for o in snap.open_orders if o.cloid}
    open_ours: dict[tuple[str, str], int] = defaultdict(int)
    open_coin: dict[str, int] = defaultdict(int)
    for o in snap.open_orders:
        open_coin[o.coin] += 1
        bot = cloid_bot.get(o.cloid, "") if o.cloid else ""
        if bot:
            open_ours[(bot, o.coin)] += 1

    # -- positions: apply inserted fills to each synced bot's row
    new_lots: dict[tuple[str, str], int] = {}
    rows_before: dict[tuple[str, str], tuple | None] = {}
    entry_after: dict[tuple[str, str], float] = {}
    for b in group.bots:
        for coin in b.coins:
            key = (b.bot_id, coin)
            inst = insts[coin]
            row = conn.execute("SELECT size_lots, avg_entry, realized_usd, fees_usd, fills FROM positions "
                               "WHERE bot_id=? AND coin=?", key).fetchone()
            rows_before[key] = row
            pos = Position(inst)
            if row:
                pos.lots, pos.avg_entry, pos.realized_usd, pos.fees_usd, pos.fills = (
                    int(row[0]), float(row[1]), float(row[2]), float(row[3]), int(row[4]))
            fills = sorted(new_fills.get(key, ()), key=lambda f: (f.ts_ms, f.fill_id))
            for f in fills:
                pos.apply_fill(f.side, f.px, f.sz, f.fee_usd)
                price, size = inst.px(f.px), inst.sz(f.sz)
                p.fills.append(FillRow(venue, f.fill_id, b.bot_id, coin, f.cloid, side_name(f.side), price, size,
                                       f.sz, int(f.maker), f.fee_usd, inst.notional_usd(f.px, f.sz), 0.0, 0.0,
                                       f.counterparty, f.ts_ms))
                p.trades.append(TradeRow(b.bot_id, coin, "fill", side_name(f.side), price, size, f.cloid, f.ts_ms))
            if fills:
                p.positions.append(PositionRow(b.bot_id, coin, pos.size, pos.lots, pos.avg_entry, pos.realized_usd,
                                               pos.fees_usd, pos.fills, ts))
            new_lots[key] = pos.lots
            entry_after[key] = pos.avg_entry

    # -- orders
    changes = plan_orders(conn, group, snap, new_fills, venue_by_cloid, ts)
    p.orders = changes
    changed_by: dict[tuple[str, str], list[OrderChange]] = defaultdict(list)
    for c in changes:
        changed_by[(c.bot_id, c.coin)].append(c)

    # -- compare with the venue, build rows and events
    warned_shared: set[str] = set()
    for b in group.bots:
        for coin in b.coins:
            key = (b.bot_id, coin)
            inst = insts[coin]
            vp = snap.positions.get(coin)
            venue_lots = inst.to_lots(vp.qty) if vp else 0
            holders = [k for k in group.known if coin in k.coins]
            shared = len(holders) > 1
            bots_sum = 0
            for h in holders:
                if (h.bot_id, coin) in new_lots:
                    bots_sum += new_lots[(h.bot_id, coin)]
                else:
                    r = conn.execute("SELECT size_lots FROM positions WHERE bot_id=? AND coin=?",
                                     (h.bot_id, coin)).fetchone()
                    bots_sum += int(r[0]) if r else 0
            fills_sum = conn.execute(
                "SELECT COALESCE(SUM(CASE side WHEN 'buy' THEN size_lots ELSE -size_lots END), 0) FROM fills "
                "WHERE bot_id=? AND coin=?", key).fetchone()[0]
            fills_sum += sum(f.side * f.sz for f in new_fills.get(key, ()))
            before = rows_before[key]
            lots = new_lots[key]
            inserted = len(new_fills.get(key, ()))
            row = CoinRow(b.bot_id, coin, shared, venue_lots, inst.sz(venue_lots), vp.entry_px if vp else 0.0,
                          int(before[0]) if before else None, lots, inst.sz(lots), entry_after[key], bots_sum,
                          int(fills_sum), inserted, open_ours[key], open_coin[coin] - open_ours[key],
                          len(changed_by[key]), unattributed_by_coin[coin])
            notes = []
            compare = bots_sum if shared else lots
            if venue_lots != compare:
                row.status = "DIFF"
                what = f"bots' sum {inst.sz(bots_sum):g}" if shared else f"DB {inst.sz(lots):g}"
                notes.append(f"venue {inst.sz(venue_lots):g} != {what} ({venue_lots - compare:+d} lots)")
                if not (shared and coin in warned_shared):  # one warning per shared coin
                    if shared:
                        warned_shared.add(coin)
                    p.events.append(_ev(None if shared else b.bot_id, coin, "warning",
                                        f"sync_positions: {coin}: {group.label} position {inst.sz(venue_lots):g} "
                                        f"differs from the {what} after {inserted} fill(s) inserted; rows kept "
                                        f"({'several bots share the coin' if shared else 'not overwritten'})",
                                        ts, venue_lots=venue_lots, db_lots=compare, shared=shared,
                                        bots=[h.bot_id for h in holders]))
            elif shared:
                notes.append(f"shared by {len(holders)} bots: venue total {inst.sz(venue_lots):g} = bots' sum")
            if lots != fills_sum:
                notes.append(f"row differs from its fills by {lots - fills_sum:+d} lots (before this sync)")
            row.note = "; ".join(notes)
            p.rows.append(row)
            if inserted or changed_by[key]:
                lots_before = int(before[0]) if before else 0
                msg = [f"{inserted} fill(s) inserted"] if inserted else []
                if inserted:
                    msg.append(f"position {inst.sz(lots_before):g} -> {inst.sz(lots):g}")
                if changed_by[key]:
                    msg.append(f"{len(changed_by[key])} order state(s) updated")
                p.events.append(_ev(b.bot_id, coin, "info", f"sync_positions: {coin}: " + ", ".join(msg), ts,
                                    fill_ids=[f.fill_id for f in new_fills.get(key, ())],
                                    lots_before=lots_before, lots_after=lots,
                                    orders=[(c.cloid, c.old_status, c.status) for c in changed_by[key]]))
    return p


def plan_orders(conn: sqlite3.Connection, group: Group, snap: Snapshot, new_fills: dict[tuple[str, str], list[Fill]],
                venue_by_cloid: dict[str, OpenOrder], ts: int) -> list[OrderChange]:
    """Order rows of the synced bots whose status the venue (and the fills) correct."""
    bots = [b.bot_id for b in group.bots]
    coin_ok = {b.bot_id: set(b.coins) for b in group.bots}
    inserted_by_cloid: dict[tuple[str, str], int] = defaultdict(int)
    for (bot, _), fs in new_fills.items():
        for f in fs:
            if f.cloid:
                inserted_by_cloid[(bot, f.cloid)] += f.sz
    cols = "bot_id, coin, cloid, side, size_lots, status, filled_lots, venue_oid, updated_ms"
    rows: dict[tuple[str, str], tuple] = {}
    marks = ",".join("?" * len(bots))
    for r in conn.execute(f"SELECT {cols} FROM orders WHERE bot_id IN ({marks}) AND status IN "
                          f"({','.join('?' * len(LIVE_STATUSES))})", (*bots, *LIVE_STATUSES)):
        rows[(r[0], r[2])] = r
    wanted = sorted(set(venue_by_cloid) | {c for _, c in inserted_by_cloid})
    for part in chunks(wanted):
        pm = ",".join("?" * len(part))
        for r in conn.execute(f"SELECT {cols} FROM orders WHERE bot_id IN ({marks}) AND cloid IN ({pm})",
                              (*bots, *part)):
            rows[(r[0], r[2])] = r
    out = []
    for (bot, cloid), (_, coin, _cl, _side, size_lots, status, filled_lots, venue_oid, updated_ms) in sorted(
            rows.items()):
        if coin not in coin_ok[bot] or coin not in snap.instruments:
            continue
        if updated_ms >= snap.orders_ms:
            continue  # the runner wrote newer news than our venue snapshot
        inst = snap.instruments[coin]
        fills_lots = conn.execute("SELECT COALESCE(SUM(size_lots), 0) FROM fills WHERE bot_id=? AND cloid=?",
                                  (bot, cloid)).fetchone()[0] + inserted_by_cloid.get((bot, cloid), 0)
        vo = venue_by_cloid.get(cloid)
        filled = min(size_lots, max(filled_lots, fills_lots, vo.filled if vo else 0))
        new_status, new_oid, detail = status, venue_oid, ""
        if vo is not None:
            new_status = "partially_filled" if filled > 0 else "open"
            new_oid = vo.venue_oid or venue_oid
            detail = "sync_positions: resting on the venue"
        elif status in LIVE_STATUSES:
            if status == "pending" and updated_ms > snap.orders_ms - PENDING_GRACE_MS:
                continue  # its placement may still be in flight
            new_status = "filled" if filled >= size_lots else "cancelled"
            detail = REASON_GONE if new_status == "cancelled" else f"fills cover its size; {REASON_GONE}"
        elif status == "cancelled" and filled >= size_lots:
            new_status, detail = "filled", "sync_positions: fills cover the size"
        if (new_status, filled, new_oid) == (status, filled_lots, venue_oid):
            continue
        if new_status == status and not detail:
            detail = "sync_positions: filled size from the fills"
        out.append(OrderChange(bot, coin, cloid, status, new_status, inst.sz(filled), filled, new_oid, detail))
    return out


def apply_plan(conn: sqlite3.Connection, p: Plan, ts: int) -> None:
    """Write a plan (inside the caller's transaction)."""
    for recs in (p.fills, p.trades, p.positions, p.events):
        if recs:
            conn.executemany(insert_sql(type(recs[0])), list(map(row_getter(type(recs[0])), recs)))
    for c in p.orders:
        conn.execute("UPDATE orders SET status=?, filled=?, filled_lots=?, venue_oid=?, updated_ms=? "
                     "WHERE bot_id=? AND cloid=?", (c.status, c.filled, c.filled_lots, c.venue_oid, ts, c.bot_id,
                                                    c.cloid))
        ev = OrderEventRow(c.bot_id, c.coin, c.cloid, c.status, c.detail, ts)
        conn.execute(insert_sql(OrderEventRow), row_getter(OrderEventRow)(ev))


# ---------------------------------------------------------------- one group


@dataclass
class GroupResult:
    venue: str
    mode: str
    account: str
    bots: list[str]
    error: str = ""
    code: int = 0
    fills_read: int = 0
    fills_inserted: int = 0
    fills_unattributed: int = 0
    fills_other_bots: int = 0
    orders_updated: int = 0
    rows: list[CoinRow] = field(default_factory=list)


def open_rw(db_path: Path) -> sqlite3.Connection:
    if not db_path.exists():
        raise DbError(f"{db_path}: no such database file")
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                               isolation_level=None)
        require_tables(conn, TABLES)
        for stmt in pragma_statements():  # the project's PRAGMAs: busy_timeout, WAL, synchronous=NORMAL
            conn.execute(stmt)
    except sqlite3.DatabaseError as e:
        raise DbError(f"{db_path}: not an SQLite database ({e})") from None
    except DbError as e:
        raise DbError(f"{db_path}: {e}") from None
    return conn


async def sync_group(conn: sqlite3.Connection, group: Group, environ: Mapping[str, str]) -> GroupResult:
    from mm_bot.venues.errors import GatewayError, VenueError

    res = GroupResult(group.venue, group.mode, "", [b.bot_id for b in group.bots])
    try:
        session = VenueSession(group, environ)
    except GatewayError as e:
        res.error, res.code = f"{group.label}: refused: {e}", 2
        return res
    try:
        res.account = session.gw.account
        try:
            await session.load(known_cloids(conn, [b.bot_id for b in group.known]))
            snap = await session.read()
            if plan_sync(conn, group, snap, now_ms()).differences:
                snap = await session.recheck(snap)
        except GatewayError as e:
            res.error, res.code = f"{group.label} (account {res.account}): refused: {e}", 2
            return res
        except VenueError as e:
            res.error, res.code = f"{group.label} (account {res.account}): cannot reach the venue: {e}", 1
            return res
    finally:
        session.close()
    try:
        conn.execute("BEGIN IMMEDIATE")  # waits up to busy_timeout for a runner's write transaction
    except sqlite3.OperationalError as e:
        res.error, res.code = f"{group.label}: database busy, nothing written ({e})", 1
        return res
    try:
        ts = now_ms()
        p = plan_sync(conn, group, snap, ts)
        apply_plan(conn, p, ts)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    res.fills_read, res.fills_inserted = p.fills_read, len(p.fills)
    res.fills_unattributed, res.fills_other_bots = p.unattributed, p.other_bots
    res.orders_updated, res.rows = len(p.orders), p.rows
    res.code = 1 if p.differences else 0
    return res


# ---------------------------------------------------------------- output


def render(results: list[GroupResult]) -> str:
    rows = []
    for g in results:
        for r in g.rows:
            rows.append([r.bot_id, r.coin, f"{r.venue_size:g}", f"{r.db_size:g}" + (" (shared)" if r.shared else ""),
                         r.fills_inserted, f"{r.open_ours} / {r.open_others}", r.orders_updated, r.status, r.note])
    out = []
    if rows:
        out.append(tabulate(rows, disable_numparse=True,
                            headers=["bot", "coin", "venue position", "DB position", "fills inserted",
                                     "open orders ours / others", "orders updated", "status", "note"]))
    for g in results:
        head = f"{g.venue} {g.mode}" + (f" account {g.account}" if g.account else "")
        if g.error:
            out.append(f"{head}: ERROR: {g.error}")
            continue
        out.append(f"{head}: {g.fills_read} fill(s) read, {g.fills_inserted} inserted, {g.fills_unattributed} not "
                   f"attributable to a bot (not inserted), {g.fills_other_bots} of bots or coins not synced; "
                   f"{g.orders_updated} order(s) updated")
    return "\n".join(out)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", type=click.Path(path_type=Path), required=True, help="The bots' SQLite file.")
@click.option("--bot", "bot_id", default=None, help="Sync only this bot (bots table); default: every live bot.")
@click.option("--json", "as_json", is_flag=True, default=False, help="Print one JSON document instead of tables.")
def main(db_path: Path, bot_id: str | None, as_json: bool) -> None:
    """Pull positions, open orders and recent fills from the venue into DB; exit 0 consistent, 1 a
    difference remains or a venue unreachable, 2 usage/config error."""
    try:
        conn = open_rw(db_path)
    except DbError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    try:
        groups = select_groups(read_bots(conn, db_path), bot_id, db_path)
        problems = env_problems(groups, os.environ)
        if problems:
            raise UsageError("nothing synced:\n" + "\n".join(problems))
    except UsageError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except sqlite3.DatabaseError as e:
        click.echo(f"error: {db_path}: {e}", err=True)
        sys.exit(2)
    if not groups:
        click.echo(f"{db_path}: no live bots in the bots table; nothing to sync")
        sys.exit(0)
    results = []
    try:
        for g in groups:
            results.append(asyncio.run(sync_group(conn, g, os.environ)))
    except sqlite3.DatabaseError as e:
        click.echo(f"error: {db_path}: {e}", err=True)
        sys.exit(2)
    finally:
        conn.close()
    code = max((r.code for r in results), default=0)
    if as_json:
        click.echo(json.dumps({"db": str(db_path), "consistent": code == 0, "exit_code": code,
                               "groups": [asdict(r) for r in results]}, indent=2))
    else:
        click.echo(render(results))
    for r in results:
        if r.error:
            click.echo(f"error: {r.error}", err=True)
    diffs = [row for r in results for row in r.rows if row.status != "ok"]
    if diffs and not as_json:
        click.echo(f"\n{len(diffs)} position difference(s) remain: see the notes (nothing was overwritten)", err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
