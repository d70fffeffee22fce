"""Every spectral index against its formula written out pixel by pixel in plain Python, the
saturation bits against USGS's QA_RADSAT layout, and the multi-index raster against both."""

import math

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from landsat_assets.science import qa
from landsat_assets.science.blocks import BandSource, ScaledBand
from landsat_assets.science.indices import (
    INDICES,
    NDVI,
    bands_for,
    block_indices,
    dns_match_reflectance,
    normalized_difference_of_dns,
    parse_indices,
)
from landsat_assets.science.ndvi import SATURATED_COUNT_TAG, write_index_raster
from landsat_assets.science.radsat import unusable_bits
from landsat_assets.stac.scene import USGS_SR_OFFSET, USGS_SR_SCALE
from landsat_assets_tests.support.rasters import write_band

SHAPE = (6, 6)
CLEAR, CLOUD, FILL = 21824, 22280, 1
"""QA_PIXEL values: clear land (low confidences), cloud (high confidence), fill."""

BANDS = ("blue", "green", "red", "nir08", "swir16", "swir22")
USGS = (USGS_SR_SCALE, USGS_SR_OFFSET)


def reflectance(dn: int) -> float:
    return dn * USGS_SR_SCALE + USGS_SR_OFFSET


def written_out(name: str, b: float, g: float, r: float, n: float, s1: float, s2: float):
    """The USGS formula of index `name` as (numerator, denominator), one pixel at a time."""
    return {
        "ndvi": (n - r, n + r),
        "evi": (2.5 * (n - r), n + 6 * r - 7.5 * b + 1),
        "savi": ((n - r) * 1.5, n + r + 0.5),
        "ndwi": (g - n, g + n),
        "ndmi": (n - s1, n + s1),
        "nbr": (n - s2, n + s2),
    }[name]


def reference(name: str, dns: dict[str, np.ndarray], qa_pixel: np.ndarray, radsat=None):
    """Index `name` pixel by pixel: clear QA (bits 0-4 zero), the index's bands in the valid
    DN range and not saturated (QA_RADSAT bit of the OLI band, or terrain occlusion), a
    positive denominator; NaN elsewhere."""
    needed = INDICES[name].bands
    oli_bit = {"blue": 1, "green": 2, "red": 3, "nir08": 4, "swir16": 5, "swir22": 6}
    out = np.full(qa_pixel.shape, np.nan)
    for position in np.ndindex(qa_pixel.shape):
        values = {band: int(dns[band][position]) for band in BANDS}
        if int(qa_pixel[position]) & 0b11111:
            continue
        if any(not 7273 <= values[band] <= 43636 for band in needed):
            continue
        if radsat is not None:
            flags = int(radsat[position])
            if flags & (1 << 11) or any(flags & (1 << oli_bit[band]) for band in needed):
                continue
        numerator, denominator = written_out(name, *(reflectance(values[band]) for band in BANDS))
        if denominator > 0:
            out[position] = numerator / denominator
    return out


dn_values = st.one_of(st.integers(0, 65535), st.integers(7000, 44000))
band_arrays = arrays(np.uint16, SHAPE, elements=dn_values)
qa_arrays = arrays(np.uint16, SHAPE, elements=st.sampled_from([CLEAR, CLOUD, FILL, 21952, 30048]))
radsat_arrays = arrays(
    np.uint16, SHAPE, elements=st.sampled_from([0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 256, 2048, 24])
)


@settings(max_examples=40, deadline=None)
@given(
    st.fixed_dictionaries({band: band_arrays for band in BANDS}),
    qa_arrays,
    st.one_of(st.none(), radsat_arrays),
)
def test_every_index_matches_its_written_out_formula(dns, qa_pixel, radsat):
    block = block_indices(
        list(INDICES.values()),
        dns,
        dict.fromkeys(BANDS, USGS),
        qa_pixel,
        qa.usable_lookup(qa.DEFAULT_USABLE_CLASSES),
        radsat,
    )
    for name in INDICES:
        got, expected = block.values[name], reference(name, dns, qa_pixel, radsat)
        assert got.dtype == np.float32
        assert np.array_equal(np.isnan(got), np.isnan(expected)), name
        valid = ~np.isnan(expected)
        np.testing.assert_allclose(got[valid], expected[valid], rtol=1e-6, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.fixed_dictionaries({band: band_arrays for band in BANDS}), radsat_arrays)
