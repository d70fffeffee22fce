"""How routine operations grow with the deployment (issue 15): a deployment of N scenes, each
recorded as processed like one of two demo scenes processed for real (support/scale.py),
in a real DAGSTER_HOME, and through the real CLI:

- no-op run: `landsat-assets run` when every scene is up to date;
- one new scene: one more item in the catalog, then `landsat-assets run`;
- per-scene batch cost: eight more items, then `landsat-assets run`, less the no-op run,
  per scene;
- summary refresh: the summary job alone;
- event log per scene: the bytes the last run of scenes wrote, per scene, split into what
  Dagster writes whatever the project does and what the project's metadata adds;
- sensor tick: a routine tick of the scene sensor (after a first one set its cursor) that
  finds one new scene, against a STAC API on 127.0.0.1 listing every scene of the
  deployment and honouring `datetime` as public APIs do;
- UI partition status: the `ndvi` partition status query through the real webserver, as
  the UI asks it (best of 3).

`python -m landsat_assets_tests.bench.growth [--sizes 100 1000 10000]` prints the table.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import DagsterEventType, DagsterInstance, RunsFilter, SensorResult
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
from landsat_assets_tests.bench.sensor_scale import (
    PARTITION_STATUS,
    STATUS_QUERY_TARGET_S,
    many_items,
)
from landsat_assets_tests.support.catalogs import COLLECTION, add_item
from landsat_assets_tests.support.deployment import (
    POSTGRES_INSTANCE,
    dagster_home,
    graphql,
    running_webserver,
)
from landsat_assets_tests.support.postgres import dagster_pg_url, postgres_cluster
from landsat_assets_tests.support.scale import record_as_processed
from landsat_assets_tests.support.stac_api import (
    SensorHarness,
    catalog_item_dicts,
    serving_stac_api,
)

SIZES = (100, 1_000, 10_000)
BATCH = 8
ROUNDS = 3
"""Each routine operation is timed this often per deployment and its median shown: single
runs of the same operation moved by a factor of 1.5-2 within an hour on the 2-core VM."""
NO_OP_TARGET_S = 15.0
"""At 10,000 scenes (issue 15, item 1)."""
ONE_NEW_GROWTH_TARGET = 1.5
"""Adding one scene to the largest deployment against adding it to the smallest."""
PER_SCENE_GROWTH_TARGET = 1.2
SUMMARY_TARGET_S = 10.0
EVENT_BYTES_TARGET = 20_000
TICK_PAGE_SIZE = 100


@dataclass(frozen=True)
class EventBytes:
    """Event log bytes of one main-job run of scenes, per scene it covered."""

    total: float
    metadata: float
    """The serialized metadata of its materializations and check results: the project's
    part (the rest is Dagster's envelope of each event, per partition and per run)."""


@dataclass(frozen=True)
class Growth:
    """The figures of one deployment size; the routine operations timed `ROUNDS` times each."""

    scenes: int
    no_op_rounds: tuple[float, ...]
    one_new_rounds: tuple[float, ...]
    batch_per_scene_rounds: tuple[float, ...]
    summary_s: float
    event_bytes: EventBytes
    tick_rounds: tuple[float, ...]
    status_s: float

    @property
    def no_op_s(self) -> float:
        return statistics.median(self.no_op_rounds)

    @property
    def one_new_s(self) -> float:
        return statistics.median(self.one_new_rounds)

    @property
    def batch_per_scene_s(self) -> float:
        return statistics.median(self.batch_per_scene_rounds)

    @property
    def tick_s(self) -> float:
        return statistics.median(self.tick_rounds)


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
    """Add a scene acquired after every other (`newer_item`) to the static catalog."""
    fresh = newer_item(_lookalike_items(templates, 1)[0], day)
    add_item(catalog, fresh["id"], fresh)


def newer_item(item: dict[str, Any], day: int) -> dict[str, Any]:
    """A copy of a lookalike item acquired in the year 2100 + `day`: after every scene of the
    deployment, the templates' included, and each `day` a scene of its own."""
    fresh = json.loads(
        json.dumps(item).replace(item["id"], item["id"].replace("1990", str(2100 + day)))
    )
    fresh["properties"]["datetime"] = fresh["properties"]["datetime"].replace(
        "1990", str(2100 + day)
    )
    return fresh


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
    if profiles:
        profiles.mkdir(parents=True, exist_ok=True)
        timed_cli_run(env, profiles / f"no-op-{scenes}.prof")
    no_op, one_new, batch_per_scene = zip(
        *(_routine_round(env, catalog, templates, r) for r in range(ROUNDS)), strict=True
    )
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
        tick = routine_tick_seconds(
            instance,
            settings,
            template_catalog,
            scenes,
            profile=profiles / f"tick-{scenes}.prof" if profiles else None,
        )
    status = partition_status_seconds(env, folder)
    return Growth(scenes, no_op, one_new, batch_per_scene, summary, event_bytes, tick, status)


def _routine_round(
    env: dict[str, str], catalog: Path, templates: list[dict[str, Any]], number: int
) -> tuple[float, float, float]:
    """Round `number` of the routine runs on an up-to-date deployment: (no-op run, one new
    scene, per-scene cost of a batch of BATCH new scenes less the no-op run). Each round's
    scenes are acquired on days of their own, after every earlier round's."""
    first_day = number * (BATCH + 1)
    no_op = timed_cli_run(env)
    one_more(catalog, templates, first_day)
    one_new = timed_cli_run(env)
    for day in range(first_day + 1, first_day + BATCH + 1):
        one_more(catalog, templates, day)
    batch = timed_cli_run(env)
    return no_op, one_new, (batch - no_op) / BATCH


def event_bytes_per_scene(instance: DagsterInstance) -> EventBytes:
    """What the latest run of the scene job wrote to the event log, per scene it covered."""
    (run,) = instance.get_runs(filters=RunsFilter(job_name=scene_job.name), limit=1)
    first = run.tags[ASSET_PARTITION_RANGE_START_TAG]
    last = run.tags[ASSET_PARTITION_RANGE_END_TAG]
    keys = instance.get_dynamic_partitions(landsat_scenes.name)
    covered = keys.index(last) - keys.index(first) + 1
    entries = instance.all_logs(run.run_id)
    written = sum(len(serialize_value(entry)) for entry in entries)
    metadata = sum(
        len(serialize_value(value)) for entry in entries for value in _metadata_of(entry).values()
    )
    return EventBytes(written / covered, metadata / covered)


def _metadata_of(entry: Any) -> dict[str, Any]:
    event = entry.dagster_event
    if event is None:
        return {}
    if event.is_step_materialization:
        return dict(event.step_materialization_data.materialization.metadata)
    if event.event_type is DagsterEventType.ASSET_CHECK_EVALUATION:
        return dict(event.event_specific_data.metadata)
    return {}


def routine_tick_seconds(
    instance: DagsterInstance,
    settings: dict[str, str],
    templates_catalog: Path,
    scenes: int,
    profile: Path | None = None,
) -> tuple[float, ...]:
    """`ROUNDS` sensor ticks, each finding one new scene in a STAC API listing the
    deployment's scenes (the items `catalog_of` made) and the new ones, after a first tick
    set the cursor; and one more, untimed, under cProfile into `profile` when given."""
    templates = catalog_item_dicts(templates_catalog)
    listed = [*templates, *many_items(templates, scenes - 2)]
    after_the_runs = ROUNDS * (BATCH + 1)  # the days `_routine_round` used
    timings = []
    with serving_stac_api(listed) as api:
        api.page_size = TICK_PAGE_SIZE
        api.honours_datetime = True
        sensor = SensorHarness(
            build_definitions({**settings, "LANDSAT_STAC_URL": api.url}), instance
        )
        sensor.tick()
        for day in range(after_the_runs, after_the_runs + ROUNDS + (profile is not None)):
            api.items.append(newer_item(many_items(templates, 1)[0], day))
            profiler = cProfile.Profile() if len(timings) == ROUNDS else None
            started = time.perf_counter()
            result = sensor.tick() if profiler is None else profiler.runcall(sensor.tick)
            if profiler is None:
                timings.append(time.perf_counter() - started)
            else:
                profiler.dump_stats(profile)
            requested = len(result.run_requests or []) if isinstance(result, SensorResult) else 0
            assert requested == 1, f"the routine tick requested {requested} runs, not 1"
    return tuple(timings)


def partition_status_seconds(env: dict[str, str], folder: Path) -> float:
    """The best of three `ndvi` partition status queries through the webserver."""
    timings = []
    with running_webserver(env, log_path=folder / "webserver.log") as webserver:
        for _ in range(3):
            started = time.perf_counter()
            graphql(f"{webserver.url}/graphql", PARTITION_STATUS, {"path": ["ndvi"]})
            timings.append(time.perf_counter() - started)
    return min(timings)


def _template_catalog(folder: Path) -> Path:
    from landsat_assets.demo.catalog import build_demo_catalog

    return build_demo_catalog(folder, size=64, dates=1)


def report(rows: Sequence[Growth]) -> bool:
    print(
        "\ngrowth with the number of scenes in the deployment (64 px synthetic scenes; "
        f"routine operations: medians of {ROUNDS} rounds):"
    )
    print(
        "| scenes | no-op run | one new scene | per scene in a batch of 8 | summary refresh "
        "| sensor tick | UI partition status | event log per scene (of it metadata) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row.scenes:,} | {row.no_op_s:.1f} s | {row.one_new_s:.1f} s | "
            f"{row.batch_per_scene_s:.2f} s | {row.summary_s:.1f} s | {row.tick_s:.2f} s | "
            f"{row.status_s:.2f} s | {row.event_bytes.total / 1000:.1f} KB "
            f"({row.event_bytes.metadata / 1000:.1f} KB) |"
        )
    print(
        "\n| scenes | no-op run, each round | one new scene | per scene in a batch | sensor tick |"
    )
    print("|---:|---|---|---|---|")
    for row in rows:
        print(
            f"| {row.scenes:,} | {_seconds(row.no_op_rounds, 1)} | "
            f"{_seconds(row.one_new_rounds, 1)} | {_seconds(row.batch_per_scene_rounds, 2)} | "
            f"{_seconds(row.tick_rounds, 2)} |"
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
        (
            f"sensor tick, {large.scenes:,} / {small.scenes:,}",
            f"{large.tick_s / small.tick_s:.2f}x",
            f"<= {ONE_NEW_GROWTH_TARGET}x",
            large.tick_s <= ONE_NEW_GROWTH_TARGET * small.tick_s,
        ),
        (
            f"UI partition status at {large.scenes:,}",
            f"{large.status_s:.2f} s",
            f"< {STATUS_QUERY_TARGET_S:g} s",
            large.status_s < STATUS_QUERY_TARGET_S,
        ),
        (
            "event log per scene",
            f"{large.event_bytes.total / 1000:.1f} KB",
            f"< {EVENT_BYTES_TARGET / 1000:g} KB",
            large.event_bytes.total < EVENT_BYTES_TARGET,
        ),
    ]
    print("\n| figure | measured | target | verdict |\n|---|---:|---:|---|")
    for name, measured, target, holds in checks:
        print(f"| {name} | {measured} | {target} | {verdict(holds)} |")
    return True


def _seconds(rounds: Sequence[float], digits: int) -> str:
    return ", ".join(f"{r:.{digits}f}" for r in rounds) + " s"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--instance", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--profiles",
        type=Path,
        help="also profile each no-op run and a sensor tick into this folder (cProfile)",
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
