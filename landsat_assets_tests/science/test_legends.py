"""The legends in the mask and NDVI descriptions are stored PNGs, so that loading the code
location never imports matplotlib: they must be what `plots` draws now. UPDATE_LEGENDS=1
redraws them."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from landsat_assets.science import plots, preview

LEGENDS = Path(preview.__file__).parent / preview.LEGENDS


def decoded(png: bytes) -> np.ndarray:
    """The pixels of `png`, whatever its encoding (palette or not, compression)."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def look_alike(a: bytes, b: bytes) -> bool:
    size_a, size_b = Image.open(io.BytesIO(a)).size, Image.open(io.BytesIO(b)).size
    return size_a == size_b and np.array_equal(decoded(a), decoded(b))


@pytest.mark.parametrize(
    ("name", "stored", "draw"),
    [
        (preview.MASK_LEGEND_FILE, preview.mask_legend, plots.draw_mask_legend),
        (preview.NDVI_COLOUR_BAR_FILE, preview.ndvi_colour_bar, plots.draw_ndvi_colour_bar),
    ],
)
def test_the_stored_legends_are_what_the_code_draws(
    name: str, stored: Callable[[], bytes], draw: Callable[[], bytes]
):
    path = LEGENDS / name
    assert stored() == path.read_bytes()  # what the descriptions show
    drawn = draw()
    if look_alike(path.read_bytes(), drawn):
        return
    if os.environ.get("UPDATE_LEGENDS") == "1":
        path.write_bytes(drawn)
        return
    pytest.fail(
        f"{path.relative_to(LEGENDS.parents[2])} differs from what plots draws: "
        "run this test with UPDATE_LEGENDS=1 to redraw it",
        pytrace=False,
    )
