"""Opening, creating, migrating and checking the SQLite file.

Every PRAGMA the project relies on is set here and nowhere else: WAL so readers never
block the writer, synchronous=NORMAL (durable at checkpoints, safe with WAL), a busy
timeout so a reader's short lock waits instead of failing, and foreign keys on.
`PRAGMA user_version` holds the schema version for migrations.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schema.sql"
SCHEMA_VERSION = 4
BUSY_TIMEOUT_MS = 5000

# Migrations from version N to N+1, as SQL scripts. A new file gets schema.sql (the latest) directly.
MIGRATIONS: dict[int, str] = {
    1: "\n".join(
        f"ALTER TABLE performance_metrics ADD COLUMN {col};"
        for col in (
            "amends INTEGER NOT NULL DEFAULT 0", "rest_ms_median REAL", "rest_ms_p90 REAL", "holding_ms_avg REAL",
            "slippage_bps REAL", "spread_at_fill_bps REAL", "markout_1s_bps REAL", "markout_10s_bps REAL",
            "markout_60s_bps REAL", "two_sided_share REAL", "counterparties INTEGER NOT NULL DEFAULT 0",
            "ti_score REAL",
        )
    ),
    # commands gains a coin and the take_profit command (SQLite cannot alter a CHECK: rebuild).
    2: """
CREATE TABLE commands_v3 (
    id INTEGER PRIMARY KEY, bot_id TEXT, coin TEXT,
    command TEXT NOT NULL CHECK (command IN ('pause', 'resume', 'stop', 'flatten', 'take_profit')),
    status TEXT NOT NULL DEFAULT 'new', result TEXT NOT NULL DEFAULT '', ts_ms INTEGER NOT NULL, acted_ms INTEGER
);
INSERT INTO commands_v3 (id, bot_id, command, status, result, ts_ms, acted_ms)
    SELECT id, bot_id, command, status, result, ts_ms, acted_ms FROM commands;
DROP TABLE commands;
ALTER TABLE commands_v3 RENAME TO commands;
CREATE INDEX IF NOT EXISTS idx_commands_status ON commands (status, ts_ms);
""",
    # The paper venue's resting orders and fill ledger, and the last nonce per signer (restart).
    3: """
CREATE TABLE IF NOT EXISTS paper_orders (
    venue_key   TEXT NOT NULL,
    cloid       TEXT NOT NULL,
    bot_id      TEXT NOT NULL,
    coin        TEXT NOT NULL,
    side        INTEGER NOT NULL,       -- 1 buy, -1 sell
    px_ticks    INTEGER NOT NULL,
    sz_lots     INTEGER NOT NULL,
    filled_lots INTEGER NOT NULL,
    queue_ahead REAL NOT NULL,
    seq         INTEGER NOT NULL,       -- venue order id
    open        INTEGER NOT NULL,       -- 1 resting, 0 filled or cancelled
    ts_ms       INTEGER NOT NULL,
    PRIMARY KEY (venue_key, cloid)
);
CREATE INDEX IF NOT EXISTS idx_paper_orders_open ON paper_orders (venue_key, open);
CREATE INDEX IF NOT EXISTS idx_paper_orders_bot_coin_ts ON paper_orders (bot_id, coin, ts_ms);

CREATE TABLE IF NOT EXISTS paper_fills (
    id             INTEGER PRIMARY KEY,
    venue_key      TEXT NOT NULL,
    fill_id        TEXT NOT NULL,
    bot_id         TEXT NOT NULL,
    coin           TEXT NOT NULL,
    cloid          TEXT NOT NULL,
    side           INTEGER NOT NULL,    -- 1 buy, -1 sell
    px_ticks       INTEGER NOT NULL,
    sz_lots        INTEGER NOT NULL,
    maker          INTEGER NOT NULL,
    fee_usd        REAL NOT NULL,
    remaining_lots INTEGER NOT NULL,
    counterparty   TEXT NOT NULL DEFAULT '',
    ts_ms          INTEGER NOT NULL,
    UNIQUE (venue_key, fill_id)
);
CREATE INDEX IF NOT EXISTS idx_paper_fills_bot_coin_ts ON paper_fills (bot_id, coin, ts_ms);

