"""The production instance end to end on 127.0.0.1: a private PostgreSQL 15 cluster holds
Dagster's runs and events (deploy/dagster.postgres.yaml), moto_server holds the products,
and the real dagster-webserver and dagster-daemon run a backfill launched through GraphQL,
several scenes per run, each run in its own process. Every process is stopped by its group."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg2
import pytest
import rasterio
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    EventLogEntry,
    RunsFilter,
)
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster._serdes import deserialize_value

from landsat_assets.partitions import landsat_scenes
from landsat_assets.stac.search import SceneQuery, search_scenes
from landsat_assets_tests.support.deployment import (
    POSTGRES_INSTANCE,
    backfill_status,
    dagster_home,
    launch_scene_backfill,
    run_errors,
    running_daemon,
    running_webserver,
    wait_for,
)
from landsat_assets_tests.support.postgres import dagster_pg_url, postgres_cluster
from landsat_assets_tests.support.processes import RunningServer

pytestmark = pytest.mark.slow

BACKFILL_SCENES = 3
SCENES_PER_RUN = 2
RUN_TIMEOUT_S = 150
PREFIX = "landsat"
SCENE_PRODUCTS = [
    ("landsat_scene", "json"),
    ("scene_bands", "tif"),
    ("cloud_mask", "tif"),
    ("ndvi", "tif"),
    ("scene_ndvi_stats", "parquet"),
]

BACKFILL_GAVE_UP = {"FAILED", "FAILING", "COMPLETED_FAILED", "CANCELED", "CANCELING"}


@pytest.fixture
def deployment(
    tmp_path: Path, small_demo_catalog: Path, s3_server, monkeypatch
) -> Iterator[dict[str, Any]]:
    bucket = s3_server.new_bucket()
    home = dagster_home(tmp_path / "dagster_home", POSTGRES_INSTANCE)
    with postgres_cluster(tmp_path) as pg_url:
        env = {
            **s3_server.env(f"s3://{bucket}/{PREFIX}"),
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_URL": dagster_pg_url(pg_url),
            "LANDSAT_STAC_URL": str(small_demo_catalog),
            "LANDSAT_MIN_CLEAR_FRACTION": "0",
            # Two runs for three scenes; no sensor or automation run besides the backfill's.
            "LANDSAT_SCENES_PER_RUN": str(SCENES_PER_RUN),
            "LANDSAT_SENSOR_STATUS": "stopped",
            "LANDSAT_AUTOMATION_STATUS": "stopped",
            **{
                name: ""
                for name in (
                    "LANDSAT_AOI",
                    "LANDSAT_START_DATE",
                    "LANDSAT_END_DATE",
                    "LANDSAT_COLLECTION",
                    "LANDSAT_MAX_SCENE_CLOUD",
                    "LANDSAT_USER_SCRIPT",
                )
            },
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        # Creates Dagster's tables before two processes race to migrate them.
        instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
        try:
            with running_webserver(env, log_path=tmp_path / "webserver.log") as webserver:
                yield {
                    "instance": instance,
                    "env": env,
                    "logs": tmp_path,
                    "pg_url": pg_url,
                    "bucket": bucket,
                    "webserver": webserver,
                    "graphql": f"{webserver.url}/graphql",
                }
        finally:
            instance.dispose()


def test_backfill_through_webserver_and_daemon_on_postgres_and_s3(
    deployment, s3_server, small_demo_catalog
) -> None:
    instance: DagsterInstance = deployment["instance"]
    webserver: RunningServer = deployment["webserver"]
    bucket: str = deployment["bucket"]
    keys = [s.scene_key for s in search_scenes(small_demo_catalog, SceneQuery())][:BACKFILL_SCENES]
    instance.add_dynamic_partitions(landsat_scenes.name, keys)

    backfill_id = launch_scene_backfill(deployment["graphql"], keys)
    expected_runs = math.ceil(BACKFILL_SCENES / SCENES_PER_RUN)

    # The daemon only now: the backfill daemon evaluates backfills at start and then every
    # 30 s, so starting it after the launch saves a wait.
    with running_daemon(deployment["env"], log_path=deployment["logs"] / "daemon.log") as daemon:

        def runs_finished() -> list[DagsterRun] | None:
            runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
            failed = [
                r for r in runs if r.status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
            ]
            if failed:
                pytest.fail("\n".join(run_errors(instance, r.run_id) for r in failed))
            if not runs:
                status = backfill_status(deployment["graphql"], backfill_id)
                if status in BACKFILL_GAVE_UP:
                    pytest.fail(f"backfill {status} before any run:\n{daemon.log_tail(80)}")
            done = [r for r in runs if r.status == DagsterRunStatus.SUCCESS]
            return runs if len(done) == len(runs) == expected_runs else None

        runs = wait_for(
            f"{expected_runs} successful backfill runs",
            runs_finished,
            RUN_TIMEOUT_S,
            daemon.log_tail,
        )
    # Each run covers a range of the registered partitions (the keys, in this order).
    covered = [
        key
        for r in runs
        for key in keys[
            keys.index(r.tags[ASSET_PARTITION_RANGE_START_TAG]) : keys.index(
                r.tags[ASSET_PARTITION_RANGE_END_TAG]
            )
            + 1
        ]
    ]
    assert sorted(covered) == sorted(keys)

    # Every partition's products are objects in the bucket, and GDAL reads them over S3.
    stored = s3_server.keys(bucket)
    for key in keys:
        for asset, extension in SCENE_PRODUCTS:
            assert f"{PREFIX}/{asset}/{key}.{extension}" in stored
    client = s3_server.client()
    row = pd.read_parquet(
        io.BytesIO(
            client.get_object(Bucket=bucket, Key=f"{PREFIX}/scene_ndvi_stats/{keys[0]}.parquet")[
                "Body"
            ].read()
        )
    )
    assert row.at[0, "status"] == "processed"
    with (
        rasterio.Env(
            AWS_S3_ENDPOINT=s3_server.endpoint_url.removeprefix("http://"),
            AWS_HTTPS="NO",
            AWS_VIRTUAL_HOSTING="FALSE",
        ),
        rasterio.open(f"s3://{bucket}/{PREFIX}/ndvi/{keys[0]}.tif") as dataset,
    ):
        assert dataset.count == 1 and dataset.dtypes[0] == "float32"
        valid_pixels = np.count_nonzero(~np.isnan(dataset.read(1)))
    assert valid_pixels == row.at[0, "valid_pixel_count"]

    # The run and event records are rows in Postgres; no SQLite file holds any.
    assert not list(Path(deployment["env"]["DAGSTER_HOME"]).rglob("*.db"))
    run_ids = [r.run_id for r in runs]
    with psycopg2.connect(deployment["pg_url"]) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT run_id, status FROM runs WHERE run_id = ANY(%s)", (run_ids,))
        assert dict(cursor.fetchall()) == dict.fromkeys(run_ids, "SUCCESS")
        cursor.execute(
            "SELECT run_id, event FROM event_logs "
            "WHERE run_id = ANY(%s) AND dagster_event_type = %s",
            (run_ids, DagsterEventType.RUN_START.value),
        )
        run_pids = {
            run_id: deserialize_value(event, EventLogEntry).dagster_event.pid
            for run_id, event in cursor.fetchall()
        }
    connection.close()
    # Each run in a process of its own, none of them the daemon's or the webserver's.
    assert run_pids.keys() == set(run_ids)
    assert None not in run_pids.values()
    assert len(set(run_pids.values())) == len(run_ids)
    assert not set(run_pids.values()) & {daemon.process.pid, webserver.process.pid}
