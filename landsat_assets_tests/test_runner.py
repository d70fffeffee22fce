"""The main job searches the catalog once: its runs get their scenes' records from that
search instead of searching again, batch after batch."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

from landsat_assets.assets.scenes import landsat_scene
from landsat_assets.definitions import build_definitions
from landsat_assets.runner import SUMMARY_ROWS_SHOWN, RunReport, format_report, run_pipeline
from landsat_assets.science.summary import summarize
from landsat_assets_tests.support.items import processed_row
from landsat_assets_tests.support.stac_api import catalog_item_dicts, serving_stac_api


def test_the_main_job_searches_the_catalog_once(
    instance: DagsterInstance, small_demo_catalog: Path, tmp_path: Path
) -> None:
    items = catalog_item_dicts(small_demo_catalog)[:3]
    with serving_stac_api(items) as api:
        env = {
            "LANDSAT_STAC_URL": api.url,
            "LANDSAT_STORAGE": str(tmp_path / "storage"),
            "LANDSAT_AOI": "",
        }
        # The API serves no band file: every scene fails at its bands, and the runner then
        # retries each scene of a failed batch in a run of its own. None of those runs may
        # search again.
        report = run_pipeline(
            instance, build_definitions(env), scenes_per_run=2, echo=lambda _line: None
        )
    keys = [r.scene_key for r in report.found]
    assert len(keys) == len(items), report.failures
    assert sorted(report.failures) == sorted(keys)
    assert api.pages_served.count(0) == 1, f"pages served: {api.pages_served}"
    recorded = instance.get_latest_storage_id_by_partition(
        landsat_scene.key, DagsterEventType.ASSET_MATERIALIZATION, partitions=set(keys)
    )
    assert sorted(recorded) == sorted(keys)


def test_a_run_prints_the_latest_rows_of_a_long_summary() -> None:
    rows = [processed_row(day) for day in range(SUMMARY_ROWS_SHOWN + 10)]
    report = RunReport(found=[], new_partitions=[], up_to_date=[], summary=summarize(rows))
    printed = format_report(report, "/data")
    shown = [key for key in report.summary["scene_id"] if key in printed]
    assert shown == list(report.summary["scene_id"].tail(SUMMARY_ROWS_SHOWN))
    assert f"latest {SUMMARY_ROWS_SHOWN} of {SUMMARY_ROWS_SHOWN + 10} scenes" in printed
