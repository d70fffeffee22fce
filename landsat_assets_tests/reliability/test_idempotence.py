"""Re-running a partition gives the same bytes; a code change or a USGS reprocessing makes
exactly the affected assets and partitions stale."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, Definitions, materialize
from dagster._core.definitions.data_version import StaleStatus

from landsat_assets.definitions import build_definitions, build_resources
from landsat_assets.freshness import UPSTREAM, scene_freshness
from landsat_assets.jobs import SCENE_ASSETS, SUMMARY_ASSETS, scene_job, summary_job
from landsat_assets.partitions import register_scenes
from landsat_assets.runner import RunReport, run_pipeline
from landsat_assets.stac.search import SceneQuery, search_scenes
from landsat_assets_tests.support.catalogs import add_item, copy_catalog, read_item
from landsat_assets_tests.support.scale import (
    counting_queries,
    lookalike_records,
    record_as_processed,
)
from landsat_assets_tests.support.staleness import ui_status

pytestmark = pytest.mark.slow


def quiet(_line: str) -> None:
    return None


def digests(storage: Path) -> dict[str, str]:
    return {
        str(path.relative_to(storage)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(storage.rglob("*"))
        if path.is_file() and ".staging" not in path.parts
    }


def test_rematerializing_gives_identical_bytes(
    tiny_catalog: Path, tmp_path: Path, instance: DagsterInstance
) -> None:
    storage = tmp_path / "storage"
    env = {
        "LANDSAT_STAC_URL": str(tiny_catalog),
        "LANDSAT_STORAGE": str(storage),
        "LANDSAT_MIN_CLEAR_FRACTION": "0",
    }
    keys = [s.scene_key for s in search_scenes(tiny_catalog, SceneQuery())[:2]]
    register_scenes(instance, keys)
    runs = []
    for _ in range(2):
        for key in keys:
            result = materialize(
                SCENE_ASSETS, instance=instance, resources=build_resources(env), partition_key=key
            )
            assert result.success
        summary = materialize(
            [*SCENE_ASSETS, *SUMMARY_ASSETS],
            selection=SUMMARY_ASSETS,
            instance=instance,
            resources=build_resources(env),
        )
        assert summary.success
        runs.append(digests(storage))
    first, second = runs
    assert {name.split("/")[0] for name in first} >= {
        "landsat_scene",
        "scene_bands",
        "cloud_mask",
        "ndvi",
        "scene_ndvi_stats",
    }
    assert any(name.startswith("ndvi/") for name in first), "no NDVI raster to compare"
    assert "ndvi_summary.parquet" in first
    assert first == second
    assert len(instance.get_runs()) == 6


def stale_scenes(instance: DagsterInstance, defs: Definitions, records) -> list[str]:
    return list(scene_freshness(instance, defs, records).stale)


def processed(
    catalog: Path, tmp_path: Path, instance: DagsterInstance
) -> tuple[dict[str, str], Definitions, RunReport]:
    """The scenes of `catalog` up to March 2023 run through the main job, in runs of four."""
    env = {
        "LANDSAT_STAC_URL": str(catalog),
        "LANDSAT_STORAGE": str(tmp_path / "storage"),
        "LANDSAT_END_DATE": "2023-03-01",
    }
    defs = build_definitions(env)
    report = run_pipeline(instance, defs, scenes_per_run=4, echo=quiet)
    assert report.ok, report.failures
    return env, defs, report


def test_code_version_and_reprocessing_make_exactly_the_affected_stale(
    tiny_catalog: Path, tmp_path: Path, instance: DagsterInstance
) -> None:
    catalog = copy_catalog(tiny_catalog, tmp_path / "catalog")
    env, defs, report = processed(catalog, tmp_path, instance)
    keys = [r.scene_key for r in report.found]
    assert len(keys) >= 2
    assert stale_scenes(instance, defs, report.found) == []

    changed = [
        asset.map_asset_specs(
            # A new code version whatever the current one is (its settings part kept).
            lambda spec: spec.replace_attributes(code_version="next-" + spec.code_version)
        )
        if asset.key == AssetKey("cloud_mask")
        else asset
        for asset in defs.assets
    ]
    new_code = Definitions(
        assets=changed,
        jobs=[scene_job, summary_job],
        resources=build_resources(env),
    )
    for key in keys:
        assert ui_status(instance, new_code, "landsat_scene", key) == StaleStatus.FRESH
        assert ui_status(instance, new_code, "scene_bands", key) == StaleStatus.FRESH
        # Dagster marks the changed asset itself; the runner then re-runs every scene asset
        # of a scene with anything not fresh, so its downstream products are rebuilt too.
        assert ui_status(instance, new_code, "cloud_mask", key) == StaleStatus.STALE, key
    assert sorted(stale_scenes(instance, new_code, report.found)) == sorted(keys)

    victim = report.found[0]
    reprocessed = copy.deepcopy(read_item(catalog, victim.item_id))
    reprocessed["properties"]["landsat:product_generated"] = "2030-01-01T00:00:00Z"
    for asset in reprocessed["assets"].values():
        if not asset["href"].startswith(("http", "s3")):
            asset["href"] = f"../{victim.item_id}/{asset['href'].removeprefix('./')}"
    add_item(catalog, "reprocessed", reprocessed)
    records = defs.resources["catalog"].search()
    assert stale_scenes(instance, defs, records) == [victim.scene_key]

    rerun = run_pipeline(instance, defs, scenes_per_run=4, echo=quiet)
    assert rerun.ok and sorted(rerun.up_to_date) == sorted(k for k in keys if k != victim.scene_key)
    assert stale_scenes(instance, defs, records) == []


def test_the_bulk_rule_agrees_with_dagster_staleness(
    tiny_catalog: Path, tmp_path: Path, instance: DagsterInstance
) -> None:
    """The runner's up-to-date rule reads records in bulk; the UI asks Dagster's resolver
    partition by partition. A scene whose upstream data version changed under products that
    were not re-made (its `landsat_scene` re-materialized alone, which records the USGS
    version as its data version) is stale for both, and every other scene fresh for both."""
    env, defs, report = processed(tiny_catalog, tmp_path, instance)
    victim = report.found[0].scene_key
    alone = materialize(
        [SCENE_ASSETS[0]],
        instance=instance,
        resources=build_resources(env),
        partition_key=victim,
    )
    assert alone.success

    ui_stale = {
        record.scene_key
        for record in report.found
        for asset in SCENE_ASSETS
        if ui_status(instance, defs, asset.key.to_user_string(), record.scene_key)
        != StaleStatus.FRESH
    }
    freshness = scene_freshness(instance, defs, report.found)
    assert ui_stale == {victim}
    assert freshness.stale == {victim: [UPSTREAM]}


def test_the_up_to_date_decision_makes_the_same_queries_for_any_number_of_scenes(
    tiny_catalog: Path, tmp_path: Path, instance: DagsterInstance
) -> None:
    """The decision reads the instance in bulk: with 120 more scenes registered and
    materialized it makes exactly as many database queries as for the first few, and events
    it has read before are not read again."""
    env, defs, report = processed(tiny_catalog, tmp_path, instance)
    few = report.found

    statements: list[str] = []

    def queries(records) -> int:
        with counting_queries() as executed:
            scene_freshness(instance, defs, records)
        statements[:] = executed
        return len(executed)

    # The run's summary has read these scenes' events already; start from a cold memo.
    for memo in Path(instance.root_directory, "landsat-assets").rglob("*.json"):
        memo.unlink()
    baseline = queries(few)
    more = lookalike_records(few[0], 120)
    record_as_processed(instance, defs, few[0], more)
    assert queries([*few, *more]) == baseline
    assert scene_freshness(instance, defs, [*few, *more]).stale == {}
    # Nothing new since: the events already read are not read again (one id query each).
    assert queries([*few, *more]) <= 2 * len(SCENE_ASSETS)
    # A damaged memo of them is only slower: the events are read again, the answer is the same.
    for memo in Path(instance.root_directory, "landsat-assets").rglob("*.json"):
        memo.write_text("{not json")
    assert queries([*few, *more]) == baseline
    victim = few[1]
    (Path(env["LANDSAT_STORAGE"]) / "ndvi" / f"{victim.scene_key}.tif").unlink(missing_ok=True)
    (Path(env["LANDSAT_STORAGE"]) / "cloud_mask" / f"{victim.scene_key}.tif").unlink()
    assert list(scene_freshness(instance, defs, [*few, *more]).stale) == [victim.scene_key]
    assert baseline <= 4 * len(SCENE_ASSETS), "\n".join(q.split("\n")[0][:90] for q in statements)
