"""The scene itself: its normalized STAC record and the AOI window of its bands."""

import json
from collections.abc import Iterable
from typing import Any

from dagster import (
    AssetExecutionContext,
    Config,
    DataVersion,
    Output,
    asset,
)
from pydantic import Field

from landsat_assets.assets.common import (
    IMAGERY_POOL,
    imagery_retry_policy,
    per_scene,
    permanent_scene_errors,
    progress_logger,
    scene_facts,
    scene_line,
    staged_product,
    stored_at,
)
from landsat_assets.assets.common import VERSION_METADATA as VERSION_METADATA  # where it was
from landsat_assets.automation import SCENE_FOLLOWS_UPSTREAM
from landsat_assets.io_managers.products import (
    RasterIOManager,
    SceneRecordIOManager,
    StagedFile,
)
from landsat_assets.resources.catalog import LandsatCatalog
from landsat_assets.resources.imagery import ImagerySource
from landsat_assets.resources.processing import SceneProcessing
from landsat_assets.resources.storage import LandsatStorage
from landsat_assets.science.bands import check_declared_shape, extract_scene_bands, plan_bands
from landsat_assets.science.indices import bands_for
from landsat_assets.science.status import SceneStatus
from landsat_assets.stac.scene import SceneRecord


class FoundScenes(Config):
    """Records of the run's scenes as the search that requested the run found them (scene key
    -> record JSON), so the run does not search the catalog again. Scenes not given (a run
    launched from the UI gives none) are looked up in the catalog."""

    records: dict[str, str] = Field(default_factory=dict)

    @staticmethod
    def run_config(records: Iterable[SceneRecord]) -> dict[str, Any]:
        """Run config giving `records` to `landsat_scene`."""
        found = {r.scene_key: json.dumps(r.to_json_dict()) for r in records}
        return {"ops": {"landsat_scene": {"config": {"records": found}}}}

    def of(self, keys: Iterable[str]) -> dict[str, SceneRecord]:
        return {
            key: SceneRecord.from_json_dict(json.loads(self.records[key]))
            for key in keys
            if key in self.records
        }


@asset(
    **per_scene,
    group_name="scenes",
    kinds={"stac"},
    code_version="1",
    io_manager_key="scene_record_io_manager",
    retry_policy=imagery_retry_policy,
    description="The scene's STAC item, normalized; its version follows USGS reprocessing.",
)
def landsat_scene(
    context: AssetExecutionContext,
    config: FoundScenes,
    catalog: LandsatCatalog,
    storage: LandsatStorage,
) -> Output[dict[str, StagedFile]]:
    given = config.of(context.partition_keys)
    with permanent_scene_errors():
        looked_up = catalog.find_scenes(k for k in context.partition_keys if k not in given)
    records = {key: given.get(key) or looked_up[key] for key in context.partition_keys}
    staged = {
        key: staged_product(storage, SceneRecordIOManager, record)
        for key, record in records.items()
    }
    for key, record in records.items():
        context.add_asset_metadata(
            {
                **scene_facts(record),
                "item_id": record.item_id,
                "catalog": catalog.shown_source(),
                **stored_at(
                    storage, SceneRecordIOManager, context.asset_key, key, staged=staged[key].path
                ),
            },
            partition_key=key,
        )
    # Dagster attaches one data version per output, so it can follow the USGS processing
    # version only when the step covers one scene; `version` metadata always records it.
    if len(records) == 1:
        (record,) = records.values()
        return Output(staged, data_version=DataVersion(record.version))
    return Output(staged)


@asset(
    **per_scene,
    group_name="scenes",
    kinds={"cog"},
    code_version="2",
    automation_condition=SCENE_FOLLOWS_UPSTREAM,
    io_manager_key="raster_io_manager",
    retry_policy=imagery_retry_policy,
    pool=IMAGERY_POOL,
    description="Red, NIR and QA_PIXEL for the AOI window, read tile by tile from the source "
    "COGs, with the other bands the configured indices need (LANDSAT_INDICES) and QA_RADSAT "
    "when the item has it; each band described by its STAC common name.",
)
def scene_bands(
    context: AssetExecutionContext,
    landsat_scene: dict[str, SceneRecord],
    catalog: LandsatCatalog,
    imagery: ImagerySource,
    processing: SceneProcessing,
    storage: LandsatStorage,
) -> dict[str, StagedFile | None]:
    aoi = catalog.aoi_geojson()
    products: dict[str, StagedFile | None] = {}
    with imagery.gdal_env():
        for key in context.partition_keys:
            record = landsat_scene[key]
            staged = storage.store().staging_dir() / f"{key}.tif"
            with permanent_scene_errors():
                plan = plan_bands(
                    key, record.bands, record.platform, bands_for(processing.index_names())
                )
                hrefs = {r: imagery.readable_href(key, record.bands[r]) for r in plan.roles}
                check_declared_shape(
                    key, record.shape, hrefs["red"], pixel_budget=processing.pixel_budget
                )
                extract = extract_scene_bands(
                    key,
                    hrefs,
                    staged,
                    aoi_wgs84=aoi,
                    scales={r: (record.bands[r].scale, record.bands[r].offset) for r in plan.roles},
                    pixel_budget=processing.pixel_budget,
                    workers=processing.readers_for(hrefs["red"]),
                    progress=progress_logger(context, "reading bands", key),
                )
            if extract is None:
                context.log.warning(f"{key}: the AOI does not intersect the scene; no bands")
                context.add_asset_metadata(
                    {
                        "status": SceneStatus.NO_DATA.value,
                        "reason": "the AOI misses the scene",
                        **scene_line(record),
                    },
                    partition_key=key,
                )
                storage.store().release(staged)
                products[key] = None
                continue
            row, col, height, width = extract.window
            context.add_asset_metadata(
                {
                    "status": "extracted",
                    **scene_line(record),
                    "window": f"rows {row}..{row + height}, cols {col}..{col + width}",
                    "width": width,
                    "height": height,
                    "aoi_pixels": extract.aoi_pixel_count,
                    "crs": extract.crs,
                    "bands": ", ".join(plan.roles),
                    "saturation": plan.saturation,
                    **stored_at(storage, RasterIOManager, context.asset_key, key, staged=staged),
                },
                partition_key=key,
            )
            products[key] = StagedFile(staged)
    return products
