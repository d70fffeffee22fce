"""Pixel windows: which part of a scene an area of interest needs, block by block."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import rasterio.features
import rasterio.warp
from rasterio.errors import WindowError
from rasterio.io import DatasetReader
from rasterio.windows import Window

BLOCK_SIZE = 512


@dataclass(frozen=True)
class AoiWindow:
    """The scene window covering an AOI and which of its pixels lie inside the polygon.

    `inside` is None when every pixel of the window counts (no AOI, or an AOI that
    covers the whole window), so whole-scene runs carry no mask array at all.
    """

    window: Window
    inside: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.window.height), int(self.window.width)

    def inside_block(self, block: Window) -> np.ndarray | None:
        if self.inside is None:
            return None
        rows, cols = block.toslices()
        return self.inside[rows, cols]


def full_window(dataset: DatasetReader) -> AoiWindow:
    return AoiWindow(Window(0, 0, dataset.width, dataset.height), None)


def aoi_window(dataset: DatasetReader, aoi_wgs84: Mapping[str, Any] | None) -> AoiWindow | None:
    """The window of `dataset` that covers `aoi_wgs84` (a GeoJSON geometry), or None if
    the AOI misses the scene. Pixels are snapped outward to the scene's own grid, so
    the scene keeps its CRS and pixels are never resampled."""
    if aoi_wgs84 is None:
        return full_window(dataset)
    geometry = rasterio.warp.transform_geom("EPSG:4326", dataset.crs, aoi_wgs84)
    try:
        window = rasterio.features.geometry_window(dataset, [geometry])
    except WindowError:
        return None
    window = window.intersection(Window(0, 0, dataset.width, dataset.height))
    height, width = int(window.height), int(window.width)
    if height == 0 or width == 0:
        return None
    inside = rasterio.features.geometry_mask(
        [geometry],
        out_shape=(height, width),
        transform=dataset.window_transform(window),
        invert=True,
        all_touched=False,
    )
    if not inside.any():
        return None
    return AoiWindow(window, None if inside.all() else inside)


def block_windows(height: int, width: int, block: int = BLOCK_SIZE) -> Iterator[Window]:
    """Windows of at most `block` x `block` pixels aligned to the output's tile grid."""
    for row in range(0, height, block):
        for col in range(0, width, block):
            yield Window(col, row, min(block, width - col), min(block, height - row))
