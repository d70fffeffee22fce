"""The summary refresh reads the stored summary and the rows of the scenes that changed since
its last materialization, not every scene's row; a summary it cannot trust is rebuilt."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from dagster import DagsterInstance

from landsat_assets.assets.summaries import ndvi_summary, scene_ndvi_stats
from landsat_assets.definitions import build_definitions
from landsat_assets.jobs import scene_job, summary_job
from landsat_assets.partitions import register_scenes
from landsat_assets.runner import QUIET_CONSOLE, load_summary, run_pipeline
from landsat_assets_tests.assets.test_pipeline import latest_metadata


def quiet(_line: str) -> None:
    return None


def refresh_summary(instance: DagsterInstance, env: dict[str, str]) -> dict:
    result = (
        build_definitions(env)
        .resolve_job_def(summary_job.name)
        .execute_in_process(instance=instance, run_config=QUIET_CONSOLE)
    )
    assert result.success
    return latest_metadata(instance, ndvi_summary.key.to_user_string(), None)


def stats_files(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["LANDSAT_STORAGE"]) / scene_ndvi_stats.key.path[-1]).glob("*"))


def january(instance: DagsterInstance, pipeline_env: dict[str, str]) -> tuple[dict, pd.DataFrame]:
    """The January scenes run through the main job: their settings and their summary."""
    env = dict(pipeline_env, LANDSAT_END_DATE="2023-02-01")
    report = run_pipeline(instance, build_definitions(env), scenes_per_run=4, echo=quiet)
    assert report.ok, report.failures
    summary = load_summary(build_definitions(env))
    assert summary is not None and len(summary) == len(report.found) >= 2
    return env, summary


def test_the_refresh_reads_only_the_rows_that_changed(
    instance: DagsterInstance, pipeline_env: dict[str, str]
) -> None:
    _env, before = january(instance, pipeline_env)

    later = build_definitions(dict(pipeline_env, LANDSAT_END_DATE="2023-03-10"))
    found = later.resources["catalog"].search()
    new = sorted({r.scene_key for r in found} - set(before["scene_id"]))
    assert new
    register_scenes(instance, new)
    for key in new:
        scenes = later.resolve_job_def(scene_job.name).execute_in_process(
            instance=instance, partition_key=key, run_config=QUIET_CONSOLE
        )
        assert scenes.success
    # The rows summarized before are gone from storage: only a refresh that reads just the
    # new scenes' rows still gives every scene its row.
    for path in stats_files(pipeline_env):
        if path.stem in set(before["scene_id"]):
            path.unlink()

    metadata = refresh_summary(instance, pipeline_env | {"LANDSAT_END_DATE": "2023-03-10"})
    assert metadata["refresh"] == "incremental"
    assert metadata["rows_read"] == len(new)
    table = load_summary(later)
    assert table is not None
    assert list(table["scene_id"]) == sorted(
        (r.scene_key for r in found), key=lambda k: {r.scene_key: r.datetime for r in found}[k]
    )
    pd.testing.assert_frame_equal(
        table[table["scene_id"].isin(before["scene_id"])].reset_index(drop=True), before
    )


def test_a_summary_that_cannot_be_trusted_is_rebuilt_from_every_row(
    instance: DagsterInstance, pipeline_env: dict[str, str]
) -> None:
    env, before = january(instance, pipeline_env)
    stored = Path(env["LANDSAT_STORAGE"]) / "ndvi_summary.parquet"
    stored.write_bytes(b"not parquet")

    metadata = refresh_summary(instance, env)
    assert metadata["refresh"] == "full: the stored summary is missing or unreadable"
    assert metadata["rows_read"] == len(before)
    pd.testing.assert_frame_equal(load_summary(build_definitions(env)), before)

    before.iloc[1:].to_parquet(stored, index=False)
    older = refresh_summary(instance, env)
    assert older["refresh"] == "full: the stored summary is not the one last materialized"
    pd.testing.assert_frame_equal(load_summary(build_definitions(env)), before)

    moved = dict(env, LANDSAT_STORAGE=str(Path(env["LANDSAT_STORAGE"]).parent / "elsewhere"))
    assert refresh_summary(instance, moved)["refresh"] == "full: LANDSAT_STORAGE changed"
