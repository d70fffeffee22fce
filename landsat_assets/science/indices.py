"""Spectral indices of Landsat C2 L2 surface reflectance: their formulas, the bands each
needs, and their values over one block of pixels.

Reflectance is DN * scale + offset, computed in float64 and each index rounded once to
float32, so values do not depend on block size or thread count. A normalized difference of two
bands with the same scale and offset skips the reflectances: (a - b) / (a + b) is
(A - B) / (A + B + 2 offset / scale) in DNs A and B, with the numerator exact in float32 and
one float64 addition in the denominator (`normalized_difference_of_dns`, 0.3-0.5 s less CPU
per full-scene NDVI; docs/performance.md). Where `dns_match_reflectance` holds, both ways
agree to 4e-10 before the rounding to float32, so their float32 values differ by at most one
float32 step (6e-8 for an index below 1 in size), and only where the exact value lies within
4e-10 of a rounding boundary: not one pixel of the two full-size bench scenes.

An index has a value where the pixel's mask class is usable, every band it uses has a DN in
the valid range (`VALID_SR_DN_MIN..VALID_SR_DN_MAX`), none of those bands is saturated and the
terrain is not occluded (QA_RADSAT, when the scene has it), and its denominator is positive;
elsewhere NaN.

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
from typing import TYPE_CHECKING

import numpy as np

from landsat_assets.science import qa, radsat
from landsat_assets.stac.scene import VALID_SR_DN_MAX, VALID_SR_DN_MIN

if TYPE_CHECKING:
    # Types only: loading the settings (every command) imports this module, and the
    # `ndvi` command decides how rasterio is imported after that (`science.remote`).
    from landsat_assets.science.blocks import BandSource, ScaledBand

Terms = tuple[np.ndarray, np.ndarray]
"""An index's numerator and denominator over a block, float64."""

REFLECTANCE_BANDS = ("blue", "green", "red", "nir08", "swir16", "swir22")
"""The surface reflectance bands any index reads, in the order `scene_bands` stores them."""


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
    difference: tuple[str, str] | None = None
    """(A, B) when the index is the normalized difference (A - B) / (A + B) of two bands,
    which `values_from_dns` computes without reflectances."""

    def values(self, reflectance: Mapping[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
        """The index as float32 over a block, NaN where `valid` is False or the denominator
        is not positive."""
        numerator, denominator = self.terms(reflectance)
        result = np.empty(valid.shape, dtype=np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(numerator, denominator, out=result, casting="same_kind")
        result[~(valid & (denominator > 0))] = np.nan
        return result

    def values_from_dns(
        self, dns: Mapping[str, np.ndarray], scale: tuple[float, float], valid: np.ndarray
    ) -> np.ndarray:
        """A normalized difference as float32 over a block from its two bands' DNs, which
        share `scale` (scale, offset) with `dns_match_reflectance(*scale)`; NaN where `valid`
        is False (every valid pixel has a positive denominator)."""
        assert self.difference is not None
        first, second = self.difference
        result = normalized_difference_of_dns(dns[first], dns[second], *scale)
        result[~valid] = np.nan
        return result


def _normalized_difference(name: str, title: str, first: str, second: str) -> SpectralIndex:
    """The index (first - second) / (first + second)."""

    def terms(reflectance: Mapping[str, np.ndarray]) -> Terms:
        a, b = reflectance[first], reflectance[second]
        return a - b, a + b

    bands = tuple(band for band in REFLECTANCE_BANDS if band in (first, second))
    return SpectralIndex(name, bands, title, terms, difference=(first, second))


INDICES: dict[str, SpectralIndex] = {
    index.name: index
    for index in (
        _normalized_difference("ndvi", "NDVI", "nir08", "red"),
        SpectralIndex("evi", ("blue", "red", "nir08"), "EVI", _evi),
        SpectralIndex("savi", ("red", "nir08"), "SAVI (L = 0.5)", _savi),
        _normalized_difference("ndwi", "NDWI", "green", "nir08"),
        _normalized_difference("ndmi", "NDMI", "nir08", "swir16"),
        _normalized_difference("nbr", "NBR", "nir08", "swir22"),
    )
}
"""Every index the platform computes, in the order tables and rasters list them."""

NDVI = INDICES["ndvi"]


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


DN_PATH_MARGIN = 2.0**-20
"""`dns_match_reflectance` asks the lowest valid reflectance to be at least this fraction of
|offset|; it bounds the float64 rounding errors of both computations (see there)."""


def dns_match_reflectance(scale: float, offset: float) -> bool:
    """Whether `normalized_difference_of_dns` stands for the reflectance formula of a
    normalized difference of two bands with this scale and offset.

    It does when the reflectance of every valid DN is positive and at least
    `DN_PATH_MARGIN` |offset|: then every valid pixel has a positive denominator (no pixel
    needs the test), the index lies in (-1, 1), and the float64 rounding errors before the
    float32 rounding stay below 2^-53 (7 + 2 |offset| / lowest) <= 2.4e-10 of the index for
    the reflectance formula and 2^-53 (2 + |offset| / lowest) for the DN one, lowest being
    the reflectance of `VALID_SR_DN_MIN` (USGS's scale and offset: 6e-12 and 3e-12)."""
    lowest = VALID_SR_DN_MIN * scale + offset
    return scale > 0 and lowest > 0 and lowest >= abs(offset) * DN_PATH_MARGIN


def normalized_difference_of_dns(
    first: np.ndarray, second: np.ndarray, scale: float, offset: float
) -> np.ndarray:
    """(a - b) / (a + b) of the reflectances a and b of DNs `first` and `second` (one scale
    and offset for both), float32: (A - B) / (A + B + 2 offset / scale) in the DNs. The
    difference of two 16-bit DNs is exact in float32, their sum in float64, so the only
    roundings are the offset's, the denominator's and the quotient's."""
    values = np.subtract(first, second, dtype=np.float32)
    denominator = np.add(first, second, dtype=np.float64)
    denominator += 2 * offset / scale
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(values, denominator, out=values, casting="same_kind")


def _dn_scale(
    index: SpectralIndex, scales: Mapping[str, tuple[float, float]]
) -> tuple[float, float] | None:
    """The (scale, offset) a normalized difference's two bands share when `values_from_dns`
    may compute it; None otherwise."""
    if index.difference is None:
        return None
    first, second = (scales[band] for band in index.difference)
    return first if first == second and dns_match_reflectance(*first) else None


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
    classes, usable = qa.classes_and_usable(qa_pixel, usable_lookup)
    in_range = {band: in_valid_range(dns[band]) for band in bands_for(i.name for i in indices)}
    dn_scales = {index.name: _dn_scale(index, scales) for index in indices}
    reflectance = {
        band: reflectance_of(dns[band], *scales[band])
        for band in bands_for(name for name, scale in dn_scales.items() if scale is None)
    }
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
        dn_scale = dn_scales[index.name]
        values[index.name] = (
            index.values(reflectance, valid)
            if dn_scale is None
            else index.values_from_dns(dns, dn_scale, valid)
        )
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
