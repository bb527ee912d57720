"""End to end: the live runner (`python -m mm_bot.run`, mode testnet) against a local fake Hyperliquid.

Every URL points at tests/fakes/hyperliquid.py on 127.0.0.1 (HL_REST_URL / HL_WS_URL); the fake
verifies each /exchange signature against the agent key below and speaks the real wire format.
Covered: subscribe, quote, fill, cancel; a WebSocket drop (reconnect, resubscribe, resync, no order
placed while the book was stale, a fill made during the outage recorded once); a 429 storm
(back-off, a rate_limit system event, no crash); a restart after SIGKILL (stray orders cancelled,
a fill made while down recovered, positions restored and matching the venue); SIGTERM cancels
every order; the secret key appears nowhere in the output or the DB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    REPO,
    assert_positions_reconcile,
    assert_secrets_absent,
    events,
    query,
    stop_runner,
    wait_for,
)

fakes = pytest.importorskip("tests.fakes.hyperliquid")
if not fakes.FIXTURES.exists():
    pytest.skip(f"shared fixtures not found: {fakes.FIXTURES}", allow_module_level=True)

from eth_account import Account  # noqa: E402

SECRET = "0x" + "11" * 32
AGENT = Account.from_key(SECRET).address
ACCOUNT = "0x" + "22" * 20
COIN = "DYDX"
CONFIG = {
    "bot_id": "hl-live", "venue": "hyperliquid", "mode": "testnet", "coins": [COIN], "loop_ms": 200,
    "size_notional_usd": 20, "max_per_coin_notional": 200, "max_gross_notional": 400,
    "max_symbol_notional": 200, "min_spread_bps": 10, "min_replace_ms": 300, "refresh_jitter_ms": 0,
}




@pytest.fixture
def fake():
    f = fakes.FakeHyperliquid(AGENT, ACCOUNT).start()
    yield f
    f.stop()


def start_runner(fake, tmp_path: Path, db: Path, **overrides) -> subprocess.Popen:
    import json

    cfg = tmp_path / "live.json"
    cfg.write_text(json.dumps({**CONFIG, **overrides}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HL_", "WOOFI_", "STANDX_"))}
    env.update(HL_SECRET_KEY=SECRET, HL_ACCOUNT_ADDRESS=ACCOUNT, HL_REST_URL=fake.rest_url, HL_WS_URL=fake.ws_url)
    return subprocess.Popen([sys.executable, "-m", "mm_bot.run", "--config", str(cfg), "--db", str(db)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)




def two_sided(fake):
    rest = fake.resting()
    sides = {o["side"] for o in rest if o["coin"] == COIN and o["cloid"]}
    return rest if sides == {"A", "B"} else None






def assert_no_secret(db: Path, *texts: str) -> None:
    assert_secrets_absent(db, [SECRET[2:]], *texts)


def test_live_quote_fill_429_reconnect_and_sigterm(fake, tmp_path):
    db = tmp_path / "live.db"
    proc = start_runner(fake, tmp_path, db)
    try:
        rest = wait_for(lambda: two_sided(fake), 20, "a bid and an ask resting at the fake")
        # Subscriptions: book + trades of the coin, orderUpdates + userFills of the account.
        subs = [e["sub"] for e in fake.entries("ws") if e["event"] == "subscribe"]
        assert {"type": "l2Book", "coin": COIN} in subs and {"type": "trades", "coin": COIN} in subs
        assert {"type": "orderUpdates", "user": ACCOUNT} in subs and {"type": "userFills", "user": ACCOUNT} in subs
        # Reads are made for the account, never the agent; orders are ALO with our cloids.
        users = {e["user"] for e in fake.entries("info") if e["user"]}
        assert users == {ACCOUNT}
        orders = [e for e in fake.entries("exchange") if e["type"] == "order"]
        assert orders and all(t == "Alo" for e in orders for t in e["tifs"])
        assert all(o["tif"] == "Alo" and o["cloid"].startswith("0x") for o in rest)
        armed = [e for e in fake.entries("exchange") if e["type"] == "scheduleCancel"]
        assert armed and armed[0]["time"] is not None

        # A trade prints through our bid: a fills row (maker, exact lots) and a position.
        fill = fake.trade_through(COIN, "B")
        assert fill is not None
        row = wait_for(lambda: query(db, "SELECT bot_id, side, size_lots, maker, cloid FROM fills WHERE fill_id=?",
                                     (str(fill["tid"]),)), 10, "the fill in the DB")
        assert row[0] == ("hl-live", "buy", 94, 1, fill["cloid"])
        wait_for(lambda: two_sided(fake), 10, "the bid placed again")

        # 429 storm: the next requests get HTTP 429; the runner backs off and carries on.
        fake.fail_next(3)
        assert fake.trade_through(COIN, "A") is not None  # the ask must be placed again -> 429s
        wait_for(lambda: [e for e in events(db, "rate_limit") if e[0] == "warning"], 15, "a rate_limit event")
        wait_for(lambda: two_sided(fake), 20, "quotes back after the back-off")
        assert proc.poll() is None, "runner died during the 429 storm"
        assert len(fake.entries("http_error")) == 3

        # WebSocket drop: no l2Book for 2 s on the new connection; a fill happens during the outage.
        n_subs = len(subs)
        drop_t = int(time.time() * 1000)
        # Two connections: the market stream (l2Book + trades) and the user stream.
        assert fake.drop_ws(book_delay_s=2.0) == 2
        lost = fake.trade_through(COIN, "B")
        wait_for(lambda: [e for e in fake.entries("ws") if e["event"] == "first_book" and e["t"] > drop_t],
                 20, "a fresh l2Book after the reconnect")
        first_book = min(e["t"] for e in fake.entries("ws") if e["event"] == "first_book" and e["t"] > drop_t)
        resubs = [e for e in fake.entries("ws") if e["event"] == "subscribe" and e["t"] > drop_t]
        assert len(resubs) == n_subs, "every subscription sent again"
        placed_stale = [e for e in fake.entries("exchange")
                        if e["type"] == "order" and drop_t + 100 < e["t"] < first_book]
        assert not placed_stale, f"orders placed while the book was stale: {placed_stale}"
        wait_for(lambda: two_sided(fake), 15, "quotes back after the reconnect")
        assert [e for e in events(db, "feed") if "reconnected" in e[1]]
        if lost is not None:
            wait_for(lambda: query(db, "SELECT 1 FROM fills WHERE fill_id=?", (str(lost["tid"]),)), 10,
                     "the fill made during the outage")
    finally:
        rc, out, err = stop_runner(proc)
    assert rc == 0, err[-3000:]
    assert fake.resting() == [], "SIGTERM must leave no order resting"
    last_sched = [e for e in fake.entries("exchange") if e["type"] == "scheduleCancel"][-1]
    assert last_sched["time"] is None, "dead man's switch disarmed at a clean exit"
    stop = [e for e in events(db, "stop") if e[1].startswith("runner stopped")]
    assert stop and stop[-1][0] == "info" and "open orders on the venue: 0" in stop[-1][1]
    # Every fill once; position rows equal the signed fills; equal to the venue's position.
    assert_positions_reconcile(db)
    pos = query(db, "SELECT size_lots FROM positions WHERE bot_id='hl-live' AND coin=?", (COIN,))[0][0]
    assert Decimal(pos) / 10 == fake.position(COIN)
    ids = [r[0] for r in query(db, "SELECT fill_id FROM fills")]
    assert len(ids) == len(set(ids)) == len(fake.entries("fill"))
    if query(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='nonces'"):
        assert query(db, "SELECT signer FROM nonces") == [(AGENT.lower(),)], "the agent's last nonce is saved"
    assert_no_secret(db, out, err)


def test_restart_reconciles_orders_and_positions(fake, tmp_path):
    db = tmp_path / "restart.db"
    proc = start_runner(fake, tmp_path, db)
    try:
        wait_for(lambda: two_sided(fake), 20, "quotes of the first run")
        fill = fake.trade_through(COIN, "B")
        wait_for(lambda: query(db, "SELECT 1 FROM fills WHERE fill_id=?", (str(fill["tid"]),)), 10, "fill 1")
        wait_for(lambda: two_sided(fake), 10, "the bid placed again")
        time.sleep(0.6)  # let the writer land the new order rows
    finally:
        proc.kill()  # no clean shutdown: orders stay resting
        proc.communicate(timeout=10)
    leftovers = fake.resting()
    assert len(leftovers) == 2
    # A fill while the runner is down, on an order the DB knows.
    down_fill = fake.trade_through(COIN, "B")
    assert down_fill is not None
    leftover_oids = {o["oid"] for o in fake.resting()}
    restart_t = int(time.time() * 1000)

    proc = start_runner(fake, tmp_path, db)
    try:
        wait_for(lambda: two_sided(fake) and not ({o["oid"] for o in fake.resting()} & leftover_oids), 20,
                 "leftover orders cancelled and fresh quotes")
        ex = [e for e in fake.entries("exchange") if e["t"] >= restart_t]
        cancel_t = max(e["t"] for e in ex if e["type"] == "cancel" and set(e["targets"]) & leftover_oids)
        first_order_t = min(e["t"] for e in ex if e["type"] == "order")
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
    assert venue == Decimal(fill["sz"]) + Decimal(down_fill["sz"])
    pos = query(db, "SELECT size_lots FROM positions WHERE bot_id='hl-live' AND coin=?", (COIN,))[0][0]
    assert Decimal(pos) / 10 == venue
    assert query(db, "SELECT COUNT(*) FROM fills WHERE fill_id=?", (str(down_fill["tid"]),))[0][0] == 1
    assert_positions_reconcile(db)
    assert_no_secret(db, out, err)


def test_books_by_rest_when_websocket_is_off_and_during_an_outage(fake, tmp_path):
    """use_websocket false: no l2Book subscription, books polled by /info l2Book, quotes as usual.
    Then with the WebSocket on: connections refused for 8 s -> REST books after 5 s, quotes go on."""
    db = tmp_path / "rest.db"
    proc = start_runner(fake, tmp_path, db, use_websocket=False, market_data_update_freq=2)
    try:
        wait_for(lambda: two_sided(fake), 20, "quotes on REST books")
        subs = [e["sub"]["type"] for e in fake.entries("ws") if e["event"] == "subscribe"]
        assert "l2Book" not in subs and "orderUpdates" in subs, subs
        wait_for(lambda: len([e for e in fake.entries("info") if e["type"] == "l2Book"]) >= 3, 5,
                 "books polled again and again")
    finally:
        rc, out, err = stop_runner(proc)
    assert rc == 0, err[-3000:]
    assert fake.resting() == []
    assert "books from REST every 0.4 s" in " ".join(m for _, m, _ in events(db, "start"))

    db2 = tmp_path / "outage.db"
    proc = start_runner(fake, tmp_path, db2)
    try:
        wait_for(lambda: two_sided(fake), 20, "quotes on WebSocket books")
        drop_t = int(time.time() * 1000)
        fake.drop_ws(refuse_s=9.0)
        wait_for(lambda: [e for e in fake.entries("info") if e["type"] == "l2Book" and e["t"] > drop_t + 4500],
                 15, "REST books after the stream stayed down")
        polls = [e["t"] for e in fake.entries("info") if e["type"] == "l2Book" and e["t"] > drop_t]
        assert min(polls) >= drop_t + 4500, "no REST books during a short outage"
        # Quotes on REST books, before the stream is back.
        wait_for(lambda: two_sided(fake), 10, "quotes on REST books")
        assert int(time.time() * 1000) < drop_t + 9000, "quoted only after the stream came back"
        assert not [e for e in fake.entries("ws") if e["event"] == "first_book" and e["t"] > drop_t]
        wait_for(lambda: [e for e in fake.entries("ws") if e["event"] == "first_book" and e["t"] > drop_t],
                 25, "the stream back")
    finally:
        rc, out, err = stop_runner(proc)
    assert rc == 0, err[-3000:]
    assert fake.resting() == []
    assert_positions_reconcile(db2)


def test_requote_by_batch_modify(fake, tmp_path):
    """requote_with_modify: a moving market moves our orders in place with batchModify (new oids,
    same cloids); the old oid's "canceled" update never closes the order on our side."""
    db = tmp_path / "modify.db"
    proc = start_runner(fake, tmp_path, db, requote_with_modify=True, requote_threshold_bps=2,
                        min_replace_ms=300)
    try:
        first = wait_for(lambda: two_sided(fake), 20, "quotes")
        cloids = {o["cloid"] for o in first}
        for _ in range(3):
            fake.shift_book(COIN, "0.004")  # ~19 bps up
            wait_for(lambda: [e for e in fake.entries("exchange") if e["type"] == "batchModify"
                              and all("resting" in s for s in e["statuses"])], 10, "a batchModify")
            time.sleep(1.0)
        rest = wait_for(lambda: two_sided(fake), 10, "quotes after the moves")
    finally:
        rc, out, err = stop_runner(proc)
    assert rc == 0, err[-3000:]
    mods = [e for e in fake.entries("exchange") if e["type"] == "batchModify"]
    assert mods and all(c in cloids for e in mods for c in e["cloids"]), "modifies keep our cloids"
    # The orders followed the market with the same cloids (no cancel + replace for them).
    assert {o["cloid"] for o in rest} & cloids
    modified = query(db, "SELECT COUNT(*) FROM order_events WHERE event='modified'")[0][0]
    assert modified >= 2
    cancels = [e for e in fake.entries("exchange") if e["type"] == "cancelByCloid"]
    assert len(cancels) <= 1, "requotes went by modify (only the shutdown cancels)"
    amends = query(db, "SELECT COUNT(*) FROM trades WHERE kind='modify'")[0][0]
    assert amends == sum(len(e["cloids"]) for e in mods)
    assert fake.resting() == []
    assert_no_secret(db, out, err)
