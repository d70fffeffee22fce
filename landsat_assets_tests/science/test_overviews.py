"""Overview levels averaged block by block, against GDAL's level count and a written-out mean."""

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from hypothesis import given, settings
from hypothesis import strategies as st

from landsat_assets.science.overviews import block_levels, overview_factors
from landsat_assets_tests.support.rasters import reference_overview, write_band


@pytest.mark.parametrize(
    "shape",
    [(128, 128), (129, 40), (257, 257), (512, 250), (520, 1032), (1600, 136), (8, 2400)],
)
def test_levels_are_as_many_as_gdal_gives_a_cog(shape, tmp_path):
    """As many levels as GDAL's COG driver makes (rasterio reports each one's factor as a
    rounded size ratio, so the count is what compares)."""
    source = write_band(tmp_path / "source.tif", np.ones(shape, dtype=np.float32))
    cog = tmp_path / "cog.tif"
    rasterio.shutil.copy(source, cog, driver="COG", BLOCKSIZE="128")
    factors = overview_factors(*shape, block_size=128)
    with rasterio.open(cog) as dataset:
        assert len(factors) == len(dataset.overviews(1))
    assert factors == tuple(2**level for level in range(1, len(factors) + 1))


values_with_holes = st.builds(
    lambda shape, seed, holes: _values(shape, seed, holes),
    st.tuples(st.integers(1, 70), st.integers(1, 70)),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0.0, 0.3, 0.9, 1.0]),
)


def _values(shape: tuple[int, int], seed: int, holes: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.uniform(-1, 1, shape).astype(np.float32)
    values[rng.random(shape) < holes] = np.nan
    # Whole rows and columns without a value, as outside a scene's footprint.
    values[: shape[0] // 5] = np.nan
    values[:, shape[1] - shape[1] // 7 :] = np.nan
    return values


@settings(max_examples=40, deadline=None)
@given(values_with_holes)
def test_each_level_is_the_mean_of_the_valid_pixels_it_covers(values):
    levels = block_levels(values, (2, 4, 8))
    for factor, level in zip((2, 4, 8), levels, strict=True):
        expected = reference_overview(values, factor)
        assert level.dtype == np.float32
        assert level.shape == expected.shape
        assert np.array_equal(np.isnan(level), np.isnan(expected))
        np.testing.assert_allclose(level, expected, rtol=0, atol=1e-7)


def test_levels_of_aligned_blocks_put_together_equal_the_whole_raster():
    values = _values((150, 170), seed=5, holes=0.3)
    block, factors = 32, (2, 4, 8, 16, 32)
    whole = block_levels(values, factors)
    pieced = [np.full(level.shape, -9.0, dtype=np.float32) for level in whole]
    for row in range(0, values.shape[0], block):
        for col in range(0, values.shape[1], block):
            parts = block_levels(values[row : row + block, col : col + block], factors)
            for factor, level, part in zip(factors, pieced, parts, strict=True):
                level[
                    row // factor : row // factor + part.shape[0],
                    col // factor : col // factor + part.shape[1],
                ] = part
    for level, expected in zip(pieced, whole, strict=True):
        assert np.array_equal(level, expected, equal_nan=True)
