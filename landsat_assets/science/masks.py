"""Cloud masks: QA_PIXEL decoded into `MaskClass` codes, their class counts and fractions.

Code 0 (fill, the COG's nodata) is USGS fill inside the AOI; pixels outside the AOI polygon
get `OUTSIDE_AOI` (8), counted apart. Masks written before that code existed hold 0 there
and carry no COUNT_OUTSIDE_AOI tag: they read as before, outside pixels counted as fill."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio

from landsat_assets.science import qa
from landsat_assets.science.bands import QA_OUTSIDE_AOI, reading
from landsat_assets.science.blocks import (
    DEFAULT_WORKERS,
    BandSource,
    ProgressCallback,
    process_blocks,
)
from landsat_assets.science.cog import CLASS_COG, cog_draft
from landsat_assets.science.windows import block_windows

OUTSIDE_AOI = 8
"""Cloud mask code of a pixel outside the AOI polygon (QA_PIXEL `bands.QA_OUTSIDE_AOI`)."""

OUTSIDE_AOI_NAME = "outside_aoi"

NO_VALUE_CODES = (int(qa.MaskClass.FILL), OUTSIDE_AOI)
"""Codes of pixels without a QA class: USGS fill and outside the AOI."""


def classify_in_aoi(qa_pixel: np.ndarray) -> np.ndarray:
    """`qa.classify`, with pixels outside the AOI (`QA_OUTSIDE_AOI`) as `OUTSIDE_AOI`."""
    classes = qa.classify(qa_pixel)
    classes[qa_pixel == QA_OUTSIDE_AOI] = OUTSIDE_AOI
    return classes


@dataclass
class ClassCounts:
    """Pixels per `MaskClass` and outside the AOI; fractions are of the pixels inside the AOI
    that USGS did not fill."""

    counts: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))

    def add(self, classes: np.ndarray) -> None:
        """Count a block of class codes (uint8). Read as pairs of codes (uint16), it takes
        one `bincount` of half as many values, whose table of pairs adds up by first and by
        second code: 0.21 ms against 0.33 ms per 512 x 512 block (docs/performance.md);
        `bincount` converts every value it counts to 64 bits first."""
        codes = classes.ravel()
        paired = codes.size - codes.size % 2
        pairs = np.bincount(codes[:paired].view(np.uint16), minlength=65536).reshape(256, 256)
        self.counts += pairs.sum(axis=0) + pairs.sum(axis=1)
        if paired < codes.size:
            self.counts[codes[-1]] += 1

    def merge(self, other: ClassCounts) -> None:
        self.counts += other.counts

    @property
    def valid_pixels(self) -> int:
        return int(self.counts.sum() - sum(int(self.counts[c]) for c in NO_VALUE_CODES))

    def fraction(self, classes: Iterable[qa.MaskClass]) -> float:
        valid = self.valid_pixels
        if valid == 0:
            return math.nan
        return float(sum(int(self.counts[c]) for c in classes)) / valid

    def as_dict(self) -> dict[str, int]:
        """Pixels per class name, then outside the AOI."""
        return {c.name.lower(): int(self.counts[c]) for c in qa.MaskClass} | {
            OUTSIDE_AOI_NAME: int(self.counts[OUTSIDE_AOI])
        }

    def as_tags(self) -> dict[str, str]:
        return {f"COUNT_{c.name}": str(int(self.counts[c])) for c in qa.MaskClass} | {
            f"COUNT_{OUTSIDE_AOI_NAME.upper()}": str(int(self.counts[OUTSIDE_AOI]))
        }

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> ClassCounts:
        """Counts stored in a cloud mask COG by `write_cloud_mask`."""
        counts = cls()
        for mask_class in qa.MaskClass:
            counts.counts[mask_class] = int(tags[f"COUNT_{mask_class.name}"])
        counts.counts[OUTSIDE_AOI] = int(tags.get(f"COUNT_{OUTSIDE_AOI_NAME.upper()}", "0"))
        return counts


@dataclass(frozen=True)
class MaskSummary:
    counts: ClassCounts
    clear_fraction: float
    cloud_fraction: float

    @classmethod
    def from_counts(cls, counts: ClassCounts, usable: Iterable[qa.MaskClass]) -> MaskSummary:
        return cls(counts, counts.fraction(usable), counts.fraction(qa.CLOUDY_CLASSES))


def write_cloud_mask(
    scene: str,
    qa_source: BandSource,
    out: Path,
    *,
    usable_classes: Iterable[qa.MaskClass] = qa.DEFAULT_USABLE_CLASSES,
    workers: int = DEFAULT_WORKERS,
    progress: ProgressCallback | None = None,
) -> MaskSummary:
    """Decode QA_PIXEL into a uint8 `MaskClass` COG (nodata 0 = USGS fill, `OUTSIDE_AOI`
    outside the AOI) and count classes."""
    with rasterio.open(qa_source.path) as src:
        profile = {
            "count": 1,
            "dtype": "uint8",
            "nodata": int(qa.MaskClass.FILL),
            "crs": src.crs,
            "transform": src.transform,
            "height": src.height,
            "width": src.width,
        }
    counts = ClassCounts()
    usable = frozenset(usable_classes)
    with reading(scene), cog_draft(out, profile, CLASS_COG) as draft, draft.writer() as dst:
        dst.write_colormap(
            1,
            {int(c): (*rgb, 255) for c, rgb in qa.MASK_CLASS_COLOURS.items()}
            | {OUTSIDE_AOI: (255, 255, 255, 0)},
        )
        dst.update_tags(
            1,
            **{f"class_{int(c)}": c.name.lower() for c in qa.MaskClass},
            **{f"class_{OUTSIDE_AOI}": OUTSIDE_AOI_NAME},
        )
        dst.update_tags(scene=scene)
        for window, classes in process_blocks(
            [qa_source],
            block_windows(profile["height"], profile["width"]),
            lambda _w, arrays: classify_in_aoi(arrays[0]),
            workers=workers,
            progress=progress,
        ):
            counts.add(classes)
            dst.write(classes, 1, window=window)
        dst.update_tags(**counts.as_tags())
    return MaskSummary.from_counts(counts, usable)
