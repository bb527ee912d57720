"""Replay readers: formats, Binance snapshot/diff rules, gaps, errors, merging, shared datasets."""

from __future__ import annotations

import gzip
import shutil
from itertools import pairwise
from pathlib import Path

import pytest

from mm_bot.core.types import BUY, SELL, BookUpdate, FeedProblem, Instrument, TradePrint
from mm_bot.sim.feeds import DEFAULT_INSTRUMENTS, ReplayError, open_replay

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DATA = SHARED / "data"
needs_shared = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data not found at {DATA}")
ORDERLY_BTC = {"BTC": Instrument("BTC", 0.1, 0.0001)}


def events(spec, instruments=None, **kw):
    feed = open_replay(str(spec), instruments or {}, **kw)
    return feed, list(feed)


def assert_ordered(evs):
    ts = [e.ts_ms for e in evs]
    assert ts == sorted(ts)


# ---------------------------------------------------------------- Binance rules on hand-made files


def test_binance_buffering_before_snapshot():
    feed, evs = events(FIX / "usdm_btcusdt_buffering.jsonl")
    assert feed.coins == ["BTCUSDT"]
    # line 1 (u=95 < lastUpdateId 100) is dropped; line 3 (U=96 <= 100 <= u=102) is the first applied,
    # right after the snapshot and at its ts; the trade before the snapshot comes out at its own time.
    assert [type(e).__name__ for e in evs] == [
        "TradePrint",
        "BookUpdate",
        "BookUpdate",
        "BookUpdate",
        "BookUpdate",
    ]
    tr, snap, first, d5, d7 = evs
    assert tr == TradePrint("BTCUSDT", 1723161255010 + 1270, 1001, 500, BUY, "1")
    assert (
        snap.snapshot and snap.bids == ((1000, 1500), (999, 3000)) and snap.asks == ((1005, 700), (1007, 100))
    )
    assert not first.snapshot and first.bids == ((1000, 2000),) and first.asks == ((1005, 1000),)
    assert first.ts_ms == snap.ts_ms
    assert d5.asks == ((1005, 0), (1006, 2000))
    assert d7.bids == ((999, 0),)
    st = feed.stats
    assert (st.dropped_diffs, st.bookticker, st.unknown, st.fatal, st.gaps) == (1, 1, 1, 0, 0)
    assert st.levels == 9 and st.book_updates == 4 and st.trades == 1 and st.lines == 8
    assert_ordered(evs)


def test_bookticker_sanity_check_and_unknown_events(tmp_path):
    feed, evs = events(FIX / "usdm_btcusdt_buffering.jsonl", check_bbo=True)
    _, plain = events(FIX / "usdm_btcusdt_buffering.jsonl")
    assert evs == plain  # bookTicker is never emitted when the symbol has depth
    assert (feed.stats.bbo_checked, feed.stats.bbo_mismatch) == (1, 0)
    extra = tmp_path / "btcusdt_extra.jsonl"
    mark = b'1723161255080000123 {"stream":"xyzusdt@markPrice","data":{"e":"markPriceUpdate","s":"XYZUSDT","p":"1"}}\n'
    extra.write_bytes((FIX / "usdm_btcusdt_buffering.jsonl").read_bytes() + mark)
    feed, evs = events(extra)
    assert evs == plain and feed.stats.unknown == 2


def test_pu_gap_is_fatal_for_that_coin_only():
    feed, evs = events(FIX / "coinm_gap.jsonl")
    problems = [e for e in evs if isinstance(e, FeedProblem)]
    assert len(problems) == 1
    p = problems[0]
    assert p.fatal and p.coin == "BTCUSD_PERP"
    assert "coinm_gap.jsonl:6" in p.message and "1008" in p.message and "1003" in p.message
    after = evs[evs.index(p) + 1 :]
    assert after and all(e.coin == "ETHUSD_PERP" for e in after)
    assert after[-1] == TradePrint("ETHUSD_PERP", 1723161255070 + 1270, 268000, 1, SELL, "8")
    assert feed.stats.fatal == 1 and feed.stats.after_fatal == 1
    assert_ordered(evs)


