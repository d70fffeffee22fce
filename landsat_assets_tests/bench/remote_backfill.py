"""Backfill overhead on a realistic workload (issue 15, item 5): a 10 km AOI cut from
full-size scenes read over HTTP from `range_server.py` with 30 ms added to every request,
what a user reading a cloud archive sees. Dagster (`run_pipeline` on a new instance) against
the plain loop of `backfill.py`, on the same scenes, the same AOI and the same GDAL
settings and reader threads, in alternating rounds.

The scenes are catalog items of distinct ids and dates whose bands are all the files of the
one cached full-size bench scene (run.py). Each side and round serves them under URLs of its
own (a hard link per scene and band in a new folder, its own server): GDAL's caches key on
the URL and last as long as the process, so neither side, round or scene reads from what an
earlier one cached, and every scene pays its requests, as distinct scenes of an archive do.

Usage: python -m landsat_assets_tests.bench.remote_backfill [--scenes N] [--rounds N]
       [--delay-ms MS]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import rasterio

from landsat_assets.definitions import build_definitions
from landsat_assets.demo.catalog import build_demo_catalog
from landsat_assets.settings import Settings
from landsat_assets.stac.scene import SCENE_BANDS
from landsat_assets_tests.bench import verdict
from landsat_assets_tests.bench.backfill import (
    pipeline_env,
    timed_loop,
    timed_pipeline,
    times_line,
)
from landsat_assets_tests.bench.range_server import Traffic, serve_directory
from landsat_assets_tests.bench.sensor_scale import many_items
from landsat_assets_tests.support.catalogs import catalog_of_items
from landsat_assets_tests.support.stac_api import catalog_item_dicts

if TYPE_CHECKING:
    from landsat_assets_tests.bench.run import Scene

TARGET_RATIO = 1.2
DELAY_S = 0.030
SCENES = 6
ROUNDS = 3
BANDS = SCENE_BANDS
"""What both sides read: the items name no other band (an item with QA_RADSAT would make
`scene_bands` read it too, and the loop does not)."""
WRS_PATH = "033"
"""The bench scene's path (run.PRODUCT_ID); the items are demo items of that path/row."""


def scene_bands(scene: Scene) -> dict[str, Path]:
    """The bench scene's band files by role."""
    return dict(zip(BANDS, (scene.red, scene.nir, scene.qa), strict=True))


DAGSTER, LOOP = "dagster", "loop"
SIDES = (DAGSTER, LOOP)
"""The two sides, in the order each round runs them."""


@dataclass(frozen=True)
class SideRound:
    """One side's round: its time, its summary table and what its server sent."""

    seconds: float
    summary: pd.DataFrame
    traffic: Traffic

    @property
    def requests(self) -> int:
        return len(self.traffic.requests)


@dataclass(frozen=True)
class RemoteTiming:
    dagster: list[SideRound]
    loop: list[SideRound]
    scenes: int
    delay_s: float
    scenes_per_run: int

    @property
    def ratio(self) -> float:
        return statistics.median(r.seconds for r in self.dagster) / statistics.median(
            r.seconds for r in self.loop
        )

    @property
    def same_summary(self) -> bool:
        """Every Dagster summary table equals the loop's of its round, value for value."""
        return all(
            d.summary.equals(p.summary) for d, p in zip(self.dagster, self.loop, strict=True)
        )


def archive_catalog(
    folder: Path,
    template: Path,
    bands: Mapping[str, Path],
    server_url: str,
    scenes: int,
) -> Path:
    """A static catalog in `folder`/catalog of `scenes` daily acquisitions made from the
    template catalog's item of `WRS_PATH`, each naming `bands` (role -> file) by URLs of its
    own under `server_url`, which serves `folder`/archive: a hard link per item and band
    there (no copy). Returns its catalog.json."""
    (template_item,) = (
        item
        for item in catalog_item_dicts(template)
        if item["properties"]["landsat:wrs_path"] == WRS_PATH
    )
    with rasterio.open(bands["red"]) as red:
        shape, transform = [red.height, red.width], list(red.transform)[:6]
    items = many_items([template_item], scenes)
    for item in items:
        served = folder / "archive" / item["id"]
        served.mkdir(parents=True)
        for role in BANDS:
            os.link(bands[role], served / bands[role].name)
        item["assets"] = {
            role: {
                **item["assets"][role],
                "href": f"{server_url}/{item['id']}/{bands[role].name}",
            }
            for role in BANDS
        }
        item["properties"]["proj:shape"] = shape
        item["properties"]["proj:transform"] = transform
    return catalog_of_items(template, folder / "catalog", items)


