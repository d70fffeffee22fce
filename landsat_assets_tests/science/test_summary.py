"""The summary table: rows merged from the scenes that changed equal a table of all rows."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pandas as pd

from landsat_assets.science.status import SceneStatus
from landsat_assets.science.summary import STATS_COLUMNS, merge_rows, stats_row, summarize
from landsat_assets.stac.normalize import normalize_item
from landsat_assets_tests.support.items import stac_item


def row(day: int, mean: float = 0.5) -> pd.DataFrame:
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


def test_merging_changed_rows_equals_summarizing_every_row() -> None:
    first, second, third = row(0), row(8), row(16)
    table = summarize([third, first])
    changed = row(0, mean=0.7)
    merged = merge_rows(table, {key(changed): changed, key(second): second})
    pd.testing.assert_frame_equal(merged, summarize([changed, second, third]))
    assert list(merged["ndvi_mean"]) == [0.7, 0.5, 0.5]
    assert list(merged.columns) == list(STATS_COLUMNS)


def test_a_scene_without_a_row_any_more_leaves_the_summary() -> None:
    first, second = row(0), row(8)
    merged = merge_rows(summarize([first, second]), {key(first): None})
    pd.testing.assert_frame_equal(merged, summarize([second]))


def test_merging_into_an_empty_summary_keeps_the_schema() -> None:
    merged = merge_rows(summarize([]), {})
    assert len(merged) == 0
    assert dict(merged.dtypes.astype(str)) == {
        name: str(pd.Series(dtype=dtype).dtype) for name, dtype in STATS_COLUMNS.items()
    }
    assert math.isnan(merge_rows(merged, {key(row(0)): row(0, math.nan)})["ndvi_mean"][0])


def key(frame: pd.DataFrame) -> str:
    return str(frame.at[0, "scene_id"])
