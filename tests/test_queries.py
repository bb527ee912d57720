"""mm_bot.store.queries on a realistic database, each value recomputed here from the raw rows.

`build_db` (also used by tests/test_scripts.py) simulates a few bots quoting a few coins for two
hours across a UTC midnight: book snapshots every 10 s, requotes (place + cancel) every 30 s,
maker and taker fills on both sides, a position/PnL tracker, per-minute performance metrics,
rate-limit usage and system events (start, stop, errors, autotune and optionally a kill), all
written through mm_bot.store.writer.write_batch with the record dataclasses.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sqlite3
from pathlib import Path

import pytest

from mm_bot.core.records import (
    BookSnapshotRow,
    BotRow,
    FillRow,
    MetricRow,
    OrderRow,
    PnlRow,
    PositionRow,
    RateLimitRow,
    SystemEventRow,
    TradeRow,
)
from mm_bot.store import queries as q
from mm_bot.store.db import DbError, open_db
from mm_bot.store.writer import write_batch

T0 = 1_763_679_600_000  # 2025-11-20 23:00:00 UTC: the two hours of data cross a UTC midnight
MINUTES = 120
STEP_MS = 10_000
LOT = 0.001
PRICES = {"BTC": 95_000.0, "ETH": 3_100.0, "SOL": 140.0}
SIZES = {"BTC": 0.01, "ETH": 0.2, "SOL": 5.0}
MAKER_FEE, TAKER_FEE = -0.00002, 0.00045
HAS_TI_COLUMNS = "ti_score" in {f.name for f in dataclasses.fields(MetricRow)}


def simulate_coin(bot_id: str, venue: str, coin: str, rng: random.Random, start_ms: int, minutes: int) -> list:
    """Records of one bot quoting one coin; returns them in write order."""
    recs: list = []
    mid = PRICES[coin]
    pos = avg = realized = fees = funding = volume = 0.0
    n_fills = 0
    orders: dict[str, dict] = {}  # cloid -> OrderRow kwargs (final state written at the end)
    live: dict[str, str] = {}  # side -> cloid
    seq = 0
    minute = {"fills": 0, "maker": 0, "notional": 0.0, "maker_notional": 0.0, "place": 0, "cancel": 0}
    for step in range(minutes * 60_000 // STEP_MS):
        t = start_ms + step * STEP_MS
        mid *= 1 + rng.gauss(0, 0.0004)
        spread_bps = rng.uniform(1.0, 4.0)
        half = mid * spread_bps / 2e4
        bid, ask = mid - half, mid + half
        levels = {"bids": [[bid - i * half, 1.0 + i] for i in range(5)],
                  "asks": [[ask + i * half, 1.0 + i] for i in range(5)]}
        bd, ad = sum(x[1] for x in levels["bids"]), sum(x[1] for x in levels["asks"])
        recs.append(BookSnapshotRow(bot_id, coin, bid, ask, mid, spread_bps, bd, ad, (bd - ad) / (bd + ad),
                                    json.dumps(levels), t))
        if step % 3 == 0:  # requote: cancel the resting pair, place a new one
            for side, cloid in list(live.items()):
                orders[cloid].update(status="cancelled", updated_ms=t)
                recs.append(TradeRow(bot_id, coin, "cancel", side, orders[cloid]["price"], orders[cloid]["size"],
                                     cloid, t))
                minute["cancel"] += 1
            live.clear()
            for side, px in (("buy", mid * (1 - 6e-4)), ("sell", mid * (1 + 6e-4))):
                seq += 1
                cloid = f"{bot_id}-{coin}-{seq}"
                size = SIZES[coin]
                orders[cloid] = dict(bot_id=bot_id, coin=coin, cloid=cloid, side=side, price=px, size=size,
                                     size_lots=round(size / LOT), tif="alo", status="open", filled=0.0,
                                     filled_lots=0, venue_oid=str(seq), reason="", ts_ms=t, updated_ms=t)
                live[side] = cloid
                recs.append(TradeRow(bot_id, coin, "place", side, px, size, cloid, t))
                minute["place"] += 1
        if rng.random() < 0.3:  # a fill
            side = rng.choice(["buy", "sell"])
            maker = 1 if (rng.random() < 0.75 and side in live) else 0
            if maker:
                cloid = live.pop(side)
                price, size = orders[cloid]["price"], orders[cloid]["size"]
                orders[cloid].update(status="filled", filled=size, filled_lots=round(size / LOT), updated_ms=t)
            else:
                seq += 1
                cloid = f"{bot_id}-{coin}-ioc{seq}"
                price, size = (ask if side == "buy" else bid), SIZES[coin] / 2
                orders[cloid] = dict(bot_id=bot_id, coin=coin, cloid=cloid, side=side, price=price, size=size,
                                     size_lots=round(size / LOT), tif="ioc", status="filled", filled=size,
                                     filled_lots=round(size / LOT), venue_oid=str(seq), reason="", ts_ms=t,
                                     updated_ms=t)
            notional = price * size
            fee = notional * (MAKER_FEE if maker else TAKER_FEE)
            s = 1 if side == "buy" else -1
            if pos == 0 or (pos > 0) == (s > 0):
                avg = (avg * abs(pos) + price * size) / (abs(pos) + size)
                pos += s * size
            else:
                closing = min(size, abs(pos))
                realized += closing * (price - avg) * (1 if pos > 0 else -1)
                pos += s * size
                if abs(pos) < 1e-12:
                    pos, avg = 0.0, 0.0
                elif (pos > 0) == (s > 0):
                    avg = price
            fees += fee
            volume += notional
            n_fills += 1
            recs.append(FillRow(venue, f"{cloid}-f{step}", bot_id, coin, cloid, side, price, size,
                                round(size / LOT), maker, fee, notional, mid, spread_bps, "", t))
            recs.append(TradeRow(bot_id, coin, "fill", side, price, size, cloid, t))
            minute["fills"] += 1
            minute["maker"] += maker
            minute["notional"] += notional
            minute["maker_notional"] += notional if maker else 0.0
        if (step + 1) % 6 == 0:  # the minute ends: metrics and PnL
            if (step + 1) % 360 == 0:
                funding += -pos * mid * 0.0001
            f = minute["fills"]
            m = MetricRow(bot_id, coin, 60, f, minute["maker"], minute["maker"] / f if f else None,
                          minute["maker_notional"] / minute["notional"] if f else None, minute["place"],
                          minute["cancel"], minute["cancel"] / f if f else None, minute["notional"], t)
            if HAS_TI_COLUMNS:  # schema version 2: per-minute TI columns
                m = dataclasses.replace(m, markout_10s_bps=rng.uniform(-3, 3) if f else None,
                                        two_sided_share=rng.uniform(0.5, 1.0), ti_score=rng.uniform(40, 90))
            recs.append(m)
            if (step + 1) % 30 == 0:  # a rolling 5-minute row, overlapping the minutes: never summed
                recs.append(MetricRow(bot_id, coin, 300, 999, 999, 1.0, 1.0, 999, 999, 1.0, 1e9, t))
            unreal = pos * (mid - avg)
            recs.append(PnlRow(bot_id, coin, pos, round(pos / LOT), avg, mid, realized, unreal, fees, funding,
                               realized + unreal - fees + funding, volume, t))
            minute = dict.fromkeys(minute, 0)
    recs += [OrderRow(**o) for o in orders.values()]
    recs.append(PositionRow(bot_id, coin, pos, round(pos / LOT), avg, realized, fees, n_fills,
                            start_ms + minutes * 60_000))
    return recs


def build_db(path: Path, kill: bool = True, error_burst: bool = False, seed: int = 7) -> dict:
    """Write the test database; returns facts the tests use (end_ms, the bots)."""
    rng = random.Random(seed)
    end = T0 + MINUTES * 60_000 - STEP_MS  # the last snapshot
    bots = [("alpha", "hyperliquid", ["BTC", "ETH"], "running"), ("beta", "woofi_pro", ["SOL"], "stopped")]
    if kill:
        bots.append(("gamma", "hyperliquid", ["BTC"], "running"))
    recs: list = []
    for bot_id, venue, coins, status in bots:
        cfg = json.dumps({"bot_id": bot_id, "venue": venue, "coins": coins})
        recs.append(BotRow(bot_id, venue, "paper", cfg, "running", T0))
        recs.append(SystemEventRow(bot_id, None, "start", "info", "bot started in paper mode", "{}", T0))
        minutes = MINUTES if bot_id != "beta" else 60
        for coin in coins:
            recs += simulate_coin(bot_id, venue, coin, rng, T0, minutes)
        if status == "stopped":
            stop_ms = T0 + minutes * 60_000
            recs.append(BotRow(bot_id, venue, "paper", cfg, "stopped", stop_ms))
            recs.append(SystemEventRow(bot_id, None, "stop", "info", "bot stopped (duration)",
                                       json.dumps({"reason": "duration"}), stop_ms))
    recs += [
        SystemEventRow("alpha", "BTC", "autotune", "info", "min_spread_bps 4 -> 5",
                       json.dumps({"param": "min_spread_bps", "old": 4, "new": 5}), T0 + 30 * 60_000),
        SystemEventRow("alpha", "ETH", "error", "error", "order rejected by venue", "{}", T0 + 50 * 60_000),
        SystemEventRow("alpha", "ETH", "reject", "warning", "post-only would cross", "{}", T0 + 51 * 60_000),
        SystemEventRow(None, None, "feed", "error", "websocket disconnected", "{}", T0 + 70 * 60_000),
        SystemEventRow("beta", "SOL", "error", "critical", "position mismatch", "{}", T0 + 40 * 60_000),
    ]
    if kill:
        recs.append(SystemEventRow("gamma", "BTC", "kill", "critical", "kill switch: drawdown 2.1% > 2.0%",
                                   json.dumps({"drawdown_pct": 2.1}), T0 + 100 * 60_000))
    if error_burst:
        recs += [SystemEventRow("alpha", "BTC", "error", "error", f"cancel failed #{i}", "{}", end - i * 20_000)
                 for i in range(5)]
    for i in range(MINUTES):
        t = T0 + i * 60_000 + 59_000
        for venue, cap in (("hyperliquid", 1200.0), ("woofi_pro", 600.0)):
            used = float(rng.randint(10, 400))
            recs.append(RateLimitRow(venue, "main", "rest", used, cap, used / cap * 100, int(used / cap > 0.8), t))
    conn = open_db(path)
    write_batch(conn, recs)
    conn.close()
    return {"end_ms": end, "bots": {b[0]: b for b in bots}}


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> tuple[Path, dict]:
    p = tmp_path_factory.mktemp("q") / "mm.db"
    return p, build_db(p)


def raw(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    c = sqlite3.connect(path)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def fills_of(path, bot, coin, lo, hi):
    cols = ("side", "price", "size", "maker", "fee_usd", "notional_usd", "mid_at_fill", "spread_bps_at_fill", "ts_ms")
    return [dict(zip(cols, r, strict=True)) for r in
            raw(path, f"SELECT {', '.join(cols)} FROM fills WHERE bot_id=? AND coin=?", (bot, coin))
            if lo <= r[-1] <= hi]


def last_pnl(path, bot, coin, at):
    rows = [r for r in raw(path, "SELECT ts_ms, id, total_usd, realized_usd, unrealized_usd, fees_usd, funding_usd, "
                                 "position, mid FROM pnl_tracking WHERE bot_id=? AND coin=?", (bot, coin)) if r[0] <= at]
    return max(rows) if rows else None


def test_default_now_is_the_latest_timestamp(db):
    path, facts = db
    latest = max(r[0] for t in ("fills", "orderbook_snapshots", "pnl_tracking", "system_events", "rate_limit_usage",
                                "trades", "performance_metrics") for r in raw(path, f"SELECT MAX(ts_ms) FROM {t}"))
    assert q.latest_ts_ms(path) == latest
    a = q.get_coin_pnl_summary(path, "alpha", "BTC", hours=1)
    assert a["now_ms"] == latest and a["since_ms"] == latest - 3_600_000
    assert q.get_coin_pnl_summary(path, "alpha", "BTC", hours=None)["since_ms"] == 0


@pytest.mark.parametrize("bot,coin", [("alpha", "BTC"), ("alpha", "ETH"), ("beta", "SOL")])
def test_coin_pnl_summary(db, bot, coin):
    path, facts = db
    now = facts["end_ms"] - 5 * 60_000
    lo = now - 3_600_000
    s = q.get_coin_pnl_summary(path, bot, coin, hours=1, now_ms=now)
    fl = fills_of(path, bot, coin, lo, now)
    assert fl, "the fixture must have fills in the window"
    assert s["fills"] == len(fl)
    assert s["maker_fills"] == sum(f["maker"] for f in fl)
    assert s["buy_fills"] + s["sell_fills"] == len(fl) and s["buy_fills"] > 0 and s["sell_fills"] > 0
    assert s["volume_usd"] == pytest.approx(sum(f["notional_usd"] for f in fl))
    assert s["fill_fees_usd"] == pytest.approx(sum(f["fee_usd"] for f in fl))
    last = last_pnl(path, bot, coin, now)
    base = last_pnl(path, bot, coin, lo - 1)
    assert s["total_usd"] == pytest.approx(last[2]) and s["realized_usd"] == pytest.approx(last[3])
    assert s["unrealized_usd"] == pytest.approx(last[4]) and s["fees_usd"] == pytest.approx(last[5])
    assert s["funding_usd"] == pytest.approx(last[6]) and s["position"] == pytest.approx(last[7])
    assert s["notional_usd"] == pytest.approx(last[7] * last[8])
    assert s["total_change_usd"] == pytest.approx(last[2] - (base[2] if base else 0.0))
    # total = realized + unrealized - fees + funding, as the schema says
    assert s["total_usd"] == pytest.approx(s["realized_usd"] + s["unrealized_usd"] - s["fees_usd"] + s["funding_usd"])


def test_coin_pnl_summary_accepts_a_connection_and_unknown_coin(db):
    path, _ = db
    conn = open_db(path, readonly=True)
    try:
        a = q.get_coin_pnl_summary(conn, "alpha", "ETH", hours=2)
        assert a == q.get_coin_pnl_summary(path, "alpha", "ETH", hours=2)
        conn.execute("SELECT 1")  # still open: helpers never close a connection they were given
        none = q.get_coin_pnl_summary(conn, "alpha", "DOGE")
        assert none["fills"] == 0 and none["total_usd"] == 0.0 and none["pnl_ts_ms"] is None
    finally:
        conn.close()


def test_bot_performance_summary(db):
    path, facts = db
    now = facts["end_ms"]
    s = q.get_bot_performance_summary(path, "alpha", hours=1.5, now_ms=now)
    lo = now - 90 * 60_000
    assert [r["coin"] for r in s["coins"]] == ["BTC", "ETH"]
    trades = raw(path, "SELECT coin, kind, ts_ms FROM trades WHERE bot_id='alpha'")
    for r in s["coins"]:
        fl = fills_of(path, "alpha", r["coin"], lo, now)
        cancels = sum(1 for c, k, t in trades if c == r["coin"] and k == "cancel" and lo <= t <= now)
        places = sum(1 for c, k, t in trades if c == r["coin"] and k == "place" and lo <= t <= now)
        assert r["fills"] == len(fl)
        assert r["maker_ratio"] == pytest.approx(sum(f["maker"] for f in fl) / len(fl))
        assert r["maker_ratio_notional"] == pytest.approx(
            sum(f["notional_usd"] for f in fl if f["maker"]) / sum(f["notional_usd"] for f in fl))
        assert (r["placements"], r["cancels"]) == (places, cancels)
        assert r["cancels_per_fill"] == pytest.approx(cancels / len(fl))
        assert r["fees_usd"] == pytest.approx(sum(f["fee_usd"] for f in fl))
        assert r["pnl_usd"] == pytest.approx(last_pnl(path, "alpha", r["coin"], now)[2])
    t = s["totals"]
    assert t["fills"] == sum(r["fills"] for r in s["coins"])
    assert t["volume_usd"] == pytest.approx(sum(r["volume_usd"] for r in s["coins"]))
    assert t["pnl_usd"] == pytest.approx(sum(r["pnl_usd"] for r in s["coins"]))
    assert t["maker_ratio"] == pytest.approx(sum(r["maker_fills"] for r in s["coins"]) / t["fills"])
    assert t["cancels_per_fill"] == pytest.approx(t["cancels"] / t["fills"])


def test_recent_system_events(db):
    path, facts = db
    now = facts["end_ms"]
    ev = q.get_recent_system_events(path, "alpha", hours=None, now_ms=now)
    expect = raw(path, "SELECT id FROM system_events WHERE bot_id='alpha' ORDER BY ts_ms DESC, id DESC")
    assert [e["id"] for e in ev] == [r[0] for r in expect]
    errs = q.get_recent_system_events(path, "alpha", hours=None, severity="error", now_ms=now)
    assert [e["message"] for e in errs] == ["order rejected by venue"]
    both = q.get_recent_system_events(path, None, hours=None, severity=["error", "critical"], now_ms=now)
    assert {e["message"] for e in both} == {"order rejected by venue", "websocket disconnected",
                                            "position mismatch", "kill switch: drawdown 2.1% > 2.0%"}
    with_proc = q.get_recent_system_events(path, "alpha", hours=None, severity="error", now_ms=now,
                                           include_process=True)
    assert {e["bot_id"] for e in with_proc} == {"alpha", None}
    # the window [T0+30min, T0+60min], bounds inclusive, newest first
    recent = q.get_recent_system_events(path, "alpha", hours=0.5, now_ms=T0 + 60 * 60_000)
    assert [e["kind"] for e in recent] == ["reject", "error", "autotune"]
    assert [e["kind"] for e in q.get_recent_system_events(path, "alpha", hours=0.5, now_ms=T0 + 60 * 60_000,
                                                          limit=1)] == ["reject"]
    kills = q.get_recent_system_events(path, "gamma", hours=None, kinds=["kill"], now_ms=now)
    assert len(kills) == 1 and kills[0]["severity"] == "critical"


@pytest.mark.parametrize("bot,coin", [("alpha", "BTC"), ("beta", "SOL")])
def test_ti_summary(db, bot, coin):
    path, facts = db
    now = facts["end_ms"]
    t = q.get_ti_summary(path, bot, coin, hours=None, now_ms=now)
    fl = fills_of(path, bot, coin, 0, now)

    def slip(f):
        return (1 if f["side"] == "buy" else -1) * (f["price"] - f["mid_at_fill"]) / f["mid_at_fill"] * 1e4

    assert t["fills"] == len(fl)
    assert t["maker_ratio"] == pytest.approx(sum(f["maker"] for f in fl) / len(fl))
    assert t["maker_ratio_notional"] == pytest.approx(
        sum(f["notional_usd"] for f in fl if f["maker"]) / sum(f["notional_usd"] for f in fl))
    assert t["slippage_bps"] == pytest.approx(sum(map(slip, fl)) / len(fl))
    assert t["slippage_bps_notional"] == pytest.approx(
        sum(slip(f) * f["notional_usd"] for f in fl) / sum(f["notional_usd"] for f in fl))
    mk = [slip(f) for f in fl if f["maker"]]
    tk = [slip(f) for f in fl if not f["maker"]]
    assert t["maker_slippage_bps"] == pytest.approx(sum(mk) / len(mk))
    assert t["taker_slippage_bps"] == pytest.approx(sum(tk) / len(tk))
    assert t["taker_slippage_bps"] > 0  # takers pay the half-spread
    assert t["spread_bps_at_fill"] == pytest.approx(sum(f["spread_bps_at_fill"] for f in fl) / len(fl))
    assert t["spread_bps_at_fill_max"] == pytest.approx(max(f["spread_bps_at_fill"] for f in fl))
    m = raw(path, "SELECT SUM(fills), SUM(maker_fills), SUM(cancels), SUM(placements), COUNT(*) "
                  "FROM performance_metrics WHERE bot_id=? AND coin=? AND window_s=60", (bot, coin))[0]
    assert t["cancels_source"] == "performance_metrics"
    assert t["metric_windows"] == m[4] and t["metric_fills"] == m[0] == len(fl)
    assert t["cancels_per_fill"] == pytest.approx(m[2] / m[0])
    assert t["metric_maker_ratio"] == pytest.approx(m[1] / m[0])
    assert t["placements"] == m[3]
    if HAS_TI_COLUMNS:
        rows = raw(path, "SELECT markout_10s_bps, volume_usd, two_sided_share, ti_score, ts_ms, window_s "
                         "FROM performance_metrics WHERE bot_id=? AND coin=?", (bot, coin))
        mins = [r for r in rows if r[5] == 60]
        mk = [r for r in mins if r[0] is not None]
        assert t["markout_10s_bps"] == pytest.approx(sum(r[0] * r[1] for r in mk) / sum(r[1] for r in mk))
        assert t["two_sided_share"] == pytest.approx(sum(r[2] for r in mins) / len(mins))
        newest = max((r for r in rows if r[3] is not None), key=lambda r: (r[4], r[5]))
        assert (t["ti_score"], t["ti_score_window_s"]) == (pytest.approx(newest[3]), newest[5])


def test_ti_summary_falls_back_to_trades_without_metrics(tmp_path):
    p = tmp_path / "nometrics.db"
    conn = open_db(p)
    write_batch(conn, [r for r in simulate_coin("x", "hyperliquid", "ETH", random.Random(1), T0, 10)
                       if not isinstance(r, MetricRow)] + [BotRow("x", "hyperliquid", "paper", "{}", "running", T0)])
    conn.close()
    t = q.get_ti_summary(p, "x", "ETH", hours=None)
    cancels = raw(p, "SELECT COUNT(*) FROM trades WHERE kind='cancel'")[0][0]
    n = raw(p, "SELECT COUNT(*) FROM fills")[0][0]
    assert t["cancels_source"] == "trades" and t["cancels"] == cancels
    assert t["cancels_per_fill"] == pytest.approx(cancels / n)


def test_latest_rate_limit_usage_and_open_orders(db):
    path, facts = db
    rl = q.latest_rate_limit_usage(path, now_ms=T0 + 30 * 60_000)
    assert [(r["venue"], r["bucket"]) for r in rl] == [("hyperliquid", "rest"), ("woofi_pro", "rest")]
    for r in rl:
        assert r["ts_ms"] == T0 + 29 * 60_000 + 59_000
    oo = q.open_orders(path, "alpha", "BTC")
    expect = raw(path, "SELECT cloid FROM orders WHERE bot_id='alpha' AND coin='BTC' AND status IN "
                       "('pending','open','partially_filled')")
    assert sorted(o["cloid"] for o in oo) == sorted(r[0] for r in expect) and 1 <= len(oo) <= 2


def test_open_checked_rejects_non_mm_bot_files(tmp_path):
    with pytest.raises(DbError, match="no such"):
        q.open_checked(tmp_path / "missing.db")
    junk = tmp_path / "junk.db"
    junk.write_text("this is not sqlite " * 100)
    with pytest.raises(DbError, match="not an SQLite"):
        q.open_checked(junk)
    other = tmp_path / "other.db"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE bots (x)")
    c.commit()
    c.close()
    with pytest.raises(DbError, match="missing tables"):
        q.open_checked(other)
