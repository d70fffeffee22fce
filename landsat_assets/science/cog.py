"""Cloud-optimized GeoTIFF output, written so that a crash never leaves a half file.

Products are streamed block by block into a tiled scratch GeoTIFF beside the final
file (with their averaged overview levels, when those are built from the blocks), then
GDAL's COG driver lays out tiles and overviews in one copy, and the result replaces the
final name with an atomic rename.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import rasterio
import rasterio.io
import rasterio.shutil
from affine import Affine
from rasterio.windows import Window

from landsat_assets.errors import StorageError
from landsat_assets.science.overviews import block_levels, level_shape, overview_factors
from landsat_assets.science.windows import BLOCK_SIZE

SCRATCH_PROFILE: dict[str, Any] = {
    "driver": "GTiff",
    "tiled": True,
    "blockxsize": BLOCK_SIZE,
    "blockysize": BLOCK_SIZE,
    "compress": "NONE",
    "BIGTIFF": "IF_SAFER",
}

COG_COMPRESSION = "ZSTD"
"""Chosen by measurement (docs/performance.md): with the predictors below, ZSTD level 1
writes a full-scene NDVI COG in half the CPU time of DEFLATE level 2 (1.0 s against 2.0 s)
for a file 0.3 % larger. Every GDAL build since 2.3 with libzstd reads it (rasterio and
GDAL wheels, conda-forge, QGIS, Debian and Ubuntu packages), as does geotiff.js 2."""

COG_COMPRESSION_LEVEL = "1"
"""ZSTD level 1: higher levels cost CPU for files a few per cent smaller."""

GDAL_CACHE_BYTES = 64 * 1024 * 1024
"""GDAL's block cache while products are written. Blocks stream through once, so a bigger
cache only holds dirty or decoded blocks nobody reads again; GDAL's default (5 % of RAM)
let a full-scene NDVI peak near 0.8 GB. rasterio takes this value in bytes."""

_PUBLISH_CONFIG = {
    "GDAL_CACHEMAX": GDAL_CACHE_BYTES,
    # The COG driver first writes its overviews to a temporary ZSTD file (level 9 by default)
    # and then copies them into the COG. That file is lossless and read once: level 1 saved
    # 0.2-0.9 s of CPU per full-scene NDVI with bit-identical overviews (docs/performance.md).
    # Leaving it uncompressed (COG_TMP_COMPRESSION=NONE) was cheaper still but changed
    # overview pixels at chunk edges, so it is not used.
    "ZSTD_LEVEL_OVERVIEW": "1",
}


@dataclass(frozen=True)
class CogProfile:
    """How one kind of raster product is laid out: its TIFF predictor (which suits the data
    type) and how its overviews are resampled (which suits what the values mean)."""

    predictor: str
    overview_resampling: str
    overviews_from_blocks: bool = False
    """Whether the overviews are averaged from the blocks as they are written
    (`science.overviews`) instead of by GDAL from the finished raster; only for AVERAGE."""

    def creation_options(self) -> dict[str, str]:
        return {
            "COMPRESS": COG_COMPRESSION,
            "PREDICTOR": self.predictor,
            "LEVEL": COG_COMPRESSION_LEVEL,
            "BLOCKSIZE": str(BLOCK_SIZE),
            "OVERVIEW_RESAMPLING": self.overview_resampling,
            "NUM_THREADS": "ALL_CPUS",
            "BIGTIFF": "IF_SAFER",
        }


CLASS_COG = CogProfile(predictor="NO", overview_resampling="MODE")
"""Categorical codes (the cloud mask): differencing class codes gains nothing, and an overview
pixel takes its most frequent class."""

DN_COG = CogProfile(predictor="STANDARD", overview_resampling="NEAREST")
"""Integer digital numbers (the band extract): horizontal differencing, and overviews that keep
real DNs and QA bit patterns (an average of two QA words means nothing)."""

INDEX_COG = CogProfile(
    predictor="FLOATING_POINT", overview_resampling="AVERAGE", overviews_from_blocks=True
)
"""Float32 index values (NDVI): the floating-point predictor, and overviews averaged from the
blocks as they are written."""


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it over `final` only on success."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex}.partial")
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def scratch_path(final: Path) -> Iterator[Path]:
    """A path beside `final` for a tiled scratch GeoTIFF (`SCRATCH_PROFILE`), removed on exit
    with every file named after it (`scratch_sibling`)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = final.with_name(f".{final.name}.{uuid.uuid4().hex}.scratch.tif")
    try:
        yield scratch
    finally:
        for path in (scratch, *scratch.parent.glob(f"{glob.escape(scratch.stem)}.*")):
            path.unlink(missing_ok=True)


