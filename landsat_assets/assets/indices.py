"""Spectral index rasters: NDVI, and the other configured indices (LANDSAT_INDICES) in one
multi-band raster, defined only when some are configured (`definitions.build_definitions`)."""

import warnings
from collections.abc import Iterator, Sequence

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    MetadataValue,
    Output,
    PreviewWarning,
    asset,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from landsat_assets.assets.common import (
    image_markdown,
    per_scene,
    png_markdown,
    progress_logger,
    rounded,
    stored_at,
    stored_scene_line,
)
from landsat_assets.assets.masks import stored_mask_summary
from landsat_assets.automation import SCENE_FOLLOWS_UPSTREAM
from landsat_assets.io_managers.products import (
    RasterIOManager,
    StagedFile,
    StoredRaster,
)
from landsat_assets.partitions import landsat_scenes
from landsat_assets.resources.processing import SceneProcessing
from landsat_assets.resources.storage import LandsatStorage
from landsat_assets.science.indices import NDVI, REFLECTANCE_BANDS, SpectralIndex, bands_for
from landsat_assets.science.masks import MaskSummary
from landsat_assets.science.ndvi import IndexRasterResult, write_index_raster
from landsat_assets.science.preview import ndvi_colour_bar, ndvi_preview
from landsat_assets.science.statistics import SCENE_STATISTICS
from landsat_assets.science.status import SceneStatus, SceneVerdict, decide_scene_status

INDEX_RASTER = {
    **per_scene,
    "group_name": "indices",
    "kinds": {"cog"},
    "automation_condition": SCENE_FOLLOWS_UPSTREAM,
    "io_manager_key": "raster_io_manager",
}
"""What the index raster assets share."""

SCENE_STATUS_CHECK = "scene_status"
"""The per-scene check on `ndvi` whose colour tells processed scenes from the others."""

with warnings.catch_warnings():
    # Partitioned asset checks are a preview in Dagster 1.13: each scene's result is its own.
    warnings.simplefilter("ignore", PreviewWarning)
    SCENE_STATUS_SPEC = AssetCheckSpec(
        SCENE_STATUS_CHECK,
        asset="ndvi",
        partitions_def=landsat_scenes,
        description="Passes for a scene that has an NDVI raster (status processed); warns "
        "for a scene filtered for clouds (filtered_cloudy) or without data over the AOI "
        "(no_data), naming the reason. Recorded by `ndvi` itself, no extra step: the "
        "check's Partitions tab shows which scenes have NDVI at a glance.",
    )


@asset(
    **INDEX_RASTER,
    code_version="2",
    check_specs=[SCENE_STATUS_SPEC],
    description="Float32 NDVI from surface reflectance, NaN where cloudy, fill, out of range, "
    "or saturated in red or NIR (QA_RADSAT). Each scene's preview shows NDVI on this scale, "
    "no value transparent:\n\n" + image_markdown(ndvi_colour_bar(), "legend"),
)
def ndvi(
    context: AssetExecutionContext,
    scene_bands: dict[str, StoredRaster | None],
    cloud_mask: dict[str, StoredRaster | None],
    processing: SceneProcessing,
    storage: LandsatStorage,
) -> Iterator[Output | AssetCheckEvaluation]:
    # A generator: with a check spec the op has two outputs, the rasters and the check's
    # (empty) one. Each scene's check result follows its materialization.
    verdicts: dict[str, SceneVerdict] = {}
    yield Output(
        index_rasters(
            context, [NDVI], scene_bands, cloud_mask, processing, storage, verdicts=verdicts
        )
    )
    # Yielded after the materializations are in the event log: a check result counts in the
    # UI only when it names the partition's latest materialization as its target.
    targets = latest_materializations(context, list(verdicts))
    for key, verdict in verdicts.items():
        yield scene_status_evaluation(context.asset_key, key, verdict, targets.get(key))
    for name, spec in context.assets_def.check_specs_by_output_name.items():
        if spec.key in context.selected_asset_check_keys:
            yield Output(None, output_name=name)


def latest_materializations(
    context: AssetExecutionContext, keys: list[str]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """The latest materialization of each of `keys` of the asset, in one query (the newest
    `len(keys)` events: this step's, just written)."""
    if not keys:
        return {}
    found = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=keys), limit=len(keys)
    )
    targets: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
    for record in found.records:
        if record.partition_key is not None and record.partition_key not in targets:
            targets[record.partition_key] = AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
            )
    return targets


def scene_status_evaluation(
    asset_key: AssetKey,
    key: str,
    verdict: SceneVerdict,
    target: AssetCheckEvaluationTargetMaterializationData | None = None,
) -> AssetCheckEvaluation:
    """`SCENE_STATUS_CHECK` of scene `key`: passed when processed, else a warning with the
    reason. Yielded by `ndvi` itself, so no step is added per scene."""
    processed = verdict.status is SceneStatus.PROCESSED
    return AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=SCENE_STATUS_CHECK,
        passed=processed,
        severity=AssetCheckSeverity.WARN,
        partition=key,
        target_materialization_data=target,
        # The status and reason alone, no metadata: this event is written for every scene.
        description="processed" if processed else f"{verdict.status.value}: {verdict.reason}",
    )


