"""scripts/sync_positions.py as a subprocess against the fake Hyperliquid (tests/fakes/hyperliquid.py).

The DB holds two live Hyperliquid testnet bots on one account (hl-sync: DYDX and BTC; hl-sync-b: BTC,
so BTC is shared) and a paper bot, with orders rows whose cloids the fake then fills, part-fills or
keeps resting. The sync must insert exactly those fills (exact lots), move each positions row by them
(equal to the signed fills and to the venue), correct the order states, leave the account's other fills
and orders alone, change nothing on a second run, report (not overwrite) a difference the fills do not
explain, refuse bad usage with exit 2, and never let the secret key out.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mm_bot.config import load_configs
from mm_bot.core.orders import make_cloid
from mm_bot.core.records import BotRow, OrderRow
from mm_bot.store.db import open_db
from mm_bot.store.writer import write_batch
from tests.e2e.conftest import assert_positions_reconcile, query

fakes = pytest.importorskip("tests.fakes.hyperliquid")
if not fakes.FIXTURES.exists():
    pytest.skip(f"shared fixtures not found: {fakes.FIXTURES}", allow_module_level=True)

from eth_account import Account  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SECRET = "0x" + "5a" * 32
AGENT = Account.from_key(SECRET).address
ACCOUNT = "0x" + "6b" * 20
BOT, BOT_B, PAPER = "hl-sync", "hl-sync-b", "paper-bot"
BASE = {"venue": "hyperliquid", "mode": "testnet", "size_notional_usd": 20, "max_per_coin_notional": 200,
        "max_gross_notional": 400, "max_symbol_notional": 200}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def cloid(bot: str, coin: str, seq: int) -> str:
    return make_cloid(bot, coin, 1_700_000_000_000, seq)


def env_for(fake=None, **extra) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("HL_", "WOOFI_", "STANDX_"))}
    if fake is not None:
        e.update(HL_SECRET_KEY=SECRET, HL_ACCOUNT_ADDRESS=ACCOUNT, HL_REST_URL=fake.rest_url, HL_WS_URL=fake.ws_url)
    e.update(extra)
    return e


def sync(db: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "scripts/sync_positions.py", "--db", str(db), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def order(bot: str, coin: str, cl: str, side: str, px: float, size: float, lots: int, status: str,
          ts: int) -> OrderRow:
    return OrderRow(bot, coin, cl, side, px, size, lots, "alo", status, 0.0, 0, "", "", ts, ts)


def make_db(tmp_path: Path) -> Path:
    db = tmp_path / "sync.db"
    docs = [{**BASE, "bot_id": BOT, "coins": ["DYDX", "BTC"]}, {**BASE, "bot_id": BOT_B, "coins": ["BTC"]},
            {"bot_id": PAPER, "venue": "hyperliquid", "mode": "paper", "coins": ["DYDX"]}]
    paths = []
    for d in docs:
        paths.append(tmp_path / f"{d['bot_id']}.json")
        paths[-1].write_text(json.dumps(d))
    t = now_ms() - 60_000
    recs: list = [BotRow(c.bot_id, c.venue, c.mode, c.to_json(), "stopped", t) for c in load_configs(paths)]
    recs += [
        order(BOT, "DYDX", cloid(BOT, "DYDX", 1), "buy", 2.1, 10, 100, "open", t),      # filled while down
        order(BOT, "DYDX", cloid(BOT, "DYDX", 2), "sell", 2.2, 20, 200, "open", t),     # part-filled, resting
        order(BOT, "DYDX", cloid(BOT, "DYDX", 3), "buy", 2.0, 10, 100, "open", t),      # gone from the venue
        order(BOT, "DYDX", cloid(BOT, "DYDX", 4), "buy", 2.05, 10, 100, "pending", t),  # ack lost, resting
        order(BOT, "BTC", cloid(BOT, "BTC", 1), "buy", 2000.0, 0.01, 1000, "open", t),
        order(BOT_B, "BTC", cloid(BOT_B, "BTC", 1), "sell", 2100.0, 0.004, 400, "open", t),
    ]
    conn = open_db(db)
    write_batch(conn, recs)
    conn.close()
    return db


@pytest.fixture
def fake():
    f = fakes.FakeHyperliquid(AGENT, ACCOUNT).start()
    yield f
    f.stop()


def secret_nowhere(db: Path, *procs: subprocess.CompletedProcess) -> None:
    raw = SECRET[2:]
    for p in procs:
        assert raw not in p.stdout and raw not in p.stderr
    conn = sqlite3.connect(db)
    dump = "\n".join(conn.iterdump())
    conn.close()
    assert raw not in dump


def test_sync_inserts_fills_updates_positions_and_orders_idempotently(fake, tmp_path):
    db = make_db(tmp_path)
    # What happened on the venue while the runner was down.
    oid1 = fake.add_resting("DYDX", "B", "2.1", "10", cloid(BOT, "DYDX", 1))
    fake.fill_order(oid1)
    oid2 = fake.add_resting("DYDX", "A", "2.2", "20", cloid(BOT, "DYDX", 2))
    fake.fill_order(oid2, "5")
    oid4 = fake.add_resting("DYDX", "B", "2.05", "10", cloid(BOT, "DYDX", 4))
    fake.add_resting("DYDX", "A", "2.3", "10")  # somebody else's order on the account (no cloid of ours)
    fake.fill_order(fake.add_resting("BTC", "B", "2000", "0.01", cloid(BOT, "BTC", 1)))
    fake.fill_order(fake.add_resting("BTC", "A", "2100", "0.004", cloid(BOT_B, "BTC", 1)))
    assert fake.position("DYDX") == 5 and fake.position("BTC") == fakes.Decimal("0.006")

    env = env_for(fake)
    first = sync(db, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert "4 inserted" in out and "500 not attributable" in out, out

    fills = query(db, "SELECT bot_id, coin, cloid, side, size_lots, price, maker FROM fills ORDER BY bot_id, coin, "
                      "side")
    assert fills == [
        (BOT, "BTC", cloid(BOT, "BTC", 1), "buy", 1000, 2000.0, 1),
        (BOT, "DYDX", cloid(BOT, "DYDX", 1), "buy", 100, 2.1, 1),
        (BOT, "DYDX", cloid(BOT, "DYDX", 2), "sell", 50, 2.2, 1),
        (BOT_B, "BTC", cloid(BOT_B, "BTC", 1), "sell", 400, 2100.0, 1),
    ]
    venue_tids = {str(f["tid"]) for f in fake.call(lambda: list(fake.fills))}
    assert {r[0] for r in query(db, "SELECT fill_id FROM fills")} == venue_tids
    assert query(db, "SELECT COUNT(*) FROM trades WHERE kind='fill'") == [(4,)]

    pos = dict(((b, c), (lots, avg, real, n)) for b, c, lots, avg, real, n in
               query(db, "SELECT bot_id, coin, size_lots, avg_entry, realized_usd, fills FROM positions"))
    assert pos[(BOT, "DYDX")][0] == 50 and pos[(BOT, "DYDX")][1] == pytest.approx(2.1)
    assert pos[(BOT, "DYDX")][2] == pytest.approx(0.5) and pos[(BOT, "DYDX")][3] == 2
    assert pos[(BOT, "BTC")][0] == 1000 and pos[(BOT_B, "BTC")][0] == -400
    assert_positions_reconcile(db)
    # Equal to the venue: DYDX 5.0 = 50 lots of 0.1; BTC (shared) 0.006 = 1000 - 400 lots of 0.00001.
    assert pos[(BOT, "DYDX")][0] * fakes.Decimal("0.1") == fake.position("DYDX")
    assert (pos[(BOT, "BTC")][0] + pos[(BOT_B, "BTC")][0]) * fakes.Decimal("0.00001") == fake.position("BTC")

    orders = {cl: (st, fl, oid) for cl, st, fl, oid in
              query(db, "SELECT cloid, status, filled_lots, venue_oid FROM orders")}
    assert orders[cloid(BOT, "DYDX", 1)][:2] == ("filled", 100)
    assert orders[cloid(BOT, "DYDX", 2)] == ("partially_filled", 50, str(oid2))
    assert orders[cloid(BOT, "DYDX", 3)][:2] == ("cancelled", 0)
    assert orders[cloid(BOT, "DYDX", 4)] == ("open", 0, str(oid4))
    assert orders[cloid(BOT, "BTC", 1)][:2] == ("filled", 1000)
    assert orders[cloid(BOT_B, "BTC", 1)][:2] == ("filled", 400)
    events = query(db, "SELECT event, detail FROM order_events WHERE cloid=?", (cloid(BOT, "DYDX", 3),))
    assert events == [("cancelled", "not open on the venue (sync_positions)")]
    rec = query(db, "SELECT bot_id, coin, severity, message FROM system_events WHERE kind='reconcile' ORDER BY id")
    assert (BOT, "DYDX", "info") in [r[:3] for r in rec] and all(r[2] == "info" for r in rec), rec
    dydx = next(line for line in out.splitlines() if line.startswith(BOT + " ") and " DYDX " in line)
    assert "2 / 1" in dydx, dydx  # open orders on the venue: ours (#2, #4) / others

    # Second run: nothing new to write.
    counts = {t: query(db, f"SELECT COUNT(*) FROM {t}")[0][0] for t in
              ("fills", "trades", "order_events", "system_events")}
    snapshot = query(db, "SELECT * FROM positions ORDER BY bot_id, coin") + query(db, "SELECT * FROM orders")
    second = sync(db, "--json", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    doc = json.loads(second.stdout)
    assert doc["consistent"] is True
    (g,) = doc["groups"]
    assert (g["fills_inserted"], g["orders_updated"], g["fills_unattributed"]) == (0, 0, 500)
    rows = {(r["bot_id"], r["coin"]): r for r in g["rows"]}
    assert rows[(BOT, "DYDX")]["venue_lots"] == rows[(BOT, "DYDX")]["db_lots"] == 50
    assert (rows[(BOT, "DYDX")]["open_ours"], rows[(BOT, "DYDX")]["open_others"]) == (2, 1)
    assert rows[(BOT, "BTC")]["shared"] and rows[(BOT, "BTC")]["bots_sum_lots"] == 600
    assert {t: query(db, f"SELECT COUNT(*) FROM {t}")[0][0] for t in counts} == counts
    assert query(db, "SELECT * FROM positions ORDER BY bot_id, coin") + query(db, "SELECT * FROM orders") == snapshot

    # More of #2 fills: applied on top of the existing row (average cost, realized PnL, fill count).
    fake.fill_order(oid2, "5")
    third = sync(db, "--bot", BOT, env=env)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "1 inserted" in third.stdout, third.stdout
    assert query(db, "SELECT size_lots, avg_entry, realized_usd, fills FROM positions WHERE bot_id=? AND "
                     "coin='DYDX'", (BOT,)) == [(0, 0.0, pytest.approx(1.0), 3)]
    assert query(db, "SELECT status, filled_lots FROM orders WHERE cloid=?", (cloid(BOT, "DYDX", 2),)) == [
        ("partially_filled", 100)]
    assert fake.position("DYDX") == 0
    assert_positions_reconcile(db)

    # A trade the bots' fills do not explain (no cloid of ours): reported, the row is not overwritten.
    fake.fill_order(fake.add_resting("DYDX", "B", "2.1", "10"))
    fourth = sync(db, "--bot", BOT, env=env)
    assert fourth.returncode == 1, fourth.stdout + fourth.stderr
    assert "DIFF" in fourth.stdout and "venue 10 != DB 0" in fourth.stdout, fourth.stdout
    assert query(db, "SELECT size_lots FROM positions WHERE bot_id=? AND coin='DYDX'", (BOT,)) == [(0,)]
    assert_positions_reconcile(db)
    warn = query(db, "SELECT bot_id, coin, message FROM system_events WHERE kind='reconcile' AND "
                     "severity='warning'")
    assert len(warn) == 1 and warn[0][:2] == (BOT, "DYDX") and "differs" in warn[0][2], warn
    secret_nowhere(db, first, second, third, fourth)


def test_usage_errors_exit_2(fake, tmp_path):
    db = make_db(tmp_path)
    missing = sync(db, env=env_for(HL_REST_URL=fake.rest_url))
    assert missing.returncode == 2
    assert "HL_SECRET_KEY" in missing.stderr and "HL_ACCOUNT_ADDRESS" in missing.stderr, missing.stderr
    half = sync(db, env=env_for(HL_SECRET_KEY=SECRET, HL_REST_URL=fake.rest_url))
    assert half.returncode == 2 and "HL_ACCOUNT_ADDRESS" in half.stderr and "HL_SECRET_KEY " not in half.stderr
    env = env_for(fake)
    unknown = sync(db, "--bot", "nope", env=env)
    assert unknown.returncode == 2 and "no bot 'nope'" in unknown.stderr, unknown.stderr
    paper = sync(db, "--bot", PAPER, env=env)
    assert paper.returncode == 2 and "paper bot" in paper.stderr, paper.stderr
    nodb = sync(tmp_path / "none.db", env=env)
    assert nodb.returncode == 2 and "no such database file" in nodb.stderr
    assert fake.entries("info") == []  # nothing reached the venue
    assert query(db, "SELECT COUNT(*) FROM fills") == [(0,)]
    secret_nowhere(db, missing, half, unknown, paper, nodb)


def test_unreachable_venue_exit_1(tmp_path):
    db = make_db(tmp_path)
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    env = env_for(HL_SECRET_KEY=SECRET, HL_ACCOUNT_ADDRESS=ACCOUNT, HL_REST_URL=f"http://127.0.0.1:{port}",
                  HL_WS_URL=f"ws://127.0.0.1:{port}/ws")
    res = sync(db, "--bot", BOT, env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "hyperliquid testnet" in res.stderr and "cannot reach the venue" in res.stderr, res.stderr
    assert query(db, "SELECT COUNT(*) FROM system_events") == [(0,)]
    secret_nowhere(db, res)


def test_a_concurrent_writer_is_never_stalled(fake, tmp_path):
    """A runner-like writer commits batches into the same WAL file while the sync runs: no commit of
    it waits more than 100 ms (the sync holds the write lock only for its short transaction)."""
    import threading

    from mm_bot.core.records import BookSnapshotRow, SystemEventRow

    db = make_db(tmp_path)
    fake.fill_order(fake.add_resting("DYDX", "B", "2.1", "10", cloid(BOT, "DYDX", 1)))
    lat: list[float] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer():
        conn = open_db(db)
        t = now_ms()
        try:
            while not stop.is_set():
                t += 100
                batch = [BookSnapshotRow("other", "ETH", 99.0, 101.0, 100.0, 200.0, 1.0, 1.0, 0.0, "{}", t)
                         for _ in range(20)]
                batch.append(SystemEventRow("other", "ETH", "feed", "info", "tick", "{}", t))
                t0 = time.perf_counter()
                write_batch(conn, batch)
                lat.append(time.perf_counter() - t0)
                time.sleep(0.002)
        except BaseException as e:  # surfaced by the test thread
            errors.append(e)
        finally:
            conn.close()

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    try:
        time.sleep(0.1)
        res = sync(db, env=env_for(fake))
    finally:
        stop.set()
        th.join(10)
    assert not errors, errors
    assert res.returncode == 0, res.stdout + res.stderr
    assert query(db, "SELECT COUNT(*) FROM fills") == [(1,)]
    assert len(lat) > 50 and max(lat) < 0.100, f"{len(lat)} commits, max {max(lat) * 1000:.1f} ms"
