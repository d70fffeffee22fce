"""Spectral index rasters: NDVI, and the other configured indices (LANDSAT_INDICES) in one
multi-band raster, defined only when some are configured (`definitions.build_definitions`)."""

from collections.abc import Sequence

from dagster import AssetExecutionContext, MetadataValue, asset

from landsat_assets.assets.common import (
    image_markdown,
    per_scene,
    png_markdown,
    progress_logger,
    stored_at,
)
from landsat_assets.assets.masks import stored_mask_summary
from landsat_assets.automation import SCENE_FOLLOWS_UPSTREAM
from landsat_assets.io_managers.products import (
    RasterIOManager,
    StagedFile,
    StoredRaster,
)
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


@asset(
    **INDEX_RASTER,
    code_version="2",
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
) -> dict[str, StagedFile | None]:
    return index_rasters(
        context, [NDVI], scene_bands, cloud_mask, processing, storage, preview=True
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
    preview: bool = False,
) -> dict[str, StagedFile | None]:
    """Each scene's raster of `indices`, written only for scenes the cloud rule processes."""
    usable = processing.usable()
    names = ", ".join(index.title for index in indices)
    products: dict[str, StagedFile | None] = {}
    for key in context.partition_keys:
        bands, mask = scene_bands[key], cloud_mask[key]
        summary = stored_mask_summary(mask, usable)
        verdict = decide_scene_status(summary, processing.min_clear_fraction)
        if bands is None or verdict.status is not SceneStatus.PROCESSED:
            not_processed(context, key, verdict, summary, names)
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
            not_processed(context, key, result.verdict, result.mask, names)
            storage.store().release(staged)
            products[key] = None
            continue
        context.add_asset_metadata(
            {
                "status": result.status.value,
                **index_metadata(result, indices),
                "saturation": result.saturation,
                "aoi_clear_fraction": MetadataValue.float(result.mask.clear_fraction),
                **(
                    {"preview": png_markdown(ndvi_preview(str(staged)), f"NDVI {key}")}
                    if preview
                    else {}
                ),
                **stored_at(storage, RasterIOManager, context.asset_key, key, staged=staged),
            },
            partition_key=key,
        )
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
                f"{index.name}_{name}": MetadataValue.float(
                    float(statistics[f"{index.name}_{name}"])
                )
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
) -> None:
    """Say why a scene has no index raster, in the log and on its materialization."""
    context.log.info(f"{key}: {verdict.status.value}: {verdict.reason}; no {names} raster written")
    fraction = (
        {} if mask is None else {"aoi_clear_fraction": MetadataValue.float(mask.clear_fraction)}
    )
    context.add_asset_metadata(
        {"status": verdict.status.value, "reason": verdict.reason or "", **fraction},
        partition_key=key,
    )


INDEX_ASSETS = [spectral_indices]
"""Defined only when LANDSAT_INDICES names more than NDVI."""
