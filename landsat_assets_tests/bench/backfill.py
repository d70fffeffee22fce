"""Backfill overhead: every demo scene materialized through Dagster (the main job's runs of
`LANDSAT_SCENES_PER_RUN` partitions, as a multi-run backfill policy makes them) against a
plain Python loop calling the same processing functions on the same scenes."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from dagster import DagsterInstance

from landsat_assets.definitions import build_definitions
from landsat_assets.demo import DEMO_AOI_PATH
from landsat_assets.demo.catalog import build_demo_catalog
from landsat_assets.runner import run_pipeline
from landsat_assets.science.blocks import BandSource
from landsat_assets.science.processing import (
    BAND_ORDER,
    extract_scene_bands,
    write_cloud_mask,
    write_ndvi,
)
from landsat_assets.stac.aoi import load_aoi
from landsat_assets.stac.scene import SceneRecord

TARGET_RATIO = 1.5
MIN_CLEAR_FRACTION = 0.2


def plain_loop(records: list[SceneRecord], out: Path) -> None:
    """What a script would do: band extract, cloud mask, NDVI for each scene, nothing else."""
    aoi = load_aoi(str(DEMO_AOI_PATH)).to_geojson()
    for record in records:
        key = record.scene_key
        bands = out / f"{key}_bands.tif"
        hrefs = {role: record.bands[role].href for role in BAND_ORDER}
        if extract_scene_bands(key, hrefs, bands, aoi_wgs84=aoi) is None:
            continue
        mask = write_cloud_mask(key, BandSource(str(bands), 3), out / f"{key}_mask.tif")
        if mask.clear_fraction < MIN_CLEAR_FRACTION:
            continue
        scale = (record.bands["red"].scale, record.bands["red"].offset)
        write_ndvi(
            key,
            BandSource(str(bands), 1),
            BandSource(str(bands), 2),
            BandSource(str(bands), 3),
            out / f"{key}_ndvi.tif",
            red_scale=scale,
            nir_scale=scale,
        )


def measure_backfill_overhead(work: Path, scenes_per_run: int = 10) -> tuple[float, float, int]:
    """(Dagster seconds, plain-loop seconds, scene count) on the default demo catalog."""
    catalog = work / "demo-catalog" / "catalog.json"
    if not catalog.exists():
        build_demo_catalog(catalog.parent)
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        scratch_dir = Path(scratch)
        env = {
            "LANDSAT_STAC_URL": str(catalog),
            "LANDSAT_STORAGE": str(scratch_dir / "storage"),
            "LANDSAT_SENSOR_STATUS": "stopped",
            "LANDSAT_AUTOMATION_STATUS": "stopped",
        }
        defs = build_definitions(env)
        records = defs.resources["catalog"].search()
        loop_dir = scratch_dir / "loop"
        loop_dir.mkdir()
        started = time.perf_counter()
        plain_loop(records, loop_dir)
        loop_seconds = time.perf_counter() - started
        home = scratch_dir / "home"
        home.mkdir()
        with DagsterInstance.local_temp(str(home)) as instance:
            started = time.perf_counter()
            report = run_pipeline(
                instance, defs, scenes_per_run=scenes_per_run, echo=lambda _line: None
            )
            dagster_seconds = time.perf_counter() - started
        if not report.ok:
            raise RuntimeError(f"the Dagster run failed: {report.failures}")
    return dagster_seconds, loop_seconds, len(records)


def report_backfill(dagster_seconds: float, loop_seconds: float, scenes: int) -> None:
    ratio = dagster_seconds / loop_seconds
    print(f"\nbackfill overhead ({scenes} demo scenes, 1000 px, runs of 10 partitions):")
    print(f"  plain Python loop over the processing functions: {loop_seconds:6.1f} s")
    print(f"  through Dagster (runs, IO managers, previews, summary): {dagster_seconds:6.1f} s")
    holds = ratio <= TARGET_RATIO
    print(
        f"| Dagster / plain loop | {ratio:.2f} | <= {TARGET_RATIO} | {'PASS' if holds else 'FAIL'} |"
    )
