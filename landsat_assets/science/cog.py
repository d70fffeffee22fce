"""Cloud-optimized GeoTIFF output, written so that a crash never leaves a half file.

Products are streamed block by block into a tiled scratch GeoTIFF beside the final
file, then GDAL's COG driver lays out tiles and overviews in one copy, and the
result replaces the final name with an atomic rename.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import rasterio
import rasterio.shutil

from landsat_assets.science.windows import BLOCK_SIZE

SCRATCH_PROFILE: dict[str, Any] = {
    "driver": "GTiff",
    "tiled": True,
    "blockxsize": BLOCK_SIZE,
    "blockysize": BLOCK_SIZE,
    "compress": "NONE",
    "BIGTIFF": "IF_SAFER",
}

COG_COMPRESSION = "DEFLATE"
"""Chosen by measurement (docs/performance.md): ZSTD writes faster but many GIS
tools in the field still ship GDAL builds without it."""


def cog_creation_options(*, predictor: int, resampling: str) -> dict[str, str]:
    return {
        "COMPRESS": COG_COMPRESSION,
        "PREDICTOR": {1: "NO", 2: "STANDARD", 3: "FLOATING_POINT"}[predictor],
        "LEVEL": "6",
        "BLOCKSIZE": str(BLOCK_SIZE),
        "OVERVIEW_RESAMPLING": resampling,
        "NUM_THREADS": "ALL_CPUS",
        "BIGTIFF": "IF_SAFER",
    }


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


def publish_cog(scratch: Path, final: Path, *, predictor: int, resampling: str) -> None:
    """Copy `scratch` to a valid COG at `final`; readers see the old file or the new one."""
    with atomic_path(final) as temporary:
        rasterio.shutil.copy(
            scratch,
            temporary,
            driver="COG",
            **cog_creation_options(predictor=predictor, resampling=resampling),
        )