def side_round(
    side: str,
    folder: Path,
    template: Path,
    bands: Mapping[str, Path],
    aoi_spec: str,
    *,
    scenes: int,
    delay_s: float,
    scenes_per_run: int,
) -> SideRound:
    """One timed round of `side` (`DAGSTER` or `LOOP`) in the new folder `folder`, reading
    from its own server."""
    (folder / "archive").mkdir(parents=True)
    with serve_directory(folder / "archive", delay_s) as server:
        catalog = archive_catalog(folder, template, bands, server.url, scenes)
        defs = build_definitions(pipeline_env(catalog, folder / "storage", aoi_spec))
        if side == DAGSTER:
            seconds, summary = timed_pipeline(defs, folder / "home", scenes_per_run)
        else:
            records = defs.resources["catalog"].search()
            seconds, summary = timed_loop(records, folder / "loop", aoi_spec)
        traffic = server.traffic
    return SideRound(seconds, summary, traffic)


def measure_remote_backfill(
    work: Path,
    bands: Mapping[str, Path],
    aoi: Mapping[str, Any],
    *,
    scenes: int = SCENES,
    rounds: int = ROUNDS,
    delay_s: float = DELAY_S,
    scenes_per_run: int = Settings().scenes_per_run,
    warm_up: bool = True,
) -> RemoteTiming:
    """Rounds of Dagster then the loop, each over `scenes` scenes whose bands are `bands`
    (role -> file) served with `delay_s` per request, cut to `aoi` (WGS84 GeoJSON geometry).
    With `warm_up`, each side first processes one scene untimed, so that neither pays the
    process's first imports and GDAL's start-up in a timed round."""
    sides: dict[str, list[SideRound]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        scratch_dir = Path(scratch)
        template = build_demo_catalog(scratch_dir / "template", size=64, dates=1)
        aoi_path = scratch_dir / "aoi.geojson"
        aoi_path.write_text(json.dumps(aoi))
        common = {"delay_s": delay_s, "scenes_per_run": scenes_per_run}
        if warm_up:
            for side in SIDES:
                folder = scratch_dir / f"warm-up-{side}"
                side_round(side, folder, template, bands, str(aoi_path), scenes=1, **common)
        for round_number in range(rounds):
            for side in SIDES:
                folder = scratch_dir / f"{side}-{round_number}"
                sides[side].append(
                    side_round(
                        side, folder, template, bands, str(aoi_path), scenes=scenes, **common
                    )
                )
    return RemoteTiming(sides[DAGSTER], sides[LOOP], scenes, delay_s, scenes_per_run)


def _traffic_line(label: str, rounds: Sequence[SideRound]) -> str:
    requests = ", ".join(str(r.requests) for r in rounds)
    served = ", ".join(f"{r.traffic.body_bytes:,}" for r in rounds)
    return f"  {label}: {requests} requests, {served} bytes served (per round)"


def report_remote_backfill(timing: RemoteTiming) -> bool:
    """Print the figures and the target; True when both sides made the same summaries."""
    print(
        f"\nbackfill overhead, realistic workload ({timing.scenes} full-size scenes over HTTP, "
        f"{timing.delay_s * 1000:g} ms added per request, 10 km AOI, runs of "
        f"{timing.scenes_per_run} partitions, medians of {len(timing.loop)} alternating rounds):"
    )
    print(
        "  (the scenes are distinct items whose bands are the files of the one bench scene, "
        "under URLs of their own per scene, side and round: no GDAL cache carries over)"
    )
    print(
        times_line("plain Python loop writing the same products:", [r.seconds for r in timing.loop])
    )
    print(
        times_line(
            "through Dagster (runs, events, previews, summary):",
            [r.seconds for r in timing.dagster],
        )
    )
    print(_traffic_line("Dagster", timing.dagster))
    print(_traffic_line("loop   ", timing.loop))
    statuses = timing.loop[-1].summary["status"].value_counts().to_dict()
    print(
        "  scene statuses: "
        + ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    )
    print(
        "  summary tables equal: "
        f"{'yes' if timing.same_summary else 'NO: the two sides computed different results'}"
    )
    holds = timing.ratio <= TARGET_RATIO
    print(
        f"| Dagster / plain loop, 10 km AOI over HTTP | {timing.ratio:.2f} | <= {TARGET_RATIO} |"
        f" {verdict(holds)} |"
    )
    return timing.same_summary


def load_line(when: str) -> str:
    return f"load average {when}: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"


def main(argv: Sequence[str] | None = None) -> int:
    # Imported here: run.py imports this module to wire it into `make bench`.
    from landsat_assets_tests.bench import run as bench

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=SCENES, help="scenes per round")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per side")
    parser.add_argument(
        "--delay-ms", type=float, default=DELAY_S * 1000, help="added to every HTTP request"
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")
    bench.OUT_DIR.mkdir(parents=True, exist_ok=True)
    scene = bench.ensure_textured_scene(bench.ensure_scene())
    print(load_line("before"), flush=True)
    timing = measure_remote_backfill(
        bench.OUT_DIR,
        scene_bands(scene),
        bench.aoi_geometry(scene),
        scenes=args.scenes,
        rounds=args.rounds,
        delay_s=args.delay_ms / 1000,
    )
    correct = report_remote_backfill(timing)
    print(load_line("after"))
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
