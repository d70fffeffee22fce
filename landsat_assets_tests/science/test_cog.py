"""A COG draft: scratch files beside the product, overviews averaged from its blocks, and
nothing published or left behind when a block never reached the overviews."""

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate

from landsat_assets.science.cog import CLASS_COG, INDEX_COG, cog_draft
from landsat_assets.science.windows import block_windows
from landsat_assets_tests.support.rasters import reference_overview

PROFILE = {
    "count": 2,
    "dtype": "float32",
    "nodata": float("nan"),
    "crs": "EPSG:32633",
    "transform": Affine(30, 0, 500000, 0, -30, 5000000),
    "height": 1000,
    "width": 1021,
}


def _values(band: int) -> np.ndarray:
    rng = np.random.default_rng(band)
    values = rng.uniform(-1, 1, (PROFILE["height"], PROFILE["width"])).astype(np.float32)
    values[rng.random(values.shape) < 0.2] = np.nan
    return values


def test_averaged_overviews_keep_the_raster_its_tags_and_descriptions(tmp_path):
    out = tmp_path / "index.tif"
    bands = {1: _values(1), 2: _values(2)}
    with cog_draft(out, PROFILE, INDEX_COG) as draft:
        with draft.writer() as dst:
            dst.set_band_description(1, "ndvi")
            dst.set_band_description(2, "ndmi")
            dst.update_tags(scene="S")
            for window in block_windows(PROFILE["height"], PROFILE["width"]):
                for band, values in bands.items():
                    block = values[window.toslices()].copy()
                    draft.write_band(dst, band, block, window)
        with draft.updater() as dst:
            dst.update_tags(2, STATISTICS_MEAN="0.5")
    assert cog_validate(str(out))[0]
    with rasterio.open(out) as dataset:
        assert dataset.descriptions == ("ndvi", "ndmi")
        assert dataset.tags()["scene"] == "S"
        assert dataset.tags(2)["STATISTICS_MEAN"] == "0.5"
        assert np.isnan(dataset.nodata)
        assert dataset.overviews(1) == dataset.overviews(2) == [2]
        for band, values in bands.items():
            assert np.array_equal(dataset.read(band), values, equal_nan=True)
    with rasterio.open(out, overview_level=0) as level:
        assert level.shape == (500, 511)
        for band, values in bands.items():
            expected = reference_overview(values, 2)
            np.testing.assert_allclose(level.read(band), expected, rtol=0, atol=1e-7)
    assert [p.name for p in tmp_path.iterdir()] == ["index.tif"]


def test_a_block_written_past_the_draft_publishes_nothing(tmp_path):
    """A block written to the scratch file directly never reached the overviews: publishing
    would give empty overview pixels, so it fails and leaves the old product and no scratch."""
    out = tmp_path / "index.tif"
    out.write_bytes(b"old product")
    values = _values(1)
    with pytest.raises(RuntimeError, match="overviews were averaged from"):
        with cog_draft(out, PROFILE | {"count": 1}, INDEX_COG) as draft:
            with draft.writer() as dst:
                for number, window in enumerate(block_windows(*values.shape)):
                    block = values[window.toslices()].copy()
                    if number == 3:
                        dst.write(block, 1, window=window)
                    else:
                        draft.write_band(dst, 1, block, window)
    assert out.read_bytes() == b"old product"
    assert [p.name for p in tmp_path.iterdir()] == ["index.tif"]


def test_other_products_get_gdal_overviews(tmp_path):
    """Class codes are not averaged: their draft writes no levels and GDAL makes them."""
    out = tmp_path / "mask.tif"
    classes = np.random.default_rng(3).integers(0, 8, (1000, 1021), dtype=np.uint8)
    profile = PROFILE | {"count": 1, "dtype": "uint8", "nodata": 255}
    with cog_draft(out, profile, CLASS_COG) as draft:
        assert draft.overviews is None
        with draft.writer() as dst:
            dst.write(classes, 1)
    with rasterio.open(out) as dataset:
        assert dataset.overviews(1) == [2]
        assert np.array_equal(dataset.read(1), classes)


def test_a_block_off_the_grid_is_refused(tmp_path):
    """Its overview pixels would land between the levels' pixels."""
    out = tmp_path / "index.tif"
    with pytest.raises(ValueError, match="not aligned"):
        with cog_draft(out, PROFILE | {"count": 1}, INDEX_COG) as draft:
            with draft.writer() as dst:
                draft.write_band(dst, 1, _values(1)[:512, 1:513].copy(), Window(1, 0, 512, 512))
    assert list(tmp_path.iterdir()) == []


def test_scratch_files_of_a_name_with_glob_characters_are_removed(tmp_path):
    out = tmp_path / "index [v1].tif"
    values = _values(1)
    with cog_draft(out, PROFILE | {"count": 1}, INDEX_COG) as draft:
        with draft.writer() as dst:
            for window in block_windows(*values.shape):
                draft.write_band(dst, 1, values[window.toslices()].copy(), window)
    assert [p.name for p in tmp_path.iterdir()] == ["index [v1].tif"]
