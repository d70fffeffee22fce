"""The local Dagster deployment for end-to-end tests: the real dagster-webserver and
dagster-daemon on 127.0.0.1, the GraphQL documents the tests send to it, and the polling
that waits for what the daemon does. One home, so a fix to start-up or to a GraphQL
document reaches every test that runs the deployment."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import requests
import yaml
from dagster import DagsterInstance

from landsat_assets.jobs import SCENE_ASSETS
from landsat_assets_tests.support.paths import REPO_ROOT
from landsat_assets_tests.support.processes import (
    LOOPBACK,
    RunningServer,
    free_port,
    http_ready,
    running_server,
)

BIN = Path(sys.executable).parent
LOCAL_INSTANCE = REPO_ROOT / "dagster.yaml"
POSTGRES_INSTANCE = REPO_ROOT / "deploy" / "dagster.postgres.yaml"
# Loading the code location on 2 shared cores takes far longer than a plain server start.
WEBSERVER_READY_TIMEOUT_S = 90


def dagster_home(home: Path, instance: Path | Mapping[str, Any] = LOCAL_INSTANCE) -> Path:
    """Make `home` a DAGSTER_HOME whose dagster.yaml is `instance`: an instance file (the
    repository's own, by default) copied as is, or a config mapping written as YAML.

    One place that knows the layout Dagster expects, for every test that starts Dagster on
    a fresh home. Returns `home`."""
    home.mkdir(parents=True, exist_ok=True)
    if isinstance(instance, Path):
        shutil.copyfile(instance, home / "dagster.yaml")
    else:
        (home / "dagster.yaml").write_text(yaml.safe_dump(dict(instance)))
    return home


LAUNCH_BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}
"""
BACKFILL_STATUS = """
query ($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
    ... on PythonError { message }
  }
}
"""

BACKFILL_GOING = ("REQUESTED", "CANCELING", "FAILING")
"""Backfill statuses that still change; any other is where the backfill ended."""

T = TypeVar("T")


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float, logs: Callable[[], str]
) -> T:
    """Poll `probe` once a second until it returns something; on timeout the failure shows
    `logs()`, because what the daemon did is the only clue to why nothing happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        time.sleep(1.0)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs()}")


def run_errors(instance: DagsterInstance, run_id: str) -> str:
    """The step failures of a run, each with its root cause (not a retry wrapper)."""
    messages = []
    for event in instance.all_logs(run_id):
        if event.dagster_event and event.dagster_event.is_step_failure:
            error = event.dagster_event.event_specific_data.error
            while error.cause is not None:
                error = error.cause
            messages.append(f"{event.step_key}: {error.message.strip()}")
    return "\n".join(messages) or f"run {run_id} failed without a step failure"


def graphql(url: str, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    """POST a GraphQL document and return its `data`, with the server's own words as the
    failure when the request or the document fails (the public client hides them)."""
    response = requests.post(url, json={"query": query, "variables": variables}, timeout=30)
    assert response.ok, f"GraphQL at {url} answered HTTP {response.status_code}: {response.text}"
    answer = response.json()
    assert not answer.get("errors"), f"GraphQL at {url} answered errors: {answer['errors']}"
    return answer["data"]


def launch_scene_backfill(url: str, keys: Sequence[str]) -> str:
    """Launch a backfill of the per-scene assets over the partitions `keys` through the
    webserver's GraphQL API at `url`, as the UI does; returns the backfill's id, or fails
    with Dagster's own answer."""
    selection = [{"path": list(asset.key.path)} for asset in SCENE_ASSETS]
    launched = graphql(
        url,
        LAUNCH_BACKFILL,
        {"params": {"partitionNames": list(keys), "assetSelection": selection}},
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def backfill_status(url: str, backfill_id: str) -> str:
    """The backfill's status as the webserver's GraphQL API at `url` reports it."""
    return graphql(url, BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]["status"]


def finished_backfill(url: str, backfill_id: str) -> str | None:
    """The status the backfill ended with, or None while it is still going: a `wait_for`
    probe."""
    status = backfill_status(url, backfill_id)
    return None if status in BACKFILL_GOING else status


@contextmanager
def running_webserver(
    env: Mapping[str, str], *, log_path: Path, cwd: Path = REPO_ROOT
) -> Iterator[RunningServer]:
    """dagster-webserver for the workspace in `cwd`, on a free loopback port, ready once it
    answers /server_info (its GraphQL endpoint is `server.url + "/graphql"`)."""
    port = free_port()
    with running_server(
        [
            str(BIN / "dagster-webserver"),
            *("-h", LOOPBACK, "-p", str(port), "-w", str(cwd / "workspace.yaml")),
        ],
        port=port,
        ready=http_ready(f"http://{LOOPBACK}:{port}/server_info"),
        env=env,
        cwd=cwd,
        log_path=log_path,
        ready_timeout=WEBSERVER_READY_TIMEOUT_S,
    ) as webserver:
        yield webserver


@contextmanager
def running_daemon(
    env: Mapping[str, str], *, log_path: Path, cwd: Path = REPO_ROOT
) -> Iterator[RunningServer]:
    """dagster-daemon for the workspace in `cwd`, started but not waited for: it listens on
    no port, so tests wait (with `wait_for`) for what it does instead."""
    with running_server(
        [str(BIN / "dagster-daemon"), "run", "-w", str(cwd / "workspace.yaml")],
        port=0,
        ready=lambda: True,
        env=env,
        cwd=cwd,
        log_path=log_path,
    ) as daemon:
        yield daemon
