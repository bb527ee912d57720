"""Trading report of an mm_bot database: PnL by bot, coin and UTC day, TI metrics, order counts, events.

    python scripts/report.py --db hypertrade.db                      # everything, tables
    python scripts/report.py --db hypertrade.db --bot hl-btc --hours 24 --format json
    python scripts/report.py --db hypertrade.db --since 2026-11-20T00:00 --html report.html

Read-only (safe next to a running bot). Sections:

* pnl_daily: per bot, coin and UTC day, from pnl_tracking (cumulative columns) the change over
  the day of realized, unrealized, fees, funding and total PnL (last row of the day minus the
  last row before the day, or before --since for the first day; zero baseline when there is
  none), the end-of-day total and position; from fills the day's fills, maker fills, volume and
  fill fees; from trades the day's placements and cancels.
* summary: per bot and coin over the whole range, mm_bot.store.queries.get_bot_performance_summary.
* ti: per bot and coin, mm_bot.store.queries.get_ti_summary (maker ratio by count and notional,
  cancels per fill, slippage vs mid, spread at fill).
* events: kill-switch and autotune events (system_events kinds 'kill' and 'autotune').

--format table (default) prints tabulate tables; json prints one object with those four keys
plus since_ms/until_ms; csv prints one CSV block per section, each preceded by a line
'# section' and followed by a blank line.

--html OUT.html also writes one self-contained HTML file (plotly.js inline, opens offline) with
the tables and five interactive charts: equity (total PnL), inventory (position), quoted vs
market spread, maker ratio and cancels per fill (the per-minute metrics rows, window_s = 60,
summed per time bucket; rolling-window rows are left out), and fills on
the mid-price path. Long series are bucketed to at most 4000 points (the last row of each time
bucket; sums per bucket for the metrics). The market spread is orderbook_snapshots.spread_bps.
The quoted spread, at each (bucketed) snapshot time t, is (lowest resting ask - highest
resting bid) / snapshot mid * 1e4, where an orders row rests from its ts_ms (creation) until
its updated_ms when its status is terminal (filled, cancelled, rejected) and is still resting
otherwise; there is a gap where a side has no resting order.

Time range: --since ISO (UTC unless an offset is given) or --hours N back from the newest
timestamp in the database; the default is everything. The end is always the newest timestamp.
"""

from __future__ import annotations

import csv
import heapq
import html
import io
import json
import math
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import click  # noqa: E402
from tabulate import tabulate  # noqa: E402

from mm_bot.store import queries as q  # noqa: E402
from mm_bot.store.db import DbError  # noqa: E402

MAX_POINTS = 4000
MAX_FILL_MARKERS = 20000
TERMINAL = ("filled", "cancelled", "rejected")


def iso(ms: int | None) -> str:
    return "" if not ms else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def day_str(day: int) -> str:
    return datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d")


def parse_since(s: str) -> int:
    """ISO date or datetime (UTC when naive, 'Z' accepted) to epoch ms."""
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"not an ISO date/time: {s!r}", param_hint="--since") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def pairs_of(conn: sqlite3.Connection, bot: str | None, coin: str | None) -> list[tuple[str, str]]:
    bots = [r[0] for r in conn.execute("SELECT bot_id FROM bots ORDER BY bot_id")]
    if bot is not None:
        bots = [b for b in bots if b == bot]
    return [(b, c) for b in bots for c in q.bot_coins(conn, b) if coin is None or c == coin]


# ------------------------------------------------------------------ data

_DAY_PNL = ("position", "realized_usd", "unrealized_usd", "fees_usd", "funding_usd", "total_usd")


