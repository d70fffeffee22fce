"""Previews drawn from colour tables: large enough to read, within their byte budget."""

import io

import numpy as np
from PIL import Image

from landsat_assets.science.preview import PREVIEW_BYTES, PREVIEW_PIXELS, ndvi_preview
from landsat_assets_tests.support.rasters import write_band


def test_previews_are_large_and_within_their_byte_budget(tmp_path):
    rng = np.random.default_rng(0)
    fields = rng.uniform(-1, 1, (40, 40)).repeat(25, axis=0).repeat(25, axis=1)
    path = write_band(tmp_path / "fields.tif", fields.astype("float32"))
    png = ndvi_preview(path)
    assert len(png) <= PREVIEW_BYTES
    assert max(Image.open(io.BytesIO(png)).size) >= PREVIEW_PIXELS * 0.9
    # Pure noise never fits: the coarsest detail, still drawn about PREVIEW_PIXELS wide.
    noise_array = rng.uniform(-1, 1, (1000, 1000)).astype("float32")
    noise = write_band(tmp_path / "noise.tif", noise_array)
    png = ndvi_preview(noise)
    assert Image.open(io.BytesIO(png)).size == (512, 512)
    assert len(png) < len(ndvi_preview(noise, budget=10**9))
    small = write_band(tmp_path / "small.tif", noise_array[:40, :30].astype("float32"))
    image = Image.open(io.BytesIO(ndvi_preview(small)))
    assert image.size == (30 * 12, 40 * 12)  # whole pixels, about PREVIEW_PIXELS
