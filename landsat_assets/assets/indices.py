"""Vegetation index rasters."""

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
from landsat_assets.science.bands import band_number
from landsat_assets.science.blocks import BandSource
from landsat_assets.science.masks import MaskSummary
from landsat_assets.science.ndvi import write_ndvi
from landsat_assets.science.preview import ndvi_colour_bar, ndvi_preview
from landsat_assets.science.status import SceneStatus, SceneVerdict, decide_scene_status
from landsat_assets.stac.scene import SCENE_BANDS


def band_scale(bands: StoredRaster, role: str) -> tuple[float, float]:
    """(scale, offset) of a band of `scene_bands`, as recorded from the STAC item."""
    index = SCENE_BANDS.index(role)
    return float(bands.scales[index]), float(bands.offsets[index])


@asset(
    **per_scene,
    group_name="indices",
    kinds={"cog"},
    code_version="1",
    automation_condition=SCENE_FOLLOWS_UPSTREAM,
    io_manager_key="raster_io_manager",
    description="Float32 NDVI from surface reflectance, NaN where cloudy, fill or out of range. "
    "Each scene's preview shows NDVI on this scale, no value transparent:\n\n"
    + image_markdown(ndvi_colour_bar(), "legend"),
)
def ndvi(
    context: AssetExecutionContext,
    scene_bands: dict[str, StoredRaster | None],
    cloud_mask: dict[str, StoredRaster | None],
    processing: SceneProcessing,
    storage: LandsatStorage,
) -> dict[str, StagedFile | None]:
    usable = processing.usable()
    products: dict[str, StagedFile | None] = {}
    for key in context.partition_keys:
        bands, mask = scene_bands[key], cloud_mask[key]
        summary = stored_mask_summary(mask, usable)
        verdict = decide_scene_status(summary, processing.min_clear_fraction)
        if bands is None or verdict.status is not SceneStatus.PROCESSED:
            not_processed(context, key, verdict, summary)
            products[key] = None
            continue
        staged = storage.store().staging_dir() / f"{key}.tif"
        result = write_ndvi(
            key,
            BandSource(bands.uri, band_number("red")),
            BandSource(bands.uri, band_number("nir08")),
            BandSource(bands.uri, band_number("qa_pixel")),
            staged,
            red_scale=band_scale(bands, "red"),
            nir_scale=band_scale(bands, "nir08"),
            usable_classes=usable,
            min_clear_fraction=processing.min_clear_fraction,
            workers=processing.readers_for(bands.uri),
            progress=progress_logger(context, "computing NDVI", key),
        )
        if result.status is not SceneStatus.PROCESSED:
            not_processed(context, key, result.verdict, result.mask)
            storage.store().release(staged)
            products[key] = None
            continue
        stats = result.statistics
        context.add_asset_metadata(
            {
                "status": result.status.value,
                "valid_pixel_count": int(stats["valid_pixel_count"]),
                **{
                    name: MetadataValue.float(float(stats[name]))
                    for name in ("ndvi_mean", "ndvi_median", "ndvi_std", "ndvi_min", "ndvi_max")
                },
                "aoi_clear_fraction": MetadataValue.float(result.mask.clear_fraction),
                "preview": png_markdown(ndvi_preview(str(staged)), f"NDVI {key}"),
                **stored_at(storage, RasterIOManager, context.asset_key, key, staged=staged),
            },
            partition_key=key,
        )
        products[key] = StagedFile(staged)
    return products


def not_processed(
    context: AssetExecutionContext, key: str, verdict: SceneVerdict, mask: MaskSummary | None
) -> None:
    """Say why a scene has no NDVI raster, in the log and on its materialization."""
    context.log.info(f"{key}: {verdict.status.value}: {verdict.reason}; no NDVI raster written")
    fraction = (
        {} if mask is None else {"aoi_clear_fraction": MetadataValue.float(mask.clear_fraction)}
    )
    context.add_asset_metadata(
        {"status": verdict.status.value, "reason": verdict.reason or "", **fraction},
        partition_key=key,
    )
