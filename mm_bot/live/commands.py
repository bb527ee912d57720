"""Polling the `commands` table (scripts/kill.py, scripts/take_profit.py) for the asyncio shells."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

import aiosqlite

from mm_bot.core.records import CommandRow, SystemEventRow
from mm_bot.live.aio import wait_event
from mm_bot.live.clock import wall_ms

log = logging.getLogger("mm_bot.commands")

COMMAND_POLL_S = 0.2

# (bot_id, command, now_ms, coin) -> (status, result)
ApplyCommand = Callable[[str | None, str, int, str | None], tuple[str, str]]


async def poll_commands(conn: aiosqlite.Connection, stop_event: asyncio.Event, apply: ApplyCommand,
                        emit: Callable[[object], None], after: Callable[[], None]) -> None:
    """Until stop_event: read new commands every COMMAND_POLL_S, act on each exactly once, and emit
    the updated command row and a `command` system event; `after` runs when something was acted on."""
    acted: set[int] = set()
    while not stop_event.is_set():
        try:
            async with conn.execute("SELECT id, bot_id, coin, command, ts_ms FROM commands "
                                    "WHERE status='new' ORDER BY id") as cur:
                rows = await cur.fetchall()
        except aiosqlite.Error as e:
            log.warning("cannot read commands: %s", e)
            rows = []
        fresh = False
        for cid, bot_id, coin, command, ts in rows:
            # The 'done' update reaches the DB with the writer's next batch; until then the row
            # still reads 'new', so remember what was acted on instead of acting twice.
            if cid in acted:
                continue
            acted.add(cid)
            fresh = True
            now = wall_ms()
            status, result = apply(bot_id, command, now, coin)
            emit(CommandRow(cid, bot_id, coin, command, status, result, ts, now))
            emit(SystemEventRow(None, None, "command", "info" if status == "done" else "warning",
                                f"command {cid} {command} {bot_id or '(all bots)'}: {status}: {result}",
                                json.dumps({"command_id": cid, "command": command, "bot_id": bot_id}), now))
        if fresh:
            after()
        await wait_event(stop_event, COMMAND_POLL_S)
