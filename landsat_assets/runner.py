"""The main job: discover scenes, register their partitions, materialize what is not up to
date through Dagster, and report per scene.

Scenes run in batches of consecutive partitions (one Dagster run each, like a backfill
with a multi-run policy). When a batch fails, its scenes are re-run one per run so a
bad scene fails alone, with its own error, and every other scene still lands.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
from dagster import DagsterInstance, Definitions, ExecuteInProcessResult
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from landsat_assets.assets.fields import field_timeseries
from landsat_assets.assets.scenes import FoundScenes
from landsat_assets.assets.summaries import ndvi_summary, scene_ndvi_stats
from landsat_assets.console import PhaseProgress
from landsat_assets.errors import InputError
from landsat_assets.freshness import scene_freshness
from landsat_assets.inflight import PROCESS_TAG, claim_scenes, scenes_in_flight, this_process
from landsat_assets.io_managers.products import TableIOManager
from landsat_assets.jobs import SUMMARY_ASSETS, scene_job, summary_job
from landsat_assets.partitions import landsat_scenes, register_scenes
from landsat_assets.science.status import SceneStatus
from landsat_assets.stac.scene import SceneRecord

MAX_FAILURES_SHOWN = 10
SUMMARY_ROWS_SHOWN = 50
"""A run prints the summary's latest rows; `landsat-assets summary` prints them all."""

FoundRecords = Mapping[str, SceneRecord]
"""The search's records by scene key."""

QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
"""The terminal gets warnings and errors only; every event still goes to the instance's event
log, where the UI shows it."""

SUMMARY_FAILURE = ndvi_summary.key.to_user_string()
"""The key of `RunReport.failures` under which a failed summary run is reported."""

FAILED = "failed"
"""The outcome in `RunReport.computed` of a scene whose run failed."""


@dataclass
class RunReport:
    found: list[SceneRecord]
    new_partitions: list[str]
    up_to_date: list[str]
    bad_items: list[str] = field(default_factory=list)
    """Catalog items that match the search but cannot be used (named in each message)."""
    failures: dict[str, str] = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    fields: pd.DataFrame | None = None
    """The fields' time series, when fields are configured."""
    computed: dict[str, str] = field(default_factory=dict)
    """The scenes this run materialized, each with its outcome: its status (a `SceneStatus`
    value) or `FAILED`."""
    finished_elsewhere: list[str] = field(default_factory=list)
    """Scenes that needed recomputing, but another run, running at the same time, did it."""

    @property
    def ok(self) -> bool:
        return not self.failures and not self.bad_items

    @property
    def already_up_to_date(self) -> int:
        """Scenes this run had nothing to do for: `found` is these and `computed`."""
        return len(self.up_to_date) + len(self.finished_elsewhere)


def contiguous_batches(
    ordered_keys: Sequence[str], wanted: Sequence[str], size: int
) -> list[list[str]]:
    """Split `wanted` into runs of keys adjacent in the partition order, at most `size` long,
    since a Dagster partition range covers every key between its ends."""
    wanted_set = set(wanted)
    batches: list[list[str]] = []
    current: list[str] = []
    for key in ordered_keys:
        if key in wanted_set and len(current) < size:
            current.append(key)
            continue
        if current:
            batches.append(current)
        current = [key] if key in wanted_set else []
    if current:
        batches.append(current)
    return batches


def failure_message(result: ExecuteInProcessResult) -> str:
    """The failed steps' errors, each with its root cause (not a retry wrapper's message)."""
    messages = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error if event.step_failure_data else None
        while error is not None and error.cause is not None:
            error = error.cause
        user_message = event.step_failure_data.user_failure_data
        if user_message and user_message.description:
            messages.append(user_message.description)
        elif error is not None:
            messages.append(error.message.strip())
    return "; ".join(messages)


def _execute_scenes(
    instance: DagsterInstance, defs: Definitions, keys: Sequence[str], found: FoundRecords
) -> dict[str, str]:
    """Materialize `keys` (adjacent partitions) in one run, with their records as the search
    found them; returns errors by scene. One scene is a run of its partition, not a range
    of one: Dagster 1.13 resolves a range by listing every registered partition, several
    times per step, where a single partition key needs no listing."""
    job = defs.resolve_job_def(scene_job.name)
    single = len(keys) == 1
    range_tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    result = job.execute_in_process(
        instance=instance,
        run_config=QUIET_CONSOLE | FoundScenes.run_config(found[key] for key in keys),
        partition_key=keys[0] if single else None,
        tags={PROCESS_TAG: this_process(), **({} if single else range_tags)},
        raise_on_error=False,
    )
    if result.success:
        return {}
    error = failure_message(result) or f"run {result.run_id} failed"
    return {key: error for key in keys}