-- Last nonce issued per signer (schema v4); a restart restores max(last_nonce, now).
CREATE TABLE IF NOT EXISTS nonces (
    signer     TEXT PRIMARY KEY,        -- lowercased address
    last_nonce INTEGER NOT NULL,
    ts_ms      INTEGER NOT NULL
);
""",
}


class DbError(Exception):
    """The file is missing, not an mm_bot database, or fails validation."""


def schema_sql() -> str:
    """The text of schema.sql."""
    return SCHEMA_PATH.read_text()


def _pragmas(conn: sqlite3.Connection, readonly: bool) -> None:
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if not readonly:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")


def pragma_statements(readonly: bool = False) -> list[str]:
    """The PRAGMAs open_db applies, for the async shell to apply on its own connection."""
    out = [f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}"]
    if not readonly:
        out += ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"]
    out.append("PRAGMA foreign_keys=ON")
    return out


def open_db(path: str | Path, readonly: bool = False, create: bool = True) -> sqlite3.Connection:
    """Open the database with the project's PRAGMAs.

    readonly=True opens with SQLite's read-only URI mode and never creates or migrates;
    it raises DbError if the file does not exist or is not an mm_bot database.
    Otherwise the file is created (create=True) and migrated to SCHEMA_VERSION.
    """
    p = Path(path)
    if readonly:
        if not p.exists():
            raise DbError(f"{p}: no such database file")
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        _pragmas(conn, readonly=True)
        try:
            ok = conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='bots'").fetchone()
        except sqlite3.DatabaseError as e:
            conn.close()
            raise DbError(f"{p}: not an SQLite database ({e})") from None
        if not ok:
            conn.close()
            raise DbError(f"{p}: not an mm_bot database (no 'bots' table)")
        return conn
    if not create and not p.exists():
        raise DbError(f"{p}: no such database file")
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(p), timeout=BUSY_TIMEOUT_MS / 1000)
    _pragmas(conn, readonly=False)
    migrate(conn)
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found before."""
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as e:
        raise DbError(f"not an SQLite database ({e})") from None
    if version > SCHEMA_VERSION:
        raise DbError(f"database schema version {version} is newer than this mm_bot ({SCHEMA_VERSION})")
    if version == 0:
        conn.executescript(schema_sql())
        version = SCHEMA_VERSION
    while version < SCHEMA_VERSION:
        conn.executescript(MIGRATIONS[version])
        version += 1
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    conn.commit()
    return version


@dataclass(frozen=True)
class ExpectedSchema:
    tables: dict[str, list[str]]
    indexes: dict[str, str]


def expected_schema() -> ExpectedSchema:
    """Tables (with columns) and indexes (with their table) that schema.sql defines."""
    mem = sqlite3.connect(":memory:")
    mem.executescript(schema_sql())
    out = _describe(mem)
    mem.close()
    return out


def _describe(conn: sqlite3.Connection) -> ExpectedSchema:
    tables = {}
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ):
        tables[name] = [r[1] for r in conn.execute(f"PRAGMA table_info('{name}')")]
    indexes = {
        name: tbl
        for name, tbl in conn.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type='index' AND name NOT LIKE 'sqlite_%'"
        )
    }
    return ExpectedSchema(tables, indexes)


@dataclass(frozen=True)
class TableCheck:
    table: str
    ok: bool
    problems: tuple[str, ...]


def validate(conn: sqlite3.Connection) -> tuple[list[TableCheck], list[str]]:
    """Check tables, columns, indexes, WAL mode, user_version and integrity.

    Returns (per-table checks, database-wide problems). Empty problems everywhere means valid.
    """
    exp = expected_schema()
    have = _describe(conn)
    checks = []
    for table, cols in exp.tables.items():
        probs = []
        if table not in have.tables:
            probs.append(f"table '{table}' is missing")
        else:
            missing = [c for c in cols if c not in have.tables[table]]
            if missing:
                probs.append(f"table '{table}' lacks columns {', '.join(missing)}")
            for idx, tbl in exp.indexes.items():
                if tbl == table and idx not in have.indexes:
                    probs.append(f"index '{idx}' on '{table}' is missing")
        checks.append(TableCheck(table, not probs, tuple(probs)))
    general = []
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if mode.lower() != "wal":
        general.append(f"journal_mode is '{mode}', expected 'wal'")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        general.append(f"user_version is {version}, expected {SCHEMA_VERSION}")
    integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    if integrity != ["ok"]:
        general.append("integrity_check: " + "; ".join(integrity[:10]))
    return checks, general


TIME_COLUMN = {"uptime": "hour_ms"}


def table_info(conn: sqlite3.Connection) -> list[tuple[str, int, str, str]]:
    """(table, rows, first, last) per table, times as ISO UTC ('' for an empty table)."""
    from datetime import UTC, datetime

    def iso(ms):
        return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")

    out = []
    for table in expected_schema().tables:
        try:
            n = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            col = TIME_COLUMN.get(table, "ts_ms")
            lo, hi = conn.execute(f"SELECT MIN({col}), MAX({col}) FROM {table}").fetchone()
        except sqlite3.OperationalError:
            out.append((table, -1, "missing", ""))
            continue
        out.append((table, n, iso(lo), iso(hi)))
    return out
