"""Registering scenes as partitions: new keys are found without listing every registered
partition when there are few of them (a sensor tick in a deployment of thousands)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import DagsterInstance, instance_for_test

from landsat_assets.errors import SceneKeyError
from landsat_assets.partitions import FEW_KEYS, landsat_scenes, new_scene_keys, register_scenes

REGISTERED = [
    f"LC08_L2SP_033032_2023{month:02d}{day:02d}_02_T1" for month in (1, 2) for day in range(1, 29)
]


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as instance:
        register_scenes(instance, REGISTERED)
        yield instance


def test_new_keys_in_order_without_duplicates(instance: DagsterInstance) -> None:
    new = ["LC09_L2SP_034032_20230301_02_T1", "LC09_L2SP_034032_20230302_02_T1"]
    asked = [new[1], REGISTERED[0], new[0], new[1]]
    assert new_scene_keys(instance, asked) == [new[1], new[0]]
    many = [f"LC09_L2SP_034032_2024{d // 28 + 1:02d}{d % 28 + 1:02d}_02_T1" for d in range(150)]
    assert len(many) > FEW_KEYS
    assert new_scene_keys(instance, [*REGISTERED, *many]) == many


def test_a_few_keys_do_not_list_every_registered_partition(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    def listing(name: str) -> list[str]:
        raise AssertionError(f"listed every partition of {name} for a few keys")

    monkeypatch.setattr(instance, "get_dynamic_partitions", listing)
    assert new_scene_keys(instance, [REGISTERED[3], "LC09_L2SP_034032_20230301_02_T1"]) == [
        "LC09_L2SP_034032_20230301_02_T1"
    ]


def test_an_invalid_key_is_refused_before_any_lookup(instance: DagsterInstance) -> None:
    with pytest.raises(SceneKeyError):
        new_scene_keys(instance, ["../escape"])
    assert len(instance.get_dynamic_partitions(landsat_scenes.name)) == len(REGISTERED)
