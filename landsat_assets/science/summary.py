"""The per-scene statistics row and the all-scenes summary table."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from landsat_assets.science.preview import timeseries_plot
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


def summary_plot(table: pd.DataFrame) -> bytes:
    """The summary's AOI mean NDVI over time as a PNG, scenes filtered for clouds marked."""
    return timeseries_plot(
        list(table["datetime"]),
        [math.nan if pd.isna(v) else float(v) for v in table["ndvi_mean"]],
        list(table["status"]),
        labels={"processed": "processed scene", "filtered": "filtered (cloudy)"},
    )
