"""Statistics of index values in bounded memory, and their home in a raster's GDAL tags."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from landsat_assets.science.spill import DEFAULT_BUDGET_BYTES, SpilledChunks


def _sortable_keys(values: np.ndarray) -> np.ndarray:
    """Map float32 values to uint32 keys whose unsigned order is the float order."""
    bits = values.view(np.uint32)
    negative = (bits & np.uint32(0x8000_0000)) != 0
    return np.where(negative, ~bits, bits | np.uint32(0x8000_0000))


def _raw_high_for_key_high() -> np.ndarray:
    """For each high 16 bits of a sort key, the high 16 bits of the float32 it comes from:
    the histogram is counted on the raw bits (no per-pixel key) and reordered once, when the
    median is asked for."""
    key_high = np.arange(65536, dtype=np.int64)
    return np.where(key_high >= 0x8000, key_high & 0x7FFF, 0xFFFF - key_high)


_RAW_HIGH_FOR_KEY_HIGH = _raw_high_for_key_high()


_KEPT = "values"
"""The one key of `IndexStatistics.kept`."""


def _key_to_float(key: int) -> float:
    bits = (key & 0x7FFF_FFFF) if key & 0x8000_0000 else (~key & 0xFFFF_FFFF)
    return float(np.array([bits], dtype=np.uint32).view(np.float32)[0])


@dataclass
class IndexStatistics:
    """Count, mean, std (population), min, max and exact median of an index's valid values.

    Mean and variance are merged block by block (Chan et al.), and the median is an exact
    radix select over the float32 bit patterns: one 65,536-bin histogram of the high 16 bits
    while blocks stream by, then `median` goes once over the valid values, kept aside as they
    came (`SpilledChunks`: in memory up to `budget_bytes`, in an anonymous scratch file
    beyond), and counts the low 16 bits of those in the bins that hold the middle ranks.
    Reading the values back from the written raster instead cost twice the CPU (GDAL's
    reads and the NaN filtering: 0.37-0.43 s against 0.18-0.25 s per full-scene NDVI,
    docs/performance.md).
    """

    budget_bytes: int = DEFAULT_BUDGET_BYTES
    """Valid values held in memory; beyond, they go to a scratch file until `median`."""
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    minimum: float = float("inf")
    maximum: float = float("-inf")
    raw_high_histogram: np.ndarray = field(default_factory=lambda: np.zeros(65536, dtype=np.int64))
    """Values per high 16 bits of their float32 bit pattern."""
    kept: SpilledChunks = field(init=False, repr=False)
    """The valid values of each block, which `median` reads back one block at a time."""

    def __post_init__(self) -> None:
        self.kept = SpilledChunks(self.budget_bytes)

    def add(self, block: np.ndarray) -> None:
        values = block[~np.isnan(block)]
        n = values.size
        if n == 0:
            return
        squared_deviations = values.astype(np.float64)
        block_mean = float(squared_deviations.mean())
        squared_deviations -= block_mean
        squared_deviations *= squared_deviations
        block_m2 = float(squared_deviations.sum())
        total = self.count + n
        delta = block_mean - self.mean
        self.mean += delta * n / total
        self.m2 += block_m2 + delta * delta * self.count * n / total
        self.kept.append(_KEPT, values)
        self.count = total
        self.minimum = min(self.minimum, float(values.min()))
        self.maximum = max(self.maximum, float(values.max()))
        self.raw_high_histogram += np.bincount(
            values.view(np.uint32) >> np.uint32(16), minlength=65536
        )

    @property
    def std(self) -> float:
        return (self.m2 / self.count) ** 0.5 if self.count else float("nan")

    def median_ranks(self) -> tuple[int, int]:
        """Zero-based ranks whose mean is the median (equal for an odd count)."""
        return (self.count - 1) // 2, self.count // 2

    def high_bins_for(self, ranks: tuple[int, ...]) -> dict[int, int]:
        """For each rank, the high 16-bit bin holding it, mapped to that bin's first rank."""
        cumulative = np.cumsum(self.raw_high_histogram[_RAW_HIGH_FOR_KEY_HIGH])
        bins: dict[int, int] = {}
        for rank in ranks:
            high = int(np.searchsorted(cumulative, rank, side="right"))
            bins[high] = int(cumulative[high - 1]) if high else 0
        return bins

    def median(self) -> float:
        """The exact median of every value added, from the values kept aside, which it then
        drops to free their memory: call it once, after the last `add`."""
        try:
            return self._median_of(self.kept.chunks(_KEPT))
        finally:
            self.kept.close()

    def _median_of(self, chunks: Iterable[np.ndarray]) -> float:
        if self.count == 0:
            return float("nan")
        ranks = self.median_ranks()
        bins = self.high_bins_for(ranks)
        low_histograms = {high: np.zeros(65536, dtype=np.int64) for high in bins}
        # A high bin is a contiguous range of floats, so two comparisons pick a superset of
        # its values and only those get sort keys; the key test below stays the exact one.
        first = _key_to_float(min(bins) << 16)
        last = _key_to_float((max(bins) << 16) | 0xFFFF)
        bounded = not (math.isnan(first) or math.isnan(last))
        for chunk in chunks:
            values = chunk[(chunk >= first) & (chunk <= last)] if bounded else chunk
            if values.size == 0:
                continue
            keys = _sortable_keys(values)
            high = keys >> np.uint32(16)
            for bin_high, histogram in low_histograms.items():
                selected = keys[high == bin_high] & np.uint32(0xFFFF)
                if selected.size:
                    histogram += np.bincount(selected.astype(np.int64), minlength=65536)
        picked = []
        for rank in ranks:
            for bin_high, first_rank in bins.items():
                cumulative = np.cumsum(low_histograms[bin_high])
                offset = rank - first_rank
                if 0 <= offset < cumulative[-1]:
                    low = int(np.searchsorted(cumulative, offset, side="right"))
                    picked.append(_key_to_float((bin_high << 16) | low))
                    break
        return float((np.float64(picked[0]) + np.float64(picked[1])) / 2)

    def as_dict(self, median: float, index: str = "ndvi") -> dict[str, float | int]:
        """The statistics under the table's column names (`valid_pixel_count`, `<index>_mean`,
        ...)."""
        empty = self.count == 0
        return {
            "valid_pixel_count": self.count,
            f"{index}_mean": float("nan") if empty else self.mean,
            f"{index}_median": median,
            f"{index}_std": self.std,
            f"{index}_min": float("nan") if empty else self.minimum,
            f"{index}_max": float("nan") if empty else self.maximum,
        }


