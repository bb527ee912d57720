"""Is every bot trading? One screen per mm_bot database, read-only, safe next to a running bot.

    python scripts/diagnose_trading_status.py --db hypertrade.db
    python scripts/diagnose_trading_status.py --db hypertrade.db --bot hl-btc --stale-seconds 60

Per bot: state (bots.status refined by the latest start/stop/kill/pause/resume/error event,
with its reason). Per bot and coin: age of the last book snapshot and of the last order
placement, live orders, position and notional, PnL today (change of total_usd since 00:00
UTC), trading intensity over the last --ti-hours. Then the latest rate-limit usage per
venue/account/bucket and the last errors.

Exit code: 0 healthy; 1 when any bot is unhealthy; 2 when the file is missing, not SQLite or
not an mm_bot database. Unhealthy means any of:
  * a running bot whose newest book snapshot of some coin is older than --stale-seconds
    (or that has none), measured from now (wall clock, or --now-ms);
  * a kill switch tripped: a system_events row of kind 'kill' for the bot (or process-wide)
    not followed by a later start or resume of the bot;
  * an error burst: >= 5 error/critical events of the bot (or process-wide) in the 5 minutes
    up to now;
  * a bot whose status is 'failed';
  * a live venue stream (market or account) disconnected for more than 15 s while its runner runs.
A stopped (or paused) bot with none of these is healthy.
"""

from __future__ import annotations

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
from mm_bot.store.db import DbError  # noqa: E402

LIFECYCLE_KINDS = ("start", "stop", "kill", "pause", "resume", "error")
EVENT_STATE = {"kill": "killed", "pause": "paused", "resume": "running", "start": "running", "stop": "stopped"}
ERROR_BURST_COUNT = 5
ERROR_BURST_WINDOW_MS = 5 * 60_000
# A live venue stream down longer than this (a normal reconnect takes a few seconds) is a problem.
STREAM_DOWN_GRACE_MS = 15_000


