"""Cloud mask colours and codes: every class reads on white, outside the AOI is not fill."""

from __future__ import annotations

import io
import itertools

import numpy as np
from PIL import Image

from landsat_assets.science import qa
from landsat_assets.science.bands import QA_OUTSIDE_AOI
from landsat_assets.science.masks import (
    OUTSIDE_AOI,
    OUTSIDE_AOI_NAME,
    ClassCounts,
    classify_in_aoi,
)
from landsat_assets.science.preview import MASK_PALETTE, mask_legend
from landsat_assets.science.qa import MASK_CLASS_COLOURS, MaskClass

WHITE = (255, 255, 255)


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_every_class_colour_reads_on_white():
    for mask_class, rgb in MASK_CLASS_COLOURS.items():
        assert contrast(rgb, WHITE) >= 1.8, f"{mask_class.name} {rgb} hardly shows on white"


def test_class_colours_differ_from_each_other():
    for (a, rgb_a), (b, rgb_b) in itertools.combinations(MASK_CLASS_COLOURS.items(), 2):
        distance = float(np.linalg.norm(np.subtract(rgb_a, rgb_b)))
        assert distance >= 60, f"{a.name} {rgb_a} and {b.name} {rgb_b} look alike"


def test_the_preview_draws_usgs_fill_and_leaves_outside_the_aoi_transparent():
    assert MASK_PALETTE[int(MaskClass.FILL)][3] == 255
    assert MASK_PALETTE[OUTSIDE_AOI][3] == 0
    for mask_class in MaskClass:
        assert tuple(MASK_PALETTE[int(mask_class)][:3]) == MASK_CLASS_COLOURS[mask_class]


def test_the_legend_shows_the_cloud_colour():
    legend = np.asarray(Image.open(io.BytesIO(mask_legend())).convert("RGB")).reshape(-1, 3)
    for mask_class in (MaskClass.CLOUD, MaskClass.CLEAR, MaskClass.FILL):
        distance = np.abs(legend.astype(int) - MASK_CLASS_COLOURS[mask_class]).sum(axis=1)
        assert (distance <= 24).sum() >= 20, f"no {mask_class.name} swatch in the legend"


def test_outside_the_aoi_is_told_from_usgs_fill():
    qa_pixel = np.array([[qa.QA_FILL_VALUE, QA_OUTSIDE_AOI], [21824, 55052]], dtype=np.uint16)
    assert classify_in_aoi(qa_pixel).tolist() == [
        [MaskClass.FILL, OUTSIDE_AOI],
        [MaskClass.CLEAR, MaskClass.CLOUD],
    ]
    # Every reader of the QA bits still sees it as fill (no value), as before.
    assert qa.classify(qa_pixel)[0, 1] == MaskClass.FILL
    counts = ClassCounts()
    counts.add(classify_in_aoi(qa_pixel))
    assert counts.valid_pixels == 2
    assert counts.fraction([MaskClass.CLEAR]) == 0.5
    assert counts.as_dict()["fill"] == 1
    assert counts.as_dict()[OUTSIDE_AOI_NAME] == 1
    assert ClassCounts.from_tags(counts.as_tags()).as_dict() == counts.as_dict()


def test_masks_written_before_the_outside_code_still_read():
    counts = ClassCounts()
    counts.add(np.array([0, 0, 1, 7], dtype=np.uint8))
    old_tags = {k: v for k, v in counts.as_tags().items() if k != "COUNT_OUTSIDE_AOI"}
    read = ClassCounts.from_tags(old_tags)
    assert read.valid_pixels == 2
    assert read.as_dict()[OUTSIDE_AOI_NAME] == 0
