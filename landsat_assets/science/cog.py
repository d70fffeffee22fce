"""Cloud-optimized GeoTIFF output, written so that a crash never leaves a half file.

Products are streamed block by block into a tiled scratch GeoTIFF beside the final
file, then GDAL's COG driver lays out tiles and overviews in one copy, and the
result replaces the final name with an atomic rename.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rasterio
import rasterio.io
import rasterio.shutil

from landsat_assets.errors import StorageError
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

INDEX_COG = CogProfile(predictor="FLOATING_POINT", overview_resampling="AVERAGE")
"""Float32 index values (NDVI): the floating-point predictor, and averaged overviews."""


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
    """A path beside `final` for a tiled scratch GeoTIFF (`SCRATCH_PROFILE`), removed on exit."""
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = final.with_name(f".{final.name}.{uuid.uuid4().hex}.scratch.tif")
    try:
        yield scratch
    finally:
        scratch.unlink(missing_ok=True)


def publish_cog(scratch: Path, final: Path, cog: CogProfile) -> None:
    """Copy `scratch` to a valid COG at `final`; readers see the old file or the new one."""
    with rasterio.Env(**_PUBLISH_CONFIG), atomic_path(final) as temporary:
        rasterio.shutil.copy(scratch, temporary, driver="COG", **cog.creation_options())


class CogDraft:
    """A raster product being written: a tiled scratch GeoTIFF beside its final path, made a
    COG under the final name when the `cog_draft` block ends, unless discarded."""

    def __init__(self, scratch: Path, profile: Mapping[str, Any]) -> None:
        self.path = scratch
        self.profile = dict(profile)
        self.discarded = False

    def writer(self) -> rasterio.io.DatasetWriter:
        """The scratch file opened for writing, with `profile` (size, type, grid)."""
        return rasterio.open(self.path, "w", **SCRATCH_PROFILE, **self.profile)

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
        draft = CogDraft(scratch, profile)
        yield draft
        if not draft.discarded:
            publish_cog(scratch, out, cog)
