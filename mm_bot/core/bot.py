"""One bot: events in, actions and records out. No I/O, no wall clock.

The shells call, with the injected clock's `now_ms`:
- `attach_book(coin, book)` once per coin (the shell owns and updates the shared L2Book),
- `on_tick(coin, now_ms)` every loop_ms per coin: the quoting loop,
- `on_venue_event(ev)` for acks and fills of this bot's orders,
- `stop(now_ms, reason)` at shutdown: cancel everything,
and drain `records` (rows to persist) after each call.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace

from mm_bot.core.autotune import TiOptimizer, TuneParams
from mm_bot.core.book import L2Book
from mm_bot.core.compliance import AmendLimiter, LoopGuard, RestingOrder, SelfMatchRegistry
from mm_bot.core.exits import (
    BailoutParams,
    BailoutTracker,
    ExitOrder,
    ExitResult,
    LadderParams,
    TakeProfitLadder,
    TakeProfitParams,
    flatten_order,
    take_profit,
)
from mm_bot.core.killswitch import KillParams, KillSwitches, Trip
from mm_bot.core.orders import STRAY_SLOT, OrderCoordinator
from mm_bot.core.position import Position
from mm_bot.core.quoting import QuoteParams, keep_order, target_quotes
from mm_bot.core.ratelimit import HYPERLIQUID, DualRateLimiter, Grant, RequestKind
from mm_bot.core.records import (
    BookSnapshotRow,
    FillRow,
    PnlRow,
    PositionRow,
    SystemEventRow,
    TradeRow,
    UptimeRow,
)
from mm_bot.core.risk import (
    Allow,
    CoinExposure,
    LossGuard,
    LossLimits,
    OrderIntent,
    PreTradeCheck,
    ReturnTracker,
    RiskLimits,
    RiskState,
)
from mm_bot.core.rounding import round_size
from mm_bot.core.signals import SignalParams, SignalState
from mm_bot.core.ti import TiTracker, ti_score
from mm_bot.core.types import (
    BUY,
    SELL,
    TERMINAL,
    Action,
    Cancel,
    Fill,
    Instrument,
    ModifyFailed,
    OrderStatus,
    Place,
    Reconcile,
    Tif,
    TradePrint,
    VenueEvent,
    side_name,
)

SNAPSHOT_EVERY_MS = 1_000
PNL_EVERY_MS = 5_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
# The optimizer looks at its window at most this often (and only with enough fills).
AUTOTUNE_EVERY_MS = 300_000
DEFAULT_MAX_BOOK_AGE_MS = 5_000
VAR_EVERY_MS = 1_000
# Slots of exit orders: the quoting loop neither counts them as quotes nor sweeps them.
EXIT_SLOTS = frozenset({"exit", "flatten"})
# A kill / stop flatten that could not close a coin yet (spread too wide, book unusable, IOC
# rejected or partly filled) is tried again at most this often while the bot stays down.
FLATTEN_RETRY_MS = 1_000
# Reconciliation leaves alone orders younger than this (their ack or arrival may be in flight)
# and queries fills from this long before the previous snapshot (a late arrival's fills carry
# its arrival time).
RECONCILE_GRACE_MS = 3_000
RECONCILE_OVERLAP_MS = 5_000
# Reconciliation reads (open orders + fills: 40 REST weight on Hyperliquid) use spare capacity
# only: a due reconciliation waits while they would lift REST usage above this share of the
# capacity, so housekeeping never pushes quoting into the critical zone; after
# RECONCILE_MAX_GAP_MS without one it goes ahead whenever the limiter grants it.
RECONCILE_MAX_USAGE_PCT = 50.0
RECONCILE_MAX_GAP_MS = 60_000
# A modify unanswered this long (a lost answer that reconciliation has not settled yet) is taken
# as refused, so the order can be requoted again: the next modify moves it to the target
# whichever price it rests at, and reconciliation corrects our price if it did move.
MODIFY_ANSWER_TIMEOUT_MS = 10_000


@dataclass(slots=True)
class CoinState:
    coin: str
    inst: Instrument
    params: QuoteParams
    cfg: object
    position: Position
    book: L2Book | None = None
    ti: TiTracker = field(default_factory=TiTracker)
    tuner: TiOptimizer | None = None
    min_replace_ms: int = 0
    minute_start_ms: int = 0
    check: PreTradeCheck | None = None
    bailout: BailoutTracker | None = None
    tp: TakeProfitParams | None = None
    blocked: dict[int, str] = field(default_factory=dict)
    next_snapshot_ms: int = 0
    next_pnl_ms: int = 0
    minute_end_ms: int = 0
    book_ok: bool = False
    last_place_ms: dict[str, int] = field(default_factory=dict)
    flatten_sent_ms: int = -(10**15)
    ladder: TakeProfitLadder | None = None
    exit_cloid: str = ""
    exit_expires_ms: int = 0
    signals: SignalState | None = None
    margin_warned: set[int] = field(default_factory=set)


def quote_params(cfg, inst: Instrument, maker_fee_bps: float) -> QuoteParams:
    """QuoteParams from a coin's effective config (sizes in base units converted to lots)."""
    fee_floor = 0.0
    if cfg.min_spread_guard_enabled:
        # Full width that pays the maker fee on both legs of a round trip, plus the buffer.
        fee_floor = 2 * max(maker_fee_bps, 0.0) + cfg.min_spread_guard_buffer_bps
    fixed = round_size(inst, cfg.fixed_size_base) if cfg.fixed_size_base else 0
    max_pos = round_size(inst, cfg.max_position_base) if cfg.max_position_base else 0
    return QuoteParams(
        min_spread_bps=cfg.min_spread_bps,
        reference=cfg.reference_price,
        join_offset_ticks=cfg.join_offset_ticks,
        size_notional_usd=cfg.size_notional_usd,
        fixed_size_lots=max(fixed, 1) if cfg.fixed_size_base else 0,
        order_levels=cfg.order_levels,
        level_spacing_bps=cfg.level_spacing_bps,
        level_size_mult=cfg.level_size_mult,
        max_position_lots=max_pos,
        fee_floor_bps=fee_floor,
        width_vol_mult=cfg.width_vol_mult,
        inv_skew_strength=cfg.inv_skew_strength,
        # The inventory skew's max position: the per-coin cap at the reference price.
        inv_skew_max_notional_usd=cfg.max_per_coin_notional,
        imbalance_skew_strength=cfg.imbalance_skew_strength,
        funding_bias_strength=cfg.funding_bias_strength,
        single_sided_mode=cfg.single_sided_mode,
    )


