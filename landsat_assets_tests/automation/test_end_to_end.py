"""The local deployment end to end: the real dagster-daemon and webserver on 127.0.0.1 with a
temporary DAGSTER_HOME. A scene added to the demo catalog is processed by a sensor-launched run
and lands in the summary without any manual action; a backfill launched through GraphQL runs
in ceil(n / LANDSAT_SCENES_PER_RUN) runs. Every process is stopped by its process group."""

from __future__ import annotations

import io
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.instance.ref import InstanceRef

from landsat_assets.demo.catalog import add_scene
from landsat_assets.jobs import SCENE_ASSETS, SUMMARY_ASSETS
from landsat_assets.partitions import register_scenes
from landsat_assets.sensors import SENSOR_NAME
from landsat_assets.stac.search import SceneQuery, search_scenes
from landsat_assets_tests.support.deployment import (
    dagster_home,
    finished_backfill,
    graphql,
    launch_scene_backfill,
    run_errors,
    running_daemon,
    running_webserver,
    wait_for,
)
from landsat_assets_tests.support.processes import RunningServer

pytestmark = pytest.mark.slow

SCENES_PER_RUN = 2
BACKFILL_SCENES = 3
SCENE_KEYS = [AssetKey(a.key.path) for a in SCENE_ASSETS]
SUMMARY_KEYS = {AssetKey(a.key.path) for a in SUMMARY_ASSETS}
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
REPOSITORY = {"repositoryLocationName": "landsat_assets", "repositoryName": "__repository__"}

SENSOR_QUERY = """
query ($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status ticks(limit: 5) { status skipReason error { message } } } }
    ... on PythonError { message }
  }
}
"""


@pytest.fixture
def deployment(tmp_path: Path, small_demo_catalog: Path) -> Iterator[dict[str, Any]]:
    home = dagster_home(tmp_path / "dagster_home")
    catalog = tmp_path / "catalog"
    shutil.copytree(small_demo_catalog.parent, catalog)
    newest = search_scenes(catalog, SceneQuery())[-1]
    env = {
        "DAGSTER_HOME": str(home),
        "LANDSAT_STAC_URL": str(catalog / "catalog.json"),
        "LANDSAT_STORAGE": str(tmp_path / "storage"),
        # The sensor starts on an empty window (no first-tick runs), so the scene added
        # below is the only thing it finds.
        "LANDSAT_START_DATE": f"{newest.datetime.date().isoformat()}T23:59:59",
        "LANDSAT_MIN_CLEAR_FRACTION": "0",
        "LANDSAT_SCENES_PER_RUN": str(SCENES_PER_RUN),
        "LANDSAT_SENSOR_INTERVAL_SECONDS": "5",
        "LANDSAT_AUTOMATION_INTERVAL_SECONDS": "5",
        **{
            name: ""
            for name in (
                "LANDSAT_AOI",
                "LANDSAT_END_DATE",
                "LANDSAT_COLLECTION",
                "LANDSAT_MAX_SCENE_CLOUD",
                "LANDSAT_SENSOR_STATUS",
                "LANDSAT_SENSOR_FIRST_TICK",
                "LANDSAT_SENSOR_MAX_RUNS_PER_TICK",
                "LANDSAT_AUTOMATION_STATUS",
                "LANDSAT_SUMMARY_CRON",
            )
        },
    }
    # Create the instance's databases before two processes race to migrate them.
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    try:
        # Started, not waited for: it loads the code while the webserver does.
        with running_daemon(env, log_path=tmp_path / "daemon.log") as daemon:
            with running_webserver(env, log_path=tmp_path / "webserver.log") as webserver:
                wait_for(
                    "the daemon's first heartbeat",
                    lambda: "SENSOR" in instance.get_daemon_heartbeats() or None,
                    90,
                    daemon.log_tail,
                )
                yield {
                    "instance": instance,
                    "catalog": catalog,
                    "storage": tmp_path / "storage",
                    "daemon": daemon,
                    "graphql": f"{webserver.url}/graphql",
                    "webserver": webserver,
                }
    finally:
        instance.dispose()


