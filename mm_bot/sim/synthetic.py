"""Seeded synthetic market: the default market-data source of paper mode.

The generator is pure and clock-free. It never reads the wall clock; the caller asks for the events up to a
time (`events_until`) or for the time of the next one (`next_event_ms`, for a discrete-event driver). The same
coin, parameters, seed and start time always give the same event stream, whatever the pattern of calls.

Model (one coin, prices in integer ticks, sizes in integer lots):

* **Time grid.** Book updates happen every `book_update_ms` at ``start_ms + k * book_update_ms``. The first one
  (k = 0, at `start_ms`) is a full snapshot; every later one is a diff holding only the changed levels (size 0
  deletes a level). A diff is sent on every step even when nothing changed (an empty diff is the feed's
  heartbeat), so a silent feed always means a gap.
* **Fair mid.** The latent mid follows geometric Brownian motion on the book-update grid: each step the log
  mid moves by ``sigma * z - sigma**2 / 2`` with z standard normal. Volatility clusters through a two-state
  regime (calm / storm): the storm regime multiplies sigma by `vol_regime_mult`, regimes last on average
  `calm_mean_s` and `storm_mean_s` seconds (geometric durations), and the calm sigma is scaled so that the
  long-run average variance matches `annual_vol` (a 365-day year, crypto trades around the clock).
* **Book.** The spread in ticks is 1 + a geometric number of ticks with mean `spread_ticks_mean` - 1, redrawn
  with probability `spread_change_prob` per step. The target best bid is ``floor(mid - spread / 2 + 0.5)`` and
  the target best ask is that plus the spread, so the book is never crossed and best bid and ask are always
  at least one tick apart. Each side shows exactly `levels` levels one tick apart from its best. When the mid
  moves, levels that would cross are removed, levels are added at the new touch and the far end is trimmed or
  extended. The mean USD size of the level at distance i ticks from the target touch is
  ``depth_usd_per_level * touch_depth_factor`` for i = 0 and ``depth_usd_per_level * (1 + depth_slope*(i-1))``
  beyond (more depth further out), times lognormal noise (`depth_noise`, mean 1). Each step every level is
  replaced by a fresh size with probability `level_refresh_prob` (cancels and new orders, no trade).
* **Trades.** Taker orders arrive as a Poisson process of rate `trade_rate_per_sec`. Their USD size is
  Lomax (Pareto II) with tail index `trade_size_alpha` and median `median_trade_usd`, clipped to
  [`min_notional_usd`, `max_trade_usd`], so most trades are small and a few are huge. The aggressor side
  repeats the previous one with probability `flow_persistence` (order-flow autocorrelation). A taker order
  executes at the best opposite price and consumes the displayed size there; a large one walks the book and
  prints one TradePrint per level it takes (same ts_ms, worse prices), never taking the last level of a side.
  trade_id is ``"<coin>-<taker order number>-<level index>"``, so the prints of one taker order share a prefix.
  Consumed size stays consumed: the next book update shows the reduced or deleted levels. A touch price that
  a trade emptied stays empty (the spread stays wider) until it is refilled, with probability
  `touch_refill_prob` per step; deeper emptied levels are refilled on the next step. Trades that fall in
  (t_{k-1}, t_k] execute against the book published at t_{k-1} and come before the book update at t_k.
* **Randomness.** Each market owns one ``random.Random`` seeded from (seed, crc32(coin)), so adding or removing
  a coin never changes another coin's stream.

Scenarios (stress tests). ``scenario`` is None or one of the names below. Each scenario's window starts at
``start_ms + scenario_start_s`` (default 20 s, so a 60 s run sees all of it) and lasts the time given:

* ``vol_spike`` (20 s): sigma x5 (`VOL_SPIKE_MULT`) on top of the regime.
* ``flash_crash`` (25 s): the mid falls 8 % (`FLASH_CRASH_DROP`) over 5 s (a steady drift plus the usual
  noise) while takers are 85 % sellers and arrive 3x as often; it then recovers half of the (log) drop over
  the next 20 s.
* ``md_gap`` (10 s): no events at all. The market keeps moving and trading in the dark; the trades of the first
  step after the gap are not sent either, and the feed resumes with a full snapshot. The hole between the last
  event before and the first event after is at least 10 s.
* ``spread_blowout`` (15 s): the spread is 120-200 bps of the mid (redrawn like the normal spread) and new
  levels are 30 % of their normal size.
* ``one_sided_flow`` (20 s): each taker is a seller with probability 0.9 (no persistence inside the window).
  The fair mid is not pushed: this tests the quoter's inventory handling, not its trend detection.

``SyntheticMarket.scenario_window`` gives the window in ms. Trading errors (``error_burst``) are not a market
property and live in the paper venue, not here.
"""

