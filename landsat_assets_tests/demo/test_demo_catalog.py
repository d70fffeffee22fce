"""The demo catalog: Earth Search-shaped items over synthetic rasters that behave like Landsat."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
import shapely
from pyproj import Transformer
from pystac.validation.stac_validator import JsonSchemaSTACValidator
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import shape
from stac_pydantic import Catalog as PydanticCatalog
from stac_pydantic import Collection as PydanticCollection
from stac_pydantic import Item as PydanticItem

from landsat_assets.demo import (
    DEMO_AOI_PATH,
    FULL_SCENE_SHAPE,
    add_scene,
    build_demo_catalog,
    write_scene_bands,
)
from landsat_assets.demo.scenes import BAND_FILE_SUFFIXES
from landsat_assets.science import qa as qa_bits
from landsat_assets.stac.scene import (
    USGS_SR_OFFSET,
    USGS_SR_SCALE,
    VALID_SR_DN_MAX,
    VALID_SR_DN_MIN,
)
from landsat_assets_tests.support.realworld import REALWORLD_ITEMS

EARTH_SEARCH_ITEM = REALWORLD_ITEMS / "earthsearch_v1_LC08_L2SP_033032_20231008_02_T1.json"

SIZE = 256
DATES = 8
BANDS = ("red", "nir08", "qa_pixel")
ITEM_ID = re.compile(r"^LC0[89]_L2SP_(\d{3})(\d{3})_(\d{8})_02_T1$")


@pytest.fixture(scope="module")
def catalog_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_catalog(tmp_path_factory.mktemp("demo"), size=SIZE, dates=DATES)


@pytest.fixture(scope="module")
def items(catalog_path: Path) -> list[pystac.Item]:
    catalog = pystac.Catalog.from_file(str(catalog_path))
    return sorted(catalog.get_items(recursive=True), key=lambda item: item.datetime)


class Scene:
    """One item's rasters as a consumer would read them."""

    def __init__(self, item: pystac.Item) -> None:
        self.item = item
        self.month = item.datetime.month
        with rasterio.open(item.assets["qa_pixel"].get_absolute_href()) as ds:
            self.qa = ds.read(1)
            self.transform = ds.transform
            self.crs = ds.crs
        with rasterio.open(item.assets["red"].get_absolute_href()) as ds:
            self.red_dn = ds.read(1)
        with rasterio.open(item.assets["nir08"].get_absolute_href()) as ds:
            self.nir_dn = ds.read(1)
        red = self.red_dn * USGS_SR_SCALE + USGS_SR_OFFSET
        nir = self.nir_dn * USGS_SR_SCALE + USGS_SR_OFFSET
        with np.errstate(divide="ignore", invalid="ignore"):
            self.ndvi = (nir - red) / (nir + red)
        self.red = red
        self.fill = self.qa == qa_bits.QA_FILL_VALUE

    def bit(self, bit: int) -> np.ndarray:
        return qa_bits.bit_is_set(self.qa, bit)

    def aoi_mask(self) -> np.ndarray:
        aoi = json.loads(DEMO_AOI_PATH.read_text())["geometry"]
        inside = geometry_mask(
            [transform_geom("EPSG:4326", self.crs, aoi)],
            self.qa.shape,
            self.transform,
            invert=True,
        )
        return inside


@pytest.fixture(scope="module")
def scenes(items: list[pystac.Item]) -> list[Scene]:
    return [Scene(item) for item in items]


