"""Where the read-only ../shared material lives, and a skip when it is absent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
VECTORS = SHARED / "vectors"
FIXTURES = SHARED / "fixtures"


def require(path: Path) -> Path:
    """Skip the calling test with a clear reason when `path` (under ../shared) is missing."""
    if not path.exists():
        pytest.skip(f"shared material not found: {path} (expected ../shared beside the repo root)")
    return path


def load_json(path: Path) -> Any:
    return json.loads(require(path).read_text(encoding="utf-8"))


def fixture_files(venue: str) -> list[Path]:
    """Sorted fixture files of one venue ([] when ../shared is absent)."""
    folder = FIXTURES / venue
    return sorted(folder.glob("*.json")) if folder.is_dir() else []
