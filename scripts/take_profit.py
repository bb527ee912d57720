"""Take profit on a stuck position now, or close it at a loss, through the runner's commands table.

    python scripts/take_profit.py --db hypertrade.db --bot example-mm --coin BTC
    python scripts/take_profit.py --db hypertrade.db --bot example-mm --coin BTC --wait 5
    python scripts/take_profit.py --db hypertrade.db --bot example-mm --coin BTC --flatten --wait 5

Prints the bot's position in the coin (positions table; mid and unrealized PnL from the newest
pnl_tracking row; the estimated gain of closing at the opposite touch of the newest book snapshot
after the taker fee), then writes one command row for that bot and coin:

* take_profit (default): the bot closes the position with an IOC at the opposite touch if the
  close is in profit after the taker fee, whatever take_profit_min_bps / _usd say; otherwise it
  records a take_profit warning event and keeps the position (use --flatten).
* --flatten: the bot pauses (cancels its quotes, so the quoter does not rebuild the position) and
  closes the position with a reduce-only IOC at most flatten_max_slippage_bps through the mid,
  at a loss if need be. The bot stays paused: resume it with scripts/kill.py --resume.

The runner polls the table every 200 ms. With --wait SECONDS the script waits that long for the
runner to act, prints its result and the take_profit / flatten events it recorded, waits (within
the same budget) for the exit order to finish and prints its fills and the position after. A
command still not acted on when --wait runs out is withdrawn (marked failed), so a runner started
later never acts on a stale take profit or flatten.

Exit codes: 0 command written (with --wait: acted on, status done; read the events to see whether
an order was sent); 1 the runner reported failed, or did not act within --wait; 2 bad arguments,
a missing or non-mm_bot database, an unknown bot, a coin the bot does not trade (its coins come
from bots.config_json), or a bot that is stopped or failed.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import click  # noqa: E402
from tabulate import tabulate  # noqa: E402

from mm_bot.store import queries as q  # noqa: E402
from mm_bot.store.db import BUSY_TIMEOUT_MS, DbError  # noqa: E402

POLL_S = 0.1
TERMINAL = ("filled", "cancelled", "rejected")
EXIT_KINDS = ("take_profit", "flatten")


def iso(ms: int | None) -> str:
    return "" if not ms else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def fmt(v, spec: str = ",.2f") -> str:
    return "-" if v is None else format(v, spec)


def bot_config(conn: sqlite3.Connection, bot_id: str) -> tuple[str, dict] | None:
    """(status, effective config) of a bot from the bots table; None for an unknown bot."""
    row = conn.execute("SELECT status, config_json FROM bots WHERE bot_id=?", (bot_id,)).fetchone()
    if row is None:
        return None
    try:
        cfg = json.loads(row[1])
    except ValueError:
        cfg = {}
    return row[0], cfg if isinstance(cfg, dict) else {}


def position(conn: sqlite3.Connection, bot_id: str, coin: str, cfg: dict) -> dict:
    """The position of (bot, coin): positions row, newest pnl_tracking row and book snapshot.

    ``est_close_usd`` / ``est_close_bps``: PnL of closing the whole position at the opposite touch
    of the newest snapshot (long: best bid) minus the taker fee on that notional, as the bot's
    on-demand take profit judges it (linear instruments only; None for inverse ones or without a
    snapshot). ``in_profit``: whether that estimate is >= 0 (the bot's on-demand take profit closes at
    zero gain or better).
    """
    out: dict = {"bot_id": bot_id, "coin": coin}
    p = conn.execute("SELECT size, size_lots, avg_entry, realized_usd, fees_usd, fills, ts_ms FROM positions "
                     "WHERE bot_id=? AND coin=?", (bot_id, coin)).fetchone()
    keys = ("size", "size_lots", "avg_entry", "realized_usd", "fees_usd", "fills", "ts_ms")
    out.update(dict(zip(keys, p, strict=True)) if p else dict.fromkeys(keys, None))
    pnl = q.latest_pnl_row(conn, bot_id, coin, q.latest_ts_ms(conn))
    out["mid"] = pnl["mid"] if pnl else None
    out["unrealized_usd"] = pnl["unrealized_usd"] if pnl else None
    out["pnl_ts_ms"] = pnl["ts_ms"] if pnl else None
    snap = conn.execute("SELECT best_bid, best_ask, ts_ms FROM orderbook_snapshots WHERE bot_id=? AND coin=? "
                        "ORDER BY ts_ms DESC, id DESC LIMIT 1", (bot_id, coin)).fetchone()
    out["best_bid"], out["best_ask"], out["snapshot_ts_ms"] = snap if snap else (None, None, None)
    out["est_close_usd"] = out["est_close_bps"] = out["in_profit"] = None
    size, entry = out["size"], out["avg_entry"]
    inverse = bool(((cfg.get("instruments") or {}).get(coin) or {}).get("inverse"))
    fee_bps = float((cfg.get("paper") or {}).get("taker_fee_bps") or 0.0)
    if size and entry and snap and not inverse:
        touch = snap[0] if size > 0 else snap[1]
        if touch and touch > 0:
            sign = 1 if size > 0 else -1
            out["est_close_usd"] = size * (touch - entry) - abs(size) * touch * fee_bps / 1e4
            out["est_close_bps"] = sign * (touch - entry) / entry * 1e4 - fee_bps
            out["in_profit"] = out["est_close_usd"] >= 0
    return out


def render_position(pos: dict) -> str:
    if pos["size_lots"] is None:
        return f"position {pos['bot_id']}/{pos['coin']}: no positions row (no fill yet)"
    flat = pos["size_lots"] == 0
    est = "-" if pos["est_close_usd"] is None else (
        f"{pos['est_close_usd']:,.2f} ({pos['est_close_bps']:,.1f} bps): "
        f"{'in profit' if pos['in_profit'] else 'at a loss'}")
    rows = [[pos["bot_id"], pos["coin"], "flat" if flat else f"{pos['size']:,.8g}", pos["size_lots"],
             fmt(pos["avg_entry"], ",.8g"), fmt(pos["mid"], ",.8g"), fmt(pos["unrealized_usd"]),
             fmt(pos["realized_usd"]), fmt(pos["fees_usd"]), pos["fills"], est, iso(pos["ts_ms"])]]
    return tabulate(rows, disable_numparse=True,
                    headers=["bot", "coin", "size", "lots", "avg entry", "mid", "unrealized $", "realized $",
                             "fees $", "fills", "close at touch after taker fee $", "updated UTC"])


def exit_events(conn: sqlite3.Connection, bot_id: str, coin: str, since_ms: int) -> list[tuple]:
    return conn.execute(
        f"SELECT ts_ms, kind, severity, message FROM system_events WHERE bot_id=? AND (coin=? OR coin IS NULL) "
        f"AND kind IN ({','.join('?' * len(EXIT_KINDS))}) AND ts_ms>=? ORDER BY ts_ms, id",
        (bot_id, coin, *EXIT_KINDS, since_ms)).fetchall()


def exit_orders(conn: sqlite3.Connection, bot_id: str, coin: str, since_ms: int) -> list[tuple]:
    """IOC orders of (bot, coin) created at or after since_ms: (cloid, side, price, size, status, filled)."""
    return conn.execute("SELECT cloid, side, price, size, status, filled FROM orders WHERE bot_id=? AND coin=? "
                        "AND tif='ioc' AND ts_ms>=? ORDER BY ts_ms, id", (bot_id, coin, since_ms)).fetchall()


def wait_status(conn: sqlite3.Connection, cid: int, deadline: float) -> tuple | None:
    """(status, result, acted_ms) of the command once the runner acted on it, or None at the deadline."""
    while True:
        row = conn.execute("SELECT status, result, acted_ms FROM commands WHERE id=?", (cid,)).fetchone()
        if row and row[0] != "new":
            return row
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_S)


def follow_exit(conn: sqlite3.Connection, bot_id: str, coin: str, acted_ms: int, deadline: float) -> None:
    """Print the events the command produced and, once its IOC orders are done, their fills and the position."""
    events: list[tuple] = []
    while True:  # the events are written in the same batch as the command row; allow for a slow writer
        events = exit_events(conn, bot_id, coin, acted_ms)
        if events or time.monotonic() >= deadline:
            break
        time.sleep(POLL_S)
    if events:
        click.echo(tabulate([[iso(t), k, s, m] for t, k, s, m in events], disable_numparse=True,
                            headers=["time UTC", "event", "severity", "message"]))
    else:
        click.echo("no take_profit or flatten event recorded (the position was flat when the runner acted)")
    orders: list[tuple] = []
    while True:
        orders = exit_orders(conn, bot_id, coin, acted_ms)
        sent = any(s == "info" for _, _, s, _ in events)
        if (not sent or orders) and all(o[4] in TERMINAL for o in orders):
            break
        if time.monotonic() >= deadline:
            click.echo("exit order not finished when --wait ran out; the position below may still change", err=True)
            break
        time.sleep(POLL_S)
    if orders:
        marks = ",".join("?" * len(orders))
        fills = conn.execute(f"SELECT ts_ms, side, price, size, maker, fee_usd FROM fills WHERE bot_id=? AND coin=? "
                             f"AND cloid IN ({marks}) ORDER BY ts_ms, id",
                             (bot_id, coin, *[o[0] for o in orders])).fetchall()
        click.echo(tabulate([[o[1], fmt(o[2], ",.8g"), fmt(o[3], ",.8g"), o[4], fmt(o[5], ",.8g")] for o in orders],
                            disable_numparse=True, headers=["exit order", "limit", "size", "status", "filled"]))
        if fills:
            click.echo(tabulate([[iso(t), sd, fmt(px, ",.8g"), fmt(sz, ",.8g"), "maker" if mk else "taker",
                                  fmt(fee, ",.4f")] for t, sd, px, sz, mk, fee in fills],
                                disable_numparse=True, headers=["fill UTC", "side", "price", "size", "", "fee $"]))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", type=click.Path(path_type=Path), required=True, help="The bots' SQLite file.")
@click.option("--bot", "bot_id", required=True, help="Bot id (bots table).")
@click.option("--coin", required=True, help="Coin of the stuck position; one the bot trades.")
@click.option("--flatten", is_flag=True, default=False,
              help="Close the position even at a loss (the flatten command: pause, then a bounded-slippage "
                   "reduce-only IOC); the bot stays paused.")
@click.option("--wait", type=float, default=0.0, show_default=True,
              help="Seconds to wait for the runner to act and the exit order to finish (0: do not wait).")
def main(db_path: Path, bot_id: str, coin: str, flatten: bool, wait: float) -> None:
    """Take profit on (or, with --flatten, close) one bot's position in one coin now."""
    command = "flatten" if flatten else "take_profit"
    if wait < 0:
        raise click.BadParameter("must be >= 0", param_hint="--wait")
    try:
        conn = q.open_checked(db_path, tables=("bots", "positions", "pnl_tracking", "orderbook_snapshots",
                                                "orders", "fills", "system_events", "commands"))
    except DbError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    try:
        cols = {r[1] for r in conn.execute("PRAGMA table_info(commands)")}
        if "coin" not in cols:
            click.echo(f"error: {db_path}: commands table has no coin column (schema older than v3); "
                       "start the runner or run init_db.py on it to migrate", err=True)
            sys.exit(2)
        found = bot_config(conn, bot_id)
        if found is None:
            click.echo(f"error: {db_path}: no bot '{bot_id}' in the bots table", err=True)
            sys.exit(2)
        status, cfg = found
        coins = [str(c) for c in cfg.get("coins") or []]
        if coin not in coins:
            click.echo(f"error: bot '{bot_id}' does not trade '{coin}' (its coins: {', '.join(coins) or 'none'})",
                       err=True)
            sys.exit(2)
        if status in ("stopped", "failed"):
            click.echo(f"error: bot '{bot_id}' is {status}: no runner acts for it (start it, then retry)", err=True)
            sys.exit(2)
        before = position(conn, bot_id, coin, cfg)
    except sqlite3.DatabaseError as e:
        click.echo(f"error: {db_path}: {e}", err=True)
        sys.exit(2)
    click.echo(render_position(before))
    if not before["size_lots"]:
        click.echo("note: the database shows no open position; the runner acts on its own, current one")
    elif command == "take_profit" and before["in_profit"] is False:
        click.echo("note: closing at the touch is at a loss after the taker fee at the last snapshot; the bot "
                   "will not take profit unless the market moves (--flatten closes at a loss)")
    try:
        wconn = sqlite3.connect(f"file:{db_path}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        with wconn:
            cur = wconn.execute("INSERT INTO commands (bot_id, coin, command, status, result, ts_ms) "
                                "VALUES (?, ?, ?, 'new', '', ?)", (bot_id, coin, command, time.time_ns() // 1_000_000))
        cid = cur.lastrowid
    except sqlite3.DatabaseError as e:
        click.echo(f"error: {db_path}: cannot write the command ({e})", err=True)
        sys.exit(2)
    click.echo(f"command {cid}: {command} {bot_id} {coin} written")
    if wait <= 0:
        return
    deadline = time.monotonic() + wait
    got = wait_status(conn, cid, deadline)
    if got is None:
        with wconn:
            n = wconn.execute("UPDATE commands SET status='failed', result=?, acted_ms=? WHERE id=? AND status='new'",
                              (f"withdrawn by take_profit.py: not acted on within {wait:g} s",
                               time.time_ns() // 1_000_000, cid)).rowcount
        if n:
            click.echo(f"command {cid}: not acted on within {wait:g} s (is the runner running on this DB?); "
                       "withdrawn", err=True)
            sys.exit(1)
        got = wait_status(conn, cid, time.monotonic())  # the runner acted just as it ran out
        assert got is not None
    status, result, acted_ms = got
    click.echo(f"command {cid}: {status}: {result}")
    if status != "done":
        sys.exit(1)
    follow_exit(conn, bot_id, coin, acted_ms, deadline)
    click.echo("")
    click.echo(render_position(position(conn, bot_id, coin, cfg)))
    if command == "flatten":
        click.echo(f"note: {bot_id} is paused after a flatten; resume it with scripts/kill.py --bot {bot_id} --resume")


if __name__ == "__main__":
    main()
