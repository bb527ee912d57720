"""The operator scripts (diagnose_trading_status, check_db_schema, report) run as subprocesses.

Databases come from tests.test_queries.build_db; expected values are recomputed here from the
raw rows. The last test checks that the scripts, reading while a writer thread commits rows
continuously in WAL mode, never make a writer transaction wait more than 100 ms.
"""

from __future__ import annotations

import calendar
import csv
import importlib.util
import io
import json
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mm_bot.core.records import BookSnapshotRow, FillRow, PnlRow, SystemEventRow, TradeRow
from mm_bot.store.db import open_db
from mm_bot.store.writer import write_batch
from tests.test_queries import T0, build_db, raw

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = ("diagnose_trading_status", "check_db_schema", "report")
DAY_MS = 86_400_000


def run(script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, f"scripts/{script}.py", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"script_{name}", REPO / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def dbs(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("scripts")
    out = {}
    for name, kw in (("kill", {"kill": True}), ("healthy", {"kill": False}),
                     ("burst", {"kill": False, "error_burst": True})):
        out[name] = d / f"{name}.db"
        out[f"{name}_end"] = build_db(out[name], **kw)["end_ms"]
    junk = d / "junk.db"
    junk.write_bytes(b"definitely not an SQLite file\n" * 200)
    other = d / "other.db"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    c.commit()
    c.close()
    out.update(junk=junk, other=other, missing=d / "nope.db")
    return out


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script):
    r = run(script, "--help")
    assert r.returncode == 0 and "--db" in r.stdout


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("bad", ["missing", "junk", "other"])
def test_bad_database_exits_2(dbs, script, bad):
    r = run(script, "--db", dbs[bad])
    assert r.returncode == 2, r.stdout + r.stderr
    msg = {"missing": "no such database file", "junk": "not an SQLite database",
           "other": "not an mm_bot database"}[bad]
    assert msg in r.stderr and "Traceback" not in r.stderr


def test_check_db_schema(dbs, tmp_path):
    r = run("check_db_schema", "--db", dbs["kill"])
    assert r.returncode == 0, r.stdout + r.stderr
    tables = raw(dbs["kill"], "SELECT name FROM sqlite_master WHERE type='table'")
    for (t,) in tables:
        line = next(ln for ln in r.stdout.splitlines() if ln.startswith(t + " "))
        n = raw(dbs["kill"], f"SELECT COUNT(*) FROM {t}")[0][0]
        assert line.split()[1:3] == ["ok", str(n)]
    broken = tmp_path / "broken.db"
    c = open_db(broken)
    c.execute("DROP TABLE uptime")
    c.execute("ALTER TABLE fills DROP COLUMN counterparty")
    c.commit()
    c.close()
    r = run("check_db_schema", "--db", broken)
    assert r.returncode == 1
    assert "table 'uptime' is missing" in r.stdout and "lacks columns counterparty" in r.stdout
    assert "INVALID" in r.stdout


def test_diagnose_healthy(dbs):
    r = run("diagnose_trading_status", "--db", dbs["healthy"], "--now-ms", dbs["healthy_end"] + 5_000)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().endswith("HEALTHY")
    lines = r.stdout.splitlines()
    assert any(ln.split()[:4] == ["alpha", "hyperliquid", "paper", "running"] for ln in lines)
    # a stopped bot with no problems is healthy; its reason is its stop event
    beta = next(ln for ln in lines if ln.startswith("beta ") and "woofi_pro" in ln)
    assert "stopped" in beta and "stop: bot stopped (duration)" in beta and "OK" in beta


def test_diagnose_values(dbs):
    mod = load_script("diagnose_trading_status")
    path, now = dbs["healthy"], dbs["healthy_end"] + 5_000
    conn = open_db(path, readonly=True)
    try:
        d = mod.diagnose(conn, now, 30)
    finally:
        conn.close()
    midnight = now - now % DAY_MS
    for c in d["coins"]:
        rows = raw(path, "SELECT ts_ms, id, total_usd, position, mid FROM pnl_tracking WHERE bot_id=? AND coin=? "
                         "ORDER BY ts_ms, id", (c["bot_id"], c["coin"]))
        last = [r for r in rows if r[0] <= now][-1]
        before = [r for r in rows if r[0] < midnight]
        assert c["pnl_today_usd"] == pytest.approx(last[2] - (before[-1][2] if before else 0.0))
        assert c["position"] == pytest.approx(last[3]) and c["notional_usd"] == pytest.approx(last[3] * last[4])
        snap = raw(path, "SELECT MAX(ts_ms) FROM orderbook_snapshots WHERE bot_id=? AND coin=?",
                   (c["bot_id"], c["coin"]))[0][0]
        assert c["book_age_s"] == pytest.approx((now - snap) / 1000)
        live = raw(path, "SELECT side FROM orders WHERE bot_id=? AND coin=? AND status IN "
                         "('pending','open','partially_filled')", (c["bot_id"], c["coin"]))
        assert (c["open_bids"], c["open_asks"]) == (sum(s == "buy" for (s,) in live), sum(s == "sell" for (s,) in live))
    alpha_btc = next(c for c in d["coins"] if (c["bot_id"], c["coin"]) == ("alpha", "BTC"))
    out = mod.render(d, 1.0)
    line = next(ln for ln in out.splitlines() if ln.startswith("alpha ") and " BTC " in ln and "/" in ln)
    assert f"{alpha_btc['pnl_today_usd']:,.2f}" in line
    assert [r["venue"] for r in d["rate_limits"]] == ["hyperliquid", "woofi_pro"]
    assert {e["message"] for e in d["errors"]} == {"order rejected by venue", "websocket disconnected",
                                                   "position mismatch"}


def test_diagnose_stale_data(dbs):
    args = ("--db", dbs["healthy"], "--now-ms", dbs["healthy_end"] + 120_000)
    r = run("diagnose_trading_status", *args)
    assert r.returncode == 1
    assert "alpha: BTC: stale data, last book snapshot 120.0 s ago (limit 30 s)" in r.stdout
    assert "beta: " not in r.stdout.split("UNHEALTHY", 1)[1].split("\n", 1)[1]  # stopped: not stale
    r = run("diagnose_trading_status", *args, "--stale-seconds", 300)
    assert r.returncode == 0, r.stdout


def test_diagnose_kill_switch(dbs):
    now = dbs["kill_end"] + 5_000
    r = run("diagnose_trading_status", "--db", dbs["kill"], "--now-ms", now)
    assert r.returncode == 1
    gamma = next(ln for ln in r.stdout.splitlines() if ln.startswith("gamma ") and "hyperliquid" in ln)
    assert "killed" in gamma and "UNHEALTHY" in gamma
    assert "gamma: kill switch tripped at 2025-11-21 00:40:00: kill switch: drawdown 2.1% > 2.0%" in r.stdout
    # the other bots of that file are fine on their own
    assert run("diagnose_trading_status", "--db", dbs["kill"], "--now-ms", now, "--bot", "beta").returncode == 0
    assert run("diagnose_trading_status", "--db", dbs["kill"], "--now-ms", now, "--bot", "alpha").returncode == 0
    # before the kill, gamma was healthy
    r = run("diagnose_trading_status", "--db", dbs["kill"], "--now-ms", T0 + 90 * 60_000, "--bot", "gamma")
    assert r.returncode == 0, r.stdout
    r = run("diagnose_trading_status", "--db", dbs["kill"], "--bot", "nobody")
    assert r.returncode == 2 and "no bot 'nobody'" in r.stderr


def test_diagnose_error_burst(dbs):
    r = run("diagnose_trading_status", "--db", dbs["burst"], "--now-ms", dbs["burst_end"] + 5_000)
    assert r.returncode == 1
    assert "alpha: error burst: 5 error/critical events in the last 5 min" in r.stdout
    # ten minutes later the burst is over (and the data is only stale with a tight limit)
    r = run("diagnose_trading_status", "--db", dbs["burst"], "--now-ms", dbs["burst_end"] + 600_000,
            "--stale-seconds", 900)
    assert r.returncode == 0, r.stdout


def test_diagnose_live_streams(tmp_path):
    """A live venue stream down for more than 15 s while its runner runs is a problem; one that came
    back, or went down with its runner's stop, is not."""
    db = tmp_path / "streams.db"
    end = build_db(db, kill=False)["end_ms"]

    def feed(msg: str, ts: int, **details) -> SystemEventRow:
        return SystemEventRow(None, None, "feed", "info", msg, json.dumps(details), ts)

    c = open_db(db)
    write_batch(c, [feed("hyperliquid market stream connected", end - 60_000, stream="hyperliquid market stream",
                         connection=1),
                    feed("hyperliquid user stream connected", end - 60_000, stream="hyperliquid user stream",
                         connection=1),
                    feed("hyperliquid user stream disconnected (closed (1006))", end - 30_000,
                         stream="hyperliquid user stream", reason="closed (1006)")])
    c.commit()
    c.close()
    r = run("diagnose_trading_status", "--db", db, "--now-ms", end + 5_000, "--stale-seconds", 900)
    assert r.returncode == 1, r.stdout
    assert "hyperliquid user stream down for 35 s: hyperliquid user stream disconnected (closed (1006))" in r.stdout
    assert "hyperliquid market stream  up" in r.stdout
    # Back up: healthy again.
    c = open_db(db)
    write_batch(c, [feed("hyperliquid user stream reconnected (connection 2)", end + 6_000,
                         stream="hyperliquid user stream", connection=2)])
    c.commit()
    c.close()
    r = run("diagnose_trading_status", "--db", db, "--now-ms", end + 10_000, "--stale-seconds", 900)
    assert r.returncode == 0, r.stdout
    # Down at the runner's stop: stopped, not a problem.
    c = open_db(db)
    write_batch(c, [feed("hyperliquid user stream disconnected (stopping)", end + 20_000,
                         stream="hyperliquid user stream", reason="stopping")])
    c.commit()
    c.close()
    r = run("diagnose_trading_status", "--db", db, "--now-ms", end + 60_000, "--stale-seconds", 900)
    assert r.returncode == 0, r.stdout
    assert "stopped" in r.stdout


def test_report_json(dbs):
    path = dbs["kill"]
    r = run("report", "--db", path, "--format", "json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["since_ms"] == 0
    assert {tuple(p) for p in rep["pairs"]} == {("alpha", "BTC"), ("alpha", "ETH"), ("beta", "SOL"), ("gamma", "BTC")}
    for bot, coin in rep["pairs"]:
        days = [d for d in rep["pnl_daily"] if (d["bot_id"], d["coin"]) == (bot, coin)]
        pnl = raw(path, "SELECT ts_ms, total_usd, realized_usd, fees_usd FROM pnl_tracking WHERE bot_id=? AND coin=? "
                        "ORDER BY ts_ms, id", (bot, coin))
        by_day: dict[str, list] = {}
        for row in pnl:
            by_day.setdefault(time.strftime("%Y-%m-%d", time.gmtime(row[0] / 1000)), []).append(row)
        assert [d["day"] for d in days] == sorted(by_day)
        prev_total = prev_fees = 0.0
        for d in days:
            end = by_day[d["day"]][-1]
            assert d["total_usd"] == pytest.approx(end[1] - prev_total)
            assert d["fees_usd"] == pytest.approx(end[3] - prev_fees)
            assert d["end_total_usd"] == pytest.approx(end[1])
            prev_total, prev_fees = end[1], end[3]
            lo = calendar.timegm(time.strptime(d["day"], "%Y-%m-%d")) * 1000
            fl = raw(path, "SELECT COUNT(*), SUM(notional_usd) FROM fills WHERE bot_id=? AND coin=? "
                           "AND ts_ms >= ? AND ts_ms < ?", (bot, coin, lo, lo + DAY_MS))[0]
            tr = raw(path, "SELECT SUM(kind='place'), SUM(kind='cancel') FROM trades WHERE bot_id=? AND coin=? "
                           "AND ts_ms >= ? AND ts_ms < ?", (bot, coin, lo, lo + DAY_MS))[0]
            assert (d["fills"], d["placements"], d["cancels"]) == (fl[0], tr[0], tr[1])
            assert d["volume_usd"] == pytest.approx(fl[1])
        assert sum(d["total_usd"] for d in days) == pytest.approx(pnl[-1][1])
    ti = {(t["bot_id"], t["coin"]): t for t in rep["ti"]}
    n, m = raw(path, "SELECT COUNT(*), SUM(maker) FROM fills WHERE bot_id='alpha' AND coin='ETH'")[0]
    assert ti[("alpha", "ETH")]["fills"] == n and ti[("alpha", "ETH")]["maker_ratio"] == pytest.approx(m / n)
    assert [(e["kind"], e["bot_id"]) for e in rep["events"]] == [("autotune", "alpha"), ("kill", "gamma")]
    totals = [s for s in rep["summary"] if s["coin"] == "TOTAL" and s["bot_id"] == "alpha"][0]
    assert totals["fills"] == raw(path, "SELECT COUNT(*) FROM fills WHERE bot_id='alpha'")[0][0]


def test_report_filters(dbs):
    path = dbs["kill"]
    rep = json.loads(run("report", "--db", path, "--bot", "alpha", "--coin", "ETH", "--hours", 1,
                         "--format", "json").stdout)
    assert rep["pairs"] == [["alpha", "ETH"]]
    assert rep["until_ms"] - rep["since_ms"] == 3_600_000
    n = raw(path, "SELECT COUNT(*) FROM fills WHERE bot_id='alpha' AND coin='ETH' AND ts_ms BETWEEN ? AND ?",
            (rep["since_ms"], rep["until_ms"]))[0][0]
    assert sum(d["fills"] for d in rep["pnl_daily"]) == n == rep["ti"][0]["fills"]
    assert {e["kind"] for e in rep["events"]} == set()  # the autotune event is on BTC, an hour earlier
    rep = json.loads(run("report", "--db", path, "--since", "2025-11-21T00:00:00Z", "--format", "json").stdout)
    assert rep["since_ms"] == T0 + 3_600_000
    assert {d["day"] for d in rep["pnl_daily"]} == {"2025-11-21"}
    assert [e["kind"] for e in rep["events"]] == ["kill"]
    r = run("report", "--db", path, "--since", "2025-11-21", "--hours", 2)
    assert r.returncode == 2 and "not both" in r.stderr


def test_report_table_and_csv(dbs):
    r = run("report", "--db", dbs["kill"])
    assert r.returncode == 0
    assert "PnL by bot, coin and UTC day" in r.stdout and "Kill-switch and autotune events" in r.stdout
    r = run("report", "--db", dbs["kill"], "--format", "csv")
    assert r.returncode == 0
    blocks = {b.split("\n", 1)[0][2:]: b.split("\n", 1)[1] for b in r.stdout.strip().split("\n\n")}
    assert list(blocks) == ["pnl_daily", "summary", "ti", "events"]
    rows = list(csv.DictReader(io.StringIO(blocks["pnl_daily"])))
    assert len(rows) == 7 and rows[0]["bot_id"] == "alpha" and rows[0]["day"] == "2025-11-20"


def test_report_html(dbs, tmp_path):
    from plotly.offline import get_plotlyjs

    out = tmp_path / "report.html"
    r = run("report", "--db", dbs["kill"], "--html", out)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    # plotly.js is inline (no external script), once
    assert "<script src=" not in text
    js = get_plotlyjs()
    assert text.count(js[:200]) == 1 and js[-200:] in text
    # one div per chart
    assert text.count('class="plotly-graph-div"') == 5
    for i in range(1, 6):
        assert f'id="chart-{i}"' in text
    for title in ("Equity", "Inventory", "Quoted spread vs market spread", "Maker ratio and cancels per fill",
                  "Fills on the price path"):
        assert title in text


def test_readers_never_stall_the_wal_writer(tmp_path):
    path = tmp_path / "live.db"
    end = build_db(path, kill=True)["end_ms"]
    lat: list[float] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer():
        rng = random.Random(3)
        t, i, mid = end, 0, 95_000.0
        conn = open_db(path)  # the writer's own connection (WAL, as the bot opens it)
        try:
            while not stop.is_set():
                t += 100
                i += 1
                mid *= 1 + rng.gauss(0, 1e-4)
                batch = [BookSnapshotRow("alpha", "BTC", mid - 5, mid + 5, mid, 10 / mid * 1e4, 3.0, 3.0, 0.0,
                                         "{}", t) for _ in range(20)]
                batch += [TradeRow("alpha", "BTC", "place", "buy", mid - 6, 0.01, f"w{i}", t),
                          FillRow("hyperliquid", f"w{i}", "alpha", "BTC", f"w{i}", "buy", mid - 6, 0.01, 10, 1,
                                  -0.01, mid * 0.01, mid, 1.0, "", t),
                          PnlRow("alpha", "BTC", 0.0, 0, 0.0, mid, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, t),
                          SystemEventRow("alpha", "BTC", "feed", "info", "tick", "{}", t)]
                t0 = time.perf_counter()
                write_batch(conn, batch)
                lat.append(time.perf_counter() - t0)
                time.sleep(0.002)
        except BaseException as e:  # surfaced by the main thread
            errors.append(e)
        finally:
            conn.close()

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    try:
        time.sleep(0.2)
        codes = [
            run("diagnose_trading_status", "--db", path, "--now-ms", end + 5_000).returncode,
            run("report", "--db", path, "--format", "json").returncode,
            run("report", "--db", path, "--html", tmp_path / "r.html").returncode,
            run("check_db_schema", "--db", path).returncode,
            run("diagnose_trading_status", "--db", path).returncode,
        ]
    finally:
        stop.set()
        th.join(10)
    assert not errors, errors
    assert codes[0] == 1 and codes[1] == 0 and codes[2] == 0 and codes[3] == 0 and codes[4] in (0, 1)
    print(f"writer: {len(lat)} commits while the scripts read, max {max(lat) * 1000:.1f} ms")
    assert len(lat) > 50, "the writer must have been committing while the scripts read"
    assert max(lat) < 0.100, f"writer commit stalled {max(lat) * 1000:.1f} ms"
    written = raw(path, "SELECT COUNT(*) FROM fills WHERE fill_id LIKE 'w%'")[0][0]
    assert written == len(lat)
