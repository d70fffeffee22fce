"""Every real item from the three public APIs normalizes, or fails with a clear ItemError."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet
import pystac
import pytest
import shapely
import shapely.geometry

from landsat_assets.errors import ItemError
from landsat_assets.science.radsat import (
    SATURATION_BIT_OF_BAND,
    SATURATION_PLATFORMS,
    TERRAIN_OCCLUSION_BIT,
)
from landsat_assets.stac.normalize import normalize_item, normalize_item_file
from landsat_assets.stac.scene import (
    OPTIONAL_BANDS,
    SCENE_BANDS,
    SCENE_KEY_PATTERN,
    BandAsset,
    SceneRecord,
)
from landsat_assets_tests.support.realworld import REALWORLD_ITEMS

pytestmark = pytest.mark.realworld

OBSOLETE = {"LC08_L2SR_081119_20200101_20200823_02_T2": "obsolete STAC 1.0.0-beta.2"}

SR = {"scale": 2.75e-05, "offset": -0.2, "nodata": 0}
QA = {"scale": 1.0, "offset": 0.0, "nodata": 1}


def _items_of(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, list):
        return document
    if document.get("type") == "FeatureCollection":
        return document["features"]
    return [document]


def _cases() -> list[Any]:
    if not REALWORLD_ITEMS.is_dir():
        # One placeholder case, skipped by the module's realworld mark like every other test.
        return [pytest.param(None, None, id="no-realworld")]
    cases = []
    for path in sorted(REALWORLD_ITEMS.glob("*.json")):
        for item in _items_of(json.loads(path.read_text())):
            cases.append(pytest.param(path, item, id=f"{path.stem[:30]}:{item['id']}"))
    return cases


def _item(name: str) -> dict[str, Any]:
    return json.loads((REALWORLD_ITEMS / name).read_text())


@pytest.mark.parametrize(("path", "item"), _cases())
def test_every_real_item_normalizes_or_fails_clearly(path: Path, item: dict[str, Any]) -> None:
    if item["id"] in OBSOLETE:
        with pytest.raises(ItemError, match=OBSOLETE[item["id"]]) as caught:
            normalize_item(item)
        assert item["id"] in str(caught.value)
        return
    record = normalize_item(item, source=str(path))
    assert SCENE_KEY_PATTERN.fullmatch(record.scene_key)
    assert record.scene_key.count("_") == 5, "no processing date, no _SR/_ST suffix"
    assert record.item_id == item["id"]
    assert record.platform in {"landsat-5", "landsat-7", "landsat-8", "landsat-9"}
    assert record.datetime.tzinfo == UTC
    assert record.version >= record.datetime.isoformat(timespec="microseconds")
    assert len(record.wrs_path) == 3 and len(record.wrs_row) == 3
    assert record.cloud_cover is None or 0 <= record.cloud_cover <= 100
    assert record.cloud_cover_land is None or 0 <= record.cloud_cover_land <= 100
    # Every source carries the other indices' bands and QA_RADSAT: all are kept.
    assert set(record.bands) == {*SCENE_BANDS, *OPTIONAL_BANDS}
    for name, band in record.bands.items():
        assert band.href.startswith(("s3://", "https://")), name
        assert band.nodata == {"qa_pixel": 1, "qa_radsat": None}.get(name, 0), name
    assert record.epsg is not None and record.shape is not None and record.bbox is not None
    assert SceneRecord.from_json_dict(json.loads(json.dumps(record.to_json_dict()))) == record


def test_earth_search_item() -> None:
    record = normalize_item(_item("earthsearch_v1_LC08_L2SP_033032_20231008_02_T1.json"))
    prefix = (
        "s3://usgs-landsat/collection02/level-2/standard/oli-tirs/2023/033/032/"
        "LC08_L2SP_033032_20231008_20231017_02_T1/LC08_L2SP_033032_20231008_20231017_02_T1"
    )
    assert record.scene_key == "LC08_L2SP_033032_20231008_02_T1"
    assert record.version == "2023-10-17T16:22:27.000000+00:00"
    assert record.datetime == datetime(2023, 10, 8, 17, 37, 26, 656958, tzinfo=UTC)
    assert (record.platform, record.wrs_path, record.wrs_row) == ("landsat-8", "033", "032")
    assert (record.cloud_cover, record.cloud_cover_land) == (0.06, 0.06)
    assert record.bands["red"] == BandAsset(
        href=f"{prefix}_SR_B4.TIF", access="requester_pays", **SR
    )
    assert record.bands["nir08"] == BandAsset(
        href=f"{prefix}_SR_B5.TIF", access="requester_pays", **SR
    )
    assert record.bands["qa_pixel"] == BandAsset(
        href=f"{prefix}_QA_PIXEL.TIF", access="requester_pays", **QA
    )
    assert record.epsg == 32613
    assert record.shape == (7831, 7711)
    assert record.transform == (30.0, 0.0, 449085.0, 0.0, -30.0, 4581915.0)
    assert record.bbox == (-105.606232, 39.255216, -102.84603, 41.385732)
    assert record.geometry is not None and record.geometry["type"] == "Polygon"
    assert record.sun_elevation == pytest.approx(41.18722795)
    assert record.collection == "landsat-c2-l2"


def test_planetary_computer_l2sp_with_land_cloud_cover_not_computed() -> None:
    record = normalize_item(_item("planetary_computer_LC09_L2SP_084069_20250722_02_T2.json"))
    assert record.scene_key == "LC09_L2SP_084069_20250722_02_T2"
    assert record.platform == "landsat-9"
    assert record.cloud_cover == 15.45
    assert record.cloud_cover_land is None  # -1 in the item
    assert record.version == "2025-07-25T00:00:00.000000+00:00"  # from the band file name
    assert record.bands["red"].access == "needs_signing"
    assert record.bands["red"].href.startswith("https://landsateuwest.blob.core.windows.net/")
    assert record.bands["red"].href.endswith(
        "LC09_L2SP_084069_20250722_20250725_02_T2/LC09_L2SP_084069_20250722_20250725_02_T2_SR_B4.TIF"
    )
    assert (record.bands["red"].scale, record.bands["red"].offset) == (2.75e-05, -0.2)
    assert record.epsg == 32658
    assert record.shape == (7731, 7611)


def test_planetary_computer_l2sr_without_thermal_bands() -> None:
    record = normalize_item(_item("planetary_computer_LC09_L2SR_084082_20250722_02_T1.json"))
    assert record.scene_key == "LC09_L2SR_084082_20250722_02_T1"
    assert (record.wrs_path, record.wrs_row) == ("084", "082")
    assert (record.cloud_cover, record.cloud_cover_land) == (41.51, 43.14)
    assert record.datetime == datetime(2025, 7, 22, 23, 12, 16, 530560, tzinfo=UTC)
    assert record.bands["qa_pixel"].nodata == 1
    assert record.epsg == 32657


def test_landsatlook_item_without_raster_bands_uses_usgs_defaults() -> None:
    path = REALWORLD_ITEMS / "usgs_landsatlook_LC09_L2SP_092068_20230607_20230609_02_T1_SR.json"
    record = normalize_item_file(path)
    product = "LC09_L2SP_092068_20230607_20230609_02_T1"
    folder = f"collection02/level-2/standard/oli-tirs/2023/092/068/{product}/{product}"
    assert record.item_id == f"{product}_SR"
    assert record.scene_key == "LC09_L2SP_092068_20230607_02_T1"
    assert record.version == "2023-06-09T00:00:00.000000+00:00"
    assert record.platform == "landsat-9"  # LANDSAT_9 in the item
    assert record.collection == "landsat-c2l2-sr"
    assert record.bands["red"] == BandAsset(
        href=f"https://landsatlook.usgs.gov/data/{folder}_SR_B4.TIF",
        access="public",
        alternate_s3_href=f"s3://usgs-landsat/{folder}_SR_B4.TIF",
        **SR,
    )
    assert record.bands["qa_pixel"] == BandAsset(
        href=f"https://landsatlook.usgs.gov/data/{folder}_QA_PIXEL.TIF",
        access="public",
        alternate_s3_href=f"s3://usgs-landsat/{folder}_QA_PIXEL.TIF",
        **QA,
    )
    assert record.source == str(path)


def test_stac_geoparquet_item_with_land_cloud_cover_minus_one() -> None:
    items = {item["id"]: item for item in _item("stac-geoparquet_landsat-c2-l2-pc.json")}
    record = normalize_item(items["LC09_L2SP_089087_20240417_02_T2"])
    assert record.cloud_cover == 25.41
    assert record.cloud_cover_land is None


def test_landsat_7_from_landsatlook() -> None:
    record = normalize_item(
        _item("usgs_landsatlook_odc-stac_LE07_L2SP_044033_20210329_20210424_02_T1_SR.json")
    )
    assert record.scene_key == "LE07_L2SP_044033_20210329_02_T1"
    assert record.platform == "landsat-7"
    assert record.bands["red"].href.endswith("_SR_B3.TIF")  # ETM+ red is band 3


def test_reprocessed_landsatlook_product_has_same_key_and_newer_version() -> None:
    original = _item("usgs_landsatlook_LC09_L2SP_092068_20230607_20230609_02_T1_SR.json")
    reprocessed = json.loads(json.dumps(original).replace("20230609", "20240102"))
    old, new = normalize_item(original), normalize_item(reprocessed)
    assert new.scene_key == old.scene_key
    assert new.version > old.version


def test_obsolete_sat_api_file_names_file_and_item() -> None:
    path = (
        REALWORLD_ITEMS / "usgs_old-sat-api_odc-stac_LC08_L2SR_081119_20200101_20200823_02_T2.json"
    )
    with pytest.raises(ItemError) as caught:
        normalize_item_file(path)
    message = str(caught.value)
    assert str(path) in message
    assert "LC08_L2SR_081119_20200101_20200823_02_T2" in message
    assert "1.0.0-beta.2" in message


def _geoparquet_rows_as_items(path: Path) -> list[dict[str, Any]]:
    """stac-geoparquet back to STAC items: top-level properties, WKB geometry, bbox struct,
    timestamps, and null fields for assets and keys that a row does not have."""
    core = {"type", "stac_version", "stac_extensions", "id", "links", "assets", "collection"}
    items = []
    for row in pyarrow.parquet.read_table(path).to_pylist():
        item = {key: row[key] for key in core}
        item["assets"] = {k: v for k, v in row["assets"].items() if v is not None}
        item["geometry"] = shapely.geometry.mapping(shapely.from_wkb(row["geometry"]))
        bbox = row["bbox"]
        item["bbox"] = [bbox["xmin"], bbox["ymin"], bbox["xmax"], bbox["ymax"]]
        item["properties"] = {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in row.items()
            if key not in core | {"geometry", "bbox"} and value is not None
        }
        items.append(item)
    return items


def test_geoparquet_items_match_their_json_twins() -> None:
    rows = _geoparquet_rows_as_items(
        REALWORLD_ITEMS / "rustac_100-landsat-items_planetary_computer.parquet"
    )
    twins = {item["id"]: item for item in _item("planetary_computer_100_items.json")["features"]}
    assert len(rows) == len(twins) == 100
    for row in rows:
        from_parquet, from_json = normalize_item(row), normalize_item(twins[row["id"]])
        assert from_parquet.scene_key == from_json.scene_key
        assert from_parquet.datetime == from_json.datetime
        assert from_parquet.version == from_json.version
        assert from_parquet.bands == from_json.bands
        assert from_parquet.cloud_cover == from_json.cloud_cover
        assert from_parquet.platform == from_json.platform


def test_pystac_item_from_real_file(tmp_path: Path) -> None:
    item = pystac.Item.from_file(
        str(REALWORLD_ITEMS / "planetary_computer_LC09_L2SR_084082_20250722_02_T1.json")
    )
    record = normalize_item(item, source="pystac")
    assert record.scene_key == "LC09_L2SR_084082_20250722_02_T1"
    assert record.collection == "landsat-c2-l2"
    assert record.source == "pystac"


def _oli_radsat_bitfields() -> list[tuple[str, str, dict[str, Any]]]:
    """(file, item id, qa_radsat asset) of every Landsat 8/9 item declaring its bitfields."""
    return [
        (path.stem, item["id"], item["assets"]["qa_radsat"])
        for path in sorted(REALWORLD_ITEMS.glob("*.json"))
        for item in _items_of(json.loads(path.read_text()))
        if item["id"] not in OBSOLETE
        and normalize_item(item).platform in SATURATION_PLATFORMS
        and "classification:bitfields" in item["assets"].get("qa_radsat", {})
    ]


def test_the_saturation_bits_are_the_ones_every_source_declares() -> None:
    """`science/radsat.py`'s layout against the `classification:bitfields` that Earth Search,
    Planetary Computer and LandsatLook put on their Landsat 8/9 `qa_radsat` assets."""
    declared = _oli_radsat_bitfields()
    files = {name for name, _, _ in declared}
    for source in ("earthsearch", "planetary_computer", "usgs_landsatlook"):
        assert any(name.startswith(source) for name in files), source
    oli_band = {1: "coastal", 2: "blue", 3: "green", 4: "red", 5: "nir08", 6: "swir16"}
    oli_band |= {7: "swir22", 9: "cirrus"}
    for _, item_id, asset in declared:
        offsets = {field["name"]: field["offset"] for field in asset["classification:bitfields"]}
        for number, band in oli_band.items():
            assert offsets[f"band{number}"] == SATURATION_BIT_OF_BAND[band], (item_id, band)
        assert offsets["occlusion"] == TERRAIN_OCCLUSION_BIT, item_id
