"""End to end: `python -m mm_bot.run --simulate --replay` on the recorded data in ../shared/data.

The replay's "Done when": the reference replay finishes (exit 0) and a second run with the same
seed writes identical fills rows; every dataset replays to the end; a truncated gzip, a bad JSON
line and a sequence gap each give a clear message naming the file and the line, and the rows
written before them are intact. Wall time is not asserted here (bench/replay.py measures it).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
USDM_BTC = DATA / "binance-usdm" / "btcusdt_20240808.gz"
REFERENCE_CONFIG = ROOT / "configs" / "reference" / "join_best_btcusdt.json"
FILLS_SQL = "SELECT fill_id, cloid, side, price, size_lots, maker, fee_usd, ts_ms FROM fills ORDER BY id"

pytestmark = pytest.mark.skipif(
    not USDM_BTC.exists(),
    reason=f"recorded market data not found: {DATA} (the shared data sets live in ../shared/data)",
)

# Coins and trading rules of each data set, from its SOURCE.txt. Spot and USD-M both name BTCUSDT
# (different rules): each folder is replayed on its own.
DATASETS = {
    "binance-usdm": {
        "BTCUSDT": {"tick_size": 0.1, "lot_size": 0.001},
        "ETHUSDT": {"tick_size": 0.01, "lot_size": 0.001},
    },
    "binance-spot": {
        "BTCUSDT": {"tick_size": 0.01, "lot_size": 0.00001},
        "ETHUSDT": {"tick_size": 0.01, "lot_size": 0.0001},
    },
    "binance-coinm": {
        "BTCUSD_PERP": {"tick_size": 0.1, "lot_size": 1.0, "contract_size": 100.0, "inverse": True},
        "ETHUSD_PERP": {"tick_size": 0.01, "lot_size": 1.0, "contract_size": 10.0, "inverse": True},
    },
    "hyperliquid": {
        "BTC": {"tick_size": 1.0, "lot_size": 0.00001, "max_sig_figs": 5},
    },
}


def write_config(path: Path, bot_id: str, instruments: dict) -> Path:
    """A small join-best config for the coins of `instruments`."""
    cfg = {
        "bot_id": bot_id,
        "coins": list(instruments),
        "loop_ms": 200,
        "reference_price": "join_best",
        "size_notional_usd": 200,
        "max_per_coin_notional": 5000,
        "max_symbol_notional": 5000,
        "max_gross_notional": 10000,
        "min_spread_bps": 0,
        "min_spread_guard_enabled": False,
        "min_replace_ms": 200,
        "instruments": instruments,
        "paper": {"entry_latency_ms": 10, "response_latency_ms": 10, "market_data": "replay"},
    }
    path.write_text(json.dumps(cfg, indent=2))
    return path


def run_cli(replay: Path, config: Path, db: Path, seed: int = 1) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mm_bot.run", "--simulate", "--replay", str(replay), "--config", str(config),
           "--db", str(db), "--seed", str(seed), "--log-level", "WARNING"]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def count(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def fills_digest(db: Path) -> tuple[int, str]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(FILLS_SQL).fetchall()
    finally:
        conn.close()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


def validate_db(db: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "init_db.py", "--db", str(db), "--validate"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_reference_replay_finishes_and_same_seed_gives_identical_fills(tmp_path):
    dbs = [tmp_path / "a.db", tmp_path / "b.db"]
    for db in dbs:
        res = run_cli(USDM_BTC, REFERENCE_CONFIG, db)
        assert res.returncode == 0, res.stderr[-3000:]
        assert "market events" in res.stderr  # the closing summary
    first, second = (fills_digest(db) for db in dbs)
    assert first[0] > 0, "the reference replay should fill"
    assert first == second, "same data, config and seed must write identical fills rows"
    # The money record reconciles: position lots are the signed sum of the fills' lots.
    conn = sqlite3.connect(dbs[0])
    try:
        signed = conn.execute(
            "SELECT COALESCE(SUM(CASE side WHEN 'buy' THEN size_lots ELSE -size_lots END), 0) FROM fills"
        ).fetchone()[0]
        pos = conn.execute("SELECT size_lots FROM positions WHERE coin='BTCUSDT'").fetchone()
    finally:
        conn.close()
    assert pos is not None and pos[0] == signed
    assert validate_db(dbs[0]).returncode == 0


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_every_dataset_replays_to_the_end(tmp_path, dataset):
    folder = DATA / dataset
    if not folder.is_dir():
        pytest.skip(f"data set {folder} not present")
    config = write_config(tmp_path / "cfg.json", f"e2e-{dataset}", DATASETS[dataset])
    db = tmp_path / "run.db"
    res = run_cli(folder, config, db)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "error" not in res.stderr.lower(), res.stderr[-3000:]
    assert count(db, "orders") > 0, f"{dataset}: no orders written"
    conn = sqlite3.connect(db)
    try:
        coins = {c for (c,) in conn.execute("SELECT DISTINCT coin FROM orders")}
        stop = conn.execute("SELECT message FROM system_events WHERE kind='stop' ORDER BY id DESC").fetchone()
    finally:
        conn.close()
    assert coins == set(DATASETS[dataset]), f"{dataset}: orders only for {coins}"
    assert stop is not None and "end of data" in stop[0]


# ------------------------------------------------------------------ broken data


def _head_lines(n: int) -> list[bytes]:
    """The first n lines of the USD-M BTCUSDT dump (its REST snapshot is line 55)."""
    out = []
    with gzip.open(USDM_BTC) as f:
        for line in f:
            out.append(line)
            if len(out) >= n:
                break
    return out


@pytest.fixture(scope="module")
def head() -> list[bytes]:
    return _head_lines(30000)


def _run_broken(tmp_path: Path, path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    db = tmp_path / "broken.db"
    return run_cli(path, REFERENCE_CONFIG, db), db


def _rows_intact(db: Path) -> None:
    assert count(db, "orders") > 0, "the orders written before the bad data are gone"
    assert count(db, "system_events") > 0
    res = validate_db(db)
    assert res.returncode == 0, res.stdout + res.stderr


def test_truncated_gzip_names_file_and_line_and_keeps_rows(tmp_path, head):
    whole = gzip.compress(b"".join(head))
    path = tmp_path / "btcusdt_truncated.gz"
    path.write_bytes(whole[: int(len(whole) * 0.7)])
    res, db = _run_broken(tmp_path, path)
    assert res.returncode == 1, res.stderr[-3000:]
    assert f"{path}:" in res.stderr and "truncated gzip" in res.stderr, res.stderr[-3000:]
    _rows_intact(db)


def test_bad_json_line_names_file_and_line_and_keeps_rows(tmp_path, head):
    lines = list(head)
    bad_at = 20000  # 1-based line number of the broken line
    ns = lines[bad_at - 1].split(b" ", 1)[0]
    lines[bad_at - 1] = ns + b' {"stream":"btcusdt@depth@0ms","data":{"e":"depthUp\n'
    path = tmp_path / "btcusdt_badline.gz"
    path.write_bytes(gzip.compress(b"".join(lines)))
    res, db = _run_broken(tmp_path, path)
    assert res.returncode == 1, res.stderr[-3000:]
    assert f"{path}:{bad_at}: bad line" in res.stderr, res.stderr[-3000:]
    _rows_intact(db)


def test_sequence_gap_names_file_and_line_and_keeps_rows(tmp_path, head):
    lines = list(head)
    # Drop one depth diff well after the snapshot: the next diff no longer chains (pu != last u).
    drop = next(i for i in range(20000, len(lines)) if b"@depth" in lines[i][:80])
    gap_line = next(i for i in range(drop + 1, len(lines)) if b"@depth" in lines[i][:80])
    del lines[drop]
    path = tmp_path / "btcusdt_gap.gz"
    path.write_bytes(gzip.compress(b"".join(lines)))
    res, db = _run_broken(tmp_path, path)
    # A gap is not a read error: the coin stops at the gap (no snapshot follows in a Binance
    # dump), the run ends cleanly (exit 0) and the problem is reported on the console (ERROR
    # log line) and in system_events (kind feed).
    assert res.returncode == 0, res.stderr[-3000:]
    # gap_line: 0-based index before the drop = 1-based number of that line in the written file.
    where = f"{path}:{gap_line}"
    assert where in res.stderr and "sequence gap" in res.stderr, res.stderr[-3000:]
    conn = sqlite3.connect(db)
    try:
        msgs = [m for (m,) in conn.execute("SELECT message FROM system_events WHERE kind='feed'")]
    finally:
        conn.close()
    assert any(where in m and "sequence gap" in m for m in msgs), msgs
    _rows_intact(db)


# ------------------------------------------------------------------ the book on real data


def test_book_matches_a_plain_sorted_model_on_the_recorded_depth():
    """L2Book (sorted price lists, asks kept negated) against plain dicts sorted on each read."""
    from mm_bot.core.book import L2Book
    from mm_bot.core.types import BUY, SELL, BookUpdate
    from mm_bot.sim.feeds.replay import open_replay

    book = L2Book("BTCUSDT")
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    n = 0
    for ev in open_replay(USDM_BTC):
        if type(ev) is not BookUpdate:
            continue
        book.apply(ev)
        if ev.snapshot:
            bids = {p: s for p, s in ev.bids if s > 0}
            asks = {p: s for p, s in ev.asks if s > 0}
        else:
            for side, ups in ((bids, ev.bids), (asks, ev.asks)):
                for p, s in ups:
                    if s > 0:
                        side[p] = s
                    else:
                        side.pop(p, None)
        n += 1
        if n % 50:
            continue
        bp = sorted(bids, reverse=True)
        ap = sorted(asks)
        assert book.best_bid == bp[0] and book.best_ask == ap[0]
        assert book.depth_levels(BUY) == bp and book.depth_levels(SELL) == ap
        assert book.top(10) == ([(p, bids[p]) for p in bp[:10]], [(p, asks[p]) for p in ap[:10]])
        assert book.mid2() == bp[0] + ap[0]
        qb, qa = sum(bids[p] for p in bp[:5]), sum(asks[p] for p in ap[:5])
        assert book.imbalance(5) == (qb - qa) / (qb + qa)
    assert n > 1000
    # consume: a trade that empties the best ask removes the level from every view
    best = book.best_ask
    book.consume(SELL, best, book.asks[best])
    assert best not in book.asks and book.best_ask == sorted(asks)[1]
    assert book.depth_levels(SELL)[0] == sorted(asks)[1]
    best = book.best_bid
    book.consume(BUY, best, 1)
    assert book.bids[best] == bids[best] - 1 and book.best_bid == best