def iso(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def age_s(now_ms: int, ts_ms: int | None) -> float | None:
    return None if ts_ms is None else (now_ms - ts_ms) / 1000


def fmt_age(a: float | None) -> str:
    return "never" if a is None else f"{a:,.1f}"


def fmt(v, spec: str = ",.2f") -> str:
    return "-" if v is None else format(v, spec)


def bot_state(conn: sqlite3.Connection, status: str, status_ms: int, bot_id: str, now_ms: int) -> dict:
    """State and reason of a bot.

    bots.status is kept when it is 'failed' or 'killed' (terminal); otherwise the latest
    lifecycle event at or after the bots row's ts_ms decides (kill -> killed, pause -> paused,
    start/resume -> running, stop -> stopped; error keeps the status). A bot that is not running
    gets as reason the latest stop/kill/pause/error event (errors of a running bot are listed
    in the errors table instead).
    """
    ev = conn.execute(
        f"SELECT kind, severity, message, ts_ms FROM system_events WHERE bot_id=? AND ts_ms<=? "
        f"AND kind IN ({','.join('?' * len(LIFECYCLE_KINDS))}) ORDER BY ts_ms DESC, id DESC LIMIT 1",
        (bot_id, now_ms, *LIFECYCLE_KINDS)).fetchone()
    state = status
    if ev and status not in ("failed", "killed") and ev[3] >= status_ms and ev[0] in EVENT_STATE:
        state = EVENT_STATE[ev[0]]
    reason = ""
    if state != "running":
        why = conn.execute(
            "SELECT kind, message FROM system_events WHERE bot_id=? AND ts_ms<=? "
            "AND kind IN ('stop','kill','pause','error') ORDER BY ts_ms DESC, id DESC LIMIT 1",
            (bot_id, now_ms)).fetchone()
        if why:
            reason = f"{why[0]}: {why[1]}"
    return {"state": state, "reason": reason, "event_ms": ev[3] if ev else None}


def kill_tripped(conn: sqlite3.Connection, bot_id: str, now_ms: int) -> dict | None:
    """The latest kill event of the bot (or process-wide) not followed by a start/resume of the bot."""
    kill = conn.execute(
        "SELECT message, ts_ms, bot_id FROM system_events WHERE kind='kill' AND (bot_id=? OR bot_id IS NULL) "
        "AND ts_ms<=? ORDER BY ts_ms DESC, id DESC LIMIT 1", (bot_id, now_ms)).fetchone()
    if not kill:
        return None
    restarted = conn.execute(
        "SELECT 1 FROM system_events WHERE bot_id=? AND kind IN ('start','resume') AND ts_ms>? AND ts_ms<=? "
        "LIMIT 1", (bot_id, kill[1], now_ms)).fetchone()
    return None if restarted else {"message": kill[0], "ts_ms": kill[1], "process_wide": kill[2] is None}


def error_count(conn: sqlite3.Connection, bot_id: str | None, now_ms: int) -> int:
    who = "bot_id IS NULL" if bot_id is None else "bot_id=?"
    args = () if bot_id is None else (bot_id,)
    return conn.execute(
        f"SELECT COUNT(*) FROM system_events WHERE {who} AND severity IN ('error','critical') "
        "AND ts_ms BETWEEN ? AND ?", (*args, now_ms - ERROR_BURST_WINDOW_MS, now_ms)).fetchone()[0]


def stream_states(conn: sqlite3.Connection, now_ms: int) -> list[dict]:
    """The latest state of every live venue stream (feed events carrying a `stream` detail): up,
    down (since when, why) or stopped with its runner."""
    last_stop = conn.execute("SELECT MAX(ts_ms) FROM system_events WHERE bot_id IS NULL AND kind='stop' "
                             "AND ts_ms<=?", (now_ms,)).fetchone()[0] or 0
    out: dict[str, dict] = {}
    for stream, reason, message, ts in conn.execute(
            "SELECT json_extract(details_json, '$.stream'), json_extract(details_json, '$.reason'), message, ts_ms "
            "FROM system_events WHERE kind='feed' AND json_extract(details_json, '$.stream') IS NOT NULL "
            "AND ts_ms<=? ORDER BY ts_ms, id", (now_ms,)):
        down = reason is not None
        if (down and reason == "stopping") or ts <= last_stop:
            state = "stopped"
        else:
            state = "down" if down else "up"
        out[stream] = {"stream": stream, "state": state, "since_ms": ts, "message": message}
    return sorted(out.values(), key=lambda r: r["stream"])


def diagnose(conn: sqlite3.Connection, now_ms: int, stale_seconds: float = 30, bot: str | None = None,
             ti_hours: float = 1.0) -> dict:
    """Everything the script prints, as data: bots, coins, ti, rate_limits, errors, problems."""
    sql = "SELECT bot_id, venue, mode, status, ts_ms FROM bots"
    rows = conn.execute(sql + (" WHERE bot_id=?" if bot else "") + " ORDER BY bot_id",
                        (bot,) if bot else ()).fetchall()
    midnight = now_ms - now_ms % q.DAY_MS
    bots, coins, ti, problems = [], [], [], []
    for bot_id, venue, mode, status, status_ms in rows:
        st = bot_state(conn, status, status_ms, bot_id, now_ms)
        bot_problems = []
        if st["state"] == "failed":
            bot_problems.append(f"failed ({st['reason'] or 'no reason recorded'})")
        kill = kill_tripped(conn, bot_id, now_ms)
        if kill:
            scope = "process-wide " if kill["process_wide"] else ""
            bot_problems.append(f"{scope}kill switch tripped at {iso(kill['ts_ms'])}: {kill['message']}")
        n_err = error_count(conn, bot_id, now_ms)
        if n_err >= ERROR_BURST_COUNT:
            bot_problems.append(f"error burst: {n_err} error/critical events in the last 5 min")
        for coin in q.bot_coins(conn, bot_id):
            snap = conn.execute("SELECT MAX(ts_ms) FROM orderbook_snapshots WHERE bot_id=? AND coin=? AND ts_ms<=?",
                                (bot_id, coin, now_ms)).fetchone()[0]
            placed = conn.execute("SELECT MAX(ts_ms) FROM orders WHERE bot_id=? AND coin=? AND ts_ms<=?",
                                  (bot_id, coin, now_ms)).fetchone()[0]
            book_age = age_s(now_ms, snap)
            if st["state"] == "running" and (book_age is None or book_age > stale_seconds):
                bot_problems.append(f"{coin}: stale data, last book snapshot "
                                    f"{'never' if book_age is None else f'{book_age:,.1f} s ago'} "
                                    f"(limit {stale_seconds:g} s)")
            live = q.open_orders(conn, bot_id, coin)
            bids = [o["price"] for o in live if o["side"] == "buy"]
            asks = [o["price"] for o in live if o["side"] == "sell"]
            today = q.get_coin_pnl_summary(conn, bot_id, coin, now_ms=now_ms, since_ms=midnight)
            coins.append({
                "bot_id": bot_id, "coin": coin, "book_age_s": book_age, "order_age_s": age_s(now_ms, placed),
                "open_bids": len(bids), "open_asks": len(asks), "best_bid": max(bids) if bids else None,
                "best_ask": min(asks) if asks else None, "position": today["position"],
                "notional_usd": today["notional_usd"], "pnl_today_usd": today["total_change_usd"],
                "pnl_total_usd": today["total_usd"], "fills_today": today["fills"],
            })
            ti.append(q.get_ti_summary(conn, bot_id, coin, hours=ti_hours, now_ms=now_ms))
        bots.append({"bot_id": bot_id, "venue": venue, "mode": mode, "status": status, **st,
                     "healthy": not bot_problems, "problems": bot_problems})
        problems += [f"{bot_id}: {p}" for p in bot_problems]
    streams = stream_states(conn, now_ms)
    for st in streams:
        if st["state"] == "down" and now_ms - st["since_ms"] > STREAM_DOWN_GRACE_MS:
            problems.append(f"{st['stream']} down for {age_s(now_ms, st['since_ms']):,.0f} s: {st['message']}")
    n_proc = error_count(conn, None, now_ms)
    if n_proc >= ERROR_BURST_COUNT:
        problems.append(f"process: error burst: {n_proc} error/critical events in the last 5 min")
    errors = q.get_recent_system_events(conn, bot, hours=24, severity=("error", "critical"), now_ms=now_ms,
                                        include_process=True, limit=10)
    return {"now_ms": now_ms, "bots": bots, "coins": coins, "ti": ti, "streams": streams,
            "rate_limits": q.latest_rate_limit_usage(conn, now_ms=now_ms), "errors": errors,
            "problems": problems, "healthy": not problems}


def render(d: dict, ti_hours: float) -> str:
    now = d["now_ms"]
    out = [f"mm_bot trading status at {iso(now)} UTC (now_ms={now})", ""]
    if not d["bots"]:
        out.append("no bots in the database")
    else:
        out.append(tabulate(
            [[b["bot_id"], b["venue"], b["mode"], b["state"], b["reason"], "OK" if b["healthy"] else "UNHEALTHY",
              "; ".join(b["problems"])] for b in d["bots"]],
            disable_numparse=True, headers=["bot", "venue", "mode", "state", "reason", "health", "problems"]))
        out += ["", "Coins (ages in seconds; PnL today = change of total since 00:00 UTC)"]
        out.append(tabulate(
            [[c["bot_id"], c["coin"], fmt_age(c["book_age_s"]), fmt_age(c["order_age_s"]),
              f"{c['open_bids']}/{c['open_asks']}", fmt(c["best_bid"], ",.6g"), fmt(c["best_ask"], ",.6g"),
              fmt(c["position"], ",.6g"), fmt(c["notional_usd"]), c["fills_today"], fmt(c["pnl_today_usd"]),
              fmt(c["pnl_total_usd"])] for c in d["coins"]],
            disable_numparse=True, headers=["bot", "coin", "book age", "last order age", "open bid/ask", "best bid", "best ask",
                     "position", "notional $", "fills today", "PnL today $", "PnL total $"]))
        out += ["", f"Trading intensity (last {ti_hours:g} h; slippage: + is a cost vs mid, - is captured)"]
        out.append(tabulate(
            [[t["bot_id"], t["coin"], t["fills"], fmt(t["maker_ratio"], ".1%"), fmt(t["maker_ratio_notional"], ".1%"),
              t["placements"], t["cancels"], fmt(t["cancels_per_fill"]), fmt(t["slippage_bps"]),
              fmt(t["spread_bps_at_fill"]), fmt(t.get("ti_score"), ".0f")] for t in d["ti"]],
            disable_numparse=True, headers=["bot", "coin", "fills", "maker", "maker $", "placements", "cancels", "cancels/fill",
                     "slippage bps", "spread@fill bps", "TI score"]))
    if d["streams"]:
        out += ["", "Venue streams (live)"]
        out.append(tabulate([[x["stream"], x["state"], iso(x["since_ms"]), x["message"]] for x in d["streams"]],
                            disable_numparse=True, headers=["stream", "state", "since UTC", "last event"]))
    out += ["", "Rate limits (latest)"]
    out.append(tabulate(
        [[r["venue"], r["account"], r["bucket"], fmt(r["used"], ",.0f"), fmt(r["capacity"], ",.0f"),
          fmt(r["pct"], ".1f"), "yes" if r["critical"] else "", fmt_age(age_s(now, r["ts_ms"]))]
         for r in d["rate_limits"]],
        disable_numparse=True, headers=["venue", "account", "bucket", "used", "capacity", "pct", "critical", "age s"])
        if d["rate_limits"] else "none recorded")
    out += ["", "Last errors (24 h)"]
    out.append(tabulate(
        [[iso(e["ts_ms"]), e["bot_id"] or "(process)", e["coin"] or "", e["kind"], e["severity"], e["message"]]
         for e in d["errors"]],
        disable_numparse=True, headers=["time UTC", "bot", "coin", "kind", "severity", "message"]) if d["errors"] else "none")
    out.append("")
    if d["healthy"]:
        out.append("HEALTHY")
    else:
        out.append("UNHEALTHY")
        out += [f"  - {p}" for p in d["problems"]]
    return "\n".join(out)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", type=click.Path(path_type=Path), required=True, help="mm_bot SQLite file.")
@click.option("--bot", "bot", default=None, help="Only this bot id.")
@click.option("--stale-seconds", type=float, default=30.0, show_default=True,
              help="A running bot whose newest book snapshot is older than this is unhealthy.")
@click.option("--now-ms", type=int, default=None,
              help="Judge as of this UTC epoch-ms time instead of the wall clock (replays, tests).")
@click.option("--ti-hours", type=float, default=1.0, show_default=True,
              help="Window of the trading-intensity table, in hours up to now.")
def main(db_path: Path, bot: str | None, stale_seconds: float, now_ms: int | None, ti_hours: float) -> None:
    """Per bot and coin trading status; exit 0 healthy, 1 unhealthy, 2 bad database."""
    try:
        conn = q.open_checked(db_path)
    except DbError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    try:
        if bot and not conn.execute("SELECT 1 FROM bots WHERE bot_id=?", (bot,)).fetchone():
            click.echo(f"error: {db_path}: no bot {bot!r} in the bots table", err=True)
            sys.exit(2)
        now = int(time.time() * 1000) if now_ms is None else now_ms
        d = diagnose(conn, now, stale_seconds, bot, ti_hours)
    except sqlite3.DatabaseError as e:
        click.echo(f"error: {db_path}: {e}", err=True)
        sys.exit(2)
    finally:
        conn.close()
    click.echo(render(d, ti_hours))
    sys.exit(0 if d["healthy"] else 1)


if __name__ == "__main__":
    main()
