"""Streaming readers of recorded market data for replay (see replay.py)."""

from mm_bot.sim.feeds.raw import ReplayError
from mm_bot.sim.feeds.replay import DEFAULT_INSTRUMENTS, ReplayFeed, ReplayStats, open_replay

__all__ = ["DEFAULT_INSTRUMENTS", "ReplayError", "ReplayFeed", "ReplayStats", "open_replay"]
