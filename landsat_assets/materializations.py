"""What the instance records about each scene's products, read in bulk: the provenance facts
the up-to-date rule reads from the latest materialization of an asset for many partitions at
once, the USGS processing version of each scene that `landsat_scene` recorded, and the
partitions materialized since a given event. The scene sensor, the main job and the summary
read them here.

Deserializing Dagster's event records is the expensive part of reading them (about a
millisecond each: 50 s for five products of 10,000 scenes). Events never change once
written, so the facts read from one are kept, under its storage id, in a file in the
instance's local artifact directory (`$DAGSTER_HOME/landsat-assets/provenance/`). A run asks
the instance for the latest storage id of each partition (one query returning numbers),
takes the facts of unchanged ids from the file and reads only the new events. The file is a
memo of the event log, never a second record: a missing, unreadable or older-format file is
rebuilt from the events, and an entry counts only for the exact event it was read from.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    EventLogRecord,
)
from dagster._core.definitions.data_version import (
    CODE_VERSION_TAG,
    DATA_VERSION_TAG,
    INPUT_EVENT_POINTER_TAG_PREFIX,
)

from landsat_assets.assets.common import SIZE_METADATA, STORAGE_METADATA
from landsat_assets.assets.scenes import VERSION_METADATA, landsat_scene
from landsat_assets.science.cog import atomic_path

LOOKUP_BATCH = 500
"""Storage ids per query: well inside SQLite's limit on bound variables."""

FEW_KEYS = 20
"""Up to this many keys, events are read straight from the instance, not through the memo:
deserializing 20 events costs about 20 ms, reading the memo of 10,000 scenes about 100 ms per
asset (a sensor tick asks about its new scenes only)."""

PROVENANCE_METADATA = (STORAGE_METADATA, SIZE_METADATA, VERSION_METADATA)
"""The metadata entries `ProductFacts` keeps: where the product was written, its size (for
products the asset staged itself), and (for `landsat_scene`) the scene's USGS processing
version."""

MEMO_FORMAT = 2
"""Bumped when `ProductFacts` changes, so older memo files are rebuilt, not misread."""

_MEMO_STAMP = {"format": MEMO_FORMAT, "metadata": list(PROVENANCE_METADATA)}


@dataclass(frozen=True)
class ProductFacts:
    """What one materialization of a scene product says about its provenance."""

    storage_id: int
    code_version: str | None = None
    data_version: str | None = None
    input_pointers: dict[str, str] = field(default_factory=dict)
    """Per input asset (user string): the last event of it the product could have read."""
    metadata: dict[str, str] = field(default_factory=dict)
    """The text of its `PROVENANCE_METADATA` entries."""

    @classmethod
    def of(cls, record: EventLogRecord) -> ProductFacts:
        event = record.asset_materialization
        assert event is not None, f"event {record.storage_id} is not a materialization"
        tags = event.tags or {}
        prefix = f"{INPUT_EVENT_POINTER_TAG_PREFIX}/"
        return cls(
            storage_id=record.storage_id,
            code_version=tags.get(CODE_VERSION_TAG),
            data_version=tags.get(DATA_VERSION_TAG),
            input_pointers={
                k.removeprefix(prefix): v for k, v in tags.items() if k.startswith(prefix)
            },
            metadata={
                key: str(event.metadata[key].value)
                for key in PROVENANCE_METADATA
                if key in event.metadata
            },
        )


