"""Scene products from band files: AOI band extract, cloud mask and masked NDVI.

Every function streams blocks (a few per band in memory, whatever the scene size),
writes its product to a local path atomically, and names the scene and the file in
every error so a bad input never becomes an anonymous failure.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.io import DatasetReader

from landsat_assets.errors import BandReadError, SceneInputError, TransientReadError
from landsat_assets.science import qa
from landsat_assets.science.blocks import (
    DEFAULT_WORKERS,
    BandSource,
    ProgressCallback,
    process_blocks,
)
from landsat_assets.science.cog import (
    GDAL_CACHE_BYTES,
    SCRATCH_PROFILE,
    publish_cog,
    scratch_path,
)
from landsat_assets.science.ndvi import NdviStatistics, ndvi_block
from landsat_assets.science.windows import AoiWindow, aoi_window, block_windows
from landsat_assets.stac.scene import USGS_QA_FILL, USGS_SR_NODATA

BAND_ORDER = ("red", "nir08", "qa_pixel")
"""Band order of the `scene_bands` product (1-based GDAL band = index + 1)."""


def band_number(role: str) -> int:
    """The 1-based GDAL band holding `role` in the `scene_bands` product."""
    return BAND_ORDER.index(role) + 1


SceneStatus = Literal["processed", "filtered_cloudy", "no_data"]

DEFAULT_PIXEL_BUDGET = 120_000_000
"""Largest source raster (pixels) read without question: a full Landsat scene is ~60 M."""


_TRANSIENT_GDAL_MESSAGES = re.compile(
    r"HTTP response code: (?:5\d\d|429)|timed out|timeout|connection (?:refused|reset)"
    r"|could not resolve host|couldn't connect",
    re.IGNORECASE,
)


def read_failure(scene: str, path: str, problem: str) -> SceneInputError | TransientReadError:
    """The error for a band that could not be opened or read: transient when GDAL's message
    says the server or network failed, otherwise a permanent problem of the input."""
    if _TRANSIENT_GDAL_MESSAGES.search(problem):
        return TransientReadError(scene, path, problem)
    return SceneInputError(scene, path, problem)


def open_band(scene: str, path: str, *, role: str, pixel_budget: int) -> DatasetReader:
    """Open one band file, refusing anything the pipeline would silently get wrong."""
    try:
        dataset = rasterio.open(path)
    except RasterioIOError as error:
        raise read_failure(scene, path, f"cannot open the {role} band: {error}") from error
    try:
        if dataset.crs is None or dataset.transform.is_identity:
            raise SceneInputError(
                scene, path, f"the {role} band has no georeferencing (no CRS or geotransform)"
            )
        if dataset.dtypes[0] != "uint16":
            raise SceneInputError(
                scene, path, f"the {role} band is {dataset.dtypes[0]}, expected uint16 DNs"
            )
        if dataset.width * dataset.height > pixel_budget:
            raise SceneInputError(
                scene,
                path,
                f"{dataset.width} x {dataset.height} pixels exceeds the pixel budget "
                f"of {pixel_budget:,}",
            )
    except SceneInputError:
        dataset.close()
        raise
    return dataset


def check_declared_shape(
    scene: str, shape: tuple[int, int] | None, href: str, *, pixel_budget: int
) -> None:
    """Refuse a raster whose catalog-declared size (`proj:shape`) is over the budget before
    any byte of it is read: a hostile or broken catalog costs no request at all."""
    if shape is not None and shape[0] * shape[1] > pixel_budget:
        raise SceneInputError(
            scene,
            href,
            f"the item declares proj:shape {shape[0]} x {shape[1]}, which exceeds the pixel "
            f"budget of {pixel_budget:,}; nothing was read",
        )


def check_same_grid(scene: str, reference: DatasetReader, other: DatasetReader) -> None:
    if (reference.width, reference.height) != (other.width, other.height):
        raise SceneInputError(
            scene,
            other.name,
            f"shape {other.height} x {other.width} differs from {reference.name} "
            f"({reference.height} x {reference.width})",
        )
    if reference.crs != other.crs or not reference.transform.almost_equals(other.transform):
        raise SceneInputError(
            scene, other.name, f"grid (CRS or transform) differs from {reference.name}"
        )


def without_query(href: str) -> str:
    """An href fit to store: query strings can carry credentials (signed URLs), never kept."""
    return href.split("?", 1)[0]


@contextlib.contextmanager
def open_scene_bands(
    scene: str, hrefs: Mapping[str, str], *, pixel_budget: int = DEFAULT_PIXEL_BUDGET
) -> Iterator[dict[str, DatasetReader]]:
    """Open red, nir08 and qa_pixel, checked to be georeferenced uint16 on one grid."""
    datasets: dict[str, DatasetReader] = {}
    try:
        for role in BAND_ORDER:
            datasets[role] = open_band(scene, hrefs[role], role=role, pixel_budget=pixel_budget)
        for role in BAND_ORDER[1:]:
            check_same_grid(scene, datasets["red"], datasets[role])
        yield datasets
    finally:
        for dataset in datasets.values():
            dataset.close()


@contextlib.contextmanager
def _reading(scene: str) -> Iterator[None]:
    """A block that cannot be read fails naming the scene and the file: permanently for a
    truncated or damaged file, retriably when a remote server or the network failed."""
    try:
        yield
    except BandReadError as error:
        raise read_failure(scene, error.path, f"cannot read the band: {error.problem}") from error


@dataclass(frozen=True)
class BandsExtract:
    """Where the AOI lies in the source scene and what the extract holds."""

    window: tuple[int, int, int, int]
    """(row_off, col_off, height, width) in the source scene."""
    crs: str
    bounds: tuple[float, float, float, float]
    aoi_pixel_count: int


def extract_scene_bands(
    scene: str,
    hrefs: Mapping[str, str],
    out: Path,
    *,
    aoi_wgs84: Mapping[str, Any] | None,
    scales: Mapping[str, tuple[float, float]] | None = None,
    pixel_budget: int = DEFAULT_PIXEL_BUDGET,
    workers: int = DEFAULT_WORKERS,
    progress: ProgressCallback | None = None,
) -> BandsExtract | None:
    """Copy red, nir08 and qa_pixel for the AOI window into one 3-band COG at `out`.

    Only the source tiles under the window are read. Pixels outside the AOI polygon
    become fill (SR 0, QA 1) and are also masked in the COG's internal mask band.
    Returns None, writing nothing, when the AOI misses the scene.
    """
    with open_scene_bands(scene, hrefs, pixel_budget=pixel_budget) as datasets:
        reference = datasets["red"]
        placement = aoi_window(reference, aoi_wgs84)
        if placement is None:
            return None
        profile = {
            "count": len(BAND_ORDER),
            "dtype": "uint16",
            "crs": reference.crs,
            "transform": reference.window_transform(placement.window),
            "height": placement.shape[0],
            "width": placement.shape[1],
        }
        bounds = rasterio.windows.bounds(placement.window, reference.transform)
        crs = reference.crs.to_string()

    sources = [BandSource(hrefs[role]) for role in BAND_ORDER]
    aoi_pixels = 0
    with (
        _reading(scene),
        rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES),
        scratch_path(out) as scratch,
    ):
        with rasterio.open(scratch, "w", **SCRATCH_PROFILE, **profile) as dst:
            for role, index in zip(BAND_ORDER, range(1, 4), strict=True):
                dst.set_band_description(index, role)
            if scales:
                dst.scales = [scales.get(role, (1.0, 0.0))[0] for role in BAND_ORDER]
                dst.offsets = [scales.get(role, (1.0, 0.0))[1] for role in BAND_ORDER]
            dst.update_tags(
                scene=scene,
                **{f"source_{role}": without_query(hrefs[role]) for role in BAND_ORDER},
            )
            for window, (stack, valid) in process_blocks(
                sources,
                block_windows(*placement.shape),
                lambda w, arrays: _fill_outside_aoi(placement, w, arrays),
                source_offset=(int(placement.window.row_off), int(placement.window.col_off)),
                workers=workers,
                progress=progress,
            ):
                dst.write(stack, window=window)
                dst.write_mask(valid, window=window)
                aoi_pixels += int(np.count_nonzero(valid))
        publish_cog(scratch, out, predictor=2, resampling="NEAREST")
    window = placement.window
    return BandsExtract(
        window=(int(window.row_off), int(window.col_off), int(window.height), int(window.width)),
        crs=crs,
        bounds=tuple(bounds),
        aoi_pixel_count=aoi_pixels,
    )


def _fill_outside_aoi(
    placement: AoiWindow, window: rasterio.windows.Window, arrays: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    red, nir, qa_pixel = arrays
    inside = placement.inside_block(window)
    if inside is not None:
        outside = ~inside
        red[outside] = USGS_SR_NODATA
        nir[outside] = USGS_SR_NODATA
        qa_pixel[outside] = USGS_QA_FILL
    valid = ~qa.bit_is_set(qa_pixel, qa.FILL_BIT)
    return np.stack([red, nir, qa_pixel]), (valid.astype(np.uint8) * 255)


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
    with (
        _reading(scene),
        rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES),
        scratch_path(out) as scratch,
    ):
        with rasterio.open(scratch, "w", **SCRATCH_PROFILE, **profile) as dst:
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
        summary = MaskSummary.from_counts(counts, usable)
        publish_cog(scratch, out, predictor=1, resampling="MODE")
    return summary


@dataclass(frozen=True)
class NdviResult:
    status: SceneStatus
    mask: MaskSummary
    statistics: dict[str, float | int]
    reason: str | None = None


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

    When fewer than `min_clear_fraction` of the valid pixels are usable the scene is
    `filtered_cloudy` and nothing is written; with no valid pixel at all it is `no_data`.
    `red_scale`/`nir_scale` are (scale, offset) pairs turning DNs into reflectance.
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
        red_dn, nir_dn, qa_pixel = arrays
        classes = qa.classify(qa_pixel)
        block_counts = ClassCounts()
        block_counts.add(classes)
        ndvi = ndvi_block(
            red_dn,
            nir_dn,
            np.take(lookup, classes),
            red_scale=red_scale[0],
            red_offset=red_scale[1],
            nir_scale=nir_scale[0],
            nir_offset=nir_scale[1],
        )
        block_statistics = NdviStatistics()
        block_statistics.add(ndvi)
        return ndvi, block_counts, block_statistics

    counts = ClassCounts()
    statistics = NdviStatistics()
    with (
        _reading(scene),
        rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES),
        scratch_path(out) as scratch,
    ):
        with rasterio.open(scratch, "w", **SCRATCH_PROFILE, **profile) as dst:
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
        if counts.valid_pixels == 0:
            return NdviResult("no_data", mask, statistics.as_dict(math.nan), "no valid pixels")
        if mask.clear_fraction < min_clear_fraction:
            reason = (
                f"clear fraction {mask.clear_fraction:.3f} over the AOI is below "
                f"min_clear_fraction {min_clear_fraction:.3f}"
            )
            return NdviResult("filtered_cloudy", mask, statistics.as_dict(math.nan), reason)
        median = statistics.median_from(
            ndvi
            for _w, ndvi in process_blocks(
                [BandSource(str(scratch))],
                block_windows(profile["height"], profile["width"]),
                lambda _w, arrays: arrays[0],
                workers=workers,
            )
        )
        summary = statistics.as_dict(median)
        with rasterio.open(scratch, "r+") as dst:
            dst.update_tags(1, **statistics_tags(summary))
        publish_cog(scratch, out, predictor=3, resampling="AVERAGE")
    status: SceneStatus = "processed" if statistics.count else "no_data"
    return NdviResult(status, mask, summary)


_GDAL_STATISTICS_TAGS = {
    "ndvi_mean": "STATISTICS_MEAN",
    "ndvi_std": "STATISTICS_STDDEV",
    "ndvi_min": "STATISTICS_MINIMUM",
    "ndvi_max": "STATISTICS_MAXIMUM",
    "ndvi_median": "STATISTICS_MEDIAN",
    "valid_pixel_count": "STATISTICS_VALID_COUNT",
}
"""NDVI statistics as GDAL band metadata, so GIS tools (and the summary) read them for free."""


def statistics_tags(statistics: Mapping[str, float | int]) -> dict[str, str]:
    return {tag: repr(statistics[name]) for name, tag in _GDAL_STATISTICS_TAGS.items()}


def statistics_from_tags(tags: Mapping[str, str]) -> dict[str, float | int]:
    values: dict[str, float | int] = {
        name: float(tags[tag]) for name, tag in _GDAL_STATISTICS_TAGS.items()
    }
    values["valid_pixel_count"] = int(values["valid_pixel_count"])
    return values
