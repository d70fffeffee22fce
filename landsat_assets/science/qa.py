"""QA_PIXEL decoding for Landsat Collection 2 Level-2 (USGS bit layout).

Bits: 0 fill, 1 dilated cloud, 2 cirrus, 3 cloud, 4 cloud shadow, 5 snow,
6 clear, 7 water; 8-9 cloud, 10-11 shadow, 12-13 snow/ice and 14-15 cirrus
confidence (0 none, 1 low, 2 medium, 3 high).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

import numpy as np

FILL_BIT = 0
DILATED_CLOUD_BIT = 1
CIRRUS_BIT = 2
CLOUD_BIT = 3
CLOUD_SHADOW_BIT = 4
SNOW_BIT = 5
CLEAR_BIT = 6
WATER_BIT = 7
CLOUD_CONFIDENCE_SHIFT = 8
SHADOW_CONFIDENCE_SHIFT = 10
SNOW_CONFIDENCE_SHIFT = 12
CIRRUS_CONFIDENCE_SHIFT = 14

QA_FILL_VALUE = 1
"""QA_PIXEL of a fill pixel: only the fill bit set (USGS)."""


class MaskClass(IntEnum):
    """Codes of the `cloud_mask` class raster; 0 (fill) is its nodata value.

    A pixel gets the first class in this order whose QA bit is set:
    fill, cloud, dilated cloud, cirrus, cloud shadow, snow, water, else clear.
    So a pixel is in {clear, water, snow} exactly when QA bits 0-4 are all zero.
    """

    FILL = 0
    CLEAR = 1
    WATER = 2
    SNOW = 3
    CLOUD_SHADOW = 4
    CIRRUS = 5
    DILATED_CLOUD = 6
    CLOUD = 7


DEFAULT_USABLE_CLASSES: frozenset[MaskClass] = frozenset(
    {MaskClass.CLEAR, MaskClass.WATER, MaskClass.SNOW}
)
"""Earth Engine's maskL8sr definition of clear: QA bits 0-4 all zero."""

CLOUDY_CLASSES: frozenset[MaskClass] = frozenset(
    {MaskClass.CLOUD, MaskClass.DILATED_CLOUD, MaskClass.CIRRUS}
)

MASK_CLASS_COLOURS: dict[MaskClass, tuple[int, int, int]] = {
    MaskClass.FILL: (0, 0, 0),
    MaskClass.CLEAR: (76, 175, 80),
    MaskClass.WATER: (33, 102, 172),
    MaskClass.SNOW: (0, 188, 212),
    MaskClass.CLOUD_SHADOW: (90, 90, 90),
    MaskClass.CIRRUS: (149, 117, 205),
    MaskClass.DILATED_CLOUD: (244, 143, 177),
    MaskClass.CLOUD: (216, 27, 96),
}
"""Class colours of the mask previews and of the COG's colour table. Every one reads on the
white of the UI's dialogs and of most viewers (cloud is magenta, not white): each differs
from white and from the others (landsat_assets_tests/science/test_mask_colours.py). USGS
fill inside the AOI is drawn black."""

# Lowest priority first: later assignments win, so the result follows the
# documented priority without any per-pixel branching.
_CLASS_BY_BIT_LOW_TO_HIGH_PRIORITY = (
    (WATER_BIT, MaskClass.WATER),
    (SNOW_BIT, MaskClass.SNOW),
    (CLOUD_SHADOW_BIT, MaskClass.CLOUD_SHADOW),
    (CIRRUS_BIT, MaskClass.CIRRUS),
    (DILATED_CLOUD_BIT, MaskClass.DILATED_CLOUD),
    (CLOUD_BIT, MaskClass.CLOUD),
    (FILL_BIT, MaskClass.FILL),
)


def bit_is_set(qa: np.ndarray, bit: int) -> np.ndarray:
    return (qa & np.uint16(1 << bit)) != 0


def confidence(qa: np.ndarray, shift: int) -> np.ndarray:
    """Two-bit confidence (0 none, 1 low, 2 medium, 3 high) starting at `shift`."""
    return ((qa >> np.uint16(shift)) & np.uint16(0b11)).astype(np.uint8)


def _class_by_low_byte() -> np.ndarray:
    """The class of every QA_PIXEL low byte: the classes depend on bits 0-7 only."""
    low_bytes = np.arange(256, dtype=np.uint16)
    classes = np.full(low_bytes.shape, MaskClass.CLEAR, dtype=np.uint8)
    for bit, mask_class in _CLASS_BY_BIT_LOW_TO_HIGH_PRIORITY:
        classes[bit_is_set(low_bytes, bit)] = mask_class
    return classes


_CLASS_BY_LOW_BYTE = _class_by_low_byte()


def classify(qa: np.ndarray) -> np.ndarray:
    """Decode QA_PIXEL into `MaskClass` codes (uint8, same shape).

    One table lookup on the low byte instead of a masked assignment per bit: a third of
    the time per block (docs/performance.md), the same classes.
    """
    return np.take(_CLASS_BY_LOW_BYTE, qa & np.uint16(0xFF))


_USABLE_FLAG = np.uint8(0x80)
"""Above every `MaskClass` code: a class code and its usability fit in one byte."""


def classes_and_usable(
    qa_pixel: np.ndarray, usable_lookup: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`classify(qa_pixel)` and where its classes are usable, from one table lookup on the
    low byte instead of one per result: a table lookup converts its 16- or 8-bit indices to
    64 bits first, 0.1 s per full scene each (docs/performance.md)."""
    table = _CLASS_BY_LOW_BYTE | np.where(usable_lookup[_CLASS_BY_LOW_BYTE], _USABLE_FLAG, 0)
    codes = np.take(table, qa_pixel & np.uint16(0xFF))
    return codes & np.uint8(~_USABLE_FLAG), codes >= _USABLE_FLAG


def usable_lookup(usable_classes: Iterable[MaskClass]) -> np.ndarray:
    """A 256-entry table: `usable_lookup(c)[classes]` is the usable-pixel mask."""
    table = np.zeros(256, dtype=bool)
    for mask_class in usable_classes:
        table[int(mask_class)] = True
    return table


def parse_usable_classes(text: str) -> frozenset[MaskClass]:
    """Parse a comma-separated list of class names, e.g. ``"clear,water,snow"``."""
    names = [name.strip().upper() for name in text.split(",") if name.strip()]
    if not names:
        raise ValueError("the list of usable mask classes is empty")
    known = {c.name for c in MaskClass}
    unknown = [n for n in names if n not in known or n == "FILL"]
    if unknown:
        raise ValueError(
            f"unknown or unusable mask class {', '.join(unknown)}; "
            f"choose from {', '.join(sorted(known - {'FILL'})).lower()}"
        )
    return frozenset(MaskClass[n] for n in names)