def test_saturation_counts_the_usable_pixels_it_masks(dns, radsat):
    clear = np.full(SHAPE, CLEAR, dtype=np.uint16)
    lookup = qa.usable_lookup(qa.DEFAULT_USABLE_CLASSES)
    block = block_indices(
        list(INDICES.values()), dns, dict.fromkeys(BANDS, USGS), clear, lookup, radsat
    )
    unmasked = block_indices(list(INDICES.values()), dns, dict.fromkeys(BANDS, USGS), clear, lookup)
    assert unmasked.saturated == {}
    for name, index in INDICES.items():
        in_range = np.ones(SHAPE, dtype=bool)
        for band in index.bands:
            in_range &= (dns[band] >= 7273) & (dns[band] <= 43636)
        flagged = (radsat & unusable_bits(index.bands)) != 0
        assert block.saturated[name] == int((in_range & flagged).sum()), name
        lost = ~np.isnan(unmasked.values[name]) & np.isnan(block.values[name])
        assert lost.sum() <= block.saturated[name]


def test_the_saturation_bits_of_each_index():
    # USGS: bit n-1 is OLI band n (blue 2, green 3, red 4, NIR 5, SWIR 6 and 7); bit 11 is
    # terrain occlusion.
    occlusion = 1 << 11
    assert unusable_bits(INDICES["ndvi"].bands) == occlusion | 0b11000
    assert unusable_bits(INDICES["evi"].bands) == occlusion | 0b11010
    assert unusable_bits(INDICES["ndwi"].bands) == occlusion | 0b10100
    assert unusable_bits(INDICES["ndmi"].bands) == occlusion | 0b110000
    assert unusable_bits(INDICES["nbr"].bands) == occlusion | 0b1010000


def test_indices_are_parsed_in_table_order_with_ndvi_always():
    assert parse_indices("nbr, EVI") == ("ndvi", "evi", "nbr")
    assert parse_indices("ndvi") == ("ndvi",)
    assert bands_for(("ndvi", "ndmi")) == ("red", "nir08", "swir16")
    with pytest.raises(ValueError, match="unknown index ndsi; choose from ndvi, evi"):
        parse_indices("ndvi,ndsi")


def test_a_multi_index_raster_holds_each_index_and_its_statistics(tmp_path):
    rng = np.random.default_rng(3)
    shape = (300, 280)
    dns = {band: rng.integers(8000, 30000, shape, dtype=np.uint16) for band in BANDS}
    qa_pixel = np.full(shape, CLEAR, dtype=np.uint16)
    qa_pixel[:40] = CLOUD
    radsat = np.zeros(shape, dtype=np.uint16)
    radsat[100:110, :] = 1 << 1  # blue saturated: EVI loses these pixels, NDMI does not
    paths = {band: write_band(tmp_path / f"{band}.tif", dns[band]) for band in BANDS}
    qa_path = write_band(tmp_path / "qa.tif", qa_pixel)
    radsat_path = write_band(tmp_path / "radsat.tif", radsat)
    chosen = [INDICES["evi"], INDICES["ndmi"]]

    result = write_index_raster(
        "scene",
        {band: ScaledBand(BandSource(path), USGS) for band, path in paths.items()},
        BandSource(qa_path),
        tmp_path / "out.tif",
        indices=chosen,
        radsat_source=BandSource(radsat_path),
        workers=2,
    )

    assert result.saturated == {"evi": 10 * 280, "ndmi": 0}
    with rasterio.open(tmp_path / "out.tif") as out:
        assert out.descriptions == ("evi", "ndmi")
        assert "QA_RADSAT applied" in out.tags()["SATURATION"]
        for number, index in enumerate(chosen, start=1):
            values = out.read(number)
            expected = reference(
                index.name, {b: d[:6, :6] for b, d in dns.items()}, qa_pixel[:6, :6]
            )
            assert np.array_equal(np.isnan(values[:6, :6]), np.isnan(expected))
            valid = values[~np.isnan(values)].astype(np.float64)
            statistics = result.statistics[index.name]
            assert statistics["valid_pixel_count"] == valid.size
            assert statistics[f"{index.name}_mean"] == pytest.approx(valid.mean(), rel=1e-9)
            assert statistics[f"{index.name}_median"] == float(np.median(valid))
            assert out.tags(number)[SATURATED_COUNT_TAG] == str(result.saturated[index.name])
            assert math.isclose(float(out.tags(number)["STATISTICS_MEAN"]), valid.mean())


