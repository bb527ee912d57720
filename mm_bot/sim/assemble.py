"""Building a paper session from bot configs: instruments, books, venues and bots."""

from __future__ import annotations

import dataclasses

from mm_bot.core.book import L2Book
from mm_bot.core.bot import Bot
from mm_bot.core.compliance import SelfMatchRegistry
from mm_bot.core.ratelimit import DEFAULT_LIMITS, DualRateLimiter, LimiterPolicy, VenueLimits, canonical_venue
from mm_bot.core.types import Instrument
from mm_bot.sim.paper import PaperParams, PaperVenue
from mm_bot.sim.session import PaperSession

INSTRUMENT_KEYS = ("tick_size", "lot_size", "contract_size", "inverse", "min_notional_usd", "max_sig_figs")


def apply_instrument_overrides(base: Instrument, override) -> Instrument:
    """`base` with every field the config's `instruments.<coin>` entry sets (None = keep)."""
    if override is None:
        return base
    changes = {k: getattr(override, k) for k in INSTRUMENT_KEYS if getattr(override, k, None) is not None}
    return dataclasses.replace(base, **changes) if changes else base


def paper_params(cfg, seed: int = 0) -> PaperParams:
    """The fill-model and fault-injection settings of a bot's `paper` config section; seed (--seed)
    seeds the fault rng."""
    p = cfg.paper
    return PaperParams(
        entry_latency_ms=p.entry_latency_ms,
        response_latency_ms=p.response_latency_ms,
        maker_fee_bps=p.maker_fee_bps,
        taker_fee_bps=p.taker_fee_bps,
        queue_model=p.queue_model,
        queue_power_n=p.queue_power_n,
        partial_fills=p.partial_fills,
        reject_rate=p.reject_rate,
        http429_rate=p.http429_rate,
        http5xx_rate=p.http5xx_rate,
        timeout_rate=p.timeout_rate,
        delayed_ack_rate=p.delayed_ack_rate,
        delayed_ack_ms=p.delayed_ack_ms,
        drop_fill_rate=p.drop_fill_rate,
        fault_seed=seed,
    )


def account_key(cfg) -> str:
    return f"{cfg.venue}:{cfg.account}"


def build_session(configs: list, instruments: dict[str, Instrument], start_ms: int, seed: int,
                  limits: dict[str, VenueLimits] | None = None, persist_venue: bool = False,
                  ) -> tuple[PaperSession, list[Bot], list[str]]:
    """Paper session for `configs` over `instruments` (coin -> rules).

    Returns (session, bots, warnings). One paper venue and one shared rate limiter per
    (venue, account), with the fill-model settings and rate_limits_share_pct of the first
    bot on that account. limits: venue -> VenueLimits (default: the venue's documented ones).
    persist_venue: the paper venues emit their resting orders and fill ledger as rows (restart).
    """
    warnings: list[str] = []
    books = {coin: L2Book(coin) for coin in instruments}
    venues: dict[str, PaperVenue] = {}
    venue_params: dict[str, PaperParams] = {}
    bot_venue: dict[str, str] = {}
    limiters: dict[str, DualRateLimiter] = {}
    # Self-match protection spans every bot of one venue account in the process.
    registries: dict[str, SelfMatchRegistry] = {}
    bots: list[Bot] = []
    for cfg in configs:
        key = account_key(cfg)
        params = paper_params(cfg, seed)
        if key not in venues:
            venues[key] = PaperVenue(cfg.venue, instruments, books, params, key=key, persist=persist_venue)
            venue_params[key] = params
        elif venue_params[key] != params:
            warnings.append(f"{cfg.bot_id}: paper settings differ from the first bot on account {key}; "
                            "that account's paper venue uses the first bot's")
        bot_venue[cfg.bot_id] = key
        if key not in limiters:
            vl = (limits or {}).get(cfg.venue) or DEFAULT_LIMITS[canonical_venue(cfg.venue)]
            limiters[key] = DualRateLimiter(vl, LimiterPolicy(share_pct=cfg.rate_limits_share_pct))
            registries[key] = SelfMatchRegistry()
        bots.append(Bot(cfg, instruments, cfg.venue, venue_params[key].maker_fee_bps, start_ms, seed,
                        limiters[key], registries[key], taker_fee_bps=venue_params[key].taker_fee_bps,
                        starting_equity_usd=cfg.paper.starting_equity_usd))
    return PaperSession(books, venues, bot_venue, bots, limiters), bots, warnings
