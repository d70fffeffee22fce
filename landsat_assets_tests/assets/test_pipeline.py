"""The per-scene assets materialized through Dagster on demo scenes: files, metadata, summary."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from dagster import AssetKey, DagsterInstance, materialize
from rio_cogeo.cogeo import cog_validate

from landsat_assets.definitions import build_definitions, build_resources
from landsat_assets.jobs import SCENE_ASSETS, SUMMARY_ASSETS
from landsat_assets.partitions import register_scenes
from landsat_assets.runner import contiguous_batches, run_pipeline
from landsat_assets.science.summary import STATS_COLUMNS
from landsat_assets_tests.support.catalogs import band_file, copy_catalog, edit_item, one_day_env


def latest_metadata(instance: DagsterInstance, asset: str, partition: str) -> dict:
    record = instance.get_latest_data_version_record(
        AssetKey(asset), is_source=False, partition_key=partition
    )
    assert record is not None, f"{asset} {partition} was not materialized"
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def test_partition_range_in_one_run_writes_one_object_per_scene(instance, pipeline_env):
    env = dict(pipeline_env, LANDSAT_MIN_CLEAR_FRACTION="0.0")
    defs = build_definitions(env)
    scenes = defs.resources["catalog"].search()
    keys = [s.scene_key for s in scenes[:3]]
    register_scenes(instance, [s.scene_key for s in scenes])
    result = materialize(
        SCENE_ASSETS,
        instance=instance,
        resources=build_resources(env),
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        },
    )
    assert result.success
    assert len(instance.get_runs()) == 1
    storage = Path(env["LANDSAT_STORAGE"])
    for asset, extension in [
        ("landsat_scene", "json"),
        ("scene_bands", "tif"),
        ("cloud_mask", "tif"),
        ("ndvi", "tif"),
        ("scene_ndvi_stats", "parquet"),
    ]:
        assert sorted(p.stem for p in (storage / asset).glob(f"*.{extension}")) == sorted(keys)
    for key in keys:
        assert cog_validate(str(storage / "ndvi" / f"{key}.tif"))[0]
        # The README's promise: ZSTD products, the floating-point predictor for NDVI.
        for asset, predictor in [("scene_bands", 2), ("cloud_mask", 1), ("ndvi", 3)]:
            with rasterio.open(storage / asset / f"{key}.tif") as product:
                assert product.compression is rasterio.enums.Compression.zstd
                assert int(product.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR", 1)) == predictor
        metadata = latest_metadata(instance, "ndvi", key)
        assert metadata["status"] == "processed"
        assert "data:image/png;base64," in metadata["preview"]
        assert -1 <= metadata["ndvi_mean"] <= 1
        mask_metadata = latest_metadata(instance, "cloud_mask", key)
        assert 0 <= mask_metadata["aoi_clear_fraction"] <= 1
        assert "data:image/png;base64," in mask_metadata["preview"]
        row = pd.read_parquet(storage / "scene_ndvi_stats" / f"{key}.parquet")
        assert list(row.columns) == list(STATS_COLUMNS)
        with rasterio.open(storage / "ndvi" / f"{key}.tif") as dataset:
            ndvi = dataset.read(1)
        valid = ndvi[~np.isnan(ndvi)]
        assert row.at[0, "valid_pixel_count"] == valid.size
        assert row.at[0, "ndvi_mean"] == pytest.approx(float(valid.mean()), abs=1e-6)
    assert not any((storage / ".staging").rglob("*.tif"))


def test_main_job_processes_filters_and_summarizes(instance, pipeline_env):
    defs = build_definitions(pipeline_env)
    report = run_pipeline(instance, defs, scenes_per_run=8, echo=lambda _line: None)
    assert report.ok, report.failures
    summary = report.summary
    assert len(summary) == len(report.found) >= 24
    assert list(summary.columns) == list(STATS_COLUMNS)
    assert summary["datetime"].is_monotonic_increasing
    statuses = set(summary["status"])
    assert {"processed", "filtered_cloudy"} <= statuses
    filtered = summary[summary["status"] == "filtered_cloudy"]
    assert (filtered["aoi_clear_fraction"] < 0.2).all()
    assert filtered["ndvi_mean"].isna().all()
    storage = Path(pipeline_env["LANDSAT_STORAGE"])
    for key in filtered["scene_id"]:
        assert not (storage / "ndvi" / f"{key}.tif").exists()
        assert latest_metadata(instance, "ndvi", key)["status"] == "filtered_cloudy"
    processed = summary[summary["status"] == "processed"]
    assert (processed["aoi_clear_fraction"] >= 0.2).all()
    assert (storage / "ndvi_timeseries_plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs_before = len(instance.get_runs())

    again = run_pipeline(instance, defs, scenes_per_run=8, echo=lambda _line: None)
    assert again.ok
    assert sorted(again.up_to_date) == sorted(r.scene_key for r in report.found)
    assert len(instance.get_runs()) == runs_before, "an up-to-date rerun launched runs"


def test_bad_scene_fails_alone_and_names_the_file(instance, pipeline_env, tmp_path):
    catalog_copy = copy_catalog(Path(pipeline_env["LANDSAT_STAC_URL"]), tmp_path / "catalog")
    # The scenes up to mid-March: two runs of four, the first holding the bad scene.
    env = dict(pipeline_env, LANDSAT_STAC_URL=str(catalog_copy), LANDSAT_END_DATE="2023-03-15")
    defs = build_definitions(env)
    scenes = defs.resources["catalog"].search()
    assert len(scenes) > 4
    victim = scenes[1]
    red = Path(victim.bands["red"].href)
    red.write_bytes(b"not a tiff at all")
    report = run_pipeline(instance, defs, scenes_per_run=4, echo=lambda _line: None)
    assert list(report.failures) == [victim.scene_key]
    assert victim.scene_key in report.failures[victim.scene_key]
    assert red.name in report.failures[victim.scene_key]
    storage = Path(env["LANDSAT_STORAGE"])
    others = [s.scene_key for s in scenes if s.scene_key != victim.scene_key]
    assert sorted(p.stem for p in (storage / "scene_ndvi_stats").glob("*.parquet")) == sorted(
        others
    )


def test_contiguous_batches():
    order = ["a", "b", "c", "d", "e", "f", "g"]
    assert contiguous_batches(order, ["a", "b", "d", "e", "f", "g"], 3) == [
        ["a", "b"],
        ["d", "e", "f"],
        ["g"],
    ]
    assert contiguous_batches(order, [], 3) == []


def test_summary_assets_are_unpartitioned_and_all_assets_documented():
    defs = build_definitions({})
    graph = defs.resolve_asset_graph()
    for asset in [*SCENE_ASSETS, *SUMMARY_ASSETS]:
        node = graph.get(asset.key)
        assert node.description and node.group_name and node.code_version
        assert node.kinds
    assert graph.get(AssetKey("ndvi_summary")).partitions_def is None


def test_unusable_item_is_reported_and_the_others_still_run(instance, pipeline_env, tmp_path):
    catalog_copy = copy_catalog(Path(pipeline_env["LANDSAT_STAC_URL"]), tmp_path / "catalog")
    env = dict(pipeline_env, LANDSAT_STAC_URL=str(catalog_copy), LANDSAT_END_DATE="2023-02-20")
    first = build_definitions(env).resources["catalog"].search()[0]
    item = edit_item(catalog_copy, first.item_id, lambda item: item["assets"].pop("red"))
    defs = build_definitions(env)
    report = run_pipeline(instance, defs, scenes_per_run=8, echo=lambda _line: None)
    assert not report.ok
    assert len(report.bad_items) == 1
    assert item["id"] in report.bad_items[0] and "red" in report.bad_items[0]
    assert not report.failures
    assert item["id"] not in {r.scene_key for r in report.found}
    assert len(report.summary) == len(report.found) > 0


def test_clear_pixels_outside_the_valid_dn_range_are_no_data_everywhere(
    instance, small_demo_catalog, tmp_path
):
    """The NDVI metadata, the statistics row and the summary all carry the one decided status:
    a clear scene whose red DNs are all above the valid range has no NDVI value, so it is
    `no_data` with that reason (not `filtered_cloudy`, as the stats row once said)."""
    catalog = copy_catalog(small_demo_catalog, tmp_path / "catalog")
    record = build_definitions({"LANDSAT_STAC_URL": str(catalog)}).resources["catalog"].search()[0]
    red = band_file(catalog, record.item_id, "red")
    with rasterio.open(red) as dataset:
        profile, pixels = dataset.profile, dataset.read(1)
    profile.update(driver="GTiff")
    with rasterio.open(red, "w", **profile) as dataset:
        dataset.write(np.where(pixels == 0, 0, 50_000).astype(np.uint16), 1)
    env = {
        "LANDSAT_STAC_URL": str(catalog),
        "LANDSAT_STORAGE": str(tmp_path / "storage"),
        "LANDSAT_MIN_CLEAR_FRACTION": "0",
        **one_day_env(record.datetime),
    }
    report = run_pipeline(instance, build_definitions(env), scenes_per_run=1, echo=lambda _: None)
    assert report.ok and [r.scene_key for r in report.found] == [record.scene_key]
    ndvi = latest_metadata(instance, "ndvi", record.scene_key)
    stats = latest_metadata(instance, "scene_ndvi_stats", record.scene_key)
    assert ndvi["status"] == stats["status"] == "no_data"
    assert "valid DN range 7273..43636" in ndvi["reason"] == stats["reason"]
    assert list(report.summary["status"]) == ["no_data"]
    assert not (tmp_path / "storage" / "ndvi" / f"{record.scene_key}.tif").exists()
