"""Market-data recorder (mm_bot.record), offline: local websockets servers on 127.0.0.1 that speak
Hyperliquid's and Orderly's public wire format, drop the connection once, and check that the
recorder resubscribes; file rotation with an injected clock; crash safety of the gzip."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from websockets.asyncio.server import serve

from mm_bot.record import (
    HEARTBEAT,
    HL_WS_MAINNET,
    HL_WS_TESTNET,
    ORDERLY_WS_MAINNET,
    PUBLIC_ACCOUNT_PLACEHOLDER,
    RECORD,
    REPLY_PONG,
    Backoff,
    Recorder,
    RecordError,
    RotatingGzipWriter,
    _Console,
    classify,
    default_url,
    subscriptions,
    venue_error,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_FIX = SHARED / "fixtures"
LOCAL_FIX = Path(__file__).resolve().parent / "fixtures" / "record"
HL_DUMP = SHARED / "data" / "hyperliquid" / "btcusd_20250126.gz"
NS_DAY = 86_400 * 10**9
MIDNIGHT = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp()) * 10**9  # 2027-01-01 00:00 UTC


def compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def shared_msg(venue_dir: str, name: str, key: str = "msg") -> dict:
    path = SHARED_FIX / venue_dir / name
    if not path.exists():
        pytest.skip(f"shared fixture not found: {path} (expected ../shared beside the repo root)")
    return json.loads(path.read_text(encoding="utf-8"))[key]


def payloads(venue: str, source: str) -> list[str]:
    """Data frames (text) the fake venue streams: the shared real payloads or the local fallback."""
    if source == "local":
        return [compact(m) for m in json.loads((LOCAL_FIX / f"{venue}.json").read_text())["msgs"]]
    if venue == "hyperliquid":
        return [compact(shared_msg("hyperliquid", n)) for n in ("ws_l2Book.json", "ws_trades.json")]
    names = ("ws_orderbook.json", "ws_orderbookupdate.json", "ws_trade.json")
    return [compact(shared_msg("orderly", n)) for n in names]


def ping_frames(venue: str, source: str) -> tuple[str, str]:
    """(Hyperliquid pong reply, Orderly server ping) frames."""
    if source == "shared":
        return compact(shared_msg("hyperliquid", "ws_ping.json", "reply")), compact(
            shared_msg("orderly", "ws_ping.json")
        )
    return '{"channel":"pong"}', '{"event":"ping"}'


def read_lines(path: Path) -> list[tuple[str, str]]:
    """(stamp, frame text) of each line of a complete gzip file."""
    out = []
    for line in gzip.decompress(path.read_bytes()).decode().splitlines():
        ns, _, text = line.partition(" ")
        out.append((ns, text))
    return out


def prefix_lines(path: Path) -> list[str]:
    """Complete lines decompressible from a gzip that may lack its end (a killed writer)."""
    data = zlib.decompressobj(31).decompress(path.read_bytes())
    return data.decode().split("\n")[:-1]


class FakeVenue:
    """One venue's public WS endpoint on 127.0.0.1.

    Per connection: (Hyperliquid) greets with a non-JSON text line and sends a binary frame;
    reads every expected subscription and acks each; Hyperliquid: waits for a client
    {"method":"ping"} (unless wait_ping is false) and answers {"channel":"pong"}; Orderly: sends {"event":"ping"} and waits
    for the pong. Then streams the payloads. The first connection is then dropped (TCP closed,
    no close frame) once the frames have left; later ones stay open answering pings.
    ``sent`` = every frame the recorder should record, in order.
    """

    def __init__(
        self, venue: str, coins: list[str], data: list[str], pings: tuple[str, str], wait_ping: bool = True
    ) -> None:
        self.venue, self.coins, self.data, self.wait_ping = venue, coins, data, wait_ping
        self.hl_pong, self.orderly_ping = pings
        self.sent: list[str] = []
        self.subs: list[list] = []  # per connection, the subscriptions received
        self.pongs: list[dict] = []  # Orderly pong replies received
        self.hl_pings = 0
        self.errors: list[BaseException] = []
        self.url = ""

    async def __aenter__(self) -> FakeVenue:
        self._server = await serve(self.handler, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/ws"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _send(self, ws, frame: str, record: bool = True) -> None:
        await ws.send(frame)
        if record:
            self.sent.append(frame)

    async def handler(self, ws) -> None:
        try:
            await self._handle(ws)
        except Exception as exc:  # surfaced by the test through self.errors
            self.errors.append(exc)
            raise

    async def _handle(self, ws) -> None:
        n = len(self.subs)
        subs: list = []
        self.subs.append(subs)
        hl = self.venue == "hyperliquid"
        if hl:
            await ws.send("Websocket connection established.")
            await ws.send(b"\x00\x01binary")
        want = len(self.coins) * (2 if hl else 3)
        pinged = False
        while len(subs) < want:
            m = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if hl and m == {"method": "ping"}:
                pinged = True
                self.hl_pings += 1
                await ws.send(self.hl_pong)
                continue
            if hl:
                assert m["method"] == "subscribe", m
                subs.append(m["subscription"])
                ack = {
                    "channel": "subscriptionResponse",
                    "data": {"method": "subscribe", "subscription": m["subscription"]},
                }
            else:
                assert m["event"] == "subscribe" and isinstance(m["id"], str), m
                subs.append(m["topic"])
                ack = {
                    "id": m["id"],
                    "event": "subscribe",
                    "success": True,
                    "ts": 1767225599000 + len(self.sent),
                }
            await self._send(ws, compact(ack))
        if hl and self.wait_ping and not pinged:
            while json.loads(await asyncio.wait_for(ws.recv(), 5)) != {"method": "ping"}:
                pass
            self.hl_pings += 1
            await ws.send(self.hl_pong)
        if not hl:
            await ws.send(self.orderly_ping)
            self.pongs.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        for frame in self.data:
            await self._send(ws, frame)
        if n == 0:  # drop the first connection once its frames have left the process
            while ws.transport.get_write_buffer_size():
                await asyncio.sleep(0.005)
            ws.transport.abort()
            return
        async for m in ws:  # stay up, answer pings, until the recorder closes
            if json.loads(m) == {"method": "ping"}:
                self.hl_pings += 1
                await ws.send(self.hl_pong)


def expected_subs(venue: str, coins: list[str]) -> list:
    msgs = [json.loads(m) for m in subscriptions(venue, coins, lambda: "x")]
    return [m["subscription"] for m in msgs] if venue == "hyperliquid" else [m["topic"] for m in msgs]


def fast_recorder(venue: str, coins: list[str], out: Path, url: str, **kw) -> Recorder:
    return Recorder(
        venue,
        coins,
        out,
        url,
        backoff=Backoff(initial=0.05, cap=0.2),
        ping_interval_s=0.05,
        idle_timeout_s=5,
        flush_interval_s=0.05,
        proxy=None,
        **kw,
    )


async def record_through(venue: str, coins: list[str], data: list[str], pings, out: Path, **kw):
    """Run a recorder against a FakeVenue until it recorded both connections' frames."""
    async with FakeVenue(venue, coins, data, pings) as srv:
        n_acks = len(coins) * (2 if venue == "hyperliquid" else 3)
        total = 2 * (n_acks + len(data))
        rec = fast_recorder(venue, coins, out, srv.url, max_messages=total, **kw)
        st = await asyncio.wait_for(rec.run(asyncio.Event()), 15)
    assert not srv.errors, srv.errors
    return srv, rec, st