def pnl_daily(conn: sqlite3.Connection, bot_id: str, coin: str, since: int, until: int) -> list[dict]:
    """Per UTC day rows for one bot and coin (see the module docstring)."""
    ends = {r[0]: dict(zip(_DAY_PNL, r[2:], strict=True)) for r in conn.execute(
        f"SELECT ts_ms / {q.DAY_MS} AS d, MAX(ts_ms), {', '.join(_DAY_PNL)} FROM pnl_tracking "
        "WHERE bot_id=? AND coin=? AND ts_ms BETWEEN ? AND ? GROUP BY d", (bot_id, coin, since, until))}
    fills = {r[0]: r[1:] for r in conn.execute(
        f"SELECT ts_ms / {q.DAY_MS} AS d, COUNT(*), SUM(maker), SUM(notional_usd), SUM(fee_usd) FROM fills "
        "WHERE bot_id=? AND coin=? AND ts_ms BETWEEN ? AND ? GROUP BY d", (bot_id, coin, since, until))}
    orders = {r[0]: r[1:] for r in conn.execute(
        f"SELECT ts_ms / {q.DAY_MS} AS d, SUM(kind='place'), SUM(kind='cancel') FROM trades "
        "WHERE bot_id=? AND coin=? AND ts_ms BETWEEN ? AND ? GROUP BY d", (bot_id, coin, since, until))}
    base = q.latest_pnl_row(conn, bot_id, coin, since - 1) if since > 0 else None
    prev = {k: (base[k] if base else 0.0) for k in _DAY_PNL}
    out = []
    for d in sorted(set(ends) | set(fills) | set(orders)):
        end = ends.get(d, prev)
        nf, nm, vol, ffees = fills.get(d, (0, 0, 0.0, 0.0))
        npl, ncx = orders.get(d, (0, 0))
        row = {"bot_id": bot_id, "coin": coin, "day": day_str(d)}
        for k in ("realized_usd", "unrealized_usd", "fees_usd", "funding_usd", "total_usd"):
            row[k] = end[k] - prev[k]
        row.update({"end_total_usd": end["total_usd"], "end_position": end["position"], "fills": nf,
                    "maker_fills": nm or 0, "volume_usd": vol or 0.0, "fill_fees_usd": ffees or 0.0,
                    "placements": npl or 0, "cancels": ncx or 0})
        out.append(row)
        prev = end
    return out


def collect(conn: sqlite3.Connection, bot: str | None, coin: str | None, since: int, until: int) -> dict:
    """The report's sections as plain data."""
    pairs = pairs_of(conn, bot, coin)
    daily, summary, ti = [], [], []
    for b, c in pairs:
        daily += pnl_daily(conn, b, c, since, until)
        ti.append(q.get_ti_summary(conn, b, c, now_ms=until, since_ms=since))
    for b in sorted({b for b, _ in pairs}):
        perf = q.get_bot_performance_summary(conn, b, now_ms=until, since_ms=since)
        rows = [r for r in perf["coins"] if coin is None or r["coin"] == coin]
        if coin is None:
            rows.append(perf["totals"])
        summary += [{"bot_id": b, **r} for r in rows]
    events = q.get_recent_system_events(conn, bot, now_ms=until, since_ms=since, kinds=("kill", "autotune"),
                                        include_process=True)
    if coin is not None:
        events = [e for e in events if e["coin"] in (None, coin)]
    events.reverse()  # oldest first in a report
    for e in events:
        e["time_utc"] = iso(e["ts_ms"])
    return {"since_ms": since, "until_ms": until, "pairs": [list(p) for p in pairs], "pnl_daily": daily,
            "summary": summary, "ti": ti, "events": events}


# ------------------------------------------------------------------ text output

def _f(v, spec=",.2f"):
    return "-" if v is None else format(v, spec)