def float64_normalized_difference(first, second, scale, offset):
    """(a - b) / (a + b) written out in float64 from reflectances, rounded once to float32;
    NaN unless both DNs are in the valid range and the denominator is positive."""
    a = first.astype(np.float64) * scale + offset
    b = second.astype(np.float64) * scale + offset
    valid = (first >= 7273) & (first <= 43636) & (second >= 7273) & (second <= 43636)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = ((a - b) / (a + b)).astype(np.float32)
    return np.where(valid & (a + b > 0), values, np.float32(np.nan))


def assert_matches_float64(got, expected):
    assert got.dtype == np.float32
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    valid = ~np.isnan(expected)
    difference = np.abs(got[valid].astype(np.float64) - expected[valid])
    assert np.all(difference <= 1e-6)


# Dark pixels have the smallest denominators: with USGS's scale and offset, a + b is
# 1.5e-5 at red = NIR = 7273 and the index there swings by 0.6 per DN.
dark_or_any_dn = st.one_of(
    st.integers(0, 65535), st.integers(7273, 7400), st.integers(43500, 43636)
)
scales_and_offsets = st.one_of(
    st.just(USGS),
    st.tuples(st.floats(1e-6, 1e-2), st.floats(-1.0, 1.0)),
    # offsets that put the reflectance of the lowest valid DN near zero, either side of the
    # margin `dns_match_reflectance` asks for
    st.tuples(st.floats(1e-5, 1e-4), st.floats(-1e-6, 1e-6)).map(
        lambda pair: (pair[0], -7273 * pair[0] * (1 - pair[1]))
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.uint16, (16, 16), elements=dark_or_any_dn),
    arrays(np.uint16, (16, 16), elements=dark_or_any_dn),
    scales_and_offsets,
)
def test_normalized_differences_match_the_float64_reflectance_formula(red, nir, scale):
    """Whichever way `block_indices` computes NDVI for this scale and offset (from the DNs
    where `dns_match_reflectance` allows, from float64 reflectances elsewhere), it equals
    the formula written out in float64 to 1e-6, and the DN way to one float32 step."""
    clear = np.full(red.shape, CLEAR, dtype=np.uint16)
    lookup = qa.usable_lookup(qa.DEFAULT_USABLE_CLASSES)
    scales = dict.fromkeys(("red", "nir08"), scale)
    got = block_indices([NDVI], {"red": red, "nir08": nir}, scales, clear, lookup).values["ndvi"]
    expected = float64_normalized_difference(nir, red, *scale)
    assert_matches_float64(got, expected)
    if dns_match_reflectance(*scale):
        valid = ~np.isnan(expected)
        assert np.all(np.abs(got[valid] - expected[valid]) <= np.abs(np.spacing(expected[valid])))


def test_every_pair_of_dark_dns_matches_the_float64_formula():
    """All 90,000 pairs of the 300 darkest valid DNs, where denominators are smallest."""
    assert dns_match_reflectance(*USGS)
    dark = np.arange(7273, 7573, dtype=np.uint16)
    red, nir = (grid.copy() for grid in np.meshgrid(dark, dark))
    got = normalized_difference_of_dns(nir, red, *USGS)
    expected = float64_normalized_difference(nir, red, *USGS)
    assert_matches_float64(got, expected)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize(
    "usable",
    [qa.DEFAULT_USABLE_CLASSES, {qa.MaskClass.CLEAR}, set(qa.MaskClass) - {qa.MaskClass.FILL}],
)
def test_classes_and_usable_pixels_come_from_one_lookup_as_from_two(usable):
    every_qa_value = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    lookup = qa.usable_lookup(usable)
    classes, usable_pixels = qa.classes_and_usable(every_qa_value, lookup)
    expected = qa.classify(every_qa_value)
    assert classes.dtype == np.uint8 and usable_pixels.dtype == bool
    assert np.array_equal(classes, expected)
    assert np.array_equal(usable_pixels, lookup[expected])
