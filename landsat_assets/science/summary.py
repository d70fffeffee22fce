"""The per-scene statistics row and the all-scenes summary table."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from landsat_assets.science.statistics import SCENE_STATISTICS
from landsat_assets.science.status import SceneStatus
from landsat_assets.stac.scene import SceneRecord

STATS_COLUMNS: dict[str, str] = {
    "scene_id": "string",
    "datetime": "datetime64[us, UTC]",
    "platform": "string",
    "wrs_path": "string",
    "wrs_row": "string",
    "scene_cloud_cover": "float64",
    "aoi_clear_fraction": "float64",
    "aoi_cloud_fraction": "float64",
    "valid_pixel_count": "int64",
    "ndvi_mean": "float64",
    "ndvi_median": "float64",
    "ndvi_std": "float64",
    "ndvi_min": "float64",
    "ndvi_max": "float64",
    "status": "string",
}
"""Columns of `scene_ndvi_stats` and `ndvi_summary` with NDVI alone, with their pandas
dtypes; `stats_columns` adds the other indices'."""

NDVI_ONLY = ("ndvi",)

STATISTIC_DESCRIPTIONS: dict[str, str] = {
    "mean": "mean",
    "median": "exact median",
    "std": "standard deviation",
    "min": "minimum",
    "max": "maximum",
    "p10": "10th percentile",
    "p90": "90th percentile",
}
"""How the tables' column descriptions name each statistic (`<index>_<statistic>`)."""

STATS_DESCRIPTIONS: dict[str, str] = {
    "scene_id": "Scene key: Landsat product id without the processing date",
    "datetime": "Acquisition time (UTC)",
    "platform": "Satellite: landsat-8 or landsat-9",
    "wrs_path": "WRS-2 path",
    "wrs_row": "WRS-2 row",
    "scene_cloud_cover": "Cloud cover of the whole scene reported by USGS, percent",
    "aoi_clear_fraction": "Fraction (0-1) of the AOI's pixels with data that are clear "
    "(LANDSAT_USABLE_CLASSES)",
    "aoi_cloud_fraction": "Fraction (0-1) of the AOI's pixels with data that are cloud, "
    "dilated cloud or cirrus",
    "valid_pixel_count": "AOI pixels with an NDVI value (clear, in range, not saturated)",
    "status": "processed; filtered_cloudy (AOI clear fraction below "
    "LANDSAT_MIN_CLEAR_FRACTION: no index raster); no_data (the AOI misses the scene)",
}
"""Descriptions of the columns of `STATS_COLUMNS` that are not index statistics."""


def statistic_description(column: str, over: str = "the AOI's clear pixels") -> str:
    """The description of an `<index>_<statistic>` column."""
    index, statistic = column.split("_", 1)
    return f"{index.upper()} {STATISTIC_DESCRIPTIONS[statistic]} over {over}; NaN if not processed"


def stats_column_descriptions(indices: Sequence[str] = NDVI_ONLY) -> dict[str, str]:
    """A description for every column of `stats_columns(indices)`, in its order."""
    return {
        name: STATS_DESCRIPTIONS.get(name) or statistic_description(name)
        for name in stats_columns(indices)
    }


def significant(value: float | int | None, digits: int = 4) -> float | None:
    """`value` rounded to `digits` significant digits, for people (0.123456 -> 0.1235,
    1234567 -> 1235000); NaN, infinities and None stay as they are, zero stays zero."""
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number) or number == 0:
        return number
    return round(number, digits - 1 - math.floor(math.log10(abs(number))))


def stats_columns(indices: Sequence[str] = NDVI_ONLY) -> dict[str, str]:
    """The columns for `indices` (NDVI first): each other index's statistics come before
    `status`, as NDVI's do."""
    others = {
        f"{index}_{name}": "float64"
        for index in indices
        if index != "ndvi"
        for name in SCENE_STATISTICS
    }
    columns = {name: dtype for name, dtype in STATS_COLUMNS.items() if name != "status"}
    return columns | others | {"status": STATS_COLUMNS["status"]}


def stats_row(
    record: SceneRecord,
    *,
    status: SceneStatus,
    clear_fraction: float = math.nan,
    cloud_fraction: float = math.nan,
    statistics: Mapping[str, float | int] | None = None,
    indices: Sequence[str] = NDVI_ONLY,
) -> pd.DataFrame:
    """A scene's row; without `statistics` (a scene not processed) its statistics are NaN."""
    columns = stats_columns(indices)
    no_statistics = {name: math.nan for name in columns if name.split("_")[0] in indices} | {
        "valid_pixel_count": 0
    }
    row = {
        "scene_id": record.scene_key,
        "datetime": record.datetime,
        "platform": record.platform,
        "wrs_path": record.wrs_path,
        "wrs_row": record.wrs_row,
        "scene_cloud_cover": math.nan if record.cloud_cover is None else record.cloud_cover,
        "aoi_clear_fraction": clear_fraction,
        "aoi_cloud_fraction": cloud_fraction,
        **(no_statistics | dict(statistics or {})),
        "status": SceneStatus(status).value,
    }
    return pd.DataFrame([row], columns=list(columns)).astype(columns)


def summarize(
    rows: Iterable[pd.DataFrame | None], indices: Sequence[str] = NDVI_ONLY
) -> pd.DataFrame:
    """All scenes' rows in one table sorted by acquisition time (stable on scene id)."""
    columns = stats_columns(indices)
    frames = [frame for frame in rows if frame is not None and len(frame)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    table = pd.concat(frames, ignore_index=True).astype(columns)
    return table.sort_values(["datetime", "scene_id"], kind="stable").reset_index(drop=True)


def merge_rows(
    table: pd.DataFrame,
    changed: Mapping[str, pd.DataFrame | None],
    indices: Sequence[str] = NDVI_ONLY,
) -> pd.DataFrame:
    """`table` with the rows of the scenes in `changed` replaced by their new row (None: the
    scene has no row any more), sorted as `summarize` sorts: the summary refreshed from the
    scenes that changed, without reading the others."""
    kept = table[~table["scene_id"].isin(list(changed))]
    return summarize([kept, *changed.values()], indices)


def table_fingerprint(table: pd.DataFrame) -> str:
    """A digest of the table's values: equal digests, equal rows in the same order."""
    values = pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes()
    return hashlib.sha256(values).hexdigest()[:16]


def summary_plot(table: pd.DataFrame, aoi: str = "the AOI", index: str = "ndvi") -> bytes:
    """The summary's AOI mean of `index` over time as a PNG: a line per path/row, a marker
    per satellite, scenes filtered for clouds marked (`plots.timeseries_figure`)."""
    # Imported here: matplotlib costs ~0.8 s per process that never draws.
    from landsat_assets.science.plots import timeseries_plot

    counts = table["status"].value_counts()
    title = (
        f"{index.upper()} mean over {aoi}: {len(table)} scenes, "
        f"{int(counts.get(SceneStatus.PROCESSED.value, 0))} processed, "
        f"{int(counts.get(SceneStatus.FILTERED_CLOUDY.value, 0))} filtered for clouds"
    )
    return timeseries_plot(table, f"{index}_mean", title)