def table_sections(rep: dict) -> list[tuple[str, list[str], list[list]]]:
    """(title, headers, rows) for the printed and HTML tables."""
    daily = [[r["bot_id"], r["coin"], r["day"], _f(r["realized_usd"]), _f(r["unrealized_usd"]), _f(r["fees_usd"]),
              _f(r["funding_usd"]), _f(r["total_usd"]), _f(r["end_total_usd"]), _f(r["end_position"], ",.6g"),
              r["fills"], _f(r["volume_usd"], ",.0f"), r["placements"], r["cancels"]] for r in rep["pnl_daily"]]
    summ = [[r["bot_id"], r["coin"], r["fills"], _f(r["maker_ratio"], ".1%"), _f(r["maker_ratio_notional"], ".1%"),
             r["placements"], r["cancels"], _f(r["cancels_per_fill"]), _f(r["volume_usd"], ",.0f"),
             _f(r["fees_usd"]), _f(r["pnl_change_usd"]), _f(r["pnl_usd"])] for r in rep["summary"]]
    ti = [[t["bot_id"], t["coin"], t["fills"], _f(t["maker_ratio"], ".1%"), _f(t["maker_ratio_notional"], ".1%"),
           _f(t["cancels_per_fill"]), _f(t["slippage_bps"]), _f(t["maker_slippage_bps"]),
           _f(t["taker_slippage_bps"]), _f(t["spread_bps_at_fill"]), _f(t.get("markout_10s_bps")),
           _f(t.get("two_sided_share"), ".1%"), _f(t.get("ti_score"), ".0f")] for t in rep["ti"]]
    ev = [[e["time_utc"], e["bot_id"] or "(process)", e["coin"] or "", e["kind"], e["severity"], e["message"]]
          for e in rep["events"]]
    return [
        ("PnL by bot, coin and UTC day (USD; changes over the day)",
         ["bot", "coin", "day", "realized", "unrealized", "fees", "funding", "total", "end total", "end position",
          "fills", "volume", "placements", "cancels"], daily),
        ("Summary over the range", ["bot", "coin", "fills", "maker", "maker $", "placements", "cancels",
                                    "cancels/fill", "volume $", "fill fees $", "PnL change $", "PnL total $"],
         summ),
        ("TI metrics (slippage bps vs mid: + cost, - captured)",
         ["bot", "coin", "fills", "maker", "maker $", "cancels/fill", "slippage", "maker slip", "taker slip",
          "spread@fill bps", "markout 10s bps", "two-sided", "TI score"], ti),
        ("Kill-switch and autotune events", ["time UTC", "bot", "coin", "kind", "severity", "message"], ev),
    ]


def render_table(rep: dict) -> str:
    out = [f"mm_bot report {iso(rep['since_ms']) or 'start'} .. {iso(rep['until_ms'])} UTC"]
    for title, headers, rows in table_sections(rep):
        out += ["", title, tabulate(rows, headers=headers, disable_numparse=True) if rows else "(none)"]
    return "\n".join(out)


def render_csv(rep: dict) -> str:
    buf = io.StringIO()
    for name in ("pnl_daily", "summary", "ti", "events"):
        rows = rep[name]
        buf.write(f"# {name}\n")
        if rows:
            w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        buf.write("\n")
    return buf.getvalue()


# ------------------------------------------------------------------ charts

def _dt(ms_list: list[int]) -> list[datetime]:
    return [datetime.fromtimestamp(m / 1000, UTC) for m in ms_list]


def _bucket_ms(since: int, until: int) -> int:
    return max(1, math.ceil((until - since + 1) / MAX_POINTS))


def _series(conn, table: str, cols: str, bot_id: str, coin: str, since: int, until: int) -> list[tuple]:
    """Last row per time bucket: (ts_ms, *cols), oldest first."""
    lo = conn.execute(f"SELECT MIN(ts_ms) FROM {table} WHERE bot_id=? AND coin=? AND ts_ms BETWEEN ? AND ?",
                      (bot_id, coin, since, until)).fetchone()[0]
    if lo is None:
        return []
    b = _bucket_ms(lo, until)
    return conn.execute(
        f"SELECT MAX(ts_ms), {cols} FROM {table} WHERE bot_id=? AND coin=? AND ts_ms BETWEEN ? AND ? "
        f"GROUP BY ts_ms / {b} ORDER BY 1", (bot_id, coin, since, until)).fetchall()


