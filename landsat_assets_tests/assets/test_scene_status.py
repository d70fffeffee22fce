"""What a person sees of each scene in the UI: its status as a per-scene check on `ndvi`,
rounded numbers, the scene's facts on every product, described table columns."""

from __future__ import annotations

import math

from dagster import (
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    EventRecordsFilter,
)

from landsat_assets.assets.indices import SCENE_STATUS_CHECK
from landsat_assets.definitions import build_definitions
from landsat_assets.runner import run_pipeline
from landsat_assets.science.summary import significant, stats_columns
from landsat_assets_tests.assets.test_pipeline import latest_metadata

PER_SCENE = ("scene_bands", "cloud_mask", "ndvi", "scene_ndvi_stats")


def test_every_scene_has_its_status_check_and_facts(instance, pipeline_env):
    defs = build_definitions(pipeline_env)
    report = run_pipeline(instance, defs, scenes_per_run=8, echo=lambda _line: None)
    assert report.ok, report.failures
    statuses = dict(zip(report.summary["scene_id"], report.summary["status"], strict=True))
    assert {"processed", "filtered_cloudy"} <= set(statuses.values())

    records = instance.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    )
    evaluations = {}
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        assert evaluation.asset_key == AssetKey("ndvi")
        assert evaluation.check_name == SCENE_STATUS_CHECK
        evaluations[evaluation.partition] = evaluation
    assert set(evaluations) == set(statuses)
    for key, status in statuses.items():
        evaluation = evaluations[key]
        assert evaluation.passed is (status == "processed"), key
        assert evaluation.severity is AssetCheckSeverity.WARN
        assert evaluation.description.startswith(status)
        # The UI counts a result only when it targets the partition's latest materialization.
        (latest,) = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey("ndvi"), asset_partitions=[key]), limit=1
        ).records
        assert evaluation.target_materialization_data.storage_id == latest.storage_id, key

    record = next(r for r in report.found if statuses[r.scene_key] == "processed")
    facts = f"{record.platform}, path/row {record.wrs_path}/{record.wrs_row}"
    for asset in PER_SCENE:
        metadata = latest_metadata(instance, asset, record.scene_key)
        assert facts in metadata["scene"], asset
        assert f"{record.datetime:%Y-%m-%d}" in metadata["scene"], asset
        assert f"USGS processing {record.version}" in metadata["scene"], asset
    scene = latest_metadata(instance, "landsat_scene", record.scene_key)
    assert scene["platform"] == record.platform
    assert scene["wrs_path_row"] == f"{record.wrs_path}/{record.wrs_row}"

    ndvi = latest_metadata(instance, "ndvi", record.scene_key)
    assert next(iter(ndvi)) == "preview"  # the first entry the UI lists
    numbers = [v for v in ndvi.values() if isinstance(v, float) and math.isfinite(v)]
    assert {"ndvi_mean", "ndvi_std", "aoi_clear_fraction"} <= set(ndvi)
    assert numbers and all(v == significant(v) for v in numbers)
    stats = latest_metadata(instance, "scene_ndvi_stats", record.scene_key)
    assert stats["ndvi_mean"] == significant(stats["ndvi_mean"])

    summary = latest_metadata(instance, "ndvi_summary", None)
    schema = summary["dagster/column_schema"]
    assert [c.name for c in schema.columns] == list(stats_columns())
    assert all(c.description for c in schema.columns)
    assert ".000000" not in summary["preview"] and ":00+00:00" not in summary["preview"]