def latest_product_facts(
    instance: DagsterInstance, asset_key: AssetKey, keys: Iterable[str]
) -> dict[str, ProductFacts]:
    """The facts of the latest materialization of `asset_key` for each of the partition
    `keys` that has one: one query for the storage ids, then one per `LOOKUP_BATCH` events.

    Events are read once and kept in the module's memo, except for `FEW_KEYS` keys or fewer
    (a sensor tick's new scenes), whose events cost less to read again than the memo of
    every scene."""
    wanted = set(keys)
    if not wanted:  # an empty `partitions` means every partition to the instance
        return {}
    # Thousands of bound variables cost more to send and plan than the rows of partitions not
    # asked for.
    by_asset = len(wanted) > LOOKUP_BATCH
    latest = instance.get_latest_storage_id_by_partition(
        asset_key,
        DagsterEventType.ASSET_MATERIALIZATION,
        partitions=None if by_asset else wanted,
    )
    if len(wanted) <= FEW_KEYS:
        fetched = _fetch_facts(instance, asset_key, sorted(latest.values()))
        return {
            key: facts
            for key, sid in latest.items()
            if (facts := fetched.get(key)) is not None and facts.storage_id == sid
        }
    if by_asset:
        latest = {key: sid for key, sid in latest.items() if key in wanted}
    memo = _Memo.load(instance, asset_key)
    if latest and max(latest.values()) < memo.high_water():
        memo.facts.clear()  # fewer events than the memo has seen: another or a reset event log
    unread = sorted(sid for key, sid in latest.items() if memo.get(key, sid) is None)
    if unread:
        memo.facts.update(_fetch_facts(instance, asset_key, unread))
        memo.save()
    return {key: facts for key, sid in latest.items() if (facts := memo.get(key, sid))}


def _fetch_facts(
    instance: DagsterInstance, asset_key: AssetKey, storage_ids: Sequence[int]
) -> dict[str, ProductFacts]:
    """The facts of the materializations `storage_ids` of `asset_key`, by partition."""
    facts = {}
    for first in range(0, len(storage_ids), LOOKUP_BATCH):
        batch = storage_ids[first : first + LOOKUP_BATCH]
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, storage_ids=list(batch)), limit=len(batch)
        )
        for record in result.records:
            event = record.asset_materialization
            if event is not None and event.partition:
                facts[event.partition] = ProductFacts.of(record)
    return facts


@dataclass
class _Memo:
    path: Path | None
    """None when the instance keeps no local files (nothing is remembered)."""
    facts: dict[str, ProductFacts]
    """By partition key."""

    @classmethod
    def load(cls, instance: DagsterInstance, asset_key: AssetKey) -> _Memo:
        root = instance.root_directory
        if not root:
            return cls(None, {})
        name = f"{asset_key.to_python_identifier()}.json"
        path = Path(root) / "landsat-assets" / "provenance" / name
        try:
            stored = json.loads(path.read_text())
            if stored.get("stamp") != _MEMO_STAMP:
                return cls(path, {})
            facts = {key: ProductFacts(**value) for key, value in stored["facts"].items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return cls(path, {})
        return cls(path, facts)

    def high_water(self) -> int:
        return max((facts.storage_id for facts in self.facts.values()), default=0)

    def get(self, key: str, storage_id: int) -> ProductFacts | None:
        facts = self.facts.get(key)
        return facts if facts is not None and facts.storage_id == storage_id else None

    def save(self) -> None:
        """Replace the file in one step; a memo that cannot be written is only a slower run."""
        if self.path is None:
            return
        payload = {"stamp": _MEMO_STAMP, "facts": {k: asdict(v) for k, v in self.facts.items()}}
        with contextlib.suppress(OSError), atomic_path(self.path) as temporary:
            temporary.write_text(json.dumps(payload))


def materialized_versions(instance: DagsterInstance, keys: Iterable[str]) -> dict[str, str]:
    """The scene version (`version` metadata of `landsat_scene`, which records the USGS
    processing version whatever the run covered) materialized for each of `keys` that has one.
    A few queries per thousand keys, so a first tick over an archive processed before (by
    `landsat-assets run`, or before a cursor reset) stays fast."""
    facts = latest_product_facts(instance, landsat_scene.key, keys)
    return {
        key: found.metadata[VERSION_METADATA]
        for key, found in facts.items()
        if VERSION_METADATA in found.metadata
    }


def partitions_materialized_after(
    instance: DagsterInstance, asset_key: AssetKey, storage_id: int | None
) -> tuple[set[str], int | None]:
    """The partitions of `asset_key` materialized after the event `storage_id` (every
    materialized partition when it is None), and the newest storage id among them (else
    `storage_id`): one query, answered from what changed."""
    latest = instance.get_latest_storage_id_by_partition(
        asset_key, DagsterEventType.ASSET_MATERIALIZATION, after_cursor=storage_id
    )
    return set(latest), max(latest.values(), default=storage_id)
