"""The one partitioning of the platform: a dynamic partition per Landsat scene."""

from __future__ import annotations

from collections.abc import Iterable

from dagster import DagsterInstance, DynamicPartitionsDefinition

from landsat_assets.stac.scene import validate_scene_key

landsat_scenes = DynamicPartitionsDefinition(name="landsat_scenes")


def new_scene_keys(instance: DagsterInstance, keys: Iterable[str]) -> list[str]:
    """Validated keys not yet registered, in the given order, without duplicates."""
    known = set(instance.get_dynamic_partitions(landsat_scenes.name))
    fresh: list[str] = []
    for key in keys:
        validate_scene_key(key)
        if key not in known:
            known.add(key)
            fresh.append(key)
    return fresh


def register_scenes(instance: DagsterInstance, keys: Iterable[str]) -> list[str]:
    """Add the scenes' partitions to the instance; returns the keys that were new."""
    fresh = new_scene_keys(instance, keys)
    if fresh:
        instance.add_dynamic_partitions(landsat_scenes.name, fresh)
    return fresh
