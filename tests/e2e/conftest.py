"""Helpers for end-to-end tests: run the CLI as a subprocess and query its SQLite file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
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
