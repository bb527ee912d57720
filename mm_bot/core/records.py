"""Rows the core emits for persistence, one frozen dataclass per table.

The store's writer turns each record into an INSERT built from the dataclass fields
(field names are the column names), so the core never knows SQL and a new column is
one field here plus a migration in schema.sql. `CONFLICT` is the SQL tail for tables
where a row may be written again (fills are idempotent, orders and positions upsert).
All timestamps are UTC milliseconds; prices in quote currency, sizes in base units,
money in USD. Integer `*_lots` columns carry the exact sizes that reconcile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class BotRow:
    TABLE: ClassVar[str] = "bots"
    CONFLICT: ClassVar[str] = (
        "ON CONFLICT(bot_id) DO UPDATE SET venue=excluded.venue, mode=excluded.mode, "
        "config_json=excluded.config_json, status=excluded.status, ts_ms=excluded.ts_ms"
    )
    bot_id: str
    venue: str
    mode: str
    config_json: str
    status: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderRow:
    TABLE: ClassVar[str] = "orders"
    CONFLICT: ClassVar[str] = (
        "ON CONFLICT(bot_id, cloid) DO UPDATE SET price=excluded.price, size=excluded.size, "
        "size_lots=excluded.size_lots, status=excluded.status, filled=excluded.filled, "
        "filled_lots=excluded.filled_lots, venue_oid=excluded.venue_oid, reason=excluded.reason, "
        "updated_ms=excluded.updated_ms"
    )
    bot_id: str
    coin: str
    cloid: str
    side: str
    price: float
    size: float
    size_lots: int
    tif: str
    status: str
    filled: float
    filled_lots: int
    venue_oid: str
    reason: str
    ts_ms: int
    updated_ms: int


@dataclass(frozen=True, slots=True)
class OrderEventRow:
    TABLE: ClassVar[str] = "order_events"
    CONFLICT: ClassVar[str] = ""
    bot_id: str
    coin: str
    cloid: str
    event: str
    detail: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class TradeRow:
    """Placements, cancels and executions in one timeline (the product owner's `trades`)."""

    TABLE: ClassVar[str] = "trades"
    CONFLICT: ClassVar[str] = ""
    bot_id: str
    coin: str
    kind: str
    side: str
    price: float
    size: float
    cloid: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class FillRow:
    TABLE: ClassVar[str] = "fills"
    CONFLICT: ClassVar[str] = "ON CONFLICT(venue, fill_id) DO NOTHING"
    venue: str
    fill_id: str
    bot_id: str
    coin: str
    cloid: str
    side: str
    price: float
    size: float
    size_lots: int
    maker: int
    fee_usd: float
    notional_usd: float
    mid_at_fill: float
    spread_bps_at_fill: float
    counterparty: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class BookSnapshotRow:
    TABLE: ClassVar[str] = "orderbook_snapshots"
    CONFLICT: ClassVar[str] = ""
    bot_id: str
    coin: str
    best_bid: float
    best_ask: float
    mid: float
    spread_bps: float
    bid_depth: float
    ask_depth: float
    imbalance: float
    levels_json: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class PnlRow:
    TABLE: ClassVar[str] = "pnl_tracking"
    CONFLICT: ClassVar[str] = ""
    bot_id: str
    coin: str
    position: float
    position_lots: int
    avg_entry: float
    mid: float
    realized_usd: float
    unrealized_usd: float
    fees_usd: float
    funding_usd: float
    total_usd: float
    volume_usd: float
    ts_ms: int


@dataclass(frozen=True, slots=True)
class PositionRow:
    TABLE: ClassVar[str] = "positions"
    CONFLICT: ClassVar[str] = (
        "ON CONFLICT(bot_id, coin) DO UPDATE SET size=excluded.size, size_lots=excluded.size_lots, "
        "avg_entry=excluded.avg_entry, realized_usd=excluded.realized_usd, fees_usd=excluded.fees_usd, "
        "fills=excluded.fills, ts_ms=excluded.ts_ms"
    )
    bot_id: str
    coin: str
    size: float
    size_lots: int
    avg_entry: float
    realized_usd: float
    fees_usd: float
    fills: int
    ts_ms: int


@dataclass(frozen=True, slots=True)
class MetricRow:
    TABLE: ClassVar[str] = "performance_metrics"
    CONFLICT: ClassVar[str] = ""
    bot_id: str
    coin: str
    window_s: int
    fills: int
    maker_fills: int
    maker_ratio: float | None
    maker_ratio_notional: float | None
    placements: int
    cancels: int
    cancels_per_fill: float | None
    volume_usd: float
    ts_ms: int
    amends: int = 0
    rest_ms_median: float | None = None
    rest_ms_p90: float | None = None
    holding_ms_avg: float | None = None
    slippage_bps: float | None = None
    spread_at_fill_bps: float | None = None
    markout_1s_bps: float | None = None
    markout_10s_bps: float | None = None
    markout_60s_bps: float | None = None
    two_sided_share: float | None = None
    counterparties: int = 0
    ti_score: float | None = None


@dataclass(frozen=True, slots=True)
class SystemEventRow:
    TABLE: ClassVar[str] = "system_events"
    CONFLICT: ClassVar[str] = ""
    bot_id: str | None
    coin: str | None
    kind: str
    severity: str
    message: str
    details_json: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class RateLimitRow:
    TABLE: ClassVar[str] = "rate_limit_usage"
    CONFLICT: ClassVar[str] = ""
    venue: str
    account: str
    bucket: str
    used: float
    capacity: float
    pct: float
    critical: int
    ts_ms: int


@dataclass(frozen=True, slots=True)
class UptimeRow:
    TABLE: ClassVar[str] = "uptime"
    CONFLICT: ClassVar[str] = (
        "ON CONFLICT(bot_id, coin, hour_ms) DO UPDATE SET two_sided_s=excluded.two_sided_s, "
        "observed_s=excluded.observed_s, ts_ms=excluded.ts_ms"
    )
    bot_id: str
    coin: str
    hour_ms: int
    two_sided_s: float
    observed_s: float
    target_minutes: float
    ts_ms: int




@dataclass(frozen=True, slots=True)
class CommandRow:
    """A manual command: written as 'new' by scripts/kill.py, updated by the runner when acted on."""

    TABLE: ClassVar[str] = "commands"
    CONFLICT: ClassVar[str] = (
        "ON CONFLICT(id) DO UPDATE SET status=excluded.status, result=excluded.result, acted_ms=excluded.acted_ms"
    )
    id: int | None
    bot_id: str | None
    coin: str | None
    command: str
    status: str
    result: str
    ts_ms: int
    acted_ms: int | None


@dataclass(frozen=True, slots=True)
class PaperOrderRow:
    """A resting order of the paper venue (its own book of our orders), upserted on every change
    (a modify moves its price, size and queue seq); open=0 once it left the book. A restart loads the open ones (the venue survives the crash)."""

    TABLE: ClassVar[str] = "paper_orders"
    CONFLICT: ClassVar[str] = (
        "ON CONFLICT(venue_key, cloid) DO UPDATE SET px_ticks=excluded.px_ticks, sz_lots=excluded.sz_lots, "
        "filled_lots=excluded.filled_lots, queue_ahead=excluded.queue_ahead, seq=excluded.seq, "
        "open=excluded.open, ts_ms=excluded.ts_ms"
    )
    venue_key: str
    cloid: str
    bot_id: str
    coin: str
    side: int
    px_ticks: int
    sz_lots: int
    filled_lots: int
    queue_ahead: float
    seq: int
    open: int
    ts_ms: int


@dataclass(frozen=True, slots=True)
class PaperFillRow:
    """The paper venue's own fill ledger (every execution, delivered to the bot or not)."""

    TABLE: ClassVar[str] = "paper_fills"
    CONFLICT: ClassVar[str] = "ON CONFLICT(venue_key, fill_id) DO NOTHING"
    venue_key: str
    fill_id: str
    bot_id: str
    coin: str
    cloid: str
    side: int
    px_ticks: int
    sz_lots: int
    maker: int
    fee_usd: float
    remaining_lots: int
    counterparty: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class NonceRow:
    """The last nonce issued per signer; a restart restores max(this, now) (never lowers it)."""

    TABLE: ClassVar[str] = "nonces"
    CONFLICT: ClassVar[str] = (
        "ON CONFLICT(signer) DO UPDATE SET last_nonce=MAX(last_nonce, excluded.last_nonce), ts_ms=excluded.ts_ms"
    )
    signer: str
    last_nonce: int
    ts_ms: int


Record = (
    BotRow
    | OrderRow
    | OrderEventRow
    | TradeRow
    | FillRow
    | BookSnapshotRow
    | PnlRow
    | PositionRow
    | MetricRow
    | SystemEventRow
    | RateLimitRow
    | UptimeRow
    | CommandRow
    | PaperOrderRow
    | PaperFillRow
    | NonceRow
)
