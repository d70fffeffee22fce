"""Declarative automation: when assets refresh without anyone asking, and the sensor that
evaluates it.

Who does what:
- New and reprocessed scenes: `landsat_scene_sensor` requests the whole scene job for the
  scene's partition. `landsat_scene` itself has no automation condition.
- The per-scene products below it *follow upstream*: when an upstream partition is updated by
  a run that did not also plan them (say someone re-materializes only `landsat_scene` from the
  UI), the automation sensor requests them. Updates made by a run that planned them anyway (the
  sensor's and backfills' runs) are ignored (`any_deps_updated` leaves out parents updated by
  a run that targeted the child), so no run is ever duplicated. Unlike `eager()`, a
  partition that is merely missing triggers nothing: new partitions are the sensor's and the
  backfills' business, and a step that failed in such a run is not retried behind the user's
  back.
  Dagster's own `any_deps_updated()` decides "updated by a run that targeted the child" with
  `executed_with_root_target`, which in 1.13 looks only at the parent's latest
  materialization over *all* partitions: when another scene finished after it, a scene whose
  `ndvi` its run had just written counted as updated from outside, and the sensor requested
  its statistics while (or after) that run wrote them. `follows_upstream` therefore asks the
  same question partition by partition (`UpdatedByARunThatPlannedIt`). Being Python, that
  condition is evaluated in the code server (`use_user_code_server=True`), like any sensor.
- `ndvi_summary` and `ndvi_timeseries_plot` refresh once any scene's statistics changed:
  right away when no scene is still in progress, and during a long backfill at most once per
  cron period (LANDSAT_SUMMARY_CRON, default every five minutes). A plain `eager()` would
  never fire here: one missing scene partition keeps `any_deps_missing` true for good.

Settings (docs/configuration.md): LANDSAT_SUMMARY_CRON, LANDSAT_AUTOMATION_STATUS,
LANDSAT_AUTOMATION_INTERVAL_SECONDS; `definitions.build_definitions` attaches the summary's
condition, since its cron comes from the settings.
"""

from __future__ import annotations

from collections.abc import Iterable

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    AutomationContext,
    AutomationResult,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
)
from dagster._core.definitions.events import AssetKeyPartitionKey

from landsat_assets.settings import Settings, StartStatus

AUTOMATION_SENSOR_NAME = "landsat_automation_sensor"


def partitions_updated_by_runs_that_planned(
    instance: DagsterInstance, asset_key: AssetKey, partitions: Iterable[str], target: AssetKey
) -> set[str]:
    """Those of `partitions` whose latest materialization of `asset_key` came from a run
    that also planned `target` for the same partition. Two queries, plus one per run found:
    the latest events, then each run's planned materializations. `partitions` are those
    updated since the last tick, a few dozen, so one query takes them all. Deciding it
    partition by partition is the point: Dagster 1.13's `executed_with_root_target` looks
    only at the asset's latest materialization over all partitions (see the module's
    docstring)."""
    wanted = set(partitions)
    if not wanted:  # an empty `partitions` means every partition to the instance
        return set()
    latest = instance.get_latest_storage_id_by_partition(
        asset_key, DagsterEventType.ASSET_MATERIALIZATION, partitions=wanted
    )
    runs_by_partition = {
        record.partition_key: record.run_id
        for record in instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, storage_ids=list(latest.values())),
            limit=len(latest),
        ).records
    }
    planned_by_run = {
        run_id: _planned_partitions(instance, run_id, target)
        for run_id in set(runs_by_partition.values())
    }
    return {
        partition
        for partition, run_id in runs_by_partition.items()
        if partition in planned_by_run[run_id]
    }


def _planned_partitions(instance: DagsterInstance, run_id: str, asset_key: AssetKey) -> set[str]:
    """The partitions of `asset_key` that the run planned to materialize."""
    planned: set[str] = set()
    for record in instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records:
        data = record.event_log_entry.get_dagster_event().event_specific_data
        if data.asset_key != asset_key:
            continue
        if data.partition is not None:
            planned.add(data.partition)
        elif data.partitions_subset is not None:
            planned.update(data.partitions_subset.get_partition_keys())
    return planned


class UpdatedByARunThatPlannedIt(AutomationCondition[AssetKey]):
    """True for the partitions of a dependency whose latest update came from a run that also
    planned the asset being evaluated (the root) for the same partition: Dagster's
    `executed_with_root_target`, decided partition by partition. Used after
    `newly_updated()`, so it only looks at the partitions updated since the last tick."""

    @property
    def name(self) -> str:
        return "updated_by_a_run_that_planned_it"

    @property
    def requires_cursor(self) -> bool:
        return False

    def evaluate(self, context: AutomationContext[AssetKey]) -> AutomationResult[AssetKey]:
        dependency, root = context.key, context.root_context.key
        candidates = context.candidate_subset
        matching = (
            partitions_updated_by_runs_that_planned(
                context.asset_graph_view.instance,
                dependency,
                candidates.expensively_compute_partition_keys(),
                root,
            )
            if dependency != root and not candidates.is_empty
            else set()
        )
        return AutomationResult(
            context,
            true_subset=context.asset_graph_view.get_asset_subset_from_asset_partitions(
                dependency, {AssetKeyPartitionKey(dependency, p) for p in matching}
            ),
        )


def deps_updated_outside_their_runs() -> AutomationCondition:
    """Dagster's `any_deps_updated()`, with the per-partition run check."""
    return AutomationCondition.any_deps_match(
        (AutomationCondition.newly_updated() & ~UpdatedByARunThatPlannedIt()).with_label(
            "newly_updated_without_root"
        )
        | AutomationCondition.will_be_requested()
    ).with_label("any_deps_updated")


def follows_upstream() -> AutomationCondition:
    return (
        deps_updated_outside_their_runs().since_last_handled()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("follows upstream")


def refreshes_summary(cron: str) -> AutomationCondition:
    settled_or_due = (
        ~AutomationCondition.any_deps_in_progress()
        | AutomationCondition.cron_tick_passed(cron).since_last_handled()
    )
    # Updates count from the summary's last *request*, not its last materialization: scene
    # statistics that land while a summary run is already reading must trigger one more
    # refresh, or they would stay missing until the next scene arrives.
    return (
        AutomationCondition.any_deps_updated().since(AutomationCondition.newly_requested())
        & ~AutomationCondition.in_progress()
        & settled_or_due
    ).with_label(f"refresh after scene updates (at most every '{cron}' while scenes run)")


def sensor_status(status: StartStatus) -> DefaultSensorStatus:
    return DefaultSensorStatus[status.name]


def build_automation_sensor(settings: Settings) -> AutomationConditionSensorDefinition:
    """Evaluates every asset's condition; replaces Dagster's default automation sensor, which
    would start stopped."""
    return AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR_NAME,
        target=AssetSelection.all(),
        default_status=sensor_status(settings.automation_status),
        minimum_interval_seconds=settings.automation_interval_seconds,
        use_user_code_server=True,
        description="Refreshes per-scene products after upstream changes and the summaries "
        "after scene updates (see landsat_assets.automation).",
    )


SCENE_FOLLOWS_UPSTREAM = follows_upstream()
