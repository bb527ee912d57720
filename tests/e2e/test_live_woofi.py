"""End to end: the live runner (`python -m mm_bot.run`, venue woofi_pro, mode testnet) against a local fake
WOOFi Pro (Orderly).

Every URL points at tests/fakes/woofi_pro.py on 127.0.0.1 (WOOFI_REST_URL / WOOFI_WS_PUBLIC_URL /
WOOFI_WS_PRIVATE_URL); the fake verifies the ed25519 signature and the 300 s timestamp window of
every private request and of the private stream's auth, and speaks the Orderly wire format (book
deltas chained by prevTs, executionreport / position pushes, POST_ONLY refusals on the stream).
Covered: subscribe (book deltas + trades; auth then executionreport + position), a snapshot
requested at connect, quote two-sided POST_ONLY, the dead man's switch (cancel_all_after) armed
and disarmed, a fill; a lost book delta (FeedProblem, resync); a 429 storm (back-off, a rate_limit
system event, no crash); a WebSocket drop (reconnect, re-auth, resubscribe, resync, no order placed
on the stale book, a fill made during the outage recorded once); a restart after SIGKILL (leftover
orders cancelled before quoting, a fill made while down recovered, positions matching the venue);
SIGTERM cancels every order; the Orderly secret appears nowhere in stdout, stderr or the DB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from mm_bot.venues.woofi_pro.auth import OrderlySigner, b58encode
from tests.e2e.conftest import (
    REPO,
    assert_positions_reconcile,
    assert_secrets_absent,
    events,
    query,
    stop_runner,
    wait_for,
)
from tests.fakes.woofi_pro import FakeWoofi

SEED = bytes(range(7, 39))
SECRET = "ed25519:" + b58encode(SEED)
ACCOUNT = "0x" + "5e" * 32
KEY = OrderlySigner(ACCOUNT, SECRET).orderly_key
SECRETS = (SECRET, SECRET[len("ed25519:"):], SEED.hex())
COIN = "WOO"
LOT = Decimal("0.01")
CONFIG = {
    "bot_id": "woo-live", "venue": "woofi_pro", "mode": "testnet", "coins": [COIN], "loop_ms": 200,
    "size_notional_usd": 20, "max_per_coin_notional": 200, "max_gross_notional": 400,
    "max_symbol_notional": 200, "min_spread_bps": 10, "min_replace_ms": 300, "refresh_jitter_ms": 0,
}




@pytest.fixture
def fake():
    f = FakeWoofi(ACCOUNT, KEY).start()
    yield f
    f.stop()


def start_runner(fake: FakeWoofi, tmp_path: Path, db: Path, **overrides) -> subprocess.Popen:
    cfg = tmp_path / "live.json"
    cfg.write_text(json.dumps({**CONFIG, **overrides}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HL_", "WOOFI_", "STANDX_"))}
    env.update(WOOFI_ACCOUNT_ID=ACCOUNT, WOOFI_ORDERLY_KEY=KEY, WOOFI_ORDERLY_SECRET=SECRET, **fake.env())
    return subprocess.Popen([sys.executable, "-m", "mm_bot.run", "--config", str(cfg), "--db", str(db)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)




def two_sided(fake: FakeWoofi):
    rest = fake.resting()
    sides = {o["side"] for o in rest if o["coin"] == COIN and o["client_order_id"]}
    return rest if sides == {"BUY", "SELL"} else None




def ws_events(fake: FakeWoofi, event: str, after: int = 0) -> list[dict]:
    return [e for e in fake.entries("ws") if e["event"] == event and e["t"] > after]




def assert_no_secret(db: Path, *texts: str) -> None:
    assert_secrets_absent(db, SECRETS, *texts)


def test_live_quote_fill_gap_429_reconnect_and_sigterm(fake, tmp_path):
    db = tmp_path / "live.db"
    proc = start_runner(fake, tmp_path, db)
    try:
        rest = wait_for(lambda: two_sided(fake), 20, "a bid and an ask resting at the fake")
        # Public: book deltas + trades, a snapshot requested; private: auth first, then the topics.
        subs = [(e["topic"], e["private"]) for e in ws_events(fake, "subscribe")]
        assert set(subs) == {(f"PERP_{COIN}_USDC@orderbookupdate", False), (f"PERP_{COIN}_USDC@trade", False),
                             ("executionreport", True), ("position", True)}
        assert ws_events(fake, "request") and [a["ok"] for a in ws_events(fake, "auth")] == [True]
        assert fake.entries("bad_sig") == []
        orders = fake.entries("order")
        assert orders and all(t == "POST_ONLY" for e in orders for t in e["types"])
        assert all(o["type"] == "POST_ONLY" and o["client_order_id"].startswith("0x") for o in rest)
        armed = fake.entries("deadman")
        assert armed and armed[0]["ok"] and 5_000 <= armed[0]["trigger"] <= 60_000

        # A trade prints through our bid: a fills row (maker, exact lots) and a position.
        fill = fake.trade_through(COIN, "BUY")
        assert fill is not None
        row = wait_for(lambda: query(db, "SELECT bot_id, side, size_lots, maker, cloid FROM fills WHERE fill_id=?",
                                     (str(fill["trade_id"]),)), 10, "the fill in the DB")
        assert row[0] == ("woo-live", "buy", int(Decimal(fill["quantity"]) / LOT), 1, fill["client_order_id"])
        wait_for(lambda: two_sided(fake), 10, "the bid placed again")

        # A lost book delta: the runner hears of the gap and the book is resynced from a snapshot.
        n_snap = len(fake.entries("snapshot"))
        fake.skip_update(COIN)
        wait_for(lambda: [e for e in events(db, "feed") if "prevTs" in e[1]], 10, "the gap reported")
        wait_for(lambda: len(fake.entries("snapshot")) > n_snap, 10, "a resync snapshot")

        # 429 storm: the next requests get HTTP 429 (code -1003); the runner backs off and carries on.
        fake.fail_next(3)
        assert fake.trade_through(COIN, "SELL") is not None  # the ask must be placed again -> 429s
        wait_for(lambda: [e for e in events(db, "rate_limit") if e[0] == "warning"], 15, "a rate_limit event")
        wait_for(lambda: two_sided(fake), 20, "quotes back after the back-off")
        assert proc.poll() is None, "runner died during the 429 storm"
        assert len(fake.entries("http_error")) == 3

        # WebSocket drop: snapshots held back 2 s on the new connections; a fill during the outage.
        n_subs = len(subs)
        drop_t = int(time.time() * 1000)
        assert fake.drop_ws(book_delay_s=2.0) == 2
        lost = fake.trade_through(COIN, "BUY")
        wait_for(lambda: [e for e in fake.entries("snapshot") if e["t"] > drop_t], 20, "a fresh book after the drop")
        first_book = min(e["t"] for e in fake.entries("snapshot") if e["t"] > drop_t)
        assert first_book >= drop_t + 1900, "the fake held the snapshot back"
        wait_for(lambda: len(ws_events(fake, "subscribe", drop_t)) == n_subs, 10, "every subscription sent again")
        auths = ws_events(fake, "auth")
        assert [a["ok"] for a in auths] == [True, True] and auths[1]["ts"] > auths[0]["ts"], "re-auth, fresh ts"
        placed_stale = [e for e in fake.entries("order") if drop_t + 100 < e["t"] < first_book]
        assert not placed_stale, f"orders placed while the book was stale: {placed_stale}"
        wait_for(lambda: two_sided(fake), 15, "quotes back after the reconnect")
        assert [e for e in events(db, "feed") if "reconnected" in e[1]]
        if lost is not None:
            wait_for(lambda: query(db, "SELECT 1 FROM fills WHERE fill_id=?", (str(lost["trade_id"]),)), 10,
                     "the fill made during the outage")
    finally:
        rc, out, err = stop_runner(proc)
    assert rc == 0, err[-3000:]
    assert fake.resting() == [], "SIGTERM must leave no order resting"
    assert fake.entries("deadman")[-1]["trigger"] == 0, "dead man's switch disarmed at a clean exit"
    stop = [e for e in events(db, "stop") if e[1].startswith("runner stopped")]
    assert stop and stop[-1][0] == "info" and "open orders on the venue: 0" in stop[-1][1]
    # Every fill once; position rows equal the signed fills; equal to the venue's position.
    assert_positions_reconcile(db)
    pos = query(db, "SELECT size_lots FROM positions WHERE bot_id='woo-live' AND coin=?", (COIN,))[0][0]
    assert Decimal(pos) * LOT == fake.position(COIN)
    ids = [r[0] for r in query(db, "SELECT fill_id FROM fills")]
    assert len(ids) == len(set(ids)) == len(fake.entries("fill"))
    assert fake.entries("bad_sig") == []
    assert not [e for e in events(db, "feed") if "unreadable" in e[1]], "every venue message was understood"
    assert_no_secret(db, out, err)


def test_restart_reconciles_orders_and_positions(fake, tmp_path):
    db = tmp_path / "restart.db"
    proc = start_runner(fake, tmp_path, db)
    try:
        wait_for(lambda: two_sided(fake), 20, "quotes of the first run")
        fill = fake.trade_through(COIN, "BUY")
        wait_for(lambda: query(db, "SELECT 1 FROM fills WHERE fill_id=?", (str(fill["trade_id"]),)), 10, "fill 1")
        wait_for(lambda: two_sided(fake), 10, "the bid placed again")
        time.sleep(0.6)  # let the writer land the new order rows
    finally:
        proc.kill()  # no clean shutdown: orders stay resting
        proc.communicate(timeout=10)
    leftovers = fake.resting()
    assert len(leftovers) == 2
    # A fill while the runner is down, on an order the DB knows.
    down_fill = fake.trade_through(COIN, "BUY")
    assert down_fill is not None
    leftover_oids = {o["order_id"] for o in fake.resting()}
    restart_t = int(time.time() * 1000)

    proc = start_runner(fake, tmp_path, db)
    try:
        wait_for(lambda: two_sided(fake) and not ({o["order_id"] for o in fake.resting()} & leftover_oids), 20,
                 "leftover orders cancelled and fresh quotes")
        cancels = [e for e in fake.entries("cancel") if e["t"] >= restart_t and e["ok"]]
        cancel_t = max(e["t"] for e in cancels if e["target"] in leftover_oids)
        first_order_t = min(e["t"] for e in fake.entries("order") if e["t"] >= restart_t)
        assert cancel_t <= first_order_t, "strays cancelled before quoting"
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
    assert venue == Decimal(fill["quantity"]) + Decimal(down_fill["quantity"])
    pos = query(db, "SELECT size_lots FROM positions WHERE bot_id='woo-live' AND coin=?", (COIN,))[0][0]
    assert Decimal(pos) * LOT == venue
    assert query(db, "SELECT COUNT(*) FROM fills WHERE fill_id=?", (str(down_fill["trade_id"]),))[0][0] == 1
    assert_positions_reconcile(db)
    assert_no_secret(db, out, err)


def test_requote_by_edit(fake, tmp_path):
    """requote_with_modify: a moving market moves our orders in place with PUT /v1/order (same
    cloids); the DB records 'modified' order events and 'modify' timeline rows; requotes cancel
    nothing; SIGTERM leaves nothing resting."""
    db = tmp_path / "edit.db"
    proc = start_runner(fake, tmp_path, db, requote_with_modify=True, requote_threshold_bps=2, min_replace_ms=300)
    try:
        first = wait_for(lambda: two_sided(fake), 20, "quotes")
        cloids = {o["client_order_id"] for o in first}
        for _ in range(3):
            n = len([e for e in fake.entries("edit") if e["ok"] and e.get("applied")])
            fake.shift_book(COIN, 60)  # 60 ticks of 0.00001: ~19 bps up
            wait_for(lambda n=n: len([e for e in fake.entries("edit") if e["ok"] and e.get("applied")]) > n, 10,
                     "an edit applied")
            time.sleep(1.0)
        rest = wait_for(lambda: two_sided(fake), 10, "quotes after the moves")
        wait_for(lambda: query(db, "SELECT COUNT(*) FROM order_events WHERE event='modified'")[0][0] >= 2, 10,
                 "modified rows in the DB")
    finally:
        rc, out, err = stop_runner(proc)
    assert rc == 0, err[-3000:]
    edits = fake.entries("edit")
    assert edits and all(e["client_order_id"] in cloids for e in edits if e["ok"]), "edits keep our cloids"
    applied = [e for e in edits if e["ok"] and e.get("applied")]
    assert len(applied) >= 3
    # The orders followed the market with the same cloids (no cancel + replace for them).
    assert {o["client_order_id"] for o in rest} & cloids
    top = Decimal(max(o["price"] for o in rest if o["side"] == "BUY"))
    assert top > Decimal(max(o["price"] for o in first if o["side"] == "BUY"))
    modified = query(db, "SELECT COUNT(*) FROM order_events WHERE event='modified'")[0][0]
    assert modified >= 2
    amends = query(db, "SELECT COUNT(*) FROM trades WHERE kind='modify'")[0][0]
    assert amends >= len(applied)
    # Requotes went by edit: the only cancels are the shutdown's (one per resting order at most).
    cancels = [e for e in fake.entries("cancel")] + [e for e in fake.entries("cancel_all") if e["n"]]
    assert len(cancels) <= 2, cancels
    # An edit is never taken for a cancel: no order of ours ended 'cancelled' before the shutdown.
    stop_t = max(e["t"] for e in fake.entries("cancel") + fake.entries("cancel_all")) if cancels else 10**15
    early = query(db, "SELECT COUNT(*) FROM order_events WHERE event='cancelled' AND ts_ms < ?", (stop_t - 50,))
    assert early[0][0] == 0
    assert fake.resting() == []
    assert fake.entries("bad_sig") == []
    assert not [e for e in events(db, "feed") if "unreadable" in e[1]]
    assert_no_secret(db, out, err)
