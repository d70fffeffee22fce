"""What every per-scene asset shares: partitions, retries, UI metadata."""

import base64
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Backoff,
    Failure,
    Jitter,
    MetadataValue,
    RetryPolicy,
)

from landsat_assets.errors import InputError, StorageError
from landsat_assets.io_managers.products import (
    ProductIOManager,
    SceneRecordIOManager,
    StagedFile,
    product_uri,
)
from landsat_assets.partitions import landsat_scenes
from landsat_assets.resources.storage import LandsatStorage
from landsat_assets.science.cog import naming_a_full_disk
from landsat_assets.science.summary import significant
from landsat_assets.stac.scene import SceneRecord

per_scene = {"partitions_def": landsat_scenes}
"""Per-scene assets are partitioned by scene. Their backfill policy (LANDSAT_SCENES_PER_RUN
partitions per run) is attached by `definitions.build_definitions`, from the settings."""

imagery_retry_policy = RetryPolicy(
    max_retries=2, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)
"""Remote archives fail transiently; retried steps rewrite whole objects, never append."""

IMAGERY_POOL = "landsat_imagery"


VERSION_METADATA = "version"
"""Metadata holding the scene's USGS processing version; `landsat_scene`'s is the one the
up-to-date rule reads (scene_versions.py, freshness.py)."""


def rounded(value: float | int | None, digits: int = 4) -> MetadataValue:
    """A number for people: `digits` significant digits (NaN when absent)."""
    number = significant(value, digits)
    return MetadataValue.float(float("nan") if number is None else number)


def scene_facts(record: SceneRecord) -> dict[str, Any]:
    """What a person wants to know first about the scene of `landsat_scene`: when, which
    satellite, where, how cloudy USGS found it and which USGS processing, one entry each."""
    return {
        "acquired": MetadataValue.timestamp(record.datetime),
        "platform": record.platform,
        "wrs_path_row": f"{record.wrs_path}/{record.wrs_row}",
        "scene_cloud_cover": rounded(record.cloud_cover, 3),
        VERSION_METADATA: record.version,
    }


SCENE_METADATA = "scene"
"""Metadata of every other per-scene product: the scene's facts in one line of text."""


def scene_line(record: SceneRecord) -> dict[str, str]:
    """The facts of `scene_facts` as one entry, for the other per-scene products: one entry
    instead of five keeps each event about 0.4 KB smaller (the event log is stored)."""
    cover = significant(record.cloud_cover, 3)
    return {
        SCENE_METADATA: f"{record.datetime:%Y-%m-%d %H:%M} UTC, {record.platform}, "
        f"path/row {record.wrs_path}/{record.wrs_row}, scene cloud cover "
        f"{'unknown' if cover is None else f'{cover:g} %'}, USGS processing {record.version}"
    }


def stored_scene_record(storage: LandsatStorage, key: str) -> SceneRecord | None:
    """The scene's stored `landsat_scene` record (None when it is not stored), for the
    products that do not take it as an input: reading it costs one small JSON file."""
    records = SceneRecordIOManager(storage=storage)
    store = storage.store()
    path = records.key_for(AssetKey("landsat_scene"), key)
    if not store.exists(path):
        return None
    try:
        return records.decode(store, path)
    except (OSError, ValueError):
        return None


def stored_scene_line(storage: LandsatStorage, key: str) -> dict[str, str]:
    """`scene_line` of the stored record of scene `key`; none when it cannot be read."""
    record = stored_scene_record(storage, key)
    return {} if record is None else scene_line(record)


def png_markdown(png: bytes, alt: str) -> MetadataValue:
    """An inline image for the UI: the PNG travels inside the event, so keep it small."""
    return MetadataValue.md(image_markdown(png, alt))


def image_markdown(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


STORAGE_METADATA = "storage"
"""Materialization metadata linking the product written (absent: no product was written):
freshness.py compares it with where the current storage keeps the product."""


def stored_at(
    storage: LandsatStorage,
    manager: type[ProductIOManager],
    asset_key: AssetKey,
    partition: str | None = None,
    *,
    staged: Path | None = None,
) -> dict[str, MetadataValue]:
    """The metadata entries linking the product of `asset_key` (one partition of it) where
    `manager` lays it out in `storage`, and, for a product the asset staged itself (every
    per-scene product), its size: what freshness.py compares with the storage of
    today."""
    link = {STORAGE_METADATA: storage_link(product_uri(storage, manager, asset_key, partition))}
    if staged is None:
        return link
    return link | {SIZE_METADATA: MetadataValue.int(staged.stat().st_size)}


def staged_product(
    storage: LandsatStorage, manager: type[ProductIOManager], value: Any
) -> StagedFile:
    """`value` written as `manager` writes it, by the asset itself, so that its size can be
    recorded (`stored_at(staged=...)`); the IO manager then only publishes it."""
    staging = storage.store().staging_dir()
    with naming_a_full_disk(staging):
        return StagedFile(manager(storage=storage).encode(value, staging))


SIZE_METADATA = "bytes"
"""Metadata entry: the size of a product the asset staged itself (its rasters)."""


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
    """A bad item or band file, or a storage that cannot take the product (a full disk), fails
    the step at once: retrying cannot repair it."""
    try:
        yield
    except (InputError, StorageError) as error:
        raise Failure(description=str(error), allow_retries=False) from error
