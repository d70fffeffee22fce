"""The sensor's decision logic on synthetic records: cursor format, cap, ties, pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from landsat_assets.errors import CursorError
from landsat_assets.stac.scene import BandAsset, SceneRecord
from landsat_assets.stac.watermark import FirstTick, SceneCursor, newest_versions, plan_tick

DAY = timedelta(days=1)
T0 = datetime(2024, 5, 1, 17, 30, tzinfo=UTC)


def record(key: str, when: datetime, version: str = "v1", path_row: str = "033032") -> SceneRecord:
    return SceneRecord(
        scene_key=key,
        item_id=key,
        datetime=when,
        platform="landsat-9",
        wrs_path=path_row[:3],
        wrs_row=path_row[3:],
        cloud_cover=10.0,
        cloud_cover_land=10.0,
        version=version,
        bands={"red": BandAsset(href=f"/data/{key}_B4.TIF")},
    )


def plan(cursor, scenes, *, max_runs=10, lookback=10 * DAY, first_tick=FirstTick.ALL, known=None):
    return plan_tick(
        cursor,
        scenes,
        known_versions=known or {},
        max_runs=max_runs,
        lookback=lookback,
        first_tick=first_tick,
    )


def test_cursor_round_trips():
    cursor = SceneCursor(watermark=T0, seen={"B": "v2", "A": "v1"})
    assert SceneCursor.loads(cursor.dumps()) == cursor
    assert SceneCursor.loads(None) == SceneCursor()
    assert SceneCursor.loads("").is_first_tick


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01",
        '{"watermark": "2024-05-01T00:00:00+00:00", "seen": {}}',
        '{"format": 1, "watermark": "yesterday", "seen": {}}',
        '{"format": 1, "watermark": "2024-05-01T00:00:00", "seen": {}}',
        '{"format": 1, "watermark": null, "seen": ["A"]}',
    ],
)
def test_foreign_cursor_is_refused(text):
    with pytest.raises(CursorError):
        SceneCursor.loads(text)


def test_newest_version_wins_and_order_is_by_acquisition():
    scenes = [
        record("B", T0 + DAY, "v1"),
        record("A", T0, "v2"),
        record("B", T0 + DAY, "v3"),
        record("A", T0, "v1"),
    ]
    assert [(r.scene_key, r.version) for r in newest_versions(scenes)] == [("A", "v2"), ("B", "v3")]


def test_ties_at_the_cap_are_left_for_the_next_tick():
    scenes = [record(key, T0) for key in "ABC"] + [record("D", T0 + DAY)]
    first = plan(SceneCursor(), scenes, max_runs=2)
    assert [r.scene.scene_key for r in first.requests] == ["A", "B"]
    assert first.cursor.watermark == T0
    assert first.deferred == 2

    second = plan(first.cursor, scenes, max_runs=2)
    assert [r.scene.scene_key for r in second.requests] == ["C", "D"]
    assert second.known == 2
    assert plan(second.cursor, scenes).requests == []


def test_latest_first_tick_passes_over_older_scenes_for_good():
    scenes = [
        record("A1", T0, path_row="033032"),
        record("B1", T0 + DAY, path_row="034032"),
        record("A2", T0 + 2 * DAY, path_row="033032"),
        record("B2", T0 + 3 * DAY, path_row="034032"),
    ]
    first = plan(SceneCursor(), scenes, max_runs=1, first_tick=FirstTick.LATEST)
    assert [r.scene.scene_key for r in first.requests] == ["A2"]
    assert first.passed_over == 2
    assert first.deferred == 1

    second = plan(first.cursor, scenes, first_tick=FirstTick.LATEST)
    assert [r.scene.scene_key for r in second.requests] == ["B2"]


def test_memory_is_pruned_to_the_lookback_window():
    scenes = [record("OLD", T0), record("NEW", T0 + 20 * DAY)]
    result = plan(SceneCursor(), scenes, lookback=10 * DAY)
    assert result.cursor.watermark == T0 + 20 * DAY
    assert dict(result.cursor.seen) == {"NEW": "v1"}
    assert result.cursor.scan_start(10 * DAY) == T0 + 10 * DAY


def test_known_versions_from_the_instance_count_as_seen():
    scenes = [record("A", T0, "v1"), record("B", T0, "v2")]
    result = plan(SceneCursor(), scenes, known={"A": "v1", "B": "v1"})
    (request,) = result.requests
    assert request.scene.scene_key == "B"
    assert request.reprocessed
    assert request.previous_version == "v1"
    assert request.run_key == "B@v2"
    assert result.known == 1


def test_an_older_version_than_the_one_seen_is_ignored():
    cursor = SceneCursor(watermark=T0, seen={"A": "v2"})
    assert plan(cursor, [record("A", T0, "v1")]).requests == []


def test_cap_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        plan(SceneCursor(), [], max_runs=0)
