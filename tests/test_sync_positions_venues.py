"""scripts/sync_positions.py on WOOFi Pro and StandX (their local fakes): a live runner is killed with
its quotes resting, one of them fills while it is down, and the sync brings that fill into the DB
once (exact lots, positions equal to the signed fills and to the venue); a second run changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from tests.e2e import test_live_standx as sx
from tests.e2e import test_live_woofi as wo
from tests.e2e.conftest import REPO, assert_positions_reconcile, query


def _run_sync(db, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "scripts/sync_positions.py", "--db", str(db), "--json"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("venue", ["woofi_pro", "standx"])
def test_sync_brings_in_a_fill_made_while_the_runner_was_down(venue, tmp_path):
    mod = wo if venue == "woofi_pro" else sx
    if venue == "woofi_pro":
        fake = wo.FakeWoofi(wo.ACCOUNT, wo.KEY).start()
        env_keys = dict(WOOFI_ACCOUNT_ID=wo.ACCOUNT, WOOFI_ORDERLY_KEY=wo.KEY, WOOFI_ORDERLY_SECRET=wo.SECRET,
                        **fake.env())
        bid, trade_id = "BUY", lambda t: str(t["trade_id"])
        bot, lot = wo.CONFIG["bot_id"], None
    else:
        fake = sx.FakeStandx(sx.JWT, sx.StandxSigner(sx.SEED).public_key).start()
        env_keys = dict(STANDX_JWT=sx.JWT, STANDX_REQUEST_SIGNING_KEY=sx.KEY, STANDX_API_BASE=fake.rest_url,
                        STANDX_WS_URL=fake.ws_url)
        bid, trade_id = "buy", sx.fill_id
        bot, lot = sx.CONFIG["bot_id"], sx.LOT
    try:
        db = tmp_path / "sync.db"
        proc = mod.start_runner(fake, tmp_path, db)
        try:
            mod.wait_for(lambda: mod.two_sided(fake), 25, "quotes")
            time.sleep(0.6)  # the order rows reach the DB
        finally:
            proc.kill()  # no clean shutdown: the quotes stay resting
            proc.communicate(timeout=10)
        t = fake.trade_through(mod.COIN, bid)
        assert t is not None
        fid = trade_id(t)
        assert query(db, "SELECT COUNT(*) FROM fills WHERE fill_id=?", (fid,))[0][0] == 0
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HL_", "WOOFI_", "STANDX_"))}
        env.update(env_keys)
        r = _run_sync(db, env)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        rows = query(db, "SELECT bot_id, side FROM fills WHERE fill_id=?", (fid,))
        assert rows == [(bot, "buy")]
        assert_positions_reconcile(db)
        pos = query(db, "SELECT size_lots FROM positions WHERE bot_id=? AND coin=?", (bot, mod.COIN))[0][0]
        if lot is not None:
            assert Decimal(pos) * lot == fake.position(mod.COIN)
        else:
            assert pos > 0 and fake.position(mod.COIN) > 0
        before = query(db, "SELECT COUNT(*) FROM fills")[0][0]
        r2 = _run_sync(db, env)
        assert r2.returncode == 0, r2.stderr[-2000:]
        assert query(db, "SELECT COUNT(*) FROM fills")[0][0] == before, "a second sync inserts nothing"
        for s in mod.SECRETS:
            assert s not in r.stdout + r.stderr + r2.stdout + r2.stderr
    finally:
        fake.stop()
