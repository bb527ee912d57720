"""Read-only queries over the mm_bot SQLite file, for the operator scripts and dashboards.

Every helper takes ``db``, either a path (opened read-only with ``open_db(path, readonly=True)``
and closed again before returning) or an open ``sqlite3.Connection`` (used as is, never closed).
Nothing here writes: a reader in WAL mode never blocks the bot's writer.

Time windows. Each helper looks at ``[now_ms - hours, now_ms]``. ``now_ms`` defaults to the
*latest timestamp stored in the database* (see ``latest_ts_ms``), not the wall clock, so the
same call gives the same answer on a replay of old data as on a live file; pass ``now_ms``
explicitly (e.g. ``int(time.time() * 1000)``) for wall-clock windows. ``hours=None`` means no
lower bound (everything up to ``now_ms``); ``since_ms`` overrides ``hours`` with an absolute
lower bound. Bounds are inclusive.

Conventions (all values in USD unless named otherwise):

* PnL columns of ``pnl_tracking`` are cumulative since the bot started; "latest" values are
  those of the newest row at or before ``now_ms``. ``*_change_usd`` values are the latest row
  minus the newest row at or before the window start (zero when there is none, i.e. the bot
  started inside the window).
* maker ratio by count = maker fills / fills; by notional = maker notional / notional.
* cancels per fill = cancels / fills (``None`` when there is no fill).
* slippage vs mid, in bps, per fill: ``side * (price - mid_at_fill) / mid_at_fill * 1e4`` with
  side +1 for a buy and -1 for a sell. Positive is a cost (traded worse than mid, as a taker
  does); negative is spread captured (a maker fill inside the book's half-spread gives about
  minus the half-spread). Fills with ``mid_at_fill <= 0`` are left out.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mm_bot.store.db import DbError, open_db

HOUR_MS = 3_600_000
MINUTE_WINDOW_S = 60  # performance_metrics rows of one minute; longer windows are rolling (overlapping)
DAY_MS = 86_400_000
LIVE_ORDER_STATUSES = ("pending", "open", "partially_filled")
SEVERITIES = ("debug", "info", "warning", "error", "critical")
# Tables whose ts_ms marks when something happened (for latest_ts_ms).
_TIMED_TABLES = ("fills", "orderbook_snapshots", "pnl_tracking", "performance_metrics", "system_events",
                 "trades", "orders", "rate_limit_usage", "bots")
REQUIRED_TABLES = ("bots", "orders", "trades", "fills", "orderbook_snapshots", "pnl_tracking",
                   "performance_metrics", "system_events", "rate_limit_usage")


@contextmanager
def connect(db: str | Path | sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Yield a connection for ``db``: a path is opened read-only (and closed after); a connection is reused."""
    if isinstance(db, sqlite3.Connection):
        yield db
        return
    conn = open_db(db, readonly=True)
    try:
        yield conn
    finally:
        conn.close()


def require_tables(conn: sqlite3.Connection, tables: Iterable[str] = REQUIRED_TABLES) -> None:
    """Raise DbError naming the tables (of ``tables``) the database lacks."""
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    missing = [t for t in tables if t not in have]
    if missing:
        raise DbError(f"not an mm_bot database: missing tables {', '.join(missing)}")


def latest_ts_ms(db: str | Path | sqlite3.Connection) -> int:
    """The newest ts_ms in any event table (0 for an empty database). The default ``now_ms``."""
    with connect(db) as conn:
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        best = 0
        for t in _TIMED_TABLES:
            if t in have:
                v = conn.execute(f"SELECT MAX(ts_ms) FROM {t}").fetchone()[0]
                if v is not None and v > best:
                    best = int(v)
        return best


def window(conn: sqlite3.Connection, hours: float | None, now_ms: int | None,
           since_ms: int | None = None) -> tuple[int, int]:
    """(since_ms, now_ms) for a helper's arguments; see the module docstring."""
    now = latest_ts_ms(conn) if now_ms is None else int(now_ms)
    if since_ms is not None:
        return int(since_ms), now
    if hours is None:
        return 0, now
    return now - int(round(hours * HOUR_MS)), now


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if not den else (num or 0) / den


_PNL_COLS = ("position", "avg_entry", "mid", "realized_usd", "unrealized_usd", "fees_usd", "funding_usd",
             "total_usd", "volume_usd", "ts_ms")


