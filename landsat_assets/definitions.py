"""The code location: assets, jobs, sensors and resources, configured for this deployment by
one `Settings` (docs/configuration.md).

Resources are picked here and nowhere else; everything below gets its configuration from
them or from the `Settings` passed down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dagster import AssetSpec, BackfillPolicy, Definitions, EnvVar, in_process_executor
from dagster_aws.s3 import S3Resource

from landsat_assets.assets.fields import FIELD_ASSETS, FIELD_SUMMARY_ASSETS
from landsat_assets.assets.indices import INDEX_ASSETS
from landsat_assets.assets.summaries import scene_ndvi_stats, scene_stats_asset
from landsat_assets.assets.user_script import ScriptSubprocessClient, user_script_assets
from landsat_assets.automation import build_automation_sensor, refreshes_summary
from landsat_assets.io_managers.products import (
    PngIOManager,
    RasterIOManager,
    SceneRecordIOManager,
    TableIOManager,
)
from landsat_assets.jobs import SCENE_ASSETS, SUMMARY_ASSETS, scene_job, summary_job
from landsat_assets.provenance import setting_values, versioned
from landsat_assets.resources.catalog import LandsatCatalog
from landsat_assets.resources.fields import LandsatFields
from landsat_assets.resources.imagery import ImagerySource
from landsat_assets.resources.processing import SceneProcessing
from landsat_assets.resources.storage import LandsatStorage
from landsat_assets.sensors import build_scene_sensor
from landsat_assets.settings import Settings, as_settings

AWS_VARIABLES = {
    "endpoint_url": "AWS_ENDPOINT_URL",
    "region_name": "AWS_REGION",
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
}
"""boto3's own variables for S3 storage, by `S3Resource` field. Handed to Dagster as `EnvVar`,
so the UI shows the variable's name, never its value; Dagster reads them from the process
environment."""


def build_resources(config: Settings | Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The resources of a deployment. Given a mapping (the environment), it also says which
    AWS variables are set; given `Settings`, the process environment does."""
    settings = as_settings(config)
    env = os.environ if isinstance(config, Settings) else config
    s3_settings = {field: EnvVar(name) for field, name in AWS_VARIABLES.items() if env.get(name)}
    storage = LandsatStorage(location=settings.storage, s3=S3Resource(**s3_settings))
    return {
        "catalog": LandsatCatalog.from_settings(settings, env if env is os.environ else None),
        "imagery": ImagerySource(),
        "processing": SceneProcessing.from_settings(settings),
        "storage": storage,
        "raster_io_manager": RasterIOManager(storage=storage),
        "table_io_manager": TableIOManager(storage=storage),
        "scene_record_io_manager": SceneRecordIOManager(storage=storage),
        "png_io_manager": PngIOManager(storage=storage),
        "pipes_subprocess_client": ScriptSubprocessClient(),
        **(
            {"fields": LandsatFields(path=str(settings.fields), id_property=settings.field_id)}
            if settings.fields is not None
            else {}
        ),
    }


def build_definitions(config: Settings | Mapping[str, str] = os.environ) -> Definitions:
    """The code location for `config` (parsed into `Settings` when it is an environment).
    The backfill policy, the summary's automation condition and the settings part of each
    product's code version (provenance.py) are attached here, since they come from settings
    fixed when the code location loads."""
    settings = as_settings(config)
    runs_of = BackfillPolicy.multi_run(max_partitions_per_run=settings.scenes_per_run)
    summary_refresh = refreshes_summary(settings.summary_cron)
    shaping = setting_values(settings)
    with_fields = settings.fields is not None
    field_assets = FIELD_ASSETS if with_fields else []
    field_summaries = FIELD_SUMMARY_ASSETS if with_fields else []
    index_assets = INDEX_ASSETS if len(settings.indices) > 1 else []
    scene_assets = [
        scene_stats_asset(index_assets) if a.key == scene_ndvi_stats.key else a
        for a in SCENE_ASSETS
    ]

    def with_settings_version(spec: AssetSpec) -> AssetSpec:
        product = spec.key.to_user_string()
        return spec.replace_attributes(
            code_version=versioned(spec.code_version or "", product, shaping)
        )

    # Steps run in the run's own process: a scene's steps form one chain, each step already
    # keeps both cores busy with its block threads, and parallelism across scenes comes from
    # runs. The multiprocess default would start (and import Dagster in) a process per step.
    return Definitions(
        executor=in_process_executor,
        assets=[
            *(
                a.with_attributes(backfill_policy=runs_of).map_asset_specs(with_settings_version)
                for a in [*scene_assets, *index_assets, *field_assets]
            ),
            *(
                a.with_attributes(automation_condition=summary_refresh).map_asset_specs(
                    with_settings_version
                )
                for a in [*SUMMARY_ASSETS, *field_summaries]
            ),
            *(a.with_attributes(backfill_policy=runs_of) for a in user_script_assets(settings)),
        ],
        jobs=[scene_job, summary_job],
        sensors=[build_scene_sensor(settings), build_automation_sensor(settings)],
        resources=build_resources(config),
    )


defs = build_definitions(Settings.from_env(os.environ))
