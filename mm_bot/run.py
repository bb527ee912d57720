"""Command line: run every bot of a config directory into one SQLite file.

    python -m mm_bot.run --config-dir configs --db hypertrade.db --simulate --duration 60
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
import time
from pathlib import Path

import click
from tabulate import tabulate

from mm_bot.config import ConfigError, discover_config_files, load_configs
from mm_bot.core.types import Instrument
from mm_bot.sim.assemble import apply_instrument_overrides, build_session
from mm_bot.sim.synthetic import SCENARIOS
from mm_bot.store.db import DbError, open_db
from mm_bot.venues import LIVE_VENUES_BUILT, REQUIRED_ENV, missing_env

log = logging.getLogger("mm_bot")

EXIT_CONFIG = 2

# The environment variable that identifies a venue account's wallet (hashed, never shown).
WALLET_IDENTITY_ENV = {"hyperliquid": "HL_ACCOUNT_ADDRESS", "woofi_pro": "WOOFI_ACCOUNT_ID",
                       "standx": "STANDX_REQUEST_SIGNING_KEY"}

# error_burst: the paper venue rejects every order arriving in this window (ms after start).
ERROR_BURST_START_MS = 20_000
ERROR_BURST_MS = 15_000
SCENARIO_CHOICES = (*SCENARIOS, "error_burst")


def _fail(msg: str, code: int = EXIT_CONFIG) -> None:
    click.echo(msg, err=True)
    sys.exit(code)


def synthetic_instruments(configs: list, seed: int, start_ms: int, scenario: str | None = None):
    """Instruments and seeded synthetic markets for every coin of the configs."""
    import dataclasses

    from mm_bot.sim.synthetic import SyntheticMarket, instrument_for, preset_for

    instruments: dict[str, Instrument] = {}
    sources = {}
    for cfg in configs:
        for coin in cfg.coins:
            if coin in instruments:
                continue
            params = preset_for(coin)
            override = (cfg.synthetic or {}).get(coin) if isinstance(cfg.synthetic, dict) else None
            if override is not None:
                changes = {k: v for k, v in dataclasses.asdict(override).items()
                           if v is not None and k != "preset" and hasattr(params, k)}
                if getattr(override, "preset", None):
                    params = preset_for(override.preset)
                params = dataclasses.replace(params, **changes)
            inst = apply_instrument_overrides(instrument_for(coin, params), cfg.instruments.get(coin))
            params = dataclasses.replace(params, tick_size=inst.tick_size, lot_size=inst.lot_size)
            instruments[coin] = inst
            sources[coin] = SyntheticMarket(coin, params, seed, start_ms, scenario=scenario)
    return instruments, sources


def summary_table(conn: sqlite3.Connection, bot_ids: list[str], wall_s: float, events: int | None) -> str:
    """One screen: per bot and coin, fills, maker ratio, cancels per fill, PnL, fees."""
    rows = []
    for bot_id in bot_ids:
        for coin, fills, maker, fees, vol in conn.execute(
            "SELECT coin, COUNT(*), SUM(maker), SUM(fee_usd), SUM(notional_usd) FROM fills WHERE bot_id=? "
            "GROUP BY coin", (bot_id,)):
            cancels = conn.execute("SELECT COUNT(*) FROM trades WHERE bot_id=? AND coin=? AND kind='cancel'",
                                   (bot_id, coin)).fetchone()[0]
            pnl = conn.execute("SELECT total_usd FROM pnl_tracking WHERE bot_id=? AND coin=? "
                               "ORDER BY ts_ms DESC, id DESC LIMIT 1", (bot_id, coin)).fetchone()
            rows.append([bot_id, coin, fills, f"{maker / fills:.1%}" if fills else "-",
                         f"{cancels / fills:.2f}" if fills else "-", f"{vol or 0:,.0f}",
                         f"{fees or 0:.2f}", f"{pnl[0]:.2f}" if pnl else "-"])
    table = tabulate(rows, headers=["bot", "coin", "fills", "maker", "cancels/fill", "volume $", "fees $",
                                    "PnL $"], tablefmt="simple")
    tail = f"wall time {wall_s:.2f} s"
    if events is not None and wall_s > 0:
        tail += f", {events:,} market events, {events / wall_s:,.0f} events/s"
    return table + "\n" + tail


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              help="One bot config JSON file.")
@click.option("--config-dir", type=click.Path(path_type=Path), default=None,
              help="A directory of bot config JSON files (every *.json in it), all run in this process.")
@click.option("--db", "db_path", type=click.Path(path_type=Path), required=False, default=None,
              help="SQLite file to write (created and migrated if needed). Required unless --check-config.")
@click.option("--simulate", is_flag=True,
              help="Paper mode: bots trade against the simulated venue; no keys, no orders sent anywhere. "
                   "Market data is the seeded synthetic market unless --replay is given.")
@click.option("--replay", "replay_spec", default=None,
              help="With --simulate: replay recorded market data (a file, a glob or a directory) on a virtual "
                   "clock as fast as the machine goes.")
@click.option("--market-data", "market_data", type=click.Choice(["synthetic", "live"]), default=None,
              help="With --simulate: 'live' quotes against the venues' real public streams with paper fills "
                   "(no keys needed); 'synthetic' the seeded synthetic market. Default: the configs' "
                   "paper.market_data.")
@click.option("--data-network", type=click.Choice(["mainnet", "testnet"]), default="mainnet", show_default=True,
              help="With --market-data live: whose public data to use.")
@click.option("--duration", type=float, default=None,
              help="Stop after this many seconds (wall time; with --replay, seconds of data). "
                   "Default: run until SIGINT/SIGTERM (synthetic) or the end of the data (replay).")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Seed of the synthetic market, the queue model and the refresh jitter.")
@click.option("--scenario", type=click.Choice(SCENARIO_CHOICES), default=None,
              help="With --simulate on the synthetic market: a stress scenario starting 20 s into the run "
                   "(vol_spike, flash_crash, md_gap, spread_blowout, one_sided_flow: market; error_burst: "
                   "the paper venue rejects every order for 15 s). See the README.")
@click.option("--check-config", is_flag=True,
              help="Validate the configs, print a summary and exit: 0 if valid, 2 if not.")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              default="INFO", show_default=True, help="Console log level.")
def main(config_file, config_dir, db_path, simulate, replay_spec, market_data, data_network, duration, seed,
         scenario, check_config, log_level):
    """Run market-making bots from JSON configs, writing everything to one SQLite file.

    Exit codes: 0 clean stop, 2 bad configuration or refused start, 1 runtime failure.
    """
    logging.basicConfig(level=getattr(logging, log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if (config_file is None) == (config_dir is None):
        _fail("error: give exactly one of --config FILE or --config-dir DIR")
    try:
        paths = discover_config_files(config_file, config_dir)
        configs = load_configs(paths)
    except ConfigError as e:
        _fail("configuration refused, nothing started:\n" + "\n".join(e.problems))
    if check_config:
        rows = [[c.bot_id, c.venue, c.mode, ",".join(c.coins), c.source] for c in configs]
        click.echo(tabulate(rows, headers=["bot", "venue", "mode", "coins", "file"]))
        click.echo(f"OK: {len(configs)} bot config(s) valid")
        return
    if db_path is None:
        _fail("error: --db PATH is required")
    if scenario and (not simulate or replay_spec):
        _fail("error: --scenario needs --simulate on the synthetic market (no --replay)")
    if replay_spec and not simulate:
        _fail("error: --replay needs --simulate (a replay always trades on the paper venue)")
    if market_data and not simulate:
        _fail("error: --market-data needs --simulate (live trading always uses the venue's data)")
    if market_data == "live" and (replay_spec or scenario):
        _fail("error: --market-data live cannot be combined with --replay or --scenario")
    if not simulate:
        _refuse_or_run_live(configs)
        return
    live_data = market_data == "live"
    if simulate and not replay_spec and market_data is None:
        problems = []
        wanted = {c.paper.market_data for c in configs}
        for c in configs:
            if c.paper.market_data == "replay":
                problems.append(f"{c.source}: $.paper.market_data: 'replay' needs --replay PATH")
        if {"live", "synthetic"} <= wanted:
            problems.append("$.paper.market_data: some configs want 'live' and some 'synthetic' data; one "
                            "process runs one kind (or pass --market-data)")
        if problems:
            _fail("configuration refused, nothing started:\n" + "\n".join(problems))
        live_data = wanted == {"live"}
    try:
        conn = open_db(db_path)
    except (DbError, sqlite3.Error) as e:
        _fail(f"error: cannot open database {db_path}: {e}", 1)
    if replay_spec:
        code = _run_replay(configs, conn, replay_spec, duration, seed)
        conn.close()
        sys.exit(code)
    conn.close()
    if live_data:
        sys.exit(_run_synthetic(configs, db_path, duration, seed, None, data_network))
    sys.exit(_run_synthetic(configs, db_path, duration, seed, scenario))


def _refuse_or_run_live(configs: list) -> None:
    problems = []
    for c in configs:
        if c.mode == "paper":
            problems.append(f"{c.source}: $.mode: bot '{c.bot_id}' is a paper bot; run with --simulate")
            continue
        missing = missing_env(c.venue, os.environ)
        if missing:
            problems.append(f"{c.source}: bot '{c.bot_id}' ({c.venue} {c.mode}) needs environment variables "
                            f"{', '.join(missing)} (see setup_env.sh); or run paper mode with --simulate")
        elif c.venue not in LIVE_VENUES_BUILT:
            problems.append(f"{c.source}: bot '{c.bot_id}': live trading on {c.venue} is not available in this "
                            "version; run paper mode with --simulate")
    if not problems:
        problems = wallet_problems(configs, os.environ)
    if not problems:
        from mm_bot.live.live_runner import live_env_problems

        problems = live_env_problems(configs)
    if problems:
        _fail("live mode refused, nothing started:\n" + "\n".join(problems)
              + "\n(required variables per venue: "
              + "; ".join(f"{v}: {', '.join(k)}" for v, k in REQUIRED_ENV.items()) + ")")
    params = click.get_current_context().params
    sys.exit(_run_live(configs, Path(params["db_path"]), params.get("duration")))


def wallet_problems(configs: list, environ) -> list[str]:
    """One wallet per venue account: every live bot's claim (venue, account label, key fingerprint).

    Keys come from the environment per venue, so two account labels on one key are one wallet
    split in two (rate limits and self-match protection would not be shared): refused.
    """
    from mm_bot.core.compliance import check_unique_wallets, key_fingerprint

    claims = []
    for c in configs:
        identity = environ.get(WALLET_IDENTITY_ENV.get(c.venue, ""), "")
        claims.append((c.bot_id, c.venue, c.account, key_fingerprint(identity) if identity else ""))
    return [f"one wallet per venue account: {p}" for p in check_unique_wallets(claims)]


def _run_live(configs: list, db_path: Path, duration: float | None) -> int:
    """Live trading (testnet/mainnet; one runner per venue): keys from the environment, see docs/LIVE.md."""
    from mm_bot.live.live_runner import run_live, sent_counts

    try:
        conn = open_db(db_path)
    except (DbError, sqlite3.Error) as e:
        _fail(f"error: cannot open database {db_path}: {e}", 1)
    conn.close()
    limits = venue_limits(configs)
    t0 = time.perf_counter()
    code, runners = asyncio.run(run_live(configs, str(db_path), duration, os.environ, limits))
    wall = time.perf_counter() - t0
    if runners:
        conn = sqlite3.connect(str(db_path))
        click.echo(summary_table(conn, [c.bot_id for c in configs], wall, None), err=True)
        conn.close()
    for runner in runners:
        log.info("live run on %s: %s", runner.gw.venue, ", ".join(f"{k} {v}" for k, v in sent_counts(runner).items()))
        if runner.stats.open_orders_at_exit:
            log.error("%s: open orders could not be confirmed cancelled at exit", runner.gw.venue)
    return code


def venue_limits(configs: list) -> dict:
    """Rate limits per venue from the environment (HL_REST_CAPACITY_PER_MIN, ...); exit 2 on a bad value."""
    from mm_bot.core.ratelimit import RateLimitConfigError, limits_from_env

    out = {}
    for c in configs:
        if c.venue not in out:
            try:
                out[c.venue] = limits_from_env(c.venue, os.environ)
            except RateLimitConfigError as e:
                _fail(f"error: environment: {e}")
    return out


def _run_synthetic(configs: list, db_path: Path, duration: float | None, seed: int,
                   scenario: str | None = None, live_network: str | None = None) -> int:
    """Paper trading in real time: on the seeded synthetic market, or (live_network set) on the
    venues' live public streams of that network."""
    return asyncio.run(_paper(configs, db_path, duration, seed, scenario, live_network))


