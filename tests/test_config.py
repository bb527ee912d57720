"""Tests of the bot configuration layer (mm_bot/config.py + mm_bot/config.schema.json)."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from mm_bot import config as cfgmod
from mm_bot.config import (
    BotConfig,
    ConfigError,
    InstrumentConfig,
    PaperConfig,
    SyntheticConfig,
    TiProxyConfig,
    config_reference_markdown,
    discover_config_files,
    load_config_file,
    load_configs,
    schema,
)

REPO = Path(__file__).resolve().parents[1]

# Keys whose feature is built (or being built); every other key must say "Not yet used." first.
BUILT = {
    "bot_id",
    "venue",
    "mode",
    "coins",
    "account",
    "loop_ms",
    "size_notional_usd",
    "max_per_coin_notional",
    "max_gross_notional",
    "min_spread_bps",
    "reference_price",
    "join_offset_ticks",
    "fixed_size_base",
    "max_position_base",
    "min_replace_ms",
    "move_threshold_ticks",
    "requote_threshold_bps",
    "stale_order_seconds",
    "refresh_jitter_ms",
    "per_coin",
    "instruments",
    "synthetic",
    "paper",
    "telemetry_enabled",
    "telemetry_console",
    "telemetry_db",
    "self_match_protect",
    "flatten_on_stop",
    "flatten_max_spread_bps",
    "flatten_max_slippage_bps",
    "batch_orders",
    "uptime_target_minutes",
    "enhanced_take_profit_enabled",
    "emergency_stop_loss_pct",
    "portfolio_pause_threshold_pct",
    "bailout_partial_mae_bps",
    "bailout_full_mae_bps",
    "bailout_full_max_seconds",
    "bailout_partial_min_seconds",
    "bailout_partial_reduce_fraction",
    "take_profit_min_bps",
    "take_profit_min_usd",
    "emergency_take_profit_enabled",
    "emergency_take_profit_min_usd",
    "flatten_on_start",
    "max_portfolio_var_usd",
    "var_lookback_sec",
    "daily_loss_limit_usd",
    "drawdown_step_down",
    "drawdown_step_pct",
    "pause_cooldown_sec",
    "max_spread_kill_bps",
    "md_gap_kill_sec",
    "error_kill_count",
    "error_kill_window_sec",
    "flatten_on_kill",
    "loop_min_holding_ms",
    "max_amends_per_sec",
    "margin_cap_mode",
    "assumed_leverage",
    "margin_cap_fraction",
    "autotune_enabled",
    "autotune_window_minutes",
    "autotune_min_maker_share",
    "ti_proxy",
    "rate_limits_share_pct",
    "max_symbol_notional",
    "min_spread_guard_enabled",
    "min_spread_guard_buffer_bps",
    # read by core/quoting.py
    "order_levels",
    "level_spacing_bps",
    "level_size_mult",
    # read by core/bot.py (reconciliation) and sim/paper.py (paper.* fault injection)
    "housekeep_every_n",
    "width_vol_mult",
    "inv_skew_strength",
    "imbalance_skew_strength",
    "funding_bias_strength",
    "single_sided_mode",
    "proximity_guard_bps",
    # read by core/signals.py
    "vol_lookback_sec",
    "imbalance_levels",
    "single_sided_flip_cooldown_loops",
    "single_sided_market_aware",
    "ss_ma_half_life_sec",
    "ss_ma_min_maker_share",
    "ss_ma_side_bias_ratio",
    "dynamic_min_spread_enabled",
    "dynamic_min_spread_percentile",
    "dynamic_min_spread_lookback_loops",
    "dynamic_min_spread_update_every_loops",
    "use_websocket",
    "market_data_update_freq",
    # read by core/bot.py (requote by modify)
    "requote_with_modify",
}

MINIMAL = {"bot_id": "hl-btc-1", "coins": ["BTC", "ETH"]}


def write(tmp_path: Path, name: str, doc: dict | str) -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, doc: dict | str, name: str = "bot.json") -> list[str]:
    path = write(tmp_path, name, doc)
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    return info.value.problems


def one_problem(tmp_path: Path, doc: dict | str) -> str:
    found = problems_of(tmp_path, doc)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- valid configs


def test_minimal_config_gets_defaults(tmp_path):
    path = write(tmp_path, "min.json", MINIMAL)
    cfg = load_config_file(path)
    assert cfg.bot_id == "hl-btc-1"
    assert cfg.coins == ("BTC", "ETH")
    assert cfg.source == str(path)
    assert (cfg.venue, cfg.mode, cfg.account) == ("hyperliquid", "paper", "default")
    assert cfg.size_notional_usd == 50.0 and isinstance(cfg.size_notional_usd, float)
    assert cfg.loop_ms == 500 and isinstance(cfg.loop_ms, int)
    assert cfg.fixed_size_base is None and cfg.max_position_base is None
    assert cfg.reference_price == "mid"
    assert cfg.paper == PaperConfig(
        **{k: p["default"] for k, p in schema()["properties"]["paper"]["properties"].items()}
    )
    assert cfg.paper.maker_fee_bps == 1.5 and cfg.paper.taker_fee_bps == 4.5
    assert cfg.paper.market_data == "synthetic" and cfg.paper.partial_fills is True
    assert cfg.ti_proxy.target_maker_ratio == 0.9
    assert dict(cfg.instruments) == {} and dict(cfg.synthetic) == {} and dict(cfg.per_coin) == {}
    for key, prop in schema()["properties"].items():
        if "default" in prop and not isinstance(prop["default"], dict):
            assert getattr(cfg, key) == prop["default"], key


def test_config_is_frozen(tmp_path):
    cfg = load_config_file(write(tmp_path, "a.json", MINIMAL))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.min_spread_bps = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.paper.maker_fee_bps = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.per_coin["BTC"] = {}  # type: ignore[index]


def test_integer_valued_numbers_are_coerced(tmp_path):
    doc = {**MINIMAL, "size_notional_usd": 20, "loop_ms": 250.0, "paper": {"starting_equity_usd": 500}}
    cfg = load_config_file(write(tmp_path, "a.json", doc))
    assert cfg.size_notional_usd == 20.0 and isinstance(cfg.size_notional_usd, float)
    assert cfg.loop_ms == 250 and isinstance(cfg.loop_ms, int)
    assert isinstance(cfg.paper.starting_equity_usd, float)


# ---------------------------------------------------------------- per_coin


def test_per_coin_override_applied_by_for_coin(tmp_path):
    doc = {
        **MINIMAL,
        "min_spread_bps": 4,
        "per_coin": {"ETH": {"min_spread_bps": 8, "reference_price": "microprice", "max_position_base": 2.5}},
    }
    cfg = load_config_file(write(tmp_path, "a.json", doc))
    eth = cfg.for_coin("ETH")
    assert eth.min_spread_bps == 8.0 and isinstance(eth.min_spread_bps, float)
    assert eth.reference_price == "microprice" and eth.max_position_base == 2.5
    assert cfg.min_spread_bps == 4.0 and cfg.reference_price == "mid"
    assert eth.size_notional_usd == cfg.size_notional_usd and eth.paper is cfg.paper
    assert cfg.for_coin("ETH") is eth  # cached
    assert cfg.for_coin("BTC") is cfg  # no overrides
    assert cfg.for_coin("BTC").min_spread_bps == 4.0
    with pytest.raises(KeyError):
        cfg.for_coin("SOL")


def test_per_coin_unknown_coin(tmp_path):
    found = one_problem(tmp_path, {**MINIMAL, "per_coin": {"ETHH": {"min_spread_bps": 3}}})
    assert found.startswith(f"{tmp_path / 'bot.json'}: $.per_coin.ETHH: [coin_listed]")
    assert "did you mean 'ETH'?" in found


def test_per_coin_unknown_key_and_bot_wide_key(tmp_path):
    doc = {**MINIMAL, "per_coin": {"BTC": {"min_sprad_bps": 3, "max_gross_notional": 9}}}
    found = problems_of(tmp_path, doc)
    assert any(
        "$.per_coin.BTC.min_sprad_bps: unknown key 'min_sprad_bps'; did you mean 'min_spread_bps'?" in p
        for p in found
    ), found
    assert any(
        "$.per_coin.BTC.max_gross_notional: 'max_gross_notional' applies to the whole bot" in p for p in found
    ), found
    assert len(found) == 2


def test_per_coin_override_value_is_validated(tmp_path):
    found = one_problem(tmp_path, {**MINIMAL, "per_coin": {"BTC": {"size_notional_usd": -10}}})
    assert found == f"{tmp_path / 'bot.json'}: $.per_coin.BTC.size_notional_usd: must be > 0, got -10"


def test_cross_rule_checked_on_per_coin_view(tmp_path):
    found = one_problem(tmp_path, {**MINIMAL, "per_coin": {"BTC": {"bailout_partial_mae_bps": 100}}})
    assert "$.per_coin.BTC.bailout_partial_mae_bps: [bailout_order]" in found
    assert "for coin BTC" in found


def test_invalid_coin_symbol(tmp_path):
    found = problems_of(tmp_path, {**MINIMAL, "coins": ["BTC", "B TC"], "instruments": {"@@ x": {}}})
    assert any("$.coins[1]: " in p for p in found), found
    assert any('$.instruments["@@ x"]: invalid coin symbol' in p for p in found), found


# ---------------------------------------------------------------- schema problems


def test_typo_key_did_you_mean(tmp_path):
    path = tmp_path / "bot.json"
    found = problems_of(tmp_path, {**MINIMAL, "min_sprad_bps": 3, "paper": {"maker_fee_bsp": 1}})
    assert f"{path}: $.min_sprad_bps: unknown key 'min_sprad_bps'; did you mean 'min_spread_bps'?" in found
    assert (
        f"{path}: $.paper.maker_fee_bsp: unknown key 'maker_fee_bsp'; did you mean 'maker_fee_bps'?" in found
    )
    assert len(found) == 2


def test_unknown_key_without_close_match_has_no_hint(tmp_path):
    found = one_problem(tmp_path, {**MINIMAL, "zzzzzz": 1})
    assert found.endswith("$.zzzzzz: unknown key 'zzzzzz'")


def test_wrong_type(tmp_path):
    found = problems_of(tmp_path, {**MINIMAL, "min_spread_bps": "5", "use_websocket": 1, "coins": "BTC"})
    assert any(p.endswith('$.min_spread_bps: must be a number, got string "5"') for p in found), found
    assert any(p.endswith("$.use_websocket: must be true or false, got integer 1") for p in found), found
    assert any(p.endswith('$.coins: must be an array, got string "BTC"') for p in found), found


def test_bool_is_not_a_number(tmp_path):
    assert one_problem(tmp_path, {**MINIMAL, "loop_ms": True}).endswith(
        "$.loop_ms: must be an integer, got boolean true"
    )


def test_negative_size_rejected_with_path(tmp_path):
    found = problems_of(
        tmp_path,
        {
            **MINIMAL,
            "size_notional_usd": -50,
            "fixed_size_base": 0,
            "instruments": {"BTC": {"lot_size": -0.001}},
        },
    )
    assert f"{tmp_path / 'bot.json'}: $.size_notional_usd: must be > 0, got -50" in found
    assert any(p.endswith("$.fixed_size_base: must be > 0, got 0") for p in found), found
    assert any(p.endswith("$.instruments.BTC.lot_size: must be > 0, got -0.001") for p in found), found


def test_enum_with_hint(tmp_path):
    found = one_problem(tmp_path, {**MINIMAL, "reference_price": "micro_price"})
    assert "$.reference_price: must be one of" in found and "did you mean 'microprice'?" in found


def test_missing_required_and_bad_bot_id(tmp_path):
    found = problems_of(tmp_path, {"bot_id": "has space"})
    assert any(p.endswith("$: missing required key 'coins'") for p in found), found
    assert any('$.bot_id: "has space" does not match' in p for p in found), found
    assert one_problem(tmp_path, {**MINIMAL, "coins": []}).endswith("$.coins: must have at least 1 item(s)")
    assert "$.coins: must not repeat items" in one_problem(tmp_path, {**MINIMAL, "coins": ["BTC", "BTC"]})


def test_root_must_be_object(tmp_path):
    assert one_problem(tmp_path, "[1, 2]").endswith("$: must be an object, got array [1, 2]")


def test_malformed_json_names_line_and_column(tmp_path):
    path = write(tmp_path, "bad.json", '{\n  "bot_id": "a",\n  "coins": ["BTC",]\n}\n')
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    assert info.value.problems == [f"{path}: $: invalid JSON at line 3, column 19: Expecting value"]


def test_duplicate_key_and_nan_rejected(tmp_path):
    found = problems_of(
        tmp_path, '{"bot_id": "a", "coins": ["BTC"], "loop_ms": 100, "loop_ms": 200, "min_spread_bps": NaN}'
    )
    assert any(
        p.endswith("$.loop_ms: duplicate key 'loop_ms': only the last value would be used") for p in found
    )
    assert any("$.min_spread_bps: NaN is not a valid JSON number" in p for p in found), found


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config_file(tmp_path / "nope.json")
    assert info.value.problems[0].startswith(f"{tmp_path / 'nope.json'}: $: cannot read file")


# ---------------------------------------------------------------- cross-field rules


@pytest.mark.parametrize(
    ("extra", "path", "rule"),
    [
        ({"size_notional_usd": 600}, "$.size_notional_usd", "size_within_coin_cap"),
        ({"max_per_coin_notional": 3000}, "$.max_per_coin_notional", "coin_cap_within_gross"),
        ({"max_symbol_notional": 3000}, "$.max_symbol_notional", "symbol_cap_within_gross"),
        (
            {"bailout_full_mae_bps": 20, "bailout_partial_mae_bps": 40},
            "$.bailout_full_mae_bps",
            "bailout_order",
        ),
        ({"bailout_partial_min_seconds": 400}, "$.bailout_partial_min_seconds", "bailout_timing"),
        (
            {"dynamic_min_spread_update_every_loops": 700},
            "$.dynamic_min_spread_update_every_loops",
            "dynamic_spread_window",
        ),
        (
            {"portfolio_pause_threshold_pct": 8},
            "$.portfolio_pause_threshold_pct",
            "pause_before_emergency_stop",
        ),
        ({"mode": "mainnet", "paper": {"market_data": "replay"}}, "$.paper.market_data", "replay_paper_only"),
        ({"mode": "testnet", "paper": {"market_data": "replay"}}, "$.paper.market_data", "replay_paper_only"),
        (
            {"emergency_take_profit_enabled": True, "emergency_take_profit_min_usd": 0.5},
            "$.emergency_take_profit_min_usd",
            "emergency_take_profit_order",
        ),
        (
            {"fixed_size_base": 2, "max_position_base": 1},
            "$.fixed_size_base",
            "fixed_size_within_position_cap",
        ),
        (
            {"venue": "standx", "requote_with_modify": True},
            "$.requote_with_modify",
            "modify_needs_venue_support",
        ),
        ({"paper": {"maker_fee_bps": 5}}, "$.paper.taker_fee_bps", "paper_fee_order"),
        ({"paper": {"reject_rate": 0.6, "timeout_rate": 0.5}}, "$.paper.reject_rate", "paper_fault_rates"),
        ({"synthetic": {"SOL": {"preset": "eth"}}}, "$.synthetic.SOL", "coin_listed"),
        ({"instruments": {"SOL": {"tick_size": 0.01}}}, "$.instruments.SOL", "coin_listed"),
    ],
)
def test_cross_field_rules(tmp_path, extra, path, rule):
    found = one_problem(tmp_path, {**MINIMAL, **extra})
    assert found.startswith(f"{tmp_path / 'bot.json'}: {path}: [{rule}] "), found


def test_cross_rules_pass_when_satisfied(tmp_path):
    doc = {
        **MINIMAL,
        "mode": "mainnet",
        "paper": {"market_data": "live"},
        "emergency_take_profit_min_usd": 0.5,
        "fixed_size_base": 1,
        "max_position_base": 1,
    }
    assert load_config_file(write(tmp_path, "a.json", doc)).mode == "mainnet"


@pytest.mark.parametrize("venue", ["hyperliquid", "woofi_pro"])
def test_requote_with_modify_on_venues_with_modify(tmp_path, venue):
    cfg = load_config_file(write(tmp_path, "a.json", {**MINIMAL, "venue": venue, "requote_with_modify": True}))
    assert cfg.requote_with_modify is True
    assert load_config_file(write(tmp_path, "b.json", MINIMAL)).requote_with_modify is False


def test_requote_with_modify_refused_on_standx_names_file_and_path(tmp_path):
    found = one_problem(tmp_path, {**MINIMAL, "venue": "standx", "requote_with_modify": True})
    assert found.startswith(f"{tmp_path / 'bot.json'}: $.requote_with_modify: [modify_needs_venue_support] ")
    assert "standx" in found and "hyperliquid" in found
    # Off (the default) is fine on standx.
    assert load_config_file(write(tmp_path, "c.json", {**MINIMAL, "venue": "standx"})).venue == "standx"


def test_cross_rule_skipped_when_its_key_is_invalid(tmp_path):
    # size is the wrong type: report that, not a confusing comparison.
    assert one_problem(tmp_path, {**MINIMAL, "size_notional_usd": "lots"}).endswith(
        '$.size_notional_usd: must be a number, got string "lots"'
    )


def test_cross_rule_reported_alongside_schema_problems(tmp_path):
    found = problems_of(tmp_path, {**MINIMAL, "loop_msx": 1, "bailout_full_mae_bps": 1})
    assert len(found) == 2 and any("[bailout_order]" in p for p in found)


# ---------------------------------------------------------------- several files


def test_several_bad_files_list_every_problem(tmp_path):
    a = write(tmp_path, "a.json", {**MINIMAL, "bot_id": "a", "loop_msx": 1, "size_notional_usd": -1})
    b = write(tmp_path, "b.json", '{"bot_id": "b", "coins": ["BTC"')
    c = write(tmp_path, "c.json", {**MINIMAL, "bot_id": "c", "per_coin": {"SOL": {}}})
    ok = write(tmp_path, "ok.json", {**MINIMAL, "bot_id": "ok"})
    with pytest.raises(ConfigError) as info:
        load_configs([a, b, ok, c])
    found = info.value.problems
    assert len(found) == 4, found
    assert [p.split(": ")[0] for p in found] == [str(a), str(a), str(b), str(c)]
    assert str(info.value) == "\n".join(found)


def test_duplicate_bot_id(tmp_path):
    a = write(tmp_path, "a.json", MINIMAL)
    b = write(tmp_path, "b.json", {**MINIMAL, "coins": ["SOL"]})
    with pytest.raises(ConfigError) as info:
        load_configs([a, b])
    assert info.value.problems == [f"{b}: $.bot_id: [unique_bot_id] bot_id 'hl-btc-1' is already used by {a}"]


def test_load_configs_returns_in_order(tmp_path):
    paths = [write(tmp_path, f"{n}.json", {**MINIMAL, "bot_id": n}) for n in ("z", "a")]
    assert [c.bot_id for c in load_configs(paths)] == ["z", "a"]


def test_discover_config_files(tmp_path):
    d = tmp_path / "bots"
    d.mkdir()
    for name in ("b.json", "a.json", "notes.txt"):
        (d / name).write_text("{}")
    (d / "sub").mkdir()
    (d / "sub" / "c.json").write_text("{}")
    assert discover_config_files(None, d) == [d / "a.json", d / "b.json"]
    single = write(tmp_path, "one.json", MINIMAL)
    assert discover_config_files(single, None) == [single]
    assert discover_config_files(single, d) == [single, d / "a.json", d / "b.json"]
    with pytest.raises(ConfigError, match="config directory not found"):
        discover_config_files(None, tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no \\*.json config files"):
        discover_config_files(None, empty)
    with pytest.raises(ConfigError, match="config file not found"):
        discover_config_files(tmp_path / "missing.json", None)
    with pytest.raises(ConfigError):
        discover_config_files(None, None)


def test_repo_configs_are_valid():
    """Every file under configs/ loads (DESIGN 10)."""
    paths = sorted((REPO / "configs").glob("*.json"))
    assert len(load_configs(paths)) == len(paths)


# ---------------------------------------------------------------- schema rules


def _all_properties(node: dict, path: str = "$"):
    """(path, resolved property schema) of every property declared anywhere in the schema."""
    for key, prop in node.get("properties", {}).items():
        resolved = cfgmod._resolve(prop)
        yield f"{path}.{key}", key, resolved
        yield from _all_properties(resolved, f"{path}.{key}")
    for name, sub in node.get("$defs", {}).items():
        yield from _all_properties(sub, f"$defs.{name}")


def test_schema_is_valid_draft_2020_12():
    s = schema()
    Draft202012Validator.check_schema(s)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_property_has_description_and_default():
    props = list(_all_properties(schema()))
    assert len(props) > 100
    for path, _key, prop in props:
        assert prop.get("description"), path
        if path not in ("$.bot_id", "$.coins"):
            assert "default" in prop, path
    top = schema()["properties"]
    assert "default" not in top["bot_id"] and "default" not in top["coins"]


def test_additional_properties_false_everywhere():
    def objects(node):
        if isinstance(node, dict):
            if node.get("type") == "object":
                yield node
            for value in node.values():
                yield from objects(value)
        elif isinstance(node, list):
            for value in node:
                yield from objects(value)

    for obj in objects(schema()):
        extra = obj.get("additionalProperties")
        assert extra is False or (isinstance(extra, dict) and "propertyNames" in obj), obj


def test_defaults_are_valid_values():
    s = schema()
    defaults = {k: p["default"] for k, p in s["properties"].items() if "default" in p}
    Draft202012Validator(s).validate({**MINIMAL, **defaults})
    for group in ("paper", "ti_proxy"):
        inner = {k: p["default"] for k, p in s["properties"][group]["properties"].items()}
        Draft202012Validator(s).validate({**MINIMAL, group: inner})


def test_unbuilt_keys_say_not_yet_used():
    for path, _key, prop in _all_properties(schema()):
        top_key = path.split(".")[1] if path.startswith("$.") else None
        if top_key is None or top_key in BUILT:
            continue
        assert prop["description"].startswith("Not yet used."), path
    for key in BUILT:
        assert not schema()["properties"][key]["description"].startswith("Not yet used."), key


def test_reference_keys_present():
    keys = """loop_ms size_notional_usd max_per_coin_notional max_gross_notional min_spread_bps
    min_spread_guard_enabled min_spread_guard_buffer_bps single_sided_mode single_sided_flip_cooldown_loops
    single_sided_market_aware ss_ma_half_life_sec ss_ma_min_maker_share ss_ma_side_bias_ratio
    dynamic_min_spread_enabled dynamic_min_spread_percentile dynamic_min_spread_lookback_loops
    dynamic_min_spread_update_every_loops emergency_stop_loss_pct portfolio_pause_threshold_pct
    bailout_partial_mae_bps bailout_full_mae_bps bailout_full_max_seconds bailout_partial_min_seconds
    bailout_partial_reduce_fraction take_profit_min_bps take_profit_min_usd enhanced_take_profit_enabled
    emergency_take_profit_enabled emergency_take_profit_min_usd min_replace_ms move_threshold_ticks
    housekeep_every_n use_websocket market_data_update_freq batch_orders margin_cap_mode assumed_leverage
    margin_cap_fraction autotune_enabled autotune_window_minutes autotune_min_maker_share flatten_on_start
    flatten_max_spread_bps flatten_max_slippage_bps telemetry_enabled telemetry_console telemetry_db
    per_coin""".split()
    assert set(keys) <= set(schema()["properties"])


def test_dataclass_fields_match_schema():
    s = schema()
    top = [f.name for f in dataclasses.fields(BotConfig) if f.name not in ("source", "_coin_views")]
    assert top == list(s["properties"])
    for cls, props in (
        (TiProxyConfig, s["properties"]["ti_proxy"]["properties"]),
        (PaperConfig, s["properties"]["paper"]["properties"]),
        (InstrumentConfig, s["$defs"]["instrument"]["properties"]),
        (SyntheticConfig, s["$defs"]["synthetic_market"]["properties"]),
    ):
        assert [f.name for f in dataclasses.fields(cls)] == list(props), cls


# ---------------------------------------------------------------- to_json and docs


FULL = {
    "bot_id": "full.bot-1",
    "venue": "woofi_pro",
    "mode": "paper",
    "coins": ["BTC", "ETH", "kPEPE"],
    "account": "desk-a",
    "size_notional_usd": 25,
    "fixed_size_base": 0.001,
    "max_position_base": 0.01,
    "min_spread_bps": 6.5,
    "ti_proxy": {"min_rest_ms": 3000},
    "paper": {"market_data": "replay", "replay_time": "exchange", "queue_model": "log", "reject_rate": 0.01},
    "instruments": {
        "BTC": {"tick_size": 0.1, "lot_size": 0.0001, "max_sig_figs": 5},
        "kPEPE": {"tick_size": 1e-6, "lot_size": 1, "inverse": True, "contract_size": 10},
    },
    "synthetic": {"ETH": {"start_price": 3000, "annual_vol": 0.7}, "BTC": {"preset": "eth"}},
    "per_coin": {
        "ETH": {"min_spread_bps": 9, "fixed_size_base": None, "order_levels": 2},
        "kPEPE": {"reference_price": "join_best", "join_offset_ticks": -1},
    },
}


def test_to_json_round_trips_through_load(tmp_path):
    cfg = load_config_file(write(tmp_path, "full.json", FULL))
    text = cfg.to_json()
    assert json.loads(text) == cfg.to_dict() and "source" not in json.loads(text)
    again = load_config_file(write(tmp_path, "again.json", text))
    assert again == cfg
    assert again.to_json() == text
    assert again.for_coin("ETH") == cfg.for_coin("ETH")
    assert again.for_coin("ETH").fixed_size_base is None and cfg.fixed_size_base == 0.001
    assert cfg.for_coin("kPEPE").join_offset_ticks == -1
    # minimal config too: every key is spelled out with its default
    minimal = load_config_file(write(tmp_path, "min.json", MINIMAL))
    assert set(json.loads(minimal.to_json())) == set(schema()["properties"])
    assert load_config_file(write(tmp_path, "min2.json", minimal.to_json())) == minimal


def test_coin_maps_are_read_only_dicts(tmp_path):
    cfg = load_config_file(write(tmp_path, "full.json", FULL))
    assert (
        isinstance(cfg.instruments, dict)
        and isinstance(cfg.synthetic, dict)
        and isinstance(cfg.per_coin, dict)
    )
    assert cfg.instruments["BTC"] == InstrumentConfig(
        tick_size=0.1,
        lot_size=0.0001,
        contract_size=1.0,
        inverse=False,
        min_notional_usd=None,
        max_sig_figs=5,
    )
    assert cfg.instruments.get("ETH") is None
    assert cfg.synthetic["ETH"] == SyntheticConfig(
        preset=None, start_price=3000.0, annual_vol=0.7, trade_rate_per_sec=None
    )
    assert dataclasses.asdict(cfg.synthetic["BTC"])["preset"] == "eth"
    for mapping in (cfg.instruments, cfg.per_coin, cfg.per_coin["ETH"]):
        with pytest.raises(TypeError):
            mapping["X"] = 1
        with pytest.raises(TypeError):
            mapping.update({"X": 1})
        with pytest.raises(TypeError):
            mapping.pop("ETH", None)
    assert hash(cfg) == hash(copy.deepcopy(cfg))
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert {cfg: 1}[load_config_file(write(tmp_path, "again.json", FULL))] == 1


def test_docs_config_md_is_generated_from_schema():
    text = config_reference_markdown()
    assert (REPO / "docs" / "CONFIG.md").read_text(encoding="utf-8") == text, (
        "docs/CONFIG.md is stale: run  python -m mm_bot.config --markdown > docs/CONFIG.md"
    )
    for key in schema()["properties"]:
        assert f"| `{key}` |" in text, key
    assert "| `paper.maker_fee_bps` |" in text and "| `instruments.<coin>.tick_size` |" in text
    for rule in cfgmod.RULES:
        assert f"`{rule.name}`" in text


def test_cli_validates_files(tmp_path, capsys):
    good = write(tmp_path, "good.json", MINIMAL)
    assert cfgmod.main([str(good)]) == 0
    bad = write(tmp_path, "bad.json", {**MINIMAL, "loop_msx": 1})
    assert cfgmod.main([str(bad)]) == 1
    assert "did you mean 'loop_ms'?" in capsys.readouterr().err
