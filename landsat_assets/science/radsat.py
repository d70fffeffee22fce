"""QA_RADSAT decoding for Landsat 8/9 Collection 2 (OLI/TIRS, USGS bit layout).

Bit n-1 flags band n as radiometrically saturated for OLI bands 1-7 (coastal, blue, green,
red, NIR, SWIR 1.6, SWIR 2.2), bit 8 band 9 (cirrus), and bit 11 terrain occlusion (the
ground is hidden from the sensor by terrain). The catalogs' `classification:bitfields` on
the `qa_radsat` asset say the same (tested against Earth Search, Planetary Computer and
LandsatLook items). A saturated value is not the surface's reflectance, so an index that
uses a saturated band has no value there; terrain-occluded pixels have none either.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

SATURATION_BIT_OF_BAND: dict[str, int] = {
    "coastal": 0,
    "blue": 1,
    "green": 2,
    "red": 3,
    "nir08": 4,
    "swir16": 5,
    "swir22": 6,
    "cirrus": 8,
}
"""QA_RADSAT bit of each OLI band, by STAC common name."""

TERRAIN_OCCLUSION_BIT = 11

SATURATION_PLATFORMS = frozenset({"landsat-8", "landsat-9"})
"""Platforms whose QA_RADSAT has this layout (Landsat 4-7 number their bands differently)."""


def unusable_bits(bands: Iterable[str]) -> int:
    """The QA_RADSAT bits that make a pixel unusable for a product made from `bands`: their
    saturation bits and terrain occlusion."""
    bits = 1 << TERRAIN_OCCLUSION_BIT
    for band in bands:
        bits |= 1 << SATURATION_BIT_OF_BAND[band]
    return bits


def flagged(qa_radsat: np.ndarray, bits: int) -> np.ndarray:
    """Where any of `bits` is set."""
    return (qa_radsat & np.uint16(bits)) != 0
