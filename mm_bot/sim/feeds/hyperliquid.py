"""Hyperliquid WS messages: ``l2Book`` full snapshots and ``trades``.

Each ``l2Book`` push replaces the whole book (levels[0] bids, levels[1] asks, each
``{"px","sz","n"}``), so it is emitted as ``BookUpdate(snapshot=True)``; there are no
sequence numbers to check. ``trades`` is a list of prints, side "B" = buyer took liquidity
(aggressor BUY), "A" = seller (aggressor SELL); ``tid`` becomes trade_id, ``users`` the
(buyer, seller) addresses.

On subscribe Hyperliquid first replays recent trades (in the sample ~30 prints up to ~49 s
old). Replaying them at their receive time would show the simulator prints that never
happened then, so a trade whose exchange time is more than STALE_TRADE_MS before its
(shifted) receive time is dropped and counted in ``stats.stale_trades``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mm_bot.core.types import BUY, SELL

if TYPE_CHECKING:
    from mm_bot.sim.feeds.replay import _Stream

STALE_TRADE_MS = 5_000


def on_message(s: _Stream, obj: dict, lms: int, ln: int) -> None:
    ch = obj["channel"]
    d = obj.get("data")
    if ch == "l2Book":
        c = s.coin(d["coin"], ln)
        ts = s.ts(lms, d.get("time"))
        pc, sc = c.pc, c.sc
        lv = d["levels"]
        bids = tuple([(pc[x["px"]], sc[x["sz"]]) for x in lv[0]])
        asks = tuple([(pc[x["px"]], sc[x["sz"]]) for x in lv[1]])
        s.full_book(c, ts, bids, asks)
    elif ch == "trades":
        for t in d:
            c = s.coin(t["coin"], ln)
            t_ms = t["time"]
            ts = s.ts(lms, t_ms)
            if lms + s.shift - t_ms > STALE_TRADE_MS:
                s.stats.stale_trades += 1
                continue
            users = t.get("users")
            s.trade(
                c,
                ts,
                c.pc[t["px"]],
                c.sc[t["sz"]],
                BUY if t["side"] == "B" else SELL,
                str(t["tid"]),
                tuple(users) if users else (),
            )
    else:
        s.stats.unknown += 1
