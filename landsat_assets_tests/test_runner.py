"""The main job searches the catalog once: its runs get their scenes' records from that
search instead of searching again, batch after batch."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterEventType, DagsterInstance
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_START_TAG, PARTITION_NAME_TAG

from landsat_assets import runner as runner_module
from landsat_assets.assets.scenes import landsat_scene
from landsat_assets.definitions import build_definitions
from landsat_assets.runner import (
    FAILED,
    SUMMARY_FAILURE,
    SUMMARY_ROWS_SHOWN,
    RunReport,
    format_report,
    run_pipeline,
)
from landsat_assets.science.summary import summarize
from landsat_assets.stac.normalize import normalize_item
from landsat_assets_tests.support.cli import run_counts
from landsat_assets_tests.support.items import processed_row, stac_item
from landsat_assets_tests.support.stac_api import catalog_item_dicts, serving_stac_api


def test_the_main_job_searches_the_catalog_once(
    instance: DagsterInstance,
    small_demo_catalog: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    items = catalog_item_dicts(small_demo_catalog)[:3]
    with serving_stac_api(items) as api:
        env = {
            "LANDSAT_STAC_URL": api.url,
            "LANDSAT_STORAGE": str(tmp_path / "storage"),
            "LANDSAT_AOI": "",
        }
        # The up-to-date decision runs without the cyclic garbage collector, the runs after
        # it with (runner.cycle_collection_paused).
        collector_during_decision = []
        decide = runner_module.scene_freshness

        def spied(*args: Any) -> Any:
            collector_during_decision.append(gc.isenabled())
            return decide(*args)

        monkeypatch.setattr(runner_module, "scene_freshness", spied)
        # The API serves no band file: every scene fails at its bands, and the runner then
        # retries each scene of a failed batch in a run of its own. None of those runs may
        # search again.
        report = run_pipeline(
            instance, build_definitions(env), scenes_per_run=2, echo=lambda _line: None
        )
    keys = [r.scene_key for r in report.found]
    assert collector_during_decision == [False] and gc.isenabled()
    assert len(keys) == len(items), report.failures
    assert sorted(report.failures) == sorted(keys)
    assert report.computed == dict.fromkeys(keys, FAILED)
    counts = run_counts(format_report(report, "/data"))
    assert counts.this_run["failed"] == counts.computed == counts.found == len(items)
    assert api.pages_served.count(0) == 1, f"pages served: {api.pages_served}"
    recorded = instance.get_latest_storage_id_by_partition(
        landsat_scene.key, DagsterEventType.ASSET_MATERIALIZATION, partitions=set(keys)
    )
    assert sorted(recorded) == sorted(keys)
    # A batch of two is a partition range; each scene alone is a run of its partition
    # (a range of one would make Dagster list every registered partition).
    runs = instance.get_runs()
    ranges = [
        r.tags[ASSET_PARTITION_RANGE_START_TAG]
        for r in runs
        if r.tags.get(ASSET_PARTITION_RANGE_START_TAG)
    ]
    singles = sorted(r.tags[PARTITION_NAME_TAG] for r in runs if PARTITION_NAME_TAG in r.tags)
    assert ranges == [keys[0]] and singles == sorted(keys), [r.tags for r in runs]


def test_a_run_prints_the_latest_rows_of_a_long_summary() -> None:
    rows = [processed_row(day) for day in range(SUMMARY_ROWS_SHOWN + 10)]
    report = RunReport(found=[], new_partitions=[], up_to_date=[], summary=summarize(rows))
    printed = format_report(report, "/data")
    shown = [key for key in report.summary["scene_id"] if key in printed]
    assert shown == list(report.summary["scene_id"].tail(SUMMARY_ROWS_SHOWN))
    assert f"latest {SUMMARY_ROWS_SHOWN} of {SUMMARY_ROWS_SHOWN + 10} scenes" in printed


def test_the_report_counts_this_run_and_the_rest_apart() -> None:
    found = [
        normalize_item(stac_item(f"LC08_L2SP_033032_202301{day:02d}_02_T1")) for day in range(1, 11)
    ]
    keys = [record.scene_key for record in found]
    report = RunReport(
        found=found,
        new_partitions=[],
        up_to_date=keys[:4],
        finished_elsewhere=keys[4:6],
        computed={
            keys[6]: "processed",
            keys[7]: "filtered_cloudy",
            keys[8]: FAILED,
            keys[9]: "unknown",
        },
        failures={keys[8]: "boom", SUMMARY_FAILURE: "the summary failed too"},
    )
    printed = format_report(report, "/data")
    counts = run_counts(printed)
    assert counts.this_run == {
        "processed": 1,
        "filtered for clouds": 1,
        "no data over AOI": 0,
        "failed": 1,
        "unknown": 1,
    }
    assert counts.computed == sum(counts.this_run.values()) == 4
    assert counts.up_to_date == 6 and counts.found == counts.computed + counts.up_to_date
    assert "already up to date     6 (2 of them computed by another run meanwhile)" in printed
    assert f"FAILED {keys[8]}: boom" in printed
    assert f"FAILED {SUMMARY_FAILURE}: the summary failed too" in printed
