"""Manual control of running bots through the `commands` table.

    python scripts/kill.py --db hypertrade.db --pause            # every bot: cancel quotes, keep watching
    python scripts/kill.py --db hypertrade.db --bot example-mm --resume
    python scripts/kill.py --db hypertrade.db --bot example-mm --stop
    python scripts/kill.py --db hypertrade.db --flatten          # close positions with bounded-slippage IOCs

The runner polls the table every 200 ms, acts, and records the result in the row and in system_events.
Exit codes: 0 command written (and, with --wait, acted on), 1 not acted on in time, 2 bad DB or arguments.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mm_bot.store.db import BUSY_TIMEOUT_MS  # noqa: E402


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", type=click.Path(path_type=Path), required=True, help="The bots' SQLite file.")
@click.option("--bot", "bot_id", default=None, help="Bot id; default: every bot of the runner.")
@click.option("--pause", "command", flag_value="pause", help="Cancel quotes and stop placing; keep watching.")
@click.option("--resume", "command", flag_value="resume", help="Quote again after a pause.")
@click.option("--stop", "command", flag_value="stop", help="Stop the bot (every bot: stop the runner).")
@click.option("--flatten", "command", flag_value="flatten", help="Close positions with bounded-slippage IOCs.")
@click.option("--wait", type=float, default=0.0, show_default=True,
              help="Seconds to wait for the runner to act on the command (0: do not wait).")
def main(db_path: Path, bot_id: str | None, command: str | None, wait: float) -> None:
    """Write a manual command for the runner into the commands table."""
    if command is None:
        click.echo("error: give one of --pause, --resume, --stop, --flatten", err=True)
        sys.exit(2)
    if not db_path.exists():
        click.echo(f"error: {db_path}: no such database file", err=True)
        sys.exit(2)
    try:
        conn = sqlite3.connect(str(db_path), timeout=BUSY_TIMEOUT_MS / 1000)
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='commands'").fetchone():
            raise sqlite3.DatabaseError("no 'commands' table")
        if bot_id is not None and not conn.execute("SELECT 1 FROM bots WHERE bot_id=?", (bot_id,)).fetchone():
            click.echo(f"error: {db_path}: no bot '{bot_id}' in the bots table", err=True)
            sys.exit(2)
        now = time.time_ns() // 1_000_000
        with conn:
            cur = conn.execute("INSERT INTO commands (bot_id, coin, command, status, result, ts_ms) "
                               "VALUES (?, NULL, ?, 'new', '', ?)", (bot_id, command, now))
        cid = cur.lastrowid
    except sqlite3.DatabaseError as e:
        click.echo(f"error: {db_path}: not an mm_bot database ({e})", err=True)
        sys.exit(2)
    click.echo(f"command {cid}: {command} {bot_id or '(all bots)'} written")
    if wait <= 0:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        row = conn.execute("SELECT status, result FROM commands WHERE id=?", (cid,)).fetchone()
        if row and row[0] != "new":
            click.echo(f"command {cid}: {row[0]}: {row[1]}")
            sys.exit(0 if row[0] == "done" else 1)
        time.sleep(0.1)
    click.echo(f"command {cid}: not acted on within {wait} s (is the runner running on this DB?)", err=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