def test_gap_with_later_snapshot_resyncs():
    feed, evs = events(FIX / "usdm_btcusdt_resync.jsonl")
    kinds = [(type(e).__name__, getattr(e, "snapshot", None)) for e in evs]
    assert kinds == [
        ("BookUpdate", True),
        ("BookUpdate", False),
        ("FeedProblem", None),
        ("TradePrint", None),
        ("BookUpdate", True),
        ("BookUpdate", False),
        ("BookUpdate", False),
    ]
    p = evs[2]
    assert not p.fatal and "usdm_btcusdt_resync.jsonl:4" in p.message and "resync" in p.message
    assert "usdm_btcusdt_resync.jsonl:7" in p.message
    # the buffered diff of line 6 (U=113 <= 114 <= u=115) is applied after the new snapshot
    assert evs[4].bids == ((1000, 5000),) and evs[5].asks == ((1001, 4000),)
    assert feed.stats.resyncs == 1 and feed.stats.fatal == 0
    assert_ordered(evs)


def test_spot_chain_and_gap():
    feed, evs = events(FIX / "spot_ethusdt_20240808.jsonl")
    snap = evs[0]
    assert snap.snapshot and snap.bids == ((268000, 20000),)  # tick 0.01, lot 0.0001
    assert evs[1].bids == ((268000, 25000),)  # U=12 <= lastUpdateId+1 <= u=14
    assert evs[2] == TradePrint("ETHUSDT", 1723161255300 + 1270, 268001, 1000, SELL, "5")
    p = evs[-1]
    assert isinstance(p, FeedProblem) and p.fatal and "spot_ethusdt_20240808.jsonl:6" in p.message
    assert feed.stats.dropped_diffs == 1


# ---------------------------------------------------------------- Hyperliquid and Orderly


def test_hyperliquid_snapshots_and_trades():
    feed, evs = events(FIX / "hyperliquid_btc.jsonl")
    assert feed.coins == ["BTC"]
    b0, t0, b1, t1 = evs
    assert b0 == BookUpdate(
        "BTC", b0.ts_ms, ((105055, 303622), (105054, 14280)), ((105056, 50000), (105058, 125000)), True
    )
    assert b1.snapshot and b1.bids[0] == (105054, 303622)
    assert t0 == TradePrint("BTC", t0.ts_ms, 105055, 10000, SELL, "222", ("0xc", "0xd"))
    assert t1.aggressor == BUY and t1.sz == 1 and t1.trade_id == "333" and t1.users == ("0xe", "0xf")
    st = feed.stats
    assert st.stale_trades == 1 and st.unknown == 1 and st.snapshots == 2 and st.levels == 8
    assert_ordered(evs)


def test_hyperliquid_exchange_time_basis():
    _, evs = events(FIX / "hyperliquid_btc.jsonl", time_basis="exchange")
    assert [e.ts_ms for e in evs] == [1723161256300, 1723161256400, 1723161256500, 1723161256600]


def test_orderly_prevts_chain_and_resync():
    feed, evs = events(FIX / "orderly_btc.jsonl", ORDERLY_BTC)
    assert feed.coins == ["BTC"]
    names = [type(e).__name__ for e in evs]
    assert names == [
        "BookUpdate",
        "BookUpdate",
        "TradePrint",
        "FeedProblem",
        "BookUpdate",
        "BookUpdate",
        "BookUpdate",
    ]
    assert evs[0].snapshot and evs[0].bids == ((499999, 10000), (499995, 20000))
    assert evs[1].asks == ((500001, 0), (500003, 2500))
    assert evs[2] == TradePrint("BTC", evs[2].ts_ms, 500003, 1000, BUY, "")
    assert not evs[3].fatal and "orderly_btc.jsonl:4" in evs[3].message
    assert evs[4].snapshot and evs[5].bids == (
        (499998, 7000),
    )  # buffered delta chained from prevTs <= snapshot ts
    assert feed.stats.resyncs == 1 and feed.stats.unknown == 1
    assert_ordered(evs)


# ---------------------------------------------------------------- errors


def test_bad_json_line_names_file_and_line(tmp_path):
    lines = (FIX / "usdm_btcusdt_resync.jsonl").read_bytes().splitlines(keepends=True)
    lines[2] = lines[2][:60] + b"}{oops\n"
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"".join(lines))
    got = []
    with pytest.raises(ReplayError, match=r"bad\.jsonl:3"):
        for ev in open_replay(str(bad), {}):
            got.append(ev)
    assert got and got[0].snapshot  # the snapshot of line 2 reached the consumer first


