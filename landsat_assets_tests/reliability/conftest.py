"""Fixtures of the reliability suite: a tiny demo catalog served by a real STAC API
(stac-fastapi-static on 127.0.0.1) that the fault-injecting proxy sits in front of."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from landsat_assets_tests.support.processes import LOOPBACK, free_port, http_ready, running_server


@pytest.fixture(scope="session")
def tiny_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 scenes of 64 px (6 dates on each of the two path/rows); do not modify."""
    from landsat_assets.demo.catalog import build_demo_catalog

    return build_demo_catalog(tmp_path_factory.mktemp("tiny") / "catalog", size=64, dates=6)


@pytest.fixture(scope="session")
def tiny_stac_api(tiny_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The tiny catalog as a STAC API (item search with CQL2 filter, POST paging links)."""
    port = free_port()
    url = f"http://{LOOPBACK}:{port}/"
    cmd = [sys.executable, "-m", "uvicorn", "stac_fastapi.static.app:app"]
    cmd += ["--host", LOOPBACK, "--port", str(port), "--log-level", "warning"]
    with running_server(
        cmd,
        port=port,
        env={"CATALOG_HREF": str(tiny_catalog)},
        ready=http_ready(url),
        log_path=tmp_path_factory.mktemp("logs") / "stac-fastapi-static.log",
        ready_timeout=60,
    ):
        yield url
