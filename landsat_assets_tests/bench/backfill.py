"""Backfill overhead: every demo scene materialized through Dagster (the main job's runs of
`LANDSAT_SCENES_PER_RUN` partitions, as a multi-run backfill policy makes them) against a
plain Python loop calling the same processing functions on the same scenes."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import DagsterInstance, Definitions
from dagster._core.instance.ref import InstanceRef

from landsat_assets.definitions import build_definitions
from landsat_assets.demo.catalog import build_demo_catalog
from landsat_assets.resources.imagery import ImagerySource
from landsat_assets.runner import run_pipeline
from landsat_assets.science.bands import extract_scene_bands
from landsat_assets.science.blocks import BandSource, default_readers
from landsat_assets.science.masks import write_cloud_mask
from landsat_assets.science.ndvi import write_ndvi
from landsat_assets.science.summary import stats_row, summarize, summary_plot
from landsat_assets.settings import Settings, resolve_aoi
from landsat_assets.stac.scene import SCENE_BANDS, SceneRecord
from landsat_assets_tests.bench import verdict
from landsat_assets_tests.support.deployment import dagster_home

TARGET_RATIO = 1.5
MIN_CLEAR_FRACTION = 0.2


def plain_loop(records: list[SceneRecord], out: Path, aoi_spec: str | None = None) -> None:
    """What a script would do to make the same products: for each scene its normalized
    record, band extract, cloud mask, NDVI and statistics row, then the summary table and
    the plot, through the same functions the assets call. What it leaves out is what
    Dagster adds: runs, events, partition status, and the previews shown in the UI.

    `aoi_spec` is read as `LANDSAT_AOI` is (unset: the demo AOI)."""
    area = resolve_aoi(aoi_spec)
    aoi = None if area is None else area.to_geojson()
    rows = []
    for record in records:
        key = record.scene_key
        (out / f"{key}.json").write_text(
            json.dumps(record.to_json_dict(), indent=2, sort_keys=True)
        )
        rows.append(scene_row(record, out, aoi))
        rows[-1].to_parquet(out / f"{key}_stats.parquet", index=False)
    table = summarize(rows)
    table.to_parquet(out / "ndvi_summary.parquet", index=False)
    (out / "ndvi_timeseries_plot.png").write_bytes(summary_plot(table))


def scene_row(record: SceneRecord, out: Path, aoi: dict[str, Any] | None) -> pd.DataFrame:
    key = record.scene_key
    bands = out / f"{key}_bands.tif"
    hrefs = {role: record.bands[role].href for role in SCENE_BANDS}
    scales = {role: (record.bands[role].scale, record.bands[role].offset) for role in SCENE_BANDS}
    # The GDAL settings and reader threads `scene_bands` reads with by default.
    with ImagerySource().gdal_env():
        extract = extract_scene_bands(
            key,
            hrefs,
            bands,
            aoi_wgs84=aoi,
            scales=scales,
            workers=default_readers(hrefs["red"]),
        )
    if extract is None:
        return stats_row(record, status="no_data")
    mask = write_cloud_mask(key, BandSource(str(bands), 3), out / f"{key}_mask.tif")
    fractions = {"clear_fraction": mask.clear_fraction, "cloud_fraction": mask.cloud_fraction}
    if mask.counts.valid_pixels == 0:
        return stats_row(record, status="no_data", **fractions)
    if mask.clear_fraction < MIN_CLEAR_FRACTION:
        return stats_row(record, status="filtered_cloudy", **fractions)
    result = write_ndvi(
        key,
        BandSource(str(bands), 1),
        BandSource(str(bands), 2),
        BandSource(str(bands), 3),
        out / f"{key}_ndvi.tif",
        red_scale=scales["red"],
        nir_scale=scales["nir08"],
    )
    return stats_row(record, status=result.status, statistics=result.statistics, **fractions)


@dataclass(frozen=True)
class BackfillTiming:
    dagster_seconds: list[float]
    loop_seconds: list[float]
    scenes: int
    scenes_per_run: int
    same_summary: bool
    """The Dagster summary table equals the loop's, value for value: the same work was done."""

    @property
    def ratio(self) -> float:
        return statistics.median(self.dagster_seconds) / statistics.median(self.loop_seconds)


def demo_catalog(work: Path) -> Path:
    """The default demo catalog (48 scenes) under `work`, built on first use."""
    catalog = work / "demo-catalog" / "catalog.json"
    if not catalog.exists():
        build_demo_catalog(catalog.parent)
    return catalog


