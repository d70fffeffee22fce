"""Shared fixtures: the real-world samples and small demo catalogs built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
REALWORLD = REPO_ROOT.parent / "shared" / "realworld"


@pytest.fixture(scope="session")
def realworld() -> Path:
    if not REALWORLD.is_dir():
        pytest.skip(f"real-world samples not found at {REALWORLD} (only CI and devs have them)")
    return REALWORLD