def latest_pnl_row(conn: sqlite3.Connection, bot_id: str, coin: str, at_ms: int) -> dict | None:
    """The newest pnl_tracking row of (bot, coin) at or before ``at_ms``, as a dict, or None."""
    r = conn.execute(f"SELECT {', '.join(_PNL_COLS)} FROM pnl_tracking WHERE bot_id=? AND coin=? AND ts_ms<=? "
                     "ORDER BY ts_ms DESC, id DESC LIMIT 1", (bot_id, coin, at_ms)).fetchone()
    return dict(zip(_PNL_COLS, r, strict=True)) if r else None


def fill_aggregates(conn: sqlite3.Connection, bot_id: str, coin: str | None, since_ms: int,
                    now_ms: int) -> dict:
    """Counts and sums of a bot's fills (one coin, or all with coin=None) in [since_ms, now_ms]."""
    sql = ("SELECT COUNT(*), COALESCE(SUM(maker),0), COALESCE(SUM(notional_usd),0), "
           "COALESCE(SUM(CASE WHEN maker=1 THEN notional_usd ELSE 0 END),0), COALESCE(SUM(fee_usd),0), "
           "COALESCE(SUM(side='buy'),0), COALESCE(SUM(side='sell'),0), "
           "COALESCE(SUM(CASE side WHEN 'buy' THEN size ELSE -size END),0) "
           "FROM fills WHERE bot_id=? AND ts_ms BETWEEN ? AND ?")
    args: list = [bot_id, since_ms, now_ms]
    if coin is not None:
        sql += " AND coin=?"
        args.append(coin)
    n, maker, notional, maker_notional, fees, buys, sells, net = conn.execute(sql, args).fetchone()
    return {"fills": n, "maker_fills": maker, "buy_fills": buys, "sell_fills": sells, "volume_usd": notional,
            "maker_volume_usd": maker_notional, "fill_fees_usd": fees, "net_size": net}


def order_counts(conn: sqlite3.Connection, bot_id: str, coin: str | None, since_ms: int, now_ms: int) -> dict:
    """Placements and cancels from the trades table in [since_ms, now_ms]."""
    sql = ("SELECT COALESCE(SUM(kind='place'),0), COALESCE(SUM(kind='cancel'),0) FROM trades "
           "WHERE bot_id=? AND ts_ms BETWEEN ? AND ?")
    args: list = [bot_id, since_ms, now_ms]
    if coin is not None:
        sql += " AND coin=?"
        args.append(coin)
    placements, cancels = conn.execute(sql, args).fetchone()
    return {"placements": placements, "cancels": cancels}


def bot_coins(conn: sqlite3.Connection, bot_id: str) -> list[str]:
    """Coins a bot has data for (config coins, pnl_tracking, fills, orders; else snapshots), sorted."""
    import json

    coins: set[str] = set()
    row = conn.execute("SELECT config_json FROM bots WHERE bot_id=?", (bot_id,)).fetchone()
    if row:
        try:
            cfg = json.loads(row[0])
            if isinstance(cfg, dict) and isinstance(cfg.get("coins"), list):
                coins.update(str(c) for c in cfg["coins"])
        except ValueError:
            pass
    for table in ("pnl_tracking", "fills", "orders"):
        coins.update(r[0] for r in conn.execute(f"SELECT DISTINCT coin FROM {table} WHERE bot_id=?", (bot_id,)))
    if not coins:  # the snapshot table is the biggest: only looked at when nothing else names a coin
        coins.update(r[0] for r in conn.execute("SELECT DISTINCT coin FROM orderbook_snapshots WHERE bot_id=?",
                                                (bot_id,)))
    return sorted(coins)


def get_coin_pnl_summary(db, bot_id: str, coin: str, hours: float | None = 24, now_ms: int | None = None,
                         since_ms: int | None = None) -> dict:
    """PnL of one bot and coin: the latest pnl_tracking row plus fill aggregates over the window.

    Keys: ``realized_usd, unrealized_usd, fees_usd, funding_usd, total_usd`` (cumulative, latest row
    at or before now_ms; 0 when there is none), ``position, avg_entry, mid, notional_usd``
    (position * mid), ``pnl_ts_ms`` (that row's time, None if none), ``total_change_usd,
    realized_change_usd, fees_change_usd, funding_change_usd`` (latest minus the row at the
    window start), and from fills in the window ``fills, maker_fills, buy_fills, sell_fills,
    volume_usd, fill_fees_usd``; plus ``since_ms, now_ms``.
    """
    with connect(db) as conn:
        since, now = window(conn, hours, now_ms, since_ms)
        last = latest_pnl_row(conn, bot_id, coin, now)
        base = latest_pnl_row(conn, bot_id, coin, since - 1) if since > 0 else None
        agg = fill_aggregates(conn, bot_id, coin, since, now)
    out = {"bot_id": bot_id, "coin": coin, "since_ms": since, "now_ms": now}
    for k in ("realized_usd", "unrealized_usd", "fees_usd", "funding_usd", "total_usd", "position", "avg_entry",
              "mid"):
        out[k] = last[k] if last else 0.0
    out["notional_usd"] = out["position"] * out["mid"]
    out["pnl_ts_ms"] = last["ts_ms"] if last else None
    for k in ("total_usd", "realized_usd", "fees_usd", "funding_usd", "unrealized_usd"):
        out[k.replace("_usd", "_change_usd")] = out[k] - (base[k] if base else 0.0)
    out.update({k: agg[k] for k in ("fills", "maker_fills", "buy_fills", "sell_fills", "volume_usd",
                                     "fill_fees_usd")})
    return out


