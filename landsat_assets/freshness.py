"""The one rule for "up to date", and the reasons a scene is not.

A scene's products are up to date when the instance records a materialization of each, made
from the scene version the catalog has now, with the code and settings of today, from the
data versions its inputs have now, and every product it recorded writing is where the current
storage keeps it, with the size written for the rasters the assets stage themselves. Storage
is the truth: a product deleted from storage, a raster truncated or replaced by another file,
or a storage switched to another place, makes the scene stale whatever the instance says.

The code and input checks are Dagster's own staleness rule, the one the UI shows
(provenance.py puts the settings in code versions), applied to records read in bulk: the
latest materialization of each scene asset for every scene at once, a few queries per
thousand scenes, where Dagster's resolver makes several queries per partition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dagster import AssetKey, DagsterInstance, Definitions, EventLogRecord
from dagster._core.definitions.data_version import (
    extract_data_version_from_entry,
)

from landsat_assets.assets.common import SIZE_METADATA, STORAGE_METADATA
from landsat_assets.assets.scenes import VERSION_METADATA
from landsat_assets.io_managers.products import ProductIOManager
from landsat_assets.jobs import scene_job_keys
from landsat_assets.materializations import ProductFacts, latest_product_facts
from landsat_assets.provenance import changed_settings
from landsat_assets.stac.scene import SceneRecord
from landsat_assets.stores import ProductStore

NEW_SCENE = "new scene"
REPROCESSED = "reprocessed by USGS"
INCOMPLETE = "products missing from the instance"
MOVED = "LANDSAT_STORAGE changed"
MISSING = "products missing from storage"
CHANGED = "products changed in storage"
UPSTREAM = "upstream products changed"
FORCED = "asked for (--force)"


@dataclass(frozen=True)
class Freshness:
    stale: dict[str, list[str]]
    """Scene key -> why it must be recomputed, for every scene that is not up to date."""

    def with_forced(self, scenes: Sequence[str]) -> Freshness:
        """These freshness findings, plus `scenes` recomputed on purpose."""
        stale = {key: list(reasons) for key, reasons in self.stale.items()}
        for key in scenes:
            stale.setdefault(key, []).append(FORCED)
        return Freshness(stale)

    def reasons(self) -> Counter[str]:
        """How many scenes each reason applies to."""
        return Counter(reason for reasons in self.stale.values() for reason in reasons)


def scene_freshness(
    instance: DagsterInstance, defs: Definitions, records: Sequence[SceneRecord]
) -> Freshness:
    """Which of `records` are not up to date, and why (see the module's rule)."""
    keys = [r.scene_key for r in records]
    graph = defs.resolve_asset_graph()
    store = defs.resources["storage"].store()
    asset_keys = [key for key in scene_job_keys() if graph.has(key)]
    latest = {key: latest_product_facts(instance, key, keys) for key in asset_keys}
    managers = {key: type(defs.resources[graph.get(key).io_manager_key]) for key in asset_keys}
    inputs = {key: sorted(graph.get(key).parent_keys) for key in asset_keys}
    code_versions = {key: graph.get(key).code_version or "" for key in asset_keys}
    present = {key: store.sizes_under(managers[key].folder_for(key)) for key in asset_keys}
    stale: dict[str, list[str]] = {}
    for record in records:
        scene = record.scene_key
        scene_record = latest[asset_keys[0]].get(scene)
        if scene_record is None:
            stale[scene] = [NEW_SCENE]
            continue
        reasons: list[str] = []
        if scene_record.metadata.get(VERSION_METADATA) != record.version:
            reasons.append(REPROCESSED)
        for asset_key in asset_keys:
            facts = latest[asset_key].get(scene)
            if facts is None:
                reasons.append(INCOMPLETE)
                continue
            reasons.extend(
                f"{name} changed"
                for name in changed_settings(facts.code_version, code_versions[asset_key])
            )
            reasons.extend(
                _storage_problems(
                    facts, store, present[asset_key], managers[asset_key], asset_key, scene
                )
            )
        if not reasons and any(
            _input_changed(instance, latest[asset_key][scene], latest, inputs[asset_key], scene)
            for asset_key in asset_keys
        ):
            reasons.append(UPSTREAM)
        if reasons:
            stale[scene] = list(dict.fromkeys(reasons))
    return Freshness(stale)


def _input_changed(
    instance: DagsterInstance,
    made: ProductFacts,
    latest: dict[AssetKey, dict[str, ProductFacts]],
    inputs: Sequence[AssetKey],
    scene: str,
) -> bool:
    """Whether an input of the product `made` (the same scene's partition of each asset in
    `inputs`) has a new data version since the product was made: Dagster's rule. `made`
    records, per input, the last event it could have read; an input materialized again
    after that changed only if its data version differs from the one before, which takes
    one query for that input alone (rare: a no-op run makes none)."""
    for input_key in inputs:
        pointer = made.input_pointers.get(input_key.to_user_string(), "")
        upstream = latest[input_key].get(scene)
        if upstream is None or not pointer.isdigit():
            return True
        if upstream.storage_id <= int(pointer):
            continue
        consumed = instance.get_latest_data_version_record(
            input_key, False, scene, before_cursor=int(pointer) + 1
        )
        if consumed is None or _data_version(consumed) != upstream.data_version:
            return True
    return False


def _data_version(record: EventLogRecord) -> str | None:
    version = extract_data_version_from_entry(record.event_log_entry)
    return None if version is None else version.value


def _storage_problems(
    facts: ProductFacts,
    store: ProductStore,
    present: Mapping[str, int],
    manager: type[ProductIOManager],
    asset_key: AssetKey,
    scene: str,
) -> list[str]:
    """MOVED when the product was written somewhere the current storage is not, MISSING when
    it was written here but is gone, CHANGED when it is there with another size than the one
    written (a truncated or replaced file); nothing when no product was written (a filtered
    scene's NDVI) or it is in place."""
    link = facts.metadata.get(STORAGE_METADATA)
    if link is None:
        return []
    key = manager.key_for(asset_key, scene)
    if link != store.uri(key):
        return [MOVED]
    if key not in present:
        return [MISSING]
    size = facts.metadata.get(SIZE_METADATA)
    return [CHANGED] if size is not None and int(size) != present[key] else []
