"""The README stays true: its first two commands, and the config reference copied from the schema."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_config_reference_matches_schema():
    proc = subprocess.run([sys.executable, "scripts/update_readme_config.py", "--check"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_readme_opens_with_setup_and_run_then_tests_and_ci_runs_the_test_command():
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)
    run_cmd, test_cmd = blocks[0].strip(), blocks[1].strip()
    assert text.index(run_cmd) < 600, "the run command must be among the README's first lines"
    assert run_cmd.startswith("bash setup_env.sh") and "mm_bot.run --simulate" in run_cmd
    assert "--duration" in run_cmd
    assert test_cmd.startswith("bash setup_env.sh --dev") and "pytest" in test_cmd
    ci = (REPO / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()


def test_every_cli_option_is_in_the_readme():
    text = (REPO / "README.md").read_text()
    for opt in ["--config", "--config-dir", "--db", "--simulate", "--replay", "--duration", "--seed",
                "--check-config", "--log-level"]:
        assert f"`{opt}" in text


def test_every_table_is_in_the_readme():
    from mm_bot.store.db import expected_schema

    text = (REPO / "README.md").read_text()
    for table in expected_schema().tables:
        assert f"`{table}`" in text
