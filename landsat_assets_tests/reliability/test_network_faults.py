"""Discovery against a real STAC API behind a fault-injecting proxy: errors are retried with
backoff and then reported with the URL, paging faults never loop or lose scenes silently,
and a failing sensor tick never moves the cursor past a scene."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

from landsat_assets.definitions import build_definitions
from landsat_assets.errors import CatalogError
from landsat_assets.sensors import SENSOR_NAME
from landsat_assets.stac import search
from landsat_assets.stac.search import HTTP_RETRIES, SceneQuery, search_scenes
from landsat_assets_tests.support.faults import (
    Answer,
    Fault,
    FaultProxy,
    Forward,
    ProxyRequest,
    edit_search_page,
    is_search,
    no_fault,
)

PAGE_SIZE = 3
QUERY = SceneQuery()


def scene_keys(catalog: str | Path) -> list[str]:
    return [record.scene_key for record in search_scenes(catalog, QUERY, page_size=PAGE_SIZE)]


def next_link(page: dict[str, Any]) -> dict[str, Any] | None:
    return next((link for link in page.get("links", []) if link.get("rel") == "next"), None)


def page_token(request: ProxyRequest) -> str | None:
    body = request.json_body()
    return body.get("token") if isinstance(body, dict) else None


def failing_search(status: int) -> Callable[[ProxyRequest, Forward], Answer]:
    def fault(request: ProxyRequest, forward: Forward) -> Answer:
        if is_search(request):
            return Answer(status, b'{"code":"ServerError","description":"injected"}')
        return forward()

    return fault


def truncated_search(request: ProxyRequest, forward: Forward) -> Answer:
    answer = forward()
    if is_search(request) and answer.status == 200:
        return Answer(200, answer.content[: len(answer.content) // 2])
    return answer


class OncePerRequest:
    """Applies `fault` to the first try of each distinct request only: a transient fault."""

    def __init__(self, fault: Callable[[ProxyRequest, Forward], Answer]) -> None:
        self.fault = fault
        self.seen: set[tuple[str, str, bytes | None]] = set()

    def __call__(self, request: ProxyRequest, forward: Forward) -> Answer:
        key = (request.method, request.path, request.body)
        if key in self.seen:
            return forward()
        self.seen.add(key)
        return self.fault(request, forward)


@pytest.fixture
def expected(tiny_catalog: Path) -> list[str]:
    keys = scene_keys(tiny_catalog)
    assert len(keys) == 12
    return keys


def test_direct_search_pages(tiny_stac_api: str, expected: list[str]) -> None:
    """The baseline the faults are measured against: served = local, over four pages."""
    with FaultProxy(tiny_stac_api) as proxy:
        assert scene_keys(proxy.url) == expected
    assert len(proxy.searches()) == 4


@pytest.mark.parametrize("status", [500, 502])
def test_server_errors_retried_then_fail_naming_the_url(tiny_stac_api: str, status: int) -> None:
    started = time.monotonic()
    with FaultProxy(tiny_stac_api, failing_search(status)) as proxy:
        with pytest.raises(CatalogError) as caught:
            scene_keys(proxy.url)
    message = str(caught.value)
    assert proxy.url in message
    assert f"gave up after {HTTP_RETRIES + 1} tries" in message
    assert str(status) in message
    assert [r[2] for r in proxy.requests if r[1].startswith("/search")] == [status] * (
        HTTP_RETRIES + 1
    )
    assert time.monotonic() - started < 15


def test_transient_server_errors_are_retried(tiny_stac_api: str, expected: list[str]) -> None:
    with FaultProxy(tiny_stac_api, OncePerRequest(failing_search(500))) as proxy:
        assert scene_keys(proxy.url) == expected
    statuses = [r[2] for r in proxy.requests if r[1].startswith("/search")]
    assert statuses.count(500) == 4 and statuses.count(200) == 4


def test_hanging_response_times_out_and_names_the_url(
    tiny_stac_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "HTTP_TIMEOUT", (2.0, 1.0))
    started = time.monotonic()
    with FaultProxy(tiny_stac_api) as proxy:

        def hang(request: ProxyRequest, forward: Forward) -> Answer:
            if is_search(request):
                proxy.hang(60)
            return forward()

        proxy.fault = hang
        with pytest.raises(CatalogError) as caught:
            scene_keys(proxy.url)
    message = str(caught.value)
    assert proxy.url in message
    assert f"gave up after {HTTP_RETRIES + 1} tries" in message
    assert "timed out" in message.lower()
    assert time.monotonic() - started < 20


def test_one_hanging_answer_is_retried(
    tiny_stac_api: str, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "HTTP_TIMEOUT", (2.0, 1.0))
    with FaultProxy(tiny_stac_api) as proxy:

        def hang(request: ProxyRequest, forward: Forward) -> Answer:
            if is_search(request) and page_token(request) is not None:
                proxy.hang(5)
            return forward()

        proxy.fault = OncePerRequest(hang)
        assert scene_keys(proxy.url) == expected


def test_truncated_json_retried_then_fails_naming_the_page(tiny_stac_api: str) -> None:
    with FaultProxy(tiny_stac_api, truncated_search) as proxy:
        with pytest.raises(CatalogError) as caught:
            scene_keys(proxy.url)
    message = str(caught.value)
    assert proxy.url in message
    assert "not valid JSON" in message
    assert f"{proxy.url}search" in message
    assert len([r for r in proxy.requests if r[1].startswith("/search")]) == HTTP_RETRIES + 1


def test_transient_truncated_json_is_retried(tiny_stac_api: str, expected: list[str]) -> None:
    with FaultProxy(tiny_stac_api, OncePerRequest(truncated_search)) as proxy:
        assert scene_keys(proxy.url) == expected


class LoopingPages:
    """From page `loop_at` on, the `next` link points back at page 2 (page 1's next link)."""

    def __init__(self, loop_at: int = 3) -> None:
        self.loop_at = loop_at
        self.pages = 0
        self.first_next: dict[str, Any] | None = None

    def __call__(self, request: ProxyRequest, forward: Forward) -> Answer:
        return edit_search_page(request, forward, self.loop_back)

    def loop_back(self, page: dict[str, Any]) -> None:
        self.pages += 1
        link = next_link(page)
        if self.pages == 1:
            self.first_next = link
        elif self.pages >= self.loop_at and link is not None:
            page["links"] = [x for x in page["links"] if x is not link] + [self.first_next]


@pytest.mark.timeout(60)
def test_next_link_looping_back_stops_with_a_clear_error(tiny_stac_api: str) -> None:
    looping = LoopingPages()
    with FaultProxy(tiny_stac_api, looping) as proxy:
        with pytest.raises(CatalogError, match="points back to a page already read") as caught:
            scene_keys(proxy.url)
    assert proxy.url in str(caught.value)
    assert looping.pages == 3


class TokenIgnored:
    """A server that ignores the page token: every page is page 1 again, with a `next` link
    carrying a fresh token each time, so no link repeats but the items do."""

    def __init__(self) -> None:
        self.tokens = 0

    def __call__(self, request: ProxyRequest, forward: Forward) -> Answer:
        if not is_search(request):
            return forward()
        body = {k: v for k, v in (request.json_body() or {}).items() if k != "token"}
        answer = forward(json.dumps(body).encode())
        if answer.status != 200:
            return answer
        page = answer.json()
        self.tokens += 1
        search_href = next(x["href"] for x in page["links"] if x["rel"] == "self")
        link = {"rel": "next", "href": search_href, "method": "POST"}
        link["body"] = dict(body, token=f"next:{self.tokens}")
        page["links"] = [x for x in page["links"] if x["rel"] != "next"] + [link]
        return Answer.of_json(page)


@pytest.mark.timeout(60)
def test_server_ignoring_the_page_token_stops_with_a_clear_error(tiny_stac_api: str) -> None:
    with FaultProxy(tiny_stac_api, TokenIgnored()) as proxy:
        with pytest.raises(CatalogError, match="repeats only items already listed") as caught:
            scene_keys(proxy.url)
    assert proxy.url in str(caught.value)
    assert len(proxy.searches()) == 2


class EmptyPageInserted:
    """After page 2, an empty page (no features, a `next` link) comes before page 3."""

    MARK = "empty-page-before:"

    def __init__(self) -> None:
        self.pages = 0
        self.empty_served = 0
        self.search_href = ""

    def __call__(self, request: ProxyRequest, forward: Forward) -> Answer:
        token = page_token(request) if is_search(request) else None
        if token is not None and token.startswith(self.MARK):
            self.empty_served += 1
            body = dict(request.json_body(), token=token.removeprefix(self.MARK))
            link = {"rel": "next", "href": self.search_href, "method": "POST", "body": body}
            return Answer.of_json({"type": "FeatureCollection", "features": [], "links": [link]})
        return edit_search_page(request, forward, self.mark_page_two)

    def mark_page_two(self, page: dict[str, Any]) -> None:
        self.pages += 1
        link = next_link(page)
        if self.pages == 2 and link is not None:
            self.search_href = link["href"]
            link["body"]["token"] = self.MARK + link["body"]["token"]


def test_empty_page_in_the_middle_loses_no_scene(tiny_stac_api: str, expected: list[str]) -> None:
    inserted = EmptyPageInserted()
    with FaultProxy(tiny_stac_api, inserted) as proxy:
        assert scene_keys(proxy.url) == expected
    assert inserted.empty_served == 1


# --- the sensor ---------------------------------------------------------------------------


def tick(defs: Any, instance: DagsterInstance, cursor: str | None) -> SensorResult | SkipReason:
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=defs,
        resources={"catalog": defs.resources["catalog"]},
    )
    return defs.resolve_sensor_def(SENSOR_NAME)(context)


