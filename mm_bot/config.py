"""Bot configuration: one JSON file per bot, validated, defaulted and frozen.

Pipeline for each file (every problem of every file is collected before anything raises):

1. parse the JSON (malformed JSON names the line and column; duplicate keys and NaN/Infinity are problems);
2. validate against ``config.schema.json`` (JSON Schema draft 2020-12, ``additionalProperties: false``
   everywhere; an unknown key gets a "did you mean" hint);
3. named cross-field rules (``[rule_name] message``), on the bot-wide values and on each coin's
   ``per_coin`` view;
4. apply the schema's defaults and build frozen dataclasses.

Each problem reads ``FILE: json.path: message`` with a path such as ``$``, ``$.coins[1]`` or
``$.per_coin.BTC.min_spread_bps``. Two files with the same ``bot_id`` are a problem too.

The schema is the single source of the keys, their defaults and their descriptions; ``docs/CONFIG.md`` is
generated from it by :func:`config_reference_markdown`. Secrets never live in config.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_PATH = Path(__file__).with_name("config.schema.json")


class ConfigError(Exception):
    """One or more configuration problems; ``problems`` holds one ``FILE: json.path: message`` each."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __str__(self) -> str:
        return "\n".join(self.problems)


# ---------------------------------------------------------------- dataclasses


