"""Sensor and UI scale (issue 6, part 5): one scene-sensor tick against a STAC API on
127.0.0.1 that returns 10,000 new items, and the partitions' status of 10,000 scenes asked
through the webserver's GraphQL API, as the UI asks it.

`make bench` prints both against their targets; `sensors/test_sensor_scale.py` checks what
they return. The tick runs in a process of its own (`python -m
landsat_assets_tests.bench.sensor_scale CATALOG_JSON STORAGE_DIR`) so that its peak memory
is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, SensorResult, instance_for_test
from dagster._core.instance.ref import InstanceRef

from landsat_assets.definitions import build_definitions
from landsat_assets.partitions import landsat_scenes
from landsat_assets.settings import Settings
from landsat_assets_tests.bench import verdict
from landsat_assets_tests.support.deployment import dagster_home, graphql, running_webserver
from landsat_assets_tests.support.paths import REPO_ROOT
from landsat_assets_tests.support.stac_api import (
    SensorHarness,
    catalog_item_dicts,
    serving_stac_api,
)

ITEMS = 10_000
PAGE_SIZE = 100
TICK_TARGET_S = 20.0
TICK_MEMORY_TARGET_MB = 100.0
STATUS_QUERY_TARGET_S = 2.0
"""What "the UI stays usable" is taken to mean: the partition status of an asset answers
in under 2 s."""

PARTITION_STATUS = """
query ($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      partitionStats { numPartitions numMaterialized numFailed numMaterializing }
      assetPartitionStatuses {
        ... on DefaultPartitionStatuses { materializedPartitions unmaterializedPartitions }
      }
    }
  }
}
"""


def many_items(templates: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """`count` distinct daily acquisitions alternating between the demo path/rows, made from
    real demo items (so every one normalizes like a catalog item)."""
    by_path = {item["properties"]["landsat:wrs_path"]: item for item in templates}
    paths = sorted(by_path)
    first = datetime(1990, 1, 1, 17, 30, tzinfo=UTC)
    items = []
    for number in range(count):
        path = paths[number % len(paths)]
        template = by_path[path]
        moment = first + timedelta(days=number // len(paths))
        scene_id = f"LC08_L2SP_{path}032_{moment:%Y%m%d}_02_T1"
        item = json.loads(json.dumps(template).replace(template["id"], scene_id))
        item["properties"]["datetime"] = moment.isoformat().replace("+00:00", "Z")
        item["properties"]["platform"] = "landsat-8"
        item["properties"]["landsat:product_generated"] = f"{moment + timedelta(days=9):%FT%TZ}"
        items.append(item)
    return items


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"{field} not in /proc/self/status")


def reset_peak_rss_mb() -> float:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS and return it, so that
    the peak read later belongs to what ran in between and not to the set-up before it."""
    Path("/proc/self/clear_refs").write_text("5")
    return status_mb("VmRSS")


@dataclass(frozen=True)
class TickMeasurement:
    seconds: float
    rss_growth_mb: float
    """How far the process's peak RSS rose above its RSS at the start of the tick."""
    run_requests: int
    pages_served: int
    cursor_bytes: int


def measure_tick(catalog_json: Path, storage: Path, items: int = ITEMS) -> TickMeasurement:
    """One first tick (`LANDSAT_SENSOR_FIRST_TICK=all`) over `items` new items, served
    `PAGE_SIZE` to a page, with partition requests applied as the daemon applies them."""
    templates = catalog_item_dicts(catalog_json)
    with serving_stac_api(many_items(templates, items)) as api, instance_for_test() as instance:
        api.page_size = PAGE_SIZE
        settings = {
            "LANDSAT_STAC_URL": api.url,
            "LANDSAT_STORAGE": str(storage),
            "LANDSAT_SENSOR_FIRST_TICK": "all",
        }
        sensor = SensorHarness(build_definitions(settings), instance)
        rss_before = reset_peak_rss_mb()
        started = time.perf_counter()
        result = sensor.tick()
        seconds = time.perf_counter() - started
        grown = status_mb("VmHWM") - rss_before
        requests = len(result.run_requests or []) if isinstance(result, SensorResult) else 0
        return TickMeasurement(
            seconds, grown, requests, len(api.pages_served), len(sensor.cursor or "")
        )