def _execute_batches(
    instance: DagsterInstance,
    defs: Definitions,
    keys: Sequence[str],
    found: FoundRecords,
    scenes_per_run: int,
    report: RunReport,
) -> None:
    """Materialize `keys` in runs of adjacent partitions; a failed run's scenes are run again
    one per run, so a bad scene fails alone."""
    ordered = instance.get_dynamic_partitions(landsat_scenes.name)
    progress = PhaseProgress("scenes", len(keys))
    for batch in contiguous_batches(ordered, keys, scenes_per_run):
        errors = _execute_scenes(instance, defs, batch, found)
        if errors and len(batch) > 1:
            errors = {}
            for key in batch:
                errors.update(_execute_scenes(instance, defs, [key], found))
        report.failures.update(errors)
        progress.advance(f"{batch[-1]}", steps=len(batch))


IN_FLIGHT_POLL_SECONDS = 1.0


def _wait_until_done(instance: DagsterInstance, keys: Collection[str]) -> None:
    """Return once no other run is materializing any of `keys` (a run that ends, fails or
    whose process is gone no longer counts)."""
    while scenes_in_flight(instance, keys, claims=None).owners:
        time.sleep(IN_FLIGHT_POLL_SECONDS)


def run_pipeline(
    instance: DagsterInstance,
    defs: Definitions,
    *,
    scenes_per_run: int,
    echo: Callable[[str], None] = print,
    force: ForcedScenes = None,
    search_workers: int = 1,
) -> RunReport:
    """Search the catalog, recompute every scene that is not up to date (freshness.py) and
    those `force` names (`ALL_SCENES`: every scene found), and refresh the summary. Scenes
    another run is already materializing are left to it (inflight.py): the job waits for
    them, then recomputes those the other run did not finish. A local catalog's item files
    are read by `search_workers` forked processes (the CLI's own process may fork)."""
    # Storage first: a missing bucket, wrong credentials or a folder that cannot be written
    # should stop us before any work.
    defs.resources["storage"].store().check_writable()
    catalog = defs.resources["catalog"]
    echo(f"Searching {catalog.shown_source()} (collection {catalog.collection}) ...")
    bad_items: list[str] = []
    with cycle_collection_paused():
        records = catalog.search(
            on_bad_item=lambda error: bad_items.append(str(error)),
            workers=search_workers,
            record_cache=catalog_records_folder(instance),
        )
        echo(f"Found {len(records)} scene(s).")
        new = register_scenes(instance, [r.scene_key for r in records])
        freshness = scene_freshness(instance, defs, records)
    forced = _forced(force, records)
    freshness = freshness.with_forced(forced)
    stale = list(freshness.stale)
    report = RunReport(
        found=records,
        bad_items=bad_items,
        new_partitions=new,
        up_to_date=[r.scene_key for r in records if r.scene_key not in freshness.stale],
    )
    if report.up_to_date:
        echo(f"{len(report.up_to_date)} scene(s) already up to date.")
    for reason, count in freshness.reasons().most_common():
        echo(f"{reason}: {count} scene(s) to recompute.")
    found = {r.scene_key: r for r in records}
    pending = stale
    computed: list[str] = []
    while pending:
        with claim_scenes(instance, pending) as claim:
            if claim.elsewhere.owners:
                echo(f"{claim.elsewhere.describe()}: left to it.")
            computed += claim.mine
            _execute_batches(instance, defs, claim.mine, found, scenes_per_run, report)
        if not claim.elsewhere.owners:
            break
        echo("Waiting for the other run to finish them ...")
        _wait_until_done(instance, claim.elsewhere.owners)
        pending = list(
            scene_freshness(instance, defs, [found[k] for k in claim.elsewhere.owners]).stale
        )
        still_stale = set(pending)
        done = [key for key in claim.elsewhere.owners if key not in still_stale]
        report.finished_elsewhere += done
        echo(
            f"{len(done)} of them finished by the other run"
            + (f"; recomputing the other {len(pending)} here." if pending else ".")
        )
    if stale or summary_is_behind(defs, records):
        summary_progress = PhaseProgress("summary", 1)
        result = defs.resolve_job_def(summary_job.name).execute_in_process(
            instance=instance,
            run_config=QUIET_CONSOLE,
            tags={PROCESS_TAG: this_process()},
            raise_on_error=False,
        )
        summary_progress.advance(", ".join(a.key.to_user_string() for a in SUMMARY_ASSETS))
        if not result.success:
            report.failures[SUMMARY_FAILURE] = failure_message(result)
    report.summary = load_summary(defs)
    report.computed = {key: FAILED for key in computed if key in report.failures}
    report.computed |= scene_statuses(
        defs, report.summary, [key for key in computed if key not in report.failures]
    )
    if "fields" in defs.resources:
        report.fields = load_field_timeseries(defs)
    return report


