"""Normalization rules on small hand-made items (independent of the real samples)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pystac
import pytest
from pystac.utils import make_absolute_href, str_to_datetime

from landsat_assets.errors import ItemError
from landsat_assets.stac.normalize import (
    item_datetime,
    normalize_item,
    normalize_item_file,
    normalize_platform,
    resolve_href,
)
from landsat_assets_tests.support.items import stac_item


@pytest.mark.parametrize(
    ("item_id", "key"),
    [
        ("LC09_L2SP_092068_20230607_20230609_02_T1_SR", "LC09_L2SP_092068_20230607_02_T1"),
        ("LC09_L2SP_092068_20230607_20230609_02_T1_ST", "LC09_L2SP_092068_20230607_02_T1"),
        ("LC09_L2SP_092068_20230607_02_T1", "LC09_L2SP_092068_20230607_02_T1"),
        ("LC08_L2SR_099120_20191129_20201016_02_T2", "LC08_L2SR_099120_20191129_02_T2"),
        ("demo_scene_0001", "demo_scene_0001"),
    ],
)
def test_scene_key(item_id: str, key: str) -> None:
    assert normalize_item(stac_item(item_id)).scene_key == key


@pytest.mark.parametrize(
    "item_id", ["a/b", "../etc", "LC08,x", "a|b", "a[0]", "LC08_é", "", "a" * 129]
)
def test_unsafe_ids_are_refused(item_id: str) -> None:
    with pytest.raises(ItemError, match=r"scene key|no id"):
        normalize_item(stac_item(item_id))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("landsat-9", "landsat-9"),
        ("LANDSAT_9", "landsat-9"),
        ("Landsat 9", "landsat-9"),
        ("landsat_8", "landsat-8"),
        ("LANDSAT-08", "landsat-8"),
        ("LANDSAT_7", "landsat-7"),
        ("landsat-5", "landsat-5"),
        ("sentinel-2a", None),
        ("", None),
        (9, None),
    ],
)
def test_platform_spellings(value: object, expected: str | None) -> None:
    assert normalize_platform(value) == expected


def test_platform_from_id_when_absent_and_refused_when_not_landsat() -> None:
    assert normalize_item(stac_item("LC09_L2SP_033032_20231008_02_T1")).platform == "landsat-8"
    item = stac_item("LC09_L2SP_033032_20231008_02_T1")
    del item["properties"]["platform"]
    assert normalize_item(item).platform == "landsat-9"
    with pytest.raises(ItemError, match=r"LC08_L2SP_033032_20231008_02_T1.*sentinel-2a"):
        normalize_item(stac_item(platform="sentinel-2a"))


def test_wrs_padded_and_taken_from_id() -> None:
    record = normalize_item(stac_item(**{"landsat:wrs_path": 33, "landsat:wrs_row": "32"}))
    assert (record.wrs_path, record.wrs_row) == ("033", "032")
    item = stac_item()
    del item["properties"]["landsat:wrs_path"], item["properties"]["landsat:wrs_row"]
    assert (normalize_item(item).wrs_path, normalize_item(item).wrs_row) == ("033", "032")
    with pytest.raises(ItemError, match="landsat:wrs_path"):
        normalize_item(stac_item(**{"landsat:wrs_path": "33a"}))


def test_cloud_cover_minus_one_and_absent_are_none() -> None:
    record = normalize_item(stac_item(**{"eo:cloud_cover": -1, "landsat:cloud_cover_land": -1}))
    assert (record.cloud_cover, record.cloud_cover_land) == (None, None)
    item = stac_item()
    del item["properties"]["eo:cloud_cover"]
    assert normalize_item(item).cloud_cover is None
    with pytest.raises(ItemError, match="eo:cloud_cover 'cloudy'"):
        normalize_item(stac_item(**{"eo:cloud_cover": "cloudy"}))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-10-08T17:37:26Z", datetime(2023, 10, 8, 17, 37, 26, tzinfo=UTC)),
        ("2023-10-08T17:37:26", datetime(2023, 10, 8, 17, 37, 26, tzinfo=UTC)),
        ("2023-10-08T19:37:26+02:00", datetime(2023, 10, 8, 17, 37, 26, tzinfo=UTC)),
        ("2023-10-08T17:37:26.123456789Z", datetime(2023, 10, 8, 17, 37, 26, 123456, tzinfo=UTC)),
    ],
)
def test_datetime_is_utc(value: str, expected: datetime) -> None:
    record = normalize_item(stac_item(datetime=value))
    assert record.datetime == expected
    assert record.datetime.utcoffset().total_seconds() == 0


def test_datetime_errors() -> None:
    with pytest.raises(ItemError, match="not an ISO 8601"):
        normalize_item(stac_item(datetime="yesterday"))
    item = stac_item()
    item["properties"]["datetime"] = None
    with pytest.raises(ItemError, match="no datetime"):
        normalize_item(item)
    item["properties"]["start_datetime"] = "2023-10-08T00:00:00Z"
    assert normalize_item(item).datetime == datetime(2023, 10, 8, tzinfo=UTC)


def test_version_priority_and_order() -> None:
    generated = stac_item(
        **{"landsat:product_generated": "2023-10-17T16:22:27Z", "updated": "2024-01-01T00:00:00Z"}
    )
    assert normalize_item(generated).version == "2023-10-17T16:22:27.000000+00:00"
    updated = stac_item(updated="2024-01-01T00:00:00Z", created="2023-01-01T00:00:00Z")
    assert normalize_item(updated).version == "2024-01-01T00:00:00.000000+00:00"
    bare = stac_item()
    assert normalize_item(bare).version == "2023-10-08T17:37:26.656958+00:00"
    from_href = stac_item(updated="2030-01-01T00:00:00Z")
    from_href["assets"]["red"]["href"] = (
        "s3://usgs-landsat/x/LC08_L2SP_033032_20231008_20231017_02_T1_SR_B4.TIF"
    )
    assert normalize_item(from_href).version == "2023-10-17T00:00:00.000000+00:00"
    other_product = copy.deepcopy(from_href)
    other_product["assets"]["red"]["href"] = "s3://b/LC08_L2SP_999999_20231008_20231017_02_T1.TIF"
    assert normalize_item(other_product).version == "2030-01-01T00:00:00.000000+00:00"
    versions = [
        normalize_item(stac_item(f"LC08_L2SP_033032_20231008_{day}_02_T1_SR")).version
        for day in ("20231009", "20231017", "20240301")
    ]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert normalize_item(bare).version < versions[0]


def test_missing_band_names_item_and_band() -> None:
    item = stac_item()
    del item["assets"]["red"]
    with pytest.raises(ItemError, match=r"'LC08_L2SP_033032_20231008_02_T1'.*missing band 'red'"):
        normalize_item(item)
    item = stac_item()
    item["assets"]["nir08"] = {"title": "no href"}
    with pytest.raises(ItemError, match="missing band 'nir08'"):
        normalize_item(item)


def test_defaults_without_raster_bands() -> None:
    item = stac_item()
    for asset in item["assets"].values():
        del asset["raster:bands"]
    bands = normalize_item(item).bands
    assert (bands["red"].scale, bands["red"].offset, bands["red"].nodata) == (2.75e-05, -0.2, 0)
    assert (bands["qa_pixel"].scale, bands["qa_pixel"].offset, bands["qa_pixel"].nodata) == (
        1.0,
        0.0,
        1,
    )


def test_raster_bands_override_defaults_and_bad_nodata_is_refused() -> None:
    item = stac_item()
    item["assets"]["red"]["raster:bands"] = [{"scale": 0.0001, "offset": 0, "nodata": -9999.0}]
    red = normalize_item(item).bands["red"]
    assert (red.scale, red.offset, red.nodata) == (0.0001, 0.0, -9999)
    item["assets"]["red"]["raster:bands"] = [{"nodata": 0.5}]
    with pytest.raises(ItemError, match=r"band 'red' has nodata 0\.5"):
        normalize_item(item)


@pytest.mark.parametrize(
    ("href", "extra", "access"),
    [
        ("s3://usgs-landsat/collection02/x.TIF", {}, "requester_pays"),
        ("https://example.test/x.TIF", {"storage:requester_pays": True}, "requester_pays"),
        ("https://landsateuwest.blob.core.windows.net/landsat-c2/x.TIF", {}, "needs_signing"),
        ("https://landsatlook.usgs.gov/data/x.TIF", {}, "public"),
        ("s3://my-bucket/x.TIF", {"storage:requester_pays": False}, "public"),
    ],
)
def test_access(href: str, extra: dict, access: str) -> None:
    item = stac_item()
    item["assets"]["red"] = {"href": href, **extra}
    assert normalize_item(item).bands["red"].access == access


def test_alternate_s3_href() -> None:
    item = stac_item()
    item["assets"]["red"]["alternate"] = {"s3": {"href": "s3://usgs-landsat/a/B4.TIF"}}
    item["assets"]["nir08"]["alternate"] = "garbage"
    bands = normalize_item(item).bands
    assert bands["red"].alternate_s3_href == "s3://usgs-landsat/a/B4.TIF"
    assert bands["nir08"].alternate_s3_href is None


def test_relative_hrefs_resolved_against_file_and_self_link(tmp_path: Path) -> None:
    item = stac_item()
    item["assets"]["red"]["href"] = "./B4.TIF"
    item["assets"]["nir08"]["href"] = "../shared/B5.TIF"
    folder = tmp_path / "scene"
    folder.mkdir()
    (folder / "item.json").write_text(json.dumps(item))
    bands = normalize_item_file(folder / "item.json").bands
    assert bands["red"].href == str(folder / "B4.TIF")
    assert bands["nir08"].href == str(tmp_path / "shared" / "B5.TIF")

    item["links"] = [{"rel": "self", "href": "https://stac.test/items/x/item.json"}]
    assert normalize_item(item).bands["red"].href == "https://stac.test/items/x/B4.TIF"

    item["links"] = []
    with pytest.raises(ItemError, match=r"relative href '\./B4\.TIF'"):
        normalize_item(item)


def test_pystac_item_resolves_against_its_file(tmp_path: Path) -> None:
    item = stac_item()
    item["assets"]["red"]["href"] = "./B4.TIF"
    (tmp_path / "item.json").write_text(json.dumps(item))
    record = normalize_item(pystac.Item.from_file(str(tmp_path / "item.json")))
    assert record.bands["red"].href == str(tmp_path / "B4.TIF")


def test_proj_fields_from_asset_item_or_code() -> None:
    item = stac_item(
        **{"proj:epsg": None, "proj:code": "EPSG:32618", "proj:shape": [100, 200]},
    )
    item["assets"]["red"]["proj:transform"] = [30, 0, 1000, 0, -30, 2000, 0, 0, 1]
    record = normalize_item(item)
    assert record.epsg == 32618
    assert record.shape == (100, 200)
    assert record.transform == (30.0, 0.0, 1000.0, 0.0, -30.0, 2000.0)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda item: item.update(type="FeatureCollection"), "FeatureCollection, not a STAC item"),
        (lambda item: item.update(assets=[1, 2]), "no assets"),
        (lambda item: item.update(properties=None), "no datetime"),
        (
            lambda item: item["assets"]["red"].update({"raster:bands": [{"scale": "big"}]}),
            "malformed",
        ),
        (lambda item: item.update(stac_version="0.9.0"), "obsolete STAC 0.9.0"),
        (lambda item: item["properties"].update({"proj:shape": "big"}), "malformed"),
    ],
)
def test_malformed_items_raise_item_error(mutate: Any, message: str) -> None:
    item = stac_item()
    mutate(item)
    with pytest.raises(ItemError, match=message):
        normalize_item(item)


def test_non_item_inputs(tmp_path: Path) -> None:
    with pytest.raises(ItemError, match="got list"):
        normalize_item([stac_item()])  # type: ignore[arg-type]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ItemError, match=r"bad.json: not readable as JSON"):
        normalize_item_file(tmp_path / "bad.json")
    with pytest.raises(ItemError, match="no such file"):
        normalize_item_file(tmp_path / "missing.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ItemError, match="a JSON list, not a STAC item"):
        normalize_item_file(tmp_path / "list.json")


@pytest.mark.parametrize(
    ("href", "base"),
    [
        ("../other/B4.TIF", "/data/catalog/collection/scene/scene.json"),
        ("./B4.TIF", "/data/catalog/scene/scene.json"),
        ("sub/dir/../B4.TIF", "/data/catalog/scene/scene.json"),
        ("../../../../../B4.TIF", "/data/catalog/scene/scene.json"),
        ("/elsewhere/B4.TIF", "/data/catalog/scene/scene.json"),
        ("https://archive.test/B4.TIF", "/data/catalog/scene/scene.json"),
        ("B4.TIF", "https://catalog.test/collection/scene/scene.json"),
        ("../B4.TIF", "file:///data/catalog/scene/scene.json"),
    ],
)
def test_resolved_hrefs_are_pystacs(href: str, base: str) -> None:
    """The fast path for a local catalog's relative hrefs gives what pystac gives."""
    assert resolve_href(href, base) == make_absolute_href(href, base)


@pytest.mark.parametrize(
    "value",
    [
        "2023-06-07T17:30:12.123456Z",
        "2023-06-07T17:30:12Z",
        "2023-06-07T19:30:12+02:00",
        "2023-06-07T17:30:12.123Z",
        "2023-06-07T17:30:12.123456789Z",
        "2023-06-07",
        "20230607T173012Z",
    ],
)
def test_item_times_are_read_as_dateutil_reads_them(value: str) -> None:
    expected = str_to_datetime(value)
    expected = expected.replace(tzinfo=UTC) if expected.tzinfo is None else expected
    item = stac_item("LC09_L2SP_092068_20230607_02_T1")
    item["properties"]["datetime"] = value
    assert item_datetime(item) == expected.astimezone(UTC)
