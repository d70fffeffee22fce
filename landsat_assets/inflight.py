"""Work in flight: the scenes other runs are materializing right now, so that a main job or
the scene sensor leaves them to those runs instead of doing them a second time.

Two records in the Dagster instance say what is in flight:
- **Runs in progress**, whoever launched them (the sensor, a backfill, the UI, the current
  batch of another `landsat-assets run`): the scenes of their partition tags.
- **Main-job claims.** A main job plans many batches, each its own run, but only the current
  one is a run in progress. So before its first batch it claims every scene it is about to
  recompute, in the instance's key-value store, and releases them when it ends. Claims are
  read and written under a lock file in DAGSTER_HOME (`landsat-assets/claims.lock`), so two
  main jobs that share the instance never claim the same scene.

A process killed with `kill -9` releases nothing. Each claim and each run of a main job
names its process (host, pid and the process's start time, so a recycled pid is not taken
for it). A claim whose process is gone is dropped, and a run of such a process that the
instance still shows in progress is marked failed, saying why: the instance records what
happened and no one waits for it. A process on another host cannot be checked and is
trusted to be alive.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import socket
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance, DagsterRun, RunsFilter
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from landsat_assets.partitions import landsat_scenes

PROCESS_TAG = "landsat/process"
"""Run tag naming the process that executes a main job's run in-process."""

CLAIMS_KEY = "landsat-assets/main-job-claims"
"""Key-value store entry: the scenes each running main job has claimed, by process."""


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after its closing parenthesis.
    return stat.rsplit(")", 1)[1].split()[19]


def this_process() -> str:
    """`host:pid:start` of the running process."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or ''}"


def process_is_gone(process: str) -> bool:
    """Whether `process` (as `this_process` wrote it) is known to have ended: same host, and
    no process with its pid, or one started at another time."""
    host, _, rest = process.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return bool(started) and _start_time(pid) != started


@dataclass(frozen=True)
class InFlight:
    """Scenes being materialized elsewhere, each with who is doing it (a run id or a main
    job's process)."""

    owners: Mapping[str, str]

    def __contains__(self, scene_key: object) -> bool:
        return scene_key in self.owners

    def describe(self) -> str:
        owners = sorted(set(self.owners.values()))
        shown = ", ".join(owners[:3]) + (f" and {len(owners) - 3} more" if len(owners) > 3 else "")
        return f"{len(self.owners)} scene(s) in progress in another run ({shown})"


def scenes_in_flight(
    instance: DagsterInstance, keys: Collection[str], *, claims: Mapping[str, list[str]] | None
) -> InFlight:
    """Which of `keys` another run is materializing: runs in progress (those of gone main-job
    processes are marked failed first) and the live claims of other main jobs (read from the
    instance when `claims` is None)."""
    wanted = set(keys)
    owners: dict[str, str] = {}
    # Listed once, and only when a run in progress covers a range of scenes.
    registered = functools.cache(lambda: instance.get_dynamic_partitions(landsat_scenes.name))
    for run in _runs_in_progress(instance):
        for key in _run_scenes(run, registered) & wanted:
            owners[key] = f"run {run.run_id[:8]}"
    me = this_process()
    for process, scenes in (_live_claims(instance) if claims is None else claims).items():
        if process == me:
            continue
        for key in set(scenes) & wanted:
            owners.setdefault(key, f"landsat-assets run, pid {process.split(':')[1]}")
    return InFlight(owners)


def _runs_in_progress(instance: DagsterInstance) -> list[DagsterRun]:
    """Runs the instance shows in progress, after marking failed those whose main-job
    process is gone."""
    alive = []
    for run in instance.get_runs(RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES)):
        process = run.tags.get(PROCESS_TAG)
        if process and process_is_gone(process):
            instance.report_run_failed(
                run,
                message=f"the landsat-assets process that ran it (pid {process.split(':')[1]}) "
                "ended without finishing it",
            )
            continue
        alive.append(run)
    return alive


def _run_scenes(run: DagsterRun, ordered: Callable[[], list[str]]) -> set[str]:
    """The scene partitions a run materializes, from its partition tags (a range between two
    keys of the registered ones, in their order)."""
    single = run.tags.get(PARTITION_NAME_TAG)
    if single:
        return {single}
    first = run.tags.get(ASSET_PARTITION_RANGE_START_TAG)
    last = run.tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if not first or not last:
        return set()
    keys = ordered()
    if first not in keys or last not in keys:
        return set()
    return set(keys[keys.index(first) : keys.index(last) + 1])


def _read_claims(instance: DagsterInstance) -> dict[str, list[str]]:
    raw = instance.run_storage.get_cursor_values({CLAIMS_KEY}).get(CLAIMS_KEY)
    try:
        claims = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}
    return claims if isinstance(claims, dict) else {}


def _live_claims(instance: DagsterInstance) -> dict[str, list[str]]:
    return {p: s for p, s in _read_claims(instance).items() if not process_is_gone(p)}


def _write_claims(instance: DagsterInstance, claims: Mapping[str, list[str]]) -> None:
    instance.run_storage.set_cursor_values({CLAIMS_KEY: json.dumps(claims)})


@contextlib.contextmanager
def _claims_lock(instance: DagsterInstance) -> Iterator[None]:
    path = Path(instance.root_directory) / "landsat-assets" / "claims.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Claim:
    """What a main job recomputes itself, and what it leaves to runs already doing it."""

    mine: list[str]
    elsewhere: InFlight


@contextlib.contextmanager
def claim_scenes(instance: DagsterInstance, wanted: Sequence[str]) -> Iterator[Claim]:
    """Claim those of `wanted` that no other run is materializing, for the duration of the
    block; the others are reported in `Claim.elsewhere`."""
    me = this_process()
    with _claims_lock(instance):
        claims = _live_claims(instance)
        elsewhere = scenes_in_flight(instance, wanted, claims=claims)
        mine = [key for key in wanted if key not in elsewhere]
        claims[me] = mine
        _write_claims(instance, claims)
    try:
        yield Claim(mine, elsewhere)
    finally:
        with _claims_lock(instance):
            claims = _live_claims(instance)
            claims.pop(me, None)
            _write_claims(instance, claims)
