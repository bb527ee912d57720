"""Check an mm_bot database against schema.sql, table by table (read-only).

    python scripts/check_db_schema.py --db hypertrade.db

Prints one row per table of schema.sql (ok, row count, problems: missing table, columns or
indexes) and the database-wide checks (WAL journal mode, user_version, integrity_check), all
from mm_bot.store.db.validate. Exit 0 when everything is valid, 1 when anything is wrong,
2 when the file is missing, not SQLite, or has no mm_bot tables at all.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import click  # noqa: E402
from tabulate import tabulate  # noqa: E402

from mm_bot.store.db import DbError, open_db, validate  # noqa: E402


def check(conn: sqlite3.Connection) -> tuple[list[list], list[str]]:
    """(rows of [table, ok, rows, problems], database-wide problems)."""
    checks, general = validate(conn)
    rows = []
    for c in checks:
        n: int | str = "-"
        if c.ok:
            n = conn.execute(f"SELECT COUNT(*) FROM {c.table}").fetchone()[0]
        rows.append([c.table, "ok" if c.ok else "FAIL", n, "; ".join(c.problems)])
    return rows, general


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", type=click.Path(path_type=Path), required=True, help="mm_bot SQLite file.")
def main(db_path: Path) -> None:
    """Per-table schema report of DB; exit 0 valid, 1 invalid, 2 missing/not SQLite/not mm_bot."""
    try:
        conn = open_db(db_path, readonly=True)
    except DbError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    try:
        rows, general = check(conn)
    except sqlite3.DatabaseError as e:
        click.echo(f"error: {db_path}: {e}", err=True)
        sys.exit(2)
    finally:
        conn.close()
    click.echo(tabulate(rows, headers=["table", "ok", "rows", "problems"]))
    click.echo("")
    click.echo(tabulate([[p] for p in general] or [["none"]], headers=["database-wide problems"]))
    bad = [r for r in rows if r[1] != "ok"]
    if bad or general:
        click.echo(f"\nINVALID: {len(bad)} table(s) with problems, {len(general)} database-wide problem(s)")
        sys.exit(1)
    click.echo(f"\nOK: {db_path} matches schema.sql ({len(rows)} tables)")
    sys.exit(0)


if __name__ == "__main__":
    main()
