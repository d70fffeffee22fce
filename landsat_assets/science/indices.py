"""Spectral indices of Landsat C2 L2 surface reflectance: their formulas, the bands each
needs, and their values over one block of pixels.

Reflectance is DN * scale + offset, computed in float64 and each index rounded once to
float32, so values do not depend on block size or thread count. An index has a value where
the pixel's mask class is usable, every band it uses has a DN in the valid range
(`VALID_SR_DN_MIN..VALID_SR_DN_MAX`), none of those bands is saturated and the terrain is not
occluded (QA_RADSAT, when the scene has it), and its denominator is positive; elsewhere NaN.

The formulas are USGS's Landsat surface reflectance-derived spectral indices:

| index | formula |
|---|---|
| ndvi | (NIR - R) / (NIR + R) |
| evi | 2.5 (NIR - R) / (NIR + 6 R - 7.5 B + 1) |
| savi | 1.5 (NIR - R) / (NIR + R + 0.5), the soil factor L = 0.5 |
| ndwi | (G - NIR) / (G + NIR) (McFeeters) |
| ndmi | (NIR - SWIR1) / (NIR + SWIR1) |
| nbr | (NIR - SWIR2) / (NIR + SWIR2) |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from landsat_assets.science import qa, radsat
from landsat_assets.science.blocks import BandSource, ScaledBand
from landsat_assets.stac.scene import VALID_SR_DN_MAX, VALID_SR_DN_MIN

Terms = tuple[np.ndarray, np.ndarray]
"""An index's numerator and denominator over a block, float64."""


def _normalized_difference(first: str, second: str) -> Callable[[Mapping[str, np.ndarray]], Terms]:
    def terms(reflectance: Mapping[str, np.ndarray]) -> Terms:
        a, b = reflectance[first], reflectance[second]
        return a - b, a + b

    return terms


def _evi(reflectance: Mapping[str, np.ndarray]) -> Terms:
    nir, red, blue = reflectance["nir08"], reflectance["red"], reflectance["blue"]
    return 2.5 * (nir - red), nir + 6.0 * red - 7.5 * blue + 1.0


def _savi(reflectance: Mapping[str, np.ndarray]) -> Terms:
    nir, red = reflectance["nir08"], reflectance["red"]
    return 1.5 * (nir - red), nir + red + 0.5


