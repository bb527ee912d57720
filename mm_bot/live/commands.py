"""Polling the `commands` table (scripts/kill.py, scripts/take_profit.py) for the asyncio shells."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

import aiosqlite

from mm_bot.core.records import BotRow, CommandRow, SystemEventRow
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


def apply_command(bots: list, bot_id: str | None, command: str, now: int, coin: str | None,
                  submit: Callable[[object, list], None], request_stop: Callable[[str], None],
                  emit: Callable[[object], None], configs: dict, mode: Callable[[object], str]
                  ) -> tuple[str, str]:
    """Carry out one manual command on the targeted bots; returns (status, result).

    submit(bot, actions) sends a bot's actions to its venue; coin narrows flatten/take_profit;
    `stop` without a bot stops the whole runner. Each acted-on bot gets a fresh `bots` row.
    """
    targets = [b for b in bots if bot_id is None or b.bot_id == bot_id]
    if not targets:
        return "failed", f"no bot '{bot_id}' in this runner"
    if coin is not None and any(coin not in b.coins for b in targets):
        return "failed", f"coin '{coin}' is not traded by {', '.join(b.bot_id for b in targets if coin not in b.coins)}"
    if command not in ("pause", "resume", "stop", "flatten", "take_profit"):
        return "failed", f"unknown command '{command}'"
    if command == "stop" and bot_id is None:
        request_stop("command stop")
        return "done", "runner stopping"
    done = []
    for bot in targets:
        if bot.status in ("stopped", "failed"):
            continue
        if command == "pause":
            submit(bot, bot.pause(now, "manual command"))
        elif command == "resume":
            bot.resume(now, "manual command")
        elif command == "stop":
            submit(bot, bot.stop(now, "manual command"))
            bot.event("stop", "info", "bot stopped (manual command)", now, reason="manual command")
        elif command == "flatten":
            # Pause first so the quoter does not rebuild the position being closed.
            submit(bot, bot.pause(now, "manual flatten"))
            submit(bot, bot.flatten(now, "manual command", coin))
        else:
            submit(bot, bot.take_profit_now(now, coin))
        done.append(bot.bot_id)
        cfg = configs[bot.bot_id]
        emit(BotRow(bot.bot_id, cfg.venue, mode(cfg), cfg.to_json(), bot.status, now))
    return "done", f"{command}: {', '.join(done) or 'no running bot'}"
