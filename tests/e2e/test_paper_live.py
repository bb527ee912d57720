"""End to end: paper trading on live public data (`--simulate --market-data live`).

The public stream and /info come from the local fake Hyperliquid (HL_REST_URL / HL_WS_URL); no key
is set. The bots quote on the venue's real instruments with paper fills; nothing is ever sent to
/exchange. A stream outage longer than the REST fallback delay is bridged by /info l2Book polls.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, query

fakes = pytest.importorskip("tests.fakes.hyperliquid")
if not fakes.FIXTURES.exists():
    pytest.skip(f"shared fixtures not found: {fakes.FIXTURES}", allow_module_level=True)

COIN = "DYDX"
CONFIG = {
    "bot_id": "paper-live", "venue": "hyperliquid", "mode": "paper", "coins": [COIN], "loop_ms": 200,
    "size_notional_usd": 20, "max_per_coin_notional": 200, "max_gross_notional": 400,
    "max_symbol_notional": 200, "min_spread_bps": 10, "min_replace_ms": 300, "refresh_jitter_ms": 0,
}


@pytest.fixture
def fake():
    f = fakes.FakeHyperliquid("0x" + "33" * 20, "0x" + "22" * 20).start()
    yield f
    f.stop()


def start(fake, tmp_path: Path, db: Path, duration: float, *extra: str):
    import os
    import subprocess
    import sys

    cfg = tmp_path / "paper-live.json"
    cfg.write_text(json.dumps(CONFIG))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HL_", "WOOFI_", "STANDX_"))}
    env.update(HL_REST_URL=fake.rest_url, HL_WS_URL=fake.ws_url)
    return subprocess.Popen([sys.executable, "-m", "mm_bot.run", "--config", str(cfg), "--db", str(db), "--simulate",
                             "--market-data", "live", "--duration", str(duration), *extra],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_paper_quotes_on_live_public_data_and_bridges_an_outage_by_rest(fake, tmp_path):
    db = tmp_path / "pl.db"
    proc = start(fake, tmp_path, db, 16)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not [e for e in fake.entries("ws") if e["event"] == "first_book"]:
        time.sleep(0.1)
    time.sleep(2.0)
    drop_t = int(time.time() * 1000)
    fake.drop_ws(refuse_s=8.0)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    # The public stream only: books and trades, no user streams; the venue's real rules were read.
    subs = [e["sub"]["type"] for e in fake.entries("ws") if e["event"] == "subscribe"]
    assert set(subs) == {"l2Book", "trades"}, subs
    assert "meta" in {e["type"] for e in fake.entries("info")}
    assert fake.entries("exchange") == [], "paper mode must never send an order to the venue"
    # Paper orders on the fake's book, two-sided, before the outage.
    placed = query(db, "SELECT side, ts_ms FROM trades WHERE bot_id='paper-live' AND kind='place' ORDER BY ts_ms")
    assert {s for s, t in placed if t < drop_t} == {"buy", "sell"}
    # Outage: books stale at once, REST l2Book polls only after the fallback delay, quoting resumed.
    feed = query(db, "SELECT severity, message, ts_ms FROM system_events WHERE kind='feed' ORDER BY id")
    assert any("disconnected" in m for _, m, _ in feed), feed
    polls = [e["t"] for e in fake.entries("info") if e["type"] == "l2Book"]
    assert polls and min(polls) >= drop_t + 4500, "REST books only after the stream stayed down"
    assert [t for _, t in placed if drop_t + 4500 < t < drop_t + 8000], "quoting resumed on REST books"
    stop = [m for (m,) in query(db, "SELECT message FROM system_events WHERE kind='stop'")]
    assert any(m.startswith("runner stopped") and "open paper orders: 0" in m for m in stop), stop


def test_live_data_by_rest_when_websocket_is_off(fake, tmp_path):
    db = tmp_path / "rest.db"
    cfg = tmp_path / "paper-live.json"
    cfg.write_text(json.dumps({**CONFIG, "use_websocket": False}))
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HL_", "WOOFI_", "STANDX_"))}
    env.update(HL_REST_URL=fake.rest_url, HL_WS_URL=fake.ws_url)
    r = subprocess.run([sys.executable, "-m", "mm_bot.run", "--config", str(cfg), "--db", str(db), "--simulate",
                        "--market-data", "live", "--duration", "5"], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [e for e in fake.entries("ws") if e["event"] == "subscribe"] == []
    assert len([e for e in fake.entries("info") if e["type"] == "l2Book"]) >= 5
    placed = query(db, "SELECT DISTINCT side FROM trades WHERE bot_id='paper-live' AND kind='place'")
    assert {s for (s,) in placed} == {"buy", "sell"}


def test_live_data_refuses_a_coin_on_two_venues(tmp_path):
    from tests.e2e.conftest import run_cli

    d = tmp_path / "cfgs"
    d.mkdir()
    (d / "a.json").write_text(json.dumps(CONFIG))
    (d / "b.json").write_text(json.dumps({**CONFIG, "bot_id": "other", "venue": "woofi_pro"}))
    env = {"HL_REST_URL": "http://127.0.0.1:9", "WOOFI_REST_URL": "http://127.0.0.1:9"}
    r = run_cli("--config-dir", str(d), "--db", str(tmp_path / "x.db"), "--simulate", "--market-data", "live",
                "--duration", "1", env=env, timeout=60)
    assert r.returncode == 1
    assert "DYDX is quoted on hyperliquid and woofi_pro" in r.stderr


@pytest.mark.parametrize("venue", ["woofi_pro", "standx"])
def test_paper_on_live_data_of_the_other_venues(venue, tmp_path):
    """The same paper bots on WOOFi Pro's and StandX's public streams (their local fakes): no keys,
    the venue's own instruments, paper orders placed, nothing sent to the venue's order endpoints."""
    import os
    import subprocess
    import sys

    from tests.e2e import test_live_standx as sx
    from tests.e2e import test_live_woofi as wo

    if venue == "woofi_pro":
        fake = wo.FakeWoofi(wo.ACCOUNT, wo.KEY).start()
        env_urls, coin = fake.env(), wo.COIN
    else:
        fake = sx.FakeStandx(sx.JWT, sx.StandxSigner(sx.SEED).public_key).start()
        env_urls, coin = {"STANDX_API_BASE": fake.rest_url, "STANDX_WS_URL": fake.ws_url}, sx.COIN
    try:
        live_cfg = wo.CONFIG if venue == "woofi_pro" else sx.CONFIG
        cfg = tmp_path / "paper.json"
        cfg.write_text(json.dumps({**live_cfg, "bot_id": f"paper-{venue}", "mode": "paper"}))
        db = tmp_path / "p.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HL_", "WOOFI_", "STANDX_"))}
        env.update(env_urls)
        r = subprocess.run([sys.executable, "-m", "mm_bot.run", "--config", str(cfg), "--db", str(db), "--simulate",
                            "--market-data", "live", "--duration", "6"], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr[-3000:]
        placed = query(db, "SELECT DISTINCT side FROM trades WHERE kind='place' AND coin=?", (coin,))
        assert {s for (s,) in placed} == {"buy", "sell"}, r.stderr[-2000:]
        assert query(db, "SELECT COUNT(*) FROM orderbook_snapshots WHERE coin=?", (coin,))[0][0] > 0
        if venue == "woofi_pro":
            assert fake.entries("order") == [] and fake.entries("cancel") == []
        else:
            assert [e for e in fake.entries("http") if e["method"] == "POST"] == []
    finally:
        fake.stop()
