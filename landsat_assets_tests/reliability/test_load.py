"""Load: a 200-partition backfill through the real daemon and webserver with the deployment's
queue limits (dagster.yaml: 4 concurrent runs, 2 imagery slots). No run is lost or left
hanging, every asset is materialized exactly once per partition, storage holds exactly one
object per partition, and the queue limit held throughout.

The runs cover 40 partitions each (5 runs, one more than the queue admits at once): with
the default 10 per run, the 20 runs took about 5 minutes on 2 shared cores, mostly process
start-up of runs and steps, over this suite's 3-minute budget."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.instance.ref import InstanceRef

from landsat_assets.jobs import SCENE_ASSETS
from landsat_assets.partitions import register_scenes
from landsat_assets.stac.search import SceneQuery, search_scenes
from landsat_assets_tests.support.deployment import (
    dagster_home,
    finished_backfill,
    launch_scene_backfill,
    running_daemon,
    running_webserver,
    wait_for,
)

pytestmark = pytest.mark.slow

SCENES = 200
SCENES_PER_RUN = 40
MAX_CONCURRENT_RUNS = 4
SCENE_KEYS = [AssetKey(a.key.path) for a in SCENE_ASSETS]
TERMINAL = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


@pytest.fixture(scope="module")
def load_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from landsat_assets.demo.catalog import build_demo_catalog

    return build_demo_catalog(tmp_path_factory.mktemp("load") / "catalog", size=64, dates=100)


@pytest.fixture
def deployment(tmp_path: Path, load_catalog: Path) -> Iterator[dict[str, Any]]:
    home = dagster_home(tmp_path / "dagster_home")
    env = {
        "DAGSTER_HOME": str(home),
        "LANDSAT_STAC_URL": str(load_catalog),
        "LANDSAT_STORAGE": str(tmp_path / "storage"),
        "LANDSAT_SCENES_PER_RUN": str(SCENES_PER_RUN),
        "LANDSAT_SENSOR_STATUS": "stopped",
        "LANDSAT_AUTOMATION_STATUS": "stopped",
        "LANDSAT_AOI": "",
        "LANDSAT_START_DATE": "",
        "LANDSAT_END_DATE": "",
    }
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    try:
        with (
            running_daemon(env, log_path=tmp_path / "daemon.log") as daemon,
            running_webserver(env, log_path=tmp_path / "webserver.log") as webserver,
        ):
            yield {
                "instance": instance,
                "storage": tmp_path / "storage",
                "logs": daemon.log_tail,
                "graphql": f"{webserver.url}/graphql",
            }
    finally:
        instance.dispose()


@pytest.mark.timeout(420)
def test_two_hundred_partitions_through_the_daemon(
    deployment: dict[str, Any], load_catalog: Path
) -> None:
    instance: DagsterInstance = deployment["instance"]
    logs: Callable[[], str] = deployment["logs"]
    keys = [scene.scene_key for scene in search_scenes(load_catalog, SceneQuery())]
    assert len(keys) == SCENES
    register_scenes(instance, keys)
    backfill_id = launch_scene_backfill(deployment["graphql"], keys)
    status = wait_for(
        "the backfill to finish",
        lambda: finished_backfill(deployment["graphql"], backfill_id),
        360,
        logs,
    )
    runs = instance.get_run_records(RunsFilter(tags={"dagster/backfill": backfill_id}))
    assert status == "COMPLETED_SUCCESS", [
        (r.dagster_run.run_id, r.dagster_run.status) for r in runs
    ]

    # No run lost: every run the backfill made finished, successfully, and none is left over.
    assert len(runs) == SCENES // SCENES_PER_RUN
    assert all(record.dagster_run.status == DagsterRunStatus.SUCCESS for record in runs)
    assert all(r.dagster_run.status in TERMINAL for r in instance.get_run_records())

    # The queue limit held: never more than MAX_CONCURRENT_RUNS runs executing at once.
    spans = sorted((r.start_time, r.end_time) for r in runs)
    assert all(start is not None and end is not None for start, end in spans)
    peak = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert peak <= MAX_CONCURRENT_RUNS

    # Every asset exactly once per partition, and exactly one object per partition.
    storage: Path = deployment["storage"]
    for asset_key in SCENE_KEYS:
        assert instance.get_materialized_partitions(asset_key) == set(keys), asset_key
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key), limit=10 * SCENES
        ).records
        per_partition = Counter(r.asset_materialization.partition for r in records)
        assert set(per_partition.values()) == {1}, (asset_key, per_partition.most_common(3))
    for asset, extension in [
        ("landsat_scene", "json"),
        ("scene_bands", "tif"),
        ("cloud_mask", "tif"),
        ("scene_ndvi_stats", "parquet"),
    ]:
        files = sorted(p.name for p in (storage / asset).iterdir())
        assert files == sorted(f"{key}.{extension}" for key in keys), asset
    ndvi_files = {p.stem for p in (storage / "ndvi").iterdir()}
    assert ndvi_files <= set(keys) and all(p.suffix == ".tif" for p in (storage / "ndvi").iterdir())
    assert list((storage / ".staging").iterdir()) == []

    # The instance is consistent: no pool slot is still held by a finished run.
    pool = instance.event_log_storage.get_concurrency_info("landsat_imagery")
    assert pool.slot_count == 2
    assert pool.claimed_slots == [] and pool.pending_steps == []
