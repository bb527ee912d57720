"""End to end: every stress scenario trips the limit it is meant to trip (DESIGN section 7).

Each scenario is one `python -m mm_bot.run --simulate --config-dir tests/fixtures/configs/<scenario>
--scenario <scenario>` subprocess on the real-time synthetic market. The scenarios start 20 s into
the run, so the runs are started all at once (module fixture) and the tests only query the
finished SQLite files: the whole module takes about as long as one run.

What each run must show (docs/RISK.md lists the rules and the scenarios):
- md_gap, spread_blowout, error_burst: the kill switch trips inside the scenario window, writes a
  `kill` system event with its figures, cancels every live order at the trip, places no quote
  after it, and (flatten_on_kill) closes the position once the market allows it.
- flash_crash: the daily loss limit stops one bot and flattens it (loss bounded by the limit plus
  one loop's move plus the flatten's slippage bound), bailouts cut another bot's position, the
  portfolio pause cancels a third bot's quotes and resumes after the cooldown.
- vol_spike: nothing kills; the pre-trade VaR limit holds the adding side.
- one_sided_flow: the per-coin cap binds and holds.
- every run: per-coin caps hold on every fill and PnL sample, no order is left open, exit 0,
  positions reconcile with fills.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mm_bot.sim.synthetic import FLASH_CRASH_DROP, FLASH_CRASH_DROP_MS, SCENARIO_DURATION_MS
from tests.e2e.conftest import REPO, assert_positions_reconcile, query

CONFIGS = REPO / "tests" / "fixtures" / "configs"
DURATION_S = 40
SCENARIO_START_MS = 20_000
ERROR_BURST_MS = 15_000  # mm_bot.run.ERROR_BURST_MS
SCENARIOS = ("md_gap", "spread_blowout", "error_burst", "vol_spike", "flash_crash", "one_sided_flow")
LIVE = ("pending", "open", "partially_filled")
# How much earlier than the runner's start event the market clock may start (session building).
EARLY_MS = 1500
BTC_LOT = 0.00001
TAKER_FEE_BPS = 4.5  # paper default


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Start every scenario run at once, wait for all; scenario -> its SQLite file."""
    out = tmp_path_factory.mktemp("scenarios")
    procs = {}
    for s in SCENARIOS:
        db = out / f"{s}.db"
        procs[s] = (db, subprocess.Popen(
            [sys.executable, "-m", "mm_bot.run", "--simulate", "--config-dir", str(CONFIGS / s), "--db", str(db),
             "--duration", str(DURATION_S), "--scenario", s, "--seed", "1", "--log-level", "WARNING"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    t0 = time.time()
    failed = []
    for s, (_db, p) in procs.items():
        try:
            _, err = p.communicate(timeout=max(5.0, DURATION_S + 40 - (time.time() - t0)))
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        if p.returncode != 0:
            failed.append(f"{s}: exit {p.returncode}\n{err[-2000:]}")
    assert not failed, "\n".join(failed)
    return {s: db for s, (db, _) in procs.items()}


# ---------------------------------------------------------------- helpers


def cfg(scenario: str, bot: str) -> dict:
    return json.loads((CONFIGS / scenario / f"{bot}.json").read_text())


def t0(db: Path) -> int:
    """Start of the run: the runner's start event. The market's clock (the origin of the scenario
    windows) starts a little earlier, while the session is built: see EARLY_MS."""
    return query(db, "SELECT MIN(ts_ms) FROM system_events WHERE kind='start'")[0][0]


def events(db: Path, bot: str, kind: str) -> list[tuple[int, str, dict]]:
    rows = query(db, "SELECT ts_ms, message, details_json FROM system_events WHERE bot_id=? AND kind=? "
                     "ORDER BY ts_ms, id", (bot, kind))
    return [(ts, msg, json.loads(d)) for ts, msg, d in rows]


def live_quotes_at(db: Path, bot: str, t: int) -> list[str]:
    """Quotes (ALO orders) the bot knew as live and not yet being cancelled just before time t."""
    rows = query(db, """
        SELECT o.cloid FROM orders o
        WHERE o.bot_id=? AND o.tif='alo' AND o.ts_ms < ?
          AND NOT EXISTS (SELECT 1 FROM order_events e WHERE e.cloid=o.cloid
                          AND e.event IN ('filled','cancelled','rejected') AND e.ts_ms < ?)
          AND NOT EXISTS (SELECT 1 FROM order_events e WHERE e.cloid=o.cloid
                          AND e.event='cancel_requested' AND e.ts_ms < ?)""", (bot, t, t, t))
    return [r[0] for r in rows]


def assert_cancels_everything(db: Path, bot: str, t: int, why: str) -> int:
    """Every quote live at t gets a cancel request at t whose reason names `why`; returns the count."""
    live = live_quotes_at(db, bot, t)
    for cloid in live:
        rows = query(db, "SELECT ts_ms, detail FROM order_events WHERE cloid=? AND event='cancel_requested'",
                     (cloid,))
        assert rows, f"{bot}: order {cloid} live at {t} was never cancelled"
        ts, detail = rows[0]
        assert ts == t and why in detail, f"{bot}: order {cloid} cancelled at {ts} ({detail}), expected {t} ({why})"
    return len(live)


def quotes_placed_between(db: Path, bot: str, start: int, end: int) -> int:
    return query(db, "SELECT COUNT(*) FROM orders WHERE bot_id=? AND tif='alo' AND ts_ms > ? AND ts_ms < ?",
                 (bot, start, end))[0][0]


def position_lots(db: Path, bot: str) -> int:
    return query(db, "SELECT COALESCE(SUM(CASE side WHEN 'buy' THEN size_lots ELSE -size_lots END), 0) "
                     "FROM fills WHERE bot_id=?", (bot,))[0][0]


def assert_within_cap(db: Path, bot: str, c: dict) -> float:
    """|position| never exceeds max_per_coin_notional by more than one order's size, valued at the mid
    of the time: on every fill (running sum of fills, mid at fill) and every pnl_tracking sample.
    Returns the largest position notional seen."""
    bound = c["max_per_coin_notional"] + c["size_notional_usd"]
    worst = 0.0
    lots = 0
    for ts, side, sz, mid in query(db, "SELECT ts_ms, side, size_lots, mid_at_fill FROM fills WHERE bot_id=? "
                                       "ORDER BY ts_ms, id", (bot,)):
        lots += sz if side == "buy" else -sz
        usd = abs(lots) * BTC_LOT * mid
        worst = max(worst, usd)
        assert usd <= bound, f"{bot}: position {lots} lots = {usd:.2f} USD at {ts} > cap + one order {bound}"
    pnl = query(db, "SELECT ts_ms, position, mid FROM pnl_tracking WHERE bot_id=?", (bot,))
    assert pnl, f"{bot}: no pnl_tracking rows"
    for ts, pos, mid in pnl:
        usd = abs(pos) * mid
        worst = max(worst, usd)
        assert usd <= bound, f"{bot}: pnl sample at {ts}: {usd:.2f} USD > {bound}"
    return worst


def assert_clean_end(db: Path) -> None:
    stop = query(db, "SELECT message FROM system_events WHERE kind='stop' AND bot_id IS NULL")
    assert stop and "open paper orders: 0" in stop[-1][0], stop
    assert query(db, f"SELECT COUNT(*) FROM orders WHERE status IN {LIVE}") == [(0,)]
    assert_positions_reconcile(db)


def assert_kill(db: Path, scenario: str, bot: str, switch: str) -> tuple[int, dict]:
    """The kill row: one, of `switch`, inside the scenario window; every quote cancelled at the trip and
    none placed after it. Returns (trip time, figures)."""
    kills = events(db, bot, "kill")
    assert len(kills) == 1, kills
    ts, msg, d = kills[0]
    assert d["switch"] == switch and f"kill switch {switch}" in msg
    start = t0(db) + SCENARIO_START_MS - EARLY_MS
    length = ERROR_BURST_MS if scenario == "error_burst" else SCENARIO_DURATION_MS[scenario]
    window_end = t0(db) + SCENARIO_START_MS + length
    assert start <= ts < window_end, (ts - start, msg)
    assert query(db, "SELECT severity FROM system_events WHERE bot_id=? AND kind='kill'", (bot,)) == [("critical",)]
    assert_cancels_everything(db, bot, ts, f"kill switch {switch}")
    assert quotes_placed_between(db, bot, ts, 2**62) == 0, "a quote was placed after the kill"
    assert query(db, "SELECT status FROM bots WHERE bot_id=?", (bot,)) == [("killed",)]
    return ts, d["figures"]


def assert_flattened_after(db: Path, bot: str, trip: int, not_before: int) -> None:
    """flatten_on_kill: the position at the trip is closed, by reduce-only IOCs sent no sooner than
    `not_before` (when the market allowed it), and the bot ends flat."""
    held = query(db, "SELECT COALESCE(SUM(CASE side WHEN 'buy' THEN size_lots ELSE -size_lots END), 0) "
                     "FROM fills WHERE bot_id=? AND ts_ms <= ?", (bot, trip))[0][0]
    assert held != 0, f"{bot}: no position at the trip; the config is meant to hold one"
    flat = [e for e in events(db, bot, "flatten") if e[1].startswith("flatten:")]
    assert flat, f"{bot}: no flatten sent"
    assert all(ts >= not_before for ts, _, _ in flat), (flat, not_before)
    iocs = query(db, "SELECT side, status FROM orders WHERE bot_id=? AND tif='ioc'", (bot,))
    assert iocs and all(side == ("sell" if held > 0 else "buy") for side, _ in iocs)
    assert position_lots(db, bot) == 0, f"{bot}: still holds {position_lots(db, bot)} lots"


# ---------------------------------------------------------------- kill switches


def test_md_gap_trips_the_market_data_kill_switch_and_flattens_when_data_returns(runs):
    db = runs["md_gap"]
    c = cfg("md_gap", "md-gap-kill")
    trip, figs = assert_kill(db, "md_gap", "md-gap-kill", "md_gap")
    limit_ms = c["md_gap_kill_sec"] * 1000
    assert figs["md_gap_kill_ms"] == limit_ms and limit_ms <= figs["gap_ms"] < limit_ms + 1000
    # The gap is counted from the last book update, not from when the book went stale (5 s later).
    assert trip - (t0(db) + SCENARIO_START_MS) < limit_ms + 1000
    # At the trip the book is stale: the flatten waits, and goes once the feed is back.
    skipped = [e for e in events(db, "md-gap-kill", "flatten") if "skipped" in e[1]]
    assert skipped and skipped[0][0] == trip and "book unusable" in skipped[0][1]
    back = t0(db) + SCENARIO_START_MS + SCENARIO_DURATION_MS["md_gap"] - EARLY_MS
    assert_flattened_after(db, "md-gap-kill", trip, back)
    assert_within_cap(db, "md-gap-kill", c)
    assert_clean_end(db)


def test_spread_blowout_trips_the_spread_kill_switch_and_flattens_after_it(runs):
    db = runs["spread_blowout"]
    c = cfg("spread_blowout", "spread-kill")
    trip, figs = assert_kill(db, "spread_blowout", "spread-kill", "spread_blowout")
    assert 120 <= figs["spread_bps"] <= 200 + 5 and figs["max_spread_kill_bps"] == c["max_spread_kill_bps"]
    assert figs["wide_ms"] >= figs["spread_sustain_ms"] == 1000
    # The blown-out spread is wider than flatten_max_spread_bps (default 50): the flatten waits for
    # the spread to come back, then closes the position.
    skipped = [e for e in events(db, "spread-kill", "flatten") if "skipped" in e[1]]
    assert skipped and skipped[0][0] == trip and "spread" in skipped[0][1]
    end = t0(db) + SCENARIO_START_MS + SCENARIO_DURATION_MS["spread_blowout"]
    assert_flattened_after(db, "spread-kill", trip, end - EARLY_MS)
    assert_within_cap(db, "spread-kill", c)
    assert_clean_end(db)


def test_error_burst_trips_the_error_rate_kill_switch(runs):
    db = runs["error_burst"]
    c = cfg("error_burst", "error-kill")
    trip, figs = assert_kill(db, "error_burst", "error-kill", "error_rate")
    assert figs["errors"] >= c["error_kill_count"] == figs["error_kill_count"]
    assert figs["error_kill_window_ms"] == c["error_kill_window_sec"] * 1000
    start = t0(db) + SCENARIO_START_MS - EARLY_MS
    rejects = query(db, "SELECT ts_ms FROM system_events WHERE bot_id='error-kill' AND kind='reject' "
                        "AND message LIKE '%error_burst%' AND ts_ms <= ?", (trip,))
    assert len(rejects) >= c["error_kill_count"] and all(ts >= start for (ts,) in rejects)
    # The venue rejects the flatten too until the burst ends; the bot retries until it is flat.
    assert_flattened_after(db, "error-kill", trip, trip)
    assert_within_cap(db, "error-kill", c)
    assert_clean_end(db)


# ---------------------------------------------------------------- market stress


def test_flash_crash_daily_loss_limit_stops_and_flattens_within_the_slippage_bound(runs):
    db = runs["flash_crash"]
    bot = "crash-loss"
    c = cfg("flash_crash", bot)
    limit = c["daily_loss_limit_usd"]
    stops = events(db, bot, "loss_limit")
    assert len(stops) == 1, "the crash must hit the daily loss limit"
    trip, msg, figs = stops[0]
    assert "daily loss limit" in msg and -figs["day_pnl_usd"] >= limit
    assert trip >= t0(db) + SCENARIO_START_MS - EARLY_MS
    # The guard runs every loop: at the trip the loss is past the limit by at most one loop's move of
    # the crash (drift 8 % in 5 s, x2 for noise) on a position within cap + one order.
    exposure = c["max_per_coin_notional"] + c["size_notional_usd"]
    loop_move = exposure * FLASH_CRASH_DROP * c["loop_ms"] / FLASH_CRASH_DROP_MS * 2
    assert -figs["day_pnl_usd"] <= limit + loop_move
    assert_cancels_everything(db, bot, trip, "loss limit")
    assert quotes_placed_between(db, bot, trip, 2**62) == 0
    # flatten_on_stop: an IOC at most flatten_max_slippage_bps through the mid, plus the taker fee.
    flat = [e for e in events(db, bot, "flatten") if e[1].startswith("flatten:")]
    assert flat and flat[0][0] == trip
    held = flat[0][2]["position_lots"]
    mid = query(db, "SELECT mid_at_fill FROM fills WHERE bot_id=? AND maker=0 ORDER BY ts_ms LIMIT 1", (bot,))[0][0]
    slip = abs(held) * BTC_LOT * mid * (c.get("flatten_max_slippage_bps", 25.0) + TAKER_FEE_BPS) / 1e4
    assert position_lots(db, bot) == 0
    final = query(db, "SELECT total_usd FROM pnl_tracking WHERE bot_id=? ORDER BY ts_ms DESC, id DESC LIMIT 1",
                  (bot,))[0][0]
    # A little room for the market's move in the 2 x 50 ms the IOC takes to arrive.
    assert -final <= -figs["day_pnl_usd"] + slip * 1.25, (final, figs["day_pnl_usd"], slip)
    # And on every PnL sample of the run: never past limit + one loop's move + the flatten's bound.
    worst_slip = exposure * (c.get("flatten_max_slippage_bps", 25.0) + TAKER_FEE_BPS) / 1e4
    for ts, total in query(db, "SELECT ts_ms, total_usd FROM pnl_tracking WHERE bot_id=?", (bot,)):
        assert -total <= limit + loop_move + worst_slip, (ts, total)
    assert_within_cap(db, bot, c)


def test_flash_crash_bailouts_cut_the_losing_position(runs):
    db = runs["flash_crash"]
    bot = "crash-bailout"
    c = cfg("flash_crash", bot)
    bails = events(db, bot, "bailout")
    assert bails, "the crash must trigger a bailout"
    start = t0(db) + SCENARIO_START_MS - EARLY_MS
    for _ts, msg, d in bails:
        assert "bailout_full" in msg or "bailout_partial" in msg, msg
        # Reduce-only, on the side that closes the position, never more than the position.
        assert d["position_lots"] != 0
        size = float(msg.split(" ")[2]) / BTC_LOT
        side = msg.split(" ")[1]
        assert side == ("sell" if d["position_lots"] > 0 else "buy"), msg
        assert round(size) <= abs(d["position_lots"]), msg
        if "bailout_partial" in msg:
            frac = c.get("bailout_partial_reduce_fraction", 0.5)
            assert round(size) == max(1, int(abs(d["position_lots"]) * frac + 1e-9)), msg
    # In the fall (the first 5 s, sellers hitting the bids) a bailout sells the long they filled.
    drop_end = t0(db) + SCENARIO_START_MS + FLASH_CRASH_DROP_MS + 1000
    assert any(start <= ts < drop_end and d["position_lots"] > 0 and " sell " in msg for ts, msg, d in bails), bails
    sells = query(db, "SELECT COUNT(*) FROM orders WHERE bot_id=? AND tif='ioc' AND side='sell' "
                      "AND ts_ms BETWEEN ? AND ?", (bot, start, drop_end))[0][0]
    assert sells >= 1
    assert_within_cap(db, bot, c)


def test_flash_crash_portfolio_pause_cancels_quotes_and_resumes_after_the_cooldown(runs):
    db = runs["flash_crash"]
    bot = "crash-pause"
    c = cfg("flash_crash", bot)
    pauses = events(db, bot, "pause")
    resumes = events(db, bot, "resume")
    assert pauses and resumes, "the crash loss must pause the bot and the cooldown resume it"
    cooldown_ms = c["pause_cooldown_sec"] * 1000
    for ts, _msg, d in pauses:
        assert "loss" in d["reason"] and "of starting equity" in d["reason"]
        assert_cancels_everything(db, bot, ts, "pause")
        nxt = [r for r in resumes if r[0] > ts]
        end = nxt[0][0] if nxt else 2**62
        assert quotes_placed_between(db, bot, ts, end) == 0, "quotes placed while paused"
        if nxt:
            assert nxt[0][0] - ts >= cooldown_ms - 300 or "recovered" in nxt[0][2]["reason"], (ts, nxt[0])
    # Quoting comes back after the first resume.
    assert quotes_placed_between(db, bot, resumes[0][0] - 1, 2**62) > 0
    assert not events(db, bot, "kill") and not events(db, bot, "loss_limit")
    assert_within_cap(db, bot, c)
    assert_clean_end(db)


def test_vol_spike_var_limit_holds_the_adding_side_and_nothing_kills(runs):
    db = runs["vol_spike"]
    bot = "vol-var"
    c = cfg("vol_spike", bot)
    assert not events(db, bot, "kill") and not events(db, bot, "loss_limit")
    start = t0(db) + SCENARIO_START_MS - EARLY_MS
    held = [e for e in events(db, bot, "risk") if "var_" in e[1]]
    assert held, "the spike must push the VaR past its limit"
    for _ts, _msg, d in held:
        assert d["var_usd"] > c["max_portfolio_var_usd"] == d["max_portfolio_var_usd"]
    assert any(ts >= start for ts, _, _ in held)
    assert_within_cap(db, bot, c)
    assert_clean_end(db)


def test_one_sided_flow_per_coin_cap_binds_and_holds(runs):
    db = runs["one_sided_flow"]
    bot = "flow-cap"
    c = cfg("one_sided_flow", bot)
    worst = assert_within_cap(db, bot, c)
    # The sellers fill the bid until the cap binds (within one order of it)...
    assert worst >= c["max_per_coin_notional"] - c["size_notional_usd"], worst
    # ...and then the adding side is held, not quoted.
    held = [e for e in events(db, bot, "risk") if "side held" in e[1]]
    assert held
    assert not events(db, bot, "kill")
    assert_clean_end(db)
