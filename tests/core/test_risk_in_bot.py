"""The risk layer wired into the bot (DESIGN section 7), driven in process on a virtual clock.

Each test builds a paper session (`build_session`: books, the paper venue, the bots), feeds it
hand-made books and trades with `session.market`, runs the quoting loop with `session.tick` and
delivers acks and fills with `session.pump`, then checks the rows the bot wrote (system_events
and orders / order_events) and the orders it sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mm_bot.config import load_config_file
from mm_bot.core.quoting import target_quotes
from mm_bot.core.records import FillRow, OrderEventRow, OrderRow, SystemEventRow
from mm_bot.core.types import BUY, SELL, BookUpdate, Instrument, OrderAck, OrderStatus, Place, Tif, TradePrint
from mm_bot.sim.assemble import build_session

INST = Instrument("BTC", tick_size=1.0, lot_size=0.00001, min_notional_usd=10, max_sig_figs=0)
DEPTH = 1_000_000  # lots per level: 10 BTC, so exits always fill
# Exits and loss limits out of the way unless a test sets them.
QUIET = {
    "bailout_partial_mae_bps": 5000, "bailout_full_mae_bps": 9000, "bailout_partial_min_seconds": 3600,
    "bailout_full_max_seconds": 3600, "take_profit_min_bps": 5000, "daily_loss_limit_usd": 10_000,
    "portfolio_pause_threshold_pct": 90, "emergency_stop_loss_pct": 95, "drawdown_step_down": False,
    "max_per_coin_notional": 2000, "max_symbol_notional": 2000, "max_gross_notional": 4000,
    "margin_cap_mode": "off", "loop_min_holding_ms": 0, "inv_skew_strength": 0, "width_vol_mult": 0,
}


@dataclass
class Run:
    """A one-bot session on BTC and everything it wrote."""

    session: object
    bot: object
    sent: list = field(default_factory=list)
    rows: list = field(default_factory=list)

    def book(self, t: int, bid: int, ask: int, levels: int = 5) -> None:
        self.session.market(BookUpdate("BTC", t, tuple((bid - i, DEPTH) for i in range(levels)),
                                       tuple((ask + i, DEPTH) for i in range(levels)), snapshot=True), t)

    def tick(self, t: int) -> list:
        """One quoting loop at t (venue events due by t delivered first); the actions sent."""
        self.pump(t)
        n = len(self.sent)
        self.session.tick(self.bot, "BTC", t)
        self.pump(t)
        return self.sent[n:]

    def pump(self, t: int) -> None:
        self.session.pump(t)
        self.rows += self.session.drain()

    def events(self, kind: str) -> list[SystemEventRow]:
        return [r for r in self.rows if isinstance(r, SystemEventRow) and r.kind == kind]

    def order_events(self, event: str) -> list[OrderEventRow]:
        return [r for r in self.rows if isinstance(r, OrderEventRow) and r.event == event]

    def places(self, since: int = 0) -> list[Place]:
        return [a for a in self.sent[since:] if isinstance(a, Place)]

    def live(self) -> list:
        return self.bot.orders.live("BTC")

    def targets(self) -> dict[int, int]:
        """side -> lots the quoting rule wants now (before the risk checks)."""
        cs = self.bot.coins["BTC"]
        return {q.side: q.sz for q in target_quotes(cs.inst, cs.book, cs.position.lots, cs.params)}


def make(tmp_path, name: str = "r", **keys) -> Run:
    doc = {"bot_id": name, "coins": ["BTC"], "loop_ms": 100, "min_spread_bps": 2, "size_notional_usd": 100,
           "min_spread_guard_enabled": False, "min_replace_ms": 0, "refresh_jitter_ms": 0,
           "paper": {"entry_latency_ms": 10, "response_latency_ms": 10}}
    doc.update(QUIET)
    for k, v in keys.items():
        if k == "paper":
            doc["paper"] = {**doc["paper"], **v}
        else:
            doc[k] = v
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(doc))
    session, (bot,), _ = build_session([load_config_file(p)], {"BTC": INST}, 0, 1)
    run = Run(session, bot)
    venue = session.venue_of[bot.bot_id]
    orig = venue.submit

    def submit(a, now_ms):
        run.sent.append(a)
        orig(a, now_ms)

    venue.submit = submit
    return run


def details(ev: SystemEventRow) -> dict:
    return json.loads(ev.details_json)


def quoting(run: Run, t: int = 0) -> list[Place]:
    """A usable book and one loop: both quotes sent and acked open."""
    run.book(t, 60000, 60001)
    acts = run.tick(t)
    run.pump(t + 50)
    places = [a for a in acts if isinstance(a, Place)]
    assert {p.side for p in places} == {BUY, SELL}
    assert all(o.status == OrderStatus.OPEN for o in run.live())
    return places


def cancelled_for(run: Run, cloids, why: str, t: int) -> None:
    """Every cloid got a cancel request at t whose reason names `why`."""
    req = {r.cloid: r for r in run.order_events("cancel_requested")}
    for c in cloids:
        assert c in req, f"{c} not cancelled"
        assert req[c].ts_ms == t and why in req[c].detail, req[c]


# ---------------------------------------------------------------- loss controls


def test_loss_guard_pauses_cancels_and_resumes_after_recovery(tmp_path):
    run = make(tmp_path, portfolio_pause_threshold_pct=1, emergency_stop_loss_pct=5, pause_cooldown_sec=600,
               paper={"starting_equity_usd": 1000})
    run.bot.restore_position("BTC", 1000, 60000.0, 0.0, 0.0, 0)  # long 0.01 BTC (600 USD)
    places = quoting(run)
    # -1.2 %: 0.01 BTC x 1200 USD = 12 USD of 1000 equity.
    run.book(1000, 58800, 58801)
    acts = run.tick(1000)
    assert run.bot.status == "paused"
    (ev,) = run.events("pause")
    assert ev.severity == "warning" and "loss 1.2" in ev.message and ev.ts_ms == 1000
    cancelled_for(run, [p.cloid for p in places], "pause", 1000)
    assert not any(isinstance(a, Place) for a in acts)
    run.pump(2000)
    assert run.live() == []
    # Still down: no quotes, no resume.
    n = len(run.sent)
    run.book(2000, 58900, 58901)
    run.tick(2000)
    assert run.places(n) == [] and not run.events("resume")
    # Recovered below half the threshold (0.5 %): resume, and quote again on the next loop.
    run.book(3000, 59800, 59801)
    run.tick(3000)
    (res,) = run.events("resume")
    assert "recovered below 0.5%" in res.message and json.loads(res.details_json)["reason"].startswith("resumed")
    run.tick(3100)
    assert {p.side for p in run.places(n)} == {BUY, SELL}


def test_daily_loss_limit_stops_the_bot(tmp_path):
    run = make(tmp_path, daily_loss_limit_usd=5)
    run.bot.restore_position("BTC", 1000, 60000.0, 0.0, 0.0, 0)
    places = quoting(run)
    run.book(1000, 59400, 59401)  # 0.01 BTC x -600 = -6 USD
    run.tick(1000)
    (ev,) = run.events("loss_limit")
    d = details(ev)
    assert ev.severity == "critical" and "daily loss limit 5 USD" in ev.message
    assert d["day_pnl_usd"] < -5 and d["size_mult"] == 0.0
    assert run.bot.status == "stopped"
    cancelled_for(run, [p.cloid for p in places], "loss limit", 1000)
    run.pump(1500)
    held = run.bot.coins["BTC"].position.lots  # the crossed bid may have filled before its cancel arrived
    n = len(run.sent)
    run.book(2000, 60000, 60001)
    run.tick(2000)
    run.tick(3000)
    assert run.places(n) == [] and run.live() == []
    # No flatten unless configured: the position stays.
    assert run.bot.coins["BTC"].position.lots == held >= 1000


def test_emergency_stop_cancels_and_flattens(tmp_path):
    run = make(tmp_path, portfolio_pause_threshold_pct=1, emergency_stop_loss_pct=2,
               paper={"starting_equity_usd": 1000})
    run.bot.restore_position("BTC", 1000, 60000.0, 0.0, 0.0, 0)
    places = quoting(run)
    run.book(1000, 57500, 57501)  # -25 USD = 2.5 %
    acts = run.tick(1000)
    (ev,) = run.events("emergency_stop")
    assert ev.severity == "critical" and "emergency stop 2%" in ev.message and details(ev)["loss_pct"] > 2
    assert run.bot.status == "stopped"
    cancelled_for(run, [p.cloid for p in places], "emergency stop", 1000)
    (flat,) = [a for a in acts if isinstance(a, Place)]
    assert (flat.side, flat.sz, flat.tif, flat.reduce_only) == (SELL, 1000, Tif.IOC, True)
    # Limit at most flatten_max_slippage_bps (25) through the mid, rounded so it is never worse.
    assert flat.px >= 57500.5 * (1 - 25e-4)
    (fe,) = [e for e in run.events("flatten") if e.message.startswith("flatten:")]
    assert "emergency stop" in fe.message
    run.pump(1500)
    fills = [r for r in run.rows if isinstance(r, FillRow)]
    assert any(f.cloid == flat.cloid and f.maker == 0 and f.size_lots == 1000 for f in fills)
    # Our bid, crossed by the fall, filled before its cancel arrived: the flatten is retried for it.
    left = run.bot.coins["BTC"].position.lots
    n = len(run.sent)
    run.tick(2100)
    if left:
        (again,) = run.places(n)
        assert (again.side, again.sz, again.tif) == (SELL, left, Tif.IOC)
        assert "emergency stop (retry)" in run.events("flatten")[-1].message
    run.pump(3000)
    assert run.bot.coins["BTC"].position.lots == 0


def test_drawdown_steps_quote_size_down(tmp_path):
    run = make(tmp_path, drawdown_step_down=True, drawdown_step_pct=10, portfolio_pause_threshold_pct=40,
               emergency_stop_loss_pct=60, paper={"starting_equity_usd": 100})
    # Long 0.01 BTC bought at 62 100: at 60 000 that is -21 USD = 21 % of 100: two 10 % steps -> x0.8.
    run.bot.restore_position("BTC", 1000, 62100.0, 0.0, 0.0, 0)
    run.book(1000, 60000, 60001)
    full = run.targets()
    n = len(run.sent)
    run.tick(1000)
    (ev,) = run.events("drawdown")
    d = details(ev)
    assert ev.severity == "warning" and d["drawdown_steps"] == 2 and abs(d["size_mult"] - 0.8) < 1e-9
    assert "size multiplier 0.80" in ev.message and d["drawdown_pct"] > 20
    sizes = {p.side: p.sz for p in run.places(n)}
    assert sizes[BUY] == int(full[BUY] * 0.8) and sizes[SELL] == int(full[SELL] * 0.8)
    # Deeper: one more step, one more event; the same depth again: no new event.
    run.book(2000, 59000, 59001)
    run.tick(2000)
    run.book(2100, 59000, 59001)
    run.tick(2100)
    assert [details(e)["drawdown_steps"] for e in run.events("drawdown")] == [2, 3]


# ---------------------------------------------------------------- exits


def test_bailout_partial_then_full(tmp_path):
    run = make(tmp_path, bailout_partial_mae_bps=20, bailout_partial_min_seconds=1, bailout_full_mae_bps=100,
               bailout_full_max_seconds=60, bailout_partial_reduce_fraction=0.5, max_per_coin_notional=200)
    run.bot.restore_position("BTC", 1000, 60000.0, 0.0, 0.0, 0)
    run.book(0, 59850, 59851)  # 25 bps under the entry
    run.tick(0)
    assert not run.events("bailout")
    run.pump(500)
    n = len(run.sent)
    run.tick(1000)  # 1 s past the partial threshold
    (part,) = run.events("bailout")
    assert part.severity == "warning" and "bailout_partial" in part.message
    (ioc,) = [p for p in run.places(n) if p.tif == Tif.IOC]
    assert (ioc.side, ioc.sz, ioc.reduce_only, ioc.slot) == (SELL, 500, True, "exit")
    run.pump(1100)
    assert run.bot.coins["BTC"].position.lots == 500
    # 110 bps under: the full bailout closes the rest (one exit per retry_ms, 1 s).
    run.book(1200, 59340, 59341)
    n = len(run.sent)
    run.tick(1200)
    assert len(run.events("bailout")) == 1
    run.tick(2000)
    full = run.events("bailout")[1]
    assert "bailout_full" in full.message and details(full)["position_lots"] == 500
    (ioc2,) = [p for p in run.places(n) if p.tif == Tif.IOC]
    assert (ioc2.side, ioc2.sz, ioc2.reduce_only) == (SELL, 500, True)
    run.pump(2100)
    assert run.bot.coins["BTC"].position.lots == 0


def test_take_profit_closes_a_winning_position(tmp_path):
    run = make(tmp_path, take_profit_min_bps=10, take_profit_min_usd=1)
    run.bot.restore_position("BTC", 1000, 59000.0, 0.0, 0.0, 0)
    run.book(0, 60000, 60001)  # +169 bps, +10 USD before the taker fee
    acts = run.tick(0)
    (ev,) = run.events("take_profit")
    assert ev.severity == "info" and "take_profit:" in ev.message and details(ev)["avg_entry"] == 59000.0
    (ioc,) = [a for a in acts if isinstance(a, Place)]
    assert (ioc.side, ioc.px, ioc.sz, ioc.tif, ioc.reduce_only) == (SELL, 60000, 1000, Tif.IOC, True)
    run.pump(100)
    assert run.bot.coins["BTC"].position.lots == 0
    assert run.bot.coins["BTC"].position.realized_usd > 9.9


# ---------------------------------------------------------------- compliance


def test_loop_guard_holds_the_reversing_side_for_min_holding(tmp_path):
    run = make(tmp_path, loop_min_holding_ms=5000)
    places = quoting(run)
    bid = next(p for p in places if p.side == BUY)
    ask = next(p for p in places if p.side == SELL)
    # A seller sweeps through our bid (filled), and the ask is cancelled by the venue.
    run.session.market(TradePrint("BTC", 100, bid.px - 1, 10**7, SELL), 100)
    run.bot.on_venue_event(OrderAck("r", "BTC", ask.cloid, OrderStatus.CANCELLED, 100))
    run.pump(200)
    assert run.bot.coins["BTC"].position.lots == bid.sz
    fill_ts = next(r.ts_ms for r in run.rows if isinstance(r, FillRow))
    n = len(run.sent)
    for t in range(300, fill_ts + 5000, 400):
        run.book(t, 60000, 60001)
        run.tick(t)
    assert run.places(n) and all(p.side == BUY for p in run.places(n)), "only the side of the fill may quote"
    run.book(fill_ts + 5000, 60000, 60001)
    m = len(run.sent)
    run.tick(fill_ts + 5000)
    (sell,) = [p for p in run.places(n) if p.side == SELL]
    assert sell in run.places(m)
    assert [r for r in run.rows if isinstance(r, OrderRow) and r.cloid == sell.cloid][0].ts_ms == fill_ts + 5000


def test_amend_limit_caps_replaces_per_second(tmp_path):
    run = make(tmp_path, max_amends_per_sec=1, move_threshold_ticks=0, requote_threshold_bps=0)
    quoting(run)
    for i, t in enumerate(range(100, 3000, 100)):
        run.book(t, 60000 + 20 * i, 60001 + 20 * i)  # the book runs away: every loop wants both replaced
        run.tick(t)
    cancels_at = sorted(r.ts_ms for r in run.order_events("cancel_requested") if r.detail == "requote")
    assert cancels_at
    for t in cancels_at:
        assert sum(1 for u in cancels_at if t <= u < t + 1000) <= 1, cancels_at
    assert len(cancels_at) >= 2  # the limit paces, it does not freeze


def test_pre_trade_var_shrinks_then_stops_the_adding_side(tmp_path):
    def volatile(run: Run) -> None:
        run.bot.restore_position("BTC", 1000, 60000.0, 0.0, 0.0, 0)  # long 600 USD
        # Mids alternating +-0.1 % each second: the worst 1 s return is -0.1 %, VaR = 0.6 USD.
        for s in range(21):
            px = 60000 if s % 2 == 0 else 59940
            run.book(s * 1000, px, px + 1)
            run.bot.returns.observe("BTC", s * 1000, px + 0.5)
        run.book(21_000, 60000, 60001)

    shrink = make(tmp_path, "s", max_portfolio_var_usd=0.5, var_lookback_sec=60)
    volatile(shrink)
    full = shrink.targets()
    acts = shrink.tick(21_000)
    sizes = {a.side: a.sz for a in acts if isinstance(a, Place)}
    var = shrink.bot._var(21_000)
    assert 0.5 < var < 0.75
    assert sizes[SELL] == full[SELL]  # reduces the long: never shrunk
    assert sizes[BUY] == int(full[BUY] * 0.5 / var + 1e-9) < full[BUY]
    assert not shrink.events("risk")  # a shrink is not a hold: no event

    stop = make(tmp_path, "v", max_portfolio_var_usd=0.3, var_lookback_sec=60)
    volatile(stop)
    acts = stop.tick(21_000)
    assert {a.side for a in acts if isinstance(a, Place)} == {SELL}
    (ev,) = [e for e in stop.events("risk") if "var_stop" in e.message]
    d = details(ev)
    assert ev.message == "buy side held: var_stop" and d["max_portfolio_var_usd"] == 0.3
    assert d["var_usd"] >= 1.5 * 0.3


def test_margin_cap_enforce_holds_and_warn_writes_an_event(tmp_path):
    # Equity 100 x leverage 1 x fraction 1 = 100 USD of gross notional.
    keys = dict(assumed_leverage=1, margin_cap_fraction=1, paper={"starting_equity_usd": 100})
    enf = make(tmp_path, "e", margin_cap_mode="enforce", **keys)
    enf.bot.restore_position("BTC", 200, 60000.0, 0.0, 0.0, 0)  # long 120 USD: over the cap
    enf.book(0, 60000, 60001)
    acts = enf.tick(0)
    assert {a.side for a in acts if isinstance(a, Place)} == {SELL}
    (ev,) = enf.events("risk")
    d = details(ev)
    assert ev.message == "buy side held: margin_cap" and abs(d["margin_cap_usd"] - 100) < 0.01
    assert d["gross_usd"] > 100

    warn = make(tmp_path, "w", margin_cap_mode="warn", **keys)
    warn.bot.restore_position("BTC", 200, 60000.0, 0.0, 0.0, 0)
    warn.book(0, 60000, 60001)
    acts = warn.tick(0)
    assert {a.side for a in acts if isinstance(a, Place)} == {BUY, SELL}
    (ev,) = warn.events("risk")
    assert ev.severity == "warning" and "over the margin cap (warn mode)" in ev.message
    assert abs(details(ev)["margin_cap_usd"] - 100) < 0.01


# ---------------------------------------------------------------- kill switches


def test_error_rate_kill_switch_cancels_everything(tmp_path):
    run = make(tmp_path, error_kill_count=3, error_kill_window_sec=10, order_levels=3, flatten_on_kill=True)
    run.book(0, 60000, 60001)
    acts = run.tick(0)
    places = [a for a in acts if isinstance(a, Place)]
    assert len(places) == 6
    run.session.pump(5)  # nothing due yet: deliver our own acks instead of the venue's
    venue = run.session.venue_of["r"]
    venue._heap.clear()
    opened, rejected = places[:3], places[3:]
    for p in opened:
        run.bot.on_venue_event(OrderAck("r", "BTC", p.cloid, OrderStatus.OPEN, 20))
        venue.submit(p, 0)  # and let the venue hold them, so the cancels find them
    for p in rejected:
        run.bot.on_venue_event(OrderAck("r", "BTC", p.cloid, OrderStatus.REJECTED, 30, reason="venue error 503"))
    run.pump(40)
    assert len(run.events("reject")) == 3
    acts = run.tick(100)
    (ev,) = run.events("kill")
    d = details(ev)
    assert ev.severity == "critical" and d["switch"] == "error_rate"
    assert d["figures"] == {"errors": 3.0, "error_kill_count": 3.0, "error_kill_window_ms": 10000.0}
    assert run.bot.status == "killed"
    cancelled_for(run, [p.cloid for p in opened], "kill switch error_rate", 100)
    assert not any(isinstance(a, Place) for a in acts)  # flat: nothing to flatten
    run.pump(500)
    assert run.live() == [] and run.session.open_orders() == 0
    n = len(run.sent)
    run.tick(1000)
    assert run.places(n) == []


def test_kill_flatten_waits_for_a_usable_spread_then_retries(tmp_path):
    run = make(tmp_path, max_spread_kill_bps=60, flatten_on_kill=True, flatten_max_spread_bps=50)
    run.bot.restore_position("BTC", 1000, 60000.0, 0.0, 0.0, 0)
    quoting(run)
    run.book(100, 59500, 60500)  # 167 bps
    run.tick(100)
    run.book(1200, 59500, 60500)
    acts = run.tick(1200)
    (ev,) = run.events("kill")
    assert details(ev)["switch"] == "spread_blowout" and details(ev)["figures"]["spread_bps"] > 160
    assert not any(isinstance(a, Place) for a in acts)
    assert "flatten skipped: spread" in run.events("flatten")[0].message
    run.tick(2200)  # still wide: nothing, and no new event every loop
    assert len(run.events("flatten")) == 1
    run.book(3000, 60000, 60001)
    n = len(run.sent)
    run.tick(3000)
    (flat,) = run.places(n)
    assert (flat.side, flat.sz, flat.tif, flat.reduce_only) == (SELL, 1000, Tif.IOC, True)
    assert "(retry)" in run.events("flatten")[-1].message
    run.pump(3100)
    assert run.bot.coins["BTC"].position.lots == 0
    run.tick(4200)
    assert run.places(n) == [flat]


def test_md_gap_counts_from_the_last_book_update(tmp_path):
    run = make(tmp_path, md_gap_kill_sec=3)
    quoting(run)
    for t in range(100, 3000, 100):
        run.tick(t)  # no book update since 0; the book is still "usable" (younger than 5 s)
    assert not run.events("kill")
    run.tick(3000)
    (ev,) = run.events("kill")
    assert details(ev)["switch"] == "md_gap" and details(ev)["figures"]["gap_ms"] == 3000


# ---------------------------------------------------------------- self-match across bots


STEP = st.one_of(
    st.tuples(st.just("book"), st.integers(-8, 8), st.integers(1, 12)),  # mid move (ticks), spread (ticks)
    st.tuples(st.just("trade"), st.sampled_from([BUY, SELL]), st.integers(0, 6)),  # aggressor, depth (ticks)
    st.tuples(st.just("tick"), st.integers(0, 1), st.just(0)),  # which bot
    st.tuples(st.just("wait"), st.integers(1, 120), st.just(0)),  # ms: acks and fills come due
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=10, max_size=150))
def test_two_bots_of_one_account_never_cross_each_other(tmp_path, steps):
    # Two bots on one account and one coin: an aggressive one inside the spread, a mid quoter with no
    # spread floor; both replace freely so their quotes keep moving through each other's.
    common = {"coins": ["BTC"], "account": "shared", "min_replace_ms": 0, "refresh_jitter_ms": 0,
              "move_threshold_ticks": 0, "requote_threshold_bps": 0, "max_amends_per_sec": 50,
              "min_spread_guard_enabled": False, "size_notional_usd": 20, **QUIET,
              "paper": {"entry_latency_ms": 15, "response_latency_ms": 15}}
    docs = [dict(common, bot_id="a", reference_price="join_best", join_offset_ticks=-3, min_spread_bps=0),
            dict(common, bot_id="b", reference_price="mid", min_spread_bps=0)]
    cfgs = []
    for d in docs:
        p = tmp_path / f"{d['bot_id']}.json"
        p.write_text(json.dumps(d))
        cfgs.append(load_config_file(p))
    session, bots, _ = build_session(cfgs, {"BTC": INST}, 0, 7)
    assert bots[0].self_match is bots[1].self_match
    (venue,) = session.venue_list
    orig = venue.submit
    checked = []

    def submit(a, now_ms):
        if isinstance(a, Place):
            other = bots[1] if a.bot_id == "a" else bots[0]
            for o in other.orders.live(a.coin):
                if o.side != a.side:
                    crosses = a.px >= o.px if a.side == BUY else a.px <= o.px
                    assert not crosses, f"{a} crosses {other.bot_id}'s {o.side:+d} order at {o.px}"
            checked.append(a)
        orig(a, now_ms)

    venue.submit = submit
    t, mid, spread = 0, 60000, 2

    def snapshot():
        bid = mid - spread // 2
        session.market(BookUpdate("BTC", t, tuple((bid - i, 2000) for i in range(8)),
                                  tuple((bid + spread + i, 2000) for i in range(8)), snapshot=True), t)

    snapshot()
    for kind, x, y in steps:
        t += 10
        if kind == "book":
            mid, spread = mid + x, y
            snapshot()
        elif kind == "trade":
            book = session.books["BTC"]
            px = (book.best_ask + y) if x == BUY else (book.best_bid - y)
            session.market(TradePrint("BTC", t, px, 5000, x), t)
        elif kind == "tick":
            session.tick(bots[x], "BTC", t)
        else:
            t += x
        session.pump(t)
    for b in bots:
        assert b.status == "running"