def quoted_spread(conn, bot_id: str, coin: str, times: list[int], mids: list[float]) -> list[float | None]:
    """Quoted spread in bps at each time (ascending), from the orders rows resting then."""
    if not times:
        return []
    t0, t1 = times[0], times[-1]
    marks = ",".join("?" * len(TERMINAL))
    rows = conn.execute(
        f"SELECT side, price, ts_ms, CASE WHEN status IN ({marks}) THEN updated_ms END FROM orders "
        f"WHERE bot_id=? AND coin=? AND ts_ms<=? AND (status NOT IN ({marks}) OR updated_ms>?) ORDER BY ts_ms",
        (*TERMINAL, bot_id, coin, t1, *TERMINAL, t0)).fetchall()
    ends = sorted((end, i) for i, (_, _, _, end) in enumerate(rows) if end is not None)
    active: set[int] = set()
    bids: list[tuple[float, int]] = []
    asks: list[tuple[float, int]] = []
    out: list[float | None] = []
    si = ei = 0
    for t, mid in zip(times, mids, strict=True):
        while si < len(rows) and rows[si][2] <= t:
            side, price = rows[si][0], rows[si][1]
            heapq.heappush(bids if side == "buy" else asks, (-price if side == "buy" else price, si))
            active.add(si)
            si += 1
        while ei < len(ends) and ends[ei][0] <= t:
            active.discard(ends[ei][1])
            ei += 1
        for h in (bids, asks):
            while h and h[0][1] not in active:
                heapq.heappop(h)
        if bids and asks and mid > 0:
            out.append((asks[0][0] + bids[0][0]) / mid * 1e4)  # ask - bid (bids hold -price)
        else:
            out.append(None)
    return out


