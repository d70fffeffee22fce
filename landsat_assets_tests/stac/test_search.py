"""Scene search: a static catalog walked locally and the same catalog served by a real
stac-fastapi-static server must give the same scenes; failures name the catalog."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pystac
import pytest
import shapely
import shapely.geometry

from landsat_assets.demo.catalog import build_demo_catalog
from landsat_assets.errors import CatalogError, ItemError
from landsat_assets.stac import search as search_module
from landsat_assets.stac.aoi import Aoi, load_aoi
from landsat_assets.stac.scene import SceneRecord
from landsat_assets.stac.search import HTTP_RETRIES, SceneQuery, iter_scenes, search_scenes
from landsat_assets_tests.support.faults import FlakyProxy
from landsat_assets_tests.support.items import stac_item
from landsat_assets_tests.support.processes import (
    LOOPBACK,
    free_port,
    http_ready,
    running_server,
)
from landsat_assets_tests.support.realworld import REALWORLD_ITEMS
from landsat_assets_tests.support.stac_api import serving_static_catalog

PC_ITEMS = REALWORLD_ITEMS / "planetary_computer_100_items.json"
POINT_AOI = "-105.2,40.1,-105.0,40.2"  # the point all 100 Planetary Computer items cover


def write_catalog(items: list[dict[str, Any]], folder: Path, collection: str) -> Path:
    """A self-contained static catalog (best-practice layout, relative links) as pystac
    writes it, which is what stac-fastapi-static serves."""
    stac_items = []
    for item in items:
        stac_item = pystac.Item.from_dict(item)
        stac_item.clear_links()
        stac_items.append(stac_item)
    stac_collection = pystac.Collection(
        id=collection,
        description="test collection",
        extent=pystac.Extent.from_items(stac_items),
    )
    stac_collection.add_items(stac_items)
    catalog = pystac.Catalog(id="test-root", description="test catalog")
    catalog.add_child(stac_collection)
    catalog.normalize_hrefs(str(folder))
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return folder / "catalog.json"


def summary(records: list[SceneRecord]) -> list[tuple[Any, ...]]:
    return [
        (r.scene_key, r.datetime, r.platform, r.cloud_cover, r.wrs_path, r.wrs_row, r.version)
        for r in records
    ]


@pytest.fixture(scope="session")
def stac_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Path], str]]:
    """Serve a catalog.json with stac-fastapi-static (one server per catalog, stopped by
    process group at the end of the session, whatever happened)."""
    logs = tmp_path_factory.mktemp("server-logs")
    with ExitStack() as servers:
        urls: dict[Path, str] = {}

        def serve(catalog_json: Path) -> str:
            if catalog_json not in urls:
                log_path = logs / f"stac-fastapi-static-{len(urls)}.log"
                urls[catalog_json] = servers.enter_context(
                    serving_static_catalog(catalog_json, log_path=log_path)
                )
            return urls[catalog_json]

        yield serve


@pytest.fixture(scope="session")
def pc_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    items = json.loads(PC_ITEMS.read_text())["features"]
    return write_catalog(items, tmp_path_factory.mktemp("pc-catalog"), "landsat-c2-l2")


# --- the demo catalog, static and served -------------------------------------------------


def demo_queries() -> dict[str, Callable[[Path], SceneQuery]]:
    """Queries over the demo catalog, derived from its own items so that each one selects a
    proper, non-empty subset whatever scenes the generator makes."""
    return {
        "everything": lambda _: SceneQuery(),
        "cloud<=30": lambda _: SceneQuery(max_cloud_cover=30.0),
        "landsat-9": lambda _: SceneQuery(platforms=("landsat-9",)),
        "second-half": lambda catalog: SceneQuery(start=_median_datetime(catalog)),
        "aoi-and-first-half": lambda catalog: SceneQuery(
            aoi=_demo_aoi(), end=_median_datetime(catalog), max_cloud_cover=60.0
        ),
        "aoi-in-one-path": lambda catalog: SceneQuery(aoi=_one_path_aoi(catalog)),
    }


def _median_datetime(catalog: Path) -> datetime:
    records = search_scenes(catalog, SceneQuery())
    return records[len(records) // 2].datetime


def _one_path_aoi(catalog: Path) -> Aoi:
    """A small box inside the footprints of one WRS path only."""
    footprints: dict[str, Any] = {}
    for record in search_scenes(catalog, SceneQuery()):
        footprints[record.wrs_path] = shapely.geometry.shape(record.geometry)
    (_, first), *others = sorted(footprints.items())
    assert others, "the demo catalog should hold more than one WRS path"
    spot = first.difference(shapely.union_all([o for _, o in others])).representative_point()
    return load_aoi(f"{spot.x - 0.01},{spot.y - 0.01},{spot.x + 0.01},{spot.y + 0.01}")


def _demo_aoi() -> Aoi:
    from landsat_assets.demo.scenes import DEMO_AOI_PATH

    return load_aoi(str(DEMO_AOI_PATH))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(demo_queries()))
def test_demo_catalog_static_and_served_agree(
    name: str, small_demo_catalog: Path, stac_server: Callable[[Path], str]
) -> None:
    query = demo_queries()[name](small_demo_catalog)
    local = search_scenes(small_demo_catalog, query)
    url = stac_server(small_demo_catalog)
    served = search_scenes(url, query, page_size=7)
    assert summary(served) == summary(local)
    for record in served:  # the server rewrites local asset hrefs to its own URLs
        assert all(band.href.startswith(url) for band in record.bands.values())
    if name == "everything":
        assert len(local) >= 4
        red = served[0].bands["red"].href
        with urllib.request.urlopen(red, timeout=10) as response:
            assert response.read() == Path(local[0].bands["red"].href).read_bytes()
    else:
        assert 0 < len(local) < len(search_scenes(small_demo_catalog, SceneQuery()))


def test_demo_catalog_local_records(small_demo_catalog: Path) -> None:
    records = search_scenes(small_demo_catalog.parent, SceneQuery())  # the folder works too
    assert records
    assert summary(search_scenes(small_demo_catalog.as_uri(), SceneQuery())) == summary(records)
    assert [r.datetime for r in records] == sorted(r.datetime for r in records)
    for record in records:
        assert record.collection == "landsat-c2-l2"
        for band in record.bands.values():
            assert Path(band.href).is_file(), band.href


@pytest.mark.slow
def test_demo_catalog_over_plain_http_is_walked(small_demo_catalog: Path, tmp_path: Path) -> None:
    """A static catalog on a plain web server is no STAC API: it is walked like a folder."""
    port = free_port()
    cmd = [sys.executable, "-m", "http.server", str(port), "--bind", LOOPBACK]
    url = f"http://{LOOPBACK}:{port}/catalog.json"
    with running_server(
        cmd,
        port=port,
        cwd=small_demo_catalog.parent,
        ready=http_ready(url),
        log_path=tmp_path / "h.log",
    ):
        served = search_scenes(url, SceneQuery(max_cloud_cover=50.0))
    local = search_scenes(small_demo_catalog, SceneQuery(max_cloud_cover=50.0))
    assert summary(served) == summary(local)
    assert served and all(r.bands["red"].href.startswith(url.rsplit("/", 1)[0]) for r in served)


# --- real Planetary Computer items, static and served -------------------------------------


def _pc_expected(
    platforms: set[str], start: str | None, end: str | None, max_cloud: float | None
) -> list[str]:
    """The oracle, straight from the raw items: ids (= scene keys on Planetary Computer)."""
    selected = []
    for item in json.loads(PC_ITEMS.read_text())["features"]:
        props = item["properties"]
        moment = datetime.fromisoformat(props["datetime"])
        if props["platform"] not in platforms:
            continue
        if start and moment < datetime.fromisoformat(start):
            continue
        if end and moment > datetime.fromisoformat(end):
            continue
        if max_cloud is not None and not 0 <= props["eo:cloud_cover"] <= max_cloud:
            continue
        selected.append((moment, item["id"]))
    return [item_id for _, item_id in sorted(selected)]


PC_CASES = {
    "defaults": (SceneQuery(), ({"landsat-8", "landsat-9"}, None, None, None)),
    "point-spring-clear": (
        SceneQuery(
            aoi=load_aoi(POINT_AOI),
            start=datetime(2024, 3, 1),
            end=datetime(2024, 6, 30, 23, 59, 59, tzinfo=UTC),
            max_cloud_cover=30.0,
        ),
        ({"landsat-8", "landsat-9"}, "2024-03-01T00:00:00Z", "2024-06-30T23:59:59Z", 30.0),
    ),
    "landsat-7-only": (SceneQuery(platforms=("LANDSAT_7",)), ({"landsat-7"}, None, None, None)),
    "far-away": (SceneQuery(aoi=load_aoi("10,45,11,46")), (set(), None, None, None)),
}


@pytest.mark.slow
@pytest.mark.realworld
@pytest.mark.parametrize("name", list(PC_CASES))
def test_real_items_static_and_served_agree_with_oracle(
    name: str, pc_catalog: Path, stac_server: Callable[[Path], str]
) -> None:
    query, oracle = PC_CASES[name]
    local = search_scenes(pc_catalog, query)
    served = search_scenes(stac_server(pc_catalog), query, page_size=25)
    assert [r.scene_key for r in local] == _pc_expected(*oracle)
    assert summary(served) == summary(local)
    if name != "far-away":
        assert local


@pytest.mark.slow
@pytest.mark.realworld
@pytest.mark.parametrize("mode", ["first-try-fails", "always-fails"])
def test_transient_http_errors_are_retried(
    mode: str, pc_catalog: Path, stac_server: Callable[[Path], str]
) -> None:
    upstream = stac_server(pc_catalog)
    query = SceneQuery(max_cloud_cover=40.0)
    with FlakyProxy(upstream, always=mode == "always-fails") as proxy:
        if mode == "always-fails":
            started = time.monotonic()
            with pytest.raises(CatalogError, match=f"gave up after {HTTP_RETRIES + 1} tries"):
                search_scenes(proxy.url, query)
            assert time.monotonic() - started < 10
            assert len(proxy.requests) == HTTP_RETRIES + 1
            return
        served = search_scenes(proxy.url, query, page_size=20)
    assert summary(served) == summary(search_scenes(upstream, query, page_size=20))
    failed = [request for request in proxy.requests if request[2] == 503]
    assert failed and len(proxy.requests) == 2 * len(failed)


@pytest.mark.slow
@pytest.mark.realworld
def test_iter_scenes_pages_lazily(pc_catalog: Path, stac_server: Callable[[Path], str]) -> None:
    page_size = 10
    with FlakyProxy(stac_server(pc_catalog), always=False, fail_first=False) as proxy:
        scenes = iter_scenes(proxy.url, SceneQuery(), page_size=page_size)
        assert not proxy.requests
        next(scenes)
        assert len(proxy.searches()) == 1
        rest = list(scenes)
    assert len(rest) == 98
    assert len(proxy.searches()) >= math.ceil(99 / page_size)


@pytest.mark.slow
@pytest.mark.realworld
def test_server_side_filter_is_sent(pc_catalog: Path, stac_server: Callable[[Path], str]) -> None:
    """The CQL2 filter makes the server send only matching items (it ignores `query`)."""
    with FlakyProxy(stac_server(pc_catalog), always=False, fail_first=False) as proxy:
        (record,) = search_scenes(proxy.url, SceneQuery(platforms=("landsat-7",)))
    assert record.platform == "landsat-7"
    assert proxy.features_returned == 1


# --- duplicates, errors -------------------------------------------------------------------


# Hand-made items of one Landsat 9 acquisition, the platform spelled as USGS's own API does
# (the served search must match it too).
_item = partial(stac_item, datetime="2023-06-07T17:00:00Z", platform="LANDSAT_9")


def test_reprocessed_duplicates_keep_the_newest(tmp_path: Path) -> None:
    items = [
        _item("LC09_L2SP_033032_20230607_20230609_02_T1_SR"),
        _item("LC09_L2SP_033032_20230607_20240115_02_T1_SR"),
        _item("LC09_L2SP_033032_20230607_20231101_02_T1_SR"),
    ]
    catalog = write_catalog(items, tmp_path / "dupes", "landsat-c2l2-sr")
    query = SceneQuery(collection="landsat-c2l2-sr")
    assert len(list(iter_scenes(catalog, query))) == 3
    (record,) = search_scenes(catalog, query)
    assert record.scene_key == "LC09_L2SP_033032_20230607_02_T1"
    assert record.item_id == "LC09_L2SP_033032_20230607_20240115_02_T1_SR"


@pytest.mark.slow
def test_item_missing_red_band_fails_on_both_backends(
    tmp_path_factory: pytest.TempPathFactory, stac_server: Callable[[Path], str]
) -> None:
    broken = _item("LC09_L2SP_033032_20230623_02_T1", datetime="2023-06-23T17:00:00Z")
    del broken["assets"]["red"]
    items = [_item("LC09_L2SP_033032_20230607_02_T1"), broken]
    catalog = write_catalog(items, tmp_path_factory.mktemp("broken"), "landsat-c2-l2")
    for source in (catalog, stac_server(catalog)):
        with pytest.raises(ItemError, match="missing band 'red'") as caught:
            search_scenes(source, SceneQuery())
        assert "LC09_L2SP_033032_20230623_02_T1" in str(caught.value)
        assert str(source) in str(caught.value)
        # the broken item is outside this query, so it does not get in the way
        before = SceneQuery(end=datetime(2023, 6, 10, tzinfo=UTC))
        assert [r.scene_key for r in search_scenes(source, before)] == [
            "LC09_L2SP_033032_20230607_02_T1"
        ]


def test_unreachable_url_names_it_and_gives_up_quickly() -> None:
    url = f"http://{LOOPBACK}:{free_port()}/"
    started = time.monotonic()
    with pytest.raises(CatalogError) as caught:
        search_scenes(url, SceneQuery())
    message = str(caught.value)
    assert url in message
    assert f"gave up after {HTTP_RETRIES + 1} tries" in message
    assert "Connection refused" in message
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: tmp, "has no catalog.json or collection.json"),
        (lambda tmp: _write(tmp / "x.json", "not json"), "is not a STAC catalog"),
        (lambda tmp: _write(tmp / "x.json", json.dumps({"a": 1})), "is not a STAC catalog"),
        (lambda tmp: _write(tmp / "i.json", json.dumps(_item("x"))), "not a STAC catalog or"),
    ],
)
def test_local_catalog_errors(tmp_path: Path, make: Any, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(CatalogError, match=message) as caught:
        search_scenes(path, SceneQuery())
    assert str(path) in str(caught.value)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.slow
def test_collection_not_found_on_both_backends(
    tmp_path_factory: pytest.TempPathFactory, stac_server: Callable[[Path], str]
) -> None:
    catalog = write_catalog(
        [_item("LC09_L2SP_033032_20230607_02_T1")], tmp_path_factory.mktemp("one"), "other"
    )
    for source in (catalog, stac_server(catalog)):
        with pytest.raises(CatalogError, match="collection 'landsat-c2-l2' not found"):
            search_scenes(source, SceneQuery())
        assert len(search_scenes(source, SceneQuery(collection="other"))) == 1


def test_url_that_is_not_stac(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<html>hello</html>")
    port = free_port()
    cmd = [sys.executable, "-m", "http.server", str(port), "--bind", LOOPBACK]
    url = f"http://{LOOPBACK}:{port}/"
    with running_server(cmd, port=port, cwd=tmp_path, ready=http_ready(url)):
        with pytest.raises(CatalogError, match="is not a STAC catalog or API") as caught:
            search_scenes(url, SceneQuery())
        assert url in str(caught.value)
        with pytest.raises(CatalogError, match="answered HTTP 404"):
            search_scenes(f"{url}nothing.json", SceneQuery())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"start": datetime(2024, 2, 1), "end": datetime(2024, 1, 1)}, "is after end"),
        ({"max_cloud_cover": 120.0}, "not within 0..100"),
        ({"platforms": ("sentinel-2a",)}, "not a Landsat"),
        ({"platforms": ()}, "platforms is empty"),
    ],
)
def test_query_validation(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SceneQuery(**arguments)


def test_query_normalizes_times_and_platforms() -> None:
    query = SceneQuery(start=datetime(2024, 1, 1), platforms=("LANDSAT_9", "landsat-9"))
    assert query.start == datetime(2024, 1, 1, tzinfo=UTC)
    assert query.platforms == ("landsat-9",)
    assert query.cql2_filter() == {
        "op": "or",
        "args": [
            {"op": "=", "args": [{"property": "platform"}, "landsat-9"]},
            {"op": "=", "args": [{"property": "platform"}, "LANDSAT_9"]},
        ],
    }


def test_forked_workers_find_what_one_process_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local catalog read by two forked processes, in tasks of three files: the same
    records and the same bad-item messages, in the same order, as read in this process."""
    catalog = build_demo_catalog(tmp_path / "catalog", size=32, dates=6)
    broken = sorted((catalog.parent).glob("*/*/*.json"))[4]
    broken.write_text("{ not json")
    monkeypatch.setattr(search_module, "FILES_PER_TASK", 3)
    monkeypatch.setattr(search_module, "FORK_FROM_FILES", 10)
    pools: list[str] = []
    get_context = search_module.multiprocessing.get_context

    def counted(method: str) -> Any:
        pools.append(method)
        return get_context(method)

    monkeypatch.setattr(search_module.multiprocessing, "get_context", counted)

    def found(workers: int) -> tuple[list[SceneRecord], list[str]]:
        bad: list[str] = []
        records = list(
            iter_scenes(
                catalog, SceneQuery(), on_bad_item=lambda e: bad.append(str(e)), workers=workers
            )
        )
        return records, bad

    alone, forked = found(1), found(2)
    assert pools == ["fork"]
    assert forked == alone
    assert len(alone[0]) == 11 and len(alone[1]) == 1 and broken.name in alone[1][0]


def test_forked_workers_end_without_signals_and_die_on_sigterm(tmp_path: Path) -> None:
    """A search started with SIGTERM ignored (inherited SIG_IGN) finishes: its workers leave
    on their stop sentinels, and each restores SIGTERM so that `Pool.terminate` works."""
    catalog = build_demo_catalog(tmp_path / "catalog", size=32, dates=6)
    script = (
        "import signal, sys\n"
        "from landsat_assets.stac import search\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "search.FILES_PER_TASK, search.FORK_FROM_FILES = 1, 1\n"
        "for _ in range(20):\n"
        f"    found = search.search_scenes({str(catalog)!r}, search.SceneQuery(), workers=2)\n"
        "    assert len(found) == 12, len(found)\n"
        "import multiprocessing\n"
        "with multiprocessing.get_context('fork').Pool(1, initializer=search.terminable) as pool:\n"
        "    assert pool.apply(signal.getsignal, (signal.SIGTERM,)) == signal.SIG_DFL\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
