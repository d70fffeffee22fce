"""Two `landsat-assets run` on one instance at once, and a run killed with `kill -9`: no
scene is materialized twice, the second run waits for the first and says so, and the work of
a dead process neither blocks the next run nor stays "in progress" in the instance."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

from landsat_assets.inflight import CLAIMS_KEY, PROCESS_TAG, process_is_gone, this_process
from landsat_assets.jobs import SCENE_ASSETS
from landsat_assets_tests.support.cli import landsat_assets

pytestmark = pytest.mark.slow

SCENES = 12
"""In the tiny catalog."""


@pytest.fixture
def env(tiny_catalog: Path, tmp_path: Path) -> dict[str, str]:
    return {
        "DAGSTER_HOME": str(tmp_path / "home"),
        "LANDSAT_STORAGE": str(tmp_path / "storage"),
        "LANDSAT_STAC_URL": str(tiny_catalog),
    }


@contextmanager
def started_run(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`landsat-assets run --scenes-per-run 2` in the background, its output in `log`."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "landsat_assets.cli", "run", "--scenes-per-run", "2"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def open_instance(env: dict[str, str]) -> DagsterInstance:
    return DagsterInstance.from_ref(InstanceRef.from_dir(env["DAGSTER_HOME"]))


def wait_until(what: str, check: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not check():
        if process.poll() is not None:
            pytest.fail(f"the run ended (code {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def a_batch_is_running(env: dict[str, str], log: Path) -> Callable[[], bool]:
    """Whether the run logging to `log` is executing a batch (its instance is opened only once
    the run has said what it recomputes, so the two never create its database at once)."""

    def check() -> bool:
        if "to recompute" not in log.read_text():
            return False
        instance = open_instance(env)
        try:
            return any(
                PROCESS_TAG in run.tags and run.tags.get("dagster/asset_partition_range_start")
                for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
            )
        finally:
            instance.dispose()

    return check


def materializations_per_scene(instance: DagsterInstance) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for asset in SCENE_ASSETS:
        for record in instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset.key), limit=10_000
        ).records:
            counts[asset.key.to_user_string(), record.partition_key] += 1
    return counts


def test_a_second_run_waits_for_the_first_and_nothing_is_made_twice(env, tmp_path):
    log = tmp_path / "first.log"
    with started_run(env, log) as first:
        wait_until("its first batch started", a_batch_is_running(env, log), first)
        second = landsat_assets("run", env=env)
        assert first.wait(timeout=300) == 0, log.read_text()
    assert second.returncode == 0, second.stdout + second.stderr
    left = re.search(r"(\d+) scene\(s\) in progress in another run", second.stdout)
    assert left, second.stdout
    assert f"{left[1]} of them finished by the other run." in second.stdout, second.stdout
    assert "recomputing" not in second.stdout

    instance = open_instance(env)
    try:
        counts = materializations_per_scene(instance)
        assert len(counts) == SCENES * len(SCENE_ASSETS)
        assert set(counts.values()) == {1}, [k for k, n in counts.items() if n > 1]
        assert not instance.get_runs(RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES))
        assert instance.run_storage.get_cursor_values({CLAIMS_KEY}) == {CLAIMS_KEY: "{}"}
    finally:
        instance.dispose()


def test_the_work_of_a_killed_run_is_redone_and_recorded_as_failed(env, tmp_path):
    log = tmp_path / "killed.log"
    with started_run(env, log) as killed:
        wait_until("its first batch started", a_batch_is_running(env, log), killed)
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)

    started = time.monotonic()
    after = landsat_assets("run", env=env)
    assert after.returncode == 0, after.stdout + after.stderr
    assert "in progress in another run" not in after.stdout, after.stdout
    assert time.monotonic() - started < 120

    instance = open_instance(env)
    try:
        assert not instance.get_runs(RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES))
        (dead,) = [
            run
            for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
            if run.tags.get(PROCESS_TAG, "").split(":")[1] == str(killed.pid)
        ]
        messages = [
            record.event_log_entry.dagster_event.message
            for record in instance.get_records_for_run(dead.run_id).records
            if record.event_log_entry.dagster_event
        ]
        assert any("ended without finishing it" in (m or "") for m in messages), messages
        assert set(materializations_per_scene(instance)) == {
            (asset.key.to_user_string(), key)
            for asset in SCENE_ASSETS
            for key in instance.get_dynamic_partitions("landsat_scenes")
        }
    finally:
        instance.dispose()


def test_a_process_is_gone_only_when_it_has_ended():
    assert not process_is_gone(this_process())
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    host, _, _ = this_process().split(":")
    ended.wait()
    assert process_is_gone(f"{host}:{ended.pid}:")
    assert process_is_gone(f"{this_process()}0"), "same pid, another start time"
    assert not process_is_gone(f"another-host:{ended.pid}:"), "other hosts are trusted"