from __future__ import annotations

import math
import random
import zlib
from collections import deque
from dataclasses import dataclass, fields, replace

from mm_bot.core.types import BUY, SELL, BookUpdate, Instrument, MarketEvent, TradePrint

YEAR_MS = 365 * 24 * 3600 * 1000

SCENARIO_DURATION_MS: dict[str, int] = {
    "vol_spike": 20_000,
    "flash_crash": 25_000,
    "md_gap": 10_000,
    "spread_blowout": 15_000,
    "one_sided_flow": 20_000,
}
SCENARIOS: tuple[str, ...] = tuple(SCENARIO_DURATION_MS)

VOL_SPIKE_MULT = 5.0
FLASH_CRASH_DROP = 0.08
FLASH_CRASH_DROP_MS = 5_000
FLASH_CRASH_RECOVERY = 0.5
FLASH_CRASH_SELL_PROB = 0.85
FLASH_CRASH_RATE_MULT = 3.0
SPREAD_BLOWOUT_BPS = (120.0, 200.0)
SPREAD_BLOWOUT_DEPTH_MULT = 0.3
ONE_SIDED_SELL_PROB = 0.9


@dataclass(frozen=True)
class SyntheticParams:
    """Parameters of one synthetic coin. The defaults are the generic (SOL-like, Hyperliquid-like) preset.

    Instrument:
      start_price (150.0): initial mid in USD.
      tick_size (0.01): price tick in USD.
      lot_size (0.01): size lot in base units.
      min_notional_usd (10.0): smallest order value the venue accepts; also the smallest synthetic trade.
      max_sig_figs (5): price significant-figure limit of the instrument (Hyperliquid: 5).
    Price process:
      annual_vol (0.9): annualized volatility of the mid (long-run average over both regimes).
      vol_regime_mult (2.0): sigma multiplier in the storm regime (1.0 disables clustering).
      calm_mean_s (240.0): mean duration of a calm regime, seconds.
      storm_mean_s (60.0): mean duration of a storm regime, seconds.
    Book:
      levels (20): levels shown per side.
      book_update_ms (100): book update period (the time grid of the mid).
      spread_ticks_mean (2.0): mean spread in ticks (>= 1; 1 means always one tick).
      spread_change_prob (0.1): probability per step that the spread is redrawn.
      depth_usd_per_level (12_000.0): mean USD size of the level one tick behind the touch.
      touch_depth_factor (0.4): the touch level's mean size as a fraction of depth_usd_per_level.
      depth_slope (0.1): mean size grows by this fraction of depth_usd_per_level per tick further out.
      depth_noise (0.6): sigma of the lognormal (mean 1) noise on every level size.
      level_refresh_prob (0.08): probability per step that a level gets a fresh size (no trade involved).
      touch_refill_prob (0.35): probability per step that a touch price emptied by trades is refilled.
    Trades:
      trade_rate_per_sec (3.0): Poisson rate of taker orders.
      trade_size_alpha (1.3): Lomax (Pareto II) tail index of taker order USD sizes; smaller is heavier.
      median_trade_usd (500.0): median taker order size in USD.
      max_trade_usd (250_000.0): taker order sizes are clipped to this.
      flow_persistence (0.6): probability a taker is on the same side as the previous one.
    Stress:
      scenario (None): None or one of SCENARIOS (see the module docstring).
      scenario_start_s (20.0): start of the scenario window, seconds after start_ms.
    """

    start_price: float = 150.0
    tick_size: float = 0.01
    lot_size: float = 0.01
    min_notional_usd: float = 10.0
    max_sig_figs: int = 5
    annual_vol: float = 0.9
    vol_regime_mult: float = 2.0
    calm_mean_s: float = 240.0
    storm_mean_s: float = 60.0
    levels: int = 20
    book_update_ms: int = 100
    spread_ticks_mean: float = 2.0
    spread_change_prob: float = 0.1
    depth_usd_per_level: float = 12_000.0
    touch_depth_factor: float = 0.4
    depth_slope: float = 0.1
    depth_noise: float = 0.6
    level_refresh_prob: float = 0.08
    touch_refill_prob: float = 0.35
    trade_rate_per_sec: float = 3.0
    trade_size_alpha: float = 1.3
    median_trade_usd: float = 500.0
    max_trade_usd: float = 250_000.0
    flow_persistence: float = 0.6
    scenario: str | None = None
    scenario_start_s: float = 20.0

    def __post_init__(self) -> None:
        positive = (
            "start_price",
            "tick_size",
            "lot_size",
            "annual_vol",
            "calm_mean_s",
            "storm_mean_s",
            "depth_usd_per_level",
            "touch_depth_factor",
            "trade_rate_per_sec",
            "trade_size_alpha",
            "median_trade_usd",
            "max_trade_usd",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"SyntheticParams.{name} must be > 0, got {getattr(self, name)!r}")
        probs = ("spread_change_prob", "level_refresh_prob", "touch_refill_prob", "flow_persistence")
        for name in probs:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SyntheticParams.{name} must be in [0, 1], got {getattr(self, name)!r}")
        if self.levels < 2:
            raise ValueError(f"SyntheticParams.levels must be >= 2, got {self.levels}")
        if self.book_update_ms < 1:
            raise ValueError(f"SyntheticParams.book_update_ms must be >= 1, got {self.book_update_ms}")
        if self.spread_ticks_mean < 1:
            raise ValueError(f"SyntheticParams.spread_ticks_mean must be >= 1, got {self.spread_ticks_mean}")
        if self.vol_regime_mult < 1 or self.depth_slope < 0 or self.depth_noise < 0:
            raise ValueError("SyntheticParams: vol_regime_mult >= 1, depth_slope >= 0, depth_noise >= 0")
        if self.min_notional_usd < 0 or self.max_trade_usd < self.min_notional_usd:
            raise ValueError("SyntheticParams: need 0 <= min_notional_usd <= max_trade_usd")
        if self.start_price / self.tick_size < 100 * self.levels:
            raise ValueError("SyntheticParams: start_price must be at least 100 * levels ticks")
        if self.scenario is not None and self.scenario not in SCENARIO_DURATION_MS:
            raise ValueError(f"unknown scenario {self.scenario!r}; known: {', '.join(SCENARIOS)}")
        if self.scenario_start_s < 0:
            raise ValueError(f"SyntheticParams.scenario_start_s must be >= 0, got {self.scenario_start_s}")