@contextlib.contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """The cyclic garbage collector off while the main job decides what is up to date: the
    decision builds a record and five products' facts per scene, none in a reference cycle,
    and the collector's passes over them cost 0.5-0.6 s of the 3.1-3.7 s decision at 10,000
    scenes (interleaved runs, quiet VM). A few seconds in the CLI's own process; the runs
    that follow have it back."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def catalog_records_folder(instance: DagsterInstance) -> Path | None:
    """Where the main job keeps what a local catalog's item files gave its last search
    (stac/record_cache.py): beside the provenance memo, in the instance's own folder."""
    root = instance.root_directory
    return Path(root) / "landsat-assets" / "catalog-records" if root else None


ALL_SCENES = "all"
ForcedScenes = Collection[str] | Literal["all"] | None
"""Scenes recomputed on purpose: scene keys, `ALL_SCENES`, or none."""


def _forced(force: ForcedScenes, records: Sequence[SceneRecord]) -> list[str]:
    """The forced scene keys among those found; a key the search did not find is an error
    naming it (recomputing it would need its record)."""
    if not force:
        return []
    found = [r.scene_key for r in records]
    if force == ALL_SCENES:
        return found
    unknown = sorted(set(force) - set(found))
    if unknown:
        raise InputError(
            f"--scene {', '.join(unknown)}: not among the {len(found)} scene(s) found with the "
            "current settings"
        )
    return [key for key in found if key in set(force)]


SUMMARY_KEY = TableIOManager.key_for(ndvi_summary.key, None)


def summary_is_behind(defs: Definitions, records: Sequence[SceneRecord]) -> bool:
    """Whether the stored summary is missing, unreadable, or lacks a row for a scene found
    (a run killed between its scenes and its summary)."""
    try:
        table = load_summary(defs)
    except (OSError, ValueError):
        return True
    return table is None or not {r.scene_key for r in records} <= set(table["scene_id"])


def scene_statuses(
    defs: Definitions, summary: pd.DataFrame | None, keys: Sequence[str]
) -> dict[str, str]:
    """The status of each of `keys`, scenes just materialized: their summary row's, or, for a
    scene the summary lacks (its run failed), its own statistics row's ("unknown" if that
    cannot be read either)."""
    in_summary = {} if summary is None else summary.set_index("scene_id")["status"].to_dict()
    statuses = {}
    for key in keys:
        if key not in in_summary:
            try:
                row = _load_table(defs, TableIOManager.key_for(scene_ndvi_stats.key, key))
            except (OSError, ValueError):
                row = None
            in_summary[key] = row["status"].iloc[0] if row is not None and len(row) else "unknown"
        statuses[key] = str(in_summary[key])
    return statuses


def load_summary(defs: Definitions) -> pd.DataFrame | None:
    """The summary table as stored, read the way its IO manager reads it (None if missing)."""
    return _load_table(defs, SUMMARY_KEY)


def load_field_timeseries(defs: Definitions) -> pd.DataFrame | None:
    """The fields' time series as stored (None if missing)."""
    return _load_table(defs, TableIOManager.key_for(field_timeseries.key, None))


def _load_table(defs: Definitions, key: str) -> pd.DataFrame | None:
    manager: TableIOManager = defs.resources["table_io_manager"]
    store = manager.storage.store()
    return manager.decode(store, key) if store.exists(key) else None


STATUS_LABELS = {
    SceneStatus.PROCESSED.value: "processed",
    SceneStatus.FILTERED_CLOUDY.value: "filtered for clouds",
    SceneStatus.NO_DATA.value: "no data over AOI",
}
"""The scene statuses a report always counts, in its order, with their labels."""


