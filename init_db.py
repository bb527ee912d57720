"""Create, validate or describe an mm_bot SQLite database.

    python init_db.py --db hypertrade.db             # create (or migrate) it
    python init_db.py --db hypertrade.db --validate  # tables, columns, indexes, WAL, integrity
    python init_db.py --db hypertrade.db --info      # row counts and time span per table
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click
from tabulate import tabulate

from mm_bot.store.db import DbError, open_db, table_info, validate


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", type=click.Path(path_type=Path), required=True, help="SQLite file.")
@click.option("--validate", "do_validate", is_flag=True,
              help="Check tables, columns, indexes, WAL mode, schema version and integrity; exit 1 naming "
                   "what is wrong.")
@click.option("--info", "do_info", is_flag=True, help="Print row counts and time span per table.")
def main(db_path: Path, do_validate: bool, do_info: bool) -> None:
    """Create the mm_bot schema in DB (or check it with --validate, describe it with --info)."""
    if do_validate or do_info:
        if not db_path.exists():
            click.echo(f"error: {db_path}: no such database file", err=True)
            sys.exit(2)
        try:
            conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
            conn.execute("SELECT 1 FROM sqlite_master").fetchall()
        except sqlite3.DatabaseError as e:
            click.echo(f"error: {db_path}: not an SQLite database ({e})", err=True)
            sys.exit(2)
        code = 0
        if do_validate:
            checks, general = validate(conn)
            bad = [c for c in checks if not c.ok]
            for c in bad:
                for p in c.problems:
                    click.echo(f"INVALID: {p}", err=True)
            for p in general:
                click.echo(f"INVALID: {p}", err=True)
            if bad or general:
                code = 1
            else:
                click.echo(f"OK: {db_path} valid ({len(checks)} tables, WAL, integrity ok)")
        if do_info:
            rows = table_info(conn)
            click.echo(tabulate(rows, headers=["table", "rows", "first (UTC)", "last (UTC)"]))
        conn.close()
        sys.exit(code)
    try:
        conn = open_db(db_path)
    except (DbError, sqlite3.DatabaseError) as e:
        click.echo(f"error: {db_path}: {e}", err=True)
        sys.exit(2)
    conn.close()
    click.echo(f"created {db_path}")


if __name__ == "__main__":
    main()