def pipeline_env(catalog: Path, storage: Path, aoi_spec: str | None = None) -> dict[str, str]:
    """The settings of a run of `catalog` into `storage`, with the sensors stopped."""
    env = {
        "LANDSAT_STAC_URL": str(catalog),
        "LANDSAT_STORAGE": str(storage),
        "LANDSAT_SENSOR_STATUS": "stopped",
        "LANDSAT_AUTOMATION_STATUS": "stopped",
    }
    if aoi_spec is not None:
        env["LANDSAT_AOI"] = aoi_spec
    return env


def timed_pipeline(
    defs: Definitions, home: Path, scenes_per_run: int
) -> tuple[float, pd.DataFrame]:
    """Seconds `run_pipeline` takes on a new instance in `home` configured like `make demo`
    (the repository's dagster.yaml), and the summary it made."""
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home(home)))) as instance:
        started = time.perf_counter()
        report = run_pipeline(
            instance, defs, scenes_per_run=scenes_per_run, echo=lambda _line: None
        )
        seconds = time.perf_counter() - started
    if not report.ok or report.summary is None:
        raise RuntimeError(f"the Dagster run failed: {report.failures}")
    return seconds, report.summary


def timed_loop(
    records: list[SceneRecord], out: Path, aoi_spec: str | None = None
) -> tuple[float, pd.DataFrame]:
    """Seconds `plain_loop` takes writing into the new folder `out`, and its summary."""
    out.mkdir()
    started = time.perf_counter()
    plain_loop(records, out, aoi_spec)
    seconds = time.perf_counter() - started
    return seconds, pd.read_parquet(out / "ndvi_summary.parquet")


def measure_backfill_overhead(
    work: Path, scenes_per_run: int = Settings().scenes_per_run, rounds: int = 2
) -> BackfillTiming:
    """Time the plain loop and the Dagster runs, alternating, `rounds` times each, on the
    default demo catalog; every Dagster round starts from a new instance and empty storage
    configured like `make demo` (the repository's dagster.yaml)."""
    catalog = demo_catalog(work)
    dagster_seconds: list[float] = []
    loop_seconds: list[float] = []
    same_summary = True
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        scratch_dir = Path(scratch)
        records: list[SceneRecord] = []
        # Imports the loop would otherwise pay alone (pyarrow, the plot), outside the timing.
        warm_up = scratch_dir / "warm-up"
        warm_up.mkdir()
        for round_number in range(rounds):
            defs = build_definitions(pipeline_env(catalog, scratch_dir / f"storage-{round_number}"))
            records = defs.resources["catalog"].search()
            if round_number == 0:
                plain_loop(records[:2], warm_up)
            seconds, loop_table = timed_loop(records, scratch_dir / f"loop-{round_number}")
            loop_seconds.append(seconds)
            seconds, summary = timed_pipeline(
                defs, scratch_dir / f"home-{round_number}", scenes_per_run
            )
            dagster_seconds.append(seconds)
            same_summary &= summary.equals(loop_table)
    return BackfillTiming(dagster_seconds, loop_seconds, len(records), scenes_per_run, same_summary)


def times_line(label: str, seconds: list[float]) -> str:
    """`label`, the median and every round's time, as the backfill reports print them."""
    return (
        f"  {label:52s}{statistics.median(seconds):6.1f} s"
        f"  ({', '.join(f'{s:.1f}' for s in seconds)})"
    )


def report_backfill(timing: BackfillTiming) -> bool:
    """Print the figures and the target; True when both paths made the same summary."""
    print(
        f"\nbackfill overhead ({timing.scenes} demo scenes, 1000 px, runs of "
        f"{timing.scenes_per_run} partitions, medians of {len(timing.loop_seconds)} "
        "alternating rounds):"
    )
    print(times_line("plain Python loop writing the same products:", timing.loop_seconds))
    print(times_line("through Dagster (runs, events, previews, summary):", timing.dagster_seconds))
    print(
        "  summary tables equal: "
        f"{'yes' if timing.same_summary else 'NO: the two paths computed different results'}"
    )
    holds = timing.ratio <= TARGET_RATIO
    print(f"| Dagster / plain loop | {timing.ratio:.2f} | <= {TARGET_RATIO} | {verdict(holds)} |")
    return timing.same_summary
