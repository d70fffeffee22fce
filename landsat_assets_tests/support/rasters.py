"""Small rasters written on the fly, and the NDVI definition as plain numpy."""

import warnings
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from landsat_assets.stac.scene import USGS_SR_OFFSET, USGS_SR_SCALE


def reference_ndvi(red, nir, qa_pixel, scale=USGS_SR_SCALE, offset=USGS_SR_OFFSET):
    """The definition, written as plainly as possible in float64."""
    red_r = red.astype(np.float64) * scale + offset
    nir_r = nir.astype(np.float64) * scale + offset
    valid = (
        ((qa_pixel & 0b11111) == 0)
        & (red >= 7273)
        & (red <= 43636)
        & (nir >= 7273)
        & (nir <= 43636)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = (nir_r - red_r) / (nir_r + red_r)
    return np.where(valid & (nir_r + red_r > 0), ndvi, np.nan)


def reference_overview(values: np.ndarray, factor: int) -> np.ndarray:
    """An averaged overview level, as plainly as possible: each pixel the float64 mean of the
    valid (non-NaN) pixels of the `factor` x `factor` square it covers, NaN when none is."""
    height, width = values.shape
    rows, cols = -(-height // factor), -(-width // factor)
    padded = np.full((rows * factor, cols * factor), np.nan)
    padded[:height, :width] = values
    squares = padded.reshape(rows, factor, cols, factor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # squares without a valid pixel
        return np.nanmean(squares, axis=(1, 3)).astype(np.float32)


def write_band(path: Path, array: np.ndarray, **profile) -> str:
    height, width = array.shape
    base = {
        "driver": "GTiff",
        "height": height,
        "width": width,
        "count": 1,
        "dtype": array.dtype.name,
        "crs": "EPSG:32633",
        "transform": Affine(30, 0, 500000, 0, -30, 5000000),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with rasterio.open(path, "w", **(base | profile)) as dst:
        dst.write(array, 1)
    return str(path)


def synthetic_scene(tmp_path: Path, shape=(1100, 1300), seed=1) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    red = rng.integers(7000, 20000, shape, dtype=np.uint16)
    nir = rng.integers(7000, 45000, shape, dtype=np.uint16)
    qa_pixel = rng.choice(
        np.array([21824, 21952, 23888, 55052, 30048, 21826, 1], np.uint16),
        shape,
        p=[0.55, 0.05, 0.05, 0.15, 0.05, 0.05, 0.10],
    )
    red[qa_pixel == 1] = 0
    nir[qa_pixel == 1] = 0
    return {
        "red": write_band(tmp_path / "red.tif", red),
        "nir08": write_band(tmp_path / "nir.tif", nir),
        "qa_pixel": write_band(tmp_path / "qa.tif", qa_pixel),
    }
