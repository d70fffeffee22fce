"""Asset jobs: the per-scene pipeline and the all-scenes summary."""

from __future__ import annotations

from dagster import AssetKey, AssetSelection, define_asset_job

from landsat_assets.assets.fields import FIELD_ASSETS
from landsat_assets.assets.indices import INDEX_ASSETS, ndvi
from landsat_assets.assets.masks import cloud_mask
from landsat_assets.assets.scenes import landsat_scene, scene_bands
from landsat_assets.assets.summaries import ndvi_summary, ndvi_timeseries_plot, scene_ndvi_stats

SCENE_ASSETS = [landsat_scene, scene_bands, cloud_mask, ndvi, scene_ndvi_stats]
SUMMARY_ASSETS = [ndvi_summary, ndvi_timeseries_plot]

# The field assets and `spectral_indices` exist only when configured; a group selection that
# matches no asset is empty, where a missing asset key would be an error.
scene_job = define_asset_job(
    "landsat_scene_job",
    selection=AssetSelection.assets(*SCENE_ASSETS) | AssetSelection.groups("indices", "fields"),
    description="Every per-scene product of one or more Landsat scenes.",
)

summary_job = define_asset_job(
    "ndvi_summary_job",
    selection=AssetSelection.assets(*SUMMARY_ASSETS) | AssetSelection.groups("field_summaries"),
    description="Rebuild the all-scenes summary tables and time-series plots.",
)


def scene_job_keys() -> list[AssetKey]:
    """Every per-scene asset the scene job may hold, upstream first (`landsat_scene` first)."""
    return [asset.key for asset in [*SCENE_ASSETS, *INDEX_ASSETS, *FIELD_ASSETS]]