def get_bot_performance_summary(db, bot_id: str, hours: float | None = 24, now_ms: int | None = None,
                                since_ms: int | None = None) -> dict:
    """Per coin and in total for one bot over the window.

    Returns ``{"bot_id", "since_ms", "now_ms", "coins": [row, ...], "totals": row}``; each row has
    ``coin, fills, maker_fills, maker_ratio, maker_ratio_notional, placements, cancels,
    cancels_per_fill, volume_usd, fees_usd`` (fees of the window's fills), ``pnl_usd``
    (cumulative total_usd of the latest pnl row), ``pnl_change_usd`` (its change over the
    window), ``realized_usd, unrealized_usd, funding_usd, position``. Ratios are None without
    fills. Totals sum the coins (position is left None: units differ per coin).
    """
    with connect(db) as conn:
        since, now = window(conn, hours, now_ms, since_ms)
        rows = []
        for coin in bot_coins(conn, bot_id):
            agg = fill_aggregates(conn, bot_id, coin, since, now)
            oc = order_counts(conn, bot_id, coin, since, now)
            pnl = get_coin_pnl_summary(conn, bot_id, coin, now_ms=now, since_ms=since)
            rows.append({
                "coin": coin, "fills": agg["fills"], "maker_fills": agg["maker_fills"],
                "maker_ratio": _ratio(agg["maker_fills"], agg["fills"]),
                "maker_ratio_notional": _ratio(agg["maker_volume_usd"], agg["volume_usd"]),
                "placements": oc["placements"], "cancels": oc["cancels"],
                "cancels_per_fill": _ratio(oc["cancels"], agg["fills"]),
                "volume_usd": agg["volume_usd"], "maker_volume_usd": agg["maker_volume_usd"],
                "fees_usd": agg["fill_fees_usd"], "pnl_usd": pnl["total_usd"],
                "pnl_change_usd": pnl["total_change_usd"], "realized_usd": pnl["realized_usd"],
                "unrealized_usd": pnl["unrealized_usd"], "funding_usd": pnl["funding_usd"],
                "position": pnl["position"],
            })
    tot: dict = {"coin": "TOTAL"}
    for k in ("fills", "maker_fills", "placements", "cancels", "volume_usd", "maker_volume_usd", "fees_usd",
              "pnl_usd", "pnl_change_usd", "realized_usd", "unrealized_usd", "funding_usd"):
        tot[k] = sum(r[k] for r in rows)
    tot["maker_ratio"] = _ratio(tot["maker_fills"], tot["fills"])
    tot["maker_ratio_notional"] = _ratio(tot["maker_volume_usd"], tot["volume_usd"])
    tot["cancels_per_fill"] = _ratio(tot["cancels"], tot["fills"])
    tot["position"] = None
    return {"bot_id": bot_id, "since_ms": since, "now_ms": now, "coins": rows, "totals": tot}


_EVENT_COLS = ("id", "bot_id", "coin", "kind", "severity", "message", "details_json", "ts_ms")


def get_recent_system_events(db, bot_id: str | None, hours: float | None = 24,
                             severity: str | Iterable[str] | None = None, now_ms: int | None = None,
                             since_ms: int | None = None, kinds: Iterable[str] | None = None,
                             include_process: bool = False, limit: int | None = None) -> list[dict]:
    """system_events rows of a bot in the window, newest first, as dicts.

    ``bot_id=None`` returns every bot's and the process-wide events; ``include_process=True``
    adds process-wide rows (bot_id NULL) to one bot's. ``severity`` is one level or several
    (exact match); ``kinds`` restricts the event kinds; ``limit`` caps the number of rows.
    """
    with connect(db) as conn:
        since, now = window(conn, hours, now_ms, since_ms)
        sql = f"SELECT {', '.join(_EVENT_COLS)} FROM system_events WHERE ts_ms BETWEEN ? AND ?"
        args: list = [since, now]
        if bot_id is not None:
            sql += " AND (bot_id=? OR bot_id IS NULL)" if include_process else " AND bot_id=?"
            args.append(bot_id)
        if severity is not None:
            sev = [severity] if isinstance(severity, str) else list(severity)
            sql += f" AND severity IN ({','.join('?' * len(sev))})"
            args += sev
        if kinds is not None:
            ks = list(kinds)
            sql += f" AND kind IN ({','.join('?' * len(ks))})"
            args += ks
        sql += " ORDER BY ts_ms DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [dict(zip(_EVENT_COLS, r, strict=True)) for r in conn.execute(sql, args)]


