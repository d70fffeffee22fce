"""Per-scene statistics rows and the all-scenes summary, table and plot."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output, TableColumn, TableSchema, asset

from landsat_assets.assets.common import per_scene, png_markdown, storage_link
from landsat_assets.assets.masks import stored_mask_summary
from landsat_assets.automation import SCENE_FOLLOWS_UPSTREAM
from landsat_assets.io_managers.products import StoredRaster, TableIOManager, product_uri
from landsat_assets.resources.processing import SceneProcessing
from landsat_assets.resources.storage import LandsatStorage
from landsat_assets.science.statistics import statistics_from_tags
from landsat_assets.science.status import SceneStatus, decide_scene_status
from landsat_assets.science.summary import STATS_COLUMNS, stats_row, summarize, summary_plot
from landsat_assets.stac.scene import SceneRecord

STATS_SCHEMA = TableSchema(
    columns=[TableColumn(name, dtype) for name, dtype in STATS_COLUMNS.items()]
)


@asset(
    **per_scene,
    group_name="summaries",
    kinds={"parquet"},
    code_version="1",
    automation_condition=SCENE_FOLLOWS_UPSTREAM,
    io_manager_key="table_io_manager",
    description="AOI NDVI statistics, cloud fractions and status of the scene, as one row.",
)
def scene_ndvi_stats(
    context: AssetExecutionContext,
    landsat_scene: dict[str, SceneRecord],
    cloud_mask: dict[str, StoredRaster | None],
    ndvi: dict[str, StoredRaster | None],
    processing: SceneProcessing,
    storage: LandsatStorage,
) -> dict[str, pd.DataFrame]:
    usable = processing.usable()
    rows: dict[str, pd.DataFrame] = {}
    for key in context.partition_keys:
        mask = cloud_mask[key]
        summary = stored_mask_summary(mask, usable)
        fractions = (
            {"clear_fraction": summary.clear_fraction, "cloud_fraction": summary.cloud_fraction}
            if summary
            else {}
        )
        statistics = statistics_from_tags(ndvi[key].tags) if ndvi[key] is not None else None
        verdict = decide_scene_status(
            summary,
            processing.min_clear_fraction,
            index_pixels=int(statistics["valid_pixel_count"]) if statistics else 0,
        )
        row = stats_row(
            landsat_scene[key],
            status=verdict.status,
            statistics=statistics if verdict.status is SceneStatus.PROCESSED else None,
            **fractions,
        )
        rows[key] = row
        context.add_asset_metadata(
            {
                "status": verdict.status.value,
                **({"reason": verdict.reason} if verdict.reason else {}),
                "storage": storage_link(
                    product_uri(storage, TableIOManager, context.asset_key, key)
                ),
                "ndvi_mean": MetadataValue.float(float(row.at[0, "ndvi_mean"])),
                "aoi_clear_fraction": MetadataValue.float(float(row.at[0, "aoi_clear_fraction"])),
            },
            partition_key=key,
        )
    return rows


@asset(
    group_name="summaries",
    kinds={"parquet"},
    code_version="1",
    io_manager_key="table_io_manager",
    description="Every scene's statistics row in one table, sorted by acquisition time.",
)
def ndvi_summary(scene_ndvi_stats: dict[str, pd.DataFrame | None]) -> Output[pd.DataFrame]:
    table = summarize(scene_ndvi_stats.values())
    counts = table["status"].value_counts()
    return Output(
        table,
        metadata={
            "dagster/column_schema": STATS_SCHEMA,
            "dagster/row_count": len(table),
            **{f"scenes_{status}": int(counts.get(status, 0)) for status in counts.index},
            "preview": MetadataValue.md(table.head(20).to_markdown(index=False)),
        },
    )


@asset(
    group_name="summaries",
    kinds={"png"},
    code_version="1",
    io_manager_key="png_io_manager",
    description="AOI mean NDVI over time; scenes filtered for clouds marked on the axis.",
)
def ndvi_timeseries_plot(ndvi_summary: pd.DataFrame) -> Output[bytes]:
    png = summary_plot(ndvi_summary)
    return Output(png, metadata={"plot": png_markdown(png, "NDVI time series")})
