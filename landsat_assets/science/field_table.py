"""The per-field rows of a scene (`field_stats`) and the fields' time series table
(`field_timeseries`), with the fields' own properties as extra columns."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pandas as pd

from landsat_assets.fields import Field
from landsat_assets.science.status import SceneVerdict
from landsat_assets.science.summary import statistic_description
from landsat_assets.science.zonal import STATISTIC_NAMES, FieldResult
from landsat_assets.stac.scene import SceneRecord

FIELD_COLUMNS: dict[str, str] = {
    "scene_id": "string",
    "datetime": "datetime64[us, UTC]",
    "platform": "string",
    "wrs_path": "string",
    "wrs_row": "string",
    "field_id": "string",
    "pixel_count": "int64",
    "valid_pixel_count": "int64",
    "clear_fraction": "float64",
    "status": "string",
    "reason": "string",
}
"""Columns of every field table before the indices' statistics, with their pandas dtypes."""


FIELD_DESCRIPTIONS: dict[str, str] = {
    "scene_id": "Scene key: Landsat product id without the processing date",
    "datetime": "Acquisition time (UTC)",
    "platform": "Satellite: landsat-8 or landsat-9",
    "wrs_path": "WRS-2 path",
    "wrs_row": "WRS-2 row",
    "field_id": "The field's id in the fields file (its `id`, else the feature id)",
    "pixel_count": "Pixels whose centre is inside the field",
    "valid_pixel_count": "Field pixels with an NDVI value (clear, in range, not saturated)",
    "clear_fraction": "Fraction (0-1) of the field's pixels with data that are clear",
    "status": "processed; filtered_cloudy (the field's own clear fraction below "
    "LANDSAT_MIN_CLEAR_FRACTION); no_data (no pixel of the field has data)",
    "reason": "Why the field was not processed, empty when it was",
}
"""Descriptions of `FIELD_COLUMNS`."""


def field_column_descriptions(
    indices: Sequence[str], properties: Sequence[str] = ()
) -> dict[str, str]:
    """A description for every column of `field_columns(indices)`, then for each of the
    fields' `properties` (columns copied from the fields file)."""
    statistics = {
        name: statistic_description(name, "the field's clear pixels")
        for name in field_columns(indices)
        if name not in FIELD_COLUMNS
    }
    copied = {name: "Property of the field, from the fields file" for name in properties}
    return FIELD_DESCRIPTIONS | statistics | copied


def field_columns(indices: Sequence[str]) -> dict[str, str]:
    """Columns of the field tables of `indices` (NDVI's `valid_pixel_count` first), before
    the fields' properties, with their pandas dtypes."""
    return FIELD_COLUMNS | {
        f"{index}_{name}": "float64" for index in indices for name in STATISTIC_NAMES
    }


def field_rows(
    record: SceneRecord,
    fields: Sequence[Field],
    results: Sequence[FieldResult],
    indices: Sequence[str],
) -> pd.DataFrame:
    """One row per field for one scene. Statistics are given only for processed fields."""
    columns = field_columns(indices)
    statistics = [name for name in columns if name not in FIELD_COLUMNS]
    rows = []
    for field, result in zip(fields, results, strict=True):
        processed = result.verdict.status.value == "processed"
        rows.append(
            {
                **_scene_columns(record, field, result.verdict),
                "pixel_count": result.pixel_count,
                "valid_pixel_count": int(result.statistics["valid_pixel_count"]),
                "clear_fraction": math.nan if result.mask is None else result.mask.clear_fraction,
                **{
                    name: float(result.statistics[name]) if processed else math.nan
                    for name in statistics
                },
            }
        )
    return with_properties(pd.DataFrame(rows, columns=list(columns)), fields, columns)


def unmeasured_rows(
    record: SceneRecord, fields: Sequence[Field], verdict: SceneVerdict, indices: Sequence[str]
) -> pd.DataFrame:
    """Rows for fields of a scene that has no pixels to measure them on (the AOI misses it)."""
    columns = field_columns(indices)
    rows = [
        {
            **_scene_columns(record, field, verdict),
            "pixel_count": 0,
            "valid_pixel_count": 0,
            "clear_fraction": math.nan,
        }
        for field in fields
    ]
    return with_properties(pd.DataFrame(rows, columns=list(columns)), fields, columns)


def _scene_columns(record: SceneRecord, field: Field, verdict: SceneVerdict) -> dict[str, object]:
    return {
        "scene_id": record.scene_key,
        "datetime": record.datetime,
        "platform": record.platform,
        "wrs_path": record.wrs_path,
        "wrs_row": record.wrs_row,
        "field_id": field.id,
        "status": verdict.status.value,
        "reason": verdict.reason or "",
    }


def with_properties(
    table: pd.DataFrame, fields: Sequence[Field], columns: dict[str, str]
) -> pd.DataFrame:
    """`table` typed as `columns` say, with one column per property of the fields (joined on
    `field_id`). A property whose values are not all numbers becomes text, so any file
    stores."""
    table = table.astype(columns)
    names = [n for n in dict.fromkeys(k for f in fields for k in f.properties) if n not in table]
    for name in names:
        values = {f.id: f.properties.get(name) for f in fields}
        column = table["field_id"].map(values)
        numeric = all(
            isinstance(v, int | float) and not isinstance(v, bool)
            for v in values.values()
            if v is not None
        )
        table[name] = column.astype("float64") if numeric else column.map(_text).astype("string")
    return table


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def timeseries(frames: Iterable[pd.DataFrame | None], indices: Sequence[str]) -> pd.DataFrame:
    """Every scene x field row in one table, sorted by acquisition time, then field id."""
    parts = [frame for frame in frames if frame is not None and len(frame)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in field_columns(indices).items()})
    table = pd.concat(parts, ignore_index=True)
    return table.sort_values(["datetime", "scene_id", "field_id"], kind="stable").reset_index(
        drop=True
    )