async def _paper(configs: list, db_path: Path, duration: float | None, seed: int, scenario: str | None,
                 live_network: str | None) -> int:
    from mm_bot.live.clock import wall_ms
    from mm_bot.live.runner import PaperRunner

    start = wall_ms()
    feeds: list = []
    if live_network:
        from mm_bot.live.paper_live import load_live_markets
        from mm_bot.venues.errors import VenueError

        try:
            instruments, feeds = await load_live_markets(configs, os.environ, venue_limits(configs), live_network,
                                                         seed)
        except VenueError as e:
            log.error("paper trading on live data: cannot load the markets: %s", e)
            return 1
        sources: dict = {}
    else:
        market_scenario = scenario if scenario in SCENARIOS else None
        instruments, sources = synthetic_instruments(configs, seed, start, market_scenario)
    session, bots, warnings = build_session(configs, instruments, start, seed, venue_limits(configs),
                                            persist_venue=True)
    # Restart: the paper venue's resting orders and ledger, the bots' positions (from their fills)
    # and earlier live orders, and the nonces come back from the DB; the runner then reconciles.
    from mm_bot.store.paper_state import load_nonces, restore_session

    conn = open_db(db_path)
    try:
        restored = restore_session(conn, session.venues, bots, start)
        nonces = load_nonces(conn, start)
    finally:
        conn.close()
    if scenario == "error_burst":
        for venue in session.venue_list:
            venue.error_window = (start + ERROR_BURST_START_MS, start + ERROR_BURST_START_MS + ERROR_BURST_MS)
    for w in warnings:
        log.warning(w)
    background = []
    use_ws = any(c.use_websocket for c in configs)
    for feed in feeds:
        if use_ws:
            background.append(feed.market.market_stream(feed.coins, feed).run)
        else:
            feed.down_since = float("-inf")  # books by REST from the start
        background.append(feed.rest_fallback)
    runner = PaperRunner(session, bots, sources, str(db_path), duration, configs, nonces=nonces, restored=restored,
                         background=background)
    for feed in feeds:
        feed.runner = runner
    t0 = time.perf_counter()
    try:
        stats = await runner.run()
    finally:
        for feed in feeds:
            feed.market.close()
    wall = time.perf_counter() - t0
    conn = sqlite3.connect(str(db_path))
    click.echo(summary_table(conn, [b.bot_id for b in bots], wall, session.book_events + session.trades),
               err=True)
    conn.close()
    if stats.open_orders_at_exit:
        log.error("%d paper orders still open at exit", stats.open_orders_at_exit)
        return 1
    return 0


def _run_replay(configs: list, conn: sqlite3.Connection, spec: str, duration: float | None, seed: int) -> int:
    from mm_bot.sim.replay_run import ReplaySetupError, run_replay

    try:
        res = run_replay(configs, spec, conn, seed, duration, limits=venue_limits(configs), progress=True)
    except ReplaySetupError as e:
        _fail(f"error: {e}")
    if not res.ok:
        click.echo(f"error: {res.reason}", err=True)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    click.echo(summary_table(conn, [b.bot_id for b in res.bots], res.wall_s, res.stats.events), err=True)
    return 0 if res.ok else 1


if __name__ == "__main__":
    main()
