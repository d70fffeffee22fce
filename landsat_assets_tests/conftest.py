"""Shared fixtures: the real-world samples and small demo catalogs built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from landsat_assets_tests.support.paths import REPO_ROOT

REALWORLD = REPO_ROOT.parent / "shared" / "realworld"


@pytest.fixture(scope="session")
def realworld() -> Path:
    if not REALWORLD.is_dir():
        pytest.skip(f"real-world samples not found at {REALWORLD} (only CI and devs have them)")
    return REALWORLD


@pytest.fixture(scope="session")
def small_demo_catalog(tmp_path_factory) -> Path:
    """A small demo catalog (256 px scenes, 12 dates per path/row), built once per session.

    Tests must not modify it; copy it (`shutil.copytree`) to add scenes."""
    from landsat_assets.demo.catalog import build_demo_catalog

    return build_demo_catalog(tmp_path_factory.mktemp("demo") / "catalog", size=256, dates=12)


@pytest.fixture
def pipeline_env(small_demo_catalog, tmp_path) -> dict[str, str]:
    """Environment for `build_definitions`: the small demo catalog and a private storage."""
    return {
        "LANDSAT_STAC_URL": str(small_demo_catalog),
        "LANDSAT_STORAGE": str(tmp_path / "storage"),
    }
