"""Fixtures of the reliability suite: a tiny demo catalog served by a real STAC API
(stac-fastapi-static on 127.0.0.1) that the fault-injecting proxy sits in front of."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from landsat_assets_tests.support.stac_api import serving_static_catalog


@pytest.fixture(scope="session")
def tiny_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 scenes of 64 px (6 dates on each of the two path/rows); do not modify."""
    from landsat_assets.demo.catalog import build_demo_catalog

    return build_demo_catalog(tmp_path_factory.mktemp("tiny") / "catalog", size=64, dates=6)


@pytest.fixture(scope="session")
def tiny_stac_api(tiny_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The tiny catalog as a STAC API (item search with CQL2 filter, POST paging links)."""
    log_path = tmp_path_factory.mktemp("logs") / "stac-fastapi-static.log"
    with serving_static_catalog(tiny_catalog, log_path=log_path) as url:
        yield url
