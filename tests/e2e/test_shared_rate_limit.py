"""Two runner processes on one IP, each with rate_limits_share_pct 50, never use more than the shared
capacity together: each stays within half of HL_REST_CAPACITY_PER_MIN in every sample, including
the closing one whose 60 s window holds every request of the (shorter) run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.e2e.conftest import REPO, query

CAPACITY = 240  # HL_REST_CAPACITY_PER_MIN for both processes: 120 each


def test_two_processes_with_half_share_each_stay_within_capacity(tmp_path):
    doc = json.loads((REPO / "configs" / "example-mm.json").read_text())
    # Requote hard so the limit binds: 50 ms loop, 1 bp quotes, replace after 100 ms, one request per order.
    doc.update(rate_limits_share_pct=50, loop_ms=50, min_spread_bps=1, min_spread_guard_enabled=False,
               min_replace_ms=100, refresh_jitter_ms=0, move_threshold_ticks=0, requote_threshold_bps=0,
               batch_orders=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HL_", "WOOFI_", "STANDX_"))}
    env["HL_REST_CAPACITY_PER_MIN"] = str(CAPACITY)
    procs, dbs = [], []
    for i in range(2):
        cfg = tmp_path / f"p{i}.json"
        cfg.write_text(json.dumps({**doc, "bot_id": f"half-{i}"}))
        db = tmp_path / f"p{i}.db"
        dbs.append(db)
        procs.append(subprocess.Popen([sys.executable, "-m", "mm_bot.run", "--simulate", "--config", str(cfg), "--db",
                                       str(db), "--duration", "12", "--seed", str(i + 1)], cwd=REPO, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
    last_used = []
    for db in dbs:
        rows = query(db, "SELECT used, capacity FROM rate_limit_usage WHERE bucket = 'rest' ORDER BY id")
        assert len(rows) >= 2
        assert {cap for _, cap in rows} == {CAPACITY // 2}
        assert all(used <= CAPACITY // 2 for used, _ in rows), rows
        last_used.append(rows[-1][0])
        # The limit did bind: requests were denied or skipped for rate limits.
        assert query(db, "SELECT COUNT(*) FROM system_events WHERE kind = 'rate_limit'")[0][0] > 0
    # The closing samples cover each whole run: together within the venue's capacity, and near it.
    assert sum(last_used) <= CAPACITY
    assert sum(last_used) >= CAPACITY // 2
