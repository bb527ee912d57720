-- mm_bot database schema. One SQLite file per deployment, WAL mode (set by open_db).
-- Every timestamp is UTC milliseconds since the epoch (ts_ms); prices in quote currency,
-- sizes in base units (contracts for inverse instruments), money in USD. Integer *_lots
-- columns hold exact sizes in venue lots: positions reconcile with fills on them.
-- The runner applies this file to a new database and sets PRAGMA user_version.

CREATE TABLE IF NOT EXISTS bots (
    bot_id      TEXT PRIMARY KEY,
    venue       TEXT NOT NULL,
    mode        TEXT NOT NULL,
    config_json TEXT NOT NULL,
    status      TEXT NOT NULL,          -- running | stopped | failed | paused | killed
    ts_ms       INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS orders (
    id          INTEGER PRIMARY KEY,
    bot_id      TEXT NOT NULL,
    coin        TEXT NOT NULL,
    cloid       TEXT NOT NULL,
    side        TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    price       REAL NOT NULL,
    size        REAL NOT NULL,
    size_lots   INTEGER NOT NULL,
    tif         TEXT NOT NULL,
    status      TEXT NOT NULL,          -- pending | open | partially_filled | filled | cancelled | rejected
    filled      REAL NOT NULL DEFAULT 0,
    filled_lots INTEGER NOT NULL DEFAULT 0,
    venue_oid   TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT '',
    ts_ms       INTEGER NOT NULL,       -- created
    updated_ms  INTEGER NOT NULL,
    UNIQUE (bot_id, cloid)
);
CREATE INDEX IF NOT EXISTS idx_orders_bot_coin_ts ON orders (bot_id, coin, ts_ms);
CREATE INDEX IF NOT EXISTS idx_orders_status ON orders (status);

CREATE TABLE IF NOT EXISTS order_events (
    id      INTEGER PRIMARY KEY,
    bot_id  TEXT NOT NULL,
    coin    TEXT NOT NULL,
    cloid   TEXT NOT NULL,
    event   TEXT NOT NULL,              -- the state entered, cancel_requested, or modify_requested | modified | modify_failed
    detail  TEXT NOT NULL DEFAULT '',
    ts_ms   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_order_events_bot_coin_ts ON order_events (bot_id, coin, ts_ms);

CREATE TABLE IF NOT EXISTS trades (
    id      INTEGER PRIMARY KEY,
    bot_id  TEXT NOT NULL,
    coin    TEXT NOT NULL,
    kind    TEXT NOT NULL,              -- place | cancel | modify (new price, size to rest) | fill
    side    TEXT NOT NULL,
    price   REAL NOT NULL,
    size    REAL NOT NULL,
    cloid   TEXT NOT NULL,
    ts_ms   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_trades_bot_coin_ts ON trades (bot_id, coin, ts_ms);

CREATE TABLE IF NOT EXISTS fills (
    id                 INTEGER PRIMARY KEY,
    venue              TEXT NOT NULL,
    fill_id            TEXT NOT NULL,
    bot_id             TEXT NOT NULL,
    coin               TEXT NOT NULL,
    cloid              TEXT NOT NULL,
    side               TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    price              REAL NOT NULL,
    size               REAL NOT NULL,
    size_lots          INTEGER NOT NULL,
    maker              INTEGER NOT NULL,  -- 1 maker, 0 taker
    fee_usd            REAL NOT NULL,     -- positive cost, negative rebate
    notional_usd       REAL NOT NULL,
    mid_at_fill        REAL NOT NULL,
    spread_bps_at_fill REAL NOT NULL,
    counterparty       TEXT NOT NULL DEFAULT '',
    ts_ms              INTEGER NOT NULL,
    UNIQUE (venue, fill_id)
);
CREATE INDEX IF NOT EXISTS idx_fills_bot_coin_ts ON fills (bot_id, coin, ts_ms);

CREATE TABLE IF NOT EXISTS orderbook_snapshots (
    id          INTEGER PRIMARY KEY,
    bot_id      TEXT NOT NULL,
    coin        TEXT NOT NULL,
    best_bid    REAL NOT NULL,
    best_ask    REAL NOT NULL,
    mid         REAL NOT NULL,
    spread_bps  REAL NOT NULL,
    bid_depth   REAL NOT NULL,          -- base units over the levels in levels_json
    ask_depth   REAL NOT NULL,
    imbalance   REAL NOT NULL,
    levels_json TEXT NOT NULL,          -- {"bids": [[px, sz], ...], "asks": [...]}, top 5
    ts_ms       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_snapshots_bot_coin_ts ON orderbook_snapshots (bot_id, coin, ts_ms);

CREATE TABLE IF NOT EXISTS pnl_tracking (
    id             INTEGER PRIMARY KEY,
    bot_id         TEXT NOT NULL,
    coin           TEXT NOT NULL,
    position       REAL NOT NULL,
    position_lots  INTEGER NOT NULL,
    avg_entry      REAL NOT NULL,
    mid            REAL NOT NULL,
    realized_usd   REAL NOT NULL,       -- before fees
    unrealized_usd REAL NOT NULL,
    fees_usd       REAL NOT NULL,
    funding_usd    REAL NOT NULL,       -- positive received
    total_usd      REAL NOT NULL,       -- realized + unrealized - fees + funding
    volume_usd     REAL NOT NULL,
    ts_ms          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_pnl_bot_coin_ts ON pnl_tracking (bot_id, coin, ts_ms);

CREATE TABLE IF NOT EXISTS positions (
    bot_id       TEXT NOT NULL,
    coin         TEXT NOT NULL,
    size         REAL NOT NULL,
    size_lots    INTEGER NOT NULL,
    avg_entry    REAL NOT NULL,
    realized_usd REAL NOT NULL,
    fees_usd     REAL NOT NULL,
    fills        INTEGER NOT NULL,
    ts_ms        INTEGER NOT NULL,
    PRIMARY KEY (bot_id, coin)
);
CREATE INDEX IF NOT EXISTS idx_positions_bot_coin_ts ON positions (bot_id, coin, ts_ms);

CREATE TABLE IF NOT EXISTS performance_metrics (
    id                   INTEGER PRIMARY KEY,
    bot_id               TEXT NOT NULL,
    coin                 TEXT NOT NULL,
    window_s             INTEGER NOT NULL,  -- 60: the minute ending at ts_ms; longer: the rolling window
    fills                INTEGER NOT NULL,
    maker_fills          INTEGER NOT NULL,
    maker_ratio          REAL,              -- NULL when the window has no fill
    maker_ratio_notional REAL,
    placements           INTEGER NOT NULL,
    cancels              INTEGER NOT NULL,
    cancels_per_fill     REAL,              -- NULL when the window has no fill
    volume_usd           REAL NOT NULL,
    ts_ms                INTEGER NOT NULL,
    -- TI metrics (DESIGN 6); NULL where undefined in the window (e.g. no fill, no order ended)
    amends               INTEGER NOT NULL DEFAULT 0,
    rest_ms_median       REAL,              -- order rest time: fill or cancel - venue acceptance
    rest_ms_p90          REAL,
    holding_ms_avg       REAL,              -- FIFO lot holding time, size-weighted
    slippage_bps         REAL,              -- side x (fill - mid) / mid, notional-weighted; < 0 is edge
    spread_at_fill_bps   REAL,
    markout_1s_bps       REAL,              -- side x (mid then - fill) / fill
    markout_10s_bps      REAL,
    markout_60s_bps      REAL,
    two_sided_share      REAL,              -- share of the window with both sides resting
    counterparties       INTEGER NOT NULL DEFAULT 0,
    ti_score             REAL               -- 0-100, weighting in the README
);
CREATE INDEX IF NOT EXISTS idx_metrics_bot_coin_ts ON performance_metrics (bot_id, coin, ts_ms);

CREATE TABLE IF NOT EXISTS system_events (
    id           INTEGER PRIMARY KEY,
    bot_id       TEXT,                  -- NULL for process-wide events
    coin         TEXT,
    kind         TEXT NOT NULL,         -- start | stop | error | feed | reject | kill | pause | resume | autotune | ...
    severity     TEXT NOT NULL CHECK (severity IN ('debug', 'info', 'warning', 'error', 'critical')),
    message      TEXT NOT NULL,
    details_json TEXT NOT NULL DEFAULT '{}',
    ts_ms        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_system_events_bot_coin_ts ON system_events (bot_id, coin, ts_ms);
CREATE INDEX IF NOT EXISTS idx_system_events_kind ON system_events (kind, ts_ms);

CREATE TABLE IF NOT EXISTS rate_limit_usage (
    id       INTEGER PRIMARY KEY,
    venue    TEXT NOT NULL,
    account  TEXT NOT NULL,
    bucket   TEXT NOT NULL,             -- rest | ws
    used     REAL NOT NULL,
    capacity REAL NOT NULL,
    pct      REAL NOT NULL,
    critical INTEGER NOT NULL,
    ts_ms    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_rate_limit_ts ON rate_limit_usage (venue, account, ts_ms);

CREATE TABLE IF NOT EXISTS uptime (
    bot_id         TEXT NOT NULL,
    coin           TEXT NOT NULL,
    hour_ms        INTEGER NOT NULL,    -- start of the UTC hour
    two_sided_s    REAL NOT NULL,       -- seconds with both sides resting
    observed_s     REAL NOT NULL,       -- seconds the bot was quoting this coin
    target_minutes REAL NOT NULL,
    ts_ms          INTEGER NOT NULL,
    PRIMARY KEY (bot_id, coin, hour_ms)
);
CREATE INDEX IF NOT EXISTS idx_uptime_bot_coin_ts ON uptime (bot_id, coin, ts_ms);

CREATE TABLE IF NOT EXISTS commands (
    id        INTEGER PRIMARY KEY,
    bot_id    TEXT,                     -- NULL: every bot
    coin      TEXT,                     -- NULL: every coin of the bot (take_profit, flatten)
    command   TEXT NOT NULL CHECK (command IN ('pause', 'resume', 'stop', 'flatten', 'take_profit')),
    status    TEXT NOT NULL DEFAULT 'new',  -- new | done | failed
    result    TEXT NOT NULL DEFAULT '',
    ts_ms     INTEGER NOT NULL,
    acted_ms  INTEGER
);
CREATE INDEX IF NOT EXISTS idx_commands_status ON commands (status, ts_ms);

-- The paper venue's own state, so a restart after a crash finds it (schema v4): its resting
-- orders (upserted; open=0 once off the book) and its fill ledger (delivered to the bot or not).
-- venue_key is 'venue:account'. Prices in ticks, sizes in lots of the instrument.
CREATE TABLE IF NOT EXISTS paper_orders (
    venue_key   TEXT NOT NULL,
    cloid       TEXT NOT NULL,
    bot_id      TEXT NOT NULL,
    coin        TEXT NOT NULL,
    side        INTEGER NOT NULL,       -- 1 buy, -1 sell
    px_ticks    INTEGER NOT NULL,
    sz_lots     INTEGER NOT NULL,
    filled_lots INTEGER NOT NULL,
    queue_ahead REAL NOT NULL,
    seq         INTEGER NOT NULL,       -- venue order id
    open        INTEGER NOT NULL,       -- 1 resting, 0 filled or cancelled
    ts_ms       INTEGER NOT NULL,
    PRIMARY KEY (venue_key, cloid)
);
CREATE INDEX IF NOT EXISTS idx_paper_orders_open ON paper_orders (venue_key, open);
CREATE INDEX IF NOT EXISTS idx_paper_orders_bot_coin_ts ON paper_orders (bot_id, coin, ts_ms);

CREATE TABLE IF NOT EXISTS paper_fills (
    id             INTEGER PRIMARY KEY,
    venue_key      TEXT NOT NULL,
    fill_id        TEXT NOT NULL,
    bot_id         TEXT NOT NULL,
    coin           TEXT NOT NULL,
    cloid          TEXT NOT NULL,
    side           INTEGER NOT NULL,    -- 1 buy, -1 sell
    px_ticks       INTEGER NOT NULL,
    sz_lots        INTEGER NOT NULL,
    maker          INTEGER NOT NULL,
    fee_usd        REAL NOT NULL,
    remaining_lots INTEGER NOT NULL,
    counterparty   TEXT NOT NULL DEFAULT '',
    ts_ms          INTEGER NOT NULL,
    UNIQUE (venue_key, fill_id)
);
CREATE INDEX IF NOT EXISTS idx_paper_fills_bot_coin_ts ON paper_fills (bot_id, coin, ts_ms);

-- Last nonce issued per signer (schema v4); a restart restores max(last_nonce, now).
CREATE TABLE IF NOT EXISTS nonces (
    signer     TEXT PRIMARY KEY,        -- lowercased address
    last_nonce INTEGER NOT NULL,
    ts_ms      INTEGER NOT NULL
);