# ---------------------------------------------------------------------------- live-shaped streams


@pytest.mark.parametrize("source", ["shared", "local"])
@pytest.mark.parametrize("venue", ["hyperliquid", "woofi_pro"])
def test_records_frames_reconnects_and_resubscribes(tmp_path, venue, source):
    data = payloads(venue, source)
    pings = ping_frames(venue, source)
    coins = ["BTC", "ETH"]
    srv, rec, st = asyncio.run(record_through(venue, coins, data, pings, tmp_path))

    # one file for the venue and day, holding exactly the recordable frames, verbatim, in order
    files = sorted(tmp_path.iterdir())
    assert len(files) == 1 and files == st.files
    day = datetime.fromtimestamp(int(read_lines(files[0])[0][0]) / 1e9, UTC).strftime("%Y%m%d")
    assert files[0].name == f"{venue}_{day}.gz"
    lines = read_lines(files[0])
    assert [t for _, t in lines] == srv.sent
    assert [json.loads(t) for _, t in lines] == [json.loads(f) for f in srv.sent]
    stamps = [int(ns) for ns, _ in lines]
    assert all(len(ns) == 19 and ns.isdigit() for ns, _ in lines)
    assert stamps == sorted(stamps)
    for frame in data:  # every payload recorded once per connection
        assert sum(t == frame for _, t in lines) == 2

    # the drop was survived: two connections, everything subscribed on both
    assert len(srv.subs) == 2
    want = expected_subs(venue, coins)
    assert srv.subs[0] == want and srv.subs[1] == want
    assert (st.connects, st.drops, st.recorded) == (2, 1, len(srv.sent))
    assert st.subscribe_sent == 2 * len(want)

    # heartbeats: answered / sent, never recorded
    assert not any('"pong"' in t or '"ping"' in t for _, t in lines)
    if venue == "hyperliquid":
        assert srv.hl_pings >= 2 and st.pings_sent >= 2 and st.heartbeats >= 2
        assert st.non_json == 2 and st.binary == 2  # greeting line and binary frame, per connection
    else:
        assert srv.pongs == [{"event": "pong"}, {"event": "pong"}]
        assert st.pongs_sent == 2 and st.heartbeats == 2
        ids = {json.loads(t)["id"] for _, t in lines if '"event":"subscribe"' in t}
        assert len(ids) == 2 * len(want)  # fresh ids on resubscribe


