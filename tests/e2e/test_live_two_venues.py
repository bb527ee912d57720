"""End to end: one `python -m mm_bot.run --config-dir` process trading two venues live at once
(Hyperliquid and StandX, each against its local fake): one runner per venue, one signal handler and
one commands poller for both. A manual pause reaches only its bot; SIGTERM cancels every order on
both venues; both venues' secrets stay out of the output and the DB."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.e2e import test_live_hyperliquid as hl
from tests.e2e import test_live_standx as sx
from tests.e2e.conftest import REPO, query, run_script

if not hl.fakes.FIXTURES.exists():
    pytest.skip(f"shared fixtures not found: {hl.fakes.FIXTURES}", allow_module_level=True)


def test_two_venues_in_one_process(tmp_path):
    fhl = hl.fakes.FakeHyperliquid(hl.AGENT, hl.ACCOUNT).start()
    fsx = sx.FakeStandx(sx.JWT, sx.StandxSigner(sx.SEED).public_key).start()
    try:
        d = tmp_path / "configs"
        d.mkdir()
        (d / "hl.json").write_text(json.dumps(hl.CONFIG))
        (d / "sx.json").write_text(json.dumps(sx.CONFIG))
        db = tmp_path / "two.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HL_", "WOOFI_", "STANDX_"))}
        env.update(HL_SECRET_KEY=hl.SECRET, HL_ACCOUNT_ADDRESS=hl.ACCOUNT, HL_REST_URL=fhl.rest_url,
                   HL_WS_URL=fhl.ws_url, STANDX_JWT=sx.JWT, STANDX_REQUEST_SIGNING_KEY=sx.KEY,
                   STANDX_API_BASE=fsx.rest_url, STANDX_WS_URL=fsx.ws_url)
        proc = subprocess.Popen([sys.executable, "-m", "mm_bot.run", "--config-dir", str(d), "--db", str(db)],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            hl.wait_for(lambda: hl.two_sided(fhl), 25, "Hyperliquid quotes")
            sx.wait_for(lambda: sx.two_sided(fsx), 25, "StandX quotes")
            out = run_script("scripts/kill.py", "--db", str(db), "--bot", "sx-live", "--pause", "--wait", "10")
            assert out.returncode == 0, out.stdout + out.stderr
            sx.wait_for(lambda: not [o for o in fsx.resting() if o["cl_ord_id"]], 10, "StandX quotes pulled")
            assert hl.two_sided(fhl), "the pause reached only its bot"
        finally:
            rc, out, err = hl.stop_runner(proc, signal.SIGTERM)
        assert rc == 0, err[-3000:]
        assert fhl.resting() == [] and fsx.resting() == []
        stops = [m for (m,) in query(db, "SELECT message FROM system_events WHERE kind='stop' AND bot_id IS NULL")]
        assert sum("open orders on the venue: 0" in m for m in stops) == 2, stops
        statuses = dict(query(db, "SELECT bot_id, status FROM bots"))
        assert statuses == {"hl-live": "stopped", "sx-live": "stopped"}
        hl.assert_no_secret(db, out, err)
        sx.assert_no_secret(db, out, err)
    finally:
        fhl.stop()
        fsx.stop()
