"""End to end: the README's paper run of configs/ on the synthetic market, as a user runs it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, assert_positions_reconcile, query, run_cli, run_script

TABLES_PER_BOT_COIN = ["orders", "fills", "orderbook_snapshots", "pnl_tracking", "positions",
                       "performance_metrics"]


def expected_pairs() -> set[tuple[str, str]]:
    import json

    pairs = set()
    for f in sorted((REPO / "configs").glob("*.json")):
        doc = json.loads(f.read_text())
        pairs |= {(doc["bot_id"], c) for c in doc["coins"]}
    return pairs


@pytest.fixture(scope="module")
def sixty_second_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    db = tmp_path_factory.mktemp("run60") / "h.db"
    proc = run_cli("--simulate", "--config-dir", "configs", "--db", str(db), "--duration", "60", timeout=240)
    return db, proc


def test_sixty_second_run_exits_zero(sixty_second_run):
    db, proc = sixty_second_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "fills" in proc.stderr and "maker" in proc.stderr  # the closing summary table


def test_every_bot_coin_has_rows_in_every_table(sixty_second_run):
    db, _ = sixty_second_run
    pairs = expected_pairs()
    assert len(pairs) >= 4
    for table in TABLES_PER_BOT_COIN:
        have = set(query(db, f"SELECT DISTINCT bot_id, coin FROM {table}"))
        assert pairs <= have, f"{table} lacks rows for {sorted(pairs - have)}"
    bots = {b for b, _ in pairs}
    have = {r[0] for r in query(db, "SELECT DISTINCT bot_id FROM system_events WHERE bot_id IS NOT NULL")}
    assert bots <= have


def test_buy_and_sell_fills_for_every_bot_coin(sixty_second_run):
    db, _ = sixty_second_run
    sides = {}
    for bot, coin, side in query(db, "SELECT DISTINCT bot_id, coin, side FROM fills"):
        sides.setdefault((bot, coin), set()).add(side)
    for pair in expected_pairs():
        assert sides.get(pair) == {"buy", "sell"}, f"{pair}: fill sides {sides.get(pair)}"


def test_positions_equal_signed_fills(sixty_second_run):
    db, _ = sixty_second_run
    assert_positions_reconcile(db)


def test_no_order_left_open_and_db_validates(sixty_second_run):
    db, _ = sixty_second_run
    live = query(db, "SELECT bot_id, coin, cloid, status FROM orders WHERE status IN "
                     "('pending', 'open', 'partially_filled')")
    assert live == []
    stop = query(db, "SELECT message FROM system_events WHERE kind='stop' AND bot_id IS NULL")
    assert stop and "open paper orders: 0" in stop[-1][0]
    v = run_script("init_db.py", "--db", str(db), "--validate")
    assert v.returncode == 0, v.stdout + v.stderr


def test_metrics_rows_carry_maker_ratio_and_cancels_per_fill(sixty_second_run):
    db, _ = sixty_second_run
    rows = query(db, "SELECT fills, maker_fills, maker_ratio, cancels, cancels_per_fill FROM "
                     "performance_metrics WHERE fills > 0")
    assert rows
    for fills, maker, ratio, cancels, cpf in rows:
        assert ratio == pytest.approx(maker / fills)
        assert cpf == pytest.approx(cancels / fills)


def test_sigterm_mid_run_exits_zero_with_no_open_order(tmp_path):
    db = tmp_path / "sig.db"
    proc = subprocess.Popen([sys.executable, "-m", "mm_bot.run", "--simulate", "--config-dir", "configs",
                             "--db", str(db)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    # Wait until the bots have placed orders, then terminate.
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.5)
        if db.exists():
            try:
                if query(db, "SELECT COUNT(*) FROM orders")[0][0] > 0:
                    break
            except Exception:  # noqa: BLE001 - the file may be mid-creation
                pass
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert query(db, "SELECT COUNT(*) FROM orders WHERE status IN ('pending','open','partially_filled')") == [(0,)]
    stop = query(db, "SELECT message FROM system_events WHERE kind='stop' AND bot_id IS NULL")
    assert stop and "SIGTERM" in stop[-1][0] and "open paper orders: 0" in stop[-1][0]
    v = run_script("init_db.py", "--db", str(db), "--validate")
    assert v.returncode == 0, v.stdout + v.stderr
    assert_positions_reconcile(db)
