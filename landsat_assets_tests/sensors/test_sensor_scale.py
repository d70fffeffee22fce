"""Scale (issue 6, part 5): a sensor tick over 10,000 new catalog items pages through all of
them, requests one capped batch of runs and keeps a small cursor in little memory; the
partitions' status of 10,000 scenes answers through the webserver's GraphQL API. The time
each takes is a benchmark figure, printed here and by `make bench` against its target."""

from __future__ import annotations

from pathlib import Path

import pytest

from landsat_assets.settings import Settings
from landsat_assets_tests.bench.sensor_scale import (
    ITEMS,
    PAGE_SIZE,
    TICK_MEMORY_TARGET_MB,
    measure_partition_status,
    measure_tick,
)

pytestmark = pytest.mark.slow


def test_tick_over_ten_thousand_new_items(small_demo_catalog: Path, tmp_path: Path) -> None:
    tick = measure_tick(small_demo_catalog, tmp_path / "storage")
    print(
        f"\nsensor tick over {ITEMS} new items: {tick.seconds:.1f} s, peak RSS grew "
        f"{tick.rss_growth_mb:.0f} MB, {tick.pages_served} pages, cursor {tick.cursor_bytes} bytes"
    )
    assert tick.pages_served == ITEMS // PAGE_SIZE
    assert tick.run_requests == Settings().sensor_max_runs_per_tick
    assert tick.rss_growth_mb < TICK_MEMORY_TARGET_MB
    assert tick.cursor_bytes < 10_000, "the cursor holds the requested scenes, not the backlog"


def test_status_of_ten_thousand_partitions_through_graphql(tmp_path: Path) -> None:
    status = measure_partition_status(tmp_path / "dagster_home", tmp_path)
    print(
        f"\npartition status of {ITEMS} partitions via GraphQL: "
        f"{', '.join(f'{s:.2f}' for s in status.seconds)} s"
    )
    assert status.num_partitions == ITEMS
    assert status.unmaterialized == ITEMS
