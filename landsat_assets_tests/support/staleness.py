"""Dagster's own stale status of a partition, as the UI computes it: what the project's bulk
freshness rule (freshness.py) must agree with."""

from __future__ import annotations

from dagster import AssetKey, DagsterInstance, Definitions
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._time import get_current_datetime


def stale_status_resolver(
    instance: DagsterInstance, defs: Definitions
) -> CachingStaleStatusResolver:
    asset_graph = defs.resolve_asset_graph()
    return CachingStaleStatusResolver(
        instance,
        asset_graph,
        loading_context=AssetGraphView(
            temporal_context=TemporalContext(
                effective_dt=get_current_datetime(), last_event_id=None
            ),
            instance=instance,
            asset_graph=asset_graph,
        ),
    )


def ui_status(instance: DagsterInstance, defs: Definitions, asset: str, key: str) -> StaleStatus:
    return stale_status_resolver(instance, defs).get_status(AssetKey(asset), key)
