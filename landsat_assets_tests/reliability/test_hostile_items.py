"""A catalog is data from outside: ids that could escape a path or Dagster's partition
syntax, band hrefs pointing where the platform must not read, broken or antimeridian
footprints, absurd declared raster sizes, duplicates and reprocessings."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance

from landsat_assets.definitions import build_definitions
from landsat_assets.errors import ItemError, SceneKeyError
from landsat_assets.partitions import landsat_scenes, register_scenes
from landsat_assets.runner import run_pipeline
from landsat_assets.stac.aoi import load_aoi
from landsat_assets.stac.normalize import HrefPolicy, normalize_item
from landsat_assets.stac.search import SceneQuery, search_scenes
from landsat_assets_tests.support.catalogs import (
    add_item,
    band_file,
    copy_catalog,
    edit_item,
    one_day_env,
    read_item,
)
from landsat_assets_tests.support.faults import (
    Answer,
    FaultProxy,
    Forward,
    ProxyRequest,
    edit_search_page,
)
from landsat_assets_tests.support.items import USGS_S3_HREFS, stac_item

HOSTILE_IDS = [
    "LC09_L2SP_033032_20230607_02_T1/../../../etc",
    "..",
    "scene/other",
    "LC09,LC08",
    "a|b",
    "scene[0]",
    "scene]",
    "LC09_L2SP_033032_20230607_02_T1_\u00e9",
    "\u573a\u666f",
    "",
]


def api_item(item_id: str = "LC09_L2SP_033032_20230607_02_T1", **hrefs: str) -> dict[str, Any]:
    """A Landsat 9 item as a remote API serves it, bands on USGS's bucket; `hrefs` replace
    band hrefs by band name (the hostile part)."""
    return stac_item(
        item_id,
        hrefs=USGS_S3_HREFS | hrefs,
        datetime="2023-06-07T17:00:00Z",
        platform="landsat-9",
    )


def quiet(_line: str) -> None:
    return None


# --- ids --------------------------------------------------------------------------------


@pytest.mark.parametrize("item_id", HOSTILE_IDS)
def test_hostile_id_never_becomes_a_scene_key(item_id: str, instance: DagsterInstance) -> None:
    with pytest.raises(ItemError) as caught:
        normalize_item(api_item(item_id))
    assert (repr(item_id) if item_id else "no id") in str(caught.value)
    if item_id:
        with pytest.raises(SceneKeyError):
            register_scenes(instance, ["LC09_L2SP_033032_20230101_02_T1", item_id])
    assert instance.get_dynamic_partitions(landsat_scenes.name) == []


def hostile_page(item_id: str):
    """Rename the second item of each search page."""

    def rename_second(page: dict[str, Any]) -> None:
        if len(page["features"]) > 1:
            page["features"][1]["id"] = item_id

    def fault(request: ProxyRequest, forward: Forward) -> Answer:
        return edit_search_page(request, forward, rename_second)

    return fault


def test_hostile_id_from_an_api_stops_discovery(tiny_stac_api: str) -> None:
    item_id = "LC09_L2SP_033032_20230607_02_T1/../../../../owned"
    with FaultProxy(tiny_stac_api, hostile_page(item_id)) as proxy:
        with pytest.raises(ItemError) as caught:
            search_scenes(proxy.url, SceneQuery())
    assert repr(item_id) in str(caught.value) and proxy.url in str(caught.value)


def test_main_job_skips_a_hostile_id_before_any_partition_or_path(
    tiny_catalog: Path, instance: DagsterInstance, tmp_path: Path
) -> None:
    """The main job reports the item and goes on with the others; the id never becomes a
    partition key or a path."""
    catalog = copy_catalog(tiny_catalog, tmp_path / "catalog")
    (_, victim, *_) = search_scenes(catalog, SceneQuery())
    item_id = "LC09_L2SP_033032_20230607_02_T1/../../../../owned"
    edit_item(catalog, victim.item_id, lambda item: item.update(id=item_id))
    storage = tmp_path / "deep" / "er" / "storage"
    defs = build_definitions(
        {"LANDSAT_STAC_URL": str(catalog), "LANDSAT_AOI": "none", "LANDSAT_STORAGE": str(storage)}
    )
    report = run_pipeline(instance, defs, scenes_per_run=6, echo=quiet)
    (problem,) = report.bad_items
    assert repr(item_id) in problem and str(catalog) in problem
    assert not report.ok and not report.failures
    partitions = instance.get_dynamic_partitions(landsat_scenes.name)
    assert sorted(partitions) == sorted(r.scene_key for r in report.found)
    assert len(partitions) == 11 and victim.scene_key not in partitions
    assert not list(tmp_path.rglob("owned*"))
    products = {*partitions, "ndvi_summary", "ndvi_timeseries_plot"}
    for path in storage.rglob("*"):
        assert path.resolve().is_relative_to(storage.resolve()), path
        assert path.is_dir() or path.name.split(".")[0] in products, path


# --- hrefs ------------------------------------------------------------------------------

REMOTE = "http://127.0.0.1:9/stac/"


@pytest.mark.parametrize(
    ("href", "problem"),
    [
        ("ftp://archive.test/B4.TIF", "scheme 'ftp'"),
        ("gopher://archive.test/B4.TIF", "scheme 'gopher'"),
        ("file:///etc/passwd", "local file, refused from a remote catalog"),
        ("/etc/passwd", "local file, refused from a remote catalog"),
        ("/vsicurl/https://archive.test/B4.TIF", "local file, refused from a remote catalog"),
        (None, None),
    ],
)
def test_remote_catalog_href_policy(href: str | None, problem: str | None) -> None:
    policy = HrefPolicy.for_catalog(REMOTE)
    for allowed in ("s3://usgs-landsat/B4.TIF", "https://a.test/B4.TIF", "http://a.test/B4.TIF"):
        assert normalize_item(api_item(red=allowed), hrefs=policy).bands["red"].href == allowed
    if href is None:
        return
    with pytest.raises(ItemError, match=problem) as caught:
        normalize_item(api_item(red=href), hrefs=policy)
    assert "LC09_L2SP_033032_20230607_02_T1" in str(caught.value)
    assert repr(href) in str(caught.value)
    assert "'red'" in str(caught.value)


def test_local_catalog_reads_only_its_own_folder(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    (catalog / "scene").mkdir(parents=True)
    (tmp_path / "secret.TIF").write_bytes(b"secret")
    policy = HrefPolicy.for_catalog(str(catalog / "catalog.json"))
    (catalog / "catalog.json").write_text("{}")
    inside = catalog / "scene" / "B4.TIF"
    for href in (str(inside), inside.as_uri(), "s3://usgs-landsat/B4.TIF"):
        assert normalize_item(api_item(red=href), hrefs=policy).bands["red"].href == href
    item = api_item(red="../../../secret.TIF")
    item["links"] = [{"rel": "self", "href": str(catalog / "scene" / "item.json")}]
    for hostile in (item, api_item(red=str(catalog / ".." / "secret.TIF"))):
        with pytest.raises(ItemError, match="outside the catalog's folder"):
            normalize_item(hostile, hrefs=policy)
    with pytest.raises(ItemError, match="scheme 'ftp'"):
        normalize_item(api_item(red="ftp://a.test/B4.TIF"), hrefs=policy)
    alternate = api_item()
    alternate["assets"]["red"]["alternate"] = {"s3": {"href": "file:///etc/passwd"}}
    with pytest.raises(ItemError, match="outside the catalog's folder"):
        normalize_item(alternate, hrefs=policy)


def test_links_inside_the_catalog_folder_are_followed_to_where_they_point(
    tmp_path: Path,
) -> None:
    """A band file, or a folder, that is a symbolic link out of the catalog's folder is
    outside it, however many band files of the same folder were checked before."""
    catalog = tmp_path / "catalog"
    (catalog / "scene").mkdir(parents=True)
    (catalog / "catalog.json").write_text("{}")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.TIF").write_bytes(b"secret")
    (catalog / "scene" / "B4.TIF").symlink_to(outside / "secret.TIF")
    (catalog / "linked").symlink_to(outside)
    policy = HrefPolicy.for_catalog(str(catalog / "catalog.json"))
    fine = str(catalog / "scene" / "B5.TIF")
    assert normalize_item(api_item(red=fine), hrefs=policy).bands["red"].href == fine
    for hostile in (catalog / "scene" / "B4.TIF", catalog / "linked" / "secret.TIF"):
        with pytest.raises(ItemError, match="outside the catalog's folder"):
            normalize_item(api_item(red=str(hostile)), hrefs=policy)


def test_local_catalog_item_pointing_outside_is_refused_by_search(
    tiny_catalog: Path, tmp_path: Path
) -> None:
    catalog = copy_catalog(tiny_catalog, tmp_path / "catalog")
    (victim, *_) = search_scenes(catalog, SceneQuery())

    def point_outside(item: dict[str, Any]) -> None:
        item["assets"]["nir08"]["href"] = "../../../../../../../../etc/passwd"

    edit_item(catalog, victim.item_id, point_outside)
    with pytest.raises(ItemError) as caught:
        search_scenes(catalog, SceneQuery())
    message = str(caught.value)
    assert victim.item_id in message and "etc/passwd" in message
    assert "outside the catalog's folder" in message and str(catalog) in message


@pytest.mark.parametrize(
    "href", ["file:///etc/passwd", "/etc/hostname", "ftp://archive.test/B4.TIF"]
)
def test_served_catalog_cannot_point_at_local_files(tiny_stac_api: str, href: str) -> None:
    def point_first_qa_at(page: dict[str, Any]) -> None:
        page["features"][0]["assets"]["qa_pixel"]["href"] = href

    def rewrite(request: ProxyRequest, forward: Forward) -> Answer:
        return edit_search_page(request, forward, point_first_qa_at)

    with FaultProxy(tiny_stac_api, rewrite) as proxy:
        with pytest.raises(ItemError) as caught:
            search_scenes(proxy.url, SceneQuery())
    assert repr(href) in str(caught.value)
    assert proxy.url in str(caught.value)


# --- footprints -------------------------------------------------------------------------

ANTIMERIDIAN = {
    "type": "Polygon",
    "coordinates": [
        [[179.2, -17.0], [-179.4, -17.0], [-179.4, -16.0], [179.2, -16.0], [179.2, -17.0]]
    ],
}
BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[-105, 40], [-104, 41], [-104, 40], [-105, 41], [-105, 40]]],
}


@pytest.mark.parametrize(
    ("footprint", "aoi", "expected"),
    [
        (ANTIMERIDIAN, "179.5,-16.8,179.8,-16.5", True),
        (ANTIMERIDIAN, "-179.9,-16.8,-179.6,-16.5", True),
        (ANTIMERIDIAN, "0,-16.8,1,-16.5", False),
        (ANTIMERIDIAN, "178.0,-16.8,179.0,-16.5", False),
        (BOWTIE, "-104.95,40.4,-104.9,40.6", True),
        (BOWTIE, "-104.6,40.1,-104.4,40.2", False),
    ],
)
def test_antimeridian_and_self_intersecting_footprints(
    footprint: dict[str, Any], aoi: str, expected: bool
) -> None:
    item = api_item()
    item["geometry"] = footprint
    assert SceneQuery(aoi=load_aoi(aoi)).matches(item) is expected


@pytest.mark.parametrize(
    "footprint",
    [
        {"type": "Polygon", "coordinates": [[[-105, 40], [-104, 41]]]},
        {"type": "Polygon", "coordinates": "x"},
        {"type": "Banana", "coordinates": []},
        {"type": "Polygon"},
    ],
)
def test_malformed_footprint_names_the_item(
    footprint: dict[str, Any], tiny_catalog: Path, tmp_path: Path
) -> None:
    catalog = copy_catalog(tiny_catalog, tmp_path / "catalog")
    (victim, *_) = search_scenes(catalog, SceneQuery())
    edit_item(catalog, victim.item_id, lambda item: item.update(geometry=footprint))
    query = SceneQuery(aoi=load_aoi("-110,35,-100,45"))
    with pytest.raises(ItemError, match="footprint is not a usable GeoJSON geometry") as caught:
        search_scenes(catalog, query)
    assert victim.item_id in str(caught.value) and str(catalog) in str(caught.value)


# --- declared raster size ---------------------------------------------------------------


def test_declared_size_over_the_pixel_budget_is_refused_before_reading(
    tiny_catalog: Path, tmp_path: Path, instance: DagsterInstance
) -> None:
    catalog = copy_catalog(tiny_catalog, tmp_path / "catalog")
    (victim, *_) = search_scenes(catalog, SceneQuery())

    def declare_huge(item: dict[str, Any]) -> None:
        item["properties"]["proj:shape"] = [200_000, 300_000]
        item["assets"]["red"]["proj:shape"] = [200_000, 300_000]

    edit_item(catalog, victim.item_id, declare_huge)
    red = band_file(catalog, victim.item_id, "red")
    red.write_bytes(b"if this were read, the error would say it cannot be opened")
    env = {
        "LANDSAT_STAC_URL": str(catalog),
        "LANDSAT_STORAGE": str(tmp_path / "storage"),
        **one_day_env(victim.datetime),
    }
    report = run_pipeline(instance, build_definitions(env), scenes_per_run=4, echo=quiet)
    assert [r.scene_key for r in report.found] == [victim.scene_key]
    message = report.failures[victim.scene_key]
    assert victim.scene_key in message and red.name in message
    assert "declares proj:shape 200000 x 300000" in message and "pixel budget" in message
    assert "cannot open" not in message


# --- duplicates and reprocessings -------------------------------------------------------


def test_duplicates_and_reprocessing_resolve_to_one_partition_newest_wins(
    tiny_catalog: Path, tmp_path: Path, instance: DagsterInstance
) -> None:
    catalog = copy_catalog(tiny_catalog, tmp_path / "catalog")
    (victim, *_) = search_scenes(catalog, SceneQuery())
    original = read_item(catalog, victim.item_id)
    duplicate = copy.deepcopy(original)
    for asset in duplicate["assets"].values():
        if not asset["href"].startswith(("http", "s3")):
            asset["href"] = f"../{victim.item_id}/{asset['href'].removeprefix('./')}"
    add_item(catalog, "duplicate", duplicate)
    reprocessed = copy.deepcopy(duplicate)
    reprocessed["properties"]["landsat:product_generated"] = "2030-01-01T00:00:00Z"
    add_item(catalog, "reprocessed", reprocessed)
    older = copy.deepcopy(duplicate)
    older["properties"]["landsat:product_generated"] = "2020-01-01T00:00:00Z"
    add_item(catalog, "older", older)

    env = {
        "LANDSAT_STAC_URL": str(catalog),
        "LANDSAT_STORAGE": str(tmp_path / "storage"),
        "LANDSAT_MIN_CLEAR_FRACTION": "0",
        **one_day_env(victim.datetime),
    }
    report = run_pipeline(instance, build_definitions(env), scenes_per_run=4, echo=quiet)
    assert report.ok, report.failures
    assert instance.get_dynamic_partitions(landsat_scenes.name) == [victim.scene_key]
    record = instance.get_latest_data_version_record(
        AssetKey("landsat_scene"), is_source=False, partition_key=victim.scene_key
    )
    assert record.asset_materialization.metadata["version"].value.startswith("2030-01-01")
    stored = json.loads(
        (tmp_path / "storage" / "landsat_scene" / f"{victim.scene_key}.json").read_text()
    )
    assert stored["version"].startswith("2030-01-01")
    assert len(report.summary) == 1