def test_recorded_dump_replays_like_the_original(tmp_path):
    """The real Hyperliquid dump streamed through the fake venue: the recording holds the same
    JSON texts byte for byte, and the replay reader reads it back into the same books."""
    if not HL_DUMP.exists():
        pytest.skip(f"shared data not found: {HL_DUMP}")
    texts = [line.partition(" ")[2] for line in gzip.decompress(HL_DUMP.read_bytes()).decode().splitlines()]
    srv, rec, st = asyncio.run(
        record_through("hyperliquid", ["BTC"], texts, ping_frames("hyperliquid", "local"), tmp_path)
    )
    (path,) = st.files
    got = [t for _, t in read_lines(path)]
    assert got == srv.sent and len(got) == 2 * (2 + len(texts))
    assert got[2 : 2 + len(texts)] == texts and got[4 + len(texts) :] == texts  # after the 2 acks
    feeds = pytest.importorskip("mm_bot.sim.feeds", reason="replay reader not importable")
    orig = [e for e in feeds.open_replay(str(HL_DUMP)) if type(e).__name__ == "BookUpdate"]
    back = [e for e in feeds.open_replay(str(path)) if type(e).__name__ == "BookUpdate"]
    assert len(back) == 2 * len(orig) > 0
    assert [(e.bids, e.asks) for e in back] == [(e.bids, e.asks) for e in orig] * 2


# ---------------------------------------------------------------------------- rotation


class StepClock:
    """Injected wall clock: starts at `start` ns and advances `step` ns per call."""

    def __init__(self, start: int, step: int) -> None:
        self.now, self.step = start - step, step

    def __call__(self) -> int:
        self.now += self.step
        return self.now


