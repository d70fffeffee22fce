"""S3 product storage against a real S3-compatible server: the main job writes every
partition's objects, GDAL reads them back over S3, and bad settings fail early and clearly."""

from __future__ import annotations

import io
import os
import socket

import numpy as np
import pandas as pd
import pytest
import rasterio
from dagster import DagsterInstance, materialize

from landsat_assets.definitions import build_definitions, build_resources
from landsat_assets.jobs import SCENE_ASSETS
from landsat_assets.partitions import register_scenes
from landsat_assets.resources.storage import (
    StorageConfigError,
    describe_endpoint,
    gdal_s3_options,
)
from landsat_assets.runner import run_pipeline
from landsat_assets.stores import S3_STAGING_ROOT
from landsat_assets_tests.support.cli import landsat_assets

# The first four demo scenes (two dates per path/row) keep the run short.
FEW_SCENES_END = "2023-01-20"
PREFIX = "products/v1"
SCENE_PRODUCTS = [
    ("landsat_scene", "json"),
    ("scene_bands", "tif"),
    ("cloud_mask", "tif"),
    ("scene_ndvi_stats", "parquet"),
]


def use_env(monkeypatch, env: dict[str, str]) -> dict[str, str]:
    """Set `env` in os.environ too: credentials reach Dagster as EnvVar and GDAL through
    the environment, as in a deployment."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_main_job_writes_every_partition_to_s3_and_gdal_reads_it_back(
    instance: DagsterInstance, s3_server, small_demo_catalog, monkeypatch
):
    bucket = s3_server.new_bucket()
    env = use_env(
        monkeypatch,
        {
            **s3_server.env(f"s3://{bucket}/{PREFIX}"),
            "LANDSAT_STAC_URL": str(small_demo_catalog),
            "LANDSAT_END_DATE": FEW_SCENES_END,
            "LANDSAT_MIN_CLEAR_FRACTION": "0.0",
        },
    )
    report = run_pipeline(instance, build_definitions(env), scenes_per_run=4, echo=lambda _: None)

    assert report.ok, report.failures
    scenes = sorted(r.scene_key for r in report.found)
    assert len(scenes) == 4
    summary = report.summary
    assert summary is not None and set(summary["status"]) == {"processed"}
    expected = {
        f"{PREFIX}/{asset}/{scene}.{extension}"
        for asset, extension in [*SCENE_PRODUCTS, ("ndvi", "tif")]
        for scene in scenes
    } | {f"{PREFIX}/ndvi_summary.parquet", f"{PREFIX}/ndvi_timeseries_plot.png"}
    # Exactly the products: no staging or partial object anywhere in the bucket, and no local
    # staging folder of this process left behind.
    assert s3_server.keys(bucket) == expected
    assert list(S3_STAGING_ROOT.glob(f"{socket.gethostname()}-{os.getpid()}-*")) == []

    scene = scenes[0]
    gdal_endpoint = s3_server.endpoint_url.removeprefix("http://")
    with (
        rasterio.Env(AWS_S3_ENDPOINT=gdal_endpoint, AWS_HTTPS="NO", AWS_VIRTUAL_HOSTING="FALSE"),
        rasterio.open(f"s3://{bucket}/{PREFIX}/ndvi/{scene}.tif") as dataset,
    ):
        assert dataset.profile["tiled"]
        ndvi = dataset.read(1)
    row = summary.set_index("scene_id").loc[scene]
    valid = ndvi[~np.isnan(ndvi)]
    assert valid.size == row["valid_pixel_count"]
    assert float(valid.mean()) == pytest.approx(row["ndvi_mean"], abs=1e-6)

    stats = s3_server.client().get_object(
        Bucket=bucket, Key=f"{PREFIX}/scene_ndvi_stats/{scene}.parquet"
    )["Body"]
    assert pd.read_parquet(io.BytesIO(stats.read())).at[0, "scene_id"] == scene


def bad_settings(s3_server, case: str) -> tuple[dict[str, str], list[str]]:
    """Settings with one mistake, and the names the error must contain."""
    bucket = s3_server.new_bucket()
    env = s3_server.env(f"s3://{bucket}/{PREFIX}")
    if case == "missing bucket":
        env["LANDSAT_STORAGE"] = f"s3://{bucket}-missing/{PREFIX}"
        return env, [f"{bucket}-missing", s3_server.endpoint_url, "does not exist"]
    if case == "wrong secret":
        env["AWS_SECRET_ACCESS_KEY"] = "wrong-" + s3_server.secret_access_key
        return env, [bucket, s3_server.endpoint_url, "AWS_SECRET_ACCESS_KEY"]
    closed = "http://127.0.0.1:9"
    env["AWS_ENDPOINT_URL"] = closed
    return env, [bucket, closed, "AWS_ENDPOINT_URL"]


@pytest.mark.parametrize("case", ["missing bucket", "wrong secret", "unreachable endpoint"])
def test_bad_s3_settings_fail_on_first_use_naming_bucket_and_endpoint(
    s3_server, case: str, monkeypatch
):
    env, names = bad_settings(s3_server, case)
    use_env(monkeypatch, env)
    storage = build_definitions(env).resources["storage"]

    with pytest.raises(StorageConfigError) as raised:
        storage.store()

    message = str(raised.value)
    for name in names:
        assert name in message
    assert env["AWS_SECRET_ACCESS_KEY"] not in message
    assert s3_server.secret_access_key not in message


def test_wrong_credentials_fail_the_run_at_once_without_leaking_the_secret(
    instance: DagsterInstance, s3_server, small_demo_catalog, monkeypatch
):
    env, names = bad_settings(s3_server, "wrong secret")
    env |= {"LANDSAT_STAC_URL": str(small_demo_catalog), "LANDSAT_END_DATE": "2023-01-05"}
    use_env(monkeypatch, env)

    # The main job checks storage before it searches or launches anything.
    with pytest.raises(StorageConfigError, match=names[0]) as refused:
        run_pipeline(instance, build_definitions(env), scenes_per_run=4, echo=lambda _: None)
    assert instance.get_runs() == []
    assert s3_server.secret_access_key not in str(refused.value)

    # A run that meets the bad storage anyway (launched from the UI, a sensor or a backfill)
    # fails at once, without retries, and its event log holds no secret.
    defs = build_definitions(env)
    keys = [s.scene_key for s in defs.resources["catalog"].search()][:1]
    register_scenes(instance, keys)
    result = materialize(
        SCENE_ASSETS,
        instance=instance,
        resources=build_resources(env),
        partition_key=keys[0],
        raise_on_error=False,
    )
    assert not result.success
    events = instance.all_logs(result.run_id)
    assert not any(e.dagster_event and e.dagster_event.is_step_up_for_retry for e in events)
    logged = "\n".join(str(event) for event in events)
    assert names[0] in logged
    for secret in (env["AWS_SECRET_ACCESS_KEY"], s3_server.secret_access_key):
        assert secret not in logged


def test_gdal_options_follow_the_endpoint_url():
    assert gdal_s3_options("https://minio.example.org:9000", "eu-west-1") == {
        "AWS_REGION": "eu-west-1",
        "AWS_S3_ENDPOINT": "minio.example.org:9000",
        "AWS_HTTPS": "YES",
        "AWS_VIRTUAL_HOSTING": "FALSE",
    }
    assert gdal_s3_options("http://127.0.0.1:9000/", None)["AWS_HTTPS"] == "NO"
    # Real AWS: GDAL's own endpoint and virtual hosting stay.
    assert gdal_s3_options(None, "us-west-2") == {"AWS_REGION": "us-west-2"}
    with pytest.raises(StorageConfigError, match="not an http"):
        gdal_s3_options("ftp://host:21", None)


def test_endpoint_in_messages_drops_user_and_password():
    described = describe_endpoint("http://user:hunter2@s3.example.org:9000")
    assert described == "http://s3.example.org:9000"
    assert "hunter2" not in described
    assert describe_endpoint(None) == "the default AWS S3 endpoint"


def test_cli_refuses_a_missing_bucket_before_searching(s3_server, pipeline_env, tmp_path):
    bucket = s3_server.new_bucket()
    env = {
        **pipeline_env,
        **s3_server.env(f"s3://{bucket}-missing/{PREFIX}"),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    result = landsat_assets("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and f"{bucket}-missing" in result.stderr
    assert "Searching" not in result.stdout
    assert s3_server.secret_access_key not in result.stderr + result.stdout
