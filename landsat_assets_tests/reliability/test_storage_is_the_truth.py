"""Storage is the truth: a changed AOI, threshold or storage, a deleted product, a corrupt or
incomplete summary are all put right by the next `landsat-assets run`, which says why, and
recomputes nothing more than they affect."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, RunsFilter
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

from landsat_assets.definitions import build_definitions
from landsat_assets.errors import InputError
from landsat_assets.runner import ALL_SCENES, RunReport, run_pipeline
from landsat_assets_tests.support.catalogs import (
    copy_catalog,
    edit_item,
    item_path,
    spy_on_item_reads,
)
from landsat_assets_tests.support.cli import landsat_assets
from landsat_assets_tests.support.disks import resize, small_tmpfs

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tiny_catalog: Path, tmp_path: Path) -> dict[str, str]:
    return {
        "LANDSAT_STAC_URL": str(tiny_catalog),
        "LANDSAT_STORAGE": str(tmp_path / "storage"),
        "LANDSAT_END_DATE": "2023-03-01",
        "LANDSAT_MIN_CLEAR_FRACTION": "0",
    }


def run(instance: DagsterInstance, env: dict[str, str]) -> tuple[RunReport, list[str]]:
    lines: list[str] = []
    report = run_pipeline(instance, build_definitions(env), scenes_per_run=4, echo=lines.append)
    assert report.ok, report.failures
    return report, lines


def recomputed(report: RunReport) -> set[str]:
    return {r.scene_key for r in report.found} - set(report.up_to_date)


@pytest.fixture
def first(instance: DagsterInstance, env: dict[str, str]) -> RunReport:
    """A first run that made every scene's products (each test then changes one thing)."""
    report, _lines = run(instance, env)
    assert len(report.found) >= 3 and recomputed(report) == {r.scene_key for r in report.found}
    return report


def test_an_unchanged_deployment_recomputes_nothing(instance, env, first, monkeypatch):
    """... nor reads any item file again: their records are kept with the instance
    (stac/record_cache.py)."""
    item_reads = spy_on_item_reads(monkeypatch)
    again, lines = run(instance, env)
    assert recomputed(again) == set(), lines
    assert sorted(again.up_to_date) == sorted(r.scene_key for r in first.found)
    assert item_reads == []


def test_a_changed_aoi_recomputes_every_scene_and_says_why(instance, env, first):
    whole_scenes = dict(env, LANDSAT_AOI="none")
    report, lines = run(instance, whole_scenes)
    assert recomputed(report) == {r.scene_key for r in first.found}
    assert f"AOI changed: {len(first.found)} scene(s) to recompute." in lines
    assert (report.summary["valid_pixel_count"] > first.summary["valid_pixel_count"]).all()
    again, _lines = run(instance, whole_scenes)
    assert recomputed(again) == set()


def test_the_summary_keeps_only_scenes_of_the_current_aoi(instance, env, first):
    """An AOI that only WRS-2 034/032 covers: 033/032's scenes are no longer found, and their
    rows (made for the old AOI) leave the summary."""
    west = dict(env, LANDSAT_AOI="-106.0,40.0,-105.8,40.2")
    report, _lines = run(instance, west)
    found = {r.scene_key for r in report.found}
    assert found and all("_034032_" in key for key in found)
    assert len(found) < len(first.found)
    assert set(report.summary["scene_id"]) == found
    summary = instance.get_latest_materialization_event(AssetKey("ndvi_summary"))
    left_out = summary.asset_materialization.metadata["rows_left_out"].value
    assert left_out == len(first.found) - len(found)


def test_a_stricter_threshold_recomputes_and_filters(instance, env, first):
    strict = dict(env, LANDSAT_MIN_CLEAR_FRACTION="1")
    report, lines = run(instance, strict)
    assert recomputed(report) == {r.scene_key for r in first.found}
    assert f"min clear fraction changed: {len(first.found)} scene(s) to recompute." in lines
    cloudy = report.summary["aoi_clear_fraction"] < 1
    assert cloudy.any()
    assert (report.summary.loc[cloudy, "status"] == "filtered_cloudy").all()
    storage = Path(env["LANDSAT_STORAGE"])
    for scene in report.summary.loc[cloudy, "scene_id"]:
        assert not (storage / "ndvi" / f"{scene}.tif").exists(), scene


