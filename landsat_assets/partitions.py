"""The one partitioning of the platform: a dynamic partition per Landsat scene."""

from __future__ import annotations

from collections.abc import Iterable

from dagster import DagsterInstance, DynamicPartitionsDefinition

from landsat_assets.stac.scene import validate_scene_key

landsat_scenes = DynamicPartitionsDefinition(name="landsat_scenes")


FEW_KEYS = 100
"""Up to this many keys are looked up one by one, so that a sensor tick's few new scenes do not
list a deployment's 10,000 registered ones; more are checked against one such listing."""


def new_scene_keys(instance: DagsterInstance, keys: Iterable[str]) -> list[str]:
    """Validated keys not yet registered, in the given order, without duplicates."""
    wanted = list(dict.fromkeys(keys))
    for key in wanted:
        validate_scene_key(key)
    if len(wanted) <= FEW_KEYS:
        return [
            key for key in wanted if not instance.has_dynamic_partition(landsat_scenes.name, key)
        ]
    known = set(instance.get_dynamic_partitions(landsat_scenes.name))
    return [key for key in wanted if key not in known]


def register_scenes(instance: DagsterInstance, keys: Iterable[str]) -> list[str]:
    """Add the scenes' partitions to the instance; returns the keys that were new."""
    fresh = new_scene_keys(instance, keys)
    if fresh:
        instance.add_dynamic_partitions(landsat_scenes.name, fresh)
    return fresh
