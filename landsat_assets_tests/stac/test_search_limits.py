"""A search is bounded: a catalog whose paging never ends, or a server that answers one byte
at a time, ends in a `CatalogError` naming the catalog and the setting, within the limits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from landsat_assets.errors import CatalogError
from landsat_assets.stac.search import SceneQuery, SearchLimits, search_scenes
from landsat_assets_tests.support.processes import LOOPBACK, serving_in_thread
from landsat_assets_tests.support.stac_api import catalog_item_dicts, serving_stac_api


def test_endless_paging_stops_at_max_items(small_demo_catalog):
    with serving_stac_api(catalog_item_dicts(small_demo_catalog), endless=True) as api:
        with pytest.raises(CatalogError) as raised:
            search_scenes(api.url, SceneQuery(), limits=SearchLimits(max_items=50))
    message = str(raised.value)
    assert api.url in message and "more than 50 items (LANDSAT_MAX_ITEMS)" in message
    assert len(api.pages_served) <= 50 // len(catalog_item_dicts(small_demo_catalog)) + 2


def test_endless_paging_stops_at_the_deadline(small_demo_catalog):
    started = time.monotonic()
    with serving_stac_api(catalog_item_dicts(small_demo_catalog), endless=True) as api:
        with pytest.raises(CatalogError, match=r"more than 2 s \(LANDSAT_SEARCH_TIMEOUT_SECONDS"):
            search_scenes(api.url, SceneQuery(), limits=SearchLimits(seconds=2))
    assert time.monotonic() - started < 30


class _Trickle(BaseHTTPRequestHandler):
    """Promises a large JSON body and sends it one byte every half second."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        try:
            for _ in range(100_000):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            return


@pytest.fixture
def trickling_server() -> Iterator[str]:
    server = ThreadingHTTPServer((LOOPBACK, 0), _Trickle)
    server.daemon_threads = True
    with serving_in_thread(server, "trickle"):
        yield f"http://{LOOPBACK}:{server.server_address[1]}/"


def test_a_server_sending_one_byte_at_a_time_is_given_up_at_the_deadline(trickling_server):
    started = time.monotonic()
    with pytest.raises(CatalogError) as raised:
        search_scenes(trickling_server, SceneQuery(), limits=SearchLimits(seconds=2))
    elapsed = time.monotonic() - started
    assert "LANDSAT_SEARCH_TIMEOUT_SECONDS" in str(raised.value)
    assert elapsed < 30, f"the search took {elapsed:.1f} s"
