"""How routine operations grow with the deployment (issue 15): a deployment of N scenes, each
recorded as processed like one of two demo scenes processed for real (support/scale.py),
in a real DAGSTER_HOME, and through the real CLI:

- no-op run: `landsat-assets run` when every scene is up to date;
- one new scene: one more item in the catalog, then `landsat-assets run`;
- per-scene batch cost: eight more items, then `landsat-assets run`, less the no-op run,
  per scene;
- summary refresh: the summary job alone.

`python -m landsat_assets_tests.bench.growth [--sizes 100 1000 10000]` prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, RunsFilter
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster._serdes import serialize_value

from landsat_assets.definitions import build_definitions
from landsat_assets.jobs import scene_job, summary_job
from landsat_assets.partitions import landsat_scenes
from landsat_assets.runner import QUIET_CONSOLE, run_pipeline
from landsat_assets_tests.bench import verdict
from landsat_assets_tests.bench.sensor_scale import many_items
from landsat_assets_tests.support.catalogs import COLLECTION, add_item
from landsat_assets_tests.support.deployment import POSTGRES_INSTANCE, dagster_home
from landsat_assets_tests.support.postgres import dagster_pg_url, postgres_cluster
from landsat_assets_tests.support.scale import record_as_processed

SIZES = (100, 1_000, 10_000)
BATCH = 8
NO_OP_TARGET_S = 15.0
"""At 10,000 scenes (issue 15, item 1)."""
ONE_NEW_GROWTH_TARGET = 1.5
"""Adding one scene to the largest deployment against adding it to the smallest."""
PER_SCENE_GROWTH_TARGET = 1.2
SUMMARY_TARGET_S = 10.0
EVENT_BYTES_TARGET = 20_000


@dataclass(frozen=True)
class Growth:
    scenes: int
    no_op_s: float
    one_new_s: float
    batch_per_scene_s: float
    summary_s: float
    event_bytes_per_scene: float
    """Event log bytes of the last main-job run of scenes, per scene it covered."""


def catalog_of(templates_catalog: Path, folder: Path, count: int) -> tuple[Path, list[dict]]:
    """A copy of the two-scene template catalog with `count` more items, each naming the band
    files of the template of its path/row (so any of them can be processed for real)."""
    catalog = folder / "catalog.json"
    shutil.copytree(templates_catalog.parent, folder)
    items = _template_items(catalog)
    extra = _lookalike_items(items, count)
    collection_json = catalog.parent / COLLECTION / "collection.json"
    collection = json.loads(collection_json.read_text())
    for item in extra:
        path = collection_json.parent / item["id"] / f"{item['id']}.json"
        path.parent.mkdir()
        path.write_text(json.dumps(item))
        collection["links"].append(
            {"rel": "item", "href": f"./{item['id']}/{item['id']}.json", "type": "application/json"}
        )
    collection_json.write_text(json.dumps(collection))
    return catalog, items


def _template_items(catalog: Path) -> list[dict[str, Any]]:
    return [
        json.loads(path.read_text())
        for path in sorted((catalog.parent / COLLECTION).glob("*/*.json"))
        if path.name != "collection.json"
    ]


def _lookalike_items(templates: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """Items from `many_items` whose band hrefs point at their template's files."""
    by_path = {t["properties"]["landsat:wrs_path"]: t for t in templates}
    items = many_items(templates, count)
    for item in items:
        template = by_path[item["properties"]["landsat:wrs_path"]]
        for name, asset in item["assets"].items():
            original = template["assets"][name]["href"]
            if not original.startswith(("http", "s3")):
                asset["href"] = f"../{template['id']}/{Path(original).name}"
    return items


def one_more(catalog: Path, templates: list[dict[str, Any]], day: int) -> None:
    """Add a scene `day` days after the latest lookalike."""
    (item,) = _lookalike_items(templates, 1)
    fresh = json.loads(
        json.dumps(item).replace(item["id"], item["id"].replace("1990", str(2100 + day)))
    )
    fresh["properties"]["datetime"] = fresh["properties"]["datetime"].replace(
        "1990", str(2100 + day)
    )
    add_item(catalog, fresh["id"], fresh)