class FrozenDict(dict):
    """A read-only, hashable dict: still ``isinstance(x, dict)`` and JSON-serializable."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} is read-only")

    __setitem__ = __delitem__ = __ior__ = _read_only  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple:
        return (type(self), (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"


@dataclass(frozen=True)
class TiProxyConfig:
    """Transaction-impact targets (`ti_proxy`)."""

    target_maker_ratio: float
    max_slippage_frac: float
    min_avg_holding_ms: int
    max_cancel_per_fill: float
    target_two_sided_uptime: float
    min_rest_ms: int


@dataclass(frozen=True)
class PaperConfig:
    """The simulated venue (`paper`)."""

    entry_latency_ms: int
    response_latency_ms: int
    maker_fee_bps: float
    taker_fee_bps: float
    queue_model: str
    queue_power_n: float
    partial_fills: bool
    market_data: str
    replay_time: str
    reject_rate: float
    http429_rate: float
    http5xx_rate: float
    timeout_rate: float
    delayed_ack_rate: float
    delayed_ack_ms: int
    drop_fill_rate: float
    starting_equity_usd: float


@dataclass(frozen=True)
class InstrumentConfig:
    """Trading rules of one coin (`instruments.<coin>`); None means "from venue metadata / preset"."""

    tick_size: float | None
    lot_size: float | None
    contract_size: float
    inverse: bool
    min_notional_usd: float | None
    max_sig_figs: int | None


@dataclass(frozen=True)
class SyntheticConfig:
    """Synthetic market overrides of one coin (`synthetic.<coin>`); None means "the preset's value"."""

    preset: str | None
    start_price: float | None
    annual_vol: float | None
    trade_rate_per_sec: float | None


@dataclass(frozen=True)
class BotConfig:
    """The effective configuration of one bot: one attribute per top-level key of the schema.

    ``instruments``, ``synthetic`` and ``per_coin`` are read-only dicts (:class:`FrozenDict`) keyed by coin;
    ``per_coin`` maps a coin to a read-only dict of overridden key -> value (already type-checked). A coin
    absent from ``instruments`` / ``synthetic`` has no entry; in an entry, None means "the venue's / the
    preset's value". Use :meth:`for_coin` to get
    the configuration a coin actually runs with. ``source`` is the file the config came from (not part of
    equality, not in :meth:`to_json`).
    """

    # identity
    bot_id: str
    venue: str
    mode: str
    coins: tuple[str, ...]
    account: str
    # loop and sizing
    loop_ms: int
    size_notional_usd: float
    max_per_coin_notional: float
    max_gross_notional: float
    # spread
    min_spread_bps: float
    min_spread_guard_enabled: bool
    min_spread_guard_buffer_bps: float
    single_sided_mode: str
    single_sided_flip_cooldown_loops: int
    single_sided_market_aware: bool
    ss_ma_half_life_sec: float
    ss_ma_min_maker_share: float
    ss_ma_side_bias_ratio: float
    dynamic_min_spread_enabled: bool
    dynamic_min_spread_percentile: float
    dynamic_min_spread_lookback_loops: int
    dynamic_min_spread_update_every_loops: int
    # portfolio loss
    emergency_stop_loss_pct: float
    portfolio_pause_threshold_pct: float
    # exits
    bailout_partial_mae_bps: float
    bailout_full_mae_bps: float
    bailout_full_max_seconds: float
    bailout_partial_min_seconds: float
    bailout_partial_reduce_fraction: float
    take_profit_min_bps: float
    take_profit_min_usd: float
    enhanced_take_profit_enabled: bool
    emergency_take_profit_enabled: bool
    emergency_take_profit_min_usd: float
    # requoting
    min_replace_ms: int
    move_threshold_ticks: int
    housekeep_every_n: int
    use_websocket: bool
    market_data_update_freq: int
    batch_orders: bool
    requote_with_modify: bool
    # margin
    margin_cap_mode: str
    assumed_leverage: float
    margin_cap_fraction: float
    # autotune
    autotune_enabled: bool
    autotune_window_minutes: float
    autotune_min_maker_share: float
    # flatten
    flatten_on_start: bool
    flatten_max_spread_bps: float
    flatten_max_slippage_bps: float
    # telemetry
    telemetry_enabled: bool
    telemetry_console: bool
    telemetry_db: bool
    # strategy
    width_vol_mult: float
    vol_lookback_sec: float
    inv_skew_strength: float
    imbalance_skew_strength: float
    imbalance_levels: int
    funding_bias_strength: float
    refresh_min_ms: int
    refresh_jitter_ms: int
    reference_price: str
    join_offset_ticks: int
    order_levels: int
    level_spacing_bps: float
    level_size_mult: float
    requote_threshold_bps: float
    stale_order_seconds: float
    proximity_guard_bps: float
    uptime_target_minutes: float
    fixed_size_base: float | None
    max_position_base: float | None
    # risk
    max_symbol_notional: float
    max_portfolio_var_usd: float
    var_lookback_sec: float
    daily_loss_limit_usd: float
    drawdown_step_down: bool
    drawdown_step_pct: float
    pause_cooldown_sec: float
    max_spread_kill_bps: float
    md_gap_kill_sec: float
    error_kill_count: int
    error_kill_window_sec: float
    flatten_on_kill: bool
    flatten_on_stop: bool
    # compliance
    self_match_protect: bool
    loop_min_holding_ms: int
    max_amends_per_sec: float
    rate_limits_share_pct: float
    # groups
    ti_proxy: TiProxyConfig
    paper: PaperConfig
    instruments: FrozenDict[str, InstrumentConfig]
    synthetic: FrozenDict[str, SyntheticConfig]
    per_coin: FrozenDict[str, FrozenDict[str, Any]]
    # where it came from
    source: str = field(compare=False)
    _coin_views: dict[str, BotConfig] = field(default_factory=dict, init=False, repr=False, compare=False)

    def for_coin(self, coin: str) -> BotConfig:
        """This config with ``per_coin[coin]`` applied (cached; ``self`` when the coin has no overrides)."""
        view = self._coin_views.get(coin)
        if view is None:
            if coin not in self.coins:
                raise KeyError(f"coin {coin!r} is not in coins of bot {self.bot_id!r}: {list(self.coins)}")
            overrides = self.per_coin.get(coin)
            view = dataclasses.replace(self, **overrides) if overrides else self
            self._coin_views[coin] = view
        return view

    def to_dict(self) -> dict[str, Any]:
        """The effective config as plain JSON values (every key, defaults filled in; no ``source``)."""
        return {
            f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name in _CONFIG_KEYS
        }

    def to_json(self) -> str:
        """Canonical JSON of the effective config (sorted keys, compact); loads back to an equal config."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


