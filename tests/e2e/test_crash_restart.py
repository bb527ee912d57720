"""Crash safety: SIGKILL a paper run at 20 random (seeded) points on one DB, restarting each time.

After every kill the persisted state must be a consistent prefix (each position equals the signed
sum of its fills; every fill the bot recorded is in the paper venue's own ledger, once); after
every restart the runner reconciles before quoting (the fills the crash lost are applied, stray
orders cancelled) and records that each position equals the venue ledger; a final clean run ends
with the bot's fills equal to the venue ledger, fill for fill, and no order resting anywhere.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import REPO, assert_positions_reconcile, query, run_cli

KILLS = 20
SEGMENT_S = (1.0, 4.0)
BASE_CONFIG = REPO / "configs" / "example-mm.json"


def _config(tmp_path: Path) -> str:
    """configs/example-mm.json quoting at the touch (1 bp, no fee guard, faster replaces), so fills,
    partial fills and cancels happen in every few-second segment and the kills land among them."""
    doc = json.loads(BASE_CONFIG.read_text())
    doc.update(min_spread_bps=1, min_spread_guard_enabled=False, min_replace_ms=300, move_threshold_ticks=1,
               requote_threshold_bps=0.5)
    path = tmp_path / "example-mm-tight.json"
    path.write_text(json.dumps(doc))
    return str(path)


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(("HL_", "WOOFI_", "STANDX_"))}


def _signed_fills(db: Path) -> dict[tuple[str, str], int]:
    return {(b, c): n for b, c, n in query(db, "SELECT bot_id, coin, SUM(CASE side WHEN 'buy' THEN size_lots "
                                               "ELSE -size_lots END) FROM fills GROUP BY bot_id, coin")}


def _check_prefix(db: Path) -> None:
    """Invariants of any committed state, even right after a SIGKILL."""
    dup = query(db, "SELECT venue, fill_id FROM fills GROUP BY venue, fill_id HAVING COUNT(*) > 1")
    assert dup == [], f"duplicated fills {dup}"
    # Every fill the bot recorded is in the venue's ledger with the same side and size.
    stray = query(db, """SELECT f.fill_id FROM fills f WHERE NOT EXISTS (
        SELECT 1 FROM paper_fills p WHERE p.fill_id = f.fill_id AND p.bot_id = f.bot_id AND p.sz_lots = f.size_lots
        AND p.side = CASE f.side WHEN 'buy' THEN 1 ELSE -1 END)""")
    assert stray == [], f"fills missing from the venue ledger: {stray}"
    fills = _signed_fills(db)
    for bot, coin, lots in query(db, "SELECT bot_id, coin, size_lots FROM positions"):
        assert lots == fills.get((bot, coin), 0), f"{bot}/{coin}: position {lots} != signed fills"


def test_sigkill_at_random_points_then_restart(tmp_path):
    db = tmp_path / "crash.db"
    config = _config(tmp_path)
    rng = random.Random(20261122)
    started = time.monotonic()
    for i in range(KILLS):
        proc = subprocess.Popen([sys.executable, "-m", "mm_bot.run", "--simulate", "--config", config, "--db",
                                 str(db), "--seed", str(rng.randrange(10_000))], cwd=REPO, env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(*SEGMENT_S))
        assert proc.poll() is None, f"segment {i} ended early: {proc.stderr.read()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if db.exists():
            _check_prefix(db)
    final = run_cli("--simulate", "--config", config, "--db", str(db), "--duration", "4", "--seed", "5")
    assert final.returncode == 0, final.stderr[-3000:]
    assert time.monotonic() - started < 150

    _check_prefix(db)
    assert_positions_reconcile(db)
    # The bot's fills are the venue's ledger, fill for fill: nothing missing, nothing twice.
    bot_fills = set(query(db, "SELECT fill_id, size_lots FROM fills"))
    ledger = set(query(db, "SELECT fill_id, sz_lots FROM paper_fills"))
    assert bot_fills == ledger
    assert len(ledger) == query(db, "SELECT COUNT(*) FROM paper_fills")[0][0]
    # No orphan: nothing rests at the venue, no order is live in our books.
    assert query(db, "SELECT cloid FROM paper_orders WHERE open = 1") == []
    assert query(db, "SELECT cloid, status FROM orders WHERE status IN ('pending', 'open', 'partially_filled')") == []
    # Every restart reconciled before quoting and found each position equal to the venue ledger.
    restarts = query(db, "SELECT severity, details_json FROM system_events WHERE kind = 'restart' "
                         "AND bot_id IS NOT NULL ORDER BY id")
    assert len(restarts) >= KILLS // 2, len(restarts)
    for severity, details in restarts:
        d = json.loads(details)
        assert severity == "info", d
        assert all(c["match"] and c["position_lots"] == c["ledger_lots"] for c in d["coins"].values()), d
        # Every order of the bot resting at the venue at the restart was a stray and got a cancel.
        assert d["venue_orders"] == d["reconcile"]["strays"], d
    # Strays of crashed runs were found and cancelled by the restarts.
    assert sum(json.loads(d)["reconcile"]["strays"] for _, d in restarts) > 0
    print(f"{len(ledger)} fills, {len(restarts)} restarts, "
          f"{sum(json.loads(d)['reconcile']['fills_recovered'] for _, d in restarts)} fills recovered at restarts")
    stop = query(db, "SELECT message FROM system_events WHERE kind = 'stop' AND bot_id IS NULL ORDER BY id DESC")
    assert "open paper orders: 0" in stop[0][0]
