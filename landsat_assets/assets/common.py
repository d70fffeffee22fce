"""What every per-scene asset shares: partitions, backfill policy, retries, UI metadata."""

import base64
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Backoff,
    Failure,
    Jitter,
    MetadataValue,
    RetryPolicy,
)

from landsat_assets.partitions import landsat_scenes
from landsat_assets.science.processing import SceneInputError
from landsat_assets.stac.normalize import ItemError

SCENES_PER_RUN = int(os.environ.get("LANDSAT_SCENES_PER_RUN", "10"))
"""Partitions one backfill run covers: bounded runs, and a failure costs at most one batch."""

per_scene = {
    "partitions_def": landsat_scenes,
    "backfill_policy": BackfillPolicy.multi_run(max_partitions_per_run=SCENES_PER_RUN),
}

imagery_retry_policy = RetryPolicy(
    max_retries=2, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)
"""Remote archives fail transiently; retried steps rewrite whole objects, never append."""

IMAGERY_POOL = "landsat_imagery"


def png_markdown(png: bytes, alt: str, legend: bytes | None = None) -> MetadataValue:
    """An inline image for the UI (the PNG travels inside the event, not as a file), with an
    optional legend image beside it."""
    images = [(png, alt), *([(legend, "legend")] if legend else [])]
    return MetadataValue.md(
        " ".join(
            f"![{label}](data:image/png;base64,{base64.b64encode(data).decode('ascii')})"
            for data, label in images
        )
    )


def storage_link(uri: str) -> MetadataValue:
    if uri.startswith("s3://"):
        return MetadataValue.url(uri)
    return MetadataValue.path(str(Path(uri)))


PROGRESS_INTERVAL_S = 5.0
"""Block progress goes to the run log at most this often. Every log line is an event that
Dagster writes to the instance's database: logging each tenth of the work cost 128 writes
for 48 demo scenes that take 50 ms each. Now only work that runs long reports progress."""


def progress_logger(
    context: AssetExecutionContext,
    what: str,
    scene: str,
    *,
    clock: Callable[[], float] = time.monotonic,
    interval_s: float = PROGRESS_INTERVAL_S,
) -> Callable[[int, int], None]:
    """Log block progress every `interval_s` seconds, and the last block of work that has
    logged progress before, so long reads show in the run log and short ones stay quiet."""
    last_logged = started = clock()

    def report(done: int, total: int) -> None:
        nonlocal last_logged
        now = clock()
        finished_after_logging = done == total and last_logged != started
        if now - last_logged >= interval_s or finished_after_logging:
            last_logged = now
            context.log.info(f"{scene}: {what} {done}/{total} blocks ({100 * done // total}%)")

    return report


@contextlib.contextmanager
def permanent_scene_errors() -> Iterator[None]:
    """A bad item or band file fails the step at once: retrying cannot repair it."""
    try:
        yield
    except (SceneInputError, ItemError, LookupError) as error:
        raise Failure(description=str(error), allow_retries=False) from error
