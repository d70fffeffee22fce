"""STAC APIs over HTTP on 127.0.0.1 for tests: a static catalog served by stac-fastapi-static,
a paged API whose pages and failures the caller controls, and the sensor harness that ticks
the scene sensor the way the daemon does. Shared by the search, reliability and sensor tests
and by `make bench` (the 10,000-item tick)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import pystac
from dagster import (
    DagsterInstance,
    Definitions,
    SensorResult,
    SkipReason,
    build_sensor_context,
)

from landsat_assets.sensors import SENSOR_NAME
from landsat_assets_tests.support.processes import (
    LOOPBACK,
    free_port,
    http_ready,
    running_server,
    serving_in_thread,
)

COLLECTION_ID = "landsat-c2-l2"
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/collections",
]


@contextmanager
def serving_static_catalog(catalog_json: Path, *, log_path: Path) -> Iterator[str]:
    """stac-fastapi-static serving `catalog_json` on a free loopback port: a real STAC API
    (item search with CQL2 filter, POST paging links) over a static catalog. Yields the
    API's URL; the server's process group is stopped on exit, whatever happened."""
    port = free_port()
    url = f"http://{LOOPBACK}:{port}/"
    cmd = [sys.executable, "-m", "uvicorn", "stac_fastapi.static.app:app"]
    cmd += ["--host", LOOPBACK, "--port", str(port), "--log-level", "warning"]
    with running_server(
        cmd,
        port=port,
        env={"CATALOG_HREF": str(catalog_json)},
        ready=http_ready(url),
        log_path=log_path,
        ready_timeout=60,
    ):
        yield url


@dataclass
class PagedStacApi:
    """Serves `items` from /search in pages of `page_size`, ignoring every filter (as some
    servers do; the client filters again). A page number in `failing_pages` answers 503.
    An `endless` API serves the items again on every page under new ids, with a `next`
    link each time, as a catalog whose paging never ends."""

    items: list[dict[str, Any]]
    page_size: int = 3
    failing_pages: set[int] = field(default_factory=set)
    pages_served: list[int] = field(default_factory=list)
    pages_failed: list[int] = field(default_factory=list)
    url: str = ""
    endless: bool = False
    honours_datetime: bool = False
    """Whether a search's `datetime` interval narrows the items, as every public STAC API
    does (the other filters are still ignored)."""

    def landing(self) -> dict[str, Any]:
        return {
            "type": "Catalog",
            "id": "paged-test-api",
            "stac_version": "1.0.0",
            "description": "Test STAC API",
            "conformsTo": CONFORMANCE,
            "links": [
                {"rel": "self", "href": f"{self.url}/", "type": "application/json"},
                {"rel": "root", "href": f"{self.url}/", "type": "application/json"},
                {"rel": "data", "href": f"{self.url}/collections", "type": "application/json"},
                {
                    "rel": "search",
                    "href": f"{self.url}/search",
                    "type": "application/geo+json",
                    "method": "POST",
                },
            ],
        }

    def collection(self) -> dict[str, Any]:
        return {
            "type": "Collection",
            "id": COLLECTION_ID,
            "stac_version": "1.0.0",
            "description": "Landsat C2 L2 (test)",
            "license": "CC0-1.0",
            "extent": {
                "spatial": {"bbox": [[-180, -90, 180, 90]]},
                "temporal": {"interval": [[None, None]]},
            },
            "links": [{"rel": "self", "href": f"{self.url}/collections/{COLLECTION_ID}"}],
        }

    def page(self, number: int, interval: str | None = None) -> dict[str, Any]:
        items = self.items
        if self.honours_datetime and interval:
            items = [item for item in items if _within(item, interval)]
        start = number * self.page_size
        features = [self.served(item) for item in items[start : start + self.page_size]]
        if self.endless:
            features = [
                {**self.served(item), "id": f"{item['id']}_page{number}"} for item in self.items
            ]
        links = []
        if self.endless or start + self.page_size < len(items):
            links.append(
                {
                    "rel": "next",
                    "href": f"{self.url}/search",
                    "method": "POST",
                    "merge": True,
                    "body": {"page": number + 1},
                }
            )
        return {"type": "FeatureCollection", "features": features, "links": links}

    def served(self, item: dict[str, Any]) -> dict[str, Any]:
        """The item with its relative asset hrefs made absolute on this server."""
        assets = {
            name: {**asset, "href": urljoin(f"{self.url}/", asset["href"])}
            for name, asset in item["assets"].items()
        }
        return {**item, "assets": assets}


def _within(item: Mapping[str, Any], interval: str) -> bool:
    """Whether the item's datetime lies in a STAC `datetime` parameter ("a/b", "../b", "a/..",
    or one instant), as a server reads it."""
    moment = _instant(item["properties"]["datetime"])
    first, _, last = interval.partition("/") if "/" in interval else (interval, "", interval)
    return (first in ("", "..") or _instant(first) <= moment) and (
        last in ("", "..") or moment <= _instant(last)
    )


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _handler(api: PagedStacApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Mapping[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _search(self, number: int, interval: str | None = None) -> None:
            if number in api.failing_pages:
                api.pages_failed.append(number)
                self._send(503, {"code": "Unavailable", "description": "try again later"})
                return
            api.pages_served.append(number)
            self._send(200, api.page(number, interval))

        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            path = parsed.path.rstrip("/")
            if path == "":
                self._send(200, api.landing())
            elif path.endswith(f"/{COLLECTION_ID}"):
                self._send(200, api.collection())
            elif path == "/search":
                self._search(int(parse_qs(parsed.query).get("page", ["0"])[0]))
            else:
                self._send(404, {"code": "NotFound", "description": self.path})

        def do_HEAD(self) -> None:
            """Nothing but the API's JSON is served here: band files are not found."""
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            if urlparse(self.path).path.rstrip("/") != "/search":
                self._send(404, {"code": "NotFound", "description": self.path})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            self._search(int(body.get("page", 0)), body.get("datetime"))

    return Handler


