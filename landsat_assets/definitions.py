"""The code location: assets, jobs and resources, configured for this deployment from the
environment (see README's configuration table)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dagster import Definitions, in_process_executor
from dagster_aws.s3 import S3Resource

from landsat_assets.assets.user_script import ScriptSubprocessClient, user_script_assets
from landsat_assets.automation import build_automation_sensor
from landsat_assets.io_managers.products import (
    PngIOManager,
    RasterIOManager,
    SceneRecordIOManager,
    TableIOManager,
)
from landsat_assets.jobs import SCENE_ASSETS, SUMMARY_ASSETS, scene_job, summary_job
from landsat_assets.resources.catalog import DEFAULT_DEMO_CATALOG, LandsatCatalog
from landsat_assets.resources.imagery import ImagerySource
from landsat_assets.resources.processing import SceneProcessing
from landsat_assets.resources.storage import LandsatStorage
from landsat_assets.sensors import build_scene_sensor
from landsat_assets.settings import env_float, env_string


def build_resources(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    storage = LandsatStorage(
        location=env.get("LANDSAT_STORAGE") or "./data",
        s3=S3Resource(
            endpoint_url=env_string("AWS_ENDPOINT_URL", env=env),
            region_name=env_string("AWS_REGION", env=env),
            aws_access_key_id=env_string("AWS_ACCESS_KEY_ID", env=env),
            aws_secret_access_key=env_string("AWS_SECRET_ACCESS_KEY", env=env),
            aws_session_token=env_string("AWS_SESSION_TOKEN", env=env),
        ),
    )
    return {
        "catalog": LandsatCatalog(
            stac_url=env.get("LANDSAT_STAC_URL") or DEFAULT_DEMO_CATALOG,
            collection=env.get("LANDSAT_COLLECTION") or "landsat-c2-l2",
            aoi=env.get("LANDSAT_AOI") or None,
            start_date=env.get("LANDSAT_START_DATE") or None,
            end_date=env.get("LANDSAT_END_DATE") or None,
            max_scene_cloud=env_float("LANDSAT_MAX_SCENE_CLOUD", None, env),
        ),
        "imagery": ImagerySource(),
        "processing": SceneProcessing(
            min_clear_fraction=env_float("LANDSAT_MIN_CLEAR_FRACTION", 0.2, env),
            usable_classes=env.get("LANDSAT_USABLE_CLASSES") or "clear,water,snow",
        ),
        "storage": storage,
        "raster_io_manager": RasterIOManager(storage=storage),
        "table_io_manager": TableIOManager(storage=storage),
        "scene_record_io_manager": SceneRecordIOManager(storage=storage),
        "png_io_manager": PngIOManager(storage=storage),
        "pipes_subprocess_client": ScriptSubprocessClient(),
    }


def build_definitions(env: Mapping[str, str] = os.environ) -> Definitions:
    # Steps run in the run's own process: a scene's steps form one chain, each step already
    # keeps both cores busy with its block threads, and parallelism across scenes comes from
    # runs. The multiprocess default would start (and import Dagster in) a process per step.
    return Definitions(
        executor=in_process_executor,
        assets=[*SCENE_ASSETS, *SUMMARY_ASSETS, *user_script_assets(env)],
        jobs=[scene_job, summary_job],
        sensors=[build_scene_sensor(env), build_automation_sensor(env)],
        resources=build_resources(env),
    )


defs = build_definitions()
