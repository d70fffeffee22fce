"""Hand-made STAC items, for tests that need an item dict without a catalog behind it, and
the summary row of a scene made from one.

One factory, so that every hand-made item has the same shape: Earth Search's, cut down to
what normalization and search read. A test names only what it is about, by keyword; a test
that breaks an item on purpose takes one from here and then edits the dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from landsat_assets.science.status import SceneStatus
from landsat_assets.science.summary import stats_row
from landsat_assets.stac.normalize import normalize_item

ITEM_ID = "LC08_L2SP_033032_20231008_02_T1"
COLLECTION = "landsat-c2-l2"
HREFS = {
    "red": "https://example.test/B4.TIF",
    "nir08": "https://example.test/B5.TIF",
    "qa_pixel": "https://example.test/QA.TIF",
}
USGS_S3_HREFS = {
    "red": "s3://usgs-landsat/B4.TIF",
    "nir08": "s3://usgs-landsat/B5.TIF",
    "qa_pixel": "s3://usgs-landsat/QA.TIF",
}
"""Band hrefs on USGS's requester-pays bucket, as the public APIs serve them."""
RASTER_BANDS = {
    "red": {"nodata": 0, "scale": 2.75e-05, "offset": -0.2},
    "nir08": {"nodata": 0, "scale": 2.75e-05, "offset": -0.2},
    "qa_pixel": {"nodata": 1},
}
"""Each band's `raster:bands` entry: USGS's surface reflectance scaling, QA fill value 1."""


def stac_item(
    item_id: str = ITEM_ID, *, hrefs: Mapping[str, str] | None = None, **properties: Any
) -> dict[str, Any]:
    """One Landsat 8 scene (path 033, row 032, 2023-10-08) as a STAC item dict.

    `properties` override or add item properties (pass `**{"eo:cloud_cover": 5}` for names
    with a colon); a property given as None is left out, for an item that lacks it. `hrefs`
    overrides band hrefs by band name (red, nir08, qa_pixel). Each call builds new dicts,
    so a test may edit the result freely."""
    props = {
        "datetime": "2023-10-08T17:37:26.656958Z",
        "platform": "landsat-8",
        "eo:cloud_cover": 12.5,
        "landsat:cloud_cover_land": 10.0,
        "landsat:wrs_path": "033",
        "landsat:wrs_row": "032",
        "proj:epsg": 32613,
        **properties,
    }
    band_hrefs = {**HREFS, **(hrefs or {})}
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "collection": COLLECTION,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[-105, 40], [-104, 40], [-104, 41], [-105, 41], [-105, 40]]],
        },
        "bbox": [-105, 40, -104, 41],
        "properties": {k: v for k, v in props.items() if v is not None},
        "links": [],
        "assets": {
            band: {"href": href, "raster:bands": [dict(RASTER_BANDS[band])]}
            for band, href in band_hrefs.items()
        },
    }


def processed_row(day: int, mean: float = 0.5) -> pd.DataFrame:
    """A processed scene's row, acquired `day` days into 2023, of mean NDVI `mean`."""
    moment = datetime(2023, 1, 1, 17, 30, tzinfo=UTC) + timedelta(days=day)
    item = stac_item(
        f"LC08_L2SP_033032_{moment:%Y%m%d}_02_T1",
        datetime=moment.isoformat().replace("+00:00", "Z"),
    )
    record = normalize_item(item)
    return stats_row(
        record,
        status=SceneStatus.PROCESSED,
        clear_fraction=1.0,
        cloud_fraction=0.0,
        statistics={
            "valid_pixel_count": 10,
            "ndvi_mean": mean,
            "ndvi_median": mean,
            "ndvi_std": 0.0,
            "ndvi_min": mean,
            "ndvi_max": mean,
        },
    )
