"""Per-field statistics and cloud decisions, against an independent computation: each field's
pixels from `rasterio.features.geometry_mask(all_touched=False)` one field at a time, NDVI
and the clear mask from the QA bits written out in plain numpy."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.features import geometry_mask, rasterize
from rasterio.warp import transform_geom
from shapely.geometry import Polygon, box, mapping, shape

from landsat_assets.science.blocks import BandSource, ScaledBand
from landsat_assets.science.spill import DEFAULT_BUDGET_BYTES, SpilledChunks
from landsat_assets.science.status import SceneStatus
from landsat_assets.science.windows import block_windows
from landsat_assets.science.zonal import (
    FieldAccumulator,
    FieldLabels,
    field_statistics,
    overlap_layers,
)
from landsat_assets.stac.scene import USGS_SR_OFFSET, USGS_SR_SCALE
from landsat_assets_tests.science.test_processing_realworld import STACTOOLS_SCENES, scene_hrefs
from landsat_assets_tests.support.rasters import reference_ndvi, write_band

USGS = (USGS_SR_SCALE, USGS_SR_OFFSET)


def usgs_bands(hrefs: dict[str, str]) -> dict[str, ScaledBand]:
    """The reflectance bands of `hrefs` with USGS's scale and offset."""
    return {
        role: ScaledBand(BandSource(href), USGS)
        for role, href in hrefs.items()
        if role not in ("qa_pixel", "qa_radsat")
    }


def to_wgs84(geometry, crs):
    return shape(transform_geom(crs, "EPSG:4326", mapping(geometry)))


def reference_field(geometry_wgs84, hrefs: dict[str, str]) -> dict[str, float | int]:
    """The definition, one field at a time: pixels whose centre is inside, the clear mask
    of QA bits 0-4 (fill, dilated cloud, cirrus, cloud, shadow) all zero."""
    with rasterio.open(hrefs["red"]) as src:
        red, crs, transform = src.read(1), src.crs, src.transform
    with rasterio.open(hrefs["nir08"]) as src:
        nir = src.read(1)
    with rasterio.open(hrefs["qa_pixel"]) as src:
        qa_pixel = src.read(1)
    on_grid = transform_geom("EPSG:4326", crs, mapping(geometry_wgs84))
    inside = geometry_mask([on_grid], red.shape, transform, all_touched=False, invert=True)
    data = inside & ((qa_pixel & 1) == 0)
    clear = data & ((qa_pixel & 0b11111) == 0)
    # NDVI products are float32: the float64 quotient rounded once.
    ndvi = reference_ndvi(red, nir, qa_pixel)[inside].astype(np.float32)
    values = ndvi[~np.isnan(ndvi)].astype(np.float64)
    pixels = int(data.sum())
    expected: dict[str, float | int] = {
        "pixel_count": pixels,
        "clear_fraction": clear.sum() / pixels if pixels else math.nan,
        "valid_pixel_count": int(values.size),
    }
    if values.size:
        ordered = np.sort(values)
        expected |= {
            "mean": values.sum() / values.size,
            "std": math.sqrt(((values - values.mean()) ** 2).sum() / values.size),
            "min": ordered[0],
            "max": ordered[-1],
            "median": _rank(ordered, 0.5),
            "p10": _rank(ordered, 0.1),
            "p90": _rank(ordered, 0.9),
        }
    return expected


