"""A deployment made large without processing: scenes that look like a processed one (same
products, same provenance, later acquisition days) registered and recorded as materialized,
and a counter of the database queries an operation makes. For tests and benches of how costs
grow with the number of scenes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from dagster import AssetMaterialization, DagsterInstance
from sqlalchemy import event
from sqlalchemy.engine import Engine

from landsat_assets.jobs import SCENE_ASSETS
from landsat_assets.materializations import latest_materializations
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


def materialized_lookalikes(
    instance: DagsterInstance, template: SceneRecord, count: int
) -> list[SceneRecord]:
    """`lookalike_records` registered as partitions, each with a materialization of every
    scene asset copied from the template scene's latest (metadata and provenance tags)."""
    records = lookalike_records(template, count)
    register_scenes(instance, [r.scene_key for r in records])
    for asset in SCENE_ASSETS:
        latest = latest_materializations(instance, asset.key, [template.scene_key])
        model = latest[template.scene_key].asset_materialization
        for record in records:
            instance.report_runless_asset_event(
                AssetMaterialization(
                    asset_key=asset.key,
                    partition=record.scene_key,
                    metadata=model.metadata,
                    tags=model.tags,
                )
            )
    return records


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
