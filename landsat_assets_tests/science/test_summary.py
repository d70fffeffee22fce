"""The summary table: rows merged from the scenes that changed equal a table of all rows."""

from __future__ import annotations

import math

import pandas as pd

from landsat_assets.science.field_table import field_column_descriptions, field_columns
from landsat_assets.science.summary import (
    STATS_COLUMNS,
    merge_rows,
    significant,
    stats_column_descriptions,
    stats_columns,
    summarize,
)
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


def test_numbers_for_people_keep_four_significant_digits() -> None:
    assert significant(0.123456) == 0.1235
    assert significant(-0.0012345678) == -0.001235
    assert significant(1234567) == 1235000
    assert significant(0.5) == 0.5
    assert significant(12.3456, 3) == 12.3
    assert significant(0) == 0
    assert significant(None) is None
    assert math.isnan(significant(math.nan))
    for value in (0.987654321, 3.14159e-7, -42.42424242):
        assert abs(significant(value) - value) <= 5e-4 * abs(value)
        assert significant(value) == float(f"{value:.4g}")


def test_every_summary_column_is_described() -> None:
    for indices in (("ndvi",), ("ndvi", "evi", "savi", "ndwi", "ndmi", "nbr")):
        described = stats_column_descriptions(indices)
        assert list(described) == list(stats_columns(indices))
        assert all(text.strip() for text in described.values())
    assert "EVI" in stats_column_descriptions(("ndvi", "evi"))["evi_median"]


def test_every_field_column_is_described() -> None:
    for indices in (["ndvi"], ["ndvi", "nbr"]):
        described = field_column_descriptions(indices, ["crop"])
        assert set(field_columns(indices)) | {"crop"} == set(described)
        assert all(text.strip() for text in described.values())
    assert "90th percentile" in field_column_descriptions(["ndvi"])["ndvi_p90"]