def timed_cli_run(env: dict[str, str], profile: Path | None = None) -> float:
    """Seconds `landsat-assets run` takes; under cProfile, writing `profile`, when given."""
    profiling = [sys.executable, "-m", "cProfile", "-o", str(profile)] if profile else []
    started = time.perf_counter()
    subprocess.run(
        [*profiling, str(Path(sys.executable).parent / "landsat-assets"), "run"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def measure(folder: Path, scenes: int, instance: str, profiles: Path | None = None) -> Growth:
    """The figures of a deployment of `scenes` scenes on a "sqlite" instance (the default
    dagster.yaml) or a "postgres" one (deploy/dagster.postgres.yaml, a cluster of its own)."""
    if instance == "postgres":
        with postgres_cluster(folder) as url:
            os.environ["DAGSTER_PG_URL"] = dagster_pg_url(url)
            home = dagster_home(folder / "home", POSTGRES_INSTANCE)
            return _measure(home, folder, scenes, profiles)
    return _measure(dagster_home(folder / "home"), folder, scenes, profiles)


def _measure(home: Path, folder: Path, scenes: int, profiles: Path | None) -> Growth:
    template_catalog = _template_catalog(folder / "templates")
    catalog, templates = catalog_of(template_catalog, folder / "catalog", scenes - 2)
    settings = {"LANDSAT_STAC_URL": str(catalog), "LANDSAT_STORAGE": str(folder / "storage")}
    env = {**os.environ, **settings, "DAGSTER_HOME": str(home)}
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        first = build_definitions({**settings, "LANDSAT_STAC_URL": str(template_catalog)})
        done = run_pipeline(instance, first, scenes_per_run=BATCH, echo=lambda _line: None)
        assert done.ok, done.failures
        defs = build_definitions(settings)
        records = defs.resources["catalog"].search()
        by_path = {r.wrs_path: r for r in done.found}
        for path, template in by_path.items():
            lookalikes = [
                r for r in records if r.wrs_path == path and r.scene_key != template.scene_key
            ]
            record_as_processed(instance, defs, template, lookalikes)
        run_pipeline(instance, defs, scenes_per_run=BATCH, echo=lambda _line: None)
    no_op = timed_cli_run(env)
    if profiles:
        profiles.mkdir(parents=True, exist_ok=True)
        timed_cli_run(env, profiles / f"no-op-{scenes}.prof")
    one_more(catalog, templates, 0)
    one_new = timed_cli_run(env)
    for day in range(1, BATCH + 1):
        one_more(catalog, templates, day)
    batch = timed_cli_run(env)
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        started = time.perf_counter()
        result = (
            build_definitions(settings)
            .resolve_job_def(summary_job.name)
            .execute_in_process(instance=instance, run_config=QUIET_CONSOLE)
        )
        summary = time.perf_counter() - started
        assert result.success
        event_bytes = event_bytes_per_scene(instance)
    return Growth(scenes, no_op, one_new, (batch - no_op) / BATCH, summary, event_bytes)


def event_bytes_per_scene(instance: DagsterInstance) -> float:
    """Bytes the latest run of the scene job wrote to the event log, per scene it covered."""
    (run,) = instance.get_runs(filters=RunsFilter(job_name=scene_job.name), limit=1)
    first = run.tags[ASSET_PARTITION_RANGE_START_TAG]
    last = run.tags[ASSET_PARTITION_RANGE_END_TAG]
    keys = instance.get_dynamic_partitions(landsat_scenes.name)
    covered = keys.index(last) - keys.index(first) + 1
    written = sum(len(serialize_value(entry)) for entry in instance.all_logs(run.run_id))
    return written / covered


def _template_catalog(folder: Path) -> Path:
    from landsat_assets.demo.catalog import build_demo_catalog

    return build_demo_catalog(folder, size=64, dates=1)


def report(rows: Sequence[Growth]) -> bool:
    print("\ngrowth with the number of scenes in the deployment (64 px synthetic scenes):")
    print(
        "| scenes | no-op run | one new scene | per scene in a batch of 8 | summary refresh "
        "| event log per scene |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row.scenes:,} | {row.no_op_s:.1f} s | {row.one_new_s:.1f} s | "
            f"{row.batch_per_scene_s:.2f} s | {row.summary_s:.1f} s | "
            f"{row.event_bytes_per_scene / 1000:.1f} KB |"
        )
    small, large = rows[0], rows[-1]
    checks = [
        (
            f"no-op run at {large.scenes:,}",
            f"{large.no_op_s:.1f} s",
            f"< {NO_OP_TARGET_S:g} s",
            large.no_op_s < NO_OP_TARGET_S,
        ),
        (
            f"one new scene, {large.scenes:,} / {small.scenes:,}",
            f"{large.one_new_s / small.one_new_s:.2f}x",
            f"<= {ONE_NEW_GROWTH_TARGET}x",
            large.one_new_s <= ONE_NEW_GROWTH_TARGET * small.one_new_s,
        ),
        (
            f"per-scene batch cost, {large.scenes:,} / {small.scenes:,}",
            f"{large.batch_per_scene_s / small.batch_per_scene_s:.2f}x",
            f"<= {PER_SCENE_GROWTH_TARGET}x",
            large.batch_per_scene_s <= PER_SCENE_GROWTH_TARGET * small.batch_per_scene_s,
        ),
        (
            f"summary refresh at {large.scenes:,}",
            f"{large.summary_s:.1f} s",
            f"< {SUMMARY_TARGET_S:g} s",
            large.summary_s < SUMMARY_TARGET_S,
        ),
    ]
    print("\n| figure | measured | target | verdict |\n|---|---:|---:|---|")
    for name, measured, target, holds in checks:
        print(f"| {name} | {measured} | {target} | {verdict(holds)} |")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--instance", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--profiles", type=Path, help="also profile each no-op run into this folder (cProfile)"
    )
    args = parser.parse_args(argv)
    print(f"instance: {args.instance}")
    rows = []
    for scenes in args.sizes:
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            rows.append(measure(Path(scratch), scenes, args.instance, args.profiles))
            print(
                f"  {scenes:,} scenes measured in {time.perf_counter() - started:.0f} s", flush=True
            )
    report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
