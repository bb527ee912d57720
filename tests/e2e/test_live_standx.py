"""End to end: the live runner (`python -m mm_bot.run`, venue standx, mode testnet) against a local fake StandX.

Every URL points at tests/fakes/standx.py on 127.0.0.1 (STANDX_API_BASE / STANDX_WS_URL); the fake
checks the JWT on every account call and the ed25519 body signature on every POST, and speaks the
documented wire format (asynchronous matching: new_order accepted first, the order stream tells).
Covered: subscribe (depth_book; stream auth with order + position), quote two-sided ALO, a fill; a
WebSocket drop (reconnect, re-auth, resubscribe, no order placed while the book was stale, a fill
made during the outage recovered from query_trades once); a 429 storm (back-off, a rate_limit
system event, no crash); a restart after SIGKILL (leftover orders cancelled before quoting, a fill
made while down recovered, positions matching the venue); SIGTERM cancels every order; the JWT and
the signing key appear nowhere in stdout, stderr or the DB. StandX has no dead man's switch.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from mm_bot.venues.standx.auth import StandxSigner
from mm_bot.venues.woofi_pro.auth import b58encode
from tests.e2e.conftest import (
    REPO,
    assert_positions_reconcile,
    assert_secrets_absent,
    events,
    query,
    stop_runner,
    wait_for,
)
from tests.fakes.standx import FakeStandx

SEED = bytes(range(40, 72))
KEY = b58encode(SEED)
ADDRESS = "0x6a9e0000000000000000000000000000000000c1"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


JWT = ".".join([_b64url(b'{"alg":"ES256","typ":"JWT"}'),
                _b64url(json.dumps({"address": ADDRESS, "chain": "bsc", "exp": 4102444800}).encode()),
                _b64url(bytes(range(64)))])
SECRETS = (JWT, JWT.split(".")[2], KEY, SEED.hex())
COIN = "BTC"
LOT = Decimal("0.001")
CONFIG = {
    "bot_id": "sx-live", "venue": "standx", "mode": "testnet", "coins": [COIN], "loop_ms": 200,
    "size_notional_usd": 250, "max_per_coin_notional": 2500, "max_gross_notional": 5000,
    "max_symbol_notional": 2500, "min_spread_bps": 10, "min_replace_ms": 300, "refresh_jitter_ms": 0,
}




@pytest.fixture
def fake():
    f = FakeStandx(JWT, StandxSigner(SEED).public_key).start()
    yield f
    f.stop()


def start_runner(fake, tmp_path: Path, db: Path, **overrides) -> subprocess.Popen:
    cfg = tmp_path / "live.json"
    cfg.write_text(json.dumps({**CONFIG, **overrides}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HL_", "WOOFI_", "STANDX_"))}
    env.update(STANDX_JWT=JWT, STANDX_REQUEST_SIGNING_KEY=KEY, STANDX_API_BASE=fake.rest_url,
               STANDX_WS_URL=fake.ws_url)
    return subprocess.Popen([sys.executable, "-m", "mm_bot.run", "--config", str(cfg), "--db", str(db)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)




def two_sided(fake):
    rest = fake.resting()
    sides = {o["side"] for o in rest if o["symbol"] == f"{COIN}-USD" and o["cl_ord_id"]}
    return rest if sides == {"buy", "sell"} else None




def fill_id(trade: dict) -> str:
    """The id the adapter gives a fill: '<order id>-<cumulative lots>'."""
    return f"{trade['id']}-{int(Decimal(trade['cum_qty']) / LOT)}"




def assert_no_secret(db: Path, *texts: str) -> None:
    assert_secrets_absent(db, SECRETS, *texts)


def test_live_quote_fill_429_reconnect_and_sigterm(fake, tmp_path):
    db = tmp_path / "live.db"
    proc = start_runner(fake, tmp_path, db)
    try:
        rest = wait_for(lambda: two_sided(fake), 20, "a bid and an ask resting at the fake")
        ws = fake.entries("ws")
        assert [(e["channel"], e["symbol"]) for e in ws if e["event"] == "subscribe"] == [("depth_book", "BTC-USD")]
        assert [e["streams"] for e in ws if e["event"] == "auth"] == [["order", "position"]]
        assert all(e["ok"] for e in ws if e["event"] == "auth")
        orders = [e for e in fake.entries("order") if "error" not in e]
        assert orders and all(e["tif"] == "alo" for e in orders)
        assert all(o["time_in_force"] == "alo" and o["cl_ord_id"].startswith("0x") for o in rest)
        assert not fake.entries("auth_error"), "every signature and token accepted"

        # A trade through our bid: a fills row (maker, exact lots) and a position.
        trade = fake.trade_through(COIN, "buy")
        assert trade is not None
        row = wait_for(lambda: query(db, "SELECT bot_id, side, size_lots, maker, cloid FROM fills WHERE fill_id=?",
                                     (fill_id(trade),)), 10, "the fill in the DB")
        assert row[0] == ("sx-live", "buy", int(Decimal(trade["qty"]) / LOT), 1, trade["cl_ord_id"])
        wait_for(lambda: two_sided(fake), 10, "the bid placed again")

        # 429 storm: the next requests get HTTP 429; the runner backs off and carries on.
        fake.fail_next(3)
        assert fake.trade_through(COIN, "sell") is not None  # the ask must be placed again -> 429s
        wait_for(lambda: [e for e in events(db, "rate_limit") if e[0] == "warning"], 15, "a rate_limit event")
        wait_for(lambda: two_sided(fake), 20, "quotes back after the back-off")
        assert proc.poll() is None, "runner died during the 429 storm"
        assert len(fake.entries("http_error")) == 3

        # WebSocket drop: no depth_book for 2 s on the new connection; a fill happens during the outage.
        drop_t = int(time.time() * 1000)
        assert fake.drop_ws(book_delay_s=2.0) == 2  # market + account connections
        lost = fake.trade_through(COIN, "buy")
        assert lost is not None, "our bid rests when the connections drop"
        wait_for(lambda: [e for e in fake.entries("ws") if e["event"] == "first_book" and e["t"] > drop_t],
                 20, "a fresh depth_book after the reconnect")
        first_book = min(e["t"] for e in fake.entries("ws") if e["event"] == "first_book" and e["t"] > drop_t)
        after = [e for e in fake.entries("ws") if e["t"] > drop_t]
        assert [e["channel"] for e in after if e["event"] == "subscribe"] == ["depth_book"], "resubscribed"
        assert [e["streams"] for e in after if e["event"] == "auth"] == [["order", "position"]], "re-authenticated"
        placed_stale = [e for e in fake.entries("order") if drop_t + 100 < e["t"] < first_book]
        assert not placed_stale, f"orders placed while the book was stale: {placed_stale}"
        wait_for(lambda: two_sided(fake), 15, "quotes back after the reconnect")
        assert [e for e in events(db, "feed") if "reconnected" in e[1]]
        # No connection carried it: the reconcile after the reconnect recovers it from query_trades.
        wait_for(lambda: query(db, "SELECT 1 FROM fills WHERE fill_id=?", (fill_id(lost),)), 10,
                 "the fill made during the outage")
    finally:
        rc, out, err = stop_runner(proc)
    assert rc == 0, err[-3000:]
    assert fake.resting() == [], "SIGTERM must leave no order resting"
    stop = [e for e in events(db, "stop") if e[1].startswith("runner stopped")]
    assert stop and stop[-1][0] == "info" and "open orders on the venue: 0" in stop[-1][1]
    assert_positions_reconcile(db)
    pos = query(db, "SELECT size_lots FROM positions WHERE bot_id='sx-live' AND coin=?", (COIN,))[0][0]
    assert Decimal(pos) * LOT == fake.position(COIN)
    ids = [r[0] for r in query(db, "SELECT fill_id FROM fills")]
    assert len(ids) == len(set(ids)) == len(fake.entries("fill"))
    assert_no_secret(db, out, err)


def test_restart_reconciles_orders_and_positions(fake, tmp_path):
    db = tmp_path / "restart.db"
    proc = start_runner(fake, tmp_path, db)
    try:
        wait_for(lambda: two_sided(fake), 20, "quotes of the first run")
        trade = fake.trade_through(COIN, "buy")
        wait_for(lambda: query(db, "SELECT 1 FROM fills WHERE fill_id=?", (fill_id(trade),)), 10, "fill 1")
        wait_for(lambda: two_sided(fake), 10, "the bid placed again")
        time.sleep(0.6)  # let the writer land the new order rows
    finally:
        proc.kill()  # no clean shutdown (and no dead man's switch on StandX): orders stay resting
        proc.communicate(timeout=10)
    assert len(fake.resting()) == 2
    # A fill while the runner is down, on an order the DB knows.
    down = fake.trade_through(COIN, "buy")
    assert down is not None
    leftover = {o["id"] for o in fake.resting()}
    restart_t = int(time.time() * 1000)

    proc = start_runner(fake, tmp_path, db)
    try:
        wait_for(lambda: two_sided(fake) and not ({o["id"] for o in fake.resting()} & leftover), 20,
                 "leftover orders cancelled and fresh quotes")
        cancels = [e for e in fake.entries("cancel") if e["t"] >= restart_t and set(e["ids"]) & leftover]
        placed = [e for e in fake.entries("order") if e["t"] >= restart_t]
        assert cancels and placed and max(e["t"] for e in cancels) <= min(e["t"] for e in placed), \
            "leftovers cancelled before quoting"
        wait_for(lambda: len([e for e in events(db, "reconcile") if e[2] >= restart_t]) >= 3, 5,
                 "the start-up reconcile events")
        rec = [m for _, m, t in events(db, "reconcile") if t >= restart_t]
        assert any("recovered 1 fill" in m for m in rec), rec
        assert any("start: cancelled 1 open order" in m for m in rec), rec
        assert any("matches the venue" in m for m in rec), rec
    finally:
        rc, out, err = stop_runner(proc)
    assert rc == 0, err[-3000:]
    assert fake.resting() == []
    venue = fake.position(COIN)
    assert venue == Decimal(trade["qty"]) + Decimal(down["qty"])
    pos = query(db, "SELECT size_lots FROM positions WHERE bot_id='sx-live' AND coin=?", (COIN,))[0][0]
    assert Decimal(pos) * LOT == venue
    assert query(db, "SELECT COUNT(*) FROM fills WHERE fill_id=?", (fill_id(down),))[0][0] == 1
    assert_positions_reconcile(db)
    assert_no_secret(db, out, err)
