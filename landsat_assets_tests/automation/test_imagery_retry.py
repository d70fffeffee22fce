"""The retry policy on the imagery assets, through Dagster, against band files served over HTTP
from 127.0.0.1 by a server that can fail: a passing outage is retried, a missing file is not."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterEventType, instance_for_test, materialize

from landsat_assets.definitions import build_resources
from landsat_assets.jobs import SCENE_ASSETS
from landsat_assets.stac.search import SceneQuery, search_scenes
from landsat_assets_tests.support.catalogs import copy_catalog, edit_item
from landsat_assets_tests.support.processes import serving_in_thread

GDAL_TRIES = 4
"""GDAL_HTTP_MAX_RETRY=3 (ImagerySource) plus the first request."""


@dataclass
class FlakyFiles:
    """Serves files under `root` with byte ranges; the next `failures` requests answer
    `status` instead."""

    root: Path
    failures: int = 0
    status: int = 503
    url: str = ""


def _handler(files: FlakyFiles) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            path = files.root / self.path.lstrip("/")
            if files.failures > 0 or not path.is_file():
                files.failures -= 1
                self.send_response(files.status if path.is_file() else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = path.read_bytes()
            first, last = 0, len(data) - 1
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if match:
                first = int(match.group(1))
                last = min(int(match.group(2) or last), last)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(last - first + 1))
            self.end_headers()
            if body:
                self.wfile.write(data[first : last + 1])

    return Handler


@pytest.fixture
def remote_scene(small_demo_catalog: Path, tmp_path: Path) -> Iterator[tuple[FlakyFiles, str]]:
    """A catalog copy whose newest scene has its bands on the flaky HTTP server."""
    catalog = copy_catalog(small_demo_catalog, tmp_path / "catalog")
    key = search_scenes(catalog, SceneQuery())[-1].scene_key
    files = FlakyFiles(root=catalog.parent)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(files))
    files.url = f"http://127.0.0.1:{server.server_address[1]}"

    def bands_on_the_server(item: dict[str, Any]) -> None:
        for asset in item["assets"].values():
            asset["href"] = f"{files.url}/landsat-c2-l2/{key}/{Path(asset['href']).name}"

    with serving_in_thread(server, "flaky-files"):
        edit_item(catalog, key, bands_on_the_server)
        yield files, key


def materialize_scene(files: FlakyFiles, key: str, tmp_path: Path):
    env = {
        "LANDSAT_STAC_URL": str(files.root / "catalog.json"),
        "LANDSAT_STORAGE": str(tmp_path / "storage"),
    }
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("landsat_scenes", [key])
        result = materialize(
            SCENE_ASSETS,
            partition_key=key,
            resources=build_resources(env),
            instance=instance,
            raise_on_error=False,
        )
        events = [
            (event.step_key, event.event_type)
            for event in result.all_events
            if event.event_type
            in (DagsterEventType.STEP_UP_FOR_RETRY, DagsterEventType.STEP_FAILURE)
        ]
        return result.success, events


def test_a_passing_outage_is_retried(remote_scene, tmp_path: Path) -> None:
    files, key = remote_scene
    files.failures = GDAL_TRIES

    success, events = materialize_scene(files, key, tmp_path)

    assert success, events
    assert ("scene_bands", DagsterEventType.STEP_UP_FOR_RETRY) in events


def test_a_missing_band_file_fails_at_once(remote_scene, tmp_path: Path) -> None:
    files, key = remote_scene
    (red,) = (files.root / "landsat-c2-l2" / key).glob("*_SR_B4.TIF")
    red.unlink()

    success, events = materialize_scene(files, key, tmp_path)

    assert not success
    assert events == [("scene_bands", DagsterEventType.STEP_FAILURE)]