PRESETS: dict[str, SyntheticParams] = {
    # Hyperliquid BTC: $1 tick, 0.00001 BTC lot (szDecimals 5), $10 minimum order.
    "btc": SyntheticParams(
        start_price=60_000.0,
        tick_size=1.0,
        lot_size=0.00001,
        annual_vol=0.6,
        spread_ticks_mean=1.5,
        depth_usd_per_level=60_000.0,
        trade_rate_per_sec=4.0,
        median_trade_usd=2_000.0,
        max_trade_usd=2_000_000.0,
    ),
    # Hyperliquid ETH: $0.1 tick, 0.0001 ETH lot (szDecimals 4).
    "eth": SyntheticParams(
        start_price=3_000.0,
        tick_size=0.1,
        lot_size=0.0001,
        annual_vol=0.8,
        spread_ticks_mean=1.6,
        depth_usd_per_level=25_000.0,
        trade_rate_per_sec=3.0,
        median_trade_usd=1_200.0,
        max_trade_usd=1_000_000.0,
    ),
    # Any other coin: SOL-like (the SyntheticParams defaults).
    "generic": SyntheticParams(),
}


def preset_for(coin: str) -> SyntheticParams:
    """The preset of a coin name: BTC* -> "btc", ETH* -> "eth" (case-insensitive), anything else "generic"."""
    name = coin.upper()
    if name.startswith("BTC"):
        return PRESETS["btc"]
    if name.startswith("ETH"):
        return PRESETS["eth"]
    return PRESETS["generic"]


