"""`make dev` stops on SIGTERM to its process group within 10 s, every Dagster process with it
(process supervisors and containers send SIGTERM and wait)."""

from __future__ import annotations

import os
import signal
import time
from contextlib import suppress
from pathlib import Path

import pytest

from landsat_assets_tests.support.paths import REPO_ROOT
from landsat_assets_tests.support.processes import free_port, http_ready, running_server

pytestmark = pytest.mark.slow

STOP_WITHIN_S = 10.0


def processes_with(marker: str) -> list[int]:
    """Processes whose environment holds `marker` (this test's DAGSTER_HOME)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
    return found


def test_make_dev_stops_on_sigterm(tmp_path, small_demo_catalog):
    home = tmp_path / "dagster-home"
    port = free_port()
    marker = f"DAGSTER_HOME={home}"
    env = {
        "DAGSTER_HOME": str(home),
        "DEV_PORT": str(port),
        "LANDSAT_STAC_URL": str(small_demo_catalog),
        "LANDSAT_SENSOR_STATUS": "stopped",
        "LANDSAT_AUTOMATION_STATUS": "stopped",
    }
    try:
        with running_server(
            # The session's small catalog stands in for the demo catalog make would build.
            ["make", "dev", f"DEMO_CATALOG={small_demo_catalog}"],
            port=port,
            cwd=REPO_ROOT,
            env=env,
            ready=http_ready(f"http://127.0.0.1:{port}/server_info"),
            ready_timeout=240,
            log_path=tmp_path / "make-dev.log",
        ) as server:
            assert len(processes_with(marker)) >= 4, "webserver, daemon and code servers"
            os.killpg(server.process.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_WITHIN_S
            while processes_with(marker) and time.monotonic() < deadline:
                time.sleep(0.2)
            left = processes_with(marker)
            assert left == [], f"still running {STOP_WITHIN_S:g} s after SIGTERM: {left}"
    finally:
        for pid in processes_with(marker):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
