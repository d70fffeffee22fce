"""The processing chain on real USGS scenes, and bad band files that must fail clearly."""

from pathlib import Path

import numpy as np
import pytest
import rasterio

from landsat_assets.errors import SceneInputError, TransientReadError
from landsat_assets.science.bands import (
    QA_OUTSIDE_AOI,
    extract_scene_bands,
    open_scene_bands,
    read_failure,
)
from landsat_assets.science.blocks import BandSource
from landsat_assets.science.masks import write_cloud_mask
from landsat_assets.science.ndvi import write_ndvi
from landsat_assets.science.qa import MaskClass
from landsat_assets.stac.scene import USGS_SR_OFFSET, USGS_SR_SCALE
from landsat_assets_tests.support.rasters import reference_ndvi, synthetic_scene, write_band

USGS = (USGS_SR_SCALE, USGS_SR_OFFSET)
STACTOOLS_SCENES = {
    "assets3": "LC08_L2SP_008059_20191201_20200825_02_T1",
    "assets": "LC08_L2SP_005009_20150710_20200908_02_T2",
    "assets2": "LC08_L2SR_099120_20191129_20201016_02_T2",
    "assets4": "LC08_L2SP_017036_20130419_20200913_02_T2",
}


def scene_hrefs(folder: Path, product: str) -> dict[str, str]:
    return {
        "red": str(folder / f"{product}_SR_B4.TIF"),
        "nir08": str(folder / f"{product}_SR_B5.TIF"),
        "qa_pixel": str(folder / f"{product}_QA_PIXEL.TIF"),
    }


@pytest.mark.realworld
@pytest.mark.parametrize("folder", sorted(STACTOOLS_SCENES))
def test_real_scene_matches_plain_numpy(realworld, tmp_path, folder):
    product = STACTOOLS_SCENES[folder]
    hrefs = scene_hrefs(realworld / "stactools-landsat" / folder, product)
    bands_path = tmp_path / "bands.tif"
    extract = extract_scene_bands(product, hrefs, bands_path, aoi_wgs84=None)
    assert extract is not None
    summary = write_cloud_mask(product, BandSource(str(bands_path), 3), tmp_path / "mask.tif")
    result = write_ndvi(
        product,
        BandSource(str(bands_path), 1),
        BandSource(str(bands_path), 2),
        BandSource(str(bands_path), 3),
        tmp_path / "ndvi.tif",
        red_scale=USGS,
        nir_scale=USGS,
    )
    raw = {role: rasterio.open(href).read(1) for role, href in hrefs.items()}
    expected = reference_ndvi(raw["red"], raw["nir08"], raw["qa_pixel"])
    valid = ~np.isnan(expected)
    non_fill = (raw["qa_pixel"] & 1) == 0
    assert summary.counts.valid_pixels == int(non_fill.sum())
    assert summary.clear_fraction == pytest.approx(
        float((((raw["qa_pixel"] & 0b11111) == 0) & non_fill).sum() / non_fill.sum())
    )
    assert result.statistics["valid_pixel_count"] == int(valid.sum())
    if valid.any():
        with rasterio.open(tmp_path / "ndvi.tif") as dataset:
            got = dataset.read(1)
        assert np.array_equal(np.isnan(got), ~valid)
        assert np.max(np.abs(got[valid] - expected[valid])) <= 1e-6
        assert result.statistics["ndvi_median"] == pytest.approx(
            float(np.median(expected[valid])), abs=1e-6
        )
    else:
        assert result.status == "no_data"


@pytest.mark.realworld
def test_colombia_scene_numbers(realworld, tmp_path):
    """Pinned figures of the one mostly vegetated real scene: catches silent science drift."""
    product = STACTOOLS_SCENES["assets3"]
    hrefs = scene_hrefs(realworld / "stactools-landsat" / "assets3", product)
    result = write_ndvi(
        product,
        BandSource(hrefs["red"]),
        BandSource(hrefs["nir08"]),
        BandSource(hrefs["qa_pixel"]),
        tmp_path / "ndvi.tif",
        red_scale=USGS,
        nir_scale=USGS,
        min_clear_fraction=0.2,
    )
    assert result.status == "filtered_cloudy"
    assert result.mask.clear_fraction == pytest.approx(0.1181, abs=1e-4)
    assert result.mask.counts.counts[MaskClass.CLOUD] == 146419


@pytest.mark.realworld
def test_band_without_georeferencing_is_refused(realworld):
    folder = realworld / "xlandsat" / "LC08_L2SP_218074_20190130_20200829_02_T1"
    red = str(next(folder.glob("*_SR_B4.TIF")))
    nir = str(next(folder.glob("*_SR_B5.TIF")))
    with pytest.raises(SceneInputError, match="no georeferencing") as error:
        with open_scene_bands("X", {"red": red, "nir08": nir, "qa_pixel": nir}):
            pass
    assert "SR_B4.TIF" in str(error.value) and "scene X" in str(error.value)


