"""`landsat_scene_sensor`: new and reprocessed scenes in the catalog become scene_job runs.

How it decides what is new (watermark, lookback, first tick, per-tick cap) lives in
`landsat_assets.stac.watermark`; this module reads the settings, scans the catalog, asks the
instance what is already materialized and turns the decision into one `SensorResult`.
Settings (environment, read when the code location loads):

- LANDSAT_SENSOR_STATUS: `running` (default) or `stopped`, the status before anyone toggles it.
- LANDSAT_SENSOR_INTERVAL_SECONDS: seconds between ticks (default 30).
- LANDSAT_SENSOR_MAX_RUNS_PER_TICK: runs requested per tick at most (default 50).
- LANDSAT_SENSOR_LOOKBACK_DAYS: how far behind the watermark each tick rescans (default 30).
- LANDSAT_SENSOR_FIRST_TICK: `latest` (default) or `all`, see `FirstTick`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    TextMetadataValue,
    sensor,
)

from landsat_assets.automation import default_status
from landsat_assets.jobs import scene_job
from landsat_assets.partitions import landsat_scenes, new_scene_keys
from landsat_assets.resources.catalog import LandsatCatalog, parse_date
from landsat_assets.settings import SettingError, env_float, env_int
from landsat_assets.stac.normalize import ItemError
from landsat_assets.stac.search import CatalogError
from landsat_assets.stac.watermark import (
    FirstTick,
    SceneCursor,
    TickPlan,
    newest_versions,
    plan_tick,
)

SENSOR_NAME = "landsat_scene_sensor"
SCENE_ASSET = AssetKey("landsat_scene")
VERSION_METADATA = "version"
LOOKUP_BATCH = 500
"""Storage ids per query: well inside SQLite's limit on bound variables."""
SCENE_VERSION_TAG = "landsat/scene_version"
TRIGGER_TAG = "landsat/trigger"


@dataclass(frozen=True)
class SensorSettings:
    status: DefaultSensorStatus = DefaultSensorStatus.RUNNING
    interval_seconds: int = 30
    max_runs_per_tick: int = 50
    lookback: timedelta = timedelta(days=30)
    first_tick: FirstTick = FirstTick.LATEST

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SensorSettings:
        interval = env_int("LANDSAT_SENSOR_INTERVAL_SECONDS", cls.interval_seconds, env)
        max_runs = env_int("LANDSAT_SENSOR_MAX_RUNS_PER_TICK", cls.max_runs_per_tick, env)
        lookback_days = env_float("LANDSAT_SENSOR_LOOKBACK_DAYS", cls.lookback.days, env)
        if interval < 1:
            raise SettingError(f"LANDSAT_SENSOR_INTERVAL_SECONDS={interval} is below 1")
        if max_runs < 1:
            raise SettingError(f"LANDSAT_SENSOR_MAX_RUNS_PER_TICK={max_runs} is below 1")
        if lookback_days is None or lookback_days < 0:
            raise SettingError(f"LANDSAT_SENSOR_LOOKBACK_DAYS={lookback_days} is negative")
        return cls(
            status=default_status("LANDSAT_SENSOR_STATUS", env),
            interval_seconds=interval,
            max_runs_per_tick=max_runs,
            lookback=timedelta(days=lookback_days),
            first_tick=_first_tick(env),
        )


def _first_tick(env: Mapping[str, str]) -> FirstTick:
    text = env.get("LANDSAT_SENSOR_FIRST_TICK") or FirstTick.LATEST.value
    try:
        return FirstTick(text.strip().lower())
    except ValueError:
        options = " or ".join(repr(member.value) for member in FirstTick)
        raise SettingError(f"LANDSAT_SENSOR_FIRST_TICK={text!r} is not {options}") from None


def materialized_versions(instance: DagsterInstance, keys: Iterable[str]) -> dict[str, str]:
    """The scene version (`version` metadata of `landsat_scene`, which records the USGS
    processing version whatever the run covered) materialized for each of `keys` that has one.
    A few queries per thousand keys, so a first tick over an archive processed before (by
    `landsat-assets run`, or before a cursor reset) stays fast."""
    latest = instance.get_latest_storage_id_by_partition(
        SCENE_ASSET, DagsterEventType.ASSET_MATERIALIZATION, partitions=set(keys)
    )
    storage_ids = sorted(latest.values())
    versions: dict[str, str] = {}
    for first in range(0, len(storage_ids), LOOKUP_BATCH):
        batch = storage_ids[first : first + LOOKUP_BATCH]
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=SCENE_ASSET, storage_ids=batch), limit=len(batch)
        )
        for record in result.records:
            event = record.asset_materialization
            entry = event.metadata.get(VERSION_METADATA) if event else None
            if event and event.partition and isinstance(entry, TextMetadataValue):
                versions[event.partition] = entry.value
    return versions


