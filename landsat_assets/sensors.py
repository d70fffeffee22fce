"""`landsat_scene_sensor`: new and reprocessed scenes in the catalog become scene_job runs.

How it decides what is new (watermark, lookback, first tick, per-tick cap) lives in
`landsat_assets.stac.watermark`; this module reads the settings, scans the catalog, asks the
instance what is already materialized and turns the decision into one `SensorResult`.
Settings (`LANDSAT_SENSOR_*`, docs/configuration.md) are read when the code location loads.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dagster import (
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from landsat_assets.automation import sensor_status
from landsat_assets.errors import CatalogError, ItemError
from landsat_assets.inflight import scenes_in_flight
from landsat_assets.jobs import scene_job
from landsat_assets.materializations import materialized_versions
from landsat_assets.partitions import landsat_scenes, new_scene_keys
from landsat_assets.resources.catalog import LandsatCatalog
from landsat_assets.settings import Settings
from landsat_assets.stac.watermark import (
    SceneCursor,
    TickPlan,
    newest_versions,
    plan_tick,
)

SENSOR_NAME = "landsat_scene_sensor"
SCENE_VERSION_TAG = "landsat/scene_version"
TRIGGER_TAG = "landsat/trigger"


def scan_start(
    catalog: LandsatCatalog, cursor: SceneCursor, lookback: timedelta
) -> datetime | None:
    """The later of the configured LANDSAT_START_DATE and the cursor's window start."""
    configured = catalog.query().start
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


def build_scene_sensor(settings: Settings) -> SensorDefinition:
    lookback = timedelta(days=settings.sensor_lookback_days)

    @sensor(
        name=SENSOR_NAME,
        job=scene_job,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=sensor_status(settings.sensor_status),
        description=(
            "Adds new and reprocessed Landsat scenes of the catalog as partitions and runs the "
            f"scene job for each (at most {settings.sensor_max_runs_per_tick} runs per tick; "
            f"rescans {settings.sensor_lookback_days:g} days behind its watermark; first tick: "
            f"{settings.sensor_first_tick.value})."
        ),
    )
    def landsat_scene_sensor(
        context: SensorEvaluationContext, catalog: LandsatCatalog
    ) -> SensorResult | SkipReason:
        cursor = SceneCursor.loads(context.cursor)
        start = scan_start(catalog, cursor, lookback)
        end = catalog.query().end
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
        # Scenes another run is materializing (a main job, a backfill) are left to it; they
        # stay out of the cursor, so a later tick looks at them again.
        in_flight = scenes_in_flight(context.instance, [s.scene_key for s in scenes], claims=None)
        if in_flight.owners:
            context.log.info(f"{in_flight.describe()}: left to it")
            scenes = [s for s in scenes if s.scene_key not in in_flight]
        unknown = {s.scene_key for s in scenes if s.scene_key not in cursor.seen}
        plan = plan_tick(
            cursor,
            scenes,
            known_versions=materialized_versions(context.instance, unknown),
            max_runs=settings.sensor_max_runs_per_tick,
            lookback=lookback,
            first_tick=settings.sensor_first_tick,
        )
        summary = describe(plan, catalog.shown_source(), start)
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
