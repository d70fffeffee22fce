"""Orchestration shape (issue 15): what Dagster itself costs per scene when a scene's
products are five assets, one step each (as the platform ships them), against one
multi-asset step that materializes all five.

The asset bodies do no work: each attaches per-scene metadata of the size the platform's
assets attach and hands over one small value per scene, so what is timed is Dagster's part
alone: run creation, planned and materialization events, step events, input loads and the
partition-range checks of `add_asset_metadata`. Both shapes run the same scenes in runs of
`SCENES_PER_RUN` adjacent partitions, in process, on a fresh SQLite instance (the
repository's dagster.yaml), with and without 10,000 other scenes registered.
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    DagsterInstance,
    Definitions,
    DynamicPartitionsDefinition,
    InputContext,
    IOManager,
    MetadataValue,
    Output,
    OutputContext,
    asset,
    define_asset_job,
    in_process_executor,
    io_manager,
    multi_asset,
)
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster._serdes import serialize_value

from landsat_assets.runner import QUIET_CONSOLE
from landsat_assets_tests.support.deployment import dagster_home

PRODUCTS = ("landsat_scene", "scene_bands", "cloud_mask", "ndvi", "scene_ndvi_stats")
"""The per-scene products, in the order each is made from the one before."""
SCENES = 20
"""Scenes per measurement: two runs of `SCENES_PER_RUN`."""
SCENES_PER_RUN = 10

scenes = DynamicPartitionsDefinition(name="shape_scenes")


def scene_metadata(key: str, product: str) -> dict[str, Any]:
    """About the metadata one of the platform's products attaches per scene (a scene line,
    a few rounded figures, a storage link, a size), without the preview images."""
    return {
        "scene": f"2024-06-01 10:30 UTC, landsat-9, path/row 044/034, scene cloud cover 12.3 %, "
        f"USGS processing 2024-06-11 ({key})",
        "aoi_clear_fraction": MetadataValue.float(0.8123),
        "valid_pixels": MetadataValue.int(4096),
        "ndvi_mean": MetadataValue.float(0.4321),
        "storage": MetadataValue.path(f"/data/landsat/{product}/{key}.tif"),
        "bytes": MetadataValue.int(123_456),
    }


class _InMemory(IOManager):
    """Values kept in the process, per asset and scene: no storage cost in either shape."""

    def __init__(self) -> None:
        self.values: dict[tuple[AssetKey, str], str] = {}

    def handle_output(self, context: OutputContext, obj: dict[str, str]) -> None:
        for key, value in obj.items():
            self.values[(context.asset_key, key)] = value

    def load_input(self, context: InputContext) -> dict[str, str]:
        return {k: self.values[(context.asset_key, k)] for k in context.asset_partition_keys}


def _product_asset(product: str, upstream: str | None) -> AssetsDefinition:
    def made(context: AssetExecutionContext) -> dict[str, str]:
        for key in context.partition_keys:
            context.add_asset_metadata(scene_metadata(key, product), partition_key=key)
        return {key: f"{product}:{key}" for key in context.partition_keys}

    if upstream is None:
        return asset(name=product, partitions_def=scenes)(made)

    def made_from(context: AssetExecutionContext, upstream: dict[str, str]) -> dict[str, str]:
        return made(context)

    return asset(
        name=product, partitions_def=scenes, ins={"upstream": AssetIn(key=AssetKey(upstream))}
    )(made_from)


def per_product_assets() -> list[AssetsDefinition]:
    """The shipped shape: one asset (one step) per product, each loading the one before."""
    return [
        _product_asset(product, PRODUCTS[i - 1] if i else None)
        for i, product in enumerate(PRODUCTS)
    ]


def one_step_assets(*, with_metadata: bool = True) -> list[AssetsDefinition]:
    """The shape tried: one multi-asset step that materializes every product of its scenes,
    each product still its own asset (own partitions, metadata and lineage in the UI)."""
    specs = [
        AssetSpec(product, partitions_def=scenes, deps=[PRODUCTS[i - 1]] if i else [])
        for i, product in enumerate(PRODUCTS)
    ]

    @multi_asset(specs=specs, name="scene_products")
    def scene_products(context: AssetExecutionContext) -> Iterator[Output[None]]:
        for product in PRODUCTS:
            for key in context.partition_keys if with_metadata else ():
                context.add_asset_metadata(
                    scene_metadata(key, product), asset_key=AssetKey(product), partition_key=key
                )
            yield Output(None, output_name=product)

    return [scene_products]


@dataclass(frozen=True)
class Shape:
    name: str
    assets: Callable[[], list[AssetsDefinition]]
    scenes_per_run: int = SCENES_PER_RUN


SHAPES = (
    Shape("one step per product", per_product_assets),
    Shape("one multi-asset step", one_step_assets),
    Shape("one step, no metadata", lambda: one_step_assets(with_metadata=False)),
    Shape("one step per product", per_product_assets, scenes_per_run=1),
)
"""The shipped shape; the shape tried; the same step attaching no metadata (what is left is
Dagster's bookkeeping of each scene's planned and materialization events); the shipped shape
in runs of one scene, whose partition ranges Dagster need not resolve."""


@dataclass(frozen=True)
class ShapeTiming:
    shape: Shape
    registered: int
    seconds_per_scene: float
    rounds: tuple[float, ...]
    events_per_scene: float
    bytes_per_scene: float


def _run_scenes(
    shape: Shape, instance: DagsterInstance, keys: Sequence[str]
) -> tuple[float, int, int]:
    """Materialize `keys` as `shape` makes them; (seconds, events, event bytes)."""
    job = Definitions(
        assets=shape.assets(),
        jobs=[define_asset_job("scene_products_job", selection="*")],
        resources={"io_manager": io_manager(lambda _: _InMemory())},
        executor=in_process_executor,
    ).resolve_job_def("scene_products_job")
    started = time.perf_counter()
    run_ids = []
    for first in range(0, len(keys), shape.scenes_per_run):
        batch = keys[first : first + shape.scenes_per_run]
        # One scene is a run of one partition; more are a range, as the main job runs them.
        partition = (
            {"partition_key": batch[0]}
            if len(batch) == 1
            else {
                "tags": {
                    ASSET_PARTITION_RANGE_START_TAG: batch[0],
                    ASSET_PARTITION_RANGE_END_TAG: batch[-1],
                }
            }
        )
        result = job.execute_in_process(instance=instance, run_config=QUIET_CONSOLE, **partition)
        run_ids.append(result.run_id)
    seconds = time.perf_counter() - started
    entries = [entry for run_id in run_ids for entry in instance.all_logs(run_id)]
    return seconds, len(entries), sum(len(serialize_value(e)) for e in entries)


def measure_shapes(
    folder: Path,
    *,
    registered: Sequence[int] = (0, 10_000),
    repeat: int = 3,
    scene_count: int = SCENES,
) -> list[ShapeTiming]:
    """Each shape with `registered` other scenes in the instance, rounds alternating."""
    timings = []
    for others in registered:
        per_shape: dict[Shape, list[tuple[float, int, int]]] = {shape: [] for shape in SHAPES}
        for round_number in range(repeat):
            for number, shape in enumerate(SHAPES):
                home = dagster_home(folder / f"{others}-{round_number}-{number}")
                with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
                    instance.add_dynamic_partitions(
                        scenes.name, [f"other-{n:05d}" for n in range(others)]
                    )
                    keys = [f"scene-{n:03d}" for n in range(scene_count)]
                    instance.add_dynamic_partitions(scenes.name, keys)
                    per_shape[shape].append(_run_scenes(shape, instance, keys))
        for shape, runs in per_shape.items():
            rounds = tuple(seconds / scene_count for seconds, _e, _b in runs)
            timings.append(
                ShapeTiming(
                    shape,
                    others,
                    statistics.median(rounds),
                    rounds,
                    statistics.median(events for _s, events, _b in runs) / scene_count,
                    statistics.median(size for _s, _e, size in runs) / scene_count,
                )
            )
    return timings


def report_shapes(timings: Sequence[ShapeTiming], scene_count: int = SCENES) -> None:
    print(
        f"\nOrchestration shape: Dagster's own cost per scene, {scene_count} scenes, asset bodies "
        "doing no work (medians; every round in brackets)"
    )
    print(
        f"  {'shape':<24} {'run':>4} {'other scenes':>12} {'per scene':>10} {'events':>7} "
        f"{'event KB':>9}  rounds"
    )
    for t in timings:
        rounds = ", ".join(f"{r * 1000:.0f}" for r in t.rounds)
        print(
            f"  {t.shape.name:<24} {t.shape.scenes_per_run:>4} {t.registered:>12,} {t.seconds_per_scene * 1000:>8.0f} ms "
            f"{t.events_per_scene:>7.1f} {t.bytes_per_scene / 1024:>9.1f}  ({rounds} ms)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds per shape (median shown)")
    parser.add_argument(
        "--registered",
        type=int,
        nargs="+",
        default=[0, 10_000],
        help="other scenes registered in the instance, one measurement each",
    )
    parser.add_argument("--scenes", type=int, default=SCENES, help="scenes per measurement")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        timings = measure_shapes(
            Path(scratch), registered=args.registered, repeat=args.repeat, scene_count=args.scenes
        )
    report_shapes(timings, args.scenes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