def _rank(ordered: np.ndarray, q: float) -> float:
    """Linear interpolation between the closest ranks (Hyndman and Fan type 7)."""
    position = q * (ordered.size - 1)
    low = math.floor(position)
    high = min(low + 1, ordered.size - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def assert_matches(result, expected) -> None:
    assert result.pixel_count == expected["pixel_count"]
    if expected["pixel_count"]:
        assert result.mask.clear_fraction == pytest.approx(expected["clear_fraction"])
    statistics = result.statistics
    assert statistics["valid_pixel_count"] == expected["valid_pixel_count"]
    for name in ("mean", "std", "min", "max", "median", "p10", "p90"):
        if name in expected:
            assert statistics[f"ndvi_{name}"] == pytest.approx(
                expected[name], rel=1e-9, abs=1e-12
            ), name
        else:
            assert math.isnan(statistics[f"ndvi_{name}"]), name


@pytest.mark.realworld
@pytest.mark.parametrize("folder", sorted(STACTOOLS_SCENES))
def test_real_scenes_match_the_field_by_field_definition(realworld, folder):
    hrefs = scene_hrefs(realworld / "stactools-landsat" / folder, STACTOOLS_SCENES[folder])
    with rasterio.open(hrefs["red"]) as src:
        crs, (left, bottom, right, top) = src.crs, src.bounds
        pixel = src.transform.a
    width, height = right - left, top - bottom
    x, y = left + width * 0.3, bottom + height * 0.3
    with_hole = Polygon(
        [(x, y), (x + width * 0.4, y), (x + width * 0.4, y + height * 0.4), (x, y + height * 0.4)],
        [[(x + width * 0.1, y + height * 0.1), (x + width * 0.2, y + height * 0.1),
          (x + width * 0.2, y + height * 0.2), (x + width * 0.1, y + height * 0.2)]],
    )  # fmt: skip
    across_the_edge = box(right - width * 0.1, bottom + height * 0.1, right + width * 0.2, top)
    overlapping = box(x + width * 0.3, y + height * 0.3, x + width * 0.6, y + height * 0.6)
    # Between four pixel centres: no centre inside.
    corner_x = left + 10 * pixel
    corner_y = top - 10 * abs(src.transform.e)
    smaller_than_a_pixel = box(corner_x - 20, corner_y - 20, corner_x + 20, corner_y + 20)
    fields = [
        to_wgs84(g, crs) for g in (with_hole, across_the_edge, overlapping, smaller_than_a_pixel)
    ]

    results = field_statistics(
        STACTOOLS_SCENES[folder],
        usgs_bands(hrefs),
        BandSource(hrefs["qa_pixel"]),
        fields,
        workers=2,
    )

    for result, geometry in zip(results, fields, strict=True):
        assert_matches(result, reference_field(geometry, hrefs))
    tiny = results[3]
    assert tiny.verdict.status is SceneStatus.NO_DATA
    assert "smaller than a pixel" in tiny.verdict.reason


def cloud_split_scene(tmp_path: Path, cloudy_columns: slice) -> dict[str, str]:
    """100 x 100 px of vegetation, clear except the given columns (QA cloud, high confidence)."""
    rng = np.random.default_rng(5)
    red = rng.integers(8000, 9000, (100, 100), dtype=np.uint16)
    nir = rng.integers(20000, 30000, (100, 100), dtype=np.uint16)
    qa_pixel = np.full((100, 100), 21824, dtype=np.uint16)  # clear, low confidences
    qa_pixel[:, cloudy_columns] = 22280  # cloud, high confidence
    return {
        "red": write_band(tmp_path / "red.tif", red),
        "nir08": write_band(tmp_path / "nir.tif", nir),
        "qa_pixel": write_band(tmp_path / "qa.tif", qa_pixel),
    }


def columns_field(first: int, last: int):
    """A field over whole columns `first`..`last` of `write_band`'s grid, in WGS84."""
    x0 = 500000 + 30 * first
    return to_wgs84(box(x0, 5000000 - 3000, 500000 + 30 * (last + 1), 5000000), "EPSG:32633")


@pytest.mark.parametrize(
    ("cloudy", "clear_field", "cloudy_field"),
    [
        (slice(10, 100), (0, 9), (50, 59)),  # a cloudy scene with a clear strip
        (slice(90, 100), (0, 9), (90, 99)),  # a clear scene with a cloudy strip
    ],
    ids=["clear-field-in-a-cloudy-scene", "cloudy-field-in-a-clear-scene"],
)
def test_each_field_is_decided_by_its_own_clear_fraction(
    tmp_path, cloudy, clear_field, cloudy_field
):
    hrefs = cloud_split_scene(tmp_path, cloudy)
    results = field_statistics(
        "scene",
        usgs_bands(hrefs),
        BandSource(hrefs["qa_pixel"]),
        [columns_field(*clear_field), columns_field(*cloudy_field)],
        min_clear_fraction=0.5,
    )
    clear, cloudy_result = results
    assert clear.verdict.status is SceneStatus.PROCESSED
    assert clear.mask.clear_fraction == 1.0
    assert clear.statistics["valid_pixel_count"] == 1000
    assert cloudy_result.verdict.status is SceneStatus.FILTERED_CLOUDY
    assert cloudy_result.verdict.reason.startswith("field clear fraction 0.0% is below")


def test_overlapping_fields_go_to_separate_layers():
    a, b, c = box(0, 0, 2, 2), box(1, 1, 3, 3), box(2, 0, 4, 1)  # c touches a, overlaps none
    assert overlap_layers([a, b, c]) == [[0, 2], [1]]


def test_the_accumulator_merges_blocks_exactly():
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 4, (60, 50)).astype(np.int32)
    classes = rng.integers(1, 5, (60, 50)).astype(np.uint8)
    index = rng.normal(size=(60, 50)).astype(np.float32)
    index[rng.random((60, 50)) < 0.1] = np.nan
    whole, blocks = FieldAccumulator(3), FieldAccumulator(3)
    whole.add(labels, classes, {"ndvi": index})
    for rows in (slice(0, 17), slice(17, 60)):
        blocks.add(labels[rows], classes[rows], {"ndvi": index[rows]})
    assert (whole.class_counts == blocks.class_counts).all()
    for number in range(1, 4):
        expected = np.bincount(classes[labels == number], minlength=256)
        assert np.array_equal(whole.class_counts[number], expected)
    for number, (one, other) in enumerate(
        zip(whole.statistics(), blocks.statistics(), strict=True), start=1
    ):
        values = index[(labels == number) & ~np.isnan(index)].astype(np.float64)
        assert one == other
        assert one["valid_pixel_count"] == values.size
        assert one["ndvi_median"] == pytest.approx(float(np.median(values)))


