"""What a scene sensor tick should request, decided from a cursor and one catalog scan.

The cursor is a watermark on acquisition time plus the versions of the scenes already decided
on within the lookback window behind it. Each tick rescans from `watermark - lookback`, so an
item published late, or reprocessed by USGS (a newer `version`), is still caught; the versions
remembered for that window tell new and reprocessed scenes from known ones. Requests go out
oldest first and at most `max_runs` per tick; the watermark then stops at the last scene
requested, so everything left over is still inside the next tick's window.

Plain logic with no Dagster import: the sensor feeds it scenes and the instance's knowledge.
Scenes are kept as `SceneStamp`s (key, version, time, path/row, about 0.5 KB each), so a tick
over ten thousand catalog items holds a few MB, not the full records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from landsat_assets.errors import CursorError
from landsat_assets.stac.scene import SceneRecord

CURSOR_FORMAT = 1


class FirstTick(StrEnum):
    """What the first tick (no cursor yet) requests."""

    LATEST = "latest"
    """Only the newest scene of each WRS path/row: a new deployment does not queue the archive."""
    ALL = "all"
    """Every scene the catalog query returns (since LANDSAT_START_DATE when set)."""


@dataclass(frozen=True)
class SceneCursor:
    watermark: datetime | None = None
    """Acquisition time up to which every scene has been requested or deliberately passed."""
    seen: Mapping[str, str] = field(default_factory=dict)
    """Scene key -> version already decided on, for scenes acquired within the lookback."""

    @property
    def is_first_tick(self) -> bool:
        return self.watermark is None

    def scan_start(self, lookback: timedelta) -> datetime | None:
        return None if self.watermark is None else self.watermark - lookback

    @classmethod
    def loads(cls, text: str | None) -> SceneCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if data.get("format") != CURSOR_FORMAT:
                raise CursorError(f"cursor format {data.get('format')!r}, expected 1")
            watermark = data["watermark"]
            seen = data["seen"]
            if not isinstance(seen, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in seen.items()
            ):
                raise CursorError("'seen' is not an object of scene key -> version strings")
            moment = None if watermark is None else datetime.fromisoformat(watermark)
        except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as error:
            raise CursorError(
                f"sensor cursor {text[:200]!r} is not a scene watermark cursor ({error}); "
                "clear it to start over"
            ) from error
        if moment is not None and moment.tzinfo is None:
            raise CursorError(f"cursor watermark {watermark!r} has no time zone")
        return cls(watermark=moment, seen=dict(seen))

    def dumps(self) -> str:
        return json.dumps(
            {
                "format": CURSOR_FORMAT,
                "watermark": None if self.watermark is None else self.watermark.isoformat(),
                "seen": dict(sorted(self.seen.items())),
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class SceneStamp:
    """What a tick needs to know of a scene."""

    scene_key: str
    version: str
    datetime: datetime
    wrs_path: str
    wrs_row: str

    @classmethod
    def of(cls, record: SceneRecord) -> SceneStamp:
        return cls(
            record.scene_key, record.version, record.datetime, record.wrs_path, record.wrs_row
        )


@dataclass(frozen=True)
class SceneRequest:
    scene: SceneStamp
    previous_version: str | None
    """The version processed before, when this is a reprocessing of a known scene."""

    @property
    def reprocessed(self) -> bool:
        return self.previous_version is not None

    @property
    def run_key(self) -> str:
        """The scene key; with the version for a reprocessing, so that Dagster's run-key
        deduplication lets the new version through but never the same one twice."""
        key = self.scene.scene_key
        return f"{key}@{self.scene.version}" if self.reprocessed else key


@dataclass(frozen=True)
class TickPlan:
    requests: list[SceneRequest]
    cursor: SceneCursor
    scanned: int
    """Distinct scenes the scan returned."""
    known: int
    """Scenes skipped because that version was already requested or materialized."""
    passed_over: int
    """Older scenes a `latest` first tick deliberately did not request."""
    deferred: int
    """New scenes over the per-tick cap, left for the next ticks."""


def newest_versions(records: Iterable[SceneRecord | SceneStamp]) -> list[SceneStamp]:
    """One stamp per scene key (the newest version: pages can repeat an item, or list both a
    scene and its reprocessing), oldest acquisition first. Consumes `records` as it goes."""
    newest: dict[str, SceneStamp] = {}
    for record in records:
        kept = newest.get(record.scene_key)
        if kept is None or record.version > kept.version:
            newest[record.scene_key] = (
                record if isinstance(record, SceneStamp) else SceneStamp.of(record)
            )
    return sorted(newest.values(), key=lambda stamp: (stamp.datetime, stamp.scene_key))


def plan_tick(
    cursor: SceneCursor,
    scenes: Iterable[SceneRecord | SceneStamp],
    *,
    known_versions: Mapping[str, str],
    max_runs: int,
    lookback: timedelta,
    first_tick: FirstTick = FirstTick.LATEST,
) -> TickPlan:
    """Decide one tick from the scenes scanned since `cursor.scan_start(lookback)`.

    `known_versions` holds the versions already materialized for scenes the cursor does not
    remember (a cursor reset, or scenes processed by `landsat-assets run`), so those are not
    processed again.
    """
    if max_runs < 1:
        raise ValueError(f"max_runs must be at least 1, got {max_runs}")
    ordered = newest_versions(scenes)
    newest_of_path_row = (
        {(r.wrs_path, r.wrs_row): r.scene_key for r in ordered}
        if cursor.is_first_tick and first_tick is FirstTick.LATEST
        else None
    )
    decided: dict[str, str] = {}
    candidates: list[SceneRequest] = []
    known = passed_over = 0
    for scene in ordered:
        key = scene.scene_key
        prior = cursor.seen.get(key) or known_versions.get(key)
        if prior is not None and prior >= scene.version:
            decided[key] = prior
            known += 1
        elif (
            newest_of_path_row is not None
            and newest_of_path_row[(scene.wrs_path, scene.wrs_row)] != key
        ):
            decided[key] = scene.version
            passed_over += 1
        else:
            candidates.append(SceneRequest(scene, previous_version=prior))
    requests, left = candidates[:max_runs], candidates[max_runs:]
    for request in requests:
        decided[request.scene.scene_key] = request.scene.version

    # Everything not requested must stay inside the next scan window: with leftovers the
    # watermark stops at the last scene requested (candidates are oldest first).
    reached = [requests[-1].scene] if left else ordered
    times = [r.datetime for r in reached] + ([cursor.watermark] if cursor.watermark else [])
    watermark = max(times) if times else None
    horizon = None if watermark is None else watermark - lookback
    by_key = {scene.scene_key: scene for scene in ordered}
    seen = {
        key: version
        for key, version in decided.items()
        if horizon is None or by_key[key].datetime >= horizon
    }
    return TickPlan(
        requests=requests,
        cursor=SceneCursor(watermark=watermark, seen=seen),
        scanned=len(ordered),
        known=known,
        passed_over=passed_over,
        deferred=len(left),
    )
