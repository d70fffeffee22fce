import importlib.util

import pytest

from landsat_assets.errors import SceneInputError
from landsat_assets.resources.imagery import ImagerySource
from landsat_assets.stac.normalize import normalize_item_file
from landsat_assets.stac.scene import BandAsset


def test_plain_and_alternate_hrefs():
    band = BandAsset(
        "https://landsatlook.usgs.gov/data/x_SR_B4.TIF",
        alternate_s3_href="s3://usgs-landsat/x_SR_B4.TIF",
    )
    assert ImagerySource().readable_href("S", band) == band.href
    assert (
        ImagerySource(prefer_alternate_s3=True).readable_href("S", band) == band.alternate_s3_href
    )


@pytest.mark.skipif(
    importlib.util.find_spec("planetary_computer") is not None,
    reason="the optional planetary-computer package is installed",
)
@pytest.mark.realworld
def test_unsigned_planetary_computer_href_is_refused_clearly(realworld):
    record = normalize_item_file(
        realworld / "items" / "planetary_computer_LC09_L2SP_084069_20250722_02_T2.json"
    )
    band = record.bands["red"]
    assert band.access == "needs_signing"
    with pytest.raises(SceneInputError, match=r"landsat-assets\[planetary\]") as error:
        ImagerySource().readable_href(record.scene_key, band)
    assert record.scene_key in str(error.value)
    assert band.href.split("?")[0] in str(error.value)