def scan_start(
    catalog: LandsatCatalog, cursor: SceneCursor, lookback: timedelta
) -> datetime | None:
    """The later of the configured LANDSAT_START_DATE and the cursor's window start."""
    configured = parse_date(catalog.start_date, setting="LANDSAT_START_DATE")
    window = cursor.scan_start(lookback)
    starts = [moment for moment in (configured, window) if moment is not None]
    return max(starts) if starts else None


def describe(plan: TickPlan, source: str, start: datetime | None) -> str:
    since = f" acquired since {start.isoformat()}" if start else ""
    parts = [f"{plan.scanned} scene(s){since} in {source}"]
    if plan.known:
        parts.append(f"{plan.known} already requested or materialized at that version")
    if plan.passed_over:
        parts.append(f"{plan.passed_over} older than their path/row's newest (first tick)")
    if plan.deferred:
        parts.append(f"{plan.deferred} new scene(s) left for the next ticks")
    return "; ".join(parts)


def build_scene_sensor(env: Mapping[str, str] = os.environ) -> SensorDefinition:
    settings = SensorSettings.from_env(env)

    @sensor(
        name=SENSOR_NAME,
        job=scene_job,
        minimum_interval_seconds=settings.interval_seconds,
        default_status=settings.status,
        description=(
            "Adds new and reprocessed Landsat scenes of the catalog as partitions and runs the "
            f"scene job for each (at most {settings.max_runs_per_tick} runs per tick; rescans "
            f"{settings.lookback.days} days behind its watermark; first tick: "
            f"{settings.first_tick.value})."
        ),
    )
    def landsat_scene_sensor(
        context: SensorEvaluationContext, catalog: LandsatCatalog
    ) -> SensorResult | SkipReason:
        cursor = SceneCursor.loads(context.cursor)
        start = scan_start(catalog, cursor, settings.lookback)
        end = parse_date(catalog.end_date, setting="LANDSAT_END_DATE")
        if start is not None and end is not None and start > end:
            return SkipReason(
                f"the scan window starts at {start.isoformat()}, after LANDSAT_END_DATE "
                f"{end.isoformat()}: no scene can be new"
            )
        try:
            scenes = newest_versions(
                catalog.iter_search(
                    start=start,
                    on_bad_item=lambda error: context.log.warning(f"item skipped: {error}"),
                )
            )
        except (CatalogError, ItemError) as error:
            context.log.warning(f"catalog search failed; cursor kept: {error}")
            return SkipReason(
                f"catalog search failed, cursor not moved (the next tick retries the same "
                f"window): {error}"
            )
        unknown = {s.scene_key for s in scenes if s.scene_key not in cursor.seen}
        plan = plan_tick(
            cursor,
            scenes,
            known_versions=materialized_versions(context.instance, unknown),
            max_runs=settings.max_runs_per_tick,
            lookback=settings.lookback,
            first_tick=settings.first_tick,
        )
        summary = describe(plan, catalog.source(), start)
        if not plan.requests:
            return SensorResult(
                skip_reason=f"no new or reprocessed scene: {summary}",
                cursor=plan.cursor.dumps(),
            )
        context.log.info(f"requesting {len(plan.requests)} scene run(s): {summary}")
        fresh = new_scene_keys(context.instance, [r.scene.scene_key for r in plan.requests])
        partitions = [landsat_scenes.build_add_request(fresh)] if fresh else []
        return SensorResult(
            run_requests=[
                RunRequest(
                    run_key=request.run_key,
                    partition_key=request.scene.scene_key,
                    tags={
                        SCENE_VERSION_TAG: request.scene.version,
                        TRIGGER_TAG: "reprocessed" if request.reprocessed else "new_scene",
                    },
                )
                for request in plan.requests
            ],
            dynamic_partitions_requests=partitions,
            cursor=plan.cursor.dumps(),
        )

    return landsat_scene_sensor
