"""`scripts/report.py --html` output opens in headless Chromium: every chart rendered, no console error.

Debian's chromium (/usr/bin/chromium; `apt-get install chromium`, which `.ci/run` tries in CI) is
started headless on about:blank with the DevTools protocol on 127.0.0.1 (port chosen by Chromium,
read from DevToolsActivePort) and driven over its WebSocket with the `websockets` package:
Runtime and Log are enabled before the report is loaded from a file:// URL, so every console
message, uncaught exception and browser log entry of the page is seen. Nothing leaves the machine:
plotly.js is inline in the report and Chromium's background networking is off. Skips with the
reason when Chromium is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.test_queries import build_db

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio", "--window-size=1400,1000")
CHART_TITLES = ("Equity", "Inventory", "Quoted spread vs market spread", "Maker ratio and cancels per fill",
                "Fills on the price path")
# What the page says about each chart once plotly has drawn it.
PROBE = """(() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(gd => ({
  id: gd.id,
  drawn: gd.classList.contains('js-plotly-plot') && !!gd._fullLayout,
  svgs: gd.querySelectorAll('svg.main-svg').length,
  traces: (gd.data || []).length,
  drawn_traces: gd.querySelectorAll('g.scatterlayer g.trace').length,
  points: gd.querySelectorAll('g.scatterlayer path.js-line, g.scatterlayer path.point').length,
  title: (gd.querySelector('.gtitle') || {}).textContent || '',
  width: gd.getBoundingClientRect().width, height: gd.getBoundingClientRect().height,
})))()"""

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Chromium not installed (/usr/bin/chromium; apt-get install chromium)")


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page target's WebSocket."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, timeout: float = 20, **params) -> dict:
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 20) -> dict:
        for e in self.events:
            if e["method"] == method:
                return e
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg

    def drain(self, seconds: float) -> None:
        """Collect the events that arrive within `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                return
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expr: str):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluate failed: {r['exceptionDetails']}")
        return r["result"].get("value")


def problems(events: list[dict]) -> list[str]:
    """Console errors and warnings, uncaught exceptions and error log entries among the events."""
    out = []
    for e in events:
        m, p = e["method"], e.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            out.append(f"console.{p['type']}: {text}")
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.append(f"exception: {d.get('text')} {d.get('exception', {}).get('description', '')}")
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
            ent = p["entry"]
            out.append(f"log.{ent['level']} ({ent.get('source')}): {ent.get('text')} {ent.get('url', '')}")
    return out


@pytest.fixture
def chromium(tmp_path):
    """A headless Chromium on about:blank; yields the page's DevTools client. Killed afterwards."""
    profile = tmp_path / "profile"
    profile.mkdir()
    log = (tmp_path / "chromium.log").open("w")
    proc = subprocess.Popen([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                             "about:blank"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"Chromium did not start (exit {proc.poll()}): "
                            f"{(tmp_path / 'chromium.log').read_text()[-2000:]}")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t.get("type") == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
            yield DevTools(ws)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


def test_report_html_renders_in_chromium(tmp_path, chromium):
    db = tmp_path / "r.db"
    build_db(db, kill=True)
    out = tmp_path / "report.html"
    r = subprocess.run([sys.executable, "scripts/report.py", "--db", str(db), "--html", str(out)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    n_charts = out.read_text().count('class="plotly-graph-div"')
    assert n_charts == len(CHART_TITLES)

    dt = chromium
    dt.call("Page.enable")
    dt.call("Runtime.enable")
    dt.call("Log.enable")
    dt.events.clear()  # about:blank's own events
    t0 = time.monotonic()
    nav = dt.call("Page.navigate", url=out.as_uri())
    assert not nav.get("errorText"), nav
    dt.wait_event("Page.loadEventFired", timeout=30)
    charts: list[dict] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # plotly draws asynchronously after load
        charts = dt.evaluate(PROBE)
        if len(charts) == n_charts and all(c["drawn"] and c["drawn_traces"] >= c["traces"] > 0 for c in charts):
            break
        time.sleep(0.1)
    dt.drain(0.5)  # late console messages
    load_s = time.monotonic() - t0
    print(f"report.html ({out.stat().st_size / 1e6:.1f} MB) loaded and drawn in Chromium in {load_s:.2f} s")

    assert [c["id"] for c in charts] == [f"chart-{i}" for i in range(1, n_charts + 1)]
    for c, title in zip(charts, CHART_TITLES, strict=True):
        assert c["drawn"], f"{c['id']} not drawn by plotly: {c}"
        assert c["svgs"] >= 1, f"{c['id']} has no svg.main-svg: {c}"
        assert c["traces"] > 0 and c["drawn_traces"] >= c["traces"], f"{c['id']}: traces not drawn: {c}"
        assert c["points"] > 0, f"{c['id']}: no line or marker drawn: {c}"
        assert c["width"] > 100 and c["height"] > 100, f"{c['id']} has no size: {c}"
        assert c["title"].startswith(title), f"{c['id']}: title {c['title']!r}"
    total_svgs = dt.evaluate("document.querySelectorAll('.main-svg').length")
    assert total_svgs >= n_charts
    # The tables are there too.
    assert dt.evaluate("document.querySelectorAll('table').length") == 4
    assert dt.evaluate("location.protocol") == "file:"
    bad = problems(dt.events)
    assert not bad, "console errors in the report page:\n" + "\n".join(bad)


def test_console_errors_are_seen(tmp_path, chromium):
    """The harness itself: a page with a console error and an uncaught exception is caught."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><script>console.error('boom');"
                    "setTimeout(() => { throw new Error('late'); }, 10);</script></body></html>")
    dt = chromium
    dt.call("Page.enable")
    dt.call("Runtime.enable")
    dt.call("Log.enable")
    dt.events.clear()
    dt.call("Page.navigate", url=page.as_uri())
    dt.wait_event("Page.loadEventFired")
    dt.drain(0.5)
    bad = problems(dt.events)
    assert any("console.error: boom" in b for b in bad), bad
    assert any("late" in b for b in bad), bad