class Bot:
    """The quoting logic of one bot config across its coins."""

    def __init__(self, cfg, instruments: dict[str, Instrument], venue: str, maker_fee_bps: float,
                 start_ms: int, seed: int = 0, limiter: DualRateLimiter | None = None,
                 self_match: SelfMatchRegistry | None = None, taker_fee_bps: float = 0.0,
                 starting_equity_usd: float | None = None) -> None:
        """limiter / self_match: shared by every bot of this venue account (None: this bot's own);
        taker_fee_bps: for take-profit thresholds; starting_equity_usd: base of the loss and margin
        limits (default: the config's paper.starting_equity_usd)."""
        self.cfg = cfg
        self.bot_id = cfg.bot_id
        self.venue = venue
        self.orders = OrderCoordinator(cfg.bot_id, instruments, start_ms)
        self.records = self.orders.records
        self.rng = random.Random(f"{seed}|{cfg.bot_id}")
        self.limiter = limiter
        self.limits = limiter.limits if limiter is not None else None
        self._last_throttle_event_ms = -(10**15)
        self.status = "running"
        self.pause_source = ""
        self.account = f"{cfg.venue}:{cfg.account}"
        self.self_match = self_match if self_match is not None else SelfMatchRegistry()
        self.returns = ReturnTracker(cfg.var_lookback_sec)
        if starting_equity_usd is None:
            starting_equity_usd = cfg.paper.starting_equity_usd
        self.starting_equity = starting_equity_usd
        self.loss = LossGuard(LossLimits.from_config(cfg), starting_equity_usd)
        self.size_mult = 1.0
        self._var_key: tuple = ()
        self._var_value = 0.0
        self.kills = KillSwitches(KillParams.from_config(cfg), start_ms, coins=tuple(cfg.coins))
        self.loop_guard = LoopGuard(cfg.loop_min_holding_ms)
        self.amends = AmendLimiter(cfg.max_amends_per_sec)
        self.flatten_pending_start = cfg.flatten_on_start
        # Reason of a kill / stop flatten still owed ('' when none): retried until every coin is flat.
        self.flatten_retry = ""
        # Reconciliation (every housekeep_every_n loops): fill ids already applied (a fill seen
        # twice, delivered and found by reconciliation, is applied once), the loop counter, and
        # the start of the next fills query (0: everything the venue has).
        self.seen_fills: set[str] = set()
        self.housekeep_ticks = max(1, cfg.housekeep_every_n) * max(1, len(cfg.coins))
        self._ticks_since_reconcile = 0
        self._reconcile_since_ms = 0
        self._last_reconcile_ms = start_ms
        self.reconciles = 0
        self.last_reconcile: dict[str, int] = {}
        self.coins: dict[str, CoinState] = {}
        for coin in cfg.coins:
            ccfg = cfg.for_coin(coin)
            inst = instruments[coin]
            cs = CoinState(coin, inst, quote_params(ccfg, inst, maker_fee_bps), ccfg, Position(inst))
            cs.minute_end_ms = (start_ms // MINUTE_MS + 1) * MINUTE_MS
            cs.minute_start_ms = start_ms
            cs.min_replace_ms = ccfg.min_replace_ms
            cs.check = PreTradeCheck(RiskLimits.from_config(ccfg))
            cs.signals = SignalState(SignalParams.from_config(ccfg))
            cs.bailout = BailoutTracker(BailoutParams.from_config(ccfg))
            cs.tp = TakeProfitParams.from_config(ccfg, taker_fee_bps)
            if ccfg.enhanced_take_profit_enabled:
                cs.ladder = TakeProfitLadder(LadderParams.from_config(ccfg))
            cs.ti = TiTracker(window_ms=int(ccfg.autotune_window_minutes * MINUTE_MS))
            if ccfg.autotune_enabled:
                cs.tuner = TiOptimizer(
                    TuneParams(ccfg.min_spread_bps, ccfg.min_replace_ms, ccfg.size_notional_usd),
                    ccfg.ti_proxy, min_maker_share=ccfg.autotune_min_maker_share,
                    interval_ms=AUTOTUNE_EVERY_MS,
                )
            self.coins[coin] = cs
        self.max_book_age_ms = DEFAULT_MAX_BOOK_AGE_MS
        # Telemetry rows (snapshots, PnL samples, metrics) are optional; orders, fills and
        # positions are the money record and are always written.
        self.telemetry_rows = cfg.telemetry_enabled and cfg.telemetry_db
        self.telemetry_console = cfg.telemetry_enabled and cfg.telemetry_console

    # ------------------------------------------------------------ wiring

    @property
    def wants_ticks(self) -> bool:
        """The quoting loop must keep running: quoting, paused (watching) or owing a flatten."""
        return self.status in ("running", "paused") or bool(self.flatten_retry)

    def attach_book(self, coin: str, book: L2Book) -> None:
        self.coins[coin].book = book

    def restore_position(self, coin: str, lots: int, avg_entry: float, realized: float, fees: float,
                         fills: int) -> None:
        """Seed a coin's position from persisted state (restart)."""
        p = self.coins[coin].position
        p.lots, p.avg_entry, p.realized_usd, p.fees_usd, p.fills = lots, avg_entry, realized, fees, fills

    def event(self, kind: str, severity: str, message: str, now_ms: int, coin: str | None = None,
              **details) -> None:
        """Record a system_events row for this bot."""
        self.records.append(SystemEventRow(self.bot_id, coin, kind, severity, message,
                                           json.dumps(details, sort_keys=True, default=str), now_ms))

    def drain(self) -> list:
        """Take the records produced since the last drain."""
        out = self.records[:]
        self.records.clear()
        return out

    # ------------------------------------------------------------ quoting loop

    def on_tick(self, coin: str, now_ms: int) -> list[Action]:
        """One pass of the quoting loop for one coin."""
        cs = self.coins[coin]
        book = cs.book
        usable = book is not None and book.is_usable(now_ms, self.max_book_age_ms)
        if book is not None and book.best_bid and book.best_ask:
            mid = book.mid2() * cs.inst.tick_size / 2
            cs.ti.on_mid(now_ms, mid)
            self.returns.observe(coin, now_ms, mid)
            # The book's own time, not the loop's: a book stays "usable" up to max_book_age_ms after
            # its last update, and the md-gap switch must count the gap from that update.
            self.kills.observe_book(min(now_ms, book.ts_ms) if usable else now_ms, book.spread_bps(), usable,
                                    coin)
        cs.ti.on_two_sided(now_ms, self._two_sided(coin))
        cs.signals.on_loop(now_ms, book if usable else None)
        self._telemetry(cs, now_ms)
        if self.status not in ("running", "paused"):
            return self._retry_flatten(cs, now_ms)
        guard = self._guards(now_ms)
        if guard is not None or self.status != "running":
            return guard or []
        if not usable:
            if cs.book_ok:
                cs.book_ok = False
                self.event("book", "warning", "book unusable (stale, crossed, empty or out of sync): "
                           "quotes pulled", now_ms, coin)
            return self._cancel_all(coin, now_ms, "book unusable")
        if not cs.book_ok:
            cs.book_ok = True
            self.event("book", "info", "book usable: quoting", now_ms, coin)
        if self.flatten_pending_start:
            self.flatten_pending_start = False
            acts = self.flatten(now_ms, "flatten on start")
            if acts:
                return acts
        exit_actions, exiting = self._exits(cs, now_ms)
        if exiting:
            # Quotes wait while an exit works: its result changes the position they are sized on.
            quotes = [o for o in self.orders.live(coin) if o.slot not in EXIT_SLOTS]
            return self._send_cancels(cs, quotes, now_ms, "exit") + exit_actions
        targets = target_quotes(cs.inst, book, cs.position.lots, cs.params, cs.signals.signals(now_ms))
        cancels: list = []
        modifies: list = []
        places: list = []
        wanted = set()
        mark = book.mid2() // 2
        exposures = self._exposures()
        var = self._var(now_ms)
        equity = self._equity()
        for q in targets:
            wanted.add(q.slot)
            o = self.orders.slot_order(coin, q.slot)
            if o is not None:
                if o.modify is not None and now_ms - o.modify_sent_ms >= MODIFY_ANSWER_TIMEOUT_MS:
                    self._on_modify_failed(ModifyFailed(self.bot_id, coin, o.cloid,
                                                        f"no answer within {MODIFY_ANSWER_TIMEOUT_MS} ms", now_ms))
                # A modify in flight is one decision already: nothing more until the venue answers.
                if o.cancel_requested or o.status == OrderStatus.PENDING or o.modify is not None:
                    continue
                if self._keep(cs, o, q.px, now_ms):
                    continue
                if now_ms - o.quoted_ms < cs.min_replace_ms:
                    continue
                modify = self.cfg.requote_with_modify
                if (modify and self.cfg.self_match_protect
                        and self.self_match.would_self_match(self.account, coin, q.side, q.px)):
                    continue  # moving there would self-match: leave the order where it rests
                if not self.amends.try_acquire(coin, now_ms):
                    continue
                if modify:
                    lots = self._modify_size(cs, o, q, mark, exposures, var, equity, now_ms)
                    # A stale order already at its target price and size: a modify would change
                    # nothing, so it is replaced as before.
                    if lots > 0 and (q.px != o.px or lots != o.remaining):
                        modifies.append((o, q, lots))
                        continue
                # Not moved in place (off, or the move is not allowed): cancel, the slot refills later.
                cancels.append(o)
                continue
            # Empty slot: pace placements per slot (min_replace_ms plus jitter).
            last = cs.last_place_ms.get(q.slot, -(10**15))
            jitter = self.rng.randint(0, cs.cfg.refresh_jitter_ms) if cs.cfg.refresh_jitter_ms else 0
            if now_ms - last < cs.min_replace_ms + jitter:
                continue
            sz = self._risk_size(cs, q, mark, exposures, var, equity, now_ms)
            if sz <= 0:
                continue
            if not self.loop_guard.allows(coin, q.side, now_ms):
                continue
            if self.cfg.self_match_protect and self.self_match.would_self_match(self.account, coin, q.side, q.px):
                continue
            places.append((q, sz))
        # Live orders whose slot no longer has a target (side stopped, fewer levels).
        for o in self.orders.live(coin):
            if (o.slot not in wanted and o.slot not in EXIT_SLOTS and not o.cancel_requested
                    and o.status != OrderStatus.PENDING and o.modify is None):
                cancels.append(o)
        actions = self._send_cancels(cs, cancels, now_ms, "requote")
        actions += self._send_modifies(cs, modifies, now_ms)
        for q, sz in self._grant(places, RequestKind.PLACE, now_ms):
            actions.append(self._place(coin, q.side, q.px, sz, Tif.ALO, q.slot, now_ms))
            cs.last_place_ms[q.slot] = now_ms
        return actions

    def _modify_size(self, cs: CoinState, o, q, mark: int, exposures: list[CoinExposure], var: float,
                     equity: float, now_ms: int) -> int:
        """Lots the order may rest with once moved to q.px, 0 when it must not move in place.

        The move passes the checks a new order would: the loop guard (a modify is a new order at
        the venue) and the pre-trade checks, with this order's own resting lots taken out of the
        exposure it is checked against (it replaces them). The size never grows by a modify (a
        larger quote takes effect when the slot is refilled); it shrinks to a smaller quote size.
        """
        if not self.loop_guard.allows(cs.coin, q.side, now_ms):
            return 0
        own = o.remaining
        others = [replace(e, resting_buy_lots=e.resting_buy_lots - (own if o.side == BUY else 0),
                          resting_sell_lots=e.resting_sell_lots - (own if o.side == SELL else 0))
                  if e.coin == cs.coin else e for e in exposures]
        allowed = self._risk_size(cs, q, mark, others, var, equity, now_ms)
        return min(own, allowed)

    def _send_modifies(self, cs: CoinState, items: list, now_ms: int) -> list[Action]:
        """Modify actions for (order, quote, lots) items the rate limiter grants (RequestKind.MODIFY):
        each counts as an amend for TI, and self-match protection sees the new price from now on
        (the old one comes back if the venue refuses)."""
        out: list[Action] = []
        for o, q, lots in self._grant(items, RequestKind.MODIFY, now_ms):
            m = self.orders.request_modify(o, q.px, o.filled + lots, now_ms, "requote")
            if m is None:
                continue
            cs.ti.on_amend(o.cloid, now_ms)
            self.self_match.register(RestingOrder(self.account, cs.coin, o.cloid, o.side, q.px, self.bot_id))
            out.append(m)
        return out

    def _place(self, coin: str, side: int, px: int, sz: int, tif: Tif, slot: str, now_ms: int,
               reduce_only: bool = False) -> Place:
        """Register an order and, for self-match protection, its resting price on the account."""
        place = self.orders.new_order(coin, side, px, sz, tif, slot, now_ms, reduce_only)
        if tif != Tif.IOC:
            self.self_match.register(RestingOrder.of_place(self.account, place))
        return place

    # ------------------------------------------------------------ risk, exits, kill switches

    def _equity(self) -> float:
        """Starting equity plus PnL (realized + unrealized - fees + funding) of every coin, USD."""
        return self.starting_equity + sum(self._coin_pnl(cs)[0] for cs in self.coins.values())

    def _coin_pnl(self, cs: CoinState) -> tuple[float, float]:
        """(total, unrealized) PnL of a coin in USD at the current mid."""
        p, book = cs.position, cs.book
        mid = book.mid2() * cs.inst.tick_size / 2 if book is not None and book.best_bid and book.best_ask else 0.0
        unreal = p.unrealized_usd(mid) if mid else 0.0
        return p.realized_usd + unreal - p.fees_usd + p.funding_usd, unreal

    def _exposures(self) -> list[CoinExposure]:
        out = []
        for c, cs in self.coins.items():
            book = cs.book
            mark = book.mid2() // 2 if book is not None and book.best_bid and book.best_ask else 0
            out.append(CoinExposure(c, cs.inst, cs.position.lots, self.orders.resting_lots(c, BUY),
                                    self.orders.resting_lots(c, SELL), mark))
        return out

    def _var(self, now_ms: int) -> float:
        """Portfolio VaR 95% in USD of the current positions (historical, from recent mids).

        Returns are sampled once a second, so the figure is recomputed at most once a second or
        when a position changed (a fill), not on every quoting-loop pass.
        """
        key = (now_ms // VAR_EVERY_MS, tuple(cs.position.lots for cs in self.coins.values()))
        if key == self._var_key:
            return self._var_value
        pos = {}
        for c, cs in self.coins.items():
            if cs.position.lots and cs.book is not None and cs.book.best_bid and cs.book.best_ask:
                mid = cs.book.mid2() * cs.inst.tick_size / 2
                pos[c] = (1 if cs.position.lots > 0 else -1) * cs.position.notional_usd(mid)
        self._var_key = key
        self._var_value = self.returns.var95(pos) if pos else 0.0
        return self._var_value

    def _guards(self, now_ms: int) -> list[Action] | None:
        """Kill switches and loss controls, bot-wide; actions when one acted, else None."""
        trip = self.kills.check(now_ms)
        if trip is not None:
            return self.kill(trip, now_ms)
        realized = sum(cs.position.realized_usd - cs.position.fees_usd + cs.position.funding_usd
                       for cs in self.coins.values())
        unreal = sum(self._coin_pnl(cs)[1] for cs in self.coins.values())
        st = self.loss.update(now_ms, self.starting_equity + realized + unreal, realized, unreal)
        prev_mult, self.size_mult = self.size_mult, st.size_mult
        figures = dict(st.figures)
        if st.state == RiskState.EMERGENCY:
            self.event("emergency_stop", "critical", f"emergency stop: {st.reason}", now_ms, **figures)
            out = self.stop(now_ms, "emergency stop")
            if not self.cfg.flatten_on_stop:
                self.flatten_retry = "emergency stop"
                out += self.flatten(now_ms, "emergency stop")
            return out
        if st.state == RiskState.STOP:
            self.event("loss_limit", "critical", f"bot stopped: {st.reason}", now_ms, **figures)
            return self.stop(now_ms, "loss limit")
        if st.state == RiskState.PAUSE and self.status == "running":
            self.pause_source = "risk"
            return self.pause(now_ms, st.reason)
        if st.state == RiskState.OK and self.status == "paused" and self.pause_source == "risk":
            self.resume(now_ms, st.reason or "loss recovered")
        # One event per change of the step-down (st.changed is about the risk state, not the size).
        if st.state == RiskState.OK and st.size_mult < 1.0 and (st.changed or st.size_mult != prev_mult):
            why = st.reason or f"drawdown {figures['drawdown_pct']:.2f}% of peak equity"
            self.event("drawdown", "warning", f"size multiplier {st.size_mult:.2f}: {why}", now_ms, **figures)
        return None

    def kill(self, trip: Trip, now_ms: int) -> list[Action]:
        """A kill switch tripped: cancel every order, record the figures, flatten if configured."""
        self.status = "killed"
        self.event("kill", "critical", f"kill switch {trip.switch}: {trip.reason}", now_ms, trip.coin or None,
                   switch=str(trip.switch), figures=dict(trip.figures))
        out: list[Action] = []
        for coin in self.coins:
            out += self._cancel_all(coin, now_ms, f"kill switch {trip.switch}")
        if self.cfg.flatten_on_kill:
            self.flatten_retry = f"kill switch {trip.switch}"
            out += self.flatten(now_ms, self.flatten_retry)
        return out

    def _exits(self, cs: CoinState, now_ms: int) -> tuple[list[Action], bool]:
        """Bailout and take-profit exits of a coin's position (reduce-only).

        Returns (actions, exiting): exiting is True while an exit order is out or just sent.
        Plain take profit is one IOC; with enhanced_take_profit_enabled it walks the ladder of
        core/exits.TakeProfitLadder (post-only at our touch, IOC at the touch, IOC at the
        slippage bound, aggressive GTC), a resting step cancelled when it expires.
        """
        live_exit = [o for o in self.orders.live(cs.coin) if o.slot == "exit"]
        if live_exit:
            o = live_exit[0]
            if cs.exit_expires_ms and now_ms >= cs.exit_expires_ms and not o.cancel_requested:
                return self._send_cancels(cs, [o], now_ms, "take-profit step expired"), True
            return [], True
        if cs.exit_cloid:
            # The last exit order ended: its outcome moves the ladder.
            done = self.orders.orders.get(cs.exit_cloid)
            if cs.ladder is not None and cs.ladder.active and done is not None:
                cs.ladder.on_result(ExitResult.FILLED if done.filled >= done.sz
                                    else ExitResult.PARTIAL if done.filled else ExitResult.NOTHING)
            cs.exit_cloid, cs.exit_expires_ms = "", 0
        p = cs.position
        if p.lots == 0:
            if cs.ladder is not None:
                cs.ladder.cancel()
            return [], False
        order = cs.bailout.update(now_ms, cs.inst, p.lots, p.avg_entry, cs.book)
        kind = "bailout"
        if order is None:
            kind = "take_profit"
            if cs.ladder is None:
                order = take_profit(cs.inst, p.lots, p.avg_entry, cs.book, cs.tp)
            else:
                if not cs.ladder.active and take_profit(cs.inst, p.lots, p.avg_entry, cs.book, cs.tp) is not None:
                    cs.ladder.start()
                order = cs.ladder.order(now_ms, cs.inst, p.lots, cs.book) if cs.ladder.active else None
        if order is None:
            return [], False
        acts = self._send_exit(cs, order, kind, now_ms)
        if acts:
            cs.exit_cloid, cs.exit_expires_ms = acts[0].cloid, order.expires_ms
        return acts, bool(acts)

    def _others_crossed(self, coin: str, side: int, px: int) -> list[str]:
        """Bots of this account whose resting orders an order at px would cross (ours are
        cancelled in the same loop, ahead of the exit, so they do not count)."""
        if not self.cfg.self_match_protect:
            return []
        return sorted({o.bot_id for o in self.self_match.crossing(self.account, coin, side, px)
                       if o.bot_id != self.bot_id})

    def _send_exit(self, cs: CoinState, order: ExitOrder, kind: str, now_ms: int) -> list[Action]:
        others = self._others_crossed(cs.coin, order.side, order.limit_px)
        if others:
            self._throttled(now_ms, f"{kind} held: it would cross resting orders of {', '.join(others)} "
                                    "on the same account (self-match protection)")
            return []
        if not self._grant([order], RequestKind.PLACE, now_ms):
            return []
        self.event(kind, "warning" if kind == "bailout" else "info",
                   f"{kind}: {side_name(order.side)} {cs.inst.sz(order.lots)} at {cs.inst.px(order.limit_px)} "
                   f"({order.reason})", now_ms, cs.coin, position_lots=cs.position.lots,
                   avg_entry=cs.position.avg_entry, limit=cs.inst.px(order.limit_px))
        return [self._place(cs.coin, order.side, order.limit_px, order.lots, order.tif, "exit", now_ms,
                            reduce_only=True)]

    # ------------------------------------------------------------ rate limits

    def _grant(self, items: list, kind: RequestKind, now_ms: int) -> list:
        """The items whose requests the shared rate limiter grants now (all without a limiter).

        With batch_orders the items of one loop are one request (weight per the venue's batch
        rule); otherwise one request each. Placements are skipped while usage is critical, so
        cancels keep their headroom.
        """
        if not items or self.limiter is None:
            return items
        lim = self.limiter
        if kind != RequestKind.CANCEL and lim.is_critical(now_ms):
            self._throttled(now_ms, f"{len(items)} {kind.value} request(s) skipped: rate-limit usage critical")
            return []
        # Only Hyperliquid batches modifies (batchModify); Orderly edits one order per request.
        if self.cfg.batch_orders and (kind != RequestKind.MODIFY or self.limits.venue == HYPERLIQUID):
            got = lim.try_acquire(kind, self.limits.action_weight(kind, len(items)), now_ms)
            if isinstance(got, Grant):
                return items
            self._throttled(now_ms, f"{len(items)} {kind.value} request(s) denied: {got.reason.value}")
            return []
        out = []
        for it in items:
            got = lim.try_acquire(kind, self.limits.action_weight(kind, 1), now_ms)
            if not isinstance(got, Grant):
                self._throttled(now_ms, f"{kind.value} request denied: {got.reason.value}")
                break
            out.append(it)
        return out

    def _throttled(self, now_ms: int, message: str) -> None:
        # At most one event per second per bot: a throttled loop must not flood the DB.
        if now_ms - self._last_throttle_event_ms >= 1000:
            self._last_throttle_event_ms = now_ms
            self.event("rate_limit", "warning", message, now_ms)

    def _send_cancels(self, cs: CoinState, orders: list, now_ms: int, reason: str) -> list[Action]:
        out: list[Action] = []
        todo = [o for o in orders if not o.cancel_requested and o.live]
        for o in self._grant(todo, RequestKind.CANCEL, now_ms):
            if self.orders.request_cancel(o, now_ms, reason):
                out.append(Cancel(self.bot_id, cs.coin, o.cloid))
                cs.ti.on_cancel_request(o.cloid, now_ms)
        return out

    def _keep(self, cs: CoinState, o, target_px: int, now_ms: int) -> bool:
        # The coin's config carries the RequotePolicy attributes (move, requote, stale, proximity).
        book = cs.book
        bb, ba = (book.best_bid, book.best_ask) if book is not None else (0, 0)
        # Age from the last move: a modified order is as fresh as a replacement would be.
        return keep_order(o.side, o.px, o.quoted_ms, target_px, now_ms, bb, ba, cs.cfg)

    def _risk_size(self, cs: CoinState, q, mark: int, exposures: list[CoinExposure], var: float,
                   equity: float, now_ms: int) -> int:
        """Lots of quote q allowed by the pre-trade checks (caps, gross, VaR, margin, drawdown size)."""
        lots = max(1, int(q.sz * self.size_mult)) if self.size_mult < 1.0 else q.sz
        res = cs.check.check(OrderIntent(cs.coin, q.side, lots, q.px), exposures, var, equity)
        if isinstance(res, Allow):
            cs.blocked.pop(q.side, None)
            if "margin_warn" not in res.flags:
                cs.margin_warned.discard(q.side)
            elif q.side not in cs.margin_warned:
                # margin_cap_mode warn: the order goes, and a system event says it is over the cap (once
                # per side until the side is back under it).
                cs.margin_warned.add(q.side)
                self.event("risk", "warning", f"{side_name(q.side)} side over the margin cap (warn mode)", now_ms,
                           cs.coin, **dict(res.figures))
            return res.lots
        if cs.blocked.get(q.side) != res.reason:
            # Record a side going blocked once, not on every loop while it stays blocked.
            cs.blocked[q.side] = res.reason
            self.event("risk", "info", f"{side_name(q.side)} side held: {res.reason}", now_ms, cs.coin,
                       **dict(res.figures))
        return 0

    def _cancel_all(self, coin: str, now_ms: int, reason: str) -> list[Action]:
        # Pending orders are cancelled too: the venue may hold them by now.
        return self._send_cancels(self.coins[coin], self.orders.live(coin), now_ms, reason)

    def pause(self, now_ms: int, reason: str) -> list[Action]:
        """Stop quoting and cancel every order, but keep watching (telemetry goes on)."""
        if self.status != "running":
            return []
        self.status = "paused"
        self.event("pause", "warning", f"bot paused: {reason}", now_ms, reason=reason)
        out: list[Action] = []
        for coin in self.coins:
            out += self._cancel_all(coin, now_ms, f"pause: {reason}")
        return out

    def resume(self, now_ms: int, reason: str) -> None:
        """Quote again after a pause."""
        if self.status == "paused":
            self.status = "running"
            self.event("resume", "info", f"bot resumed: {reason}", now_ms, reason=reason)

    def stop(self, now_ms: int, reason: str = "stop") -> list[Action]:
        """Stop quoting and cancel every live order of every coin (and flatten if configured)."""
        self.status = "stopped"
        out: list[Action] = []
        for coin in self.coins:
            out += self._cancel_all(coin, now_ms, reason)
        if self.cfg.flatten_on_stop:
            self.flatten_retry = f"flatten on stop ({reason})"
            out += self.flatten(now_ms, self.flatten_retry)
        return out

    def flatten(self, now_ms: int, reason: str, only_coin: str | None = None) -> list[Action]:
        """Reduce-only IOC orders that close every open position (or one coin's), within bounds.

        A coin is skipped (with a system event) while its book is unusable or its spread is
        wider than flatten_max_spread_bps; the limit is at most flatten_max_slippage_bps
        through the mid, rounded so it is never worse than that bound.
        """
        out: list[Action] = []
        for coin, cs in self._coin_items(only_coin):
            lots = cs.position.lots
            if lots == 0:
                continue
            cfg, book = cs.cfg, cs.book
            usable = book is not None and book.is_usable(now_ms, self.max_book_age_ms)
            order = flatten_order(cs.inst, lots, book, cfg.flatten_max_spread_bps, cfg.flatten_max_slippage_bps,
                                  reason=reason) if usable else None
            if order is None:
                why = ("book unusable" if not usable
                       else f"spread {book.spread_bps():.1f} bps > {cfg.flatten_max_spread_bps} bps")
                self.event("flatten", "warning", f"flatten skipped: {why}", now_ms, coin, position_lots=lots)
                continue
            cs.flatten_sent_ms = now_ms
            others = self._others_crossed(coin, order.side, order.limit_px)
            if others:
                self.event("flatten", "warning", f"flatten held: it would cross resting orders of "
                           f"{', '.join(others)} on the same account", now_ms, coin, position_lots=lots)
                continue
            out.append(self._place(coin, order.side, order.limit_px, order.lots, Tif.IOC, "flatten", now_ms,
                                   reduce_only=True))
            self.event("flatten", "info", f"flatten: {side_name(order.side)} {cs.inst.sz(order.lots)} IOC at "
                       f"{cs.inst.px(order.limit_px)} ({reason})", now_ms, coin, position_lots=lots,
                       limit=cs.inst.px(order.limit_px))
        return out

    def _retry_flatten(self, cs: CoinState, now_ms: int) -> list[Action]:
        """A killed or stopped bot still owing a flatten (flatten_on_kill, flatten_on_stop, emergency
        stop): send it again once the coin's book is usable and its spread within
        flatten_max_spread_bps, at most every FLATTEN_RETRY_MS and never while one is in flight."""
        if not self.flatten_retry or cs.position.lots == 0 or now_ms - cs.flatten_sent_ms < FLATTEN_RETRY_MS:
            return []
        if any(o.slot == "flatten" for o in self.orders.live(cs.coin)):
            return []
        book = cs.book
        if (book is None or not book.is_usable(now_ms, self.max_book_age_ms)
                or book.spread_bps() > cs.cfg.flatten_max_spread_bps):
            return []
        return self.flatten(now_ms, f"{self.flatten_retry} (retry)", cs.coin)

    def _coin_items(self, coin: str | None) -> list[tuple[str, CoinState]]:
        """Every (coin, state), or only `coin`'s (KeyError for a coin the bot does not trade)."""
        return list(self.coins.items()) if coin is None else [(coin, self.coins[coin])]

    def take_profit_now(self, now_ms: int, coin: str | None = None) -> list[Action]:
        """On-demand take profit (scripts/take_profit.py): close a position that is in profit
        after the taker fee with an IOC at the touch, whatever the configured thresholds."""
        out: list[Action] = []
        for c, cs in self._coin_items(coin):
            p = cs.position
            if p.lots == 0:
                continue
            order = take_profit(cs.inst, p.lots, p.avg_entry, cs.book, replace(cs.tp, min_bps=0.0, min_usd=0.0))
            if order is None:
                self.event("take_profit", "warning", "take profit on demand: position not in profit after fees "
                           "(or no usable book); use flatten to close at a loss", now_ms, c,
                           position_lots=p.lots, avg_entry=p.avg_entry)
                continue
            out += self._send_exit(cs, replace(order, reason="on demand"), "take_profit", now_ms)
        return out

    # ------------------------------------------------------------ reconciliation

    def reconcile_due(self) -> bool:
        """Count one quoting-loop pass; True every housekeep_every_n loops (of every coin)."""
        self._ticks_since_reconcile += 1
        return self._ticks_since_reconcile >= self.housekeep_ticks

    def begin_reconcile(self, now_ms: int, force: bool = False) -> int | None:
        """Start a reconciliation: the shell must answer with a Reconcile snapshot of the venue's
        open orders and the fills since the returned time. None while the rate limiter refuses
        the two reads (open orders, fills), then the next loop tries again. force: go ahead even
        when refused (the restart's and the shutdown's one-off reconciliation)."""
        if self.limiter is not None:
            weight = self.limits.info_weight("openOrders") + self.limits.info_weight("userFillsByTime")
            if not force and now_ms - self._last_reconcile_ms < RECONCILE_MAX_GAP_MS:
                rest = self.limiter.usage(now_ms)["rest"]
                if (rest.used + weight) * 100 > RECONCILE_MAX_USAGE_PCT * rest.capacity:
                    return None  # no spare capacity now: try again on the next loop
            if not isinstance(self.limiter.try_acquire(RequestKind.INFO, weight, now_ms), Grant) and not force:
                return None
        self._ticks_since_reconcile = 0
        return self._reconcile_since_ms

    def on_reconcile(self, snap: Reconcile, grace_ms: int = RECONCILE_GRACE_MS) -> list[Action]:
        """Make our view agree with the venue's snapshot; returns the cancels it needs.

        - fills the venue has that we never applied are applied (each fill id once);
        - a pending order resting at the venue (ack lost) is adopted as open;
        - an order resting at the venue that we do not know is a stray: adopted and cancelled;
          so is a known order in the 'stray' slot (restored from an earlier run); both count
          as strays;
        - a cancel older than grace_ms whose order still rests is sent again;
        - a modify unanswered for longer than grace_ms is settled by the venue's price (took effect
          at the new price, failed at the old one);
        - a live order the venue lacks, older than grace_ms (so not in flight), is closed: filled
          when its fills cover it, else cancelled.
        Every transition writes an order_events row; a summary goes to system_events when
        anything had to be corrected. grace_ms=0 at a restart (nothing of ours is in flight).
        """
        now = snap.ts_ms
        self.reconciles += 1
        self._last_reconcile_ms = now
        self._reconcile_since_ms = max(0, now - RECONCILE_OVERLAP_MS)
        recovered = adopted = strays = closed = retried = settled = 0
        for f in sorted(snap.fills, key=lambda x: (x.ts_ms, x.fill_id)):
            if f.fill_id not in self.seen_fills:
                self._on_fill(f)
                recovered += 1
        cancel_by_coin: dict[str, list] = {}
        at_venue = {vo.cloid: vo for vo in snap.open_orders}
        for vo in snap.open_orders:
            if vo.coin not in self.coins:
                continue
            o = self.orders.orders.get(vo.cloid)
            if o is None or o.status in TERMINAL:
                o = self.orders.adopt_stray(vo, now)
                self.self_match.remove(vo.cloid)
            elif o.status == OrderStatus.PENDING:
                self.orders.adopt(o, vo.venue_oid, vo.filled, now, "reconcile: resting at the venue, ack missing")
                self.coins[o.coin].ti.on_order_accepted(o.cloid, now)
                adopted += 1
            if o.modify is not None and now - o.modify_sent_ms >= max(grace_ms, RECONCILE_GRACE_MS):
                # Its answer was lost: the venue's price says whether it took effect.
                settled += self.settle_modify(o.cloid, vo.px, vo.venue_oid, now) is not None
            elif o.slot != STRAY_SLOT and self.orders.correct_price(o, vo.px, vo.venue_oid, now,
                                                                    "reconcile: resting at the venue's price"):
                self._track_resting(o, now)
                settled += 1
            resend = o.cancel_requested and now - o.cancel_requested_ms >= max(grace_ms, RECONCILE_GRACE_MS)
            if resend:
                self.orders.retry_cancel(o)
                retried += 1
            if o.slot == STRAY_SLOT and not o.cancel_requested:
                strays += 1
                cancel_by_coin.setdefault(o.coin, []).append(o)
            elif resend:
                cancel_by_coin.setdefault(o.coin, []).append(o)
        for coin in self.coins:
            for o in self.orders.live(coin):
                if o.cloid in at_venue or now - max(o.created_ms, o.cancel_requested_ms) < grace_ms:
                    continue
                self.orders.close_missing(o, now, "reconcile: not resting at the venue")
                cs = self.coins[coin]
                cs.ti.on_order_done(o.cloid, now)
                self.self_match.remove(o.cloid)
                closed += 1
        out: list[Action] = []
        for coin, orders in cancel_by_coin.items():
            out += self._send_cancels(self.coins[coin], orders, now, "reconcile")
        if recovered or adopted or strays or closed or retried or settled:
            self.event("reconcile", "warning", f"reconciled with the venue: {recovered} missed fill(s) applied, "
                       f"{adopted} order(s) adopted, {strays} stray(s) cancelled, {closed} order(s) closed, "
                       f"{retried} cancel(s) resent, {settled} unanswered modify(ies) settled", now,
                       fills_recovered=recovered, adopted=adopted, strays=strays, closed=closed,
                       cancels_resent=retried, modifies_settled=settled,
                       positions={c: cs.position.lots for c, cs in self.coins.items()})
        self.last_reconcile = {"fills_recovered": recovered, "adopted": adopted, "strays": strays,
                               "closed": closed, "cancels_resent": retried, "modifies_settled": settled}
        return out

    def settle_modify(self, cloid: str, venue_px: int, venue_oid: str, now_ms: int) -> bool | None:
        """An order with a modify whose answer never came rests at the venue at venue_px (ticks):
        True if the modify took effect (the venue has the new price), False if not (the old one),
        None when the order has no modify in flight. For the shells' own reconciliation (the live
        runner compares the venue's open orders itself); `on_reconcile` does this for paper."""
        o = self.orders.orders.get(cloid)
        if o is None or o.modify is None:
            return None
        took = venue_px == o.modify.px
        moved = self.orders.settle_modify(o, venue_px, venue_oid, now_ms, "reconcile: modify unanswered, resting at "
                                          + ("the new price" if took else "the old price"))
        self._track_resting(o, now_ms)
        return moved

    def restore_order(self, coin: str, cloid: str, side: int, px: int, sz: int, filled: int, tif: Tif,
                      status: OrderStatus, created_ms: int, venue_oid: str = "") -> None:
        """Seed a live order of an earlier run (from the DB) into the 'stray' slot: the restart's
        reconciliation closes it if the venue lacks it and cancels it if the venue holds it."""
        self.orders.restore(coin, cloid, side, px, sz, filled, tif, status, created_ms, venue_oid)

    def open_order_count(self) -> int:
        return sum(len(self.orders.live(c)) for c in self.coins)

    # ------------------------------------------------------------ venue events

    def on_venue_event(self, ev: VenueEvent) -> list[Action]:
        """Apply an ack, a fill or a refused modify from the venue."""
        if isinstance(ev, Fill):
            self._on_fill(ev)
            return []
        if isinstance(ev, ModifyFailed):
            self._on_modify_failed(ev)
            return []
        if ev.status == OrderStatus.REJECTED and is_rate_limit_reject(ev.reason):
            self._on_rate_limited(ev)
            return []
        o = self.orders.on_ack(ev)
        cs = self.coins.get(ev.coin)
        if cs is not None and o is not None:
            if ev.status == OrderStatus.OPEN and o.status not in TERMINAL:
                cs.ti.on_order_accepted(ev.cloid, ev.ts_ms)
            elif o.status in TERMINAL:
                # Also an OPEN ack of a modify whose new size the fills in flight already covered.
                cs.ti.on_order_done(ev.cloid, ev.ts_ms)
                self.self_match.remove(ev.cloid)
                if o.status == OrderStatus.FILLED:
                    cs.last_place_ms.pop(o.slot, None)
        if ev.status == OrderStatus.REJECTED and not is_benign_reject(ev.reason):
            self.kills.observe_error(ev.ts_ms)
        elif ev.status == OrderStatus.OPEN and self.limiter is not None:
            self.limiter.on_success(ev.ts_ms)
        if ev.status == OrderStatus.REJECTED:
            self.event("reject", "warning", f"order rejected: {ev.reason}", ev.ts_ms, ev.coin,
                       cloid=ev.cloid, side=side_name(o.side) if o else "", reason=ev.reason)
        return []

    def on_trade(self, tp: TradePrint) -> None:
        """A public trade of one of the bot's coins: feeds the signed-flow signal."""
        cs = self.coins.get(tp.coin)
        if cs is not None:
            cs.signals.on_trade(tp)

    def on_funding(self, coin: str, rate: float, now_ms: int) -> None:
        """Apply a funding payment to a coin's open position: longs pay a positive rate, shorts receive it."""
        cs = self.coins.get(coin)
        if cs is None:
            return
        cs.signals.set_funding(rate)
        if cs.position.lots == 0 or cs.book is None or not (cs.book.best_bid and cs.book.best_ask):
            return
        mid = cs.book.mid2() * cs.inst.tick_size / 2
        sign = 1 if cs.position.lots > 0 else -1
        payment = -sign * cs.position.notional_usd(mid) * rate
        cs.position.funding_usd += payment
        self.event("funding", "info", f"funding {rate * 1e4:.3f} bps on {cs.position.size:g}: {payment:+.4f} USD",
                   now_ms, coin, rate=rate, payment_usd=payment)

    def _on_modify_failed(self, ev: ModifyFailed) -> None:
        """The venue refused a modify: the order rests at its old price (or is gone: a fill won the
        race, or reconciliation closes it). A rate-limit refusal backs the limiter off like a 429 on
        a placement; other refusals, except a post-only cross and a gone order, count as errors."""
        o = self.orders.on_modify_failed(ev)
        if o is not None:
            # Back to the price the order still rests at (or out, if the fills ended it).
            self._track_resting(o, ev.ts_ms)
        if is_rate_limit_reject(ev.reason):
            until = self.limiter.on_rate_limited(ev.ts_ms, self.rng) if self.limiter is not None else ev.ts_ms
            self.event("rate_limit", "warning", f"venue rate limit on a modify: {ev.reason}; back-off until "
                       f"{until} ({until - ev.ts_ms} ms)", ev.ts_ms, ev.coin, cloid=ev.cloid, reason=ev.reason,
                       backoff_until_ms=until,
                       backoff_level=self.limiter.backoff_level if self.limiter is not None else 0)
            return
        if not is_benign_reject(ev.reason) and not is_gone_reason(ev.reason):
            self.kills.observe_error(ev.ts_ms)
        self.event("reject", "warning", f"modify refused: {ev.reason}", ev.ts_ms, ev.coin, cloid=ev.cloid,
                   side=side_name(o.side) if o else "", reason=ev.reason, action="modify")

    def _track_resting(self, o, now_ms: int) -> None:
        """Self-match registry and TI rest clock after our view of o's price or state changed:
        a live order is registered at its price; an ended one leaves both."""
        cs = self.coins.get(o.coin)
        if o.status in TERMINAL:
            if cs is not None:
                cs.ti.on_order_done(o.cloid, now_ms)
            self.self_match.remove(o.cloid)
            if o.status == OrderStatus.FILLED and cs is not None:
                cs.last_place_ms.pop(o.slot, None)
        elif o.tif != Tif.IOC and o.slot != STRAY_SLOT:
            # (Strays are being cancelled, never quoted: self-match protection leaves them out.)
            self.self_match.register(RestingOrder(self.account, o.coin, o.cloid, o.side, o.px, self.bot_id))

    def _on_rate_limited(self, ev) -> None:
        """The venue refused an order with a rate-limit error (HTTP 429): the order is rejected and
        the shared limiter backs off (only cancels pass until it ends)."""
        o = self.orders.on_ack(ev)
        cs = self.coins.get(ev.coin)
        if cs is not None and o is not None:
            cs.ti.on_order_done(ev.cloid, ev.ts_ms)
            self.self_match.remove(ev.cloid)
        until = self.limiter.on_rate_limited(ev.ts_ms, self.rng) if self.limiter is not None else ev.ts_ms
        self.event("rate_limit", "warning", f"venue rate limit: {ev.reason}; back-off until {until} "
                   f"({until - ev.ts_ms} ms)", ev.ts_ms, ev.coin, cloid=ev.cloid, reason=ev.reason,
                   backoff_until_ms=until,
                   backoff_level=self.limiter.backoff_level if self.limiter is not None else 0)

    def _on_fill(self, f: Fill) -> None:
        if f.fill_id in self.seen_fills:
            return  # already applied (delivered and recovered by reconciliation): idempotent
        self.seen_fills.add(f.fill_id)
        cs = self.coins.get(f.coin)
        if cs is None:
            self.event("error", "error", f"fill for a coin this bot does not trade: {f.coin}", f.ts_ms,
                       f.coin, fill_id=f.fill_id)
            return
        o = self.orders.on_fill(f)
        inst = cs.inst
        cs.position.apply_fill(f.side, f.px, f.sz, f.fee_usd)
        book = cs.book
        mid = spread = 0.0
        if book is not None and book.best_bid and book.best_ask:
            mid = book.mid2() * inst.tick_size / 2
            spread = book.spread_bps()
        notional = inst.notional_usd(f.px, f.sz)
        price, size = inst.px(f.px), inst.sz(f.sz)
        cs.ti.on_fill(f.side, price, size, notional, f.maker, mid or price, spread, f.ts_ms, f.counterparty)
        cs.signals.on_fill(f.maker)
        if o is not None and o.status == OrderStatus.FILLED:
            cs.ti.on_order_done(f.cloid, f.ts_ms)
            self.self_match.remove(f.cloid)
            # min_replace_ms paces replacements (our cancels), not refills: a slot a fill emptied
            # is quoted again on the next loop, so the side is not left bare.
            cs.last_place_ms.pop(o.slot, None)
        self.loop_guard.on_fill(f.coin, f.side, f.ts_ms)
        self.records.append(FillRow(self.venue, f.fill_id, self.bot_id, f.coin, f.cloid, side_name(f.side),
                                    price, size, f.sz, int(f.maker), f.fee_usd, notional, mid, spread,
                                    f.counterparty, f.ts_ms))
        self.records.append(TradeRow(self.bot_id, f.coin, "fill", side_name(f.side), price, size, f.cloid,
                                     f.ts_ms))
        self._position_row(cs, f.ts_ms)

    # ------------------------------------------------------------ telemetry

    def _position_row(self, cs: CoinState, now_ms: int) -> None:
        p = cs.position
        self.records.append(PositionRow(self.bot_id, cs.coin, p.size, p.lots, p.avg_entry, p.realized_usd,
                                        p.fees_usd, p.fills, now_ms))

    def _telemetry(self, cs: CoinState, now_ms: int) -> None:
        if not self.telemetry_rows:
            return
        book = cs.book
        have_book = book is not None and book.best_bid > 0 and book.best_ask > 0
        if have_book and now_ms >= cs.next_snapshot_ms:
            cs.next_snapshot_ms = now_ms + SNAPSHOT_EVERY_MS
            self.records.append(snapshot_row(self.bot_id, cs.inst, book, now_ms))
        if now_ms >= cs.next_pnl_ms:
            cs.next_pnl_ms = now_ms + PNL_EVERY_MS
            self._pnl_row(cs, now_ms)
        while now_ms >= cs.minute_end_ms:
            self._minute_rows(cs, cs.minute_start_ms, cs.minute_end_ms)
            cs.minute_start_ms = cs.minute_end_ms
            cs.minute_end_ms += MINUTE_MS

    def _minute_rows(self, cs: CoinState, start_ms: int, end_ms: int) -> None:
        """performance_metrics rows (the minute and the rolling window), the hour's uptime, autotune."""
        self.orders.forget_terminal()
        targets = cs.cfg.ti_proxy
        minute = cs.ti.snapshot(start_ms, end_ms)
        self.records.append(minute.metric_row(self.bot_id, cs.coin, ti_score(minute, targets)))
        rolling = cs.ti.rolling(end_ms)
        self.records.append(rolling.metric_row(self.bot_id, cs.coin, ti_score(rolling, targets)))
        # A minute ending exactly on the hour belongs to the hour it ends.
        hour = (end_ms - 1) // HOUR_MS * HOUR_MS
        up = cs.ti.snapshot(hour, end_ms)
        self.records.append(UptimeRow(self.bot_id, cs.coin, hour, up.two_sided_s, up.observed_s,
                                      cs.cfg.uptime_target_minutes, end_ms))
        if cs.tuner is not None:
            window = cs.ti.rolling(end_ms, int(cs.cfg.autotune_window_minutes * MINUTE_MS))
            nudge = cs.tuner.evaluate(window, end_ms)
            if nudge is not None:
                tp = cs.tuner.params
                cs.params = replace(cs.params, min_spread_bps=tp.min_spread_bps,
                                    size_notional_usd=tp.size_notional_usd)
                cs.min_replace_ms = tp.min_replace_ms
                self.event("autotune", "info", f"autotune {nudge.param}: {nudge.before:g} -> {nudge.after:g} "
                           f"({nudge.reason})", end_ms, cs.coin, param=nudge.param, before=nudge.before,
                           after=nudge.after, reason=nudge.reason, figures=nudge.figures)

    def _two_sided(self, coin: str) -> bool:
        """Both sides have an order the venue accepted and that is still resting."""
        bid = ask = False
        for o in self.orders.live(coin):
            if o.accepted_ms and not o.cancel_requested:
                if o.side == BUY:
                    bid = True
                else:
                    ask = True
        return bid and ask

    def _pnl_row(self, cs: CoinState, now_ms: int) -> None:
        book, p, inst = cs.book, cs.position, cs.inst
        mid = book.mid2() * inst.tick_size / 2 if book is not None and book.best_bid and book.best_ask else 0.0
        unreal = p.unrealized_usd(mid) if mid else 0.0
        total = p.realized_usd + unreal - p.fees_usd + p.funding_usd
        self.records.append(PnlRow(self.bot_id, cs.coin, p.size, p.lots, p.avg_entry, mid, p.realized_usd,
                                   unreal, p.fees_usd, p.funding_usd, total, p.volume_usd, now_ms))

    def status_line(self, coin: str, now_ms: int) -> str:
        """One console line for a coin: status, book, position, PnL, fills (telemetry_console)."""
        cs = self.coins[coin]
        book, p, inst = cs.book, cs.position, cs.inst
        mid = book.mid2() * inst.tick_size / 2 if book is not None and book.best_bid and book.best_ask else 0.0
        total = p.realized_usd + (p.unrealized_usd(mid) if mid else 0.0) - p.fees_usd + p.funding_usd
        live = len(self.orders.live(coin))
        return (f"{self.bot_id} {coin} {self.status} mid={mid:g} pos={p.size:g} pnl={total:.2f}$ "
                f"fees={p.fees_usd:.2f}$ fills={p.fills} open_orders={live}")

    def final_records(self, now_ms: int) -> None:
        """Closing rows at shutdown: PnL, position and the partial minute of metrics."""
        for cs in self.coins.values():
            self._position_row(cs, now_ms)
            if not self.telemetry_rows:
                continue
            self._pnl_row(cs, now_ms)
            if now_ms > cs.minute_start_ms:
                self._minute_rows(cs, cs.minute_start_ms, now_ms)
                cs.minute_start_ms = now_ms


def is_rate_limit_reject(reason: str) -> bool:
    """The venue refused a request for rate limiting (HTTP 429 or its rate-limit error text)."""
    r = reason.lower()
    return "429" in r or "rate limit" in r or "too many requests" in r


def is_gone_reason(reason: str) -> bool:
    """A modify or cancel that found no order (filled or cancelled first): a race, not an error."""
    r = reason.lower()
    return "not open" in r or "already canceled" in r or "already cancelled" in r or "filled" in r


def is_benign_reject(reason: str) -> bool:
    """A post-only order refused because it would cross is normal quoting, not an error."""
    return "post-only" in reason or "would cross" in reason


def snapshot_row(bot_id: str, inst: Instrument, book: L2Book, now_ms: int) -> BookSnapshotRow:
    """An orderbook_snapshots row of the top 5 levels."""
    bids, asks = book.top(5)
    bl = [[inst.px(p), inst.sz(s)] for p, s in bids]
    al = [[inst.px(p), inst.sz(s)] for p, s in asks]
    return BookSnapshotRow(
        bot_id, book.coin, inst.px(book.best_bid), inst.px(book.best_ask), book.mid2() * inst.tick_size / 2,
        book.spread_bps(), sum(s for _, s in bl), sum(s for _, s in al), book.imbalance(5),
        json.dumps({"bids": bl, "asks": al}), now_ms,
    )