def format_counts(report: RunReport) -> list[str]:
    """The scenes found, split into those computed this run (by outcome) and those already
    up to date: each level adds up to the one above it."""
    outcomes = Counter(report.computed.values())
    labels = STATUS_LABELS | {FAILED: "failed"}
    labels |= {outcome: outcome.replace("_", " ") for outcome in sorted(outcomes.keys() - labels)}
    elsewhere = len(report.finished_elsewhere)
    return [
        f"  {'scenes found':<23}{len(report.found)}",
        f"  {'computed this run':<23}{len(report.computed)}",
        *(f"    {label:<21}{outcomes[outcome]}" for outcome, label in labels.items()),
        f"  {'already up to date':<23}{report.already_up_to_date}"
        + (f" ({elsewhere} of them computed by another run meanwhile)" if elsewhere else ""),
    ]


def format_report(report: RunReport, storage_uri: str) -> str:
    lines = ["", "Landsat scene pipeline", *format_counts(report)]
    table = report.summary
    if table is not None and len(table):
        statuses = table["status"].value_counts()
        counts = (f"{label} {statuses.get(status, 0)}" for status, label in STATUS_LABELS.items())
        lines.append("")
        lines.append(f"Every scene in the summary ({len(table)}): {', '.join(counts)}")
        if len(table) > SUMMARY_ROWS_SHOWN:
            lines.append(
                f"latest {SUMMARY_ROWS_SHOWN} of {len(table)} scenes "
                "(every scene: landsat-assets summary)"
            )
        lines.append(format_summary_table(table.tail(SUMMARY_ROWS_SHOWN)))
    if report.fields is not None:
        lines.append("")
        lines.append(format_field_block(report.fields))
    for problem in report.bad_items[:MAX_FAILURES_SHOWN]:
        lines.append(f"SKIPPED {problem}")
    failures = sorted(report.failures.items())
    for key, error in failures[:MAX_FAILURES_SHOWN]:
        lines.append(f"FAILED {key}: {error}")
    if len(failures) > MAX_FAILURES_SHOWN:
        lines.append(
            f"... and {len(failures) - MAX_FAILURES_SHOWN} more failed scene(s): "
            "see the runs in the Dagster UI"
        )
    lines.append("")
    lines.append(f"Outputs: {storage_uri}")
    return "\n".join(lines)


FIELDS_SHOWN = 30
"""A run prints this many fields; `landsat-assets fields` prints every row."""


def format_field_block(table: pd.DataFrame) -> str:
    """Per field: scenes processed, filtered for clouds and without data, and the mean NDVI of
    its latest processed scene."""
    if not len(table):
        return "Fields: no field row yet"
    per_field = []
    for field_id, rows in table.groupby("field_id", sort=True):
        statuses = rows["status"].value_counts()
        processed = rows[rows["status"] == "processed"]
        latest = (
            f"{processed['ndvi_mean'].iloc[-1]:+.3f} ({processed['datetime'].iloc[-1]:%Y-%m-%d})"
            if len(processed)
            else ""
        )
        per_field.append(
            {
                "field": field_id,
                "processed": int(statuses.get("processed", 0)),
                "cloudy": int(statuses.get("filtered_cloudy", 0)),
                "no data": int(statuses.get("no_data", 0)),
                "latest NDVI mean": latest,
            }
        )
    shown = pd.DataFrame(per_field)
    heading = f"Fields ({len(shown)}; every row: landsat-assets fields)"
    if len(shown) > FIELDS_SHOWN:
        heading = f"Fields (first {FIELDS_SHOWN} of {len(shown)}; every row: landsat-assets fields)"
    return heading + "\n" + shown.head(FIELDS_SHOWN).to_string(index=False)


def format_field_table(table: pd.DataFrame) -> str:
    return _readable(
        table, ["field_id", "scene_id", "datetime", "clear_fraction", "ndvi_mean", "status"]
    )


def format_summary_table(table: pd.DataFrame) -> str:
    return _readable(
        table, ["scene_id", "datetime", "platform", "aoi_clear_fraction", "ndvi_mean", "status"]
    )


def _readable(table: pd.DataFrame, columns: list[str]) -> str:
    """`columns` of `table` as text: dates as days, fractions as percentages, NDVI signed to
    three decimals, missing values blank."""
    shown = table[columns].copy()
    shown["datetime"] = shown["datetime"].dt.strftime("%Y-%m-%d")
    for column in columns:
        if column.endswith("fraction"):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.0%}")
        elif column.startswith("ndvi_"):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:+.3f}")
    return shown.to_string(index=False)
