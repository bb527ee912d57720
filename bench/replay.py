"""Replay benchmark: throughput, cold start and peak memory of `--simulate --replay`.

    .venv/bin/python bench/replay.py [--runs 5] [--data FILE] [--config CFG] [--profile OUT.html]

Measured on one recorded file (default ../shared/data/binance-usdm/btcusdt_20240808.gz with
configs/reference/join_best_btcusdt.json), every figure the median of --runs runs:

* baseline: the reader alone (open_replay iterated, no book, no bots), in this process;
* pipeline: mm_bot.sim.replay_run.run_replay into a fresh temp DB, in this process
  (read -> parse -> book -> bot -> paper venue -> metrics -> DB), as book level updates/s
  and market events/s, with its ratio to the baseline;
* cold start: `python -m mm_bot.run --simulate --replay FILE --config CFG --db TMP` as a
  subprocess, process start to exit, next to a bare `python -c pass` start;
* peak memory: the peak RSS of a subprocess for one replay of the file (CLI), for the file
  replayed twice in a row in one process, and for the CLI on the two-coin USD-M folder, next
  to a process that only imports the runner. The figure is the child's own VmHWM (read from
  /proc/self/status at exit): on Linux the ru_maxrss that wait4 reports for a child starts
  from the RSS of the parent at fork, so it would show this (bigger) bench process instead.

Targets (issue 3 item 7): >= 1,000,000 book level updates/s through the full pipeline, cold
start < 2 s for that file, peak memory < 200 MB and flat. The fills hash printed is the
determinism check: sha256 of `SELECT fill_id, cloid, side, price, size_lots, maker, fee_usd,
ts_ms FROM fills ORDER BY id`, identical in every run and before/after any optimisation.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mm_bot.config import load_configs  # noqa: E402
from mm_bot.sim.feeds.replay import open_replay  # noqa: E402
from mm_bot.sim.replay_run import replay_instruments, run_replay  # noqa: E402
from mm_bot.store.db import open_db  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DEFAULT_FILE = DATA / "binance-usdm" / "btcusdt_20240808.gz"
DEFAULT_CONFIG = ROOT / "configs" / "reference" / "join_best_btcusdt.json"
FILLS_SQL = "SELECT fill_id, cloid, side, price, size_lots, maker, fee_usd, ts_ms FROM fills ORDER BY id"

TARGET_LEVELS_PER_S = 1_000_000
TARGET_COLD_S = 2.0
TARGET_RSS_MB = 200.0


def fills_hash(conn: sqlite3.Connection) -> tuple[int, str]:
    """(row count, sha256) of the fills rows that must not change."""
    h = hashlib.sha256()
    n = 0
    for row in conn.execute(FILLS_SQL):
        h.update(repr(row).encode())
        n += 1
    return n, h.hexdigest()


def machine() -> str:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs (nproc), {model}; Python {platform.python_version()} "
            f"({platform.python_implementation()}); {platform.system()} {platform.release()}")


def bench_reader(data: Path, instruments: dict, time_basis: str) -> tuple[float, int, int, float]:
    """One pass of the reader alone: (seconds, events, level updates, CPU seconds)."""
    t0, c0 = time.perf_counter(), time.process_time()
    feed = open_replay(data, instruments, time_basis=time_basis)
    n = 0
    for _ in feed:
        n += 1
    return time.perf_counter() - t0, n, feed.stats.levels, time.process_time() - c0


def bench_pipeline(data: Path, configs: list, tmp: Path, i: int, seed: int) -> tuple[float, int, int, tuple, float]:
    """One full replay into a fresh DB: (seconds, events, level updates, fills (count, hash), CPU seconds)."""
    db = tmp / f"pipe{i}.db"
    conn = open_db(db)
    t0, c0 = time.perf_counter(), time.process_time()
    res = run_replay(configs, str(data), conn, seed)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    if not res.ok:
        raise SystemExit(f"replay failed: {res.reason}")
    fh = fills_hash(conn)
    conn.close()
    return wall, res.stats.events, res.level_updates, fh, cpu


# Prepended to a child's code: at exit, write the process's peak RSS (VmHWM, kB) to stderr.
HWM_HOOK = (
    "import atexit as _a, sys as _s\n"
    "def _hwm():\n"
    "    for _l in open('/proc/self/status'):\n"
    "        if _l.startswith('VmHWM'):\n"
    "            _s.stderr.write('MM_BENCH_VMHWM_KB ' + _l.split()[1] + '\\n')\n"
    "_a.register(_hwm)\n"
)
# The CLI run under the hook: python -c CLI_HWM --simulate --replay ... (same as python -m mm_bot.run).
CLI_HWM = HWM_HOOK + (
    "import runpy\n"
    "_s.argv = ['mm_bot.run'] + _s.argv[1:]\n"
    "runpy.run_module('mm_bot.run', run_name='__main__', alter_sys=True)\n"
)


def run_child(cmd: list[str]) -> tuple[float, float, int]:
    """Run a subprocess: (wall seconds from start to exit, peak RSS MB, exit code).

    Peak RSS is the child's VmHWM when it reports one (HWM_HOOK), else wait4's ru_maxrss.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace")[-2000:])
    rss_mb = usage.ru_maxrss / 1024.0
    for line in err.decode(errors="replace").splitlines():
        if line.startswith("MM_BENCH_VMHWM_KB "):
            rss_mb = int(line.split()[1]) / 1024.0
    return wall, rss_mb, proc.returncode


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def spread(xs: list[float]) -> str:
    return f"min {min(xs):.3f}, max {max(xs):.3f}" if len(xs) > 1 else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per figure (median reported; default 5)")
    ap.add_argument("--data", type=Path, default=DEFAULT_FILE, help="recorded file to replay")
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="bot config for the replay")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", type=Path, default=None,
                    help="also write a pyinstrument HTML profile of one pipeline run to this file")
    ap.add_argument("--skip", default="", help="comma list of sections to skip: cold,memory")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if not args.data.exists():
        print(f"no data file {args.data} (the recorded data lives in ../shared/data)", file=sys.stderr)
        return 2
    runs = max(1, args.runs)
    py = sys.executable
    configs = load_configs([args.config])
    instruments = replay_instruments(configs, str(args.data))
    time_basis = configs[0].paper.replay_time

    print("# mm_bot replay benchmark")
    print(f"machine : {machine()}")
    print(f"data    : {args.data} ({args.data.stat().st_size:,} bytes)")
    print(f"config  : {args.config}")
    print(f"command : {shlex.join([py, *sys.argv])}")
    print(f"runs    : {runs} per figure, median reported")
    print()

    # -------------------------------------------------------------- throughput
    reader = [bench_reader(args.data, instruments, time_basis) for _ in range(runs)]
    r_s = [r[0] for r in reader]
    r_events, r_levels = reader[0][1], reader[0][2]
    with tempfile.TemporaryDirectory(prefix="mm_bench_") as td:
        tmp = Path(td)
        pipe = [bench_pipeline(args.data, configs, tmp, i, args.seed) for i in range(runs)]
        if args.profile is not None:
            from pyinstrument import Profiler

            prof = Profiler(interval=0.0005)
            prof.start()
            bench_pipeline(args.data, configs, tmp, runs, args.seed)
            prof.stop()
            args.profile.write_text(prof.output_html())
    p_s = [p[0] for p in pipe]
    p_events, p_levels = pipe[0][1], pipe[0][2]
    hashes = {p[3] for p in pipe}
    r_med, p_med = median(r_s), median(p_s)
    print("## throughput (in-process)")
    print(f"baseline reader alone : {r_med:.3f} s  ({spread(r_s)}); {r_events:,} events, {r_levels:,} level updates"
          f" -> {r_levels / r_med:,.0f} levels/s, {r_events / r_med:,.0f} events/s")
    print(f"full pipeline         : {p_med:.3f} s  ({spread(p_s)}); {p_events:,} events, {p_levels:,} level updates"
          f" -> {p_levels / p_med:,.0f} levels/s, {p_events / p_med:,.0f} events/s")
    print(f"CPU time (median)     : reader {median([r[3] for r in reader]):.3f} s, pipeline "
          f"{median([p[4] for p in pipe]):.3f} s (wall above this: other load on the machine)")
    print(f"pipeline / reader time: {p_med / r_med:.2f}x (the reader is {r_med / p_med:.0%} of the pipeline)")
    ok_rate = p_levels / p_med >= TARGET_LEVELS_PER_S
    print(f"target >= {TARGET_LEVELS_PER_S:,} levels/s: {'MET' if ok_rate else 'NOT MET'}")
    (n_fills, digest), *_ = sorted(hashes)
    print(f"fills: {n_fills} rows, sha256 {digest}"
          + ("" if len(hashes) == 1 else f"  NOT DETERMINISTIC: {len(hashes)} different hashes"))
    print()

    # -------------------------------------------------------------- cold start
    with tempfile.TemporaryDirectory(prefix="mm_bench_") as td:
        tmp = Path(td)
        if "cold" not in skip:
            base = [run_child([py, "-c", "pass"]) for _ in range(runs)]
            imp = [run_child([py, "-c", "import mm_bot.run"]) for _ in range(runs)]
            cold = []
            for i in range(runs):
                cmd = [py, "-m", "mm_bot.run", "--simulate", "--replay", str(args.data), "--config",
                       str(args.config), "--db", str(tmp / f"cold{i}.db"), "--seed", str(args.seed)]
                w, rss, rc = run_child(cmd)
                if rc != 0:
                    raise SystemExit(f"cold start run failed with exit code {rc}: {shlex.join(cmd)}")
                cold.append((w, rss))
            c_s = [c[0] for c in cold]
            print("## cold start (subprocess, process start to exit)")
            print(f"command: {shlex.join([py, '-m', 'mm_bot.run', '--simulate', '--replay', str(args.data), '--config', str(args.config), '--db', 'TMP.db'])}")
            print(f"baseline `python -c pass`       : {median([b[0] for b in base]):.3f} s")
            print(f"baseline `import mm_bot.run`     : {median([b[0] for b in imp]):.3f} s")
            print(f"replay run, raw file to summary  : {median(c_s):.3f} s  ({spread(c_s)}); "
                  f"{p_levels / median(c_s):,.0f} levels/s end to end")
            print(f"target < {TARGET_COLD_S} s: {'MET' if median(c_s) < TARGET_COLD_S else 'NOT MET'}")
            print()

        # ---------------------------------------------------------- memory
        if "memory" not in skip:
            twice = HWM_HOOK + (
                "from pathlib import Path\n"
                "root, cfg, tmp, data, seed = _s.argv[1:6]\n"
                "_s.path.insert(0, root)\n"
                "from mm_bot.config import load_configs\n"
                "from mm_bot.sim.replay_run import run_replay\n"
                "from mm_bot.store.db import open_db\n"
                "cfgs = load_configs([Path(cfg)])\n"
                "for i in range(2):\n"
                "    conn = open_db(Path(tmp) / f'twice{i}.db')\n"
                "    assert run_replay(cfgs, data, conn, int(seed)).ok\n"
                "    conn.close()\n"
            )
            twice_args = [str(ROOT), str(args.config), str(tmp), str(args.data), str(args.seed)]
            idle = [run_child([py, "-c", HWM_HOOK + "import mm_bot.run, mm_bot.sim.replay_run"])[1]
                    for _ in range(runs)]
            one, two, both = [], [], []
            usdm = DATA / "binance-usdm"
            both_cfg = tmp / "usdm_both.json"
            both_cfg.write_text(
                '{"bot_id": "bench-usdm", "coins": ["BTCUSDT", "ETHUSDT"], "loop_ms": 100,'
                ' "reference_price": "join_best", "size_notional_usd": 600, "max_per_coin_notional": 10000,'
                ' "max_gross_notional": 20000, "min_spread_bps": 0, "min_spread_guard_enabled": false,'
                ' "paper": {"market_data": "replay"}}'
            )
            for i in range(runs):
                w, rss, rc = run_child([py, "-c", CLI_HWM, "--simulate", "--replay", str(args.data),
                                        "--config", str(args.config), "--db", str(tmp / f"mem1_{i}.db")])
                assert rc == 0
                one.append(rss)
                w, rss, rc = run_child([py, "-c", twice, *twice_args])
                assert rc == 0
                two.append(rss)
                if usdm.is_dir() and len(list(usdm.glob("*.gz"))) >= 2:
                    w, rss, rc = run_child([py, "-c", CLI_HWM, "--simulate", "--replay", str(usdm),
                                            "--config", str(both_cfg), "--db", str(tmp / f"mem2_{i}.db")])
                    assert rc == 0
                    both.append(rss)
            print("## peak memory (peak RSS of a subprocess: its VmHWM at exit)")
            print(f"baseline: imports only                 : {median(idle):6.1f} MB")
            print(f"one replay of the file (CLI)           : {median(one):6.1f} MB")
            print(f"the file twice in a row, one process   : {median(two):6.1f} MB")
            if both:
                print(f"two files at once ({usdm.name}, CLI)  : {median(both):6.1f} MB")
            peak = max(median(one), median(two), median(both) if both else 0.0)
            flat = median(two) <= median(one) * 1.10
            print(f"target < {TARGET_RSS_MB:.0f} MB and flat: {'MET' if peak < TARGET_RSS_MB and flat else 'NOT MET'}"
                  f" (peak {peak:.1f} MB; twice / once = {median(two) / median(one):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