def test_recorder_rotates_at_utc_midnight(tmp_path):
    data = payloads("hyperliquid", "local")
    clock = StepClock(MIDNIGHT - 4 * 10**9, 10**9)  # 4 s before 2027-01-01 00:00 UTC, +1 s per call
    srv, rec, st = asyncio.run(
        record_through(
            "hyperliquid", ["BTC"], data, ping_frames("hyperliquid", "local"), tmp_path, clock=clock
        )
    )
    old, new = tmp_path / "hyperliquid_20261231.gz", tmp_path / "hyperliquid_20270101.gz"
    assert sorted(tmp_path.iterdir()) == [old, new] and st.files == [old, new]
    a, b = read_lines(old), read_lines(new)  # both complete gzips
    assert a and b and [t for _, t in a + b] == srv.sent
    assert all(int(ns) < MIDNIGHT for ns, _ in a) and all(int(ns) >= MIDNIGHT for ns, _ in b)


def test_writer_rotation_names_and_tick(tmp_path):
    clock = StepClock(MIDNIGHT - 2 * 10**9, 0)
    w = RotatingGzipWriter(tmp_path, "woofi_pro", clock, flush_interval_s=60)
    assert w.write('{"a":1}') == MIDNIGHT - 2 * 10**9
    w.write('{"a":\n2}\r', MIDNIGHT - 1)  # newline whitespace in a frame: still one line
    assert w.path == tmp_path / "woofi_pro_20261231.gz"
    clock.now = MIDNIGHT  # midnight passes with no message: the old day's file is closed
    w.tick()
    assert w.path is None
    assert read_lines(tmp_path / "woofi_pro_20261231.gz") == [
        (str(MIDNIGHT - 2 * 10**9), '{"a":1}'),
        (str(MIDNIGHT - 1), '{"a": 2} '),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["woofi_pro_20261231.gz"]  # no empty new file
    w.write('{"b":1}', MIDNIGHT + NS_DAY + 5)  # a day later
    w.close()
    w.close()
    assert read_lines(tmp_path / "woofi_pro_20270102.gz") == [(str(MIDNIGHT + NS_DAY + 5), '{"b":1}')]
    # a second run on the same day never appends to (possibly truncated) earlier files
    w2 = RotatingGzipWriter(tmp_path, "woofi_pro", clock)
    w2.write('{"c":1}', MIDNIGHT - 10)
    w2.close()
    assert w2.files == [tmp_path / "woofi_pro_20261231.1.gz"]
    assert read_lines(w2.files[0]) == [(str(MIDNIGHT - 10), '{"c":1}')]
    assert len(read_lines(tmp_path / "woofi_pro_20261231.gz")) == 2


# ---------------------------------------------------------------------------- crash safety


def test_sync_flush_leaves_readable_prefix(tmp_path):
    clock = StepClock(MIDNIGHT + 10**9, 10**8)  # 0.1 s per line
    w = RotatingGzipWriter(tmp_path, "hyperliquid", clock, flush_interval_s=0.5)
    for i in range(23):
        w.write(compact({"channel": "trades", "data": [{"i": i}]}))
    # not closed (the process "died"): lines up to the last flush (every 0.5 s) decompress
    (path,) = w.files
    got = prefix_lines(path)
    assert 20 <= len(got) < 23
    for i, line in enumerate(got):
        ns, _, text = line.partition(" ")
        assert len(ns) == 19 and json.loads(text) == {"channel": "trades", "data": [{"i": i}]}
    with pytest.raises(EOFError):
        gzip.decompress(path.read_bytes())
    raw = pytest.importorskip("mm_bot.sim.feeds.raw", reason="replay reader not importable")
    seen = []
    with pytest.raises(raw.ReplayError, match="truncated gzip"):
        for _, block in raw.iter_blocks(path):
            seen += block
    assert [b.decode() for b in seen] == got
    w.close()
    assert len(read_lines(w.files[0])) == 23


def _cli_env(url: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HL_", "WOOFI_")) and "proxy" not in k.lower()
    }
    env["HL_WS_URL"] = url
    return env


async def _run_cli(tmp_path: Path, how: str) -> tuple[int, list[str], bytes, Path]:
    data = payloads("hyperliquid", "local")
    async with FakeVenue(
        "hyperliquid", ["BTC"], data, ping_frames("hyperliquid", "local"), wait_ping=False
    ) as srv:
        args = [
            "-m",
            "mm_bot.record",
            "--venue",
            "hyperliquid",
            "--coins",
            "BTC",
            "--out",
            str(tmp_path / "out"),
        ]
        args += ["--minutes", "0.04"] if how == "minutes" else ["--flush-seconds", "0.05"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=REPO, env=_cli_env(srv.url), stderr=asyncio.subprocess.PIPE
        )
        try:
            if how != "minutes":  # wait until the first connection's frames are flushed to the file
                for _ in range(400):
                    files = list((tmp_path / "out").glob("*.gz"))
                    if files and len(prefix_lines(files[0])) >= 2 + len(data):
                        break
                    await asyncio.sleep(0.025)
                else:
                    pytest.fail("the recorder wrote nothing")
                proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 15)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        (path,) = (tmp_path / "out").glob("*.gz")
        return proc.returncode, srv.sent, err, path