@dataclass(frozen=True)
class SpectralIndex:
    name: str
    bands: tuple[str, ...]
    """The surface reflectance bands it is made from (STAC common names)."""
    title: str
    terms: Callable[[Mapping[str, np.ndarray]], Terms] = field(repr=False, compare=False)

    def values(self, reflectance: Mapping[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
        """The index as float32 over a block, NaN where `valid` is False or the denominator
        is not positive."""
        numerator, denominator = self.terms(reflectance)
        result = np.empty(valid.shape, dtype=np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(numerator, denominator, out=result, casting="same_kind")
        result[~(valid & (denominator > 0))] = np.nan
        return result


INDICES: dict[str, SpectralIndex] = {
    index.name: index
    for index in (
        SpectralIndex("ndvi", ("red", "nir08"), "NDVI", _normalized_difference("nir08", "red")),
        SpectralIndex("evi", ("blue", "red", "nir08"), "EVI", _evi),
        SpectralIndex("savi", ("red", "nir08"), "SAVI (L = 0.5)", _savi),
        SpectralIndex("ndwi", ("green", "nir08"), "NDWI", _normalized_difference("green", "nir08")),
        SpectralIndex(
            "ndmi", ("nir08", "swir16"), "NDMI", _normalized_difference("nir08", "swir16")
        ),
        SpectralIndex("nbr", ("nir08", "swir22"), "NBR", _normalized_difference("nir08", "swir22")),
    )
}
"""Every index the platform computes, in the order tables and rasters list them."""

NDVI = INDICES["ndvi"]
REFLECTANCE_BANDS = ("blue", "green", "red", "nir08", "swir16", "swir22")
"""The surface reflectance bands any index reads, in the order `scene_bands` stores them."""


def parse_indices(text: str) -> tuple[str, ...]:
    """A comma-separated list of index names, e.g. ``"ndvi,ndmi"``, in `INDICES` order. NDVI
    is always computed (it has its own raster and summary), so it is always in the result."""
    names = {name.strip().lower() for name in text.split(",") if name.strip()}
    unknown = sorted(names - INDICES.keys())
    if unknown:
        raise ValueError(f"unknown index {', '.join(unknown)}; choose from {', '.join(INDICES)}")
    return tuple(name for name in INDICES if name in names | {"ndvi"})


def in_valid_range(dn: np.ndarray) -> np.ndarray:
    """Where surface reflectance DNs are in USGS's valid range."""
    return (dn >= VALID_SR_DN_MIN) & (dn <= VALID_SR_DN_MAX)


def reflectance_of(dn: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """DN * scale + offset in float64 (one temporary)."""
    values = dn * scale
    values += offset
    return values


def bands_for(indices: Iterable[str]) -> tuple[str, ...]:
    """The reflectance bands the indices read, in `REFLECTANCE_BANDS` order."""
    needed = {band for name in indices for band in INDICES[name].bands}
    return tuple(band for band in REFLECTANCE_BANDS if band in needed)


@dataclass(frozen=True)
class BlockIndices:
    """One block's `MaskClass` codes, each index's values, and per index the number of
    usable pixels it lost to saturation or terrain occlusion (QA_RADSAT)."""

    classes: np.ndarray
    values: dict[str, np.ndarray]
    saturated: dict[str, int]


def block_indices(
    indices: Sequence[SpectralIndex],
    dns: Mapping[str, np.ndarray],
    scales: Mapping[str, tuple[float, float]],
    qa_pixel: np.ndarray,
    usable_lookup: np.ndarray,
    qa_radsat: np.ndarray | None = None,
) -> BlockIndices:
    """The indices of one block from its band DNs (by common name), their (scale, offset),
    QA_PIXEL and the usable-class lookup (`qa.usable_lookup`); `qa_radsat` None when the
    scene has no QA_RADSAT."""
    classes = qa.classify(qa_pixel)
    usable = np.take(usable_lookup, classes)
    bands = bands_for(index.name for index in indices)
    in_range = {band: in_valid_range(dns[band]) for band in bands}
    reflectance = {band: reflectance_of(dns[band], *scales[band]) for band in bands}
    values: dict[str, np.ndarray] = {}
    saturated: dict[str, int] = {}
    for index in indices:
        valid = usable.copy()
        for band in index.bands:
            valid &= in_range[band]
        if qa_radsat is not None:
            blocked = radsat.flagged(qa_radsat, radsat.unusable_bits(index.bands))
            saturated[index.name] = int(np.count_nonzero(valid & blocked))
            valid &= ~blocked
        values[index.name] = index.values(reflectance, valid)
    return BlockIndices(classes, values, saturated)


@dataclass(frozen=True)
class IndexReads:
    """What a pass computing `indices` reads, in order: the reflectance bands they need, then
    QA_PIXEL, then QA_RADSAT when the scene has it; and how each block becomes indices."""

    indices: tuple[SpectralIndex, ...]
    bands: Mapping[str, ScaledBand]
    qa_source: BandSource
    radsat_source: BandSource | None = None

    @property
    def roles(self) -> tuple[str, ...]:
        return bands_for(index.name for index in self.indices)

    @property
    def sources(self) -> list[BandSource]:
        reflectance = [self.bands[role].source for role in self.roles]
        radsat = [] if self.radsat_source is None else [self.radsat_source]
        return [*reflectance, self.qa_source, *radsat]

    def block(self, arrays: Sequence[np.ndarray], usable_lookup: np.ndarray) -> BlockIndices:
        """The indices of one block read from `sources`."""
        roles = self.roles
        return block_indices(
            self.indices,
            dict(zip(roles, arrays, strict=False)),
            {role: self.bands[role].scale for role in roles},
            arrays[len(roles)],
            usable_lookup,
            arrays[len(roles) + 1] if self.radsat_source is not None else None,
        )
