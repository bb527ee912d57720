"""Tests for mm_bot.core.killswitch: each switch, latching, reset, two-sided uptime per hour."""

from __future__ import annotations

import json

import pytest

from mm_bot.config import load_config_file
from mm_bot.core.killswitch import HOUR_MS, KillParams, KillSwitch, KillSwitches, Trip, UptimeTracker

T0 = 1_700_000_000_000
P = KillParams(max_spread_kill_bps=200, md_gap_kill_ms=10_000, error_kill_count=3, error_kill_window_ms=60_000)


def test_spread_blowout_must_be_sustained():
    ks = KillSwitches(P, T0)
    ks.observe_book(T0, 250.0, True)
    assert ks.check(T0 + 999) is None
    ks.observe_book(T0 + 500, 150.0, True)  # back under: the clock restarts
    ks.observe_book(T0 + 600, 300.0, True)
    assert ks.check(T0 + 1_500) is None
    ks.observe_book(T0 + 1_000, 350.0, True)
    ks.observe_book(T0 + 1_200, 10_000.0, False)  # unusable: ignored by this switch
    t = ks.check(T0 + 1_600)
    assert t is not None and t.switch == KillSwitch.SPREAD and t.ts_ms == T0 + 1_600
    assert dict(t.figures) == {"spread_bps": 350.0, "max_spread_kill_bps": 200.0, "wide_ms": 1_000.0,
                               "spread_sustain_ms": 1_000.0}


def test_md_gap():
    ks = KillSwitches(P, T0)
    assert ks.check(T0 + 9_999) is None  # the clock starts at start_ms
    ks.observe_book(T0 + 5_000, 5.0, True)
    ks.observe_book(T0 + 9_000, 5.0, False)
    assert ks.check(T0 + 14_999) is None
    t = ks.check(T0 + 15_000)
    assert t.switch == KillSwitch.MD_GAP and dict(t.figures) == {"gap_ms": 10_000.0, "md_gap_kill_ms": 10_000.0}


def test_error_rate_window():
    ks = KillSwitches(P, T0)
    ks.observe_error(T0)
    ks.observe_error(T0 + 1_000)
    ks.observe_book(T0 + 1_000, 5.0, True)
    assert ks.check(T0 + 1_000) is None
    ks.observe_book(T0 + 60_000, 5.0, True)
    ks.observe_error(T0 + 60_000)  # the error at T0 has left the window (T0, T0 + 60000]
    assert ks.check(T0 + 60_000) is None
    ks.observe_error(T0 + 60_500)
    t = ks.check(T0 + 60_500)
    assert t.switch == KillSwitch.ERROR_RATE
    assert dict(t.figures) == {"errors": 3.0, "error_kill_count": 3.0, "error_kill_window_ms": 60_000.0}


def test_manual_latches_until_reset():
    ks = KillSwitches(P, T0)
    ks.trip_manual("operator says stop")
    ks.trip_manual("second reason is ignored")
    t = ks.check(T0 + 1)
    assert t == Trip(KillSwitch.MANUAL, "manual kill: operator says stop", (), T0 + 1)
    ks.observe_book(T0 + 2, 5.0, True)
    assert ks.check(T0 + 50_000) is t and ks.tripped  # stays tripped, same trip
    ks.reset(T0 + 50_000)
    assert not ks.tripped and ks.check(T0 + 50_001) is None
    assert ks.check(T0 + 60_000).switch == KillSwitch.MD_GAP  # md clock restarted at reset


def test_kill_params_from_config(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"bot_id": "b", "coins": ["BTC"]}))
    cfg = load_config_file(path)
    p = KillParams.from_config(cfg)
    assert p.md_gap_kill_ms == round(cfg.md_gap_kill_sec * 1000)
    assert p.error_kill_window_ms == round(cfg.error_kill_window_sec * 1000)
    assert p.max_spread_kill_bps == cfg.max_spread_kill_bps and p.spread_sustain_ms == 1_000


def test_uptime_across_hour_boundary():
    h = (T0 // HOUR_MS + 1) * HOUR_MS  # an hour start
    up = UptimeTracker()
    up.observe(h - 1_000, True, True)
    up.observe(h + 2_000, True, False)  # both sides rested from h-1s to h+2s
    up.observe(h + 3_000, True, True)  # one side only for 1 s
    rows = up.hour_rows(h + 5_000)  # both again for 2 s up to now
    assert rows == [(h - HOUR_MS, pytest.approx(1.0), pytest.approx(1.0)),
                    (h, pytest.approx(4.0), pytest.approx(5.0))]
    assert up.hour_rows(h + 5_000) == []  # nothing changed
    up.observe(h + HOUR_MS + 500, False, False)  # both held through the end of the hour
    rows = up.hour_rows(h + HOUR_MS + 1_500)
    assert rows == [(h, pytest.approx(3_599.0), pytest.approx(3_600.0)),
                    (h + HOUR_MS, pytest.approx(0.5), pytest.approx(1.5))]


def test_market_data_switches_per_coin():
    ks = KillSwitches(P, T0, coins=("BTC", "ETH"))
    for t in range(0, 12_000, 1_000):
        ks.observe_book(T0 + t, 5.0, True, "BTC")  # BTC fine, ETH silent
    t = ks.check(T0 + 11_000)
    assert (t.switch, t.coin) == (KillSwitch.MD_GAP, "ETH") and "on ETH" in t.reason
    ks = KillSwitches(P, T0, coins=("BTC", "ETH"))
    ks.observe_book(T0, 5.0, True, "BTC")
    ks.observe_book(T0, 400.0, True, "ETH")
    ks.observe_book(T0 + 1_000, 5.0, True, "BTC")
    t = ks.check(T0 + 1_000)
    assert (t.switch, t.coin) == (KillSwitch.SPREAD, "ETH") and dict(t.figures)["spread_bps"] == 400.0
