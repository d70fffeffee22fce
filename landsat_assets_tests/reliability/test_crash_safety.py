"""kill -9 in the middle of writing a COG or a Parquet file: nothing appears under a final
name, an older file stays byte-identical, and the next run succeeds and clears the dead
process's leftovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance
from dagster._core.instance.ref import InstanceRef
from rio_cogeo.cogeo import cog_validate

from landsat_assets.demo.catalog import add_scene
from landsat_assets.stores import LocalStore
from landsat_assets_tests.support.catalogs import copy_catalog
from landsat_assets_tests.support.rasters import synthetic_scene

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "landsat_assets.cli"]


@pytest.fixture(scope="module")
def large_bands(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Bands big enough (2,000 x 2,000) that a write lasts long enough to be interrupted."""
    return synthetic_scene(tmp_path_factory.mktemp("bands"), shape=(2000, 2000), seed=3)


def kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float) -> None:
    """SIGKILL the process group as soon as `ready()` holds; fail if the process ends first."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if process.poll() is not None:
                pytest.fail(f"the writer finished (code {process.returncode}) before the kill")
            if time.monotonic() > deadline:
                pytest.fail("the write never started")
            time.sleep(0.002)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def ndvi_command(bands: dict[str, str], out: Path) -> list[str]:
    return [*CLI, "ndvi", bands["red"], bands["nir08"], bands["qa_pixel"], str(out)]


@pytest.mark.parametrize("phase", [".scratch.tif", ".partial"])
@pytest.mark.parametrize("previous", [False, True])
def test_cog_write_killed(
    phase: str, previous: bool, large_bands: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "products" / "ndvi.tif"
    out.parent.mkdir()
    old = b""
    if previous:
        subprocess.run(ndvi_command(large_bands, out), check=True, capture_output=True)
        old = out.read_bytes()
    writer = subprocess.Popen(
        ndvi_command(large_bands, out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    kill_when(writer, lambda: any(out.parent.glob(f".ndvi.tif.*{phase}")), timeout=60)

    if previous:
        assert out.read_bytes() == old, "the old product was damaged"
    else:
        assert not out.exists(), "a half-written product carries the final name"
    leftovers = [p.name for p in out.parent.iterdir() if p.name != "ndvi.tif"]
    assert leftovers and all(name.startswith(".ndvi.tif.") for name in leftovers), leftovers

    rerun = subprocess.run(ndvi_command(large_bands, out), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert cog_validate(str(out))[0]
    if previous:
        assert out.read_bytes() == old, "same inputs, same code: the same bytes"


PARQUET_WRITER = """
import sys
import numpy as np
import pandas as pd
from dagster import AssetKey, build_output_context
from landsat_assets.io_managers.products import TableIOManager
from landsat_assets.resources.storage import LandsatStorage

rows = int(sys.argv[2])
table = pd.DataFrame({"a": np.arange(rows, dtype="float64"), "b": np.arange(rows) % 7})
manager = TableIOManager(storage=LandsatStorage(location=sys.argv[1]))
manager.handle_output(build_output_context(asset_key=AssetKey("ndvi_summary")), table)
"""


def write_parquet(storage: Path, rows: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", PARQUET_WRITER, str(storage), str(rows)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


@pytest.mark.parametrize("previous", [False, True])
def test_parquet_write_killed(previous: bool, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    store = LocalStore(storage)
    final = store.path("ndvi_summary.parquet")
    old = b""
    if previous:
        assert write_parquet(storage, 10).wait(timeout=120) == 0
        old = final.read_bytes()
    writer = write_parquet(storage, 6_000_000)
    kill_when(writer, lambda: any(store.staging_root.glob("*/table.parquet")), timeout=120)

    assert final.read_bytes() == old if previous else not final.exists()
    (dead,) = list(store.staging_root.iterdir())
    assert f"-{writer.pid}-" in dead.name and (dead / "table.parquet").exists()

    rerun = write_parquet(storage, 1000)
    assert rerun.wait(timeout=120) == 0, rerun.stderr.read() if rerun.stderr else ""
    assert not dead.exists(), "the next run did not clear the killed run's staging folder"
    assert list(store.staging_root.iterdir()) == [], "a finished write left its staging folder"
    assert len(pd.read_parquet(final)) == 1000


def scene_files(storage: Path, scenes: set[str]) -> dict[str, bytes]:
    return {
        str(path.relative_to(storage)): path.read_bytes()
        for path in storage.rglob("*")
        if path.is_file() and path.stem in scenes
    }


def main_job_env(tmp_path: Path) -> dict[str, str]:
    """This process's environment without LANDSAT_* settings, with a private instance."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("LANDSAT_")},
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }


def in_background(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`command` started in its own process group, for `kill_when`."""
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_main_job_killed_then_rerun(tiny_catalog: Path, tmp_path: Path) -> None:
    """kill -9 of `landsat-assets run` between partitions: the scenes already done keep their
    bytes, and the next run completes every scene."""
    storage = tmp_path / "storage"
    env = main_job_env(tmp_path)
    command = [*CLI, "run", "--catalog", str(tiny_catalog), "--storage", str(storage)]
    command += ["--aoi", "none", "--min-clear-fraction", "0", "--scenes-per-run", "2"]
    stats = storage / "scene_ndvi_stats"
    first = in_background(command, env)
    kill_when(first, lambda: len(list(stats.glob("*.parquet"))) >= 4, timeout=180)
    done = {path.stem for path in stats.glob("*.parquet")}
    before = scene_files(storage, done)
    assert not (storage / "ndvi_summary.parquet").exists()

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "failed               0" in rerun.stdout
    assert scene_files(storage, done) == before, "a scene finished before the kill changed"
    everything = {path.stem for path in stats.glob("*.parquet")}
    assert len(everything) == 12 and done < everything
    summary = pd.read_parquet(storage / "ndvi_summary.parquet")
    assert sorted(summary["scene_id"]) == sorted(everything)
    assert list((storage / ".staging").iterdir()) == []


def test_killed_between_the_last_scene_and_the_summary(tiny_catalog: Path, tmp_path: Path) -> None:
    """A new scene's products are written, then `landsat-assets run` is killed before its
    summary run: the next run finds the summary behind, refreshes it, and the new scene is in
    it (the old code said "up to date" from then on, and the row never came)."""
    catalog = copy_catalog(tiny_catalog, tmp_path / "catalog")
    storage = tmp_path / "storage"
    env = main_job_env(tmp_path)
    command = [*CLI, "run", "--catalog", str(catalog), "--storage", str(storage)]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)
    new_key = add_scene(catalog.parent).id
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(env["DAGSTER_HOME"]))
    second = in_background(command, env)
    try:
        # The instance has recorded the scene's last product: only the summary is left.
        kill_when(
            second,
            lambda: new_key in instance.get_materialized_partitions(AssetKey("scene_ndvi_stats")),
            timeout=180,
        )
    finally:
        instance.dispose()
    summary = storage / "ndvi_summary.parquet"
    assert new_key not in set(pd.read_parquet(summary)["scene_id"]), "killed too late"

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "13 scene(s) already up to date." in rerun.stdout, rerun.stdout
    assert new_key in set(pd.read_parquet(summary)["scene_id"])
