"""landsat_scene_sensor ticked with build_sensor_context against a real test instance, on the
small demo catalog and on a real paged STAC API over HTTP."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from dagster import DagsterRunStatus, DefaultSensorStatus, SensorResult, SkipReason, materialize

from landsat_assets.definitions import build_definitions, build_resources
from landsat_assets.demo.catalog import add_scene
from landsat_assets.jobs import SCENE_ASSETS
from landsat_assets.sensors import (
    SCENE_VERSION_TAG,
    SENSOR_NAME,
    TRIGGER_TAG,
    build_scene_sensor,
)
from landsat_assets.settings import Settings
from landsat_assets.stac.search import search_scenes
from landsat_assets.stac.watermark import SceneCursor
from landsat_assets_tests.support.catalogs import edit_item


def keys_of(result: SensorResult | SkipReason) -> list[str]:
    assert isinstance(result, SensorResult), result
    return [request.partition_key for request in result.run_requests]


def catalog_scenes(catalog: Path, **env: str):
    return search_scenes(catalog, build_definitions(env).resources["catalog"].query())


def newest_per_path_row(scenes) -> set[str]:
    newest = {}
    for scene in scenes:
        newest[(scene.wrs_path, scene.wrs_row)] = scene.scene_key
    return set(newest.values())


def reprocess(catalog: Path, scene_key: str, generated: str) -> None:
    """Rewrite one demo item as USGS reprocessing it would: a newer product_generated."""
    edit_item(
        catalog,
        scene_key,
        lambda item: item["properties"].update({"landsat:product_generated": generated}),
    )


def test_first_tick_requests_newest_scene_of_each_path_row(catalog_copy, harness, instance):
    scenes = catalog_scenes(catalog_copy)
    sensor = harness(catalog_copy)

    result = sensor.tick()

    expected = newest_per_path_row(scenes)
    assert len(expected) == 2
    assert set(keys_of(result)) == expected
    assert {r.run_key for r in result.run_requests} == expected
    assert all(r.tags[TRIGGER_TAG] == "new_scene" for r in result.run_requests)
    (request,) = result.dynamic_partitions_requests
    assert set(request.partition_keys) == expected
    assert set(instance.get_dynamic_partitions("landsat_scenes")) == expected
    cursor = SceneCursor.loads(sensor.cursor)
    assert cursor.watermark == max(scene.datetime for scene in scenes)


def test_first_tick_all_requests_every_scene_since_start_date(catalog_copy, harness):
    scenes = catalog_scenes(catalog_copy)
    start = scenes[len(scenes) // 2].datetime.date().isoformat()
    expected = [s.scene_key for s in scenes if s.datetime.date().isoformat() >= start]
    sensor = harness(catalog_copy, LANDSAT_SENSOR_FIRST_TICK="all", LANDSAT_START_DATE=start)

    assert keys_of(sensor.tick()) == expected
    assert 0 < len(expected) < len(scenes)


def test_no_new_scene_skips_and_says_why(catalog_copy, harness):
    sensor = harness(catalog_copy)
    sensor.tick()
    cursor = sensor.cursor

    result = sensor.tick()

    assert isinstance(result, SensorResult)
    assert not result.run_requests
    assert "no new or reprocessed scene" in result.skip_reason.skip_message
    assert "already requested or materialized" in result.skip_reason.skip_message
    assert SceneCursor.loads(sensor.cursor).watermark == SceneCursor.loads(cursor).watermark


def test_new_scene_is_requested_once(catalog_copy, harness, instance):
    sensor = harness(catalog_copy)
    sensor.tick()
    item = add_scene(catalog_copy.parent)
    new_key = item.id

    result = sensor.tick()

    assert keys_of(result) == [new_key]
    assert result.run_requests[0].run_key == new_key
    assert result.dynamic_partitions_requests[0].partition_keys == [new_key]
    assert new_key in instance.get_dynamic_partitions("landsat_scenes")
    assert SceneCursor.loads(sensor.cursor).watermark == item.datetime
    assert keys_of(sensor.tick()) == []


def test_a_scene_another_run_is_materializing_is_left_to_it(catalog_copy, harness, instance):
    sensor = harness(catalog_copy)
    sensor.tick()
    new_key = add_scene(catalog_copy.parent).id
    run = instance.create_run_for_job(
        build_definitions({}).resolve_job_def("landsat_scene_job"),
        tags={"dagster/partition": new_key},
        status=DagsterRunStatus.STARTED,
    )

    assert keys_of(sensor.tick()) == []

    instance.report_run_failed(run, message="stopped by the test")
    assert keys_of(sensor.tick()) == [new_key], "a failed run leaves the scene to the sensor"


def test_an_unusable_item_is_skipped_and_the_new_scenes_still_come(catalog_copy, harness):
    sensor = harness(catalog_copy)
    sensor.tick()
    broken = add_scene(catalog_copy.parent)
    edit_item(catalog_copy, broken.id, lambda item: item["assets"].pop("nir08"))
    usable = add_scene(catalog_copy.parent)

    result = sensor.tick()

    assert keys_of(result) == [usable.id]


def test_more_new_scenes_than_the_cap_come_over_several_ticks(catalog_copy, harness):
    scenes = catalog_scenes(catalog_copy)
    sensor = harness(
        catalog_copy, LANDSAT_SENSOR_FIRST_TICK="all", LANDSAT_SENSOR_MAX_RUNS_PER_TICK="5"
    )

    requested: list[str] = []
    watermarks = []
    for _ in range(10):
        result = sensor.tick()
        assert isinstance(result, SensorResult)
        if not result.run_requests:
            assert "no new or reprocessed scene" in result.skip_reason.skip_message
            break
        assert len(result.run_requests) <= 5
        requested += keys_of(result)
        watermarks.append(SceneCursor.loads(sensor.cursor).watermark)

    assert requested == [s.scene_key for s in scenes]
    assert len(watermarks) == -(-len(scenes) // 5)
    assert watermarks == sorted(watermarks)


def test_late_item_inside_the_lookback_is_caught(catalog_copy, harness):
    """An item published after newer ones (USGS publishes with delay) is still requested."""
    scenes = catalog_scenes(catalog_copy)
    late = scenes[-2]
    assert scenes[-1].datetime - late.datetime < timedelta(days=30)
    collection = catalog_copy.parent / "landsat-c2-l2" / "collection.json"
    published = collection.read_text()
    listing = json.loads(published)
    listing["links"] = [link for link in listing["links"] if late.scene_key not in link["href"]]
    collection.write_text(json.dumps(listing))
    sensor = harness(catalog_copy, LANDSAT_SENSOR_FIRST_TICK="all")
    assert late.scene_key not in keys_of(sensor.tick())

    collection.write_text(published)

    assert keys_of(sensor.tick()) == [late.scene_key]


def test_reprocessed_scene_is_requested_again_with_its_version(catalog_copy, harness, instance):
    sensor = harness(catalog_copy)
    first = keys_of(sensor.tick())
    scene_key = first[0]
    reprocess(catalog_copy, scene_key, "2024-03-01T10:00:00Z")

    result = sensor.tick()

    (request,) = result.run_requests
    assert request.partition_key == scene_key
    assert request.run_key == f"{scene_key}@2024-03-01T10:00:00.000000+00:00"
    assert request.tags[TRIGGER_TAG] == "reprocessed"
    assert request.tags[SCENE_VERSION_TAG] == "2024-03-01T10:00:00.000000+00:00"
    assert not result.dynamic_partitions_requests
    assert instance.get_dynamic_partitions("landsat_scenes").count(scene_key) == 1
    assert keys_of(sensor.tick()) == []


def test_materialized_scene_is_not_requested_after_a_cursor_reset(
    catalog_copy, harness, instance, tmp_path
):
    """Scenes processed outside the sensor (landsat-assets run, a backfill) are known from
    the instance, and their reprocessing is still noticed."""
    env = {"LANDSAT_STAC_URL": str(catalog_copy), "LANDSAT_STORAGE": str(tmp_path / "storage")}
    newest = sorted(newest_per_path_row(catalog_scenes(catalog_copy)))
    instance.add_dynamic_partitions("landsat_scenes", newest[:1])
    assert materialize(
        SCENE_ASSETS, partition_key=newest[0], resources=build_resources(env), instance=instance
    ).success
    sensor = harness(catalog_copy)

    assert keys_of(sensor.tick()) == newest[1:]

    reprocess(catalog_copy, newest[0], "2024-03-01T10:00:00Z")
    result = sensor.tick()
    assert [r.run_key for r in result.run_requests] == [
        f"{newest[0]}@2024-03-01T10:00:00.000000+00:00"
    ]


def test_api_error_mid_pagination_keeps_the_cursor(demo_item_dicts, paged_stac_api, harness):
    items = demo_item_dicts
    paged_stac_api.items = items[:-4]
    sensor = harness(paged_stac_api.url, LANDSAT_SENSOR_FIRST_TICK="all")
    assert len(keys_of(sensor.tick())) == len(items) - 4
    cursor = sensor.cursor
    paged_stac_api.items = items
    paged_stac_api.failing_pages = {2}
    paged_stac_api.pages_served.clear()

    result = sensor.tick()

    assert isinstance(result, SkipReason)
    assert "catalog search failed, cursor not moved" in result.skip_message
    assert "503" in result.skip_message or "gave up" in result.skip_message
    assert paged_stac_api.pages_served[:2] == [0, 1]
    assert paged_stac_api.pages_failed
    assert sensor.cursor == cursor

    paged_stac_api.failing_pages = set()
    assert keys_of(sensor.tick()) == [item["id"] for item in items[-4:]]


def test_duplicate_items_across_pages_give_one_request(demo_item_dicts, paged_stac_api, harness):
    items = demo_item_dicts[:6]
    reprocessed = json.loads(json.dumps(items[1]))
    reprocessed["properties"]["landsat:product_generated"] = "2024-03-01T10:00:00Z"
    # Offset paging over a result set that changes meanwhile: page 0 is 0 1 2, page 1 is
    # 2 3 4 (item 2 again), page 2 is 1' 5 (1' a reprocessing of item 1, published meanwhile).
    paged_stac_api.items = [*items[:3], *items[2:5], reprocessed, items[5]]
    sensor = harness(paged_stac_api.url, LANDSAT_SENSOR_FIRST_TICK="all")

    result = sensor.tick()

    assert paged_stac_api.pages_served == [0, 1, 2]
    assert keys_of(result) == [item["id"] for item in items]
    versions = {r.partition_key: r.tags[SCENE_VERSION_TAG] for r in result.run_requests}
    assert versions[items[1]["id"]] == "2024-03-01T10:00:00.000000+00:00"
    assert result.dynamic_partitions_requests[0].partition_keys == keys_of(result)


def test_settings_shape_the_sensor():
    default = build_scene_sensor(Settings())
    assert default.name == SENSOR_NAME
    assert default.default_status == DefaultSensorStatus.RUNNING
    assert default.minimum_interval_seconds == 30

    configured = build_scene_sensor(
        Settings.from_env(
            {"LANDSAT_SENSOR_STATUS": "stopped", "LANDSAT_SENSOR_INTERVAL_SECONDS": "7"}
        )
    )
    assert configured.default_status == DefaultSensorStatus.STOPPED
    assert configured.minimum_interval_seconds == 7
