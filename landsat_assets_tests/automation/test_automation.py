"""Automation conditions evaluated against a real test instance after real materializations
of small demo scenes: no per-scene run is duplicated, the summaries follow scene updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    asset,
    evaluate_automation_conditions,
    materialize,
)

from landsat_assets.automation import (
    AUTOMATION_SENSOR_NAME,
    build_automation_sensor,
    partitions_updated_by_runs_that_planned,
)
from landsat_assets.definitions import build_definitions, build_resources
from landsat_assets.io_managers.products import TableIOManager
from landsat_assets.jobs import SCENE_ASSETS, SUMMARY_ASSETS
from landsat_assets.settings import Settings

SCENE_KEYS = [AssetKey(a.key.path) for a in SCENE_ASSETS]
FOLLOWERS = SCENE_KEYS[1:]
SUMMARY_KEYS = [AssetKey(a.key.path) for a in SUMMARY_ASSETS]


@pytest.fixture
def scenes(pipeline_env, instance) -> list[str]:
    """Two registered scene partitions, neither materialized."""
    catalog = build_definitions(pipeline_env).resources["catalog"]
    keys = [record.scene_key for record in catalog.search()[-2:]]
    instance.add_dynamic_partitions("landsat_scenes", keys)
    return keys


class Ticks:
    """Successive automation evaluations carrying the cursor, at chosen times."""

    def __init__(self, defs, instance: DagsterInstance) -> None:
        self.defs, self.instance, self.cursor = defs, instance, None

    def requested(self, at: datetime) -> dict[AssetKey, set[str | None]]:
        result = evaluate_automation_conditions(
            self.defs, self.instance, evaluation_time=at, cursor=self.cursor
        )
        self.cursor = result.cursor
        return {
            key: set(result.get_requested_partitions(key))
            for key in SCENE_KEYS + SUMMARY_KEYS
            if result.get_requested_partitions(key)
        }


def materialize_scene(env, instance, key: str, assets=None) -> None:
    selection = assets or SCENE_ASSETS
    result = materialize(
        [*SCENE_ASSETS],
        selection=selection,
        partition_key=key,
        resources=build_resources(env),
        instance=instance,
    )
    assert result.success


def test_conditions_are_on_the_right_assets(instance):
    # Resolving the graph reads Dagster's current definitions-state storage, which belongs to
    # the current instance: with one of its own, the test does not depend on what an earlier
    # test in the same worker left current (in CI it once found a disposed instance's).
    graph = build_definitions({}).resolve_asset_graph()
    assert graph.get(AssetKey("landsat_scene")).automation_condition is None
    for key in FOLLOWERS:
        assert graph.get(key).automation_condition.get_label() == "follows upstream"
    for key in SUMMARY_KEYS:
        assert graph.get(key).automation_condition.get_label().startswith("refresh after scene")


def test_scene_runs_are_not_duplicated_and_summaries_follow(pipeline_env, instance, scenes):
    defs = build_definitions(pipeline_env)
    ticks = Ticks(defs, instance)
    now = datetime.now(UTC)
    done = scenes[0]  # scenes[1] stays missing: exact comparisons show it is never requested

    assert ticks.requested(now) == {}, "missing partitions alone trigger nothing"

    materialize_scene(pipeline_env, instance, done)
    assert ticks.requested(now + timedelta(seconds=30)) == {key: {None} for key in SUMMARY_KEYS}, (
        "the scene run planned every per-scene asset, so only the summaries follow"
    )

    assert materialize(
        [*SCENE_ASSETS, *SUMMARY_ASSETS],
        selection=SUMMARY_ASSETS,
        resources=build_resources(pipeline_env),
        instance=instance,
    ).success
    assert ticks.requested(now + timedelta(seconds=60)) == {}

    materialize_scene(pipeline_env, instance, done, assets=SCENE_ASSETS[:1])
    requested = ticks.requested(now + timedelta(seconds=90))
    assert requested == {key: {done} for key in FOLLOWERS}, (
        "a landsat_scene update outside a scene run pulls that scene's products"
    )

    materialize_scene(pipeline_env, instance, done, assets=SCENE_ASSETS[1:])
    assert ticks.requested(now + timedelta(seconds=120)) == {key: {None} for key in SUMMARY_KEYS}
    assert ticks.requested(now + timedelta(seconds=150)) == {}


def test_a_step_of_a_run_that_planned_it_is_not_rerun_after_other_scenes_update(
    pipeline_env, instance, scenes, tmp_path
):
    """A scene run updated `ndvi` but its `scene_ndvi_stats` did not follow (that step failed,
    or, as the automation sensor can see it, its event was not yet visible when the tick
    started), and then a run of another scene finished. Dagster 1.13's own
    `executed_with_root_target` looks only at an asset's latest materialization over every
    partition, so it took the first scene's `ndvi` update for one made outside a scene run
    and requested its statistics again: the duplicate run of issue 14, item 10."""
    defs = build_definitions(pipeline_env)
    ticks = Ticks(defs, instance)
    now = datetime.now(UTC)
    failed, later = scenes
    assert ticks.requested(now) == {}

    stats_key = AssetKey("scene_ndvi_stats")
    blocker = tmp_path / "storage" / TableIOManager.key_for(stats_key, failed)
    blocker.mkdir(parents=True)
    result = materialize(
        [*SCENE_ASSETS],
        partition_key=failed,
        resources=build_resources(pipeline_env),
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    assert failed in instance.get_materialized_partitions(AssetKey("ndvi"))
    assert failed not in instance.get_materialized_partitions(stats_key)
    blocker.rmdir()
    materialize_scene(pipeline_env, instance, later)

    assert ticks.requested(now + timedelta(seconds=30)) == {key: {None} for key in SUMMARY_KEYS}


def test_summary_waits_for_running_scenes_until_the_cron_tick(pipeline_env, instance, scenes):
    defs = build_definitions(pipeline_env)
    ticks = Ticks(defs, instance)
    done, running = scenes
    # Two evaluations inside one five-minute cron period, the third after its next tick.
    now = datetime.now(UTC)
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=6 - now.minute % 5)
    assert ticks.requested(start) == {}
    instance.create_run_for_job(
        defs.resolve_job_def("landsat_scene_job"),
        tags={"dagster/partition": running},
        asset_selection=set(SCENE_KEYS),
        status=DagsterRunStatus.STARTED,
    )

    materialize_scene(pipeline_env, instance, done)

    assert ticks.requested(start + timedelta(minutes=1)) == {}
    assert ticks.requested(start + timedelta(minutes=5)) == {key: {None} for key in SUMMARY_KEYS}


def test_automation_sensor_runs_by_default_and_is_configurable():
    default = build_automation_sensor(Settings())
    assert default.name == AUTOMATION_SENSOR_NAME
    assert default.default_status == DefaultSensorStatus.RUNNING
    assert default.minimum_interval_seconds == 30
    configured = build_automation_sensor(
        Settings.from_env(
            {"LANDSAT_AUTOMATION_STATUS": "stopped", "LANDSAT_AUTOMATION_INTERVAL_SECONDS": "5"}
        )
    )
    assert configured.default_status == DefaultSensorStatus.STOPPED
    assert configured.minimum_interval_seconds == 5


def test_no_partitions_match_without_asking_for_every_one(tmp_path):
    """Asked about no partitions, the answer is none: the instance, given an empty
    `partitions`, would list the latest event of every partition."""
    letters = DynamicPartitionsDefinition(name="letters")

    @asset(partitions_def=letters)
    def lettered() -> None:
        return None

    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        instance.add_dynamic_partitions(letters.name, ["a"])
        assert materialize([lettered], instance=instance, partition_key="a").success
        key = lettered.key
        assert partitions_updated_by_runs_that_planned(instance, key, ["a"], key) == {"a"}
        assert partitions_updated_by_runs_that_planned(instance, key, [], key) == set()
