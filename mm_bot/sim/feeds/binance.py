"""Binance messages of hftbacktest-style dumps: USD-M / COIN-M futures and spot.

Combined-stream lines ``{"stream": ..., "data": {...}}`` (and bare events with an "e"
field) and the REST depth snapshot line ``{"lastUpdateId", bids, asks[, E, T, symbol]}``
the collector writes once at the start of a session.

Depth diffs map onto the stream's generic chained-diff machine (``_Stream.diff``) with
``lo`` = the lowest update id a diff may start from to be the first one after a snapshot
and ``pu`` = the id the diff chains from:

* futures (``pu`` present): lo = U, pu = pu; the first diff after a snapshot with
  lastUpdateId L must have U <= L <= u, diffs with u < L are dropped, then pu == previous u.
* spot (no ``pu``): lo = pu = U - 1; first diff U <= L + 1 <= u, then U == previous u + 1.
  (A spot diff with u == L is applied rather than dropped: its levels are absolute values
  already in the snapshot, so applying it changes nothing and keeps one rule for both.)

bookTicker: not emitted when the symbol has a depth stream (the depth book is exact and
deeper; emitting both would let a stale BBO overwrite fresher depth levels). It is only
counted, or with ``check_bbo`` compared with the rebuilt book as a sanity check. A symbol
recorded with bookTicker only gets each BBO as a one-level snapshot BookUpdate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mm_bot.core.types import BUY, SELL, BookUpdate

if TYPE_CHECKING:
    from mm_bot.sim.feeds.replay import _Stream

_EVENTS = frozenset(("depthUpdate", "trade", "bookTicker"))


def on_event(s: _Stream, d: dict, lms: int, ln: int) -> None:
    """One stream event (the ``data`` of a combined-stream line)."""
    e = d.get("e")
    if e is None and "A" in d and "B" in d and "u" in d:
        e = "bookTicker"  # spot bookTicker has no "e"
    elif e not in _EVENTS:
        s.stats.unknown += 1
        return
    sym = d["s"]
    c = s.by_sym.get(sym)
    if c is None:
        c = s.by_sym[sym] = s.coin(sym.upper(), ln)
    if e == "depthUpdate":
        ts = s.ts(lms, d.get("E"))
        pu = d.get("pu")
        if pu is None:
            lo = pu = d["U"] - 1
        else:
            lo = d["U"]
        if pu == c.last and c.fast:
            # the common case inlined: in sequence, book synced, no check_bbo book
            pc, sc = c.pc, c.sc
            bids = tuple([(pc[p], sc[q]) for p, q in d["b"]])
            asks = tuple([(pc[p], sc[q]) for p, q in d["a"]])
            c.last = d["u"]
            c.lo = lo
            s.out.append(BookUpdate(c.name, ts, bids, asks, False))
            s.n_books += 1
            s.n_levels += len(bids) + len(asks)
        else:
            s.diff(c, ts, s.path, ln, lo, d["u"], pu, d["b"], d["a"])
    elif e == "trade":
        ts = s.ts(lms, d.get("E"))
        x = d.get("X")
        if x is not None and x != "MARKET":
            s.stats.skipped_trades += 1
            return
        s.trade(c, ts, c.pc[d["p"]], c.sc[d["q"]], SELL if d["m"] else BUY, str(d["t"]), ())
    else:
        s.stats.bookticker += 1
        if c.bbo_book:
            ts = s.ts(lms, d.get("E"))
            s.full_book(c, ts, ((c.pc[d["b"]], c.sc[d["B"]]),), ((c.pc[d["a"]], c.sc[d["A"]]),))
        elif c.book is not None:
            s.check_bbo(c, d["u"], c.pc[d["b"]], c.pc[d["a"]])


def on_snapshot(s: _Stream, obj: dict, lms: int, ln: int) -> None:
    """The REST depth snapshot line. USD-M and spot snapshots carry no symbol: the file's."""
    sym = obj.get("symbol")
    name = sym.upper() if sym else s.file_coin
    if name is None:
        s.stats.unknown += 1
        return
    c = s.coin(name, ln)
    ts = s.ts(lms, obj.get("E"))
    s.snapshot(c, ts, ln, obj["lastUpdateId"], obj["bids"], obj["asks"])