def test_new_scene_and_backfill_through_the_running_deployment(deployment) -> None:
    instance: DagsterInstance = deployment["instance"]
    url: str = deployment["graphql"]
    daemon: RunningServer = deployment["daemon"]
    storage: Path = deployment["storage"]
    logs = daemon.log_tail

    def sensor_ticks() -> list[dict[str, Any]] | None:
        answer = graphql(
            url, SENSOR_QUERY, {"selector": {**REPOSITORY, "sensorName": SENSOR_NAME}}
        )["sensorOrError"]
        assert answer["__typename"] == "Sensor", answer
        assert answer["sensorState"]["status"] == "RUNNING"
        ticks = answer["sensorState"]["ticks"]
        finished = [tick for tick in ticks if tick["status"] != "STARTED"]
        return finished or None

    first_ticks = wait_for("the sensor's first finished tick", sensor_ticks, 60, logs)
    assert first_ticks[-1]["status"] == "SKIPPED", first_ticks

    new_key = add_scene(deployment["catalog"]).id
    # An analyst backfills older scenes while the sensor handles the new one.
    backfill_keys = [
        scene.scene_key
        for scene in search_scenes(deployment["catalog"], SceneQuery())[-BACKFILL_SCENES - 1 : -1]
    ]
    register_scenes(instance, backfill_keys)
    backfill_id = launch_scene_backfill(url, backfill_keys)

    def sensor_run() -> Any:
        runs = instance.get_runs(
            RunsFilter(tags={"dagster/sensor_name": SENSOR_NAME, "dagster/partition": new_key})
        )
        if runs and runs[0].status == DagsterRunStatus.FAILURE:
            pytest.fail(f"sensor run failed: {run_errors(instance, runs[0].run_id)}")
        return runs[0] if runs and runs[0].status == DagsterRunStatus.SUCCESS else None

    run = wait_for(f"a successful sensor run for {new_key}", sensor_run, 180, logs)
    assert run.tags["dagster/run_key"] == new_key
    assert (storage / "ndvi" / f"{new_key}.tif").is_file()

    status = wait_for(
        "the backfill to finish", lambda: finished_backfill(url, backfill_id), 180, logs
    )
    backfill_runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
    failures = [run_errors(instance, r.run_id) for r in backfill_runs if r.status != "SUCCESS"]
    assert status == "COMPLETED_SUCCESS", failures
    assert len(backfill_runs) == math.ceil(BACKFILL_SCENES / SCENES_PER_RUN)
    for key in SCENE_KEYS:
        assert set(backfill_keys) <= instance.get_materialized_partitions(key), key

    def summary_rows() -> dict[str, str] | None:
        path = storage / "ndvi_summary.parquet"
        if not path.is_file():
            return None
        table = pd.read_parquet(io.BytesIO(path.read_bytes()))
        statuses = dict(zip(table["scene_id"], table["status"], strict=True))
        return statuses if {new_key, *backfill_keys} <= statuses.keys() else None

    statuses = wait_for("the summary rows of every processed scene", summary_rows, 90, logs)
    assert statuses[new_key] == "processed"

    # Nothing ran twice: apart from the sensor's and the backfill's runs, automation only
    # ever launched the summaries.
    for other in instance.get_runs():
        if other.run_id == run.run_id or other.tags.get("dagster/backfill") == backfill_id:
            continue
        assert other.asset_selection and other.asset_selection <= SUMMARY_KEYS, other.tags
    assert len(instance.get_runs(RunsFilter(tags={"dagster/sensor_name": SENSOR_NAME}))) == 1
    # The imagery pool got the deployment's limit when scene_bands first claimed a slot.
    assert instance.event_log_storage.get_concurrency_info("landsat_imagery").slot_count == 2
