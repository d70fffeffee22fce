"""Averaged overview levels of a float raster, built from its blocks as they are written.

GDAL's COG driver makes a product's AVERAGE overviews by reading the finished raster back,
averaging it into a temporary compressed file and copying that file into the COG: a
full-scene NDVI's copy took 1.71-1.74 s of CPU with them, 0.76-0.79 s without overviews and
1.06-1.07 s given the levels (docs/performance.md). Every block is in memory once, when it
is written; its share of every level costs little more than summing its pixels in pairs
(0.15 s per full scene). The levels go to scratch GeoTIFFs that the COG driver copies as
they are (`OVERVIEWS=FORCE_USE_EXISTING`).

A level's pixel is the mean of the valid (non-NaN) raster pixels it covers, NaN when there
are none: level `f` (a power of two) covers `f` x `f` raster pixels from the origin, so its
size is the raster's divided by `f`, rounded up, and its last row and column cover what is
left of the raster.
"""

from __future__ import annotations

import numpy as np

from landsat_assets.science.windows import BLOCK_SIZE


def overview_factors(height: int, width: int, block_size: int = BLOCK_SIZE) -> tuple[int, ...]:
    """The overview factors GDAL's COG driver gives a raster of this size with this block
    size: halve until the level, as GDAL rounds it (down), fits in one block."""
    factors: list[int] = []
    factor = 1
    while height // factor > block_size or width // factor > block_size:
        factor *= 2
        factors.append(factor)
    return tuple(factors)


def level_shape(height: int, width: int, factor: int) -> tuple[int, int]:
    """The size of the level that averages `factor` x `factor` raster pixels."""
    return -(-height // factor), -(-width // factor)


def block_levels(values: np.ndarray, factors: tuple[int, ...]) -> list[np.ndarray]:
    """Each level's pixels over one block of float `values` (NaN = no value), whose origin in
    the raster is a multiple of every factor: float32, NaN where no pixel is valid.

    Sums and counts are summed in pairs from level to level; the sums in float64, so a
    level's mean is that of the float32 values it covers, rounded once to float32."""
    missing = np.isnan(values)
    sums = values.copy()
    np.copyto(sums, 0, where=missing)  # twice as fast as np.where on a mostly valid block
    counts = (~missing).view(np.uint8)
    levels = []
    reached = 1
    for factor in factors:
        while reached < factor:
            sums, counts = _sum_pairs(sums, np.float64), _sum_pairs(counts, np.int32)
            reached *= 2
        with np.errstate(invalid="ignore"):
            levels.append((sums / counts).astype(np.float32))
    return levels


def _sum_pairs(values: np.ndarray, dtype: type[np.generic]) -> np.ndarray:
    """Sums of each 2 x 2 square, as `dtype` (the last row or column alone when the size is
    odd)."""
    height, width = values.shape
    if height % 2 or width % 2:
        padded = np.zeros((height + height % 2, width + width % 2), dtype=values.dtype)
        padded[:height, :width] = values
        values = padded
    rows = np.add(values[0::2], values[1::2], dtype=dtype)
    return rows[:, 0::2] + rows[:, 1::2]