def scratch_sibling(scratch: Path, suffix: str) -> Path:
    """A scratch file that goes with `scratch` (and is removed with it), ending in `suffix`."""
    return scratch.with_name(f"{scratch.stem}.{suffix}")


def publish_cog(source: Path, final: Path, cog: CogProfile, *, own_overviews: bool = False) -> None:
    """Copy `source` to a valid COG at `final`; readers see the old file or the new one. With
    `own_overviews`, `source` has every overview level and GDAL copies them as they are."""
    options = cog.creation_options()
    if own_overviews:
        options["OVERVIEWS"] = "FORCE_USE_EXISTING"
    with rasterio.Env(**_PUBLISH_CONFIG), atomic_path(final) as temporary:
        rasterio.shutil.copy(source, temporary, driver="COG", **options)


class AveragedOverviews:
    """A draft's overview levels, averaged from each block as it is written
    (`overviews.block_levels`) into a scratch GeoTIFF per level, and laid over the scratch
    raster by a VRT for the COG driver to copy."""

    def __init__(self, scratch: Path, profile: Mapping[str, Any], factors: tuple[int, ...]):
        self.scratch = scratch
        self.profile = dict(profile)
        self.factors = factors
        self.paths = [scratch_sibling(scratch, f"overview{factor}.tif") for factor in factors]
        self.pixels_added = 0
        self._levels: list[rasterio.io.DatasetWriter] = []

    @classmethod
    def for_raster(cls, scratch: Path, profile: Mapping[str, Any]) -> AveragedOverviews | None:
        """The levels GDAL's COG driver would make for this raster, or None when it needs none
        or a level pixel would span more than a block (rasters over 262,144 pixels a side)."""
        factors = overview_factors(profile["height"], profile["width"])
        if not factors or factors[-1] > BLOCK_SIZE:
            return None
        return cls(scratch, profile, factors)

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        """Every level's scratch file open for writing (`add`) inside the block."""
        with contextlib.ExitStack() as stack:
            self._levels = [
                stack.enter_context(rasterio.open(path, "w", **self._level_profile(factor)))
                for path, factor in zip(self.paths, self.factors, strict=True)
            ]
            try:
                yield
            finally:
                self._levels = []

    def _level_profile(self, factor: int) -> dict[str, Any]:
        height, width = level_shape(self.profile["height"], self.profile["width"], factor)
        transform = self.profile["transform"] @ Affine.scale(factor)
        return {
            **SCRATCH_PROFILE,
            **self.profile,
            "height": height,
            "width": width,
            "transform": transform,
        }

    def add(self, band: int, values: np.ndarray, window: Window) -> None:
        """Write every level's pixels over one block of band `band` (block-aligned `window`)
        to the levels `opened` holds open."""
        if window.row_off % self.factors[-1] or window.col_off % self.factors[-1]:
            raise ValueError(f"{self.scratch.name}: {window} is not aligned to the blocks")
        for dataset, factor, level in zip(
            self._levels, self.factors, block_levels(values, self.factors), strict=True
        ):
            level_window = Window(
                window.col_off // factor, window.row_off // factor, level.shape[1], level.shape[0]
            )
            dataset.write(level[np.newaxis], [band], window=level_window)
        self.pixels_added += values.size

    def layout(self) -> Path:
        """A VRT of the scratch raster (as GDAL describes it: grid, tags, band descriptions)
        with the levels as its overviews. Raises when a block of some band was never added:
        its overview pixels would be empty."""
        expected = self.profile["height"] * self.profile["width"] * self.profile["count"]
        if self.pixels_added != expected:
            raise RuntimeError(
                f"{self.scratch.name}: overviews were averaged from {self.pixels_added:,} of "
                f"{expected:,} pixels; every block must be written with CogDraft.write_band"
            )
        vrt = scratch_sibling(self.scratch, "vrt")
        rasterio.shutil.copy(self.scratch, vrt, driver="VRT")
        tree = ElementTree.parse(vrt)
        for band_element in tree.getroot().iter("VRTRasterBand"):
            for path in self.paths:
                overview = ElementTree.SubElement(band_element, "Overview")
                source = ElementTree.SubElement(overview, "SourceFilename", relativeToVRT="1")
                source.text = path.name
                ElementTree.SubElement(overview, "SourceBand").text = band_element.get("band")
        tree.write(vrt)
        return vrt


