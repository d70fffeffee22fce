"""What the instance records about each scene's products, read in bulk: the latest
materialization of an asset for many partitions at once, and from it the USGS processing
version of each scene that `landsat_scene` recorded. The scene sensor and the main job both
read them here."""

from __future__ import annotations

from collections.abc import Iterable

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    EventLogRecord,
    TextMetadataValue,
)

from landsat_assets.assets.scenes import VERSION_METADATA, landsat_scene

LOOKUP_BATCH = 500
"""Storage ids per query: well inside SQLite's limit on bound variables."""


def latest_materializations(
    instance: DagsterInstance, asset_key: AssetKey, keys: Iterable[str]
) -> dict[str, EventLogRecord]:
    """The record of the latest materialization of `asset_key` (its storage id and event) for
    each of the partition `keys` that has one: one query for the storage ids, then one per
    `LOOKUP_BATCH` of them."""
    latest = instance.get_latest_storage_id_by_partition(
        asset_key, DagsterEventType.ASSET_MATERIALIZATION, partitions=set(keys)
    )
    storage_ids = sorted(latest.values())
    found: dict[str, EventLogRecord] = {}
    for first in range(0, len(storage_ids), LOOKUP_BATCH):
        batch = storage_ids[first : first + LOOKUP_BATCH]
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, storage_ids=batch), limit=len(batch)
        )
        for record in result.records:
            event = record.asset_materialization
            if event is not None and event.partition:
                found[event.partition] = record
    return found


def materialized_versions(instance: DagsterInstance, keys: Iterable[str]) -> dict[str, str]:
    """The scene version (`version` metadata of `landsat_scene`, which records the USGS
    processing version whatever the run covered) materialized for each of `keys` that has one.
    A few queries per thousand keys, so a first tick over an archive processed before (by
    `landsat-assets run`, or before a cursor reset) stays fast."""
    versions: dict[str, str] = {}
    for key, record in latest_materializations(instance, landsat_scene.key, keys).items():
        entry = record.asset_materialization.metadata.get(VERSION_METADATA)
        if isinstance(entry, TextMetadataValue):
            versions[key] = entry.value
    return versions


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
