"""Fixtures for the sensor tests: the paged STAC API on 127.0.0.1, the demo items it serves,
and the harness that ticks the scene sensor the way the daemon does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance

from landsat_assets.definitions import build_definitions
from landsat_assets_tests.support.catalogs import copy_catalog
from landsat_assets_tests.support.stac_api import (
    PagedStacApi,
    SensorHarness,
    catalog_item_dicts,
    serving_stac_api,
)


@pytest.fixture
def paged_stac_api() -> Iterator[PagedStacApi]:
    with serving_stac_api() as api:
        yield api


@pytest.fixture
def demo_item_dicts(small_demo_catalog: Path) -> list[dict[str, Any]]:
    return catalog_item_dicts(small_demo_catalog)


@pytest.fixture
def catalog_copy(small_demo_catalog: Path, tmp_path: Path) -> Path:
    """A private copy of the small demo catalog (catalog.json path), free to modify."""
    return copy_catalog(small_demo_catalog, tmp_path / "catalog")


@pytest.fixture
def harness(instance: DagsterInstance, tmp_path: Path):
    def make(catalog: str | Path, **env: str) -> SensorHarness:
        settings = {
            "LANDSAT_STAC_URL": str(catalog),
            "LANDSAT_STORAGE": str(tmp_path / "storage"),
            **env,
        }
        return SensorHarness(build_definitions(settings), instance)

    return make