def get_ti_summary(db, bot_id: str, coin: str, hours: float | None = 24, now_ms: int | None = None,
                   since_ms: int | None = None) -> dict:
    """Trading-intensity / execution-quality summary of one bot and coin over the window.

    From fills: ``fills, maker_fills, maker_ratio`` (by count), ``maker_ratio_notional``,
    ``volume_usd``, ``slippage_bps`` (mean over fills, see the module docstring),
    ``slippage_bps_notional`` (notional-weighted), ``maker_slippage_bps``, ``taker_slippage_bps``,
    ``spread_bps_at_fill`` (mean of fills.spread_bps_at_fill), ``spread_bps_at_fill_max``.
    From the per-minute performance_metrics rows (window_s = 60; longer rolling-window rows
    overlap and are not summed) whose minute ends in the window: ``metric_windows``,
    ``placements``, ``cancels``, ``metric_fills``, ``metric_maker_ratio`` (sum maker_fills / sum
    fills), ``cancels_per_fill`` (sum cancels / sum fills). When the window has no metrics rows
    the placements and cancels come from the trades table and ``cancels_per_fill`` uses the
    fills count; ``cancels_source`` says which ("performance_metrics" or "trades").

    When the database has the later TI columns of performance_metrics (schema version 2) the
    result also has: ``markout_1s_bps, markout_10s_bps, markout_60s_bps`` (the minutes' values
    weighted by their volume_usd, over minutes where defined: approximate, since a minute carries
    few of its own 60 s markouts), ``two_sided_share`` and ``rest_ms_median_avg`` (means of the
    minutes' values), ``ti_score`` and ``ti_score_window_s`` (the newest non-NULL score in the
    window, of any window length, the longest window first at equal times).
    """
    with connect(db) as conn:
        since, now = window(conn, hours, now_ms, since_ms)
        agg = fill_aggregates(conn, bot_id, coin, since, now)
        slip = ("(CASE side WHEN 'buy' THEN 1.0 ELSE -1.0 END) * (price - mid_at_fill) / mid_at_fill * 10000.0")
        s_all, s_w, s_maker, s_taker, spread, spread_max = conn.execute(
            f"SELECT AVG({slip}), SUM({slip} * notional_usd) / NULLIF(SUM(notional_usd), 0), "
            f"AVG(CASE WHEN maker=1 THEN {slip} END), AVG(CASE WHEN maker=0 THEN {slip} END), "
            "AVG(spread_bps_at_fill), MAX(spread_bps_at_fill) "
            "FROM fills WHERE bot_id=? AND coin=? AND ts_ms BETWEEN ? AND ? AND mid_at_fill > 0",
            (bot_id, coin, since, now)).fetchone()
        n_win, m_fills, m_maker, placements, cancels = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(fills),0), COALESCE(SUM(maker_fills),0), COALESCE(SUM(placements),0), "
            "COALESCE(SUM(cancels),0) FROM performance_metrics WHERE bot_id=? AND coin=? AND window_s=? "
            "AND ts_ms BETWEEN ? AND ?", (bot_id, coin, MINUTE_WINDOW_S, since, now)).fetchone()
        extras = _metric_extras(conn, bot_id, coin, since, now)
        if n_win:
            source, cpf = "performance_metrics", _ratio(cancels, m_fills)
        else:
            oc = order_counts(conn, bot_id, coin, since, now)
            placements, cancels = oc["placements"], oc["cancels"]
            source, cpf = "trades", _ratio(cancels, agg["fills"])
    return {
        "bot_id": bot_id, "coin": coin, "since_ms": since, "now_ms": now,
        "fills": agg["fills"], "maker_fills": agg["maker_fills"],
        "maker_ratio": _ratio(agg["maker_fills"], agg["fills"]),
        "maker_ratio_notional": _ratio(agg["maker_volume_usd"], agg["volume_usd"]),
        "volume_usd": agg["volume_usd"],
        "slippage_bps": s_all, "slippage_bps_notional": s_w, "maker_slippage_bps": s_maker,
        "taker_slippage_bps": s_taker, "spread_bps_at_fill": spread, "spread_bps_at_fill_max": spread_max,
        "metric_windows": n_win, "metric_fills": m_fills,
        "metric_maker_ratio": _ratio(m_maker, m_fills) if n_win else None,
        "placements": placements, "cancels": cancels, "cancels_per_fill": cpf, "cancels_source": source,
        **extras,
    }


