"""Locate the read-only `shared` directory beside the repo root; skip cleanly when it is absent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def shared_dir() -> Path:
    """`<repo root>/../shared` (resolved; may not exist)."""
    return (Path(__file__).resolve().parents[2] / ".." / "shared").resolve()


def shared_path(*parts: str) -> Path:
    """A path under the shared dir; skips the calling test with a clear reason when it is missing."""
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared material not found: {path} (expected the 'shared' dir beside the repo root)")
    return path


def load_shared_json(*parts: str) -> Any:
    return json.loads(shared_path(*parts).read_text(encoding="utf-8"))