@dataclass(frozen=True)
class StatusMeasurement:
    seconds: list[float]
    num_partitions: int
    unmaterialized: int


def measure_partition_status(
    home: Path, log_dir: Path, partitions: int = ITEMS
) -> StatusMeasurement:
    """Register `partitions` scenes in a new instance at `home`, start the webserver on it and
    time the `ndvi` partition status query three times."""
    dagster_home(home)
    first = datetime(1990, 1, 1)
    keys = [f"LC08_L2SP_033032_{first + timedelta(days=n):%Y%m%d}_02_T1" for n in range(partitions)]
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        instance.add_dynamic_partitions(landsat_scenes.name, keys)
    env = {
        "DAGSTER_HOME": str(home),
        "LANDSAT_SENSOR_STATUS": "stopped",
        "LANDSAT_AUTOMATION_STATUS": "stopped",
    }
    timings = []
    with running_webserver(env, log_path=log_dir / "webserver.log") as webserver:
        for _ in range(3):
            started = time.perf_counter()
            answer = graphql(f"{webserver.url}/graphql", PARTITION_STATUS, {"path": ["ndvi"]})
            timings.append(time.perf_counter() - started)
    node = answer["assetNodeOrError"]
    return StatusMeasurement(
        timings,
        node["partitionStats"]["numPartitions"],
        len(node["assetPartitionStatuses"]["unmaterializedPartitions"]),
    )


def report_sensor_scale(tick: TickMeasurement, status: StatusMeasurement) -> bool:
    """Print the figures against their targets; True when the tick and the query returned
    what they should (the timings are reported, not enforced)."""
    print(f"\nsensor tick over {ITEMS:,} new items ({PAGE_SIZE} per page, 127.0.0.1):")
    print(
        f"  {tick.pages_served} pages, {tick.run_requests} run requests "
        f"(cap {Settings().sensor_max_runs_per_tick}), cursor {tick.cursor_bytes:,} bytes"
    )
    print(
        f"| tick wall time | {tick.seconds:.1f} s | < {TICK_TARGET_S:g} s | "
        f"{verdict(tick.seconds < TICK_TARGET_S)} |"
    )
    print(
        f"| tick peak RSS growth | {tick.rss_growth_mb:.0f} MB | < {TICK_MEMORY_TARGET_MB:g} MB | "
        f"{verdict(tick.rss_growth_mb < TICK_MEMORY_TARGET_MB)} |"
    )
    best = min(status.seconds)
    print(
        f"\npartition status of {status.num_partitions:,} partitions through GraphQL "
        f"(`ndvi`, 3 queries: {', '.join(f'{s:.2f}' for s in status.seconds)} s):"
    )
    print(
        f"| status query, best of 3 | {best:.2f} s | < {STATUS_QUERY_TARGET_S:g} s | "
        f"{verdict(best < STATUS_QUERY_TARGET_S)} |"
    )
    return (
        tick.pages_served == ITEMS // PAGE_SIZE
        and tick.run_requests == Settings().sensor_max_runs_per_tick
        and status.num_partitions == ITEMS
        and status.unmaterialized == ITEMS
    )


def measure_tick_in_own_process(catalog_json: Path, storage: Path) -> TickMeasurement:
    completed = subprocess.run(
        [sys.executable, "-m", __name__, str(catalog_json), str(storage)],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return TickMeasurement(**json.loads(completed.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    measured = measure_tick(Path(sys.argv[1]), Path(sys.argv[2]))
    print(json.dumps(asdict(measured)))
