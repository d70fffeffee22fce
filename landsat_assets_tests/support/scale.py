"""A deployment made large without processing: scenes that look like a processed one (same
products, same provenance, later acquisition days) registered and recorded as materialized,
and a counter of the database queries an operation makes. For tests and benches of how costs
grow with the number of scenes."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetRecordsFilter,
    DagsterInstance,
    Definitions,
    TextMetadataValue,
)
from dagster._core.definitions.data_version import get_input_event_pointer_tag
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID
from sqlalchemy import event
from sqlalchemy.engine import Engine

from landsat_assets.assets.common import SIZE_METADATA, STORAGE_METADATA, stored_at
from landsat_assets.assets.scenes import VERSION_METADATA
from landsat_assets.io_managers.products import (
    ProductIOManager,
    SceneRecordIOManager,
    TableIOManager,
)
from landsat_assets.jobs import SCENE_ASSETS
from landsat_assets.partitions import register_scenes
from landsat_assets.stac.scene import ProductId, SceneRecord


def lookalike_records(template: SceneRecord, count: int) -> list[SceneRecord]:
    """`count` records like `template`, one a day after its acquisition, with their own keys."""
    product = ProductId.parse(template.scene_key)
    records = []
    for day in range(1, count + 1):
        shifted = dataclasses.replace(product, acquired=product.acquired + timedelta(days=day))
        records.append(
            dataclasses.replace(
                template,
                scene_key=str(shifted),
                item_id=shifted.item_id,
                datetime=template.datetime + timedelta(days=day),
            )
        )
    return records


def record_as_processed(
    instance: DagsterInstance,
    defs: Definitions,
    template: SceneRecord,
    records: Sequence[SceneRecord],
) -> None:
    """Record each of `records` as processed exactly like `template` (processed for real):
    its partition registered, the template's products linked under its keys in storage, and
    a materialization of every scene asset copied from the template's, with the record's own
    USGS version, storage links and input event pointers. What a deployment that processed
    them would hold, without processing them."""
    register_scenes(instance, [r.scene_key for r in records])
    storage = defs.resources["storage"]
    graph = defs.resolve_asset_graph()
    keys = [r.scene_key for r in records]
    written: dict[AssetKey, Mapping[str, int]] = {}
    """Storage id of the lookalikes' materialization, by asset and scene."""
    for asset in SCENE_ASSETS:
        node = graph.get(asset.key)
        manager = type(defs.resources[node.io_manager_key])
        (model,) = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset.key, asset_partitions=[template.scene_key]), limit=1
        ).records
        event = model.asset_materialization
        events: list[EventLogEntry] = []
        for record in records:
            metadata = dict(event.metadata)
            if VERSION_METADATA in metadata:
                metadata[VERSION_METADATA] = TextMetadataValue(record.version)
            if STORAGE_METADATA in metadata:
                stored = _store_like(
                    defs.resources[node.io_manager_key], asset.key, template, record
                )
                sized = {"staged": stored} if SIZE_METADATA in metadata else {}
                metadata |= stored_at(storage, manager, asset.key, record.scene_key, **sized)
            tags = dict(event.tags or {})
            for input_key in node.parent_keys:
                pointer = written[input_key][record.scene_key]
                tags[get_input_event_pointer_tag(input_key)] = str(pointer)
            events.append(
                runless_materialization(
                    AssetMaterialization(
                        asset_key=asset.key,
                        partition=record.scene_key,
                        metadata=metadata,
                        tags=tags,
                    )
                )
            )
        for first in range(0, len(events), EVENT_BATCH):
            instance.event_log_storage.store_event_batch(events[first : first + EVENT_BATCH])
        written[asset.key] = instance.get_latest_storage_id_by_partition(
            asset.key, DagsterEventType.ASSET_MATERIALIZATION, partitions=set(keys)
        )


EVENT_BATCH = 500
"""Events per write: Postgres stores a batch of materializations in one statement (what
DAGSTER_EVENT_BATCH_SIZE makes runs do); SQLite stores them one by one."""


def runless_materialization(materialization: AssetMaterialization) -> EventLogEntry:
    """The event log entry `DagsterInstance.report_runless_asset_event` would store."""
    return EventLogEntry(
        user_message="",
        level=logging.INFO,
        job_name=RUNLESS_JOB_NAME,
        run_id=RUNLESS_RUN_ID,
        error_info=None,
        timestamp=time.time(),
        step_key=None,
        dagster_event=DagsterEvent(
            event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
            event_specific_data=StepMaterializationData(materialization),
            job_name=RUNLESS_JOB_NAME,
        ),
    )


def _store_like(
    manager: ProductIOManager, asset_key: AssetKey, template: SceneRecord, record: SceneRecord
) -> Path:
    """Store the template's product of `asset_key` as `record`'s: the scene's own record and
    statistics row (they name the scene), the same rasters (hard links). Returns its path."""
    store = manager.storage.store()
    source = manager.key_for(asset_key, template.scene_key)
    product = manager.key_for(asset_key, record.scene_key)
    if isinstance(manager, SceneRecordIOManager):
        value: Any = record
    elif isinstance(manager, TableIOManager):
        value = manager.decode(store, source).assign(
            scene_id=record.scene_key, datetime=record.datetime
        )
    else:
        store.delete(product)
        os.link(store.path(source), store.path(product))
        return store.path(product)
    store.put(manager.encode(value, store.staging_dir()), product)
    return store.path(product)


@contextmanager
def counting_queries() -> Iterator[list[str]]:
    """The SQL statements any SQLAlchemy engine (the instance's storages) executes inside."""
    executed: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        executed.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield executed
    finally:
        event.remove(Engine, "before_cursor_execute", record)