SCENE_STATISTICS = ("mean", "median", "std", "min", "max")
"""The statistics of an index over a scene's AOI, named `<index>_<statistic>` in tables."""

_GDAL_STATISTICS_TAGS = {
    "mean": "STATISTICS_MEAN",
    "std": "STATISTICS_STDDEV",
    "min": "STATISTICS_MINIMUM",
    "max": "STATISTICS_MAXIMUM",
    "median": "STATISTICS_MEDIAN",
}
"""An index's statistics as GDAL band metadata, so GIS tools (and the summary) read them for
free; the count of valid values is `STATISTICS_VALID_COUNT`."""
_VALID_COUNT_TAG = "STATISTICS_VALID_COUNT"


def statistics_tags(statistics: Mapping[str, float | int], index: str = "ndvi") -> dict[str, str]:
    """The band tags of an index's statistics (`as_dict` keys)."""
    return {
        _VALID_COUNT_TAG: repr(statistics["valid_pixel_count"]),
        **{tag: repr(statistics[f"{index}_{name}"]) for name, tag in _GDAL_STATISTICS_TAGS.items()},
    }


def statistics_from_tags(tags: Mapping[str, str], index: str = "ndvi") -> dict[str, float | int]:
    """The statistics `statistics_tags` wrote, under `as_dict`'s keys."""
    return {
        "valid_pixel_count": int(float(tags[_VALID_COUNT_TAG])),
        **{f"{index}_{name}": float(tags[tag]) for name, tag in _GDAL_STATISTICS_TAGS.items()},
    }
