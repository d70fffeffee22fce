"""The step-shape bench compares like with like: every shape materializes every product of
every scene once, with the same metadata, and only the steps differ."""

from pathlib import Path

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance
from dagster._core.instance.ref import InstanceRef

from landsat_assets_tests.bench.step_shapes import (
    PRODUCTS,
    SHAPES,
    _run_scenes,
    scenes,
)
from landsat_assets_tests.support.deployment import dagster_home


def test_every_shape_materializes_every_product_of_every_scene_once(tmp_path: Path) -> None:
    keys = [f"scene-{n}" for n in range(3)]
    events = {}
    for number, shape in enumerate(SHAPES):
        home = dagster_home(tmp_path / str(number))
        with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            instance.add_dynamic_partitions(scenes.name, keys)
            _seconds, events[shape], _bytes = _run_scenes(shape, instance, keys)
            for product in PRODUCTS:
                records = instance.fetch_materializations(
                    AssetRecordsFilter(asset_key=AssetKey(product)), limit=100
                ).records
                assert sorted(r.partition_key for r in records) == sorted(keys), (shape, product)
                with_metadata = [r for r in records if r.asset_materialization.metadata]
                assert len(with_metadata) == (0 if "no metadata" in shape.name else len(keys))
    per_product, one_step, *_ = SHAPES
    assert events[one_step] < events[per_product]