def test_missing_corrupt_and_mismatched_bands(tmp_path):
    bands = synthetic_scene(tmp_path, shape=(64, 64))
    missing = dict(bands, nir08=str(tmp_path / "absent.tif"))
    with pytest.raises(SceneInputError, match=r"scene S: .*absent\.tif: cannot open the nir08"):
        extract_scene_bands("S", missing, tmp_path / "out.tif", aoi_wgs84=None)
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(Path(bands["red"]).read_bytes()[:300])
    with pytest.raises(SceneInputError, match="corrupt.tif"):
        with open_scene_bands("S", dict(bands, red=str(corrupt))):
            pass
    small_qa = write_band(tmp_path / "qa_small.tif", np.ones((32, 64), np.uint16))
    with pytest.raises(SceneInputError, match="shape 32 x 64 differs"):
        with open_scene_bands("S", dict(bands, qa_pixel=small_qa)):
            pass
    other_crs = write_band(tmp_path / "qa_crs.tif", np.ones((64, 64), np.uint16), crs="EPSG:32634")
    with pytest.raises(SceneInputError, match="grid"):
        with open_scene_bands("S", dict(bands, qa_pixel=other_crs)):
            pass
    floats = write_band(tmp_path / "float.tif", np.ones((64, 64), np.float32))
    with pytest.raises(SceneInputError, match="float32, expected uint16"):
        with open_scene_bands("S", dict(bands, red=floats)):
            pass
    with pytest.raises(SceneInputError, match="pixel budget"):
        with open_scene_bands("S", bands, pixel_budget=1000):
            pass
    assert not (tmp_path / "out.tif").exists()


def test_aoi_window_reads_only_the_aoi_and_fills_outside(tmp_path):
    bands = synthetic_scene(tmp_path, shape=(600, 600))
    # A triangle in the scene's upper-left quarter, in WGS84.
    with rasterio.open(bands["red"]) as dataset:
        from rasterio.warp import transform_geom

        left, top = dataset.transform * (100, 100)
        right, bottom = dataset.transform * (300, 300)
        aoi = transform_geom(
            dataset.crs,
            "EPSG:4326",
            {
                "type": "Polygon",
                "coordinates": [[(left, top), (right, top), (left, bottom), (left, top)]],
            },
        )
    out = tmp_path / "bands.tif"
    extract = extract_scene_bands("S", bands, out, aoi_wgs84=aoi)
    row, col, height, width = extract.window
    assert 95 <= row <= 100 and 95 <= col <= 100 and 195 <= height <= 206 and 195 <= width <= 206
    with rasterio.open(out) as dataset:
        assert dataset.count == 3 and dataset.crs.to_epsg() == 32633
        qa_pixel = dataset.read(3)
        red = dataset.read(1)
        mask = dataset.read_masks(1)
    # The lower-right corner of the window is outside the triangle: marked outside the AOI
    # (QA_PIXEL's fill bit set, a value USGS never writes), SR fill, masked.
    assert qa_pixel[-1, -1] == QA_OUTSIDE_AOI and red[-1, -1] == 0 and mask[-1, -1] == 0
    source_red = rasterio.open(bands["red"]).read(1)
    assert red[2, 2] == source_red[row + 2, col + 2] or qa_pixel[2, 2] == QA_OUTSIDE_AOI
    assert (
        extract_scene_bands(
            "S",
            bands,
            tmp_path / "none.tif",
            aoi_wgs84={"type": "Polygon", "coordinates": [[(0, 0), (1, 0), (1, 1), (0, 0)]]},
        )
        is None
    )
    assert not (tmp_path / "none.tif").exists()


@pytest.mark.parametrize(
    ("problem", "transient"),
    [
        ("cannot open the red band: HTTP response code: 503", True),
        ("cannot open the red band: HTTP response code: 429", True),
        ("cannot read the band: Operation timed out after 30000 milliseconds", True),
        ("cannot open the red band: Connection reset by peer", True),
        ("cannot open the red band: HTTP response code: 404", False),
        ("cannot open the red band: not recognized as being in a supported file format", False),
        ("cannot read the band: TIFFReadEncodedTile() failed", False),
    ],
)
def test_read_failures_are_transient_only_for_server_and_network_errors(problem, transient):
    error = read_failure("S", "https://example.test/b4.tif", problem)
    assert isinstance(error, TransientReadError) is transient
    assert isinstance(error, SceneInputError) is not transient
    assert str(error) == f"scene S: https://example.test/b4.tif: {problem}"