def test_values_beyond_the_budget_go_to_disk_and_give_the_same_statistics():
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 6, (300, 200)).astype(np.int32)
    classes = np.full((300, 200), 1, dtype=np.uint8)
    index = rng.normal(size=(300, 200)).astype(np.float32)
    index[rng.random((300, 200)) < 0.2] = np.nan
    in_memory, spilling = FieldAccumulator(5), FieldAccumulator(5, budget_bytes=4096)
    for rows in (slice(0, 70), slice(70, 200), slice(200, 300)):
        in_memory.add(labels[rows], classes[rows], {"ndvi": index[rows]})
        spilling.add(labels[rows], classes[rows], {"ndvi": index[rows]})
    assert in_memory.values.spilled_bytes == 0
    assert spilling.values.spilled_bytes == 4 * int((~np.isnan(index) & (labels > 0)).sum())
    assert spilling.statistics() == in_memory.statistics()


@pytest.mark.parametrize("budget_bytes", [4096, 64 * 1024 * 1024])
def test_statistics_read_back_on_several_threads_equal_those_read_on_one(budget_bytes, monkeypatch):
    """Spilled (positional reads of the scratch file from every thread) or in memory."""
    rng = np.random.default_rng(12)
    labels = rng.integers(0, 41, (400, 300)).astype(np.int32)
    classes = np.full(labels.shape, 1, dtype=np.uint8)
    index = rng.normal(size=labels.shape).astype(np.float32)
    index[rng.random(labels.shape) < 0.2] = np.nan

    def statistics(threads: int) -> list[dict[str, float | int]]:
        accumulator = FieldAccumulator(40, budget_bytes=budget_bytes)
        for rows in (slice(0, 150), slice(150, 400)):
            accumulator.add(labels[rows], classes[rows], {"ndvi": index[rows]})
        monkeypatch.setattr(FieldAccumulator, "statistics_threads", lambda self, keys: threads)
        return accumulator.statistics()

    assert statistics(4) == statistics(1)


def test_statistics_threads_hold_at_most_the_budget():
    """Two of the largest field's values as float64 (2 x 300 x 8 bytes) do not fit in 4,000
    bytes: one thread; with the default budget, one per core."""
    labels = np.array([[1] * 300 + [2] * 200], dtype=np.int32)
    keys = [("ndvi", 1), ("ndvi", 2)]
    for budget, threads in ((4000, 1), (DEFAULT_BUDGET_BYTES, len(os.sched_getaffinity(0)))):
        accumulator = FieldAccumulator(2, budget_bytes=budget)
        values = np.zeros(labels.shape, dtype=np.float32)
        accumulator.add(labels, np.ones(labels.shape, dtype=np.uint8), {"ndvi": values})
        assert accumulator.values.count(keys[0]) == 300
        assert accumulator.statistics_threads(keys) == threads


def test_spilled_chunks_come_back_in_order_per_key():
    chunks = SpilledChunks(budget_bytes=16)
    chunks.append("a", np.array([1, 2], dtype=np.float32))
    chunks.append("b", np.array([9], dtype=np.float32))
    chunks.append("a", np.array([3, 4, 5], dtype=np.float32))  # over budget: spilled
    chunks.append("a", np.array([6], dtype=np.float32))  # held in memory
    assert chunks.spilled_bytes == 24
    assert chunks.values("a").tolist() == [1, 2, 3, 4, 5, 6]
    assert chunks.values("b").tolist() == [9]
    assert chunks.values("c").size == 0
    chunks.close()


def test_label_blocks_equal_the_whole_grid_burnt_at_once():
    """Burning the fields block by block gives the pixels a whole-grid rasterize gives."""
    rng = np.random.default_rng(4)
    transform = Affine(30.0, 0, 500_000, 0, -30.0, 5_000_000)
    shape_ = (700, 650)
    fields = []
    for _ in range(40):
        x = 500_000 + rng.uniform(0, 650 * 30)
        y = 5_000_000 - rng.uniform(0, 700 * 30)
        fields.append(box(x, y, x + rng.uniform(10, 4000), y + rng.uniform(10, 4000)))
    labels = FieldLabels(fields, transform)
    for layer_number, layer in enumerate(labels.layers):
        whole = rasterize(
            [(fields[i], i + 1) for i in layer],
            out_shape=shape_,
            transform=transform,
            dtype="int32",
        )
        for window in block_windows(*shape_):
            rows, cols = window.toslices()
            assert (labels.block(window)[layer_number] == whole[rows, cols]).all()
    assert len(labels.layers) > 1, "the fields should overlap somewhere"
