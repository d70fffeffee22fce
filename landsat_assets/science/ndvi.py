"""Index rasters: masked float32 COGs of one or more spectral indices, with their statistics,
written in one pass over the bands. NDVI is the first of them (`write_ndvi`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import rasterio

from landsat_assets.science import qa
from landsat_assets.science.bands import reading
from landsat_assets.science.blocks import (
    DEFAULT_WORKERS,
    BandSource,
    ProgressCallback,
    ScaledBand,
    process_blocks,
)
from landsat_assets.science.cog import INDEX_COG, cog_draft
from landsat_assets.science.indices import (
    NDVI,
    IndexReads,
    SpectralIndex,
)
from landsat_assets.science.masks import ClassCounts, MaskSummary
from landsat_assets.science.spill import DEFAULT_BUDGET_BYTES
from landsat_assets.science.statistics import IndexStatistics, statistics_tags
from landsat_assets.science.status import SceneStatus, SceneVerdict, decide_scene_status
from landsat_assets.science.windows import block_windows

SATURATION_TAG = "SATURATION"
"""Dataset tag saying whether QA_RADSAT masked the indices (`SATURATION_APPLIED`) or the scene
has none (`SATURATION_UNAVAILABLE`)."""
SATURATION_APPLIED = "QA_RADSAT applied: saturated bands and terrain occlusion masked"
SATURATION_UNAVAILABLE = "not applied: no QA_RADSAT band (see scene_bands' saturation)"
SATURATED_COUNT_TAG = "SATURATED_PIXEL_COUNT"
"""Band tag: usable pixels without a value because a band of the index was saturated or the
terrain occluded."""


@dataclass(frozen=True)
class IndexRasterResult:
    verdict: SceneVerdict
    mask: MaskSummary
    statistics: dict[str, dict[str, float | int]]
    """Per index: `valid_pixel_count` and `<index>_mean`, `_median`, `_std`, `_min`, `_max`."""
    saturated: dict[str, int] | None
    """Per index, usable pixels lost to saturation or occlusion; None without QA_RADSAT."""

    @property
    def status(self) -> SceneStatus:
        return self.verdict.status

    @property
    def saturation(self) -> str:
        return _saturation_note(applied=self.saturated is not None)


def write_index_raster(
    scene: str,
    bands: Mapping[str, ScaledBand],
    qa_source: BandSource,
    out: Path,
    *,
    indices: Sequence[SpectralIndex],
    radsat_source: BandSource | None = None,
    usable_classes: Iterable[qa.MaskClass] = qa.DEFAULT_USABLE_CLASSES,
    min_clear_fraction: float = 0.0,
    workers: int = DEFAULT_WORKERS,
    progress: ProgressCallback | None = None,
) -> IndexRasterResult:
    """A float32 COG with one band per index (NaN = no value, band descriptions the index
    names) plus the statistics of each, in one pass over `bands` (by common name), QA_PIXEL
    and QA_RADSAT (None when the scene has none).

    The scene's status comes from `decide_scene_status` once the pass has counted its pixels
    (no index value at all is NO_DATA); unless it is PROCESSED nothing is written at `out`.
    """
    usable = frozenset(usable_classes)
    lookup = qa.usable_lookup(usable)
    reads = IndexReads(tuple(indices), bands, qa_source, radsat_source)
    with rasterio.open(qa_source.path) as src:
        profile = {
            "count": len(indices),
            "dtype": "float32",
            "nodata": float("nan"),
            "crs": src.crs,
            "transform": src.transform,
            "height": src.height,
            "width": src.width,
        }
    windows = list(block_windows(profile["height"], profile["width"]))
    counts = ClassCounts()
    # The indices share one budget for the valid values their medians keep aside.
    statistics = {
        index.name: IndexStatistics(DEFAULT_BUDGET_BYTES // len(indices)) for index in indices
    }
    saturated = dict.fromkeys(statistics, 0)
    with reading(scene), cog_draft(out, profile, INDEX_COG) as draft:
        with draft.writer() as dst:
            for number, index in enumerate(indices, start=1):
                dst.set_band_description(number, index.name)
            dst.update_tags(scene=scene)
            # The workers only read (GDAL decodes without the GIL) and the numpy work stays in
            # this thread: computing in the workers too cost about 1 s more CPU per full
            # scene in GIL hand-offs, for no gain in wall time (docs/performance.md).
            for window, arrays in process_blocks(
                reads.sources,
                windows,
                lambda _w, arrays: arrays,
                workers=workers,
                progress=progress,
            ):
                block = reads.block(arrays, lookup)
                counts.add(block.classes)
                for number, index in enumerate(indices, start=1):
                    values = block.values[index.name]
                    statistics[index.name].add(values)
                    draft.write_band(dst, number, values, window)
                for name, lost in block.saturated.items():
                    saturated[name] += lost
        mask = MaskSummary.from_counts(counts, usable)
        verdict = decide_scene_status(
            mask,
            min_clear_fraction,
            index_pixels=max(s.count for s in statistics.values()),
        )
        summaries = {name: s.as_dict(math.nan, name) for name, s in statistics.items()}
        if verdict.status is not SceneStatus.PROCESSED:
            draft.discard()
        else:
            for name, index_statistics in statistics.items():
                summaries[name] = index_statistics.as_dict(index_statistics.median(), name)
            with draft.updater() as dst:
                dst.update_tags(
                    **{SATURATION_TAG: _saturation_note(applied=radsat_source is not None)}
                )
                for number, index in enumerate(indices, start=1):
                    dst.update_tags(
                        number,
                        **statistics_tags(summaries[index.name], index.name),
                        **(
                            {SATURATED_COUNT_TAG: str(saturated[index.name])}
                            if radsat_source is not None
                            else {}
                        ),
                    )
    return IndexRasterResult(
        verdict, mask, summaries, saturated if radsat_source is not None else None
    )


def _saturation_note(*, applied: bool) -> str:
    return SATURATION_APPLIED if applied else SATURATION_UNAVAILABLE


@dataclass(frozen=True)
class NdviResult:
    verdict: SceneVerdict
    mask: MaskSummary
    statistics: dict[str, float | int]
    """`valid_pixel_count` and `ndvi_mean`, `_median`, `_std`, `_min`, `_max`."""
    saturated: int | None
    """Usable pixels lost to saturation or occlusion; None without QA_RADSAT."""

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
    radsat_source: BandSource | None = None,
    usable_classes: Iterable[qa.MaskClass] = qa.DEFAULT_USABLE_CLASSES,
    min_clear_fraction: float = 0.0,
    workers: int = DEFAULT_WORKERS,
    progress: ProgressCallback | None = None,
) -> NdviResult:
    """The masked NDVI COG of three band files (`write_index_raster` with NDVI alone);
    `red_scale`/`nir_scale` are (scale, offset) pairs turning DNs into reflectance."""
    result = write_index_raster(
        scene,
        {"red": ScaledBand(red, red_scale), "nir08": ScaledBand(nir, nir_scale)},
        qa_source,
        out,
        indices=[NDVI],
        radsat_source=radsat_source,
        usable_classes=usable_classes,
        min_clear_fraction=min_clear_fraction,
        workers=workers,
        progress=progress,
    )
    return NdviResult(
        result.verdict,
        result.mask,
        result.statistics["ndvi"],
        None if result.saturated is None else result.saturated["ndvi"],
    )
