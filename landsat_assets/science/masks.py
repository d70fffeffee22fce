"""Cloud masks: QA_PIXEL decoded into `MaskClass` codes, their class counts and fractions."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio

from landsat_assets.science import qa
from landsat_assets.science.bands import reading
from landsat_assets.science.blocks import (
    DEFAULT_WORKERS,
    BandSource,
    ProgressCallback,
    process_blocks,
)
from landsat_assets.science.cog import CLASS_COG, cog_draft
from landsat_assets.science.windows import block_windows


@dataclass
class ClassCounts:
    """Pixels per `MaskClass`; fractions are of non-fill pixels (inside the AOI)."""

    counts: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))

    def add(self, classes: np.ndarray) -> None:
        self.counts += np.bincount(classes.ravel(), minlength=256)

    def merge(self, other: ClassCounts) -> None:
        self.counts += other.counts

    @property
    def valid_pixels(self) -> int:
        return int(self.counts.sum() - self.counts[qa.MaskClass.FILL])

    def fraction(self, classes: Iterable[qa.MaskClass]) -> float:
        valid = self.valid_pixels
        if valid == 0:
            return math.nan
        return float(sum(int(self.counts[c]) for c in classes)) / valid

    def as_dict(self) -> dict[str, int]:
        return {c.name.lower(): int(self.counts[c]) for c in qa.MaskClass}

    def as_tags(self) -> dict[str, str]:
        return {f"COUNT_{c.name}": str(int(self.counts[c])) for c in qa.MaskClass}

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> ClassCounts:
        """Counts stored in a cloud mask COG by `write_cloud_mask`."""
        counts = cls()
        for mask_class in qa.MaskClass:
            counts.counts[mask_class] = int(tags[f"COUNT_{mask_class.name}"])
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
    """Decode QA_PIXEL into a uint8 `MaskClass` COG (nodata 0 = fill) and count classes."""
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
        dst.write_colormap(1, {int(c): (*rgb, 255) for c, rgb in qa.MASK_CLASS_COLOURS.items()})
        dst.update_tags(1, **{f"class_{int(c)}": c.name.lower() for c in qa.MaskClass})
        dst.update_tags(scene=scene)
        for window, classes in process_blocks(
            [qa_source],
            block_windows(profile["height"], profile["width"]),
            lambda _w, arrays: qa.classify(arrays[0]),
            workers=workers,
            progress=progress,
        ):
            counts.add(classes)
            dst.write(classes, 1, window=window)
        dst.update_tags(**counts.as_tags())
    return MaskSummary.from_counts(counts, usable)
