"""The `landsat-assets` executable loads numpy without OpenBLAS's idle threads and leaves
the environment of its child processes as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

THREADS_AFTER = """
import os, sys
{load}
print(len(os.listdir("/proc/self/task")), os.environ.get("OPENBLAS_NUM_THREADS"))
"""
LAUNCHER = "from landsat_assets.launcher import load_numpy_without_blas_threads as load; load()"


def threads_after(load: str, env: dict[str, str] | None = None) -> list[str]:
    environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    completed = subprocess.run(
        [sys.executable, "-c", THREADS_AFTER.format(load=load)],
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.split()


@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="OpenBLAS starts no thread on one core"
)
def test_numpy_loads_without_blas_threads_and_the_environment_is_put_back():
    assert threads_after("import numpy") == [str(len(os.sched_getaffinity(0))), "None"]
    assert threads_after(LAUNCHER) == ["1", "None"]


def test_a_thread_count_the_user_chose_stays():
    assert threads_after(LAUNCHER, {"OPENBLAS_NUM_THREADS": "2"}) == ["2", "2"]


def test_the_executable_runs_the_cli():
    executable = Path(sys.executable).with_name("landsat-assets")
    completed = subprocess.run([executable, "--version"], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("landsat-assets ")