class CogDraft:
    """A raster product being written: a tiled scratch GeoTIFF beside its final path, made a
    COG under the final name when the `cog_draft` block ends, unless discarded."""

    def __init__(self, scratch: Path, profile: Mapping[str, Any], cog: CogProfile) -> None:
        self.path = scratch
        self.profile = dict(profile)
        self.cog = cog
        self.discarded = False
        self.overviews = (
            AveragedOverviews.for_raster(scratch, profile) if cog.overviews_from_blocks else None
        )

    @contextlib.contextmanager
    def writer(self) -> Iterator[rasterio.io.DatasetWriter]:
        """The scratch file opened for writing, with `profile` (size, type, grid); write its
        blocks with `write_band` when the draft averages its own overviews."""
        with contextlib.ExitStack() as stack:
            dataset = stack.enter_context(
                rasterio.open(self.path, "w", **SCRATCH_PROFILE, **self.profile)
            )
            if self.overviews is not None:
                stack.enter_context(self.overviews.opened())
            yield dataset

    def write_band(
        self, dataset: rasterio.io.DatasetWriter, band: int, values: np.ndarray, window: Window
    ) -> None:
        """Write one block of one band to the scratch file opened by `writer`, and its share of
        the overviews when the draft averages them."""
        # As a 3-D view with a list of bands: rasterio copies a 2-D array into a new 3-D one
        # first (0.05 s per full scene).
        dataset.write(values[np.newaxis], [band], window=window)
        if self.overviews is not None:
            self.overviews.add(band, values, window)

    def publish(self, final: Path) -> None:
        """Copy the written scratch file, with its overviews, to a COG at `final`."""
        if self.overviews is None:
            publish_cog(self.path, final, self.cog)
        else:
            publish_cog(self.overviews.layout(), final, self.cog, own_overviews=True)

    def updater(self) -> rasterio.io.DatasetWriter:
        """The written scratch file, opened to add what was learnt afterwards (tags)."""
        return rasterio.open(self.path, "r+")

    def discard(self) -> None:
        """Publish nothing: whatever the final path holds stays as it is."""
        self.discarded = True


LOW_SPACE_BYTES = 1024 * 1024
"""Free space below which a failed write is taken for a full disk (GDAL's own message says only
"Write error at scanline 0")."""


@contextlib.contextmanager
def naming_a_full_disk(folder: Path) -> Iterator[None]:
    """A write that failed because the disk holding `folder` is full raises a `StorageError`
    that says so and names the folder; retrying it cannot help."""
    try:
        yield
    except StorageError:
        raise
    except Exception as error:
        if out_of_space(folder, error):
            raise StorageError(
                f"no space left on the device holding {folder}: free some space or point "
                "LANDSAT_STORAGE elsewhere"
            ) from error
        raise


def out_of_space(folder: Path, error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    try:
        return shutil.disk_usage(folder).free < LOW_SPACE_BYTES
    except OSError:
        return False


@contextlib.contextmanager
def cog_draft(out: Path, profile: Mapping[str, Any], cog: CogProfile) -> Iterator[CogDraft]:
    """Write a product through a scratch GeoTIFF, then publish it at `out` as a COG laid out
    by `cog`, atomically. On an error, or after `discard()`, nothing is published and the
    scratch file is removed; a full disk is named as such."""
    with (
        naming_a_full_disk(out.parent),
        rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES),
        scratch_path(out) as scratch,
    ):
        draft = CogDraft(scratch, profile, cog)
        yield draft
        if not draft.discarded:
            draft.publish(out)
