"""Nonces persisted in the DB (`nonces`, schema v4): strictly increasing per signer across restarts,
even when the clock steps back; a migrated v3 file gets the v4 tables."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from mm_bot.store.db import MIGRATIONS, SCHEMA_VERSION, open_db, schema_sql, validate
from mm_bot.store.paper_state import load_nonces, nonce_rows, persist_nonces
from mm_bot.store.writer import write_batch

T0 = 1_700_000_000_000
SIGNER = "0xAbC0000000000000000000000000000000000001"


def test_nonces_strictly_increase_across_a_simulated_restart(tmp_path):
    db = tmp_path / "n.db"
    conn = open_db(db)
    alloc = load_nonces(conn, T0)
    issued = [alloc.next(SIGNER, T0) for _ in range(50)]  # 50 in the same ms: T0 .. T0 + 49
    persist_nonces(conn, alloc, T0)
    conn.close()
    # Restart with a clock 10 s behind (NTP step): the first nonce is still above the last one.
    conn = open_db(db)
    alloc2 = load_nonces(conn, T0 - 10_000)
    issued += [alloc2.next(SIGNER, T0 - 10_000 + i) for i in range(50)]
    assert all(b > a for a, b in zip(issued, issued[1:], strict=False))
    persist_nonces(conn, alloc2, T0)
    # A stale snapshot (the first run's allocator) never lowers the stored value: the upsert keeps the max.
    write_batch(conn, nonce_rows(alloc, T0))
    assert conn.execute("SELECT signer, last_nonce FROM nonces").fetchall() == [(SIGNER.lower(), issued[-1])]
    conn.close()


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(-5_000, 5_000), st.integers(1, 20)), min_size=1, max_size=12))
def test_restart_property(steps):
    conn = sqlite3.connect(":memory:")
    conn.executescript(schema_sql())
    now, issued = T0, []
    for clock_step, n in steps:  # each step: restart, move the clock (maybe back), issue n nonces
        now += clock_step
        alloc = load_nonces(conn, now)
        issued += [alloc.next(SIGNER, now) for _ in range(n)]
        persist_nonces(conn, alloc, now)
    assert all(b > a for a, b in zip(issued, issued[1:], strict=False))


def test_v3_file_migrates_to_v4(tmp_path):
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    # A v3 file: the current schema without the v4 tables.
    v3 = schema_sql().split("-- The paper venue's own state", 1)[0]
    conn.executescript(v3)
    conn.execute("PRAGMA user_version=3")
    conn.commit()
    conn.close()
    assert 3 in MIGRATIONS and SCHEMA_VERSION == 4
    conn = open_db(db)
    checks, general = validate(conn)
    assert general == [] and all(c.ok for c in checks), [c for c in checks if not c.ok]
    conn.close()