def instrument_for(coin: str, params: SyntheticParams) -> Instrument:
    """The linear instrument the synthetic market of `coin` trades on."""
    return Instrument(
        coin=coin,
        tick_size=params.tick_size,
        lot_size=params.lot_size,
        min_notional_usd=params.min_notional_usd,
        contract_size=1.0,
        inverse=False,
        max_sig_figs=params.max_sig_figs,
    )


def params_from_dict(values: dict[str, object], base: SyntheticParams | None = None) -> SyntheticParams:
    """`base` (default: the generic preset) with the given fields replaced; unknown keys are an error."""
    known = {f.name for f in fields(SyntheticParams)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown synthetic parameter(s): {', '.join(unknown)}")
    return replace(base or PRESETS["generic"], **values)


def _derive_seed(seed: int, coin: str) -> int:
    return ((seed & 0xFFFF_FFFF_FFFF_FFFF) << 32) | zlib.crc32(coin.encode())


class SyntheticMarket:
    """The seeded event stream of one coin (see the module docstring for the model).

    `scenario`, when given, replaces ``params.scenario``.
    """

    def __init__(
        self, coin: str, params: SyntheticParams, seed: int, start_ms: int, scenario: str | None = None
    ) -> None:
        if scenario is not None:
            params = replace(params, scenario=scenario)
        self.coin = coin
        self.params = params
        self.seed = seed
        self.start_ms = start_ms
        p = params
        self._rng = random.Random(_derive_seed(seed, coin))
        self._step_ms = p.book_update_ms
        self._levels = p.levels
        self._tick = p.tick_size
        self._lot = p.lot_size

        pi_storm = p.storm_mean_s / (p.calm_mean_s + p.storm_mean_s)
        norm = math.sqrt(1.0 - pi_storm + pi_storm * p.vol_regime_mult**2)
        self._sigma_calm = p.annual_vol * math.sqrt(self._step_ms / YEAR_MS) / norm
        self._p_storm_enter = min(1.0, self._step_ms / (p.calm_mean_s * 1000.0))
        self._p_storm_exit = min(1.0, self._step_ms / (p.storm_mean_s * 1000.0))
        self._storm = self._rng.random() < pi_storm

        self._log_mid = math.log(p.start_price / p.tick_size)  # log of the mid in ticks
        self._min_mid = float(4 * p.levels)
        self._spread = self._draw_spread()
        self._blowout_frac = 0.0
        self._depth_mult = 1.0

        x0_alpha = 2.0 ** (1.0 / p.trade_size_alpha) - 1.0
        self._lomax_scale = p.median_trade_usd / x0_alpha
        self._inv_alpha = 1.0 / p.trade_size_alpha
        self._rate_per_ms = p.trade_rate_per_sec / 1000.0

        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._bid_empty: set[int] = set()  # touch prices emptied by trades, not refilled yet
        self._ask_empty: set[int] = set()
        self._pub_bids: dict[int, int] = {}
        self._pub_asks: dict[int, int] = {}

        self._k = 0
        self._next_trade = start_ms + self._rng.expovariate(self._rate_per_ms)
        self._last_side = BUY if self._rng.random() < 0.5 else SELL
        self._trade_seq = 0
        self._need_snapshot = True
        self._prev_dark = False

        if p.scenario is None:
            self._sc = ""
            self._sc_start = self._sc_end = 0
        else:
            self._sc = p.scenario
            self._sc_start = start_ms + int(round(p.scenario_start_s * 1000))
            self._sc_end = self._sc_start + SCENARIO_DURATION_MS[p.scenario]

        self._events: deque[MarketEvent] = deque()
        self._step_mids: deque[tuple[int, int]] = deque()
        self._mid_ticks = int(round(math.exp(self._log_mid)))

    # ------------------------------------------------------------------ public API

    @property
    def mid_ticks(self) -> int:
        """Latent fair mid, in ticks, at the latest book-update step at or before the last time asked for."""
        return self._mid_ticks

    @property
    def scenario_window(self) -> tuple[int, int] | None:
        """[start_ms, end_ms) of the scenario window, or None without a scenario."""
        if not self._sc:
            return None
        return (self._sc_start, self._sc_end)

    def instrument(self) -> Instrument:
        return instrument_for(self.coin, self.params)

    def events_until(self, t_ms: int) -> list[MarketEvent]:
        """All events with ts_ms <= t_ms not returned yet, in time order."""
        while self.start_ms + self._k * self._step_ms - self._step_ms < t_ms:
            # step k's events lie in (t_{k-1}, t_k]; it may hold events <= t_ms
            self._generate_step()
        out: list[MarketEvent] = []
        events = self._events
        while events and events[0].ts_ms <= t_ms:
            out.append(events.popleft())
        mids = self._step_mids
        while mids and mids[0][0] <= t_ms:
            self._mid_ticks = mids.popleft()[1]
        return out

    def next_event_ms(self) -> int:
        """Time of the next event not returned yet (generates ahead as needed; never blocks)."""
        while not self._events:
            self._generate_step()
        return self._events[0].ts_ms

    # ------------------------------------------------------------------ generation

    def _in_window(self, t: int, name: str) -> bool:
        return self._sc == name and self._sc_start <= t < self._sc_end

    def _draw_spread(self) -> int:
        extra = self.params.spread_ticks_mean - 1.0
        if extra <= 0:
            return 1
        q = extra / (1.0 + extra)
        u = 1.0 - self._rng.random()
        return 1 + int(math.log(u) / math.log(q))

    def _level_lots(self, px: int, dist: int) -> int:
        p = self.params
        if dist <= 0:
            mean = p.depth_usd_per_level * p.touch_depth_factor
        else:
            mean = p.depth_usd_per_level * (1.0 + p.depth_slope * (dist - 1))
        s = p.depth_noise
        usd = mean * self._depth_mult * math.exp(s * self._rng.gauss(0.0, 1.0) - 0.5 * s * s)
        return max(1, int(usd / (px * self._tick * self._lot)))

    def _rebuild_side(self, book: dict[int, int], touch: int, d: int, empty: set[int]) -> None:
        """Rebuild one side around its target touch. d = -1 for bids (further = lower), +1 for asks."""
        rng = self._rng
        levels = self._levels
        if d < 0:
            for px in [px for px in book if px > touch]:
                del book[px]
        else:
            for px in [px for px in book if px < touch]:
                del book[px]
        k = 0
        refill = self.params.touch_refill_prob
        while k < levels - 1:
            px = touch + d * k
            if px in book or px not in empty or rng.random() < refill:
                break
            k += 1
        best = touch + d * k
        refresh = self.params.level_refresh_prob
        for i in range(levels):
            px = best + d * i
            if px <= 0:
                continue
            if px not in book or rng.random() < refresh:
                book[px] = self._level_lots(px, k + i)
        far = best + d * (levels - 1)
        if d < 0:
            for px in [px for px in book if px < far]:
                del book[px]
        else:
            for px in [px for px in book if px > far]:
                del book[px]
        empty.intersection_update(range(touch, best, d))

    def _rebuild(self) -> None:
        m = math.exp(self._log_mid)
        s = self._spread
        if self._blowout_frac > 0:
            s = max(s, math.ceil(m * self._blowout_frac))
        bid0 = math.floor(m - s / 2 + 0.5)
        self._rebuild_side(self._bids, bid0, -1, self._bid_empty)
        self._rebuild_side(self._asks, bid0 + s, 1, self._ask_empty)

    def _choose_side(self, ts: int, crash_drop: bool) -> int:
        r = self._rng.random()
        if self._in_window(ts, "one_sided_flow"):
            side = SELL if r < ONE_SIDED_SELL_PROB else BUY
        elif crash_drop:
            side = SELL if r < FLASH_CRASH_SELL_PROB else BUY
        else:
            side = self._last_side if r < self.params.flow_persistence else -self._last_side
        self._last_side = side
        return side

    def _trade(self, ts: int, side: int, out: deque[MarketEvent] | None) -> None:
        p = self.params
        u = 1.0 - self._rng.random()
        usd = self._lomax_scale * (u**-self._inv_alpha - 1.0)
        usd = min(max(usd, p.min_notional_usd), p.max_trade_usd)
        if side == BUY:
            book, empty = self._asks, self._ask_empty
            prices = sorted(book)
        else:
            book, empty = self._bids, self._bid_empty
            prices = sorted(book, reverse=True)
        if len(prices) < 2:
            return
        want = max(1, int(round(usd / (prices[0] * self._tick * self._lot))))
        self._trade_seq += 1
        for i, px in enumerate(prices[:-1]):
            avail = book[px]
            take = want if want < avail else avail
            if out is not None:
                out.append(TradePrint(self.coin, ts, px, take, side, f"{self.coin}-{self._trade_seq}-{i}"))
            if take == avail:
                del book[px]
                empty.add(px)
            else:
                book[px] = avail - take
            want -= take
            if want == 0:
                break

    def _advance_mid(self, t: int) -> None:
        rng = self._rng
        if self._storm:
            if rng.random() < self._p_storm_exit:
                self._storm = False
        elif rng.random() < self._p_storm_enter:
            self._storm = True
        sigma = self._sigma_calm * (self.params.vol_regime_mult if self._storm else 1.0)
        if self._in_window(t, "vol_spike"):
            sigma *= VOL_SPIKE_MULT
        drift = 0.0
        if self._sc == "flash_crash" and self._sc_start <= t < self._sc_end:
            drop = math.log(1.0 - FLASH_CRASH_DROP)
            if t < self._sc_start + FLASH_CRASH_DROP_MS:
                drift = drop * self._step_ms / FLASH_CRASH_DROP_MS
            else:
                recovery_ms = SCENARIO_DURATION_MS["flash_crash"] - FLASH_CRASH_DROP_MS
                drift = -FLASH_CRASH_RECOVERY * drop * self._step_ms / recovery_ms
        self._log_mid += sigma * rng.gauss(0.0, 1.0) - 0.5 * sigma * sigma + drift
        floor = math.log(self._min_mid + self._spread)
        if self._log_mid < floor:
            self._log_mid = floor

        if rng.random() < self.params.spread_change_prob:
            self._spread = self._draw_spread()
        if self._in_window(t, "spread_blowout"):
            lo, hi = SPREAD_BLOWOUT_BPS
            if self._blowout_frac == 0.0 or rng.random() < self.params.spread_change_prob:
                self._blowout_frac = (lo + (hi - lo) * rng.random()) * 1e-4
            self._depth_mult = SPREAD_BLOWOUT_DEPTH_MULT
        else:
            self._blowout_frac = 0.0
            self._depth_mult = 1.0

    def _emit_book(self, t: int) -> None:
        bids, asks = self._bids, self._asks
        if self._need_snapshot:
            self._need_snapshot = False
            ev = BookUpdate(
                self.coin,
                t,
                tuple(sorted(bids.items(), reverse=True)),
                tuple(sorted(asks.items())),
                snapshot=True,
            )
        else:
            pb, pa = self._pub_bids, self._pub_asks
            db = [(px, sz) for px, sz in bids.items() if pb.get(px) != sz]
            db.extend((px, 0) for px in pb if px not in bids)
            da = [(px, sz) for px, sz in asks.items() if pa.get(px) != sz]
            da.extend((px, 0) for px in pa if px not in asks)
            db.sort(reverse=True)
            da.sort()
            ev = BookUpdate(self.coin, t, tuple(db), tuple(da), snapshot=False)
        self._pub_bids = dict(bids)
        self._pub_asks = dict(asks)
        self._events.append(ev)

    def _generate_step(self) -> None:
        k = self._k
        self._k += 1
        t = self.start_ms + k * self._step_ms
        dark = self._in_window(t, "md_gap")
        if k > 0:
            send_trades = not (dark or self._prev_dark)
            out = self._events if send_trades else None
            rng = self._rng
            crash_drop = self._sc == "flash_crash" and self._sc_start <= t - self._step_ms < (
                self._sc_start + FLASH_CRASH_DROP_MS
            )
            while self._next_trade <= t:
                ts = math.ceil(self._next_trade)
                self._trade(ts, self._choose_side(ts, crash_drop), out)
                rate = self._rate_per_ms * (FLASH_CRASH_RATE_MULT if crash_drop else 1.0)
                self._next_trade += rng.expovariate(rate)
            self._advance_mid(t)
        self._rebuild()
        self._step_mids.append((t, int(round(math.exp(self._log_mid)))))
        if dark:
            self._need_snapshot = True
        else:
            self._emit_book(t)
        self._prev_dark = dark