@pytest.mark.parametrize("how", ["term", "kill", "minutes"])
def test_cli_stops_cleanly_and_a_killed_run_stays_readable(tmp_path, how):
    code, sent, err, path = asyncio.run(_run_cli(tmp_path, how))
    first_ns = int(
        (prefix_lines(path) if how == "kill" else [" ".join(read_lines(path)[0])])[0].partition(" ")[0]
    )
    assert path.name == f"hyperliquid_{datetime.fromtimestamp(first_ns / 1e9, UTC).strftime('%Y%m%d')}.gz"
    if how == "kill":
        assert code == -signal.SIGKILL
        got = prefix_lines(path)
        with pytest.raises(EOFError):
            gzip.decompress(path.read_bytes())
    else:
        assert code == 0, err.decode()
        got = [f"{ns} {t}" for ns, t in read_lines(path)]  # a complete gzip
        assert b"stopped;" in err and b"connected to ws://127.0.0.1:" in err
    assert len(got) >= 2 + 3
    assert [line.partition(" ")[2] for line in got] == sent[: len(got)]
    assert all(len(line.partition(" ")[0]) == 19 for line in got)


# ---------------------------------------------------------------------------- small parts


def test_backoff_doubles_with_jitter_caps_and_resets():
    b = Backoff(initial=0.5, cap=30, rng=lambda: 1.0)
    assert [b.next() for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    b.reset()
    assert b.next() == 0.5
    lo = Backoff(initial=0.5, cap=30, rng=lambda: 0.0)
    assert [lo.next() for _ in range(3)] == [0.25, 0.5, 1.0]


def test_urls_and_subscription_shapes():
    env: dict[str, str] = {}
    assert default_url("hyperliquid", environ=env) == HL_WS_MAINNET
    assert default_url("hyperliquid", testnet=True, environ=env) == HL_WS_TESTNET
    assert default_url("hyperliquid", environ={"HL_WS_URL": "ws://127.0.0.1:1/ws"}) == "ws://127.0.0.1:1/ws"
    assert default_url("woofi_pro", environ=env) == ORDERLY_WS_MAINNET.format(
        account_id=PUBLIC_ACCOUNT_PLACEHOLDER
    )
    assert default_url("woofi_pro", testnet=True, environ={"WOOFI_ACCOUNT_ID": "0xabc"}) == (
        "wss://testnet-ws-evm.orderly.org/ws/stream/0xabc"
    )
    assert (
        default_url("woofi_pro", environ={"WOOFI_WS_PUBLIC_URL": "ws://127.0.0.1:2/ws/stream/{account_id}"})
        == f"ws://127.0.0.1:2/ws/stream/{PUBLIC_ACCOUNT_PLACEHOLDER}"
    )
    hl = [json.loads(m) for m in subscriptions("hyperliquid", ["BTC"], lambda: "x")]
    assert hl[0] == {"method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC"}}
    if (SHARED_FIX / "hyperliquid" / "ws_subscribe_l2Book.json").exists():
        assert hl[0] == shared_msg("hyperliquid", "ws_subscribe_l2Book.json")
    assert hl[1] == {"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}}
    ids = iter(["a", "b", "c"])
    orderly = [json.loads(m) for m in subscriptions("woofi_pro", ["eth"], lambda: next(ids))]
    assert orderly == [
        {"id": "a", "event": "subscribe", "topic": "PERP_ETH_USDC@orderbook"},
        {"id": "b", "event": "subscribe", "topic": "PERP_ETH_USDC@orderbookupdate"},
        {"id": "c", "event": "subscribe", "topic": "PERP_ETH_USDC@trade"},
    ]
    with pytest.raises(ValueError):
        Recorder("binance", ["BTC"], "/nonexistent", "ws://127.0.0.1:1")


def test_heartbeat_and_error_classification():
    assert classify("hyperliquid", {"channel": "pong"}) == HEARTBEAT
    assert classify("hyperliquid", {"channel": "l2Book", "data": {}}) == RECORD
    assert classify("woofi_pro", {"event": "ping"}) == REPLY_PONG
    assert classify("woofi_pro", {"event": "pong", "ts": 1}) == HEARTBEAT
    assert classify("woofi_pro", {"id": "rec-1", "event": "subscribe", "success": True, "ts": 1}) == RECORD
    assert classify("woofi_pro", [1, 2]) == RECORD
    assert (
        venue_error("hyperliquid", {"channel": "error", "data": "Invalid subscription"})
        == "Invalid subscription"
    )
    err = {"id": "clientID7", "event": "subscribe", "success": False, "ts": 1, "errorMsg": "invalid symbol"}
    if (SHARED_FIX / "orderly" / "ws_error.json").exists():
        err = shared_msg("orderly", "ws_error.json")
    assert "invalid symbol" in venue_error("woofi_pro", err)
    assert venue_error("woofi_pro", {"topic": "PERP_BTC_USDC@trade", "data": {}}) is None


def test_refused_connects_back_off_until_stopped(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go():
        stop = asyncio.Event()
        rec = fast_recorder("woofi_pro", ["BTC"], tmp_path / "out", f"ws://127.0.0.1:{port}/ws/stream/x")
        asyncio.get_running_loop().call_later(0.6, stop.set)
        return await asyncio.wait_for(rec.run(stop), 5)

    st = asyncio.run(go())
    assert st.connects == 0 and st.drops >= 3 and st.recorded == 0
    assert st.files == [] and not (tmp_path / "out").exists()  # no empty files


def test_bad_url_is_fatal_not_retried(tmp_path):
    rec = fast_recorder("hyperliquid", ["BTC"], tmp_path, "http://127.0.0.1:1/ws")
    with pytest.raises(RecordError, match="bad URL"):
        asyncio.run(asyncio.wait_for(rec.run(asyncio.Event()), 5))


def test_status_line_only_on_a_terminal(tmp_path, capsys):
    rec = fast_recorder("hyperliquid", ["BTC", "ETH"], tmp_path, "ws://127.0.0.1:1/ws")
    rec.writer.write('{"channel":"trades","data":[]}')
    rec.stats.recorded = 1
    _Console(False, None).status(rec)
    assert capsys.readouterr().err == ""
    con = _Console(True, 2.0)
    con.status(rec)
    err = capsys.readouterr().err
    assert err.startswith("\r") and "hyperliquid BTC,ETH: 1 msgs" in err and "msg/s" in err
    assert "1 file(s) [hyperliquid_" in err and "s left" in err
    con.clear()
    assert capsys.readouterr().err == "\r\x1b[K"
    rec.writer.close()
