"""Per-field statistics on a full-size scene: 1,000 fields covering the scene, against the
scene's NDVI alone (`landsat-assets ndvi`), wall time and peak memory of each in its own
process. Run by `make bench`, or alone: `python -m landsat_assets_tests.bench.fields`.

Target (issue 16): the fields cost at most 1.2 x the NDVI alone, with bounded memory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from landsat_assets.science.spill import DEFAULT_BUDGET_BYTES
from landsat_assets.stac.scene import USGS_SR_OFFSET, USGS_SR_SCALE

if TYPE_CHECKING:
    from landsat_assets_tests.bench.run import Measurement, Scene

FIELDS_PER_SIDE = 32
"""32 x 32 = 1,024 square fields over the middle 80 % of the scene."""
TARGET_RATIO = 1.2
PEAK_RSS_TARGET = 0.6e9
"""Bounded, whatever the fields' area: the NDVI command's own 0.3 GB, the values budget
(`spill.DEFAULT_BUDGET_BYTES`) and the free heap the allocator keeps for the next blocks
(`allocator.TRIM_THRESHOLD_BYTES`). Before the budget and the label blocks, 1,024 fields
over the scene peaked at 0.88 GB, growing with their clear area."""


def write_grid_fields(scene: Scene, path: Path, per_side: int = FIELDS_PER_SIDE) -> int:
    import rasterio
    from rasterio.warp import transform_geom
    from shapely.geometry import box, mapping

    with rasterio.open(scene.red) as src:
        left, bottom, right, top = src.bounds
        crs = src.crs
    width, height = (right - left) * 0.8, (top - bottom) * 0.8
    x0, y0 = left + (right - left) * 0.1, bottom + (top - bottom) * 0.1
    step_x, step_y = width / per_side, height / per_side
    features = []
    for i in range(per_side):
        for j in range(per_side):
            square = box(
                x0 + i * step_x, y0 + j * step_y, x0 + (i + 1) * step_x, y0 + (j + 1) * step_y
            )
            features.append(
                {
                    "type": "Feature",
                    "properties": {"id": f"f{i:02d}-{j:02d}"},
                    "geometry": transform_geom(crs, "EPSG:4326", mapping(square)),
                }
            )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return len(features)


def run_fields(paths: Sequence[str], fields_path: str) -> None:
    """The measured work: every field's statistics over the scene (no output file). Its
    process loads what the NDVI command loads for local files, rasterio without boto3
    (`science.remote`), so that the two are compared on their work: with boto3 the fields
    paid 0.2-0.3 s more to start."""
    from landsat_assets.science.remote import import_rasterio_for_local_files

    import_rasterio_for_local_files()
    from landsat_assets.fields import load_fields
    from landsat_assets.science.blocks import BandSource, ScaledBand
    from landsat_assets.science.zonal import field_statistics

    red, nir, qa_pixel = paths
    fields = load_fields(fields_path)
    usgs = (USGS_SR_SCALE, USGS_SR_OFFSET)
    results = field_statistics(
        "bench",
        {"red": ScaledBand(BandSource(red), usgs), "nir08": ScaledBand(BandSource(nir), usgs)},
        BandSource(qa_pixel),
        [f.geometry for f in fields.fields],
    )
    processed = sum(r.verdict.status.value == "processed" for r in results)
    print(f"{len(results)} fields, {processed} processed")


def measure_fields(repeat: int = 2) -> tuple[list[Measurement], list[Measurement], int]:
    # Imported here: the measured `--run` process must not pay for Dagster's import, which
    # the bench's other parts need and the NDVI command does not load either.
    from landsat_assets_tests.bench.run import OUT_DIR, ensure_scene, measure

    scene = ensure_scene()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    fields_path = OUT_DIR / "bench-fields.geojson"
    count = write_grid_fields(scene, fields_path)
    venv_bin = Path(sys.executable).parent
    ndvi_command = [str(venv_bin / "landsat-assets"), "ndvi", *scene.paths, str(OUT_DIR / "f.tif")]
    fields_command = [
        sys.executable, "-m", "landsat_assets_tests.bench.fields",
        "--run", *scene.paths, str(fields_path),
    ]  # fmt: skip
    ndvi, fields = [], []
    for _ in range(repeat):
        ndvi.append(measure(ndvi_command, OUT_DIR / "fields-ndvi.log"))
        fields.append(measure(fields_command, OUT_DIR / "fields.log"))
    return ndvi, fields, count


def report_fields(ndvi: list[Measurement], fields: list[Measurement], count: int) -> bool:
    ndvi_wall = statistics.median(m.wall for m in ndvi)
    fields_wall = statistics.median(m.wall for m in fields)
    ratio = fields_wall / ndvi_wall
    peak = max(m.peak_rss for m in fields) / 1e9
    ndvi_peak = max(m.peak_rss for m in ndvi) / 1e9
    fast, bounded = ratio <= TARGET_RATIO, peak * 1e9 <= PEAK_RSS_TARGET
    print(f"\nper-field statistics, {count} fields over the full scene (median of {len(fields)}):")
    print(f"  NDVI alone (landsat-assets ndvi)   {ndvi_wall:6.2f} s   peak RSS {ndvi_peak:.2f} GB")
    print(f"  every field's NDVI statistics      {fields_wall:6.2f} s   peak RSS {peak:.2f} GB")
    print(f"  ratio {ratio:.2f} (target <= {TARGET_RATIO}): {'PASS' if fast else 'FAIL'}")
    print(
        f"  peak RSS {peak:.2f} GB (target <= {PEAK_RSS_TARGET / 1e9} GB; values beyond "
        f"{DEFAULT_BUDGET_BYTES >> 20} MB go to a scratch file): {'PASS' if bounded else 'FAIL'}"
    )
    return fast and bounded


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs=4, metavar=("RED", "NIR", "QA", "FIELDS"))
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    if args.run:
        run_fields(args.run[:3], args.run[3])
        return 0
    return 0 if report_fields(*measure_fields(args.repeat)) else 1


if __name__ == "__main__":
    sys.exit(main())
