"""The wall clock, injected into the core by the asyncio shell only."""

from __future__ import annotations

import time


def wall_ms() -> int:
    """UTC milliseconds since the epoch."""
    return time.time_ns() // 1_000_000