def test_a_new_storage_gets_every_product(instance, env, first, tmp_path):
    moved = dict(env, LANDSAT_STORAGE=str(tmp_path / "elsewhere"))
    report, lines = run(instance, moved)
    assert recomputed(report) == {r.scene_key for r in first.found}
    assert f"LANDSAT_STORAGE changed: {len(first.found)} scene(s) to recompute." in lines
    assert len(report.summary) == len(first.found)
    processed = report.summary[report.summary["status"] == "processed"]["scene_id"]
    assert len(processed) and all(
        (tmp_path / "elsewhere" / "ndvi" / f"{scene}.tif").exists() for scene in processed
    )


def test_a_deleted_product_is_made_again_and_nothing_else(instance, env, first):
    storage = Path(env["LANDSAT_STORAGE"])
    victim = sorted((storage / "ndvi").glob("*.tif"))[0]
    victim.unlink()
    report, lines = run(instance, env)
    assert recomputed(report) == {victim.stem}
    assert "products missing from storage: 1 scene(s) to recompute." in lines
    assert victim.exists()


@pytest.mark.parametrize(
    "product", ["landsat_scene/{}.json", "cloud_mask/{}.tif", "scene_ndvi_stats/{}.parquet"]
)
def test_a_truncated_product_is_made_again_and_nothing_else(instance, env, first, product):
    """A partial copy: the file is there, with fewer bytes than were written."""
    victim = first.found[0].scene_key
    path = Path(env["LANDSAT_STORAGE"]) / product.format(victim)
    written = path.read_bytes()
    path.write_bytes(written[:100])
    report, lines = run(instance, env)
    assert recomputed(report) == {victim}
    assert "products changed in storage: 1 scene(s) to recompute." in lines
    assert path.read_bytes() == written


def test_a_corrupt_summary_is_rebuilt_without_recomputing_scenes(instance, env, first):
    summary = Path(env["LANDSAT_STORAGE"]) / "ndvi_summary.parquet"
    summary.write_bytes(b"not parquet at all")
    report, _lines = run(instance, env)
    assert recomputed(report) == set()
    assert pd.read_parquet(summary).equals(first.summary)


def test_a_summary_missing_a_scene_is_rebuilt(instance, env, first):
    """What a run killed between its last scene batch and its summary leaves behind."""
    summary = Path(env["LANDSAT_STORAGE"]) / "ndvi_summary.parquet"
    first.summary.iloc[1:].to_parquet(summary, index=False)
    report, _lines = run(instance, env)
    assert recomputed(report) == set()
    assert len(report.summary) == len(first.found)


def test_each_unreadable_item_fails_alone(instance, tiny_catalog, tmp_path):
    catalog = copy_catalog(tiny_catalog, tmp_path / "catalog")
    records = build_definitions({"LANDSAT_STAC_URL": str(catalog)}).resources["catalog"].search()
    not_json, bad_date = records[0], records[1]
    item_path(catalog, not_json.item_id).write_text("{broken")
    edit_item(catalog, bad_date.item_id, lambda item: item["properties"].update(datetime="soon"))
    env = {"LANDSAT_STAC_URL": str(catalog), "LANDSAT_STORAGE": str(tmp_path / "storage")}
    report = run_pipeline(instance, build_definitions(env), scenes_per_run=4, echo=lambda _: None)
    assert not report.ok and report.failures == {}
    assert len(report.bad_items) == 2
    for record in (not_json, bad_date):
        assert any(f"{record.item_id}.json" in problem for problem in report.bad_items)
    assert {r.scene_key for r in report.found} == {
        r.scene_key for r in records if r not in (not_json, bad_date)
    }
    assert len(report.summary) == len(records) - 2


