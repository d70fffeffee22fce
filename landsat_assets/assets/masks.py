"""Cloud masks decoded from QA_PIXEL."""

from dagster import AssetExecutionContext, MetadataValue, asset

from landsat_assets.assets.common import (
    image_markdown,
    per_scene,
    png_markdown,
    progress_logger,
    rounded,
    stored_at,
    stored_scene_line,
)
from landsat_assets.automation import SCENE_FOLLOWS_UPSTREAM
from landsat_assets.io_managers.products import (
    RasterIOManager,
    StagedFile,
    StoredRaster,
)
from landsat_assets.resources.processing import SceneProcessing
from landsat_assets.resources.storage import LandsatStorage
from landsat_assets.science.masks import (
    OUTSIDE_AOI,
    OUTSIDE_AOI_NAME,
    ClassCounts,
    MaskSummary,
    write_cloud_mask,
)
from landsat_assets.science.preview import mask_legend, mask_preview
from landsat_assets.science.qa import MaskClass
from landsat_assets.science.status import SceneStatus

MASK_CODES = ", ".join(
    [*(f"{int(c)} {c.name.lower()}" for c in MaskClass), f"{OUTSIDE_AOI} {OUTSIDE_AOI_NAME}"]
)


@asset(
    **per_scene,
    group_name="masks",
    kinds={"cog"},
    code_version="2",
    automation_condition=SCENE_FOLLOWS_UPSTREAM,
    io_manager_key="raster_io_manager",
    description=f"Cloud mask classes decoded from QA_PIXEL (uint8: {MASK_CODES}; 0 = nodata: "
    "USGS fill inside the AOI; masks made before code 8 existed hold 0 outside the AOI too). "
    "Each scene's preview shows the classes in these colours, USGS fill black, outside the "
    "AOI transparent:\n\n" + image_markdown(mask_legend(), "legend"),
)
def cloud_mask(
    context: AssetExecutionContext,
    scene_bands: dict[str, StoredRaster | None],
    processing: SceneProcessing,
    storage: LandsatStorage,
) -> dict[str, StagedFile | None]:
    usable = processing.usable()
    products: dict[str, StagedFile | None] = {}
    for key in context.partition_keys:
        bands = scene_bands[key]
        if bands is None:
            context.add_asset_metadata(
                {
                    "status": SceneStatus.NO_DATA.value,
                    "reason": "no bands for this scene (AOI misses it)",
                    **stored_scene_line(storage, key),
                },
                partition_key=key,
            )
            products[key] = None
            continue
        staged = storage.store().staging_dir() / f"{key}.tif"
        summary = write_cloud_mask(
            key,
            bands.band("qa_pixel"),
            staged,
            usable_classes=usable,
            workers=processing.readers_for(bands.uri),
            progress=progress_logger(context, "decoding QA_PIXEL", key),
        )
        context.add_asset_metadata(
            {
                # The UI lists entries in this order: the picture and the scene first.
                "preview": png_markdown(mask_preview(str(staged)), f"cloud mask {key}"),
                **stored_scene_line(storage, key),
                "aoi_clear_fraction": rounded(summary.clear_fraction),
                "aoi_cloud_fraction": rounded(summary.cloud_fraction),
                "valid_pixels": summary.counts.valid_pixels,
                "outside_aoi_pixels": int(summary.counts.counts[OUTSIDE_AOI]),
                "class_counts": MetadataValue.json(summary.counts.as_dict()),
                "clear_definition": ", ".join(sorted(c.name.lower() for c in usable)),
                **stored_at(storage, RasterIOManager, context.asset_key, key, staged=staged),
            },
            partition_key=key,
        )
        products[key] = StagedFile(staged)
    return products


def stored_mask_summary(
    mask: StoredRaster | None, usable: frozenset[MaskClass]
) -> MaskSummary | None:
    """Fractions of a stored cloud mask under the current clear definition, from the class
    counts its COG carries (no pixel is read)."""
    if mask is None:
        return None
    return MaskSummary.from_counts(ClassCounts.from_tags(mask.tags), usable)