@pytest.mark.parametrize("fault", ["http-500", "truncated-json", "looping-pages"])
def test_sensor_cursor_never_skips_a_scene_when_a_tick_fails(
    fault: str,
    tiny_stac_api: str,
    expected: list[str],
    instance: DagsterInstance,
    tmp_path: Path,
) -> None:
    faults: dict[str, Callable[[], Fault]] = {
        "http-500": lambda: failing_search(500),
        "truncated-json": lambda: truncated_search,
        "looping-pages": TokenIgnored,
    }
    with FaultProxy(tiny_stac_api) as proxy:
        defs = build_definitions(
            {
                "LANDSAT_STAC_URL": proxy.url,
                "LANDSAT_AOI": "none",
                "LANDSAT_STORAGE": str(tmp_path / "storage"),
                "LANDSAT_SENSOR_FIRST_TICK": "all",
                "LANDSAT_SENSOR_MAX_RUNS_PER_TICK": "4",
            }
        )
        requested: list[str] = []
        cursor: str | None = None
        for healthy in [True, False, True, False, True, False, True]:
            proxy.fault = no_fault if healthy else faults[fault]()
            result = tick(defs, instance, cursor)
            if not healthy:
                assert isinstance(result, SkipReason), result
                assert "cursor not moved" in (result.skip_message or "")
                assert proxy.url in (result.skip_message or "")
                continue
            assert isinstance(result, SensorResult)
            requested += [request.partition_key for request in result.run_requests or []]
            for partitions in result.dynamic_partitions_requests or []:
                instance.add_dynamic_partitions(
                    partitions.partitions_def_name, list(partitions.partition_keys)
                )
            cursor = result.cursor
    assert sorted(requested) == sorted(expected), "a scene was skipped or requested twice"