def test_truncated_gzip_small(tmp_path):
    data = gzip.compress((FIX / "usdm_btcusdt_resync.jsonl").read_bytes())
    cut = tmp_path / "cut.gz"
    cut.write_bytes(data[: len(data) - 12])
    with pytest.raises(ReplayError, match=r"cut\.gz:\d+: truncated gzip"):
        list(open_replay(str(cut), {}))


@needs_shared
def test_truncated_gzip_after_events(tmp_path):
    src = DATA / "binance-usdm" / "btcusdt_20240808.gz"
    cut = tmp_path / "btcusdt_20240808.gz"
    with open(src, "rb") as f:
        cut.write_bytes(f.read(400_000))
    got = 0
    with pytest.raises(ReplayError) as exc:
        for _ in open_replay(str(cut), {}):
            got += 1
    msg = str(exc.value)
    assert "btcusdt_20240808.gz:" in msg and "truncated gzip" in msg
    assert got > 1000


def test_unknown_format_and_missing_files(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text('1 {"hello": 1}\n')
    with pytest.raises(ReplayError, match="unknown format"):
        open_replay(str(f), {})
    with pytest.raises(ReplayError, match="no data files"):
        open_replay(str(tmp_path / "nothing*.gz"), {})


def test_coin_without_instrument_is_an_error():
    with pytest.raises(ReplayError, match="no instrument for coin 'BTC'"):
        open_replay(str(FIX / "orderly_btc.jsonl"), {})


# ---------------------------------------------------------------- specs and merging


def test_merge_two_files_in_time_order():
    a = list(open_replay(str(FIX / "spot_ethusdt_20240808.jsonl"), {}))
    b = list(open_replay(str(FIX / "hyperliquid_btc.jsonl"), {}))
    feed = open_replay(str(FIX / "[sh][py]*.jsonl"), {})  # glob: spot_... and hyperliquid_...
    merged = list(feed)
    assert sorted(p.name for p in feed.source_files) == [
        "hyperliquid_btc.jsonl",
        "spot_ethusdt_20240808.jsonl",
    ]
    assert feed.coins == ["BTC", "ETHUSDT"]
    assert len(merged) == len(a) + len(b)
    assert_ordered(merged)
    coins = [e.coin for e in merged]
    assert sum(x != y for x, y in pairwise(coins)) >= 4  # the two streams interleave
    assert [e for e in merged if e.coin == "BTC"] == b and [e for e in merged if e.coin == "ETHUSDT"] == a


def test_directory_spec_joins_consecutive_files(tmp_path):
    # One stream split in two files joins with its sequence state carried over.
    lines = (FIX / "usdm_btcusdt_buffering.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "btcusdt_20240808.jsonl").write_text("".join(lines[:4]))
    (tmp_path / "btcusdt_20240809.jsonl").write_text("".join(lines[4:]))
    (tmp_path / "SOURCE.txt").write_text("not data\n")
    feed, evs = events(tmp_path)
    assert [p.name for p in feed.source_files] == ["btcusdt_20240808.jsonl", "btcusdt_20240809.jsonl"]
    _, whole = events(FIX / "usdm_btcusdt_buffering.jsonl")
    assert evs == whole and feed.stats.fatal == 0


def test_same_coin_in_two_streams_is_an_error(tmp_path):
    shutil.copy(FIX / "hyperliquid_btc.jsonl", tmp_path / "a.jsonl")
    shutil.copy(FIX / "orderly_btc.jsonl", tmp_path / "b.jsonl")
    with pytest.raises(ReplayError, match="two streams"):
        open_replay(str(tmp_path), ORDERLY_BTC)


# ---------------------------------------------------------------- the shared datasets


def _full_run(spec, **kw):
    feed = open_replay(str(spec), {}, **kw)
    last = 0
    n = 0
    problems = []
    for ev in feed:
        assert ev.ts_ms >= last
        last = ev.ts_ms
        n += 1
        if isinstance(ev, FeedProblem):
            problems.append(ev)
    return feed, n, problems


@needs_shared
@pytest.mark.parametrize("folder", ["binance-usdm", "binance-coinm", "binance-spot", "hyperliquid"])
def test_shared_datasets_run_to_the_end(folder):
    feed, n, problems = _full_run(DATA / folder, check_bbo=True)
    st = feed.stats
    assert not problems, problems[:3]
    assert st.fatal == 0 and st.gaps == 0 and st.malformed == 0 and st.unknown == 0
    assert n > 0 and st.lines > 0
    if folder.startswith("binance"):
        assert st.snapshots == len(feed.coins)  # one REST snapshot per symbol, 0809 files joined
        assert all(1200 <= s <= 1300 for s in st.shift_ms.values()), st.shift_ms  # clock ~1.27 s behind
        # the rebuilt book agrees with bookTicker when the ticker's update id is covered
        assert st.bbo_checked > 1000 and st.bbo_mismatch <= 0.05 * st.bbo_checked, (
            st.bbo_checked,
            st.bbo_mismatch,
        )
    if folder == "binance-coinm":
        names = [p.name for p in feed.source_files]  # streams in order of their first line
        assert names == [
            "ethusd_perp_20240808.gz",
            "ethusd_perp_20240809.gz",
            "btcusd_perp_20240808.gz",
            "btcusd_perp_20240809.gz",
        ]
        assert feed.coins == ["BTCUSD_PERP", "ETHUSD_PERP"]
    if folder == "hyperliquid":
        assert st.snapshots == 46 and st.levels == 1840 and st.trades + st.stale_trades == 64


def test_instrument_and_start_ms():
    feed = open_replay(str(FIX / "[sh][py]*.jsonl"), {"BTC": Instrument("BTC", 0.5, 0.001)})
    assert feed.instrument("ETHUSDT") == DEFAULT_INSTRUMENTS[("binance-spot", "ETHUSDT")]
    assert feed.instrument("BTC") == Instrument("BTC", 0.5, 0.001)
    assert feed.instrument("XRP") is None
    first = next(iter(feed)).ts_ms
    assert first - 1000 < feed.start_ms() <= first
    ex = open_replay(str(FIX / "hyperliquid_btc.jsonl"), {}, time_basis="exchange")
    assert ex.start_ms() <= next(iter(ex)).ts_ms


@needs_shared
def test_usdm_values_and_exactness():
    feed = open_replay(str(DATA / "binance-usdm" / "btcusdt_20240808.gz"), {})
    assert feed.instrument("BTCUSDT") == DEFAULT_INSTRUMENTS[("binance-futures", "BTCUSDT")]
    assert feed.start_ms() <= next(iter(feed)).ts_ms
    first_trade = next(e for e in feed if isinstance(e, TradePrint))
    # "61800.30" with tick 0.1 -> 618003; "0.006" with lot 0.001 -> 6; m=false -> buyer took
    assert (first_trade.px, first_trade.sz, first_trade.aggressor, first_trade.trade_id) == (
        618003,
        6,
        BUY,
        "5266583935",
    )
    assert DEFAULT_INSTRUMENTS[("binance-futures", "BTCUSDT")].px(first_trade.px) == 61800.3


@needs_shared
def test_coinm_second_day_alone_has_no_snapshot():
    feed, _, problems = _full_run(DATA / "binance-coinm" / "btcusd_perp_20240809.gz")
    assert len(problems) == 1 and problems[0].fatal and "btcusd_perp_20240809.gz:" in problems[0].message


# ---------------------------------------------------------------- worker processes


def test_worker_processes_give_the_same_events_and_stats(tmp_path):
    for spec in (FIX / "[sh][py]*.jsonl", FIX / "coinm_gap.jsonl", FIX / "usdm_btcusdt_resync.jsonl"):
        local = open_replay(str(spec), {})
        remote = open_replay(str(spec), {}, processes=True)
        assert list(remote) == list(local)
        assert remote.stats == local.stats
    data = gzip.compress((FIX / "usdm_btcusdt_resync.jsonl").read_bytes())
    cut = tmp_path / "cut.gz"
    cut.write_bytes(data[: len(data) - 12])
    with pytest.raises(ReplayError, match=r"cut\.gz:\d+: truncated gzip"):
        list(open_replay(str(cut), {}, processes=True))


@needs_shared
def test_worker_processes_on_shared_data():
    spec = DATA / "binance-usdm" / "btcusdt_20240808.gz"
    local = open_replay(str(spec), {})
    remote = open_replay(str(spec), {}, processes=True)
    assert list(remote) == list(local)
    assert remote.stats == local.stats and local.stats.levels > 400_000