def _files(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


# --- catalog structure ---------------------------------------------------------------------


def test_catalog_is_self_contained_with_relative_hrefs(catalog_path: Path) -> None:
    catalog = pystac.Catalog.from_file(str(catalog_path))
    assert catalog.catalog_type is pystac.CatalogType.SELF_CONTAINED
    collection = catalog.get_child("landsat-c2-l2")
    assert isinstance(collection, pystac.Collection)
    for path in catalog_path.parent.rglob("*.json"):
        document = json.loads(path.read_text())
        hrefs = [link["href"] for link in document["links"] if link["rel"] != "cite-as"]
        hrefs += [asset["href"] for asset in document.get("assets", {}).values()]
        assert all(href.startswith(("./", "../")) for href in hrefs), path
    for item in collection.get_items():
        for band in BANDS:
            assert Path(item.assets[band].get_absolute_href()).is_file()


def test_schedule_two_path_rows_both_platforms_eight_days_apart(items: list[pystac.Item]) -> None:
    by_path_row: dict[tuple[str, str], list[pystac.Item]] = {}
    for item in items:
        key = (item.properties["landsat:wrs_path"], item.properties["landsat:wrs_row"])
        by_path_row.setdefault(key, []).append(item)
    assert set(by_path_row) == {("033", "032"), ("034", "032")}
    for scenes in by_path_row.values():
        assert len(scenes) == DATES
        days = [item.datetime.date() for item in scenes]
        assert all((b - a).days % 8 == 0 for a, b in itertools.pairwise(days))
        assert (days[-1] - days[0]).days > 250, "the dates must span most of a year"
        # Each 8-day pair has one Landsat 8 and one Landsat 9 acquisition.
        for first, second in zip(scenes[::2], scenes[1::2], strict=True):
            assert (second.datetime.date() - first.datetime.date()).days == 8
            assert {first.properties["platform"], second.properties["platform"]} == {
                "landsat-8",
                "landsat-9",
            }
    # Landsat 8 and 9 keep their real 16-day cycles, e.g. LC08 033/032 on 2023-10-08.
    ids = {item.id for item in items}
    assert "LC08_L2SP_033032_20231008_02_T1" in ids


def test_items_validate_offline_against_core_schemas(
    catalog_path: Path, items: list[pystac.Item]
) -> None:
    """pystac's bundled STAC 1.1 schemas plus stac_pydantic's models; no schema is fetched.

    The extension schemas (projection, raster, landsat...) are not available offline: their
    fields are checked against the real Earth Search item and the rasters instead.
    """
    validator = JsonSchemaSTACValidator()
    bundled = set(validator.schema_cache)
    for item in items:
        document = json.loads(Path(item.get_self_href()).read_text())
        validator.validate_core(document, pystac.STACObjectType.ITEM, document["stac_version"])
        PydanticItem.model_validate(document)
    collection = json.loads((catalog_path.parent / "landsat-c2-l2" / "collection.json").read_text())
    validator.validate_core(collection, pystac.STACObjectType.COLLECTION, "1.1.0")
    PydanticCollection.model_validate(collection)
    catalog = json.loads(catalog_path.read_text())
    validator.validate_core(catalog, pystac.STACObjectType.CATALOG, "1.1.0")
    PydanticCatalog.model_validate(catalog)
    assert set(validator.schema_cache) == bundled, "a schema was fetched from the network"

    broken = json.loads(Path(items[0].get_self_href()).read_text())
    broken["bbox"] = broken["bbox"][:2]
    with pytest.raises(pystac.STACValidationError):
        validator.validate_core(broken, pystac.STACObjectType.ITEM, "1.1.0")


@pytest.mark.realworld
def test_items_have_earth_search_fields(items: list[pystac.Item]) -> None:
    real = json.loads(EARTH_SEARCH_ITEM.read_text())
    for item in items:
        ours = json.loads(Path(item.get_self_href()).read_text())
        assert ours["collection"] == real["collection"]
        assert ours["stac_extensions"] == real["stac_extensions"]
        assert set(ours["properties"]) == set(real["properties"])
        for key, value in real["properties"].items():
            assert _json_kind(ours["properties"][key]) == _json_kind(value), key
        for key in ("proj:shape", "proj:transform", "instruments"):
            assert len(ours["properties"][key]) == len(real["properties"][key])
        assert set(ours["properties"]["proj:centroid"]) == {"lat", "lon"}
        assert re.fullmatch(r"\d{3}", ours["properties"]["landsat:wrs_path"])
        assert re.fullmatch(r"\d{3}", ours["properties"]["landsat:wrs_row"])
        for band in BANDS:
            our_asset, real_asset = ours["assets"][band], real["assets"][band]
            assert set(our_asset) - {"storage:requester_pays"} == set(real_asset) - {
                "storage:platform",
                "storage:region",
                "storage:requester_pays",
            }
            for key in ("type", "title", "description", "roles", "eo:bands"):
                assert our_asset.get(key) == real_asset.get(key), (band, key)
            our_raster, real_raster = our_asset["raster:bands"], real_asset["raster:bands"]
            assert [set(b) for b in our_raster] == [set(b) for b in real_raster]
            for key in ("nodata", "data_type", "scale", "offset", "unit"):
                assert our_raster[0].get(key) == real_raster[0].get(key), (band, key)
        assert (
            ours["assets"]["qa_pixel"]["classification:bitfields"]
            == real["assets"]["qa_pixel"]["classification:bitfields"]
        )


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def test_item_ids_and_file_names_follow_usgs(items: list[pystac.Item]) -> None:
    for item in items:
        match = ITEM_ID.fullmatch(item.id)
        assert match, item.id
        path, row, acquired = match.groups()
        assert acquired == f"{item.datetime:%Y%m%d}"
        assert item.properties["landsat:scene_id"] == (
            f"LC{item.id[3]}{path}{row}{item.datetime:%Y%j}LGN00"
        )
        for band, suffix in (("red", "SR_B4"), ("nir08", "SR_B5"), ("qa_pixel", "QA_PIXEL")):
            name = Path(item.assets[band].href).name
            product = re.fullmatch(
                rf"(LC0[89]_L2SP_{path}{row}_{acquired}_(\d{{8}})_02_T1)_{suffix}\.TIF", name
            )
            assert product, name
            processed = datetime.strptime(product.group(2), "%Y%m%d").replace(tzinfo=UTC)
            assert processed > item.datetime
        generated = datetime.fromisoformat(item.properties["landsat:product_generated"])
        created = datetime.fromisoformat(item.properties["created"])
        assert item.datetime < generated < created
        assert item.properties["updated"] == item.properties["created"]


def test_item_metadata_matches_the_rasters(items: list[pystac.Item]) -> None:
    for item in items[:4]:
        # Read the file: pystac migrates proj:epsg to proj:code when it loads an item.
        props = json.loads(Path(item.get_self_href()).read_text())["properties"]
        for band in BANDS:
            with rasterio.open(item.assets[band].get_absolute_href()) as ds:
                assert ds.crs.to_epsg() == props["proj:epsg"] == 32613
                assert list(ds.shape) == props["proj:shape"] == [SIZE, SIZE]
                assert list(ds.transform)[:6] == pytest.approx(props["proj:transform"])
                nodata = item.assets[band].extra_fields["raster:bands"][0]["nodata"]
                # USGS's QA_PIXEL files carry no nodata tag; the item says 1.
                assert ds.nodata == (None if band == "qa_pixel" else nodata)
                assert ds.dtypes == ("uint16",)
        footprint = shape(item.geometry)
        assert footprint.is_valid and footprint.exterior.is_ccw
        assert shapely.box(*item.bbox).contains(footprint)
        assert footprint.bounds == pytest.approx(item.bbox, abs=1e-5)


def test_bands_are_valid_cogs(items: list[pystac.Item]) -> None:
    for band in BANDS:
        href = items[0].assets[band].get_absolute_href()
        valid, errors, _warnings = cog_validate(href)
        assert valid, errors
        with rasterio.open(href) as ds:
            assert ds.block_shapes == [(512, 512)]
            assert ds.compression is rasterio.enums.Compression.deflate


def test_write_scene_bands_writes_cogs_with_overviews(tmp_path: Path) -> None:
    product_id = "LC09_L2SP_034032_20230703_20230712_02_T1"
    paths = write_scene_bands(
        tmp_path,
        product_id,
        size=(1100, 1050),
        acquired=datetime(2023, 7, 3, 17, 43, 42, tzinfo=UTC),
        seed=3,
    )
    assert {band: path.name for band, path in paths.items()} == {
        "blue": f"{product_id}_SR_B2.TIF",
        "green": f"{product_id}_SR_B3.TIF",
        "red": f"{product_id}_SR_B4.TIF",
        "nir08": f"{product_id}_SR_B5.TIF",
        "swir16": f"{product_id}_SR_B6.TIF",
        "swir22": f"{product_id}_SR_B7.TIF",
        "qa_pixel": f"{product_id}_QA_PIXEL.TIF",
        "qa_radsat": f"{product_id}_QA_RADSAT.TIF",
    }
    for path in paths.values():
        assert cog_validate(str(path))[0]
        with rasterio.open(path) as ds:
            assert ds.shape == (1100, 1050)
            # Overviews halve the size until the smallest one fits in a single 512 px tile.
            assert ds.overviews(1) == [2, 4]
            assert ds.res[0] == pytest.approx(30.0 * FULL_SCENE_SHAPE[1] / 1050, abs=0.05)


def test_the_other_bands_behave_like_real_spectra(tmp_path: Path) -> None:
    """Blue, green and SWIR as the indices need them: water has a positive NDWI and a
    negative NDVI, clear vegetation a positive NDMI and NBR, snow is bright in the visible and
    dark in SWIR, and QA_RADSAT flags only bright blue or green pixels."""
    product_id = "LC09_L2SP_034032_20230302_20230310_02_T1"
    paths = write_scene_bands(
        tmp_path,
        product_id,
        size=(700, 700),
        acquired=datetime(2023, 3, 2, 17, 43, 42, tzinfo=UTC),
        seed=1,
    )
    bands = {}
    for band, path in paths.items():
        with rasterio.open(path) as ds:
            bands[band] = ds.read(1)
    sr = {b: bands[b] * USGS_SR_SCALE + USGS_SR_OFFSET for b in paths if not b.startswith("qa")}
    qa_pixel = bands["qa_pixel"]
    clear = (qa_pixel & 0b11111) == 0
    water = clear & ((qa_pixel >> 7) & 1 == 1)
    snow = clear & ((qa_pixel >> 5) & 1 == 1)

    def index(a, b):
        return (sr[a] - sr[b]) / (sr[a] + sr[b])

    ndvi = index("nir08", "red")
    vegetation = clear & ~water & ~snow & (ndvi > 0.5)
    assert water.sum() > 100 and snow.sum() > 100 and vegetation.sum() > 100
    assert np.median(index("green", "nir08")[water]) > 0.2
    assert np.median(ndvi[water]) < 0
    assert np.median(index("nir08", "swir16")[vegetation]) > 0.1
    assert np.median(index("nir08", "swir22")[vegetation]) > 0.3
    assert np.median(index("green", "swir16")[snow]) > 0.8  # NDSI
    radsat = bands["qa_radsat"]
    flagged = radsat != 0
    assert flagged.any()
    bright = np.maximum(sr["blue"], sr["green"]) > 0.94
    assert (flagged <= bright).all()
    assert not (radsat & ~np.uint16(0b111)).any()


def test_write_scene_bands_rejects_inconsistent_arguments(tmp_path: Path) -> None:
    when = datetime(2023, 7, 3, 17, 43, tzinfo=UTC)
    with pytest.raises(ValueError, match="not the date"):
        write_scene_bands(
            tmp_path, "LC09_L2SP_034032_20230704_20230712_02_T1", size=64, acquired=when, seed=0
        )
    with pytest.raises(ValueError, match="not in the demo world"):
        write_scene_bands(
            tmp_path, "LC09_L2SP_040032_20230703_20230712_02_T1", size=64, acquired=when, seed=0
        )
    with pytest.raises(ValueError, match="product id"):
        write_scene_bands(
            tmp_path, "LC09_L2SP_034032_20230703_02_T1", size=64, acquired=when, seed=0
        )


# --- pixels and QA --------------------------------------------------------------------------


def test_fill_is_exactly_qa_one_with_sr_zero(scenes: list[Scene]) -> None:
    for scene in scenes:
        assert scene.fill.any() and not scene.fill.all()
        assert np.array_equal(scene.fill, scene.red_dn == 0)
        assert np.array_equal(scene.fill, scene.nir_dn == 0)
        assert not scene.bit(qa_bits.FILL_BIT)[~scene.fill].any()
        # The footprint is tilted like a real scene: every corner of the grid is fill.
        assert scene.fill[0, 0] and scene.fill[0, -1] and scene.fill[-1, 0] and scene.fill[-1, -1]
        assert not scene.fill[SIZE // 2, :].all()


def test_sr_inside_valid_range_where_not_fill(scenes: list[Scene]) -> None:
    for scene in scenes:
        for dn in (scene.red_dn, scene.nir_dn):
            data = dn[~scene.fill]
            assert data.min() >= VALID_SR_DN_MIN and data.max() <= VALID_SR_DN_MAX


def test_qa_flags_agree_with_confidences_and_clear_bit(scenes: list[Scene]) -> None:
    pairs = (
        (qa_bits.CLOUD_BIT, qa_bits.CLOUD_CONFIDENCE_SHIFT),
        (qa_bits.CLOUD_SHADOW_BIT, qa_bits.SHADOW_CONFIDENCE_SHIFT),
        (qa_bits.SNOW_BIT, qa_bits.SNOW_CONFIDENCE_SHIFT),
        (qa_bits.CIRRUS_BIT, qa_bits.CIRRUS_CONFIDENCE_SHIFT),
    )
    for scene in scenes:
        data = ~scene.fill
        for bit, shift in pairs:
            high = qa_bits.confidence(scene.qa, shift) == 3
            assert np.array_equal(scene.bit(bit)[data], high[data]), (scene.item.id, bit)
            # CFMask writes at least low confidence everywhere in the data area.
            assert (qa_bits.confidence(scene.qa, shift)[data] >= 1).all()
        cloudy = scene.bit(qa_bits.CLOUD_BIT) | scene.bit(qa_bits.DILATED_CLOUD_BIT)
        assert np.array_equal(scene.bit(qa_bits.CLEAR_BIT)[data], ~cloudy[data])
        assert not (scene.bit(qa_bits.WATER_BIT) & scene.bit(qa_bits.CLOUD_BIT)).any()


def test_cloud_pixels_are_bright_and_flat(scenes: list[Scene]) -> None:
    cloudy_scenes = [s for s in scenes if s.bit(qa_bits.CLOUD_BIT).sum() > 100]
    assert cloudy_scenes
    for scene in cloudy_scenes:
        cloud = scene.bit(qa_bits.CLOUD_BIT)
        assert scene.red[cloud].min() > 0.25
        assert np.abs(scene.ndvi[cloud]).max() < 0.1
        clear_land = (scene.qa & 0b1111_1111) == (1 << qa_bits.CLEAR_BIT)
        assert np.median(scene.red[cloud]) > 1.5 * np.median(scene.red[clear_land])


def test_water_pixels_have_water_bit_and_negative_ndvi(scenes: list[Scene]) -> None:
    water_seen = 0
    for scene in scenes:
        water = scene.bit(qa_bits.WATER_BIT)
        water_seen += int(water.sum())
        assert (scene.ndvi[water] < 0).all(), scene.item.id
        # Unflagged pixels (bits 0-5 clear) are water exactly where NDVI is negative.
        unflagged = (scene.qa & 0b11_1111) == 0
        assert np.array_equal(water[unflagged], scene.ndvi[unflagged] < 0), scene.item.id
    assert water_seen > 0


def test_snow_only_in_winter_scenes(scenes: list[Scene]) -> None:
    snow_by_month = {}
    for scene in scenes:
        snow = scene.bit(qa_bits.SNOW_BIT)
        snow_by_month[scene.item.id] = (scene.month, int(snow.sum()))
        if snow.any():
            # Snow is bright in red, with an NDVI near zero.
            assert np.median(scene.red[snow]) > 0.5
            assert np.abs(np.median(scene.ndvi[snow])) < 0.15
    assert all(count == 0 for month, count in snow_by_month.values() if 5 <= month <= 9)
    assert any(count > 0 for month, count in snow_by_month.values() if month in (12, 1, 2))


def test_shadows_are_clouds_displaced_away_from_the_sun(scenes: list[Scene]) -> None:
    checked = 0
    for scene in scenes:
        cloud = scene.bit(qa_bits.CLOUD_BIT)
        shadow = scene.bit(qa_bits.CLOUD_SHADOW_BIT)
        if shadow.sum() < 20:
            continue
        assert not (shadow & cloud).any()
        best_offset, best_score = (0, 0), 0.0
        for drow in range(-12, 13):
            for dcol in range(-12, 13):
                source = _source_of(shadow, drow, dcol)
                rows, cols = np.nonzero(source)
                looked_at = ~scene.fill[rows - drow, cols - dcol]
                if looked_at.sum() < 10:
                    continue
                score = float(cloud[rows - drow, cols - dcol][looked_at].mean())
                if score > best_score:
                    best_offset, best_score = (drow, dcol), score
        assert best_score > 0.99, (scene.item.id, best_offset, best_score)
        drow, dcol = best_offset
        assert (drow, dcol) != (0, 0)
        if math.hypot(drow, dcol) >= 3:
            shadow_direction = math.degrees(math.atan2(dcol, -drow)) % 360
            away_from_sun = (scene.item.properties["view:sun_azimuth"] + 180) % 360
            difference = abs((shadow_direction - away_from_sun + 180) % 360 - 180)
            assert difference < 25, (scene.item.id, shadow_direction, away_from_sun)
            checked += 1
    assert checked >= 2


def _source_of(shadow: np.ndarray, drow: int, dcol: int) -> np.ndarray:
    """Shadow pixels whose source (the pixel `(drow, dcol)` back) is inside the grid."""
    inside = np.zeros_like(shadow)
    rows, cols = shadow.shape
    inside[max(drow, 0) : rows + min(drow, 0), max(dcol, 0) : cols + min(dcol, 0)] = True
    return shadow & inside


def test_dilated_cloud_rings_the_clouds(scenes: list[Scene]) -> None:
    for scene in scenes:
        cloud = scene.bit(qa_bits.CLOUD_BIT)
        dilated = scene.bit(qa_bits.DILATED_CLOUD_BIT)
        assert not (cloud & dilated).any()
        if not dilated.any():
            continue
        # Clouds over the fill area are hidden by QA value 1 but still dilate into the data.
        source = cloud | scene.fill
        grown = source.copy()
        grown[1:] |= source[:-1]
        grown[:-1] |= source[1:]
        grown[:, 1:] |= grown[:, :-1].copy()
        grown[:, :-1] |= grown[:, 1:].copy()
        assert grown[dilated].all()


# --- the AOI over the year -------------------------------------------------------------------


def test_aoi_lies_inside_the_data_of_both_path_rows(items: list[pystac.Item]) -> None:
    aoi = shape(json.loads(DEMO_AOI_PATH.read_text())["geometry"])
    to_utm = Transformer.from_crs(4326, 32613, always_xy=True)
    minx, miny, maxx, maxy = shapely.transform(aoi, to_utm.transform, interleaved=False).bounds
    assert 5_000 < maxx - minx < 50_000 and 5_000 < maxy - miny < 50_000
    for item in items:
        assert shape(item.geometry).buffer(-0.05).contains(aoi), item.id


def _aoi_stats(scene: Scene) -> tuple[float, float | None]:
    inside = scene.aoi_mask()
    assert not scene.fill[inside].any(), scene.item.id
    qa = scene.qa[inside]
    clear = (qa & 0b1_1111) == 0
    land = (
        clear
        & ~qa_bits.bit_is_set(qa, qa_bits.WATER_BIT)
        & ~qa_bits.bit_is_set(qa, qa_bits.SNOW_BIT)
    )
    ndvi = float(np.median(scene.ndvi[inside][land])) if land.mean() > 0.5 else None
    return float(clear.mean()), ndvi


def test_some_acquisitions_cloudy_over_the_aoi_and_some_clear(scenes: list[Scene]) -> None:
    clear_fractions = {s.item.id: _aoi_stats(s)[0] for s in scenes}
    for path in ("033", "034"):
        own = [f for item_id, f in clear_fractions.items() if f"_{path}032_" in item_id]
        assert min(own) < 0.2 and max(own) > 0.8, (path, own)


def test_seasonal_ndvi_cycle_over_the_aoi(scenes: list[Scene]) -> None:
    summer, winter = [], []
    for scene in scenes:
        _, ndvi = _aoi_stats(scene)
        if ndvi is None:
            continue
        if scene.month in (6, 7, 8):
            summer.append(ndvi)
        elif scene.month in (11, 12, 1, 2):
            winter.append(ndvi)
    assert summer and winter
    assert max(summer) > 0.65 and min(summer) > 0.55
    assert max(winter) < 0.35


def test_both_path_rows_see_the_same_ground(scenes: list[Scene]) -> None:
    """The reservoir in the AOI sits at the same map position in both path/rows."""
    centres = {}
    for scene in scenes:
        inside = scene.aoi_mask()
        water = scene.bit(qa_bits.WATER_BIT) & inside
        if _aoi_stats(scene)[0] < 0.99 or water.sum() < 3:
            continue
        rows, cols = np.nonzero(water)
        x, y = scene.transform @ (cols.mean() + 0.5, rows.mean() + 0.5)
        centres.setdefault(scene.item.properties["landsat:wrs_path"], []).append((x, y))
    assert set(centres) == {"033", "034"}
    first, second = (np.mean(centres[p], axis=0) for p in ("033", "034"))
    assert np.hypot(*(first - second)) < 1.5 * scenes[0].transform.a


# --- determinism and new scenes --------------------------------------------------------------


def test_build_is_byte_identical_for_the_same_arguments(tmp_path: Path) -> None:
    build_demo_catalog(tmp_path / "a", size=64, dates=2, seed=5)
    build_demo_catalog(tmp_path / "b", size=64, dates=2, seed=5)
    first = _files(tmp_path / "a")
    assert first == _files(tmp_path / "b")
    assert len([name for name in first if name.endswith(".TIF")]) == 2 * 2 * len(BAND_FILE_SUFFIXES)
    build_demo_catalog(tmp_path / "a", size=64, dates=2, seed=5)
    assert _files(tmp_path / "a") == first, "a rebuild in place must give the same bytes"
    build_demo_catalog(tmp_path / "c", size=64, dates=2, seed=6)
    other = _files(tmp_path / "c")
    assert [first[n] != other.get(n) for n in first if n.endswith(".TIF")].count(True) > 0


def test_build_refuses_to_replace_a_foreign_catalog(tmp_path: Path) -> None:
    pystac.Catalog(id="someone-else", description="not the demo").normalize_and_save(
        str(tmp_path), pystac.CatalogType.SELF_CONTAINED
    )
    with pytest.raises(FileExistsError):
        build_demo_catalog(tmp_path, size=64, dates=2)


def test_add_scene_appends_newer_scenes_without_touching_the_others(tmp_path: Path) -> None:
    catalog_path = build_demo_catalog(tmp_path, size=64, dates=4, seed=2)
    collection_dir = tmp_path / "landsat-c2-l2"
    before = {k: v for k, v in _files(tmp_path).items() if k != "landsat-c2-l2/collection.json"}
    newest = max(
        i.datetime for i in pystac.Catalog.from_file(str(catalog_path)).get_items(recursive=True)
    )

    added = [add_scene(tmp_path) for _ in range(3)]

    after = _files(tmp_path)
    assert all(after[name] == digest for name, digest in before.items())
    previous = newest
    for item in added:
        assert item.datetime > previous
        previous = item.datetime
        assert (collection_dir / item.id / f"{item.id}.json").is_file()
        for band in BANDS:
            assert Path(item.assets[band].get_absolute_href()).is_file()
    # Consecutive acquisitions alternate between the two path/rows, 1 or 7 days apart.
    gaps = {(b.datetime.date() - a.datetime.date()).days for a, b in itertools.pairwise(added)}
    assert gaps <= {1, 7}

    catalog = pystac.Catalog.from_file(str(catalog_path))
    collection = catalog.get_child("landsat-c2-l2")
    assert isinstance(collection, pystac.Collection)
    ids = [item.id for item in collection.get_items()]
    assert len(ids) == 2 * 4 + 3 and ids[-3:] == [item.id for item in added]
    assert collection.extent.temporal.intervals[0][1] == added[-1].datetime
    validator = JsonSchemaSTACValidator()
    for item in added:
        document = json.loads((collection_dir / item.id / f"{item.id}.json").read_text())
        validator.validate_core(document, pystac.STACObjectType.ITEM, "1.1.0")
        assert document["properties"]["proj:shape"] == [64, 64]
        assert all(link["href"].startswith(("./", "../")) for link in document["links"][1:])


def test_add_scene_refuses_a_catalog_it_did_not_build(tmp_path: Path) -> None:
    pystac.Catalog(id="someone-else", description="not the demo").normalize_and_save(
        str(tmp_path), pystac.CatalogType.SELF_CONTAINED
    )
    with pytest.raises(ValueError, match="not a demo catalog"):
        add_scene(tmp_path)