@asset(
    **INDEX_RASTER,
    code_version="1",
    description="The configured indices besides NDVI (LANDSAT_INDICES: evi, savi, ndwi, ndmi, "
    "nbr), one float32 band each, described by the index's name, with its statistics in the "
    "band's tags. NaN where cloudy, fill, out of range, or saturated in a band the index uses.",
)
def spectral_indices(
    context: AssetExecutionContext,
    scene_bands: dict[str, StoredRaster | None],
    cloud_mask: dict[str, StoredRaster | None],
    processing: SceneProcessing,
    storage: LandsatStorage,
) -> dict[str, StagedFile | None]:
    return index_rasters(
        context, processing.other_indices(), scene_bands, cloud_mask, processing, storage
    )


def index_rasters(
    context: AssetExecutionContext,
    indices: Sequence[SpectralIndex],
    scene_bands: dict[str, StoredRaster | None],
    cloud_mask: dict[str, StoredRaster | None],
    processing: SceneProcessing,
    storage: LandsatStorage,
    *,
    verdicts: dict[str, SceneVerdict] | None = None,
) -> dict[str, StagedFile | None]:
    """Each scene's raster of `indices`, written only for scenes the cloud rule processes.
    Given `verdicts` (NDVI), each scene's verdict is put there, and its materialization shows
    a preview."""
    preview = verdicts is not None
    decided = {} if verdicts is None else verdicts
    usable = processing.usable()
    names = ", ".join(index.title for index in indices)
    products: dict[str, StagedFile | None] = {}
    for key in context.partition_keys:
        bands, mask = scene_bands[key], cloud_mask[key]
        summary = stored_mask_summary(mask, usable)
        verdict = decide_scene_status(summary, processing.min_clear_fraction)
        if bands is None or verdict.status is not SceneStatus.PROCESSED:
            not_processed(context, key, verdict, summary, names, storage)
            decided[key] = verdict
            products[key] = None
            continue
        staged = storage.store().staging_dir() / f"{key}.tif"
        result = write_index_raster(
            key,
            {
                band: bands.scaled(band)
                for band in bands_for(index.name for index in indices)
                if band in REFLECTANCE_BANDS
            },
            bands.band("qa_pixel"),
            staged,
            indices=indices,
            radsat_source=bands.band("qa_radsat") if bands.has("qa_radsat") else None,
            usable_classes=usable,
            min_clear_fraction=processing.min_clear_fraction,
            workers=processing.readers_for(bands.uri),
            progress=progress_logger(context, f"computing {names}", key),
        )
        if result.status is not SceneStatus.PROCESSED:
            not_processed(context, key, result.verdict, result.mask, names, storage)
            decided[key] = result.verdict
            storage.store().release(staged)
            products[key] = None
            continue
        context.add_asset_metadata(
            {
                # The UI lists entries in this order: the picture and the scene first.
                **(
                    {"preview": png_markdown(ndvi_preview(str(staged)), f"NDVI {key}")}
                    if preview
                    else {}
                ),
                "status": result.status.value,
                **stored_scene_line(storage, key),
                "aoi_clear_fraction": rounded(result.mask.clear_fraction),
                **index_metadata(result, indices),
                "saturation": result.saturation,
                **stored_at(storage, RasterIOManager, context.asset_key, key, staged=staged),
            },
            partition_key=key,
        )
        decided[key] = result.verdict
        products[key] = StagedFile(staged)
    return products


def index_metadata(
    result: IndexRasterResult, indices: Sequence[SpectralIndex]
) -> dict[str, MetadataValue | int]:
    """Each index's valid pixel count, statistics and saturated pixel count."""
    entries: dict[str, MetadataValue | int] = {}
    for index in indices:
        statistics = result.statistics[index.name]
        prefix = "" if len(indices) == 1 else f"{index.name}_"
        entries[f"{prefix}valid_pixel_count"] = int(statistics["valid_pixel_count"])
        entries.update(
            {
                f"{index.name}_{name}": rounded(float(statistics[f"{index.name}_{name}"]))
                for name in SCENE_STATISTICS
            }
        )
        if result.saturated is not None:
            entries[f"{prefix}saturated_pixel_count"] = result.saturated[index.name]
    return entries


def not_processed(
    context: AssetExecutionContext,
    key: str,
    verdict: SceneVerdict,
    mask: MaskSummary | None,
    names: str,
    storage: LandsatStorage,
) -> None:
    """Say why a scene has no index raster, in the log and on its materialization."""
    context.log.info(f"{key}: {verdict.status.value}: {verdict.reason}; no {names} raster written")
    fraction = {} if mask is None else {"aoi_clear_fraction": rounded(mask.clear_fraction)}
    context.add_asset_metadata(
        {
            "status": verdict.status.value,
            "reason": verdict.reason or "",
            **stored_scene_line(storage, key),
            **fraction,
        },
        partition_key=key,
    )


INDEX_ASSETS = [spectral_indices]
"""Defined only when LANDSAT_INDICES names more than NDVI."""
