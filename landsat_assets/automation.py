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
- `ndvi_summary` and `ndvi_timeseries_plot` refresh once any scene's statistics changed:
  right away when no scene is still in progress, and during a long backfill at most once per
  cron period (LANDSAT_SUMMARY_CRON, default every five minutes). A plain `eager()` would
  never fire here: one missing scene partition keeps `any_deps_missing` true for good.

Settings (docs/configuration.md): LANDSAT_SUMMARY_CRON, LANDSAT_AUTOMATION_STATUS,
LANDSAT_AUTOMATION_INTERVAL_SECONDS; `definitions.build_definitions` attaches the summary's
condition, since its cron comes from the settings.
"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
)

from landsat_assets.settings import Settings, StartStatus

AUTOMATION_SENSOR_NAME = "landsat_automation_sensor"


def follows_upstream() -> AutomationCondition:
    return (
        AutomationCondition.any_deps_updated().since_last_handled()
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
        description="Refreshes per-scene products after upstream changes and the summaries "
        "after scene updates (see landsat_assets.automation).",
    )


SCENE_FOLLOWS_UPSTREAM = follows_upstream()
