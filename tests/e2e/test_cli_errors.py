"""End to end: bad configs and refused starts exit 2 and start nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, run_cli, run_script

GOOD = json.loads((REPO / "configs" / "example-mm.json").read_text())


def write(dirpath: Path, name: str, doc) -> Path:
    p = dirpath / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


@pytest.mark.parametrize("mutate,expect", [
    (lambda d: d.update(min_sprad_bps=3), ["$.min_sprad_bps", "did you mean 'min_spread_bps'"]),
    (lambda d: d.update(loop_ms="fast"), ["$.loop_ms"]),
    (lambda d: d.update(size_notional_usd=-5), ["$.size_notional_usd"]),
])
def test_bad_config_exits_2_naming_file_and_path(tmp_path, mutate, expect):
    doc = json.loads(json.dumps(GOOD))
    mutate(doc)
    f = write(tmp_path, "bad.json", doc)
    db = tmp_path / "x.db"
    proc = run_cli("--simulate", "--config", str(f), "--db", str(db), "--duration", "5")
    assert proc.returncode == 2
    for needle in [str(f), *expect]:
        assert needle in proc.stderr
    assert not db.exists(), "a refused config must start nothing"


def test_malformed_json_exits_2_with_line(tmp_path):
    f = write(tmp_path, "broken.json", '{\n  "bot_id": "x",\n  "coins": ["BTC"],,\n}')
    proc = run_cli("--check-config", "--config", str(f))
    assert proc.returncode == 2
    assert str(f) in proc.stderr and "line 3" in proc.stderr


def test_directory_with_one_bad_file_starts_nothing(tmp_path):
    d = tmp_path / "cfgs"
    d.mkdir()
    shutil.copy(REPO / "configs" / "example-mm.json", d / "a.json")
    bad = dict(GOOD, bot_id="other", max_per_coin_notional=-1)
    write(d, "b.json", bad)
    db = tmp_path / "x.db"
    proc = run_cli("--simulate", "--config-dir", str(d), "--db", str(db), "--duration", "5")
    assert proc.returncode == 2
    assert "b.json: $.max_per_coin_notional" in proc.stderr
    assert not db.exists()


def test_every_problem_in_every_file_is_listed(tmp_path):
    d = tmp_path / "cfgs"
    d.mkdir()
    write(d, "a.json", dict(GOOD, bot_id="a", loop_ms="x", min_sprad_bps=1))
    write(d, "b.json", dict(GOOD, bot_id="b", size_notional_usd=-1))
    proc = run_cli("--check-config", "--config-dir", str(d))
    assert proc.returncode == 2
    err = proc.stderr
    assert "a.json: $.loop_ms" in err and "a.json: $.min_sprad_bps" in err and "b.json: $.size_notional_usd" in err


def test_check_config_accepts_shipped_configs():
    proc = run_cli("--check-config", "--config-dir", "configs")
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout


def test_live_mode_without_keys_names_variables_and_suggests_simulate(tmp_path):
    f = write(tmp_path, "live.json", dict(GOOD, mode="testnet"))
    db = tmp_path / "x.db"
    proc = run_cli("--config", str(f), "--db", str(db))
    assert proc.returncode == 2
    assert "HL_SECRET_KEY" in proc.stderr and "HL_ACCOUNT_ADDRESS" in proc.stderr
    assert "--simulate" in proc.stderr
    assert not db.exists()


def test_help_documents_every_option():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for opt in ["--config", "--config-dir", "--db", "--simulate", "--replay", "--duration", "--seed",
                "--check-config", "--log-level"]:
        assert opt in proc.stdout


def test_validate_names_a_dropped_table(tmp_path):
    db = tmp_path / "v.db"
    assert run_script("init_db.py", "--db", str(db)).returncode == 0
    assert run_script("init_db.py", "--db", str(db), "--validate").returncode == 0
    import sqlite3

    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE performance_metrics")
    conn.commit()
    conn.close()
    v = run_script("init_db.py", "--db", str(db), "--validate")
    assert v.returncode != 0
    assert "performance_metrics" in v.stderr


def test_info_prints_row_counts(tmp_path):
    db = tmp_path / "i.db"
    run_script("init_db.py", "--db", str(db))
    out = run_script("init_db.py", "--db", str(db), "--info")
    assert out.returncode == 0
    assert "fills" in out.stdout and "system_events" in out.stdout


def test_live_refuses_one_wallet_under_two_account_labels(tmp_path):
    a = write(tmp_path, "a.json", dict(GOOD, bot_id="a", mode="testnet", account="main"))
    b = write(tmp_path, "b.json", dict(GOOD, bot_id="b", mode="testnet", account="other"))
    db = tmp_path / "x.db"
    secret = "0x" + "11" * 32
    proc = run_cli("--config-dir", str(tmp_path), "--db", str(db),
                   env={"HL_SECRET_KEY": secret, "HL_ACCOUNT_ADDRESS": "0x" + "ab" * 20})
    assert proc.returncode == 2
    assert "one wallet per venue account" in proc.stderr and "'main': a" in proc.stderr and "'other': b" in proc.stderr
    assert secret not in proc.stderr and ("ab" * 20) not in proc.stderr
    assert not db.exists()
    assert a.exists() and b.exists()
