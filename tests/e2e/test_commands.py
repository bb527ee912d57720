"""End to end: scripts/kill.py pauses, resumes and stops a running paper runner within a second."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.e2e.conftest import REPO, assert_positions_reconcile, query, run_script


def wait_for(pred, timeout=30.0, step=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return True
        except Exception:  # noqa: BLE001 - the DB may be mid-creation
            pass
        time.sleep(step)
    return False


def test_pause_resume_stop_via_kill_script(tmp_path):
    db = tmp_path / "k.db"
    proc = subprocess.Popen([sys.executable, "-m", "mm_bot.run", "--simulate", "--config",
                             "configs/example-mm.json", "--db", str(db)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: query(db, "SELECT COUNT(*) FROM orders WHERE status='open'")[0][0] > 0)
        out = run_script("scripts/kill.py", "--db", str(db), "--pause", "--wait", "5")
        assert out.returncode == 0, out.stdout + out.stderr
        acted = query(db, "SELECT acted_ms, ts_ms FROM commands WHERE command='pause'")[0]
        assert acted[0] - acted[1] <= 1000, "the runner must act within 1 s"
        # Within a second of acting, nothing rests and nothing new is placed.
        time.sleep(1.0)
        live = query(db, "SELECT COUNT(*) FROM orders WHERE status IN ('open','pending','partially_filled')")
        assert live == [(0,)]
        late = query(db, "SELECT COUNT(*) FROM trades WHERE kind='place' AND ts_ms > ?", (acted[0],))
        assert late == [(0,)]
        ev = query(db, "SELECT kind FROM system_events WHERE bot_id='example-mm' AND kind IN ('pause','resume')")
        assert ("pause",) in ev
        assert query(db, "SELECT status FROM bots WHERE bot_id='example-mm'") == [("paused",)]

        out = run_script("scripts/kill.py", "--db", str(db), "--bot", "example-mm", "--resume", "--wait", "5")
        assert out.returncode == 0, out.stdout + out.stderr
        resumed = query(db, "SELECT acted_ms FROM commands WHERE command='resume'")[0][0]
        assert wait_for(lambda: query(db, "SELECT COUNT(*) FROM trades WHERE kind='place' AND ts_ms > ?",
                                      (resumed,))[0][0] > 0, timeout=10)
        assert ("resume",) in query(db, "SELECT kind FROM system_events WHERE bot_id='example-mm'")

        out = run_script("scripts/kill.py", "--db", str(db), "--stop", "--wait", "5")
        assert out.returncode == 0, out.stdout + out.stderr
        proc.wait(timeout=30)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    stop = query(db, "SELECT message FROM system_events WHERE kind='stop' AND bot_id IS NULL")
    assert "command stop" in stop[-1][0] and "open paper orders: 0" in stop[-1][0]
    assert_positions_reconcile(db)


def test_kill_script_errors(tmp_path):
    out = run_script("scripts/kill.py", "--db", str(tmp_path / "missing.db"), "--pause")
    assert out.returncode == 2 and "no such database" in out.stderr
    junk = tmp_path / "junk.db"
    junk.write_text("not sqlite")
    out = run_script("scripts/kill.py", "--db", str(junk), "--pause")
    assert out.returncode == 2
    out = run_script("scripts/kill.py", "--db", str(junk))
    assert out.returncode == 2
