"""NDVI from Landsat C2 L2 surface reflectance: the formula, and the masked NDVI COG with its
statistics, written in one pass over the bands."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
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
from landsat_assets.science.cog import INDEX_COG, cog_draft
from landsat_assets.science.masks import ClassCounts, MaskSummary
from landsat_assets.science.statistics import NdviStatistics, statistics_tags
from landsat_assets.science.status import SceneStatus, SceneVerdict, decide_scene_status
from landsat_assets.science.windows import block_windows
from landsat_assets.stac.scene import VALID_SR_DN_MAX, VALID_SR_DN_MIN


def ndvi_block(
    red: np.ndarray,
    nir: np.ndarray,
    usable: np.ndarray,
    *,
    red_scale: float,
    red_offset: float,
    nir_scale: float,
    nir_offset: float,
) -> np.ndarray:
    """NDVI of one block as float32, NaN where a pixel is unusable or outside the valid DN range.

    Reflectance is DN * scale + offset, computed in float64 and rounded once to float32,
    so the result does not depend on block size or thread count. The float64 temporaries
    are reused in place and the quotient is rounded straight into the float32 result:
    the same operations in the same order as the plain expression, so the same bits, at
    well under half its time (docs/performance.md).
    """
    valid = (
        usable
        & (red >= VALID_SR_DN_MIN)
        & (red <= VALID_SR_DN_MAX)
        & (nir >= VALID_SR_DN_MIN)
        & (nir <= VALID_SR_DN_MAX)
    )
    red_reflectance = red * red_scale
    red_reflectance += red_offset
    nir_reflectance = nir * nir_scale
    nir_reflectance += nir_offset
    denominator = nir_reflectance + red_reflectance
    valid &= denominator > 0
    numerator = nir_reflectance
    numerator -= red_reflectance
    result = np.empty(red.shape, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(numerator, denominator, out=result, casting="same_kind")
    result[~valid] = np.nan
    return result


def classified_ndvi(
    red_dn: np.ndarray,
    nir_dn: np.ndarray,
    qa_pixel: np.ndarray,
    usable_lookup: np.ndarray,
    red_scale: tuple[float, float],
    nir_scale: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """A block's `MaskClass` codes and its NDVI, masked by the usable classes (a lookup from
    `qa.usable_lookup`); scales are (scale, offset) pairs."""
    classes = qa.classify(qa_pixel)
    ndvi = ndvi_block(
        red_dn,
        nir_dn,
        np.take(usable_lookup, classes),
        red_scale=red_scale[0],
        red_offset=red_scale[1],
        nir_scale=nir_scale[0],
        nir_offset=nir_scale[1],
    )
    return classes, ndvi


@dataclass(frozen=True)
class NdviResult:
    verdict: SceneVerdict
    mask: MaskSummary
    statistics: dict[str, float | int]

    @property
    def status(self) -> SceneStatus:
        return self.verdict.status


def write_ndvi(
    scene: str,
    red: BandSource,
    nir: BandSource,
    qa_source: BandSource,
    out: Path,
    *,
    red_scale: tuple[float, float],
    nir_scale: tuple[float, float],
    usable_classes: Iterable[qa.MaskClass] = qa.DEFAULT_USABLE_CLASSES,
    min_clear_fraction: float = 0.0,
    workers: int = DEFAULT_WORKERS,
    progress: ProgressCallback | None = None,
) -> NdviResult:
    """Masked float32 NDVI COG (NaN = no value) plus its statistics, in one pass over the bands.

    The scene's status comes from `decide_scene_status` once the pass has counted its pixels;
    unless it is PROCESSED nothing is written at `out`. `red_scale`/`nir_scale` are
    (scale, offset) pairs turning DNs into reflectance.
    """
    usable = frozenset(usable_classes)
    lookup = qa.usable_lookup(usable)
    with rasterio.open(red.path) as src:
        profile = {
            "count": 1,
            "dtype": "float32",
            "nodata": float("nan"),
            "crs": src.crs,
            "transform": src.transform,
            "height": src.height,
            "width": src.width,
        }

    def compute(_window: rasterio.windows.Window, arrays: list[np.ndarray]):
        classes, ndvi = classified_ndvi(*arrays, lookup, red_scale, nir_scale)
        block_counts = ClassCounts()
        block_counts.add(classes)
        block_statistics = NdviStatistics()
        block_statistics.add(ndvi)
        return ndvi, block_counts, block_statistics

    counts = ClassCounts()
    statistics = NdviStatistics()
    with reading(scene), cog_draft(out, profile, INDEX_COG) as draft:
        with draft.writer() as dst:
            dst.set_band_description(1, "ndvi")
            dst.update_tags(scene=scene)
            # The workers only read (GDAL decodes without the GIL) and the numpy work stays in
            # this thread: computing in the workers too cost about 1 s more CPU per full
            # scene in GIL hand-offs, for no gain in wall time (docs/performance.md).
            for window, arrays in process_blocks(
                [red, nir, qa_source],
                block_windows(profile["height"], profile["width"]),
                lambda _w, arrays: arrays,
                workers=workers,
                progress=progress,
            ):
                ndvi, block_counts, block_statistics = compute(window, arrays)
                counts.merge(block_counts)
                statistics.merge(block_statistics)
                dst.write(ndvi, 1, window=window)
        mask = MaskSummary.from_counts(counts, usable)
        verdict = decide_scene_status(mask, min_clear_fraction, index_pixels=statistics.count)
        if verdict.status is not SceneStatus.PROCESSED:
            draft.discard()
            return NdviResult(verdict, mask, statistics.as_dict(math.nan))
        median = statistics.median_from(
            ndvi
            for _w, ndvi in process_blocks(
                [BandSource(str(draft.path))],
                block_windows(profile["height"], profile["width"]),
                lambda _w, arrays: arrays[0],
                workers=workers,
            )
        )
        summary = statistics.as_dict(median)
        with draft.updater() as dst:
            dst.update_tags(1, **statistics_tags(summary))
    return NdviResult(verdict, mask, summary)