def build_figures(conn: sqlite3.Connection, pairs: list[tuple[str, str]], since: int, until: int) -> list:
    """The five plotly figures, titled."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    equity, inventory, spread = go.Figure(), go.Figure(), go.Figure()
    ti = make_subplots(rows=2, cols=1, shared_xaxes=True, subplot_titles=("maker ratio", "cancels per fill"))
    n = max(1, len(pairs))
    price = make_subplots(rows=n, cols=1, shared_xaxes=True, subplot_titles=[f"{b}/{c}" for b, c in pairs] or None)
    for i, (b, c) in enumerate(pairs):
        name = f"{b}/{c}"
        pnl = _series(conn, "pnl_tracking", "total_usd, position", b, c, since, until)
        if pnl:
            x = _dt([r[0] for r in pnl])
            equity.add_trace(go.Scatter(x=x, y=[r[1] for r in pnl], mode="lines", name=name))
            inventory.add_trace(go.Scatter(x=x, y=[r[2] for r in pnl], mode="lines", name=name,
                                           line={"shape": "hv"}))
        snaps = _series(conn, "orderbook_snapshots", "mid, spread_bps", b, c, since, until)
        if snaps:
            ts = [r[0] for r in snaps]
            mids = [r[1] for r in snaps]
            x = _dt(ts)
            spread.add_trace(go.Scatter(x=x, y=[r[2] for r in snaps], mode="lines", name=f"{name} market"))
            spread.add_trace(go.Scatter(x=x, y=quoted_spread(conn, b, c, ts, mids), mode="lines",
                                        name=f"{name} quoted", connectgaps=False))
            price.add_trace(go.Scatter(x=x, y=mids, mode="lines", name=f"{name} mid"), row=i + 1, col=1)
        lo = conn.execute("SELECT MIN(ts_ms) FROM performance_metrics WHERE bot_id=? AND coin=? AND window_s=? "
                          "AND ts_ms BETWEEN ? AND ?", (b, c, q.MINUTE_WINDOW_S, since, until)).fetchone()[0]
        if lo is not None:
            bk = _bucket_ms(lo, until)
            m = conn.execute(
                f"SELECT MAX(ts_ms), SUM(maker_fills), SUM(fills), SUM(cancels) FROM performance_metrics "
                f"WHERE bot_id=? AND coin=? AND window_s=? AND ts_ms BETWEEN ? AND ? GROUP BY ts_ms / {bk} ORDER BY 1",
                (b, c, q.MINUTE_WINDOW_S, since, until)).fetchall()
            x = _dt([r[0] for r in m])
            ti.add_trace(go.Scatter(x=x, y=[r[1] / r[2] if r[2] else None for r in m], mode="lines+markers",
                                    name=f"{name} maker ratio"), row=1, col=1)
            ti.add_trace(go.Scatter(x=x, y=[r[3] / r[2] if r[2] else None for r in m], mode="lines+markers",
                                    name=f"{name} cancels/fill"), row=2, col=1)
        fills = conn.execute("SELECT ts_ms, side, price, size, maker FROM fills WHERE bot_id=? AND coin=? "
                             "AND ts_ms BETWEEN ? AND ? ORDER BY ts_ms", (b, c, since, until)).fetchall()
        for side, symbol, color in (("buy", "triangle-up", "green"), ("sell", "triangle-down", "red")):
            fs = [f for f in fills if f[1] == side]
            if len(fs) > MAX_FILL_MARKERS:
                step = len(fs) / MAX_FILL_MARKERS
                fs = [fs[int(k * step)] for k in range(MAX_FILL_MARKERS)]
            if fs:
                price.add_trace(go.Scatter(
                    x=_dt([f[0] for f in fs]), y=[f[2] for f in fs], mode="markers", name=f"{name} {side}s",
                    marker={"symbol": symbol, "color": color, "size": 8},
                    text=[f"{side} {f[3]:g} @ {f[2]:g} ({'maker' if f[4] else 'taker'})" for f in fs],
                    hoverinfo="x+text"), row=i + 1, col=1)
    equity.update_layout(title="Equity: total PnL (USD, realized + unrealized - fees + funding)",
                         yaxis_title="USD")
    inventory.update_layout(title="Inventory: position (base units)", yaxis_title="position")
    spread.update_layout(title="Quoted spread vs market spread (bps)", yaxis_title="bps")
    ti.update_layout(title="Maker ratio and cancels per fill (performance_metrics, bucketed)")
    price.update_layout(title="Fills on the price path (mid from snapshots)", height=max(400, 300 * n))
    return [equity, inventory, spread, ti, price]


def render_html(rep: dict, figures: list) -> str:
    parts = []
    for i, fig in enumerate(figures):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"chart-{i + 1}"))
    tables = []
    for title, headers, rows in table_sections(rep):
        body = tabulate(rows, headers=headers, tablefmt="html", disable_numparse=True) if rows else "<p>(none)</p>"
        tables.append(f"<h2>{html.escape(title)}</h2>\n{body}")
    span = f"{iso(rep['since_ms']) or 'start'} .. {iso(rep['until_ms'])} UTC"
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mm_bot report</title>\n"
            "<style>body{font-family:sans-serif;margin:1em 2em}table{border-collapse:collapse;font-size:90%}"
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style></head><body>\n"
            f"<h1>mm_bot report</h1><p>{html.escape(span)}</p>\n" + "\n".join(parts) + "\n" + "\n".join(tables)
            + "\n</body></html>\n")


# ------------------------------------------------------------------ CLI

@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", type=click.Path(path_type=Path), required=True, help="mm_bot SQLite file.")
@click.option("--bot", default=None, help="Only this bot id.")
@click.option("--coin", default=None, help="Only this coin.")
@click.option("--since", default=None, help="Start of the range, ISO date/time (UTC unless an offset is given).")
@click.option("--hours", type=float, default=None, help="Range: the last N hours up to the newest data.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--html", "html_out", type=click.Path(path_type=Path), default=None,
              help="Also write a self-contained HTML file with interactive charts (plotly.js inline).")
def main(db_path: Path, bot: str | None, coin: str | None, since: str | None, hours: float | None, fmt: str,
         html_out: Path | None) -> None:
    """PnL by bot, coin and UTC day, TI metrics, order counts, kill and autotune events."""
    if since is not None and hours is not None:
        raise click.UsageError("give --since or --hours, not both")
    since_ms = parse_since(since) if since is not None else None
    try:
        conn = q.open_checked(db_path)
    except DbError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    try:
        until = q.latest_ts_ms(conn)
        if since_ms is None:
            since_ms = 0 if hours is None else until - int(round(hours * q.HOUR_MS))
        rep = collect(conn, bot, coin, since_ms, until)
        figures = build_figures(conn, [tuple(p) for p in rep["pairs"]], since_ms, until) if html_out else None
    except sqlite3.DatabaseError as e:
        click.echo(f"error: {db_path}: {e}", err=True)
        sys.exit(2)
    finally:
        conn.close()
    if fmt == "json":
        click.echo(json.dumps(rep, indent=2, default=str))
    elif fmt == "csv":
        click.echo(render_csv(rep), nl=False)
    else:
        click.echo(render_table(rep))
    if html_out is not None:
        html_out.write_text(render_html(rep, figures))
        click.echo(f"wrote {html_out}", err=True)


if __name__ == "__main__":
    main()
