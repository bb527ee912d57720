"""Helpers for end-to-end tests: run the CLI as a subprocess and query its SQLite file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, timeout: float = 180, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m mm_bot.run ARGS` from the repo root; returns the completed process."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("HL_", "WOOFI_", "STANDX_"))}
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "mm_bot.run", *args], cwd=REPO, env=e,
                          capture_output=True, text=True, timeout=timeout)


def run_script(script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, script, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def query(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def assert_positions_reconcile(db: Path) -> None:
    """Every positions row equals the signed sum of its fills, in exact lots."""
    rows = query(db, """
        SELECT p.bot_id, p.coin, p.size_lots,
               COALESCE((SELECT SUM(CASE f.side WHEN 'buy' THEN f.size_lots ELSE -f.size_lots END)
                         FROM fills f WHERE f.bot_id = p.bot_id AND f.coin = p.coin), 0)
        FROM positions p""")
    assert rows, "no positions rows"
    for bot, coin, pos, fills in rows:
        assert pos == fills, f"{bot}/{coin}: position {pos} lots != signed fills {fills} lots"
    # And every (bot, coin) with fills has a positions row.
    missing = query(db, "SELECT DISTINCT bot_id, coin FROM fills EXCEPT SELECT bot_id, coin FROM positions")
    assert not missing, f"fills without a positions row: {missing}"


@pytest.fixture
def tmp_db(tmp_path: Path) -> Path:
    return tmp_path / "t.db"


def wait_for(cond, timeout: float, what: str):
    """Poll cond() every 50 ms until it returns something truthy (returned); AssertionError after timeout s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop_runner(proc: subprocess.Popen, sig=signal.SIGTERM) -> tuple[int, str, str]:
    """Signal a runner and collect (exit code, stdout, stderr); one that does not stop within 30 s is
    killed (never left behind) and fails the test with its log."""
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"the runner did not stop within 30 s of {sig.name}; its log:\n{err[-4000:]}") from None
    return proc.returncode, out, err


def events(db: Path, kind: str) -> list[tuple]:
    """(severity, message, ts_ms) of the system_events rows of one kind, oldest first."""
    return query(db, "SELECT severity, message, ts_ms FROM system_events WHERE kind=? ORDER BY id", (kind,))


def assert_secrets_absent(db: Path, secrets, *texts: str) -> None:
    """No secret (case-insensitive) in any of texts (stdout, stderr) nor in any text column of the DB."""
    needles = [s.lower() for s in secrets if s]
    for t in texts:
        for s in needles:
            assert s not in t.lower(), "a secret appeared in the output"
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        checked = 0
        for t in tables:
            for c in [r[1] for r in conn.execute(f"PRAGMA table_info({t})")]:
                for s in needles:
                    hits = conn.execute(f"SELECT COUNT(*) FROM {t} WHERE typeof({c})='text' AND lower({c}) LIKE ?",
                                        (f"%{s}%",)).fetchone()[0]
                    assert hits == 0, f"a secret found in {t}.{c}"
                checked += 1
        assert checked > 50, "too few columns checked: is this an mm_bot database?"
    finally:
        conn.close()