_MARKOUTS = ("markout_1s_bps", "markout_10s_bps", "markout_60s_bps")


def _metric_extras(conn: sqlite3.Connection, bot_id: str, coin: str, since: int, now: int) -> dict:
    """TI columns of performance_metrics newer than the first schema, when the file has them."""
    have = {r[1] for r in conn.execute("PRAGMA table_info(performance_metrics)")}
    out: dict = {}
    args = (bot_id, coin, MINUTE_WINDOW_S, since, now)
    where = "WHERE bot_id=? AND coin=? AND window_s=? AND ts_ms BETWEEN ? AND ?"
    for col in _MARKOUTS:
        if col in have:
            out[col] = conn.execute(
                f"SELECT SUM({col} * volume_usd) / NULLIF(SUM(CASE WHEN {col} IS NOT NULL THEN volume_usd END), 0) "
                f"FROM performance_metrics {where}", args).fetchone()[0]
    for col, name in (("two_sided_share", "two_sided_share"), ("rest_ms_median", "rest_ms_median_avg")):
        if col in have:
            out[name] = conn.execute(f"SELECT AVG({col}) FROM performance_metrics {where}", args).fetchone()[0]
    if "ti_score" in have:
        r = conn.execute("SELECT ti_score, window_s, ts_ms FROM performance_metrics WHERE bot_id=? AND coin=? "
                         "AND ts_ms BETWEEN ? AND ? AND ti_score IS NOT NULL ORDER BY ts_ms DESC, window_s DESC "
                         "LIMIT 1", (bot_id, coin, since, now)).fetchone()
        out["ti_score"], out["ti_score_window_s"] = (r[0], r[1]) if r else (None, None)
    return out


def latest_rate_limit_usage(db, now_ms: int | None = None) -> list[dict]:
    """The newest rate_limit_usage row at or before now_ms per (venue, account, bucket)."""
    cols = ("venue", "account", "bucket", "used", "capacity", "pct", "critical", "ts_ms")
    with connect(db) as conn:
        now = latest_ts_ms(conn) if now_ms is None else int(now_ms)
        rows = conn.execute(
            f"SELECT {', '.join('r.' + c for c in cols)} FROM rate_limit_usage r JOIN ("
            "  SELECT venue, account, bucket, MAX(ts_ms) AS m FROM rate_limit_usage WHERE ts_ms<=? "
            "  GROUP BY venue, account, bucket) l "
            "ON r.venue=l.venue AND r.account=l.account AND r.bucket=l.bucket AND r.ts_ms=l.m "
            "ORDER BY r.venue, r.account, r.bucket, r.id DESC", (now,)).fetchall()
    out, seen = [], set()
    for r in rows:
        key = r[:3]
        if key not in seen:
            seen.add(key)
            out.append(dict(zip(cols, r, strict=True)))
    return out


def open_orders(db, bot_id: str, coin: str) -> list[dict]:
    """Orders of (bot, coin) whose status is live (pending, open, partially_filled)."""
    cols = ("cloid", "side", "price", "size", "filled", "status", "ts_ms", "updated_ms")
    with connect(db) as conn:
        marks = ",".join("?" * len(LIVE_ORDER_STATUSES))
        rows = conn.execute(
            f"SELECT {', '.join(cols)} FROM orders WHERE status IN ({marks}) AND bot_id=? AND coin=? "
            "ORDER BY side, price DESC", (*LIVE_ORDER_STATUSES, bot_id, coin)).fetchall()
    return [dict(zip(cols, r, strict=True)) for r in rows]


def open_checked(path: str | Path, tables: Iterable[str] = REQUIRED_TABLES) -> sqlite3.Connection:
    """Open an mm_bot database read-only for a script; DbError if missing, not SQLite or lacking tables."""
    conn = open_db(path, readonly=True)
    try:
        require_tables(conn, tables)
    except (DbError, sqlite3.DatabaseError) as e:
        conn.close()
        raise DbError(f"{path}: {e}") from None
    return conn