def test_band_files_outside_the_catalog_folder_need_local_roots(instance, tiny_catalog, tmp_path):
    catalog = copy_catalog(tiny_catalog, tmp_path / "catalog")
    record = build_definitions({"LANDSAT_STAC_URL": str(catalog)}).resources["catalog"].search()[0]
    data_disk = tmp_path / "data-disk"
    data_disk.mkdir()

    def absolute_hrefs_on_the_data_disk(item: dict) -> None:
        for asset in item["assets"].values():
            source = (item_path(catalog, record.item_id).parent / asset["href"]).resolve()
            if source.suffix.lower() == ".tif":
                asset["href"] = str(source.rename(data_disk / source.name))

    edit_item(catalog, record.item_id, absolute_hrefs_on_the_data_disk)
    env = {"LANDSAT_STAC_URL": str(catalog), "LANDSAT_STORAGE": str(tmp_path / "storage")}
    refused = run_pipeline(instance, build_definitions(env), scenes_per_run=4, echo=lambda _: None)
    (problem,) = refused.bad_items
    assert record.item_id in problem and "add its folder to LANDSAT_LOCAL_ROOTS" in problem
    assert record.scene_key not in {r.scene_key for r in refused.found}

    allowed = dict(env, LANDSAT_LOCAL_ROOTS=str(data_disk))
    report = run_pipeline(
        instance, build_definitions(allowed), scenes_per_run=4, echo=lambda _: None
    )
    assert report.ok, report.failures
    assert record.scene_key in set(report.summary["scene_id"])


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 160 kB disk for the storage."""
    with small_tmpfs(tmp_path / "small-disk", "160k") as mount_point:
        yield mount_point


def test_a_full_storage_disk_is_named_and_not_retried(instance, tiny_catalog, small_disk):
    env = {
        "LANDSAT_STAC_URL": str(tiny_catalog),
        "LANDSAT_STORAGE": str(small_disk),
        "LANDSAT_AOI": "none",
        "LANDSAT_MIN_CLEAR_FRACTION": "0",
    }
    report = run_pipeline(instance, build_definitions(env), scenes_per_run=12, echo=lambda _: None)
    assert report.failures, "the disk never filled up"
    for scene, error in report.failures.items():
        assert error.startswith(f"no space left on the device holding {small_disk}"), (scene, error)
    retried = [
        record
        for run in instance.get_runs()
        for record in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_RESTARTED)
    ]
    assert retried == [], "a full disk was retried as if transient"


def test_a_full_instance_disk_stops_with_one_line_and_the_next_run_completes(
    tiny_catalog, tmp_path
):
    """DAGSTER_HOME fills up in the middle of the run (SQLite then reports a "disk I/O
    error"); after space is freed the next run completes and records the dead run."""
    env = {
        "LANDSAT_STAC_URL": str(tiny_catalog),
        "LANDSAT_STORAGE": str(tmp_path / "storage"),
    }
    with small_tmpfs(tmp_path / "home", "1m") as home:
        env["DAGSTER_HOME"] = str(home)
        full = landsat_assets("run", env=env)
        assert full.returncode == 2, full.stdout + full.stderr
        assert full.stderr.strip().splitlines() == [
            f"error: no space left on the device holding DAGSTER_HOME {home}: the Dagster "
            "instance cannot record the run; free some space and run again (it picks up "
            "where this run stopped)"
        ]

        resize(home, "16m")
        after = landsat_assets("run", env=env)
        assert after.returncode == 0, after.stdout + after.stderr
        instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
        try:
            assert not instance.get_runs(RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES))
            assert len(instance.get_materialized_partitions(AssetKey("scene_ndvi_stats"))) == 12
        finally:
            instance.dispose()


@pytest.mark.parametrize("what", ["storage", "instance"])
def test_a_storage_or_instance_that_is_a_file_stops_before_any_work(what, tmp_path, tiny_catalog):
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    env = {
        "LANDSAT_STAC_URL": str(tiny_catalog),
        "LANDSAT_STORAGE": str(in_the_way if what == "storage" else tmp_path / "storage"),
        "DAGSTER_HOME": str(in_the_way if what == "instance" else tmp_path / "home"),
    }
    result = landsat_assets("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    name = "LANDSAT_STORAGE" if what == "storage" else "DAGSTER_HOME"
    assert (
        result.stderr.startswith(f"error: {name} {in_the_way}")
        and "cannot be written" in result.stderr
    )
    assert "Searching" not in result.stdout


def test_force_recomputes_the_chosen_scenes_only(instance, env, first):
    chosen = first.found[1].scene_key
    defs = build_definitions(env)
    lines: list[str] = []
    report = run_pipeline(instance, defs, scenes_per_run=4, echo=lines.append, force=[chosen])
    assert recomputed(report) == {chosen}
    assert "asked for (--force): 1 scene(s) to recompute." in lines
    everything = run_pipeline(instance, defs, scenes_per_run=4, echo=print, force=ALL_SCENES)
    assert recomputed(everything) == {r.scene_key for r in first.found}
    with pytest.raises(InputError, match="--scene LC08_L2SP_999999_20230101_02_T1: not among"):
        run_pipeline(instance, defs, scenes_per_run=4, force=["LC08_L2SP_999999_20230101_02_T1"])
