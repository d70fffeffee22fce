"""The summary table: rows merged from the scenes that changed equal a table of all rows."""

from __future__ import annotations

import math

import pandas as pd

from landsat_assets.science.summary import STATS_COLUMNS, merge_rows, summarize
from landsat_assets_tests.support.items import processed_row


def test_merging_changed_rows_equals_summarizing_every_processed_row() -> None:
    first, second, third = processed_row(0), processed_row(8), processed_row(16)
    table = summarize([third, first])
    changed = processed_row(0, mean=0.7)
    merged = merge_rows(table, {key(changed): changed, key(second): second})
    pd.testing.assert_frame_equal(merged, summarize([changed, second, third]))
    assert list(merged["ndvi_mean"]) == [0.7, 0.5, 0.5]
    assert list(merged.columns) == list(STATS_COLUMNS)


def test_a_scene_without_a_row_any_more_leaves_the_summary() -> None:
    first, second = processed_row(0), processed_row(8)
    merged = merge_rows(summarize([first, second]), {key(first): None})
    pd.testing.assert_frame_equal(merged, summarize([second]))


def test_merging_into_an_empty_summary_keeps_the_schema() -> None:
    merged = merge_rows(summarize([]), {})
    assert len(merged) == 0
    assert dict(merged.dtypes.astype(str)) == {
        name: str(pd.Series(dtype=dtype).dtype) for name, dtype in STATS_COLUMNS.items()
    }
    assert math.isnan(
        merge_rows(merged, {key(processed_row(0)): processed_row(0, math.nan)})["ndvi_mean"][0]
    )


def key(frame: pd.DataFrame) -> str:
    return str(frame.at[0, "scene_id"])
