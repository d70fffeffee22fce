"""The bands of a scene: opened and checked, and their AOI window extracted.

Every function names the scene and the file in its errors, so a bad input never becomes an
anonymous failure; remote reads that failed for a reason that can pass are told apart from
inputs that retrying cannot repair.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.io import DatasetReader

from landsat_assets.errors import BandReadError, ItemError, SceneInputError, TransientReadError
from landsat_assets.science import qa, radsat
from landsat_assets.science.blocks import (
    DEFAULT_WORKERS,
    BandSource,
    ProgressCallback,
    process_blocks,
)
from landsat_assets.science.cog import DN_COG, cog_draft
from landsat_assets.science.windows import AoiWindow, aoi_window, block_windows
from landsat_assets.stac.scene import SCENE_BANDS, USGS_SR_NODATA
from landsat_assets.urls import redact

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


@dataclass(frozen=True)
class BandPlan:
    """The bands of a scene's `scene_bands` product, and whether QA_RADSAT is among them."""

    roles: tuple[str, ...]
    saturation: str
    """Why QA_RADSAT is or is not read, for people."""


def plan_bands(
    scene: str, available: Collection[str], platform: str, reflectance: Sequence[str]
) -> BandPlan:
    """Red, NIR and QA_PIXEL, then the other `reflectance` bands the indices need, then
    QA_RADSAT when the item has it and its bit layout is known for the platform. An item
    without a band an index needs is refused, naming the bands."""
    missing = [band for band in reflectance if band not in available]
    if missing:
        raise ItemError(
            f"{scene}: the item has no {', '.join(missing)} band, which LANDSAT_INDICES needs"
        )
    roles = [*SCENE_BANDS, *(band for band in reflectance if band not in SCENE_BANDS)]
    if "qa_radsat" not in available:
        return BandPlan(tuple(roles), "not available: the item has no qa_radsat asset")
    if platform not in radsat.SATURATION_PLATFORMS:
        return BandPlan(
            tuple(roles),
            f"not applied: the QA_RADSAT bit layout of {platform} is not Landsat 8/9's",
        )
    return BandPlan((*roles, "qa_radsat"), "QA_RADSAT read: saturated bands masked")


@contextlib.contextmanager
def open_scene_bands(
    scene: str, hrefs: Mapping[str, str], *, pixel_budget: int = DEFAULT_PIXEL_BUDGET
) -> Iterator[dict[str, DatasetReader]]:
    """Open the bands of `hrefs` (red first), checked to be georeferenced uint16 on one grid."""
    datasets: dict[str, DatasetReader] = {}
    try:
        for role, href in hrefs.items():
            datasets[role] = open_band(scene, href, role=role, pixel_budget=pixel_budget)
        for role in list(hrefs)[1:]:
            check_same_grid(scene, datasets["red"], datasets[role])
        yield datasets
    finally:
        for dataset in datasets.values():
            dataset.close()


@contextlib.contextmanager
def reading(scene: str) -> Iterator[None]:
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
    """Copy the bands of `hrefs` (red, nir08 and qa_pixel first, then any of
    `OPTIONAL_BANDS`) for the AOI window into one COG at `out`, one band per role in that
    order, each described by its role.

    Only the source tiles under the window are read. Pixels outside the AOI polygon
    become fill (SR 0, QA_PIXEL `QA_OUTSIDE_AOI`, QA_RADSAT 0) and are also masked in the
    COG's internal mask band. Returns None, writing nothing, when the AOI misses the scene.
    """
    roles = list(hrefs)
    with open_scene_bands(scene, hrefs, pixel_budget=pixel_budget) as datasets:
        reference = datasets["red"]
        placement = aoi_window(reference, aoi_wgs84)
        if placement is None:
            return None
        profile = {
            "count": len(roles),
            "dtype": "uint16",
            "crs": reference.crs,
            "transform": reference.window_transform(placement.window),
            "height": placement.shape[0],
            "width": placement.shape[1],
        }
        bounds = rasterio.windows.bounds(placement.window, reference.transform)
        crs = reference.crs.to_string()

    sources = [BandSource(hrefs[role]) for role in roles]
    fills = np.array([_FILL.get(role, USGS_SR_NODATA) for role in roles], dtype=np.uint16)
    qa_position = roles.index("qa_pixel")
    aoi_pixels = 0
    with reading(scene), cog_draft(out, profile, DN_COG) as draft, draft.writer() as dst:
        for index, role in enumerate(roles, start=1):
            dst.set_band_description(index, role)
        if scales:
            dst.scales = [scales.get(role, (1.0, 0.0))[0] for role in roles]
            dst.offsets = [scales.get(role, (1.0, 0.0))[1] for role in roles]
        dst.update_tags(
            scene=scene,
            **{f"source_{role}": redact(hrefs[role]) for role in roles},
        )
        for window, (stack, valid) in process_blocks(
            sources,
            block_windows(*placement.shape),
            lambda w, arrays: _fill_outside_aoi(placement, w, arrays, fills, qa_position),
            source_offset=(int(placement.window.row_off), int(placement.window.col_off)),
            workers=workers,
            progress=progress,
        ):
            dst.write(stack, window=window)
            dst.write_mask(valid, window=window)
            aoi_pixels += int(np.count_nonzero(valid))
    window = placement.window
    return BandsExtract(
        window=(int(window.row_off), int(window.col_off), int(window.height), int(window.width)),
        crs=crs,
        bounds=tuple(bounds),
        aoi_pixel_count=aoi_pixels,
    )


QA_OUTSIDE_AOI = 0xFFFF
"""QA_PIXEL of a pixel outside the AOI polygon. Its fill bit is set, so every reader of the
QA bits treats it as fill (no value), as USGS fill (`USGS_QA_FILL`, only the fill bit) is;
USGS never writes this value, so the cloud mask can tell the two apart (`masks.OUTSIDE_AOI`)."""

_FILL = {"qa_pixel": QA_OUTSIDE_AOI, "qa_radsat": 0}
"""What a pixel outside the AOI holds, by role; surface reflectance bands hold
`USGS_SR_NODATA`."""


def _fill_outside_aoi(
    placement: AoiWindow,
    window: rasterio.windows.Window,
    arrays: list[np.ndarray],
    fills: np.ndarray,
    qa_position: int,
) -> tuple[np.ndarray, np.ndarray]:
    stack = np.stack(arrays)
    inside = placement.inside_block(window)
    if inside is not None:
        stack[:, ~inside] = fills[:, np.newaxis]
    valid = ~qa.bit_is_set(stack[qa_position], qa.FILL_BIT)
    return stack, (valid.astype(np.uint8) * 255)
