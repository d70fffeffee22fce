"""Scale (issue 6, part 5): a sensor tick over 10,000 new catalog items stays far inside
Dagster's 60 s sensor timeout with little memory, and the partitions' status of 10,000 scenes
answers quickly through the webserver's GraphQL API. Each test prints its figures."""

from __future__ import annotations

import json
import resource
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, SensorResult
from dagster._core.instance.ref import InstanceRef

from landsat_assets_tests.support.deployment import REPO_ROOT, graphql, running_webserver

pytestmark = pytest.mark.slow

ITEMS = 10_000
TICK_LIMIT_S = 20.0
TICK_MEMORY_LIMIT_MB = 100
STATUS_QUERY_LIMIT_S = 2.0

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


def test_tick_over_ten_thousand_new_items(demo_item_dicts, paged_stac_api, harness) -> None:
    paged_stac_api.items = many_items(demo_item_dicts, ITEMS)
    paged_stac_api.page_size = 100
    sensor = harness(paged_stac_api.url, LANDSAT_SENSOR_FIRST_TICK="all")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    started = time.perf_counter()
    result = sensor.tick()
    elapsed = time.perf_counter() - started

    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before
    print(
        f"\nsensor tick over {ITEMS} new items: {elapsed:.1f} s (target < {TICK_LIMIT_S:.0f} s), "
        f"peak RSS grew {grown:.0f} MB (target < {TICK_MEMORY_LIMIT_MB} MB), "
        f"{len(paged_stac_api.pages_served)} pages, cursor {len(sensor.cursor)} bytes"
    )
    assert isinstance(result, SensorResult)
    assert len(result.run_requests) == 50
    assert len(paged_stac_api.pages_served) == ITEMS // 100
    assert elapsed < TICK_LIMIT_S
    assert grown < TICK_MEMORY_LIMIT_MB
    assert len(sensor.cursor) < 10_000, "the cursor holds the requested scenes, not the backlog"


def test_status_of_ten_thousand_partitions_through_graphql(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    first = datetime(1990, 1, 1)
    keys = [f"LC08_L2SP_033032_{first + timedelta(days=n):%Y%m%d}_02_T1" for n in range(ITEMS)]
    instance.add_dynamic_partitions("landsat_scenes", keys)
    env = {
        "DAGSTER_HOME": str(home),
        "LANDSAT_SENSOR_STATUS": "stopped",
        "LANDSAT_AUTOMATION_STATUS": "stopped",
    }
    try:
        with running_webserver(env, log_path=tmp_path / "webserver.log") as webserver:
            timings = []
            for _ in range(3):
                started = time.perf_counter()
                answer = graphql(f"{webserver.url}/graphql", PARTITION_STATUS, {"path": ["ndvi"]})
                timings.append(time.perf_counter() - started)
    finally:
        instance.dispose()

    node = answer["assetNodeOrError"]
    print(
        f"\npartition status of {ITEMS} partitions via GraphQL: "
        f"{', '.join(f'{t:.2f}' for t in timings)} s (target < {STATUS_QUERY_LIMIT_S} s)"
    )
    assert node["partitionStats"]["numPartitions"] == ITEMS
    assert len(node["assetPartitionStatuses"]["unmaterializedPartitions"]) == ITEMS
    assert min(timings) < STATUS_QUERY_LIMIT_S
