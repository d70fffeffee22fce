"""Per-scene statistics rows and the all-scenes summary, table and plot."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MetadataValue,
    Output,
    TableColumn,
    TableSchema,
    asset,
)
from dagster._core.definitions.assets.job.asset_job import JobScopedAssetGraph
from dagster._core.definitions.data_version import CODE_VERSION_TAG

from landsat_assets.assets.common import (
    STORAGE_METADATA,
    per_scene,
    png_markdown,
    rounded,
    scene_line,
    staged_product,
    stored_at,
)
from landsat_assets.assets.indices import spectral_indices
from landsat_assets.assets.masks import stored_mask_summary
from landsat_assets.automation import SCENE_FOLLOWS_UPSTREAM
from landsat_assets.errors import StorageError
from landsat_assets.io_managers.products import (
    RasterIOManager,
    StagedFile,
    StoredRaster,
    TableIOManager,
)
from landsat_assets.materializations import latest_product_facts, partitions_materialized_after
from landsat_assets.resources.catalog import LandsatCatalog
from landsat_assets.resources.processing import SceneProcessing
from landsat_assets.resources.storage import LandsatStorage
from landsat_assets.science.preview import fewer_colours
from landsat_assets.science.statistics import statistics_from_tags
from landsat_assets.science.status import SceneStatus, decide_scene_status
from landsat_assets.science.summary import (
    merge_rows,
    significant,
    stats_column_descriptions,
    stats_columns,
    stats_row,
    summarize,
    summary_plot,
    table_fingerprint,
)
from landsat_assets.stac.scene import SceneRecord


def scene_stats_rows(
    context: AssetExecutionContext,
    landsat_scene: dict[str, SceneRecord],
    cloud_mask: dict[str, StoredRaster | None],
    ndvi: dict[str, StoredRaster | None],
    processing: SceneProcessing,
    storage: LandsatStorage,
) -> dict[str, StagedFile]:
    usable = processing.usable()
    indices = processing.index_names()
    rows: dict[str, StagedFile] = {}
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
        processed = verdict.status is SceneStatus.PROCESSED
        row = stats_row(
            landsat_scene[key],
            status=verdict.status,
            statistics=(statistics or {}) | other_index_statistics(storage, processing, key)
            if processed
            else None,
            indices=indices,
            **fractions,
        )
        rows[key] = staged_product(storage, TableIOManager, row)
        context.add_asset_metadata(
            {
                "status": verdict.status.value,
                **({"reason": verdict.reason} if verdict.reason else {}),
                **scene_line(landsat_scene[key]),
                "ndvi_mean": rounded(float(row.at[0, "ndvi_mean"])),
                "aoi_clear_fraction": rounded(float(row.at[0, "aoi_clear_fraction"])),
                **stored_at(storage, TableIOManager, context.asset_key, key, staged=rows[key].path),
            },
            partition_key=key,
        )
    return rows


def scene_stats_asset(index_rasters: Sequence[AssetsDefinition] = ()) -> AssetsDefinition:
    """`scene_ndvi_stats`, depending on `index_rasters` too (`spectral_indices`, when other
    indices are configured: `definitions.build_definitions`). Built here rather than by
    `map_asset_specs`, which in Dagster 1.13 turns every input into a Nothing dependency
    when it adds one."""
    return asset(
        name="scene_ndvi_stats",
        deps=list(index_rasters),
        **per_scene,
        group_name="summaries",
        kinds={"parquet"},
        code_version="1",
        automation_condition=SCENE_FOLLOWS_UPSTREAM,
        io_manager_key="table_io_manager",
        description="AOI statistics of NDVI and the other configured indices, cloud "
        "fractions and status of the scene, as one row.",
        metadata={"dagster/column_schema": described_schema(stats_column_descriptions())},
    )(scene_stats_rows)


def described_schema(
    descriptions: dict[str, str], dtypes: dict[str, str] | None = None
) -> TableSchema:
    """The UI's column list of a table: each column's type (from `dtypes`, else the NDVI
    summary's) and what it holds."""
    types = dtypes or stats_columns()
    return TableSchema(
        columns=[
            TableColumn(name, str(types.get(name, "")), description=text)
            for name, text in descriptions.items()
        ]
    )


def table_preview(table: pd.DataFrame) -> str:
    """Markdown of `table` for people: times to the minute, numbers to 4 significant digits."""
    shown = table.copy()
    for name, dtype in shown.dtypes.items():
        if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
            shown[name] = shown[name].dt.strftime("%Y-%m-%d %H:%M")
        elif pd.api.types.is_float_dtype(dtype):
            shown[name] = shown[name].map(significant)
    return shown.to_markdown(index=False)


scene_ndvi_stats = scene_stats_asset()


def other_index_statistics(
    storage: LandsatStorage, processing: SceneProcessing, partition: str
) -> dict[str, float]:
    """The statistics of the indices besides NDVI from the scene's stored `spectral_indices`
    raster (its band tags); none (NaN in the row) when it has none. The raster is a declared
    dependency of `scene_ndvi_stats` when such indices are configured (definitions.py)."""
    others = processing.other_indices()
    if not others:
        return {}
    rasters = RasterIOManager(storage=storage)
    store = storage.store()
    key = rasters.key_for(spectral_indices.key, partition)
    stored = rasters.decode(store, key) if store.exists(key) else None
    values: dict[str, float] = {}
    for index in others:
        if stored is not None and stored.has(index.name):
            found = statistics_from_tags(stored.tags_of(index.name), index.name)
            found.pop("valid_pixel_count")
            values.update(found)
    return values


PLOT_COLOURS = 64

SUMMARY_CURSOR = "scene_stats_cursor"
"""Summary metadata: the newest per-scene event (`scene_ndvi_stats`, `field_stats`) its table
includes."""

SUMMARY_FINGERPRINT = "fingerprint"
"""`ndvi_summary` metadata: the digest of the table written, to know the stored one is it."""


@asset(
    deps=[scene_ndvi_stats],
    group_name="summaries",
    kinds={"parquet"},
    code_version="2",
    io_manager_key="table_io_manager",
    description="Every scene's statistics row in one table, sorted by acquisition time. A "
    "refresh reads the stored table and the rows of the scenes whose statistics changed since. "
    "Only rows made with the current settings are kept (`rows_left_out` counts the others).",
)
def ndvi_summary(
    context: AssetExecutionContext, storage: LandsatStorage, processing: SceneProcessing
) -> Output[pd.DataFrame]:
    indices = processing.index_names()
    columns = stats_columns(indices)
    refresh = refresh_scene_rows(context, storage, scene_ndvi_stats, columns)
    previous = summarize([], indices) if refresh.previous is None else refresh.previous
    table = merge_rows(previous, refresh.changed, indices)
    counts = table["status"].value_counts()
    return Output(
        table,
        metadata={
            "dagster/column_schema": described_schema(stats_column_descriptions(indices), columns),
            "dagster/row_count": len(table),
            **{f"scenes_{status}": int(counts.get(status, 0)) for status in counts.index},
            **refresh.metadata_for(table, storage, context.asset_key),
            "preview": MetadataValue.md(table_preview(table.head(20))),
        },
    )


@dataclass(frozen=True)
class SceneRowsRefresh:
    """What a summary built from per-scene tables is refreshed from: the stored table (None:
    rebuild from every scene), and the rows of every scene whose table changed since it (None:
    the scene has no row, or one made with other settings, and leaves the summary)."""

    previous: pd.DataFrame | None
    changed: dict[str, pd.DataFrame | None]
    how: str
    rows_read: int
    newest: int | None
    """The newest per-scene event the refreshed summary includes."""

    def kept(self) -> pd.DataFrame | None:
        """The stored rows of the scenes that did not change."""
        if self.previous is None:
            return None
        return self.previous[~self.previous["scene_id"].isin(list(self.changed))]

    def metadata_for(
        self, table: pd.DataFrame, storage: LandsatStorage, asset_key: AssetKey
    ) -> dict[str, Any]:
        """The refreshed summary's bookkeeping: how it was refreshed, what it read, and what
        the next refresh checks (`_previous_table`)."""
        return {
            "refresh": self.how,
            "rows_read": self.rows_read,
            "rows_left_out": MetadataValue.int(len(self.changed) - self.rows_read),
            SUMMARY_FINGERPRINT: table_fingerprint(table),
            SUMMARY_CURSOR: MetadataValue.int(-1 if self.newest is None else self.newest),
            **stored_at(storage, TableIOManager, asset_key),
        }


def refresh_scene_rows(
    context: AssetExecutionContext,
    storage: LandsatStorage,
    source: AssetsDefinition,
    columns: Iterable[str],
) -> SceneRowsRefresh:
    """The stored summary and the rows of the scenes whose `source` table was materialized
    after the last event it includes, reading only those; rows not made with the current
    code and settings (`_made_with_current_settings`) are left out."""
    tables = TableIOManager(storage=storage)
    previous, cursor, how = _previous_table(context, tables, columns)
    changed, newest = partitions_materialized_after(context.instance, source.key, cursor)
    current = _made_with_current_settings(context, changed, source.key)
    rows = {
        key: _stored_rows(tables, source.key, key) if key in current else None
        for key in sorted(changed)
    }
    return SceneRowsRefresh(previous, rows, how, len(current), newest)


def _previous_table(
    context: AssetExecutionContext, tables: TableIOManager, columns: Iterable[str]
) -> tuple[pd.DataFrame | None, int | None, str]:
    """The stored table to refresh (None: rebuild from every scene), the newest per-scene
    event it includes, and how it is refreshed: "incremental", or "full" with the reason the
    stored table cannot be trusted to be what the last materialization recorded. The table
    must start with `columns`."""
    event = context.instance.get_latest_materialization_event(context.asset_key)
    materialization = None if event is None else event.asset_materialization
    if materialization is None:
        return None, None, "full: first summary"
    metadata = materialization.metadata
    code_version = context.assets_def.code_versions_by_key[context.asset_key]
    store = tables.storage.store()
    key = tables.key_for(context.asset_key, None)
    cursor = metadata.get(SUMMARY_CURSOR)
    link = metadata.get(STORAGE_METADATA)
    if (materialization.tags or {}).get(CODE_VERSION_TAG) != code_version or cursor is None:
        return None, None, "full: the summary's code changed"
    if link is None or str(link.value) != store.uri(key):
        return None, None, "full: LANDSAT_STORAGE changed"
    try:
        table = tables.decode(store, key)
    except (OSError, ValueError) as error:
        context.log.warning(f"{store.uri(key)} unreadable ({error}); rebuilding it")
        return None, None, "full: the stored summary is missing or unreadable"
    fingerprint = metadata.get(SUMMARY_FINGERPRINT)
    expected = list(columns)
    if (
        list(table.columns)[: len(expected)] != expected
        or fingerprint is None
        or fingerprint.value != table_fingerprint(table)
    ):
        return None, None, "full: the stored summary is not the one last materialized"
    previous = int(cursor.value)
    return table, None if previous < 0 else previous, "incremental"


def _made_with_current_settings(
    context: AssetExecutionContext, partitions: set[str], source: AssetKey
) -> set[str]:
    """Those of `partitions` whose per-scene table `source` and every per-scene product it is
    made from were last materialized with the current code and settings: their recorded code
    versions are the ones of this code location (provenance.py). The others, such as scenes of
    an earlier AOI that the current search no longer finds, are left out of a summary: it
    never mixes rows of different settings."""
    graph = context.job_def.asset_layer.asset_graph
    if isinstance(graph, JobScopedAssetGraph):  # the job's assets: look at the whole location
        graph = graph.source_asset_graph
    chain = graph.get_ancestor_asset_keys(source, include_self=True)
    kept = set(partitions)
    for key in sorted(chain, key=lambda k: k.to_user_string()):
        current = graph.get(key).code_version
        facts = latest_product_facts(context.instance, key, kept)
        kept = {p for p in kept if p in facts and facts[p].code_version == current}
    return kept


def _stored_rows(
    tables: TableIOManager, asset_key: AssetKey, partition: str
) -> pd.DataFrame | None:
    """A scene's stored rows of `asset_key` (None when it has none); an unreadable file fails
    the refresh naming it, rather than leaving the scene out of the summary."""
    store = tables.storage.store()
    key = tables.key_for(asset_key, partition)
    if not store.exists(key):
        return None
    try:
        return tables.decode(store, key)
    except (OSError, ValueError) as error:
        raise StorageError(f"{store.uri(key)}: unreadable per-scene table ({error})") from None


@asset(
    group_name="summaries",
    kinds={"png"},
    code_version="1",
    io_manager_key="png_io_manager",
    description="AOI mean NDVI over time: one line per WRS-2 path/row, one marker per "
    "satellite, the y axis fitted to the values; scenes filtered for clouds are ticks along "
    "the bottom.",
)
def ndvi_timeseries_plot(ndvi_summary: pd.DataFrame, catalog: LandsatCatalog) -> Output[bytes]:
    png = summary_plot(ndvi_summary, aoi=aoi_label(catalog))
    # The stored plot keeps every colour; the copy inside the event is a palette PNG.
    inline = fewer_colours(png, PLOT_COLOURS)
    return Output(png, metadata={"plot": png_markdown(inline, "NDVI time series")})


def aoi_label(catalog: LandsatCatalog) -> str:
    """How the plots' titles name the AOI: its file's name, or the bbox given."""
    aoi = catalog.area_of_interest()
    if aoi is None:
        return "whole scenes"
    return aoi.source if aoi.source.startswith("bbox") else f"AOI {Path(aoi.source).name}"
