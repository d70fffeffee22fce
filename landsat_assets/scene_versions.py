"""Which USGS processing version of each scene the instance has materialized.

`landsat_scene` records the scene's version as metadata on every materialization, whatever
the run covered; the scene sensor and the main job both read it here, in bulk.
"""

from __future__ import annotations

from collections.abc import Iterable

from dagster import AssetRecordsFilter, DagsterEventType, DagsterInstance, TextMetadataValue

from landsat_assets.assets.scenes import VERSION_METADATA, landsat_scene

LOOKUP_BATCH = 500
"""Storage ids per query: well inside SQLite's limit on bound variables."""


def materialized_versions(instance: DagsterInstance, keys: Iterable[str]) -> dict[str, str]:
    """The scene version (`version` metadata of `landsat_scene`, which records the USGS
    processing version whatever the run covered) materialized for each of `keys` that has one.
    A few queries per thousand keys, so a first tick over an archive processed before (by
    `landsat-assets run`, or before a cursor reset) stays fast."""
    latest = instance.get_latest_storage_id_by_partition(
        landsat_scene.key, DagsterEventType.ASSET_MATERIALIZATION, partitions=set(keys)
    )
    storage_ids = sorted(latest.values())
    versions: dict[str, str] = {}
    for first in range(0, len(storage_ids), LOOKUP_BATCH):
        batch = storage_ids[first : first + LOOKUP_BATCH]
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=landsat_scene.key, storage_ids=batch), limit=len(batch)
        )
        for record in result.records:
            event = record.asset_materialization
            entry = event.metadata.get(VERSION_METADATA) if event else None
            if event and event.partition and isinstance(entry, TextMetadataValue):
                versions[event.partition] = entry.value
    return versions
