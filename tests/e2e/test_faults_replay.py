"""Fault injection end to end: ten minutes (virtual time) of recorded Binance USD-M BTCUSDT data with
the join-best reference config and every paper fault at 5 %: the run finishes cleanly, every
injected failure is in system_events, reconciliation recovers every dropped fill and every lost
ack, and rate-limit usage never passes its capacity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, assert_positions_reconcile, query, run_cli

DATA = REPO.parent / "shared" / "data" / "binance-usdm" / "btcusdt_20240808.gz"
FAULTS = ("reject_rate", "http429_rate", "http5xx_rate", "timeout_rate", "delayed_ack_rate", "drop_fill_rate")


@pytest.fixture(scope="module")
def faulty_replay(tmp_path_factory) -> Path:
    if not DATA.exists():
        pytest.skip(f"shared material not found: {DATA} (expected ../shared beside the repo root)")
    tmp = tmp_path_factory.mktemp("faults")
    doc = json.loads((REPO / "configs" / "reference" / "join_best_btcusdt.json").read_text())
    doc["paper"].update(dict.fromkeys(FAULTS, 0.05))
    cfg = tmp / "join-best-faults.json"
    cfg.write_text(json.dumps(doc))
    db = tmp / "f.db"
    proc = run_cli("--simulate", "--config", str(cfg), "--replay", str(DATA), "--db", str(db), "--duration", "600",
                   "--seed", "3", timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return db


def _faults(db: Path) -> list[dict]:
    return [json.loads(d) for (d,) in query(db, "SELECT details_json FROM system_events WHERE kind = 'fault'")]


def test_every_fault_kind_was_injected_and_recorded(faulty_replay):
    kinds = {f["fault"] for f in _faults(faulty_replay)}
    assert kinds == {"reject", "http429", "http5xx", "timeout", "delayed_ack", "drop_fill"}
    assert query(faulty_replay, "SELECT COUNT(*) FROM system_events WHERE kind IN ('error', 'kill')") == [(0,)]


def test_every_rejected_order_is_in_system_events(faulty_replay):
    db = faulty_replay
    missing = query(db, """SELECT o.cloid, o.reason FROM orders o WHERE o.status = 'rejected' AND NOT EXISTS (
        SELECT 1 FROM system_events e WHERE e.kind IN ('reject', 'rate_limit')
        AND json_extract(e.details_json, '$.cloid') = o.cloid)""")
    assert missing == []
    injected = {f["cloid"]: f["fault"] for f in _faults(db) if f["fault"] in ("reject", "http429", "http5xx")}
    rejected = dict(query(db, "SELECT cloid, reason FROM orders WHERE status = 'rejected' AND reason LIKE '%injected%'"))
    assert set(injected) == set(rejected)
    # A 429 made the bot back off and say so.
    n429 = sum(1 for k in injected.values() if k == "http429")
    backoffs = query(db, "SELECT COUNT(*) FROM system_events WHERE kind = 'rate_limit' AND message LIKE '%back-off%'")
    assert n429 > 0 and backoffs == [(n429,)]


def test_reconciliation_recovers_lost_fills_and_acks(faulty_replay):
    db = faulty_replay
    dropped = {f["fill_id"] for f in _faults(db) if f["fault"] == "drop_fill"}
    have = {r[0] for r in query(db, "SELECT fill_id FROM fills")}
    assert dropped and dropped <= have
    assert query(db, "SELECT COUNT(*) FROM fills GROUP BY venue, fill_id HAVING COUNT(*) > 1") == []
    assert_positions_reconcile(db)
    timed_out = {f["cloid"] for f in _faults(db) if f["fault"] == "timeout"}
    assert timed_out
    # No order is left live: each timed-out order was adopted or closed by reconciliation.
    assert query(db, "SELECT cloid FROM orders WHERE status IN ('pending', 'open', 'partially_filled')") == []
    reconciled = query(db, "SELECT COUNT(*) FROM order_events WHERE detail LIKE 'reconcile%'")[0][0]
    assert reconciled > 0


def test_rate_limit_usage_never_passes_capacity(faulty_replay):
    rows = query(faulty_replay, "SELECT bucket, used, capacity FROM rate_limit_usage")
    assert rows
    assert all(used <= cap for _, used, cap in rows)
