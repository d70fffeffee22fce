"""The facts of products' latest materializations: many keys are read through the memo of
the event log (by partition, or by asset past `LOOKUP_BATCH`), a few straight from their
events (a sensor tick does not read every scene's
facts to learn about one)."""

from pathlib import Path

import pytest
from dagster import AssetMaterialization, DagsterInstance

from landsat_assets.assets.scenes import VERSION_METADATA, landsat_scene
from landsat_assets.materializations import FEW_KEYS, LOOKUP_BATCH, latest_product_facts


def record_versions(instance: DagsterInstance, versions: dict[str, str]) -> None:
    for key, version in versions.items():
        instance.report_runless_asset_event(
            AssetMaterialization(
                landsat_scene.key, partition=key, metadata={VERSION_METADATA: version}
            )
        )


def memo_files(instance: DagsterInstance) -> list[Path]:
    return sorted(Path(instance.root_directory).rglob("provenance/*.json"))


def test_a_few_keys_are_read_from_their_events_without_the_memo(tmp_path: Path) -> None:
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        record_versions(instance, {"a": "1", "b": "1", "c": "1"})
        record_versions(instance, {"b": "2"})
        facts = latest_product_facts(instance, landsat_scene.key, ["b", "missing"])
        assert list(facts) == ["b"] and facts["b"].metadata[VERSION_METADATA] == "2"
        assert memo_files(instance) == []


def test_no_keys_read_no_events(tmp_path: Path) -> None:
    """A summary refresh with no changed scene asks about no keys; the instance, given no
    partitions, would answer for every one (a no-change refresh at 10,000 scenes once
    deserialized all 50,000 events of the five scene assets: 33 s)."""
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        record_versions(instance, {"a": "1", "b": "1"})
        assert latest_product_facts(instance, landsat_scene.key, []) == {}


@pytest.mark.parametrize("asked", [FEW_KEYS + 1, LOOKUP_BATCH + 1])
def test_more_keys_are_read_once_and_kept_in_the_memo(tmp_path: Path, asked: int) -> None:
    many = [f"k{n}" for n in range(asked - 2)]
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        record_versions(instance, {"a": "1", "b": "1"})
        record_versions(instance, {"b": "2"})
        facts = latest_product_facts(instance, landsat_scene.key, ["a", "b", *many])
        assert {k: f.metadata[VERSION_METADATA] for k, f in facts.items()} == {"a": "1", "b": "2"}
        assert len(memo_files(instance)) == 1
        few = latest_product_facts(instance, landsat_scene.key, ["a", "b"])
        assert few == facts
