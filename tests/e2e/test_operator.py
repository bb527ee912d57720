"""End to end for the operator: take_profit.py (and --flatten) on a running paper runner, then
diagnose_trading_status.py and report.py on the database of that real synthetic run and of a replay
of recorded Binance data, their printed values checked against values recomputed from the raw tables.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mm_bot.store.db import open_db
from tests.e2e.conftest import REPO, assert_positions_reconcile, query, run_cli, run_script
from tests.test_queries import build_db

BOT, COIN = "example-mm", "BTC"
REPLAY = REPO.parent / "shared" / "data" / "binance-usdm" / "btcusdt_20240808.gz"
DAY_MS = 86_400_000
TERMINAL = ("filled", "cancelled", "rejected")


def wait_for(pred, timeout: float = 60.0, step: float = 0.2) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return True
        except Exception:  # noqa: BLE001 - the runner may still be creating the file
            pass
        time.sleep(step)
    return False


def position_lots(db: Path) -> int:
    rows = query(db, "SELECT size_lots FROM positions WHERE bot_id=? AND coin=?", (BOT, COIN))
    return rows[0][0] if rows else 0


def signed_lots(db: Path, where: str, params: tuple) -> int:
    return query(db, "SELECT COALESCE(SUM(CASE side WHEN 'buy' THEN size_lots ELSE -size_lots END), 0) FROM fills "
                     f"WHERE {where}", params)[0][0]


@pytest.fixture(scope="module")
def operator_run(tmp_path_factory) -> dict:
    """A paper runner on configs/example-mm.json: once it holds a position, take_profit.py --wait; once it
    holds one again (the bot keeps quoting), take_profit.py --flatten --wait; then kill.py --stop."""
    db = tmp_path_factory.mktemp("operator") / "op.db"
    proc = subprocess.Popen([sys.executable, "-m", "mm_bot.run", "--simulate", "--config", "configs/example-mm.json",
                             "--db", str(db), "--seed", "7"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out: dict = {"db": db}
    t0 = time.monotonic()
    try:
        # The positions table trails the bot by a writer flush: a quote can fill back to flat between the read
        # and the command. The script then finds nothing to do (no event); try again on the next position.
        for _ in range(5):
            assert wait_for(lambda: position_lots(db) != 0, timeout=120), "the runner never held a position"
            out["take_profit"] = run_script("scripts/take_profit.py", "--db", str(db), "--bot", BOT, "--coin", COIN,
                                            "--wait", "10")
            if out["take_profit"].returncode or acted_event(db, "take_profit"):
                break
        for _ in range(5):
            assert wait_for(lambda: position_lots(db) != 0, timeout=120), "no position to flatten"
            out["flatten"] = run_script("scripts/take_profit.py", "--db", str(db), "--bot", BOT, "--coin", COIN,
                                        "--flatten", "--wait", "10")
            if out["flatten"].returncode or acted_event(db, "flatten"):
                break
            # flat when the runner acted, but paused by the flatten all the same: quote again
            assert run_script("scripts/kill.py", "--db", str(db), "--bot", BOT, "--resume", "--wait", "5").returncode == 0
        out["stop"] = run_script("scripts/kill.py", "--db", str(db), "--stop", "--wait", "5")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        out["stderr"] = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    out["returncode"] = proc.returncode
    out["seconds"] = time.monotonic() - t0
    print(f"operator run: {out['seconds']:.1f} s")
    for step in ("take_profit", "flatten"):  # shown with -s, or when a test fails
        if step in out:
            print(f"--- take_profit.py ({step}): exit {out[step].returncode}\n{out[step].stdout}{out[step].stderr}")
    return out


def command_row(db: Path, command: str) -> dict:
    """The newest command row of that kind."""
    rows = query(db, "SELECT id, bot_id, coin, status, result, ts_ms, acted_ms FROM commands WHERE command=? "
                     "ORDER BY id DESC LIMIT 1", (command,))
    assert rows, f"no {command} command"
    return dict(zip(("id", "bot_id", "coin", "status", "result", "ts_ms", "acted_ms"), rows[0], strict=True))


def acted_times(db: Path, cid: int) -> list[int]:
    """When the runner acted on command `cid`: its process-wide 'command' events (one per time it acted)."""
    return [r[0] for r in query(db, "SELECT ts_ms FROM system_events WHERE kind='command' AND bot_id IS NULL "
                                    "AND json_extract(details_json, '$.command_id')=? ORDER BY ts_ms, id", (cid,))]


def acted_event(db: Path, kind: str) -> list[tuple]:
    """The take_profit / flatten event the bot wrote when the runner (first) acted on the newest such command."""
    times = acted_times(db, command_row(db, kind)["id"])
    return query(db, "SELECT severity, message, details_json FROM system_events WHERE kind=? AND bot_id=? "
                     "AND coin=? AND ts_ms=?", (kind, BOT, COIN, times[0] if times else -1))




def test_take_profit_on_demand(operator_run):
    db, r = operator_run["db"], operator_run["take_profit"]
    assert r.returncode == 0, r.stdout + r.stderr
    cmd = command_row(db, "take_profit")
    assert (cmd["bot_id"], cmd["coin"], cmd["status"]) == (BOT, COIN, "done")
    cmd["acted_ms"] = acted_times(db, cmd["id"])[0]  # first act (test_each_command_is_carried_out_once)
    assert cmd["acted_ms"] - cmd["ts_ms"] <= 1000, "the runner must act within a second"
    # The script printed the position first, then the runner's result.
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["bot", "coin", "size", "lots"] and lines[2].split()[:2] == [BOT, COIN]
    first_lots = int(lines[2].split()[3])
    assert first_lots != 0
    assert f"command {cmd['id']}: done: take_profit: {BOT}" in r.stdout
    ev = acted_event(db, "take_profit")
    assert len(ev) == 1, ev
    severity, message, details = ev[0]
    assert "on demand" in message and message in r.stdout
    held = json.loads(details)["position_lots"]
    orders = query(db, "SELECT cloid, side, size_lots, status, filled_lots FROM orders WHERE bot_id=? AND coin=? "
                       "AND tif='ioc' AND ts_ms=?", (BOT, COIN, cmd["acted_ms"]))
    if severity == "info":  # in profit after the taker fee: an IOC at the touch closing the whole position
        assert len(orders) == 1, orders
        cloid, side, lots, status, filled = orders[0]
        assert side == ("sell" if held > 0 else "buy") and lots == abs(held) and status in TERMINAL
        assert signed_lots(db, "cloid=?", (cloid,)) == (-filled if held > 0 else filled)
        assert query(db, "SELECT COUNT(*) FROM fills WHERE cloid=? AND maker=0", (cloid,))[0][0] >= (filled > 0)
    else:  # not in profit: a warning, no order, the position kept
        assert severity == "warning" and "use flatten" in message and orders == []


def test_flatten_closes_at_a_loss_if_need_be(operator_run):
    db, r = operator_run["db"], operator_run["flatten"]
    assert r.returncode == 0, r.stdout + r.stderr
    cmd = command_row(db, "flatten")
    assert (cmd["bot_id"], cmd["coin"], cmd["status"]) == (BOT, COIN, "done")
    cmd["acted_ms"] = acted_times(db, cmd["id"])[0]
    assert cmd["acted_ms"] - cmd["ts_ms"] <= 1000
    assert f"command {cmd['id']}: done: flatten: {BOT}" in r.stdout
    ev = acted_event(db, "flatten")
    assert len(ev) == 1 and ev[0][0] == "info" and "(manual command)" in ev[0][1], (
        ev, query(db, "SELECT * FROM commands"), r.stdout,
        query(db, "SELECT ts_ms, kind, message FROM system_events WHERE kind IN ('flatten', 'pause', 'resume')"))
    held = json.loads(ev[0][2])["position_lots"]
    assert held != 0
    # The bot paused first so its quoter does not rebuild the position.
    assert query(db, "SELECT COUNT(*) FROM system_events WHERE kind='pause' AND bot_id=? AND ts_ms=?",
                 (BOT, cmd["acted_ms"]))[0][0] == 1
    orders = query(db, "SELECT cloid, side, size_lots, status, filled_lots FROM orders WHERE bot_id=? AND coin=? "
                       "AND tif='ioc' AND ts_ms=?", (BOT, COIN, cmd["acted_ms"]))
    assert len(orders) == 1, orders
    cloid, side, lots, status, filled = orders[0]
    assert (side, lots, status, filled) == ("sell" if held > 0 else "buy", abs(held), "filled", abs(held))
    assert signed_lots(db, "cloid=?", (cloid,)) == -held
    # The script waited for the fill and printed the position after: flat, unless a quote that was being
    # cancelled filled in the meantime.
    others = signed_lots(db, "bot_id=? AND coin=? AND ts_ms>=? AND cloid<>?", (BOT, COIN, cmd["acted_ms"], cloid))
    after = r.stdout.split(f"command {cmd['id']}: done", 1)[1]
    if others == 0:
        assert re.search(rf"^{BOT}\s+{COIN}\s+flat\s+0\s", after, re.M), after
        assert position_lots(db) == 0
    assert f"resume it with scripts/kill.py --bot {BOT} --resume" in r.stdout


def test_take_profit_closes_a_position_in_profit(tmp_path):
    """The closing path of the on-demand take profit. A fresh maker fill is at a loss against the touch
    after the 4.5 bps taker fee, and waiting for the synthetic market to pay it takes a minute, so this
    run uses example-mm.json with a 5 bps paper rebate on maker and taker fills: right after a fill,
    closing at the touch is in profit after fees. The bot is paused (its position frozen) and
    take_profit.py runs, again if the touch moved before the runner's IOC reached the venue."""
    cfg = json.loads((REPO / "configs" / "example-mm.json").read_text())
    cfg["paper"].update(maker_fee_bps=-5.0, taker_fee_bps=-5.0)
    config = tmp_path / "example-mm-rebate.json"
    config.write_text(json.dumps(cfg))
    db = tmp_path / "tp.db"
    proc = subprocess.Popen([sys.executable, "-m", "mm_bot.run", "--simulate", "--config", str(config), "--db",
                             str(db), "--seed", "7"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    tries: list[subprocess.CompletedProcess] = []
    try:
        t0 = time.monotonic()
        assert wait_for(lambda: position_lots(db) != 0, timeout=120), "the runner never held a position"
        r = run_script("scripts/kill.py", "--db", str(db), "--pause", "--wait", "5")
        assert r.returncode == 0, r.stdout + r.stderr
        time.sleep(0.5)  # fills racing the pause's cancels land
        held = position_lots(db)
        assert held != 0
        entry = query(db, "SELECT avg_entry FROM positions WHERE bot_id=? AND coin=?", (BOT, COIN))[0][0]
        closed = None
        while closed is None and len(tries) < 10:
            r = run_script("scripts/take_profit.py", "--db", str(db), "--bot", BOT, "--coin", COIN, "--wait", "10")
            tries.append(r)
            assert r.returncode == 0, r.stdout + r.stderr
            cmd = command_row(db, "take_profit")
            assert cmd["status"] == "done"
            cmd = (cmd["id"], acted_times(db, cmd["id"])[0])
            ev = query(db, "SELECT severity, details_json FROM system_events WHERE kind='take_profit' AND "
                           "bot_id=? AND coin=? AND ts_ms=?", (BOT, COIN, cmd[1]))
            assert len(ev) == 1, ev
            if ev[0][0] == "info":  # an IOC at the touch was sent; it misses if the touch moved meanwhile
                o = query(db, "SELECT cloid, side, size_lots, status, filled_lots FROM orders WHERE bot_id=? "
                              "AND coin=? AND tif='ioc' AND ts_ms=?", (BOT, COIN, cmd[1]))
                assert len(o) == 1 and o[0][3] in TERMINAL, o
                if o[0][3] == "filled":
                    closed = (r, json.loads(ev[0][1]), held, o[0])
                held = position_lots(db)
            else:
                time.sleep(0.5)
        assert closed is not None, f"no take profit in {len(tries)} tries:\n" + "\n".join(t.stdout for t in tries)
        r, details, held, (cloid, side, lots, status, filled) = closed
        assert details["position_lots"] == held and details["avg_entry"] == pytest.approx(entry)
        assert (side, lots, filled) == ("sell" if held > 0 else "buy", abs(held), abs(held))
        fills = query(db, "SELECT price, size_lots, maker, fee_usd FROM fills WHERE cloid=?", (cloid,))
        assert sum(f[1] for f in fills) == abs(held) and all(f[2] == 0 for f in fills)
        size = query(db, "SELECT size FROM fills WHERE cloid=?", (cloid,))
        gain = sum((1 if held > 0 else -1) * (f[0] - entry) * sz - f[3] for f, (sz,) in zip(fills, size, strict=True))
        assert gain >= 0, f"take profit closed at a loss after fees: {fills} vs entry {entry}"
        # Paused: nothing else traded, so the position is flat, and the script printed it so.
        assert position_lots(db) == 0
        after = r.stdout.split(": done: take_profit", 1)[1]
        assert re.search(rf"^{BOT}\s+{COIN}\s+flat\s+0\s", after, re.M), r.stdout
        assert "taker" in after  # the fills table of the exit order
        print(f"take profit after {len(tries)} tries, {time.monotonic() - t0:.1f} s: {fills} vs entry {entry}")
        r = run_script("scripts/kill.py", "--db", str(db), "--stop", "--wait", "5")
        assert r.returncode == 0, r.stdout + r.stderr
        proc.wait(timeout=60)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        proc.stderr.close()
    assert_positions_reconcile(db)


def test_each_command_is_carried_out_once(operator_run):
    """A take profit or flatten acted on twice sends a second exit order. The runner marks a command done
    through its async writer; its next poll must not read the row as new again meanwhile."""
    db = operator_run["db"]
    for cid, command in query(db, "SELECT id, command FROM commands ORDER BY id"):
        times = acted_times(db, cid)
        assert len(times) == 1, (
            f"the runner acted {len(times)} times on command {cid} {command} (at {times}): "
            "runner._command_task re-read the row before the writer committed its status")


def test_runner_stopped_cleanly_and_positions_reconcile(operator_run):
    db = operator_run["db"]
    assert operator_run["stop"].returncode == 0, operator_run["stop"].stdout + operator_run["stop"].stderr
    assert operator_run["returncode"] == 0, operator_run["stderr"][-3000:]
    stop = query(db, "SELECT message FROM system_events WHERE kind='stop' AND bot_id IS NULL")
    assert "command stop" in stop[-1][0] and "open paper orders: 0" in stop[-1][0]
    assert query(db, "SELECT COUNT(*) FROM commands WHERE status='new'") == [(0,)]
    assert_positions_reconcile(db)


def test_take_profit_script_refusals(operator_run, tmp_path):
    db = operator_run["db"]
    r = run_script("scripts/take_profit.py", "--help")
    assert r.returncode == 0 and "--flatten" in r.stdout and "--wait" in r.stdout
    before = query(db, "SELECT COUNT(*) FROM commands")
    cases = [
        (("--db", str(tmp_path / "missing.db"), "--bot", BOT, "--coin", COIN), "no such database file"),
        (("--db", str(db), "--bot", "nobody", "--coin", COIN), "no bot 'nobody' in the bots table"),
        (("--db", str(db), "--bot", BOT, "--coin", "ETH"), f"bot '{BOT}' does not trade 'ETH' (its coins: BTC)"),
        (("--db", str(db), "--bot", BOT, "--coin", COIN, "--flatten"), f"bot '{BOT}' is stopped"),
        (("--db", str(db), "--coin", COIN), "Missing option '--bot'"),
    ]
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not an sqlite file\n" * 100)
    cases.append((("--db", str(junk), "--bot", BOT, "--coin", COIN), "not an SQLite database"))
    other = tmp_path / "other.db"
    subprocess.run([sys.executable, "-c", f"import sqlite3; c = sqlite3.connect({str(other)!r}); "
                    "c.execute('CREATE TABLE notes (x)'); c.commit()"], check=True)
    cases.append((("--db", str(other), "--bot", BOT, "--coin", COIN), "not an mm_bot database"))
    for args, msg in cases:
        r = run_script("scripts/take_profit.py", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert msg in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert query(db, "SELECT COUNT(*) FROM commands") == before, "a refused command must not be written"


def test_take_profit_without_a_runner_is_withdrawn(tmp_path):
    """No runner acts: without --wait the command is left for it; with --wait it is withdrawn at the end."""
    db = tmp_path / "idle.db"
    build_db(db, kill=False)  # bot 'alpha' (BTC, ETH) has status running, but no runner is attached
    r = run_script("scripts/take_profit.py", "--db", str(db), "--bot", "alpha", "--coin", "ETH")
    assert r.returncode == 0, r.stderr
    assert query(db, "SELECT bot_id, coin, command, status FROM commands") == [("alpha", "ETH", "take_profit", "new")]
    t0 = time.monotonic()
    r = run_script("scripts/take_profit.py", "--db", str(db), "--bot", "alpha", "--coin", "BTC", "--flatten",
                   "--wait", "0.5")
    assert r.returncode == 1 and "not acted on within 0.5 s" in r.stderr and "withdrawn" in r.stderr
    assert time.monotonic() - t0 < 10
    row = query(db, "SELECT command, coin, status, result FROM commands WHERE command='flatten'")[0]
    assert row[:3] == ("flatten", "BTC", "failed") and row[3].startswith("withdrawn")
    # the position was printed first
    assert r.stdout.splitlines()[0].split()[:4] == ["bot", "coin", "size", "lots"]
    alpha_btc = query(db, "SELECT size_lots FROM positions WHERE bot_id='alpha' AND coin='BTC'")
    if alpha_btc:
        assert r.stdout.splitlines()[2].split()[3] == str(alpha_btc[0][0])


# ------------------------------------------------------------------ reports on real runs

def _num(tok: str) -> float:
    return float(tok.replace(",", "").rstrip("%"))


def _section(text: str, start: str, end: str) -> list[str]:
    return text.split(start, 1)[1].split(end, 1)[0].splitlines()


def check_reports(db: Path, tmp_path: Path) -> dict:
    """Run diagnose_trading_status.py and report.py on `db`; compare their values with the raw tables."""
    conn = open_db(db, readonly=True)
    try:
        raw = conn.execute
        now = max(raw(f"SELECT COALESCE(MAX(ts_ms), 0) FROM {t}").fetchone()[0]
                  for t in ("fills", "orderbook_snapshots", "pnl_tracking", "performance_metrics", "system_events",
                            "trades", "orders", "bots")) + 1000
        pairs = [(b, c) for b, cfg in raw("SELECT bot_id, config_json FROM bots ORDER BY bot_id")
                 for c in sorted(json.loads(cfg)["coins"])]
        midnight = now - now % DAY_MS
        exp = {}
        for b, c in pairs:
            n, maker, vol, fees = raw("SELECT COUNT(*), COALESCE(SUM(maker), 0), COALESCE(SUM(notional_usd), 0), "
                                      "COALESCE(SUM(fee_usd), 0) FROM fills WHERE bot_id=? AND coin=?",
                                      (b, c)).fetchone()
            today = raw("SELECT COUNT(*) FROM fills WHERE bot_id=? AND coin=? AND ts_ms BETWEEN ? AND ?",
                        (b, c, midnight, now)).fetchone()[0]
            pnl = raw("SELECT position, total_usd FROM pnl_tracking WHERE bot_id=? AND coin=? ORDER BY ts_ms DESC, "
                      "id DESC LIMIT 1", (b, c)).fetchone()
            places, cancels = raw("SELECT COALESCE(SUM(kind='place'), 0), COALESCE(SUM(kind='cancel'), 0) FROM trades "
                                  "WHERE bot_id=? AND coin=?", (b, c)).fetchone()
            exp[(b, c)] = {"fills": n, "maker": maker, "volume": vol, "fees": fees, "today": today,
                           "position": pnl[0], "total": pnl[1], "placements": places, "cancels": cancels}
    finally:
        conn.close()
    assert pairs and sum(e["fills"] for e in exp.values()) > 0, "the run must have fills"

    # diagnose_trading_status: the coins table (fills today, position) and the TI table (fills, maker ratio).
    d = run_script("scripts/diagnose_trading_status.py", "--db", str(db), "--now-ms", str(now), "--ti-hours", "24")
    assert d.returncode == 0, d.stdout + d.stderr  # a finished run: its bots stopped cleanly, healthy
    assert d.stdout.rstrip().endswith("HEALTHY")
    coins = _section(d.stdout, "Coins (", "Trading intensity (")
    ti = _section(d.stdout, "Trading intensity (", "Rate limits")
    for (b, c), e in exp.items():
        row = next(ln.split() for ln in coins if ln.split()[:2] == [b, c])
        assert int(row[9]) == e["today"], row
        assert _num(row[7]) == pytest.approx(e["position"], rel=1e-5, abs=1e-12), row
        row = next(ln.split() for ln in ti if ln.split()[:2] == [b, c])
        assert int(row[2]) == e["fills"]
        if e["fills"]:
            assert row[3] == f"{e['maker'] / e['fills']:.1%}"
        assert bool(re.search(rf"^{re.escape(b)}\s+\S+\s+paper\s+stopped\s", d.stdout, re.M)), d.stdout

    # report.py --format json: summary, daily PnL and TI against the raw tables.
    r = run_script("scripts/report.py", "--db", str(db), "--format", "json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert {tuple(p) for p in rep["pairs"]} == set(pairs)
    summ = {(s["bot_id"], s["coin"]): s for s in rep["summary"]}
    for (b, c), e in exp.items():
        s = summ[(b, c)]
        assert (s["fills"], s["maker_fills"], s["placements"], s["cancels"]) == (
            e["fills"], e["maker"], e["placements"], e["cancels"])
        assert s["volume_usd"] == pytest.approx(e["volume"])
        assert s["fees_usd"] == pytest.approx(e["fees"], abs=1e-9)
        assert s["pnl_usd"] == pytest.approx(e["total"], abs=1e-9)
        days = [x for x in rep["pnl_daily"] if (x["bot_id"], x["coin"]) == (b, c)]
        assert sum(x["fills"] for x in days) == e["fills"]
        assert sum(x["volume_usd"] for x in days) == pytest.approx(e["volume"])
        assert sum(x["fill_fees_usd"] for x in days) == pytest.approx(e["fees"], abs=1e-9)
        assert sum(x["total_usd"] for x in days) == pytest.approx(e["total"], abs=1e-9)
        t = next(x for x in rep["ti"] if (x["bot_id"], x["coin"]) == (b, c))
        assert t["fills"] == e["fills"] and t["volume_usd"] == pytest.approx(e["volume"])
    for b in {b for b, _ in pairs}:
        tot = summ[(b, "TOTAL")]
        mine = [e for (bb, _), e in exp.items() if bb == b]
        assert tot["fills"] == sum(e["fills"] for e in mine)
        assert tot["fees_usd"] == pytest.approx(sum(e["fees"] for e in mine), abs=1e-9)

    # report.py table: the printed summary line carries the same fills, volume and fees.
    r = run_script("scripts/report.py", "--db", str(db))
    assert r.returncode == 0, r.stderr
    summary = _section(r.stdout, "Summary over the range", "TI metrics")
    for (b, c), e in exp.items():
        row = next(ln.split() for ln in summary if ln.split()[:2] == [b, c])
        assert int(row[2]) == e["fills"] and row[8] == f"{e['volume']:,.0f}" and row[9] == f"{e['fees']:,.2f}", row
        assert (int(row[5]), int(row[6])) == (e["placements"], e["cancels"])

    # report.py --html: the five charts are written.
    html = tmp_path / f"{db.stem}.html"
    r = run_script("scripts/report.py", "--db", str(db), "--html", str(html), "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert html.read_text().count('class="plotly-graph-div"') == 5
    return exp


def test_reports_on_the_synthetic_run(operator_run, tmp_path):
    exp = check_reports(operator_run["db"], tmp_path)
    e = exp[(BOT, COIN)]
    # The flatten was a taker fill: maker fills < fills, and the fees include its taker fee.
    assert e["maker"] < e["fills"]
    taker_fee = query(operator_run["db"], "SELECT SUM(fee_usd) FROM fills WHERE maker=0")[0][0]
    assert taker_fee > 0


@pytest.mark.skipif(not REPLAY.exists(), reason=f"recorded data not found: {REPLAY} (expected ../shared)")
def test_reports_on_a_replay_of_recorded_data(tmp_path):
    db = tmp_path / "replay.db"
    t0 = time.monotonic()
    r = run_cli("--simulate", "--replay", str(REPLAY), "--config", "configs/reference/join_best_btcusdt.json",
                "--db", str(db), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    print(f"replay run: {time.monotonic() - t0:.1f} s")
    exp = check_reports(db, tmp_path)
    e = exp[("join-best-btcusdt", "BTCUSDT")]
    assert e["fills"] > 50
    # The recorded day: every fill is stamped with the data's time (2024-08-08), not the wall clock.
    day = query(db, "SELECT MIN(ts_ms) / ?, MAX(ts_ms) / ? FROM fills", (DAY_MS, DAY_MS))[0]
    assert day[0] == day[1] == 1723075200000 // DAY_MS
    assert_positions_reconcile(db)
