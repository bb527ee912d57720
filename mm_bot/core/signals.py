"""Per-coin market signals for the quote pipeline: realized volatility, the dynamic spread
floor, book imbalance, funding, signed trade flow and our maker share, and the side
chosen by the single-sided mode.

Sans-I/O: every time is an argument in ms on the injected clock. One `SignalState` per
bot and coin; the bot feeds it and reads a frozen `QuoteSignals` snapshot once per loop:

- `on_loop(now_ms, book)` once per quoting loop (book None while it is unusable): samples
  the book (as `on_book`), records the market spread, counts the loop, recomputes the
  dynamic floor on its schedule and advances the single-sided side choice;
- `on_book(now_ms, book)` optionally on further book updates (mids are sampled at most
  once per second, so calling it more often costs little and changes nothing);
- `on_trade(trade)` for each public trade of the coin, `on_fill(maker)` for each of our
  fills, `set_funding(rate)` when a funding rate arrives;
- `signals(now_ms)` for the snapshot that `quoting.target_quotes` takes.

Definitions (docs/QUOTING.md has the worked numbers):
- vol_bps: realized volatility per second, in bps: mids sampled at least 1 s apart over
  the last vol_lookback_sec, sqrt(sum of squared log returns / seconds covered) x 10^4.
- dynamic_floor_bps: full-spread floor, the dynamic_min_spread_percentile (linear
  interpolation between order statistics) of the market spread (bps of mid) sampled once
  per loop over the last dynamic_min_spread_lookback_loops loops; computed on the first
  loop with a sample, then every dynamic_min_spread_update_every_loops loops.
- flow: buy and sell taker volume (lots), each decayed with half-life ss_ma_half_life_sec.
- maker share: our fills' maker flag averaged with weights halving every
  MAKER_SHARE_HALF_LIFE_FILLS fills (1.0 before any fill).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from mm_bot.core.book import L2Book
from mm_bot.core.types import BUY, TradePrint

# Mids for the realized volatility are sampled at least this far apart.
VOL_SAMPLE_MS = 1_000
# Weight of a fill in the maker share halves after this many further fills.
MAKER_SHARE_HALF_LIFE_FILLS = 20.0

SIDE_MODES = ("both", "bid", "ask")


@dataclass(frozen=True, slots=True)
class QuoteSignals:
    """What the quote pipeline needs from the market, at one instant.

    vol_bps: realized vol per second (bps); dynamic_floor_bps: full-spread floor (bps, 0 =
    none); imbalance: book imbalance in [-1, 1] (positive: more bid size); funding_rate:
    per funding interval (positive: longs pay shorts; 0 when unknown); side_mode: 'both',
    'bid' or 'ask' (which sides the single-sided mode lets quote).
    """

    vol_bps: float = 0.0
    dynamic_floor_bps: float = 0.0
    imbalance: float = 0.0
    funding_rate: float = 0.0
    side_mode: str = "both"


NEUTRAL = QuoteSignals()


@dataclass(frozen=True, slots=True)
class SignalParams:
    """The signal settings of one coin (its effective config)."""

    vol_lookback_sec: float = 300.0
    imbalance_levels: int = 5
    dynamic_min_spread_enabled: bool = False
    dynamic_min_spread_percentile: float = 50.0
    dynamic_min_spread_lookback_loops: int = 600
    dynamic_min_spread_update_every_loops: int = 60
    single_sided_mode: str = "off"
    single_sided_flip_cooldown_loops: int = 20
    single_sided_market_aware: bool = False
    ss_ma_half_life_sec: float = 60.0
    ss_ma_min_maker_share: float = 0.6
    ss_ma_side_bias_ratio: float = 1.5

    @classmethod
    def from_config(cls, cfg) -> SignalParams:
        """From a coin's effective config (`BotConfig.for_coin(coin)`)."""
        return cls(
            vol_lookback_sec=cfg.vol_lookback_sec,
            imbalance_levels=cfg.imbalance_levels,
            dynamic_min_spread_enabled=cfg.dynamic_min_spread_enabled,
            dynamic_min_spread_percentile=cfg.dynamic_min_spread_percentile,
            dynamic_min_spread_lookback_loops=cfg.dynamic_min_spread_lookback_loops,
            dynamic_min_spread_update_every_loops=cfg.dynamic_min_spread_update_every_loops,
            single_sided_mode=cfg.single_sided_mode,
            single_sided_flip_cooldown_loops=cfg.single_sided_flip_cooldown_loops,
            single_sided_market_aware=cfg.single_sided_market_aware,
            ss_ma_half_life_sec=cfg.ss_ma_half_life_sec,
            ss_ma_min_maker_share=cfg.ss_ma_min_maker_share,
            ss_ma_side_bias_ratio=cfg.ss_ma_side_bias_ratio,
        )


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (0-100) by linear interpolation between order statistics
    (numpy's default): rank pct/100 x (n - 1) in the sorted values. 0.0 for no values."""
    if not values:
        return 0.0
    xs = sorted(values)
    rank = min(max(pct, 0.0), 100.0) / 100.0 * (len(xs) - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo)


def decay(value: float, dt_ms: float, half_life_ms: float) -> float:
    """`value` after dt_ms of exponential decay with the given half-life."""
    if dt_ms <= 0 or value == 0.0:
        return value
    return value * 0.5 ** (dt_ms / half_life_ms)


def flow_side(buy_flow: float, sell_flow: float, bias_ratio: float) -> str:
    """The side to quote by the flow rule: 'bid' when taker buys dominate by at least
    bias_ratio (the flow would lift our asks: do not sell into it), 'ask' when taker sells
    dominate, else 'both'. A side with no flow against any flow is an infinite ratio."""
    if buy_flow <= 0 and sell_flow <= 0:
        return "both"
    if buy_flow > sell_flow and (sell_flow <= 0 or buy_flow / sell_flow >= bias_ratio):
        return "bid"
    if sell_flow > buy_flow and (buy_flow <= 0 or sell_flow / buy_flow >= bias_ratio):
        return "ask"
    return "both"


def _usable(book: L2Book | None) -> bool:
    if book is None or not book.in_sync:
        return False
    bb, ba = book.best_bid, book.best_ask
    return bb > 0 and ba > 0 and bb < ba


class SignalState:
    """Signals of one coin for one bot. See the module docstring for what to call when."""

    __slots__ = ("p", "_mids", "_spreads", "_floor", "_loops", "_floor_loop", "_imbalance", "_funding",
                 "_buy", "_sell", "_flow_ms", "_maker_w", "_maker_n", "_side", "_side_loop")

    def __init__(self, params: SignalParams | None = None) -> None:
        self.p = params or SignalParams()
        # (t_ms, mid in half ticks) at least VOL_SAMPLE_MS apart, oldest first.
        self._mids: deque[tuple[int, int]] = deque()
        self._spreads: deque[float] = deque(maxlen=max(1, self.p.dynamic_min_spread_lookback_loops))
        self._floor = 0.0
        self._loops = 0
        self._floor_loop: int | None = None
        self._imbalance = 0.0
        self._funding = 0.0
        self._buy = 0.0
        self._sell = 0.0
        self._flow_ms: int | None = None
        self._maker_w = 0.0
        self._maker_n = 0.0
        self._side = self._static_side()
        self._side_loop: int | None = None

    def _static_side(self) -> str:
        mode = self.p.single_sided_mode
        return mode if mode in ("bid", "ask") else "both"

    # ------------------------------------------------------------ inputs

    def on_book(self, now_ms: int, book: L2Book | None) -> None:
        """Sample the book: a mid for the volatility (at most one per second), the imbalance.
        An unusable book (None, out of sync, one-sided or crossed) is ignored."""
        if not _usable(book):
            return
        self._imbalance = book.imbalance(self.p.imbalance_levels)
        mids = self._mids
        if mids and now_ms - mids[-1][0] < VOL_SAMPLE_MS:
            return
        mids.append((now_ms, book.mid2()))
        horizon = now_ms - self.p.vol_lookback_sec * 1000
        while mids[0][0] < horizon:
            mids.popleft()

    def on_loop(self, now_ms: int, book: L2Book | None) -> None:
        """Once per quoting loop. `book` None (or unusable) still counts the loop."""
        self._loops += 1
        self.on_book(now_ms, book)
        p = self.p
        if p.dynamic_min_spread_enabled:
            if _usable(book):
                self._spreads.append(book.spread_bps())
            due = (self._floor_loop is None
                   or self._loops - self._floor_loop >= p.dynamic_min_spread_update_every_loops)
            if due and self._spreads:
                self._floor = percentile(list(self._spreads), p.dynamic_min_spread_percentile)
                self._floor_loop = self._loops
        if p.single_sided_mode == "auto":
            want = self.auto_side(now_ms)
            if want != self._side:
                cooled = (self._side_loop is None
                          or self._loops - self._side_loop >= p.single_sided_flip_cooldown_loops)
                if cooled:
                    self._side = want
                    self._side_loop = self._loops

    def on_trade(self, trade: TradePrint) -> None:
        """A public trade: adds its size to the decayed buy or sell taker flow."""
        if self._flow_ms is not None:
            dt = trade.ts_ms - self._flow_ms
            if dt > 0:
                hl = self.p.ss_ma_half_life_sec * 1000
                self._buy = decay(self._buy, dt, hl)
                self._sell = decay(self._sell, dt, hl)
        if self._flow_ms is None or trade.ts_ms > self._flow_ms:
            self._flow_ms = trade.ts_ms
        if trade.aggressor == BUY:
            self._buy += trade.sz
        else:
            self._sell += trade.sz

    def on_fill(self, maker: bool) -> None:
        """One of our fills: updates the maker share."""
        k = 0.5 ** (1.0 / MAKER_SHARE_HALF_LIFE_FILLS)
        self._maker_w = self._maker_w * k + 1.0
        self._maker_n = self._maker_n * k + (1.0 if maker else 0.0)

    def set_funding(self, rate: float) -> None:
        """The coin's current funding rate per interval (positive: longs pay)."""
        self._funding = float(rate)

    # ------------------------------------------------------------ reads

    def flow(self, now_ms: int) -> tuple[float, float]:
        """(buy, sell) taker flow in lots, decayed to now_ms."""
        if self._flow_ms is None:
            return 0.0, 0.0
        dt = now_ms - self._flow_ms
        hl = self.p.ss_ma_half_life_sec * 1000
        return decay(self._buy, dt, hl), decay(self._sell, dt, hl)

    def signed_flow(self, now_ms: int) -> float:
        """Buy minus sell taker flow in lots (positive: buyers dominate)."""
        b, s = self.flow(now_ms)
        return b - s

    def maker_share(self) -> float:
        """Weighted share (0-1) of our recent fills that were maker; 1.0 before any fill."""
        return self._maker_n / self._maker_w if self._maker_w > 0 else 1.0

    def auto_side(self, now_ms: int) -> str:
        """The side the auto single-sided rule wants now (before the flip cooldown).

        The flow rule (`flow_side` with ss_ma_side_bias_ratio); with
        single_sided_market_aware also only while our maker share >= ss_ma_min_maker_share.
        """
        p = self.p
        if p.single_sided_market_aware and self.maker_share() < p.ss_ma_min_maker_share:
            return "both"
        b, s = self.flow(now_ms)
        return flow_side(b, s, p.ss_ma_side_bias_ratio)

    def vol_bps(self, now_ms: int) -> float:
        """Realized vol per second in bps over the last vol_lookback_sec (0 without 2 samples)."""
        horizon = now_ms - self.p.vol_lookback_sec * 1000
        mids = self._mids
        sq = 0.0
        secs = 0.0
        for i in range(1, len(mids)):
            t0, m0 = mids[i - 1]
            t1, m1 = mids[i]
            if t0 < horizon or t1 > now_ms:
                continue
            r = math.log(m1 / m0)
            sq += r * r
            secs += (t1 - t0) / 1000.0
        if secs <= 0:
            return 0.0
        return math.sqrt(sq / secs) * 1e4

    @property
    def loops(self) -> int:
        return self._loops

    @property
    def side_mode(self) -> str:
        return self._side

    def signals(self, now_ms: int) -> QuoteSignals:
        """The snapshot the quote pipeline takes."""
        return QuoteSignals(
            vol_bps=self.vol_bps(now_ms),
            dynamic_floor_bps=self._floor if self.p.dynamic_min_spread_enabled else 0.0,
            imbalance=self._imbalance,
            funding_rate=self._funding,
            side_mode=self._side,
        )
