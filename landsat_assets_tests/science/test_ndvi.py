"""NDVI math, streaming statistics and the windowed path against whole-array references."""

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from rio_cogeo.cogeo import cog_validate

from landsat_assets.science import qa
from landsat_assets.science.blocks import BandSource
from landsat_assets.science.indices import NDVI, block_indices
from landsat_assets.science.ndvi import write_ndvi
from landsat_assets.science.spill import DEFAULT_BUDGET_BYTES
from landsat_assets.science.statistics import IndexStatistics
from landsat_assets.stac.scene import USGS_SR_OFFSET, USGS_SR_SCALE
from landsat_assets_tests.support.rasters import (
    reference_ndvi,
    reference_overview,
    synthetic_scene,
    write_band,
)

USGS = {"red_scale": USGS_SR_SCALE, "red_offset": USGS_SR_OFFSET}
USGS |= {"nir_scale": USGS_SR_SCALE, "nir_offset": USGS_SR_OFFSET}

dn_arrays = arrays(np.uint16, (8, 8), elements=st.integers(0, 65535))


@given(
    dn_arrays,
    dn_arrays,
    arrays(np.uint16, (8, 8), elements=st.sampled_from([1, 21824, 21952, 23888, 55052, 30048, 2])),
)
def test_ndvi_block_matches_definition(red, nir, qa_pixel):
    lookup = qa.usable_lookup(qa.DEFAULT_USABLE_CLASSES)
    scales = dict.fromkeys(("red", "nir08"), (USGS_SR_SCALE, USGS_SR_OFFSET))
    got = block_indices([NDVI], {"red": red, "nir08": nir}, scales, qa_pixel, lookup).values["ndvi"]
    expected = reference_ndvi(red, nir, qa_pixel)
    assert got.dtype == np.float32
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    valid = ~np.isnan(expected)
    np.testing.assert_allclose(got[valid], expected[valid], atol=1e-6, rtol=0)
    assert np.all(np.abs(got[valid]) <= 1.0)


@settings(max_examples=60)
@given(
    arrays(
        np.float32,
        st.integers(1, 400),
        elements=st.one_of(st.floats(-1, 1, width=32), st.just(np.float32(np.nan))),
    ),
    st.integers(1, 7),
    st.sampled_from([DEFAULT_BUDGET_BYTES, 64]),
)
def test_streaming_statistics_equal_numpy(values, chunks, budget_bytes):
    """Also with a budget of 16 values, which sends the kept values to the scratch file and
    reads them back one block at a time."""
    blocks = np.array_split(values, chunks)
    statistics = IndexStatistics(budget_bytes)
    for block in blocks:
        statistics.add(block)
    valid = values[~np.isnan(values)]
    median = statistics.median()
    if valid.size == 0:
        assert statistics.count == 0 and np.isnan(median)
        return
    assert statistics.count == valid.size
    assert statistics.mean == pytest.approx(float(valid.astype(np.float64).mean()), abs=1e-9)
    assert statistics.std == pytest.approx(float(valid.astype(np.float64).std()), abs=1e-9)
    assert statistics.minimum == float(valid.min())
    assert statistics.maximum == float(valid.max())
    assert median == pytest.approx(float(np.median(valid.astype(np.float64))), abs=1e-12)


def usgs_ndvi(bands: dict[str, str], out, **options):
    """`write_ndvi` on three single-band files with the USGS scale and offset."""
    return write_ndvi(
        "TEST",
        BandSource(bands["red"]),
        BandSource(bands["nir08"]),
        BandSource(bands["qa_pixel"]),
        out,
        red_scale=(USGS_SR_SCALE, USGS_SR_OFFSET),
        nir_scale=(USGS_SR_SCALE, USGS_SR_OFFSET),
        **options,
    )


def test_windowed_ndvi_equals_whole_array_reference(tmp_path):
    bands = synthetic_scene(tmp_path)
    out = tmp_path / "ndvi.tif"
    result = usgs_ndvi(bands, out, workers=2)
    read = {role: rasterio.open(path).read(1) for role, path in bands.items()}
    expected = reference_ndvi(read["red"], read["nir08"], read["qa_pixel"])
    with rasterio.open(out) as dataset:
        got = dataset.read(1)
        assert dataset.dtypes[0] == "float32"
        assert np.isnan(dataset.nodata)
        assert dataset.crs.to_epsg() == 32633
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    valid = ~np.isnan(expected)
    assert np.max(np.abs(got[valid] - expected[valid])) <= 1e-6
    assert cog_validate(str(out))[0]
    stats = result.statistics
    assert result.status == "processed"
    assert stats["valid_pixel_count"] == int(valid.sum())
    assert stats["ndvi_mean"] == pytest.approx(float(expected[valid].mean()), abs=1e-6)
    assert stats["ndvi_median"] == pytest.approx(float(np.median(expected[valid])), abs=1e-6)
    assert stats["ndvi_std"] == pytest.approx(float(expected[valid].std()), abs=1e-6)
    non_fill = read["qa_pixel"] != 1
    clear = ((read["qa_pixel"] & 0b11111) == 0) & non_fill
    assert result.mask.clear_fraction == pytest.approx(clear.sum() / non_fill.sum())


def test_ndvi_overviews_average_the_pixels_they_cover(tmp_path):
    """The COG's overviews, averaged from the blocks as they were written, are the mean of the
    valid full-resolution pixels each covers, level by level, as many levels as GDAL makes."""
    bands = synthetic_scene(tmp_path)
    out = tmp_path / "ndvi.tif"
    usgs_ndvi(bands, out)
    with rasterio.open(out) as dataset:
        full = dataset.read(1)
        factors = dataset.overviews(1)
    assert factors == [2, 4]
    for level, factor in enumerate(factors):
        with rasterio.open(out, overview_level=level) as dataset:
            got = dataset.read(1)
        expected = reference_overview(full, factor)
        assert got.shape == expected.shape
        assert np.array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-7)
    assert cog_validate(str(out))[0]
    assert list(tmp_path.glob(".ndvi.tif*")) == [], "scratch files were left behind"


def test_cloudy_scene_is_filtered_and_writes_nothing(tmp_path):
    bands = synthetic_scene(tmp_path)
    out = tmp_path / "ndvi.tif"
    result = usgs_ndvi(bands, out, min_clear_fraction=0.95)
    assert result.status == "filtered_cloudy"
    assert "below min_clear_fraction" in result.verdict.reason
    assert not out.exists()
    assert list(tmp_path.glob(".ndvi.tif*")) == []


def test_all_fill_scene_is_no_data(tmp_path):
    fill = np.zeros((300, 300), np.uint16)
    red = write_band(tmp_path / "r.tif", fill)
    qa_pixel = write_band(tmp_path / "q.tif", np.ones((300, 300), np.uint16))
    result = usgs_ndvi({"red": red, "nir08": red, "qa_pixel": qa_pixel}, tmp_path / "ndvi.tif")
    assert result.status == "no_data"
    assert not (tmp_path / "ndvi.tif").exists()
