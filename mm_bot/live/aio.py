"""Small asyncio helpers shared by the shells."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until `event` is set or `timeout` seconds pass; True if it is set.

    Built on asyncio.wait rather than wait_for: on CPython 3.11 wait_for can swallow a
    cancellation that races the inner wake-up, leaving a task that never ends.
    """
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return event.is_set()
