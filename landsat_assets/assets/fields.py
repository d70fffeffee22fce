"""Per-field statistics (LANDSAT_FIELDS): one table per scene, the fields' time series and
its plot. Defined only when fields are configured (`definitions.build_definitions`)."""

from collections.abc import Sequence

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output, TableSchema, asset

from landsat_assets.assets.common import (
    per_scene,
    png_markdown,
    scene_line,
    staged_product,
    stored_at,
)
from landsat_assets.assets.summaries import (
    described_schema,
    refresh_scene_rows,
    table_preview,
)
from landsat_assets.automation import SCENE_FOLLOWS_UPSTREAM
from landsat_assets.fields import Field
from landsat_assets.io_managers.products import StagedFile, StoredRaster, TableIOManager
from landsat_assets.resources.fields import LandsatFields
from landsat_assets.resources.processing import SceneProcessing
from landsat_assets.resources.storage import LandsatStorage
from landsat_assets.science.field_table import (
    field_column_descriptions,
    field_columns,
    field_rows,
    timeseries,
    unmeasured_rows,
)
from landsat_assets.science.indices import INDICES, bands_for
from landsat_assets.science.preview import fewer_colours
from landsat_assets.science.status import SceneStatus, SceneVerdict
from landsat_assets.science.zonal import field_statistics
from landsat_assets.stac.aoi import Aoi, footprint_intersects
from landsat_assets.stac.scene import SceneRecord

PLOT_COLOURS = 64


def fields_schema(table: pd.DataFrame, indices: Sequence[str] = ("ndvi",)) -> TableSchema:
    """The columns of a field table with their types and descriptions; the fields' own
    properties are described as such."""
    properties = [name for name in table.columns if name not in field_columns(indices)]
    return described_schema(
        field_column_descriptions(indices, properties),
        {name: str(dtype) for name, dtype in table.dtypes.items()},
    )


def fields_on_scene(fields: tuple[Field, ...], record: SceneRecord) -> list[Field]:
    """The fields that the scene's footprint touches (all of them when it has none)."""
    if record.geometry is None:
        return list(fields)
    return [f for f in fields if footprint_intersects(Aoi(f.geometry, f.id), record.geometry)]


@asset(
    **per_scene,
    group_name="fields",
    kinds={"parquet"},
    code_version="1",
    automation_condition=SCENE_FOLLOWS_UPSTREAM,
    io_manager_key="table_io_manager",
    description="One row per field the scene touches: pixel counts, the field's own clear "
    "fraction and status (each field is filtered for clouds on its own), and for NDVI and "
    "every other configured index (LANDSAT_INDICES) its mean, median, std, min, max, p10 and "
    "p90 over the field's clear, unsaturated pixels. A pixel belongs to a field when its "
    "centre is inside the polygon.",
    metadata={
        "dagster/column_schema": described_schema(
            field_column_descriptions(["ndvi"]), field_columns(["ndvi"])
        )
    },
)
def field_stats(
    context: AssetExecutionContext,
    landsat_scene: dict[str, SceneRecord],
    scene_bands: dict[str, StoredRaster | None],
    processing: SceneProcessing,
    fields: LandsatFields,
    storage: LandsatStorage,
) -> dict[str, StagedFile]:
    loaded = fields.load()
    names = processing.index_names()
    indices = [INDICES[name] for name in names]
    tables: dict[str, StagedFile] = {}
    for key in context.partition_keys:
        record, bands = landsat_scene[key], scene_bands[key]
        touched = fields_on_scene(loaded.fields, record)
        if bands is None:
            verdict = SceneVerdict(SceneStatus.NO_DATA, "the AOI misses the scene")
            table = unmeasured_rows(record, touched, verdict, names)
        else:
            results = field_statistics(
                key,
                {band: bands.scaled(band) for band in bands_for(names)},
                bands.band("qa_pixel"),
                [f.geometry for f in touched],
                indices=indices,
                radsat_source=bands.band("qa_radsat") if bands.has("qa_radsat") else None,
                usable_classes=processing.usable(),
                min_clear_fraction=processing.min_clear_fraction,
                workers=processing.readers_for(bands.uri),
            )
            table = field_rows(record, touched, results, names)
        counts = table["status"].value_counts()
        tables[key] = staged_product(storage, TableIOManager, table)
        context.add_asset_metadata(
            {
                "fields": len(table),
                **{f"fields_{status}": int(n) for status, n in counts.items()},
                **scene_line(record),
                **stored_at(
                    storage, TableIOManager, context.asset_key, key, staged=tables[key].path
                ),
            },
            partition_key=key,
        )
    return tables


@asset(
    deps=[field_stats],
    group_name="field_summaries",
    kinds={"parquet"},
    code_version="1",
    io_manager_key="table_io_manager",
    description="Every scene x field row in one table, sorted by acquisition time and field. "
    "A refresh reads the stored table and the rows of the scenes whose field statistics "
    "changed since; only rows made with the current settings and fields are kept.",
)
def field_timeseries(
    context: AssetExecutionContext, storage: LandsatStorage, processing: SceneProcessing
) -> Output[pd.DataFrame]:
    names = processing.index_names()
    refresh = refresh_scene_rows(context, storage, field_stats, field_columns(names))
    table = timeseries([refresh.kept(), *refresh.changed.values()], names)
    counts = table["status"].value_counts()
    return Output(
        table,
        metadata={
            "dagster/column_schema": fields_schema(table, names),
            "dagster/row_count": len(table),
            "fields": int(table["field_id"].nunique()),
            **{f"rows_{status}": int(n) for status, n in counts.items()},
            **refresh.metadata_for(table, storage, context.asset_key),
            "preview": MetadataValue.md(table_preview(table.tail(20))),
        },
    )


@asset(
    group_name="field_summaries",
    kinds={"png"},
    code_version="1",
    io_manager_key="png_io_manager",
    description="Mean NDVI over time of the fields whose NDVI varies most (up to 12 panels), "
    "in the style of `ndvi_timeseries_plot`: one line per WRS-2 path/row, one marker per "
    "satellite, one y axis fitted to the values shown; scenes where a field was filtered for "
    "clouds are ticks along the bottom of its panel.",
)
def field_timeseries_chart(field_timeseries: pd.DataFrame) -> Output[bytes]:
    # Imported here: matplotlib costs ~0.8 s per process that never draws.
    from landsat_assets.science.plots import field_timeseries_plot

    png = field_timeseries_plot(field_timeseries)
    inline = fewer_colours(png, PLOT_COLOURS)
    return Output(png, metadata={"plot": png_markdown(inline, "Field NDVI time series")})


FIELD_ASSETS = [field_stats]
FIELD_SUMMARY_ASSETS = [field_timeseries, field_timeseries_chart]
