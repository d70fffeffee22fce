"""Asset jobs: the per-scene pipeline and the all-scenes summary."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from landsat_assets.assets.indices import ndvi
from landsat_assets.assets.masks import cloud_mask
from landsat_assets.assets.scenes import landsat_scene, scene_bands
from landsat_assets.assets.summaries import ndvi_summary, ndvi_timeseries_plot, scene_ndvi_stats

SCENE_ASSETS = [landsat_scene, scene_bands, cloud_mask, ndvi, scene_ndvi_stats]
SUMMARY_ASSETS = [ndvi_summary, ndvi_timeseries_plot]

scene_job = define_asset_job(
    "landsat_scene_job",
    selection=AssetSelection.assets(*SCENE_ASSETS),
    description="Every per-scene product of one or more Landsat scenes.",
)

summary_job = define_asset_job(
    "ndvi_summary_job",
    selection=AssetSelection.assets(*SUMMARY_ASSETS),
    description="Rebuild the all-scenes summary table and NDVI time-series plot.",
)