# ---------------------------------------------------------------- schema access


@cache
def _schema() -> dict:
    with SCHEMA_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


def schema() -> dict:
    """The configuration JSON Schema (a fresh copy; the loaded original is never mutated)."""
    return json.loads(json.dumps(_schema()))


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(_schema())


def _resolve(node: dict) -> dict:
    """Follow a local ``$ref`` (``#/a/b``) of the schema, merging sibling keywords over the target."""
    ref = node.get("$ref")
    if ref is None:
        return node
    target: Any = _schema()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    target = _resolve(target)
    extra = {k: v for k, v in node.items() if k != "$ref"}
    return {**target, **extra} if extra else target


def _props() -> dict[str, dict]:
    return _schema()["properties"]


def _group_props(key: str) -> dict[str, dict]:
    """Properties of an object group (``paper``, ``ti_proxy``) or of the value of a coin map."""
    node = _props()[key]
    if "properties" in node:
        return node["properties"]
    return _resolve(node["additionalProperties"])["properties"]


def per_coin_keys() -> tuple[str, ...]:
    """Top-level keys that ``per_coin`` may override."""
    return tuple(_schema()["$defs"]["coin_overrides"]["properties"])


_CONFIG_KEYS = frozenset(_schema()["properties"])


# ---------------------------------------------------------------- paths and messages


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(parts: Iterable[str | int]) -> str:
    """``$``-rooted path: ``$.per_coin.BTC.min_spread_bps``, ``$.coins[1]``, ``$.per_coin["@1"]``."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _show(value: Any) -> str:
    text = json.dumps(value, allow_nan=True)
    return text if len(text) <= 60 else text[:57] + "..."


_JSON_TYPE = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    type(None): "null",
}


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    return _JSON_TYPE.get(type(value), type(value).__name__)


def _type_words(types: Any) -> str:
    types = types if isinstance(types, list) else [types]
    words = {
        "object": "an object",
        "array": "an array",
        "string": "a string",
        "number": "a number",
        "integer": "an integer",
        "boolean": "true or false",
        "null": "null",
    }
    return " or ".join(words.get(t, t) for t in types)


# ---------------------------------------------------------------- parsing


class _Obj(dict):
    """A parsed JSON object that remembers keys given more than once."""

    dups: tuple[str, ...] = ()


def _object_pairs(pairs: list[tuple[str, Any]]) -> _Obj:
    obj = _Obj(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        obj.dups = tuple(k for k, _ in pairs if k in seen or seen.add(k))
    return obj


def _parse(text: str, problems: list[tuple[tuple, str]]) -> Any:
    doc = json.loads(text, object_pairs_hook=_object_pairs)
    _scan(doc, (), problems)
    return doc


def _scan(node: Any, path: tuple, problems: list[tuple[tuple, str]]) -> None:
    """Duplicate keys and non-finite numbers (Python's json accepts NaN/Infinity; JSON does not)."""
    if isinstance(node, dict):
        for key in getattr(node, "dups", ()):
            problems.append((path + (key,), f"duplicate key {key!r}: only the last value would be used"))
        for key, value in node.items():
            _scan(value, path + (key,), problems)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _scan(value, path + (i,), problems)
    elif isinstance(node, float) and not math.isfinite(node):
        problems.append((path, f"{'NaN' if math.isnan(node) else 'Infinity'} is not a valid JSON number"))


# ---------------------------------------------------------------- schema validation


_NON_POISONING = {"required", "additionalProperties", "propertyNames"}


def _schema_problems(doc: Any) -> tuple[list[tuple[tuple, str]], list[tuple]]:
    """Schema problems as (path, message), and the paths whose values are invalid."""
    problems: list[tuple[tuple, str]] = []
    bad_paths: list[tuple] = []
    top = _props()
    for err in _validator().iter_errors(doc):
        path = tuple(err.absolute_path)
        kind = err.validator
        inst = err.instance
        if "propertyNames" in err.schema_path:
            problems.append(
                (path + (str(inst),), f"invalid coin symbol {inst!r}: must match {err.validator_value}")
            )
            continue
        if kind not in _NON_POISONING:
            bad_paths.append(path)
        if kind == "additionalProperties" and isinstance(inst, dict):
            allowed = err.schema.get("properties", {})
            per_coin_level = len(path) == 2 and path[0] == "per_coin"
            for key in inst:
                if key in allowed:
                    continue
                if per_coin_level and key in top:
                    msg = f"{key!r} applies to the whole bot and cannot be overridden per coin"
                else:
                    msg = f"unknown key {key!r}{_hint(key, allowed)}"
                problems.append((path + (key,), msg))
        elif kind == "required" and isinstance(inst, dict):
            for key in err.validator_value:
                if key not in inst:
                    problems.append((path, f"missing required key {key!r}"))
        elif kind == "type":
            problems.append(
                (path, f"must be {_type_words(err.validator_value)}, got {_json_type(inst)} {_show(inst)}")
            )
        elif kind == "enum":
            options = ", ".join(_show(v) for v in err.validator_value)
            hint = (
                _hint(inst, [v for v in err.validator_value if isinstance(v, str)])
                if isinstance(inst, str)
                else ""
            )
            problems.append((path, f"must be one of {options}, got {_show(inst)}{hint}"))
        elif kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
            op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[kind]
            problems.append((path, f"must be {op} {err.validator_value}, got {_show(inst)}"))
        elif kind == "minItems":
            problems.append((path, f"must have at least {err.validator_value} item(s)"))
        elif kind == "uniqueItems":
            dups = sorted({_show(v) for i, v in enumerate(inst) if v in inst[:i]})
            problems.append((path, f"must not repeat items: {', '.join(dups)}"))
        elif kind == "pattern":
            problems.append((path, f"{_show(inst)} does not match {err.validator_value}"))
        elif kind == "minLength":
            problems.append((path, f"must be at least {err.validator_value} character(s) long"))
        elif kind == "maxLength":
            problems.append((path, f"must be at most {err.validator_value} characters long"))
        else:
            problems.append((path, err.message))
    return problems, bad_paths


# ---------------------------------------------------------------- cross-field rules


@dataclass(frozen=True)
class Rule:
    """A named cross-field check. ``keys`` are the (dotted) keys it reads; the problem is reported at
    ``keys[0]``. ``check`` gets a getter of effective values and returns a message, or None when satisfied."""

    name: str
    doc: str
    keys: tuple[str, ...]
    check: Callable[[Callable[[str], Any]], str | None]


def _le(a: str, b: str, name: str) -> Rule:
    return Rule(
        name,
        f"`{a}` <= `{b}`",
        (a, b),
        lambda g: None if g(a) <= g(b) else f"{a} ({g(a)}) must be <= {b} ({g(b)})",
    )


def _ge(a: str, b: str, name: str) -> Rule:
    return Rule(
        name,
        f"`{a}` >= `{b}`",
        (a, b),
        lambda g: None if g(a) >= g(b) else f"{a} ({g(a)}) must be >= {b} ({g(b)})",
    )


def _replay_not_live(g: Callable[[str], Any]) -> str | None:
    if g("mode") != "paper" and g("paper.market_data") == "replay":
        return f"paper.market_data 'replay' needs mode 'paper', not {g('mode')!r}"
    return None


def _emergency_tp(g: Callable[[str], Any]) -> str | None:
    if g("emergency_take_profit_enabled") and g("emergency_take_profit_min_usd") < g("take_profit_min_usd"):
        return (
            f"emergency_take_profit_min_usd ({g('emergency_take_profit_min_usd')}) must be >= "
            f"take_profit_min_usd ({g('take_profit_min_usd')}) while emergency_take_profit_enabled"
        )
    return None


def _fixed_size(g: Callable[[str], Any]) -> str | None:
    size, cap = g("fixed_size_base"), g("max_position_base")
    if size is not None and cap is not None and size > cap:
        return f"fixed_size_base ({size}) must be <= max_position_base ({cap})"
    return None


# Venues whose order API can move a resting order in place (requote_with_modify).
MODIFY_VENUES = ("hyperliquid", "woofi_pro")


def _modify_venue(g: Callable[[str], Any]) -> str | None:
    if g("requote_with_modify") and g("venue") not in MODIFY_VENUES:
        return (
            f"requote_with_modify needs a venue with an order modify endpoint ({', '.join(MODIFY_VENUES)}); "
            f"{g('venue')} has none: set it to false"
        )
    return None


_FAULTS = ("paper.reject_rate", "paper.http429_rate", "paper.http5xx_rate", "paper.timeout_rate")


def _fault_sum(g: Callable[[str], Any]) -> str | None:
    total = sum(g(k) for k in _FAULTS)
    if total > 1:
        return f"reject_rate + http429_rate + http5xx_rate + timeout_rate ({total:g}) must be <= 1"
    return None


RULES: tuple[Rule, ...] = (
    _le("size_notional_usd", "max_per_coin_notional", "size_within_coin_cap"),
    _le("max_per_coin_notional", "max_gross_notional", "coin_cap_within_gross"),
    _le("max_symbol_notional", "max_gross_notional", "symbol_cap_within_gross"),
    _ge("bailout_full_mae_bps", "bailout_partial_mae_bps", "bailout_order"),
    _le("bailout_partial_min_seconds", "bailout_full_max_seconds", "bailout_timing"),
    _le(
        "dynamic_min_spread_update_every_loops", "dynamic_min_spread_lookback_loops", "dynamic_spread_window"
    ),
    _le("portfolio_pause_threshold_pct", "emergency_stop_loss_pct", "pause_before_emergency_stop"),
    Rule(
        "replay_paper_only",
        "`paper.market_data` replay only with `mode` paper",
        ("paper.market_data", "mode"),
        _replay_not_live,
    ),
    Rule(
        "emergency_take_profit_order",
        "`emergency_take_profit_min_usd` >= `take_profit_min_usd` while `emergency_take_profit_enabled`",
        ("emergency_take_profit_min_usd", "take_profit_min_usd", "emergency_take_profit_enabled"),
        _emergency_tp,
    ),
    Rule(
        "fixed_size_within_position_cap",
        "`fixed_size_base` <= `max_position_base` when both are set",
        ("fixed_size_base", "max_position_base"),
        _fixed_size,
    ),
    Rule(
        "modify_needs_venue_support",
        "`requote_with_modify` only on a venue with an order modify endpoint (hyperliquid, woofi_pro; not standx)",
        ("requote_with_modify", "venue"),
        _modify_venue,
    ),
    _ge("paper.taker_fee_bps", "paper.maker_fee_bps", "paper_fee_order"),
    Rule("paper_fault_rates", "`paper` reject + 429 + 5xx + timeout rates sum to <= 1", _FAULTS, _fault_sum),
)
"""Cross-field rules, run on the bot-wide values and again on each coin's per_coin view."""

COIN_LISTED_DOC = "every coin under `instruments`, `synthetic` and `per_coin` is in `coins`"


def _defaults(props: Mapping[str, dict]) -> dict[str, Any]:
    return {k: _resolve(p).get("default") for k, p in props.items()}


def _effective(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level values with defaults (groups merged with their own defaults); invalid values are kept."""
    out = {k: doc.get(k, _resolve(p).get("default")) for k, p in _props().items()}
    for group in ("paper", "ti_proxy"):
        given = doc.get(group)
        out[group] = {**_defaults(_group_props(group)), **(given if isinstance(given, dict) else {})}
    return out


def _key_path(key: str) -> tuple[str, ...]:
    return tuple(key.split("."))


def _cross_problems(doc: Any, bad_paths: list[tuple]) -> list[tuple[tuple, str]]:
    if not isinstance(doc, dict):
        return []
    bad = [p for p in bad_paths if p]

    def is_bad(path: tuple) -> bool:
        return any(p[: len(path)] == path or path[: len(p)] == p for p in bad)

    problems: list[tuple[tuple, str]] = []
    base = _effective(doc)

    def getter(view: Mapping[str, Any]) -> Callable[[str], Any]:
        def g(key: str) -> Any:
            value: Any = view
            for part in key.split("."):
                value = value[part]
            return value

        return g

    for rule in RULES:
        if any(is_bad(_key_path(k)) for k in rule.keys):
            continue
        msg = rule.check(getter(base))
        if msg:
            problems.append((_key_path(rule.keys[0]), f"[{rule.name}] {msg}"))

    per_coin = doc.get("per_coin")
    overridable = set(per_coin_keys())
    if isinstance(per_coin, dict):
        for coin, overrides in per_coin.items():
            if not isinstance(overrides, dict):
                continue
            overrides = {k: v for k, v in overrides.items() if k in overridable}
            view = {**base, **overrides}
            for rule in RULES:
                touched = [k for k in rule.keys if k in overrides]
                if not touched:
                    continue
                paths = [("per_coin", coin, k) if k in overrides else _key_path(k) for k in rule.keys]
                if any(is_bad(p) for p in paths):
                    continue
                msg = rule.check(getter(view))
                if msg:
                    where = rule.keys[0] if rule.keys[0] in overrides else touched[0]
                    problems.append((("per_coin", coin, where), f"[{rule.name}] {msg} for coin {coin}"))

    coins = doc.get("coins")
    if isinstance(coins, list):
        listed = [c for c in coins if isinstance(c, str)]
        for section in ("instruments", "synthetic", "per_coin"):
            entries = doc.get(section)
            if not isinstance(entries, dict):
                continue
            for coin in entries:
                if coin not in listed:
                    problems.append(
                        (
                            (section, coin),
                            f"[coin_listed] coin {coin!r} is not in coins {listed}{_hint(coin, listed)}",
                        )
                    )
    return problems


# ---------------------------------------------------------------- building


def _coerce(prop: dict, value: Any) -> Any:
    """JSON value -> the dataclass's Python type (numbers are floats, integers ints)."""
    if value is None or isinstance(value, bool):
        return value
    types = _resolve(prop).get("type")
    types = types if isinstance(types, list) else [types]
    if "integer" in types and isinstance(value, int | float):
        return int(value)
    if "number" in types and isinstance(value, int | float):
        return float(value)
    return value


def _group(cls: type, props: Mapping[str, dict], given: Mapping[str, Any]) -> Any:
    values = {k: _coerce(p, given.get(k, _resolve(p).get("default"))) for k, p in props.items()}
    return cls(**values)


def _build(doc: Mapping[str, Any], source: str) -> BotConfig:
    props = _props()
    values: dict[str, Any] = {}
    for key, prop in props.items():
        if key in ("ti_proxy", "paper", "instruments", "synthetic", "per_coin"):
            continue
        values[key] = _coerce(prop, doc.get(key, _resolve(prop).get("default")))
    values["coins"] = tuple(values["coins"])
    values["ti_proxy"] = _group(TiProxyConfig, _group_props("ti_proxy"), doc.get("ti_proxy", {}))
    values["paper"] = _group(PaperConfig, _group_props("paper"), doc.get("paper", {}))
    inst_props, synth_props = _group_props("instruments"), _group_props("synthetic")
    values["instruments"] = FrozenDict(
        {c: _group(InstrumentConfig, inst_props, e) for c, e in doc.get("instruments", {}).items()}
    )
    values["synthetic"] = FrozenDict(
        {c: _group(SyntheticConfig, synth_props, e) for c, e in doc.get("synthetic", {}).items()}
    )
    values["per_coin"] = FrozenDict(
        {
            c: FrozenDict({k: _coerce(props[k], v) for k, v in ov.items()})
            for c, ov in doc.get("per_coin", {}).items()
        }
    )
    return BotConfig(**values, source=source)


# ---------------------------------------------------------------- public entry points


def _check_file(path: Path) -> tuple[Any, list[str]]:
    """Parse and validate one file: (document or None, formatted problems)."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [f"{name}: $: cannot read file: {exc.strerror or exc}"]
    except UnicodeDecodeError as exc:
        return None, [f"{name}: $: not UTF-8 text: {exc.reason} at byte {exc.start}"]
    found: list[tuple[tuple, str]] = []
    try:
        doc = _parse(text, found)
    except json.JSONDecodeError as exc:
        return None, [f"{name}: $: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
    schema_found, bad_paths = _schema_problems(doc)
    found += schema_found
    found += _cross_problems(doc, bad_paths)
    return doc, [f"{name}: {json_path(p)}: {m}" for p, m in found]


def load_configs(paths: list[Path]) -> list[BotConfig]:
    """Load and validate every file; raise ConfigError listing every problem of every file."""
    problems: list[str] = []
    docs: list[tuple[Path, Any]] = []
    owners: dict[str, Path] = {}
    for path in paths:
        path = Path(path)
        doc, found = _check_file(path)
        problems += found
        bot_id = doc.get("bot_id") if isinstance(doc, dict) else None
        if isinstance(bot_id, str):
            if bot_id in owners:
                problems.append(
                    f"{path}: $.bot_id: [unique_bot_id] bot_id {bot_id!r} is already used by {owners[bot_id]}"
                )
            else:
                owners[bot_id] = path
        if not found:
            docs.append((path, doc))
    if problems:
        raise ConfigError(problems)
    return [_build(doc, str(path)) for path, doc in docs]


def load_config_file(path: Path) -> BotConfig:
    """Load one file (ConfigError lists every problem in it)."""
    return load_configs([Path(path)])[0]


def discover_config_files(config: Path | None, config_dir: Path | None) -> list[Path]:
    """The files to load: ``config`` itself and/or the ``*.json`` files of ``config_dir`` (sorted, not
    recursive). ConfigError when neither is given, a file or directory is missing, or the directory holds no
    ``*.json`` file."""
    problems: list[str] = []
    files: list[Path] = []
    if config is None and config_dir is None:
        raise ConfigError(
            ["(command line): $: no configuration given: pass a config file or a config directory"]
        )
    if config is not None:
        config = Path(config)
        if config.is_file():
            files.append(config)
        else:
            problems.append(f"{config}: $: config file not found")
    if config_dir is not None:
        config_dir = Path(config_dir)
        if not config_dir.is_dir():
            problems.append(f"{config_dir}: $: config directory not found")
        else:
            found = sorted(p for p in config_dir.glob("*.json") if p.is_file())
            if not found:
                problems.append(f"{config_dir}: $: no *.json config files in directory")
            seen = {f.resolve() for f in files}
            files += [p for p in found if p.resolve() not in seen]
    if problems:
        raise ConfigError(problems)
    return files


# ---------------------------------------------------------------- reference documentation


def _type_text(prop: dict) -> str:
    prop = _resolve(prop)
    types = prop.get("type")
    types = types if isinstance(types, list) else [types]
    nullable = "null" in types
    if "enum" in prop:
        text = " \\| ".join(f"`{json.dumps(v)}`" for v in prop["enum"] if v is not None)
    elif "array" in types:
        text = f"array of {prop['items']['type']}"
    elif "object" in types and "additionalProperties" in prop and "properties" not in prop:
        text = "object: coin -> object"
    else:
        text = " or ".join(t for t in types if t != "null")
        lo = ("> ", prop["exclusiveMinimum"]) if "exclusiveMinimum" in prop else (">= ", prop.get("minimum"))
        hi = ("< ", prop["exclusiveMaximum"]) if "exclusiveMaximum" in prop else ("<= ", prop.get("maximum"))
        if lo[1] is not None and hi[1] is not None and lo[0] == ">= " and hi[0] == "<= ":
            text += f" {lo[1]}..{hi[1]}"
        else:
            text += "".join(f" {op}{v}" for op, v in (lo, hi) if v is not None)
    return text + (" or null" if nullable else "")


def _rows(props: Mapping[str, dict], prefix: str, required: set[str], overridable: set[str]) -> list[str]:
    rows = []
    for key, raw in props.items():
        prop = _resolve(raw)
        path = prefix + key
        default = "required" if key in required else f"`{json.dumps(prop.get('default'))}`"
        per_coin = "yes" if key in overridable else ""
        desc = prop.get("description", "").replace("|", "\\|")
        rows.append(f"| `{path}` | {_type_text(prop)} | {default} | {per_coin} | {desc} |")
        if "properties" in prop:
            rows += _rows(prop["properties"], path + ".", set(), set())
        elif isinstance(prop.get("additionalProperties"), dict) and key != "per_coin":
            rows += _rows(
                _resolve(prop["additionalProperties"])["properties"], path + ".<coin>.", set(), set()
            )
    return rows


def config_reference_markdown() -> str:
    """docs/CONFIG.md: every key of the schema (path, type, default, per-coin, description) and the rules."""
    s = _schema()
    lines = [
        "# Bot configuration reference",
        "",
        "<!-- Generated from mm_bot/config.schema.json by mm_bot.config.config_reference_markdown(); do not edit.",
        "     Regenerate: python -m mm_bot.config --markdown > docs/CONFIG.md -->",
        "",
        "One JSON file per bot (`--config FILE` or every `*.json` of `--config-dir DIR`). Only `bot_id` and",
        "`coins` are required; every other key has the default below. Unknown keys are errors (with a",
        '"did you mean" hint). Secrets (API keys, wallet keys) never live in config: they come from the',
        'environment. Keys whose description starts with "Not yet used." are validated and recorded, but no code',
        "reads them yet.",
        "",
        "Minimal config:",
        "",
        "```json",
        '{"bot_id": "hl-btc-1", "coins": ["BTC", "ETH"]}',
        "```",
        "",
        "Validation: JSON syntax, then the schema (JSON Schema draft 2020-12), then the cross-field rules below,",
        "then defaults. Every problem of every file is reported as `FILE: json.path: message`, for example",
        "`bots/a.json: $.per_coin.BTC.min_spread_bps: must be >= 0, got -1`.",
        "",
        "`per_coin.<coin>` overrides, for that coin only, any key marked *yes* in the Per coin column.",
        "Sizes and notionals are in USD, spreads in bps, times in ms unless the name says otherwise.",
        "",
        "## Keys",
        "",
        "| Key | Type | Default | Per coin | Description |",
        "|---|---|---|---|---|",
    ]
    lines += _rows(s["properties"], "", set(s.get("required", [])), set(per_coin_keys()))
    lines += [
        "",
        "## Cross-field rules",
        "",
        "Checked on the bot-wide values and again on each coin's values after its `per_coin` overrides.",
        "",
        "| Rule | Requirement |",
        "|---|---|",
    ]
    lines += [f"| `{r.name}` | {r.doc} |" for r in RULES]
    lines += [
        f"| `coin_listed` | {COIN_LISTED_DOC} |",
        "| `unique_bot_id` | no two config files share a `bot_id` |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m mm_bot.config FILE...`` validates files; ``--markdown`` prints docs/CONFIG.md."""
    parser = argparse.ArgumentParser(prog="python -m mm_bot.config", description=main.__doc__)
    parser.add_argument("--markdown", action="store_true", help="print the configuration reference")
    parser.add_argument("files", nargs="*", type=Path, help="config files to validate")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(config_reference_markdown())
        return 0
    if not args.files:
        parser.error("give config files to validate, or --markdown")
    try:
        configs = load_configs(args.files)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    for cfg in configs:
        print(f"{cfg.source}: ok ({cfg.bot_id}, {cfg.venue}, {cfg.mode}, coins {', '.join(cfg.coins)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
