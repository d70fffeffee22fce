"""Vegetation index rasters."""

from dagster import AssetExecutionContext, MetadataValue, asset

from landsat_assets.assets.common import per_scene, png_markdown, progress_logger, storage_link
from landsat_assets.assets.masks import stored_mask_summary
from landsat_assets.automation import SCENE_FOLLOWS_UPSTREAM
from landsat_assets.io_managers.products import StagedFile, StoredRaster
from landsat_assets.resources.processing import SceneProcessing
from landsat_assets.resources.storage import LandsatStorage
from landsat_assets.science.blocks import BandSource
from landsat_assets.science.preview import ndvi_colour_bar, ndvi_preview
from landsat_assets.science.processing import (
    BAND_ORDER,
    band_number,
    write_ndvi,
)
from landsat_assets.stores import product_key


def band_scale(bands: StoredRaster, role: str) -> tuple[float, float]:
    """(scale, offset) of a band of `scene_bands`, as recorded from the STAC item."""
    index = BAND_ORDER.index(role)
    return float(bands.scales[index]), float(bands.offsets[index])


@asset(
    **per_scene,
    group_name="indices",
    kinds={"cog"},
    code_version="1",
    automation_condition=SCENE_FOLLOWS_UPSTREAM,
    io_manager_key="raster_io_manager",
    description="Float32 NDVI from surface reflectance, NaN where cloudy, fill or out of range.",
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
        if bands is None or summary is None or summary.counts.valid_pixels == 0:
            context.add_asset_metadata(
                {"status": "no_data", "reason": "no valid pixels over the AOI"}, partition_key=key
            )
            products[key] = None
            continue
        if summary.clear_fraction < processing.min_clear_fraction:
            reason = (
                f"filtered: AOI clear fraction {summary.clear_fraction:.1%} is below "
                f"min_clear_fraction {processing.min_clear_fraction:.1%}"
            )
            context.log.info(f"{key}: {reason}; no NDVI raster written")
            context.add_asset_metadata(
                {
                    "status": "filtered_cloudy",
                    "reason": reason,
                    "aoi_clear_fraction": MetadataValue.float(summary.clear_fraction),
                },
                partition_key=key,
            )
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
            workers=processing.readers_for(bands.uri),
            progress=progress_logger(context, "computing NDVI", key),
        )
        if result.status != "processed":
            context.add_asset_metadata(
                {"status": result.status, "reason": result.reason or "no valid NDVI pixel"},
                partition_key=key,
            )
            products[key] = None
            continue
        stats = result.statistics
        context.add_asset_metadata(
            {
                "status": "processed",
                "valid_pixel_count": int(stats["valid_pixel_count"]),
                **{
                    name: MetadataValue.float(float(stats[name]))
                    for name in ("ndvi_mean", "ndvi_median", "ndvi_std", "ndvi_min", "ndvi_max")
                },
                "aoi_clear_fraction": MetadataValue.float(result.mask.clear_fraction),
                "preview": png_markdown(
                    ndvi_preview(str(staged)), f"NDVI {key}", ndvi_colour_bar()
                ),
                "storage": storage_link(storage.store().uri(product_key("ndvi", key, "tif"))),
            },
            partition_key=key,
        )
        products[key] = StagedFile(staged)
    return products
