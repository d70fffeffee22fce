"""Shared fixtures: the real-world samples (and the hook that skips their tests when the
folder is missing), small demo catalogs built once per session, a fresh Dagster instance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from landsat_assets_tests.support.ordering import longest_modules_first
from landsat_assets_tests.support.realworld import REALWORLD, skip_without_samples

if TYPE_CHECKING:
    from dagster import DagsterInstance


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip_without_samples(items)
    longest_modules_first(items)


@pytest.fixture
def realworld(request: pytest.FixtureRequest) -> Path:
    """The real-world samples folder, for tests marked `realworld`.

    The mark is what skips a test when the folder is missing (support/realworld.py); an
    unmarked test using this fixture would fail on a clone without shared/ instead, so it
    is refused here, where the mistake is made."""
    if request.node.get_closest_marker("realworld") is None:
        pytest.fail(f"{request.node.nodeid} reads the real-world samples: mark it realworld")
    return REALWORLD


@pytest.fixture(scope="session")
def small_demo_catalog(tmp_path_factory) -> Path:
    """A small demo catalog (256 px scenes, 12 dates per path/row), built once per session.

    Tests must not modify it; copy it (`support.catalogs.copy_catalog`) to add scenes."""
    from landsat_assets.demo.catalog import build_demo_catalog

    return build_demo_catalog(tmp_path_factory.mktemp("demo") / "catalog", size=256, dates=12)


@pytest.fixture
def pipeline_env(small_demo_catalog, tmp_path) -> dict[str, str]:
    """Environment for `build_definitions`: the small demo catalog and a private storage."""
    return {
        "LANDSAT_STAC_URL": str(small_demo_catalog),
        "LANDSAT_STORAGE": str(tmp_path / "storage"),
    }


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    """A fresh ephemeral Dagster instance per test, so runs and partitions never leak.

    Dagster is imported here, not at the top, like the demo catalog above: the conftest
    loads for every test, and most pure tests do not need it."""
    from dagster import instance_for_test

    with instance_for_test() as test_instance:
        yield test_instance
