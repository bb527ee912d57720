"""python -m mm_bot.compare: one table for several configs on the same recorded data.

The data-driven tests replay the first 30 s of the Binance USD-M BTCUSDT file in ../shared (skipped
when it is absent) with every config kept in its own SQLite file (--keep-dbs), and recompute each
whole-run figure here from the raw rows of those files.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from mm_bot.compare import (
    METRIC_KEYS,
    METRICS,
    MidPath,
    fifo_holding,
    load_entries,
    main,
    override_coin,
    phase_offsets,
    two_sided_ms,
)
from mm_bot.config import load_config_file

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BTC_FILE = SHARED / "data" / "binance-usdm" / "btcusdt_20240808.gz"
# A tight quoter (2 bps) so every phase of the 30 s slice has fills and every cell a min..max;
# the shipped example-mm (5 bps) often has none in so short a slice.
CONFIGS = [ROOT / "tests" / "fixtures" / "configs" / "compare" / "tight_mm.json",
           ROOT / "configs" / "baselines" / "naive_refresh.json", ROOT / "configs" / "baselines" / "drift_requote.json"]
LABELS = ["tight-mm", "naive-refresh", "drift-requote"]
PHASES = 2
needs_data = pytest.mark.skipif(not BTC_FILE.exists(), reason=f"recorded data not found: {BTC_FILE} "
                                "(the ../shared checkout is absent)")


def _args(*extra: str) -> list[str]:
    out = ["--replay", str(BTC_FILE), "--coin", "BTCUSDT", "--duration", "30"]
    for c in CONFIGS:
        out += ["--config", str(c)]
    return out + list(extra)


@pytest.fixture(scope="module")
def json_run(tmp_path_factory):
    keep = tmp_path_factory.mktemp("dbs")
    res = CliRunner().invoke(main, _args("--phases", str(PHASES), "--format", "json", "--keep-dbs", str(keep)))
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def table_run():
    res = CliRunner().invoke(main, _args("--phases", str(PHASES)))
    assert res.exit_code == 0, res.output
    return res.stdout


# ---------------------------------------------------------------- the table


@needs_data
def test_table_has_one_row_per_config_and_every_column(table_run):
    lines = table_run.splitlines()
    sep = next(i for i, ln in enumerate(lines) if set(ln.strip()) <= {"-", " "} and ln.strip())
    assert len(lines[sep].split()) == 1 + len(METRICS)  # config + one column per metric
    header = "\n".join(lines[:sep])
    for m in METRICS:
        for part in m.header.split("\n"):
            assert part in header, part
    body = lines[sep + 1:]
    for label in LABELS:
        assert sum(1 for ln in body if ln.strip().startswith(label + " ")) == 1, label
    assert "wall time" in table_run


@needs_data
def test_phases_give_mean_and_min_max(json_run, table_run):
    for c, label in zip(json_run["configs"], LABELS, strict=True):
        assert c["label"] == label
        assert [r["phase_ms"] for r in c["runs"]] == phase_offsets(c["loop_ms"], PHASES)
        assert phase_offsets(c["loop_ms"], PHASES) == [0, c["loop_ms"] // 2]
        assert set(c["summary"]) == set(METRIC_KEYS)
        for key, s in c["summary"].items():
            vals = [r["metrics"][key] for r in c["runs"] if r["metrics"][key] is not None]
            assert s["n"] == len(vals)
            if vals:
                assert s["min"] == pytest.approx(min(vals)) and s["max"] == pytest.approx(max(vals))
                assert s["mean"] == pytest.approx(sum(vals) / len(vals))
    # each row's second line carries min..max
    body = table_run.splitlines()
    for label in LABELS:
        i = next(i for i, ln in enumerate(body) if ln.strip().startswith(label + " "))
        assert body[i + 1].count("..") >= 10, body[i + 1]


# ---------------------------------------------------------------- figures from the raw rows


def _raw_figures(db: str, bot_id: str) -> dict:
    conn = sqlite3.connect(db)
    fills = conn.execute("SELECT side, price, size, maker, fee_usd, notional_usd FROM fills WHERE bot_id=?",
                         (bot_id,)).fetchall()
    n = len(fills)
    maker = sum(1 for f in fills if f[3] == 1)
    cancels = conn.execute("SELECT COUNT(*) FROM order_events WHERE bot_id=? AND event='cancel_requested'",
                           (bot_id,)).fetchone()[0]
    volume = sum(f[1] * f[2] for f in fills)  # linear USDT contract: notional = price x size
    fees = sum(f[4] for f in fills)
    cash = sum((-1 if f[0] == "buy" else 1) * f[1] * f[2] for f in fills)
    position = sum((1 if f[0] == "buy" else -1) * f[2] for f in fills)
    final_mid = conn.execute("SELECT mid FROM pnl_tracking WHERE bot_id=? ORDER BY ts_ms DESC, id DESC LIMIT 1",
                             (bot_id,)).fetchone()[0]
    pnl = cash + position * final_mid - fees
    # rest time, by hand: accepted (first open) -> first filled/cancelled
    ev: dict[str, dict[str, int]] = {}
    for cloid, event, ts in conn.execute("SELECT cloid, event, ts_ms FROM order_events WHERE bot_id=? "
                                         "ORDER BY ts_ms, id", (bot_id,)):
        ev.setdefault(cloid, {}).setdefault(event, ts)
    conn.close()
    rests = sorted(min(e.get("filled", 1 << 62), e.get("cancelled", 1 << 62)) - e["open"]
                   for e in ev.values() if "open" in e and ("filled" in e or "cancelled" in e))
    mid = len(rests) // 2
    median = (rests[mid] if len(rests) % 2 else (rests[mid - 1] + rests[mid]) / 2) if rests else None
    return {"fills": n, "maker_ratio": maker / n if n else None, "cancels_per_fill": cancels / n if n else None,
            "volume_usd": volume, "fees_usd": fees, "pnl_usd": pnl,
            "pnl_per_1k_usd": pnl / volume * 1000 if volume else None, "rest_ms_median": median,
            "maker_fee_check": sum(f[5] * 1.5e-4 for f in fills if f[3] == 1)}


@needs_data
def test_whole_run_figures_match_the_raw_rows(json_run):
    checked = 0
    for c in json_run["configs"]:
        for r in c["runs"]:
            assert r["ok"] and Path(r["db"]).exists()
            got = r["metrics"]
            raw = _raw_figures(r["db"], c["bot_id"])
            assert got["fills"] == raw["fills"]
            for key in ("maker_ratio", "cancels_per_fill", "pnl_per_1k_usd", "rest_ms_median"):
                if raw[key] is None:
                    assert got[key] is None, key
                else:
                    assert got[key] == pytest.approx(raw[key], rel=1e-9, abs=1e-9), key
            for key in ("volume_usd", "fees_usd", "pnl_usd"):
                assert got[key] == pytest.approx(raw[key], rel=1e-9, abs=1e-6), key
            # Hyperliquid maker fee, 1.5 bps of notional, on every (maker) fill
            assert got["fees_usd"] == pytest.approx(raw["maker_fee_check"], rel=1e-9, abs=1e-9)
            checked += raw["fills"] > 0
    assert checked >= 3  # the slice has fills in most runs: the checks are not vacuous


@needs_data
def test_whole_run_is_not_a_minute_average(json_run):
    # the two-sided share is time-weighted over the run; the run time is the data's 30 s
    for c in json_run["configs"]:
        for r in c["runs"]:
            m = r["metrics"]
            assert 29.5 <= m["run_s"] <= 31.0
            assert m["two_sided_s"] == pytest.approx(m["two_sided_share"] * m["run_s"])


# ---------------------------------------------------------------- errors


@needs_data
def test_missing_coin_exits_2_with_a_clear_message():
    res = CliRunner().invoke(main, ["--replay", str(BTC_FILE), "--config", str(CONFIGS[0]), "--duration", "5"])
    assert res.exit_code == 2
    assert "coin BTC is not in the data (it has BTCUSDT)" in res.stderr
    assert "--coin" in res.stderr
    res = CliRunner().invoke(main, ["--replay", str(BTC_FILE), "--config", str(CONFIGS[1]), "--coin", "ETHUSDT",
                                    "--duration", "5"])
    assert res.exit_code == 2
    assert "coin ETHUSDT is not in the data" in res.stderr


@needs_data
def test_bad_config_path_exits_2(tmp_path):
    missing = tmp_path / "nope.json"
    res = CliRunner().invoke(main, ["--replay", str(BTC_FILE), "--config", str(CONFIGS[1]),
                                    "--config", str(missing)])
    assert res.exit_code == 2
    assert f"{missing}: $: config file not found" in res.stderr
    assert "nothing run" in res.stderr


@needs_data
def test_truncated_data_prints_the_table_and_exits_1(tmp_path):
    cut = tmp_path / "btcusdt_cut.gz"
    cut.write_bytes(BTC_FILE.read_bytes()[:300_000])  # a gzip that ends part way through a line
    res = CliRunner().invoke(main, ["--replay", str(cut), "--config", str(CONFIGS[2]), "--coin", "BTCUSDT"])
    assert res.exit_code == 1
    assert "drift-requote" in res.stdout and "wall time" in res.stdout
    assert "replay failed part way" in res.stderr and "truncated gzip" in res.stderr


def test_bad_replay_path_exits_2(tmp_path):
    res = CliRunner().invoke(main, ["--replay", str(tmp_path / "none.gz"), "--config", str(CONFIGS[1]),
                                    "--coin", "BTCUSDT"])
    assert res.exit_code == 2
    assert "none.gz" in res.stderr


def test_invalid_config_exits_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"bot_id": "x", "coins": ["BTCUSDT"], "loop_ms": 1}')
    res = CliRunner().invoke(main, ["--replay", "unused.gz", "--config", str(bad)])
    assert res.exit_code == 2
    assert f"{bad}: $.loop_ms" in res.stderr


# ---------------------------------------------------------------- pieces


def test_override_coin_keeps_that_coins_settings():
    cfg = load_config_file(ROOT / "configs" / "fast_trading.json")
    sol = override_coin(cfg, "SOL")
    assert sol.coins == ("SOL",)
    assert sol.for_coin("SOL").min_spread_bps == 5
    other = override_coin(cfg, "BTCUSDT")
    assert other.coins == ("BTCUSDT",) and dict(other.per_coin) == {}
    assert other.for_coin("BTCUSDT").min_spread_bps == cfg.min_spread_bps
    base = load_config_file(CONFIGS[1])
    eth = override_coin(base, "ETHUSDT")
    assert list(eth.instruments) == ["ETHUSDT"] and eth.instruments["ETHUSDT"].tick_size == 0.01


def test_same_file_twice_gets_distinct_labels():
    entries = load_entries([CONFIGS[1], CONFIGS[1]], "BTCUSDT")
    assert len({e.label for e in entries}) == 2


def test_fifo_holding():
    # buy 2 lots at 0, buy 1 at 100, sell 3 at 1000: pieces (1000, 2) and (900, 1); then sell 1 at 2000
    # opens a short, closed by a buy of 1 at 2500 (500 ms)
    got = fifo_holding([(0, 1, 2, 0.5), (100, 1, 1, 0.5), (1000, -1, 3, 0.5), (2000, -1, 1, 0.5),
                        (2500, 1, 1, 0.5)])
    assert got == [(1000, 1.0), (900, 0.5), (500, 0.5)]
    # a fill larger than the position flips it at its own time
    assert fifo_holding([(0, 1, 1, 1.0), (10, -1, 3, 1.0), (30, 1, 2, 1.0)]) == [(10, 1.0), (20, 2.0)]


def test_two_sided_ms():
    # bid 0..100 and 150..300, ask 50..200: both from 50 to 100 and 150 to 200
    assert two_sided_ms([(1, 0, 100), (1, 150, 300), (-1, 50, 200)], 0, 1000) == 100
    # clipped to the run, back-to-back orders on one side leave no gap
    assert two_sided_ms([(1, -50, 40), (1, 40, 80), (-1, 0, 500)], 0, 60) == 60
    assert two_sided_ms([(1, 0, 100)], 0, 100) == 0


def test_mid_path_is_the_mid_in_effect():
    p = MidPath()
    for t, m in ((10, 100.0), (20, 100.0), (30, 101.0), (30, 102.0)):
        p.add(t, m)
    p.end_ms = 50
    assert p.ts == [10, 30] and p.mid == [100.0, 102.0]
    assert p.at(5) is None and p.at(10) == 100.0 and p.at(29) == 100.0 and p.at(50) == 102.0
    assert p.at(51) is None  # after the run's data: unresolved


def test_phase_offsets():
    assert phase_offsets(250, 5) == [0, 50, 100, 150, 200]
    assert phase_offsets(300, 1) == [0]
    assert phase_offsets(100, 3) == [0, 33, 66]
