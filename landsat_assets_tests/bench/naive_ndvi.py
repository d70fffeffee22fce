"""The naive reference: whole bands in memory, numpy NDVI, one tiled DEFLATE GeoTIFF out.

This is the script most users write first, and the benchmark's yardstick for the project's
block pipeline. It restates the NDVI definition from the USGS facts rather than calling
the project's code, so the equality check in `run.py` compares two independent
implementations: usable = QA_PIXEL bits 0-4 all zero (Earth Engine's maskL8sr), both DNs
within the valid range, reflectance = DN * scale + offset in float64, NaN elsewhere.

Usage: python -m landsat_assets_tests.bench.naive_ndvi RED NIR QA OUT
"""

from __future__ import annotations

import sys

import numpy as np
import rasterio

from landsat_assets.stac.scene import (
    USGS_SR_OFFSET,
    USGS_SR_SCALE,
    VALID_SR_DN_MAX,
    VALID_SR_DN_MIN,
)

FILL_CLOUD_SHADOW_BITS = 0b11111
"""QA_PIXEL bits 0-4: fill, dilated cloud, cirrus, cloud, cloud shadow."""


def naive_ndvi(red_path: str, nir_path: str, qa_path: str, out_path: str) -> None:
    with rasterio.open(red_path) as src:
        red = src.read(1)
        grid = {
            "crs": src.crs,
            "transform": src.transform,
            "width": src.width,
            "height": src.height,
        }
    with rasterio.open(nir_path) as src:
        nir = src.read(1)
    with rasterio.open(qa_path) as src:
        qa_pixel = src.read(1)
    valid = (
        ((qa_pixel & FILL_CLOUD_SHADOW_BITS) == 0)
        & (red >= VALID_SR_DN_MIN)
        & (red <= VALID_SR_DN_MAX)
        & (nir >= VALID_SR_DN_MIN)
        & (nir <= VALID_SR_DN_MAX)
    )
    red_reflectance = red * USGS_SR_SCALE + USGS_SR_OFFSET
    nir_reflectance = nir * USGS_SR_SCALE + USGS_SR_OFFSET
    denominator = nir_reflectance + red_reflectance
    valid &= denominator > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = ((nir_reflectance - red_reflectance) / denominator).astype(np.float32)
    ndvi[~valid] = np.nan
    profile = {
        "driver": "GTiff",
        "count": 1,
        "dtype": "float32",
        "nodata": float("nan"),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "DEFLATE",
        **grid,
    }
    with rasterio.open(out_path, "w", **profile) as dst:
        dst.write(ndvi, 1)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__.strip().splitlines()[-1])
    naive_ndvi(*sys.argv[1:])