@contextmanager
def serving_stac_api(
    items: list[dict[str, Any]] | None = None, *, endless: bool = False
) -> Iterator[PagedStacApi]:
    """A `PagedStacApi` on a free loopback port, shut down on exit."""
    api = PagedStacApi(items=items or [], endless=endless)
    server = ThreadingHTTPServer((LOOPBACK, 0), _handler(api))
    api.url = f"http://{LOOPBACK}:{server.server_address[1]}"
    with serving_in_thread(server, "stac-api"):
        yield api


def catalog_item_dicts(catalog_json: Path) -> list[dict[str, Any]]:
    """A static catalog's items, oldest first, with asset hrefs relative to the API's root
    (`PagedStacApi` serves them absolute: a remote catalog cannot point at local files)."""
    catalog = pystac.Catalog.from_file(str(catalog_json))
    items = sorted(catalog.get_items(recursive=True), key=lambda item: (item.datetime, item.id))
    dicts = []
    for item in items:
        data = item.to_dict(include_self_link=False, transform_hrefs=False)
        for asset in data["assets"].values():
            asset["href"] = f"files/{item.id}/{Path(asset['href']).name}"
        dicts.append(data)
    return dicts


@dataclass
class SensorHarness:
    """Ticks the sensor against one instance and carries the cursor from tick to tick,
    applying partition requests as the daemon does (build_sensor_context does not)."""

    defs: Definitions
    instance: DagsterInstance
    cursor: str | None = None

    def tick(self) -> SensorResult | SkipReason:
        sensor_def = self.defs.resolve_sensor_def(SENSOR_NAME)
        context = build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            definitions=self.defs,
            resources={"catalog": self.defs.resources["catalog"]},
        )
        result = sensor_def(context)
        if isinstance(result, SensorResult):
            for request in result.dynamic_partitions_requests or []:
                self.instance.add_dynamic_partitions(
                    request.partitions_def_name, list(request.partition_keys)
                )
            if result.cursor is not None:
                self.cursor = result.cursor
        return result
