"""`make bench`: the project's full-scene NDVI against `gdal_calc.py` and a naive numpy script.

Two full-size scenes (7,811 x 7,681 px, USGS layout) are generated once and cached under
`.bench/`: the demo generator's (smooth), and the same with the texture of real surface
reflectance added (`ensure_textured_scene`). On each, every method runs as its own process,
several times, interleaved so that load from other work on the machine falls on all of
them alike; wall time, CPU time (user + system) and peak RSS come from `os.wait4` in
`measure.py`, i.e. from the kernel's own accounting of that one child. The floor
(`floor.py`: the bare decode of the bands and encode of the output) runs in every round
right after the project. Medians are reported, and each target's ratio as the median of the
ratios of runs of the same round, with the targets of issue 17 and whether they hold.

Then a 10 km AOI is cut from the same scene served over HTTP by `range_server.py`, through
`extract_scene_bands` with the project's remote COG settings, and the bytes the server sent
are compared with the compressed size of the tiles under the AOI window plus the headers.

Then every demo scene goes through Dagster and through a plain loop (backfill overhead), and
so do a few full-size scenes read over HTTP with 30 ms per request for a 10 km AOI
(`remote_backfill.py`, the realistic workload); Dagster's own cost per scene is measured for
the shipped shape of five steps and for one multi-asset step (`step_shapes.py`); the scene
sensor ticks over 10,000 new items while the webserver answers the status of 10,000 partitions
(sensor and UI scale); per-field statistics; and the growth table of deployments of 100, 1,000
and 10,000 scenes (`growth.py`).

Usage: python -m landsat_assets_tests.bench.run [--repeat N] [--skip-aoi] [--skip-backfill]
       [--skip-remote-backfill] [--skip-shapes] [--skip-sensor] [--skip-fields] [--skip-growth]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
import rasterio.warp

import landsat_assets
from landsat_assets.demo import FULL_SCENE_SHAPE, write_scene_bands
from landsat_assets.demo.scenes import Regime, band_file_name
from landsat_assets.science.bands import extract_scene_bands
from landsat_assets.science.windows import block_windows
from landsat_assets.stac.scene import (
    USGS_SR_OFFSET,
    USGS_SR_SCALE,
    VALID_SR_DN_MAX,
    VALID_SR_DN_MIN,
)
from landsat_assets_tests.bench import fields, growth, remote_backfill, step_shapes, verdict
from landsat_assets_tests.bench.backfill import (
    demo_catalog,
    measure_backfill_overhead,
    report_backfill,
)
from landsat_assets_tests.bench.sensor_scale import (
    measure_partition_status,
    measure_tick_in_own_process,
    report_sensor_scale,
)
from landsat_assets_tests.support.paths import REPO_ROOT

BENCH_DIR = REPO_ROOT / ".bench"
SCENE_DIR = BENCH_DIR / "scene"
TEXTURED_SCENE_DIR = BENCH_DIR / "scene-textured"
OUT_DIR = BENCH_DIR / "out"
MEASURE_SCRIPT = Path(__file__).with_name("measure.py")

PRODUCT_ID = "LC08_L2SP_033032_20230805_20230812_02_T1"
"""A summer Landsat 8 overpass of 033/032: vegetation, water, snow-free mountains."""
ACQUIRED = datetime(2023, 8, 5, 17, 37, 27, tzinfo=UTC)
SEED = 0

SYSTEM_PYTHON = "/usr/bin/python3"
GDAL_CALC_INSTALL_HINT = (
    "gdal_calc.py not found: install Debian's GDAL tools with "
    "`sudo apt-get install -y gdal-bin python3-gdal` (it runs under /usr/bin/python3)"
)
GDAL_CALC_NODATA = -9999.0
"""gdal_calc.py's nodata: `--NoDataValue=nan` silently writes an all-NaN raster (GDAL 3.6)."""

WALL_RATIO_TARGET = 0.4
CPU_FLOOR_RATIO_TARGET = 1.3
PEAK_RSS_TARGET = 0.5e9
EQUALITY_TOLERANCE = 1e-6
AOI_SIDE_M = 10_000.0
AOI_CENTRE_PIXEL = (4096, 3584)
"""(row, col): a tile corner, so the 10 km AOI straddles four tiles per band (the worst case)."""
AOI_BYTES_RATIO_TARGET = 1.3


@dataclass(frozen=True)
class Scene:
    red: Path
    nir: Path
    qa: Path
    name: str = "smooth"

    @property
    def paths(self) -> list[str]:
        return [str(self.red), str(self.nir), str(self.qa)]


@dataclass(frozen=True)
class Measurement:
    wall: float
    cpu: float
    peak_rss: int
    """Bytes (the kernel's ru_maxrss of the child, which Linux reports in KiB)."""


@dataclass(frozen=True)
class Method:
    name: str
    output: Path
    command: Callable[[Scene, Path], list[str]]
    env: dict[str, str] | None = None


class BenchError(RuntimeError):
    pass


def ensure_scene() -> Scene:
    """The cached full-size scene, generated on first use (about 40 s and 3 GB of memory)."""
    scene = Scene(
        *(SCENE_DIR / band_file_name(PRODUCT_ID, band) for band in ("red", "nir08", "qa_pixel"))
    )
    marker = SCENE_DIR / "complete.json"
    expected = {"product_id": PRODUCT_ID, "seed": SEED, "shape": list(FULL_SCENE_SHAPE)}
    if marker.exists() and json.loads(marker.read_text()) == expected:
        return scene
    print(f"generating the full-size scene {PRODUCT_ID} into {SCENE_DIR} (once) ...", flush=True)
    shutil.rmtree(SCENE_DIR, ignore_errors=True)
    write_scene_bands(
        SCENE_DIR,
        PRODUCT_ID,
        size=FULL_SCENE_SHAPE,
        acquired=ACQUIRED,
        seed=SEED,
        regime=Regime.PARTLY,
    )
    marker.write_text(json.dumps(expected))
    return scene


TEXTURE_SEED = 17
TEXTURE = {"red": (0.10, 0.15), "nir08": (0.08, 0.12)}
"""Per band (per-pixel grain, sub-field structure): relative standard deviations of the two
multiplicative components added to the demo's surface reflectance. Real Landsat SR varies
by several per cent from one pixel to the next (median |DN difference| between neighbours
325-1,707 on the real scenes in ../shared/realworld against 28 on the demo scene), and
fields are not uniform: the texture brings the bench scene to that."""
TEXTURE_CELL_PX = 4
"""The sub-field structure's cell (pixels), smoothed by bilinear upsampling."""


def ensure_textured_scene(smooth: Scene) -> Scene:
    """The smooth scene with realistic texture added to red and NIR (deterministic, cached):
    what GDAL, the codecs and the statistics meet on real imagery. QA_PIXEL is the smooth
    scene's, so both scenes have the same clouds."""
    scene = Scene(
        *(TEXTURED_SCENE_DIR / path.name for path in (smooth.red, smooth.nir, smooth.qa)),
        name="textured",
    )
    marker = TEXTURED_SCENE_DIR / "complete.json"
    expected = {
        "from": smooth.red.name,
        "seed": TEXTURE_SEED,
        "texture": {band: list(values) for band, values in TEXTURE.items()},
        "cell": TEXTURE_CELL_PX,
    }
    if marker.exists() and json.loads(marker.read_text()) == expected:
        return scene
    print(f"adding texture to the bench scene into {TEXTURED_SCENE_DIR} (once) ...", flush=True)
    shutil.rmtree(TEXTURED_SCENE_DIR, ignore_errors=True)
    TEXTURED_SCENE_DIR.mkdir(parents=True)
    shutil.copyfile(smooth.qa, scene.qa)
    rng = np.random.default_rng(TEXTURE_SEED)
    with rasterio.open(smooth.red) as source:
        shape, profile = source.shape, source.profile
    structure = _smooth_noise(rng, shape, TEXTURE_CELL_PX)
    for band, source_path, out in (
        ("red", smooth.red, scene.red),
        ("nir08", smooth.nir, scene.nir),
    ):
        grain, amplitude = TEXTURE[band]
        with rasterio.open(source_path) as source:
            dn = source.read(1)
        reflectance = dn.astype(np.float32) * np.float32(USGS_SR_SCALE) + np.float32(USGS_SR_OFFSET)
        factor = np.float32(1) + np.float32(amplitude) * structure
        factor += np.float32(grain) * rng.standard_normal(shape, dtype=np.float32)
        reflectance *= factor
        del factor
        textured = np.rint((reflectance - np.float32(USGS_SR_OFFSET)) / np.float32(USGS_SR_SCALE))
        textured = np.clip(textured, VALID_SR_DN_MIN, VALID_SR_DN_MAX).astype(np.uint16)
        textured[dn == 0] = 0
        with rasterio.open(
            out,
            "w",
            driver="COG",
            **{k: profile[k] for k in ("width", "height", "count", "dtype", "crs", "transform")},
            nodata=profile["nodata"],
            compress="DEFLATE",
            predictor=2,
            blocksize=512,
            overviews="AUTO",
            resampling="NEAREST",
            num_threads="ALL_CPUS",
        ) as dst:
            dst.write(textured, 1)
    marker.write_text(json.dumps(expected))
    return scene


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Unit-variance noise correlated over about `cell` pixels (bilinear upsampling of a
    coarse grid), float32."""
    rows, cols = shape
    coarse = rng.standard_normal((rows // cell + 2, cols // cell + 2), dtype=np.float32)
    y = np.arange(rows, dtype=np.float32) / cell
    x = np.arange(cols, dtype=np.float32) / cell
    y0, x0 = y.astype(np.int64), x.astype(np.int64)
    wy, wx = (y - y0)[:, None], (x - x0)[None, :]
    top = coarse[y0][:, x0] * (1 - wx) + coarse[y0][:, x0 + 1] * wx
    bottom = coarse[y0 + 1][:, x0] * (1 - wx) + coarse[y0 + 1][:, x0 + 1] * wx
    noise = top * (1 - wy) + bottom * wy
    # Bilinear blending lowers the variance between grid points; restore unit variance.
    noise /= noise.std()
    return noise


def measure(command: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Measurement:
    """Run `command` to completion under `measure.py`, which reads its usage from `wait4`."""
    result_path = log.with_suffix(".json")
    result_path.unlink(missing_ok=True)
    wrapper = [sys.executable, str(MEASURE_SCRIPT), str(result_path), str(log), "--", *command]
    subprocess.run(wrapper, env=env, cwd=REPO_ROOT, check=True)
    result = json.loads(result_path.read_text())
    if result["exit_code"] != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise BenchError(f"{' '.join(command)} exited with {result['exit_code']}:\n{tail}")
    return Measurement(result["wall"], result["cpu"], result["peak_rss"])


def gdal_calc_available() -> bool:
    if shutil.which("gdal_calc.py") is None or not Path(SYSTEM_PYTHON).exists():
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "from osgeo import gdal"], env=system_env(), capture_output=True
    )
    return probe.returncode == 0


def system_env() -> dict[str, str]:
    """The environment without the venv's Python and GDAL/PROJ data, for Debian's GDAL."""
    dropped = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "GDAL_DATA", "PROJ_LIB", "PROJ_DATA"}
    return {key: value for key, value in os.environ.items() if key not in dropped}


def gdal_calc_expression() -> str:
    """The project's NDVI definition as a gdal_calc expression (A red, B nir, C QA_PIXEL)."""

    def reflectance(band: str) -> str:
        return f"({band} * {USGS_SR_SCALE!r} + ({USGS_SR_OFFSET!r}))"

    valid = (
        "((C & 31) == 0)"
        f" & (A >= {VALID_SR_DN_MIN}) & (A <= {VALID_SR_DN_MAX})"
        f" & (B >= {VALID_SR_DN_MIN}) & (B <= {VALID_SR_DN_MAX})"
    )
    red, nir = reflectance("A"), reflectance("B")
    return f"where({valid}, ({nir} - {red}) / ({nir} + {red}), {GDAL_CALC_NODATA!r})"


def methods(include_gdal_calc: bool) -> list[Method]:
    venv_bin = Path(sys.executable).parent
    found = [
        Method(
            "project (landsat-assets ndvi)",
            OUT_DIR / "project.tif",
            lambda scene, out: [str(venv_bin / "landsat-assets"), "ndvi", *scene.paths, str(out)],
        ),
    ]
    if include_gdal_calc:
        found.append(
            Method(
                "gdal_calc.py (Debian GDAL)",
                OUT_DIR / "gdal_calc.tif",
                lambda scene, out: [
                    SYSTEM_PYTHON,
                    shutil.which("gdal_calc.py") or "gdal_calc.py",
                    "-A",
                    str(scene.red),
                    "-B",
                    str(scene.nir),
                    "-C",
                    str(scene.qa),
                    f"--outfile={out}",
                    f"--calc={gdal_calc_expression()}",
                    "--type=Float32",
                    f"--NoDataValue={GDAL_CALC_NODATA!r}",
                    "--co=TILED=YES",
                    "--co=BLOCKXSIZE=512",
                    "--co=BLOCKYSIZE=512",
                    "--co=COMPRESS=DEFLATE",
                    "--overwrite",
                    "--quiet",
                ],
                system_env(),
            )
        )
    found.append(
        Method(
            "naive rasterio + numpy",
            OUT_DIR / "naive.tif",
            lambda scene, out: [
                sys.executable,
                "-m",
                "landsat_assets_tests.bench.naive_ndvi",
                *scene.paths,
                str(out),
            ],
        )
    )
    return found


PROJECT_PACKAGE = Path(landsat_assets.__file__).resolve().parent


def compile_bytecode(package: Path = PROJECT_PACKAGE) -> None:
    """Write the bytecode of every module of `package`, as an installed package has it (pip
    compiles it at install, as Debian does `gdal_calc.py`'s osgeo modules). With
    PYTHONDONTWRITEBYTECODE set, as on the bench VMs, every project module changed since its
    .pyc was written was compiled again in each timed run: 0.05-0.09 s of CPU when none has
    one (docs/performance.md)."""
    compileall.compile_dir(package, quiet=1)


def time_methods(
    scene: Scene, chosen: list[Method], repeat: int
) -> tuple[dict[str, list[Measurement]], list[Floor]]:
    """Run every method `repeat` times, round-robin, each from a removed output file, and the
    floor in each round right after the project (the first method), on its output: a ratio
    compares runs of the same minute, as the VM's speed drifts (docs/performance.md)."""
    for path in scene.paths:
        Path(path).read_bytes()  # the inputs start in the page cache for every method alike
    compile_bytecode()
    results: dict[str, list[Measurement]] = {method.name: [] for method in chosen}
    floors: list[Floor] = []
    for round_number in range(1, repeat + 1):
        for method in chosen:
            method.output.unlink(missing_ok=True)
            log = OUT_DIR / f"{method.output.stem}.log"
            measurement = measure(method.command(scene, method.output), log, method.env)
            results[method.name].append(measurement)
            print(
                f"  round {round_number}/{repeat} {method.name:32s} wall {measurement.wall:6.2f} s"
                f"  cpu {measurement.cpu:6.2f} s  peak RSS {measurement.peak_rss / 1e9:5.2f} GB",
                flush=True,
            )
            if method is chosen[0]:
                floors.append(measure_floor(scene, method.output))
                print(
                    f"  round {round_number}/{repeat} {'floor (decode + encode)':32s} "
                    f"wall {floors[-1].wall:6.2f} s  cpu {floors[-1].cpu:6.2f} s",
                    flush=True,
                )
    return results, floors


@dataclass(frozen=True)
class Agreement:
    max_abs_difference: float
    validity_mismatches: int
    both_valid: int


def agreement(candidate: Path, reference: Path, *, candidate_nodata: float | None) -> Agreement:
    """Largest |candidate - reference| where both are valid, and pixels valid in only one."""
    largest = 0.0
    mismatches = 0
    both = 0
    with rasterio.open(candidate) as a, rasterio.open(reference) as b:
        for window in block_windows(a.height, a.width):
            x = a.read(1, window=window)
            y = b.read(1, window=window)
            x_valid = ~np.isnan(x) if candidate_nodata is None else x != candidate_nodata
            y_valid = ~np.isnan(y)
            mismatches += int(np.count_nonzero(x_valid != y_valid))
            common = x_valid & y_valid
            both += int(np.count_nonzero(common))
            if common.any():
                difference = np.abs(x[common].astype(np.float64) - y[common])
                largest = max(largest, float(difference.max()))
    return Agreement(largest, mismatches, both)


def machine_description() -> dict[str, str]:
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    return {
        "cpus (nproc)": str(os.cpu_count()),
        "cpu model": cpu_model,
        "memory": f"{memory_kib / 1024**2:.1f} GiB",
        "gdal (rasterio)": rasterio.__gdal_version__,
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def median(values: list[float]) -> float:
    return float(statistics.median(values))


@dataclass(frozen=True)
class Floor:
    """The bare decode of the bands plus the bare encode of the output (`floor.py`)."""

    decode_wall: float
    decode_cpu: float
    encode_wall: float
    encode_cpu: float

    @property
    def wall(self) -> float:
        return self.decode_wall + self.encode_wall

    @property
    def cpu(self) -> float:
        return self.decode_cpu + self.encode_cpu


def measure_floor(scene: Scene, project_output: Path) -> Floor:
    """One run of `floor.py` on the scene and the project's output."""
    out = OUT_DIR / "floor.tif"
    out.unlink(missing_ok=True)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "landsat_assets_tests.bench.floor",
            *scene.paths,
            str(project_output),
            str(out),
        ],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    run = json.loads(completed.stdout.strip().splitlines()[-1])
    return Floor(*(run[key] for key in Floor.__dataclass_fields__))


def round_ratios(numerators: list[float], denominators: list[float]) -> list[float]:
    """The ratio of the two runs of each round."""
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


def paired_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median of the ratios of runs of the same round."""
    return median(round_ratios(numerators, denominators))


def report(
    results: dict[str, list[Measurement]],
    chosen: list[Method],
    include_gdal_calc: bool,
    floors: list[Floor],
) -> bool:
    """Print the table, the ratios and the targets; True when the correctness checks hold."""
    from rio_cogeo.cogeo import cog_validate

    print()
    print("| method | wall (s) | CPU (s) | peak RSS (GB) | runs |")
    print("|---|---:|---:|---:|---:|")
    medians: dict[str, Measurement] = {}
    for method in chosen:
        runs = results[method.name]
        med = Measurement(
            median([r.wall for r in runs]),
            median([r.cpu for r in runs]),
            int(median([float(r.peak_rss) for r in runs])),
        )
        medians[method.name] = med
        print(
            f"| {method.name} | {med.wall:.2f} | {med.cpu:.2f} | "
            f"{med.peak_rss / 1e9:.2f} | {len(runs)} |"
        )
    floor = Floor(
        *(median([getattr(f, key) for f in floors]) for key in Floor.__dataclass_fields__)
    )
    print(
        f"| floor: decode {floor.decode_wall:.2f} s wall / {floor.decode_cpu:.2f} s CPU + "
        f"encode {floor.encode_wall:.2f} / {floor.encode_cpu:.2f} | {floor.wall:.2f} | "
        f"{floor.cpu:.2f} | | {len(floors)} |"
    )
    print(
        "(medians; wall and CPU from os.wait4 of each child process; the floor's from "
        "getrusage around its two phases, without interpreter start-up; each ratio below is "
        "the median of the ratios of runs of the same round)"
    )
    if not include_gdal_calc:
        print(f"gdal_calc.py row skipped: {GDAL_CALC_INSTALL_HINT}")

    project, naive = chosen[0], chosen[-1]
    project_median = medians[project.name]
    rows: list[tuple[str, str, str, bool]] = []
    project_walls = [r.wall for r in results[project.name]]
    if include_gdal_calc:
        ratio = paired_ratio(project_walls, [r.wall for r in results[chosen[1].name]])
        rows.append(
            (
                "wall project / gdal_calc",
                f"{ratio:.2f}",
                f"<= {WALL_RATIO_TARGET}",
                ratio <= WALL_RATIO_TARGET,
            )
        )
    ratio = paired_ratio(project_walls, [r.wall for r in results[naive.name]])
    rows.append(
        (
            "wall project / naive",
            f"{ratio:.2f}",
            f"<= {WALL_RATIO_TARGET}",
            ratio <= WALL_RATIO_TARGET,
        )
    )
    cpu_ratios = round_ratios([r.cpu for r in results[project.name]], [f.cpu for f in floors])
    cpu_ratio = median(cpu_ratios)
    rows.append(
        (
            "CPU project / floor",
            f"{cpu_ratio:.2f} (rounds: {', '.join(f'{r:.2f}' for r in cpu_ratios)})",
            f"<= {CPU_FLOOR_RATIO_TARGET}",
            cpu_ratio <= CPU_FLOOR_RATIO_TARGET,
        )
    )
    rows.append(
        (
            "project peak RSS",
            f"{project_median.peak_rss / 1e9:.2f} GB",
            f"<= {PEAK_RSS_TARGET / 1e9} GB",
            project_median.peak_rss <= PEAK_RSS_TARGET,
        )
    )
    is_cog, errors, _warnings = cog_validate(str(project.output), quiet=True)
    rows.append(
        ("project output is a valid COG", "yes" if is_cog else "; ".join(errors), "", is_cog)
    )
    equal = agreement(project.output, naive.output, candidate_nodata=None)
    equality_holds = (
        equal.max_abs_difference <= EQUALITY_TOLERANCE and equal.validity_mismatches == 0
    )
    rows.append(
        (
            "project vs naive, max |diff|",
            f"{equal.max_abs_difference:.2e} over {equal.both_valid:,} px,"
            f" {equal.validity_mismatches} px valid in one only",
            f"<= {EQUALITY_TOLERANCE:g}, 0 px",
            equality_holds,
        )
    )
    print()
    print("| target | measured | limit | result |")
    print("|---|---|---|---|")
    for name, value, limit, holds in rows:
        print(f"| {name} | {value} | {limit} | {verdict(holds)} |")
    if include_gdal_calc:
        calc = agreement(chosen[1].output, naive.output, candidate_nodata=GDAL_CALC_NODATA)
        print(
            f"(for information: gdal_calc vs naive max |diff| {calc.max_abs_difference:.2e},"
            f" {calc.validity_mismatches} px valid in one only)"
        )
    return is_cog and equality_holds


def aoi_geometry(scene: Scene) -> dict[str, object]:
    """A square of `AOI_SIDE_M` on the scene's grid around `AOI_CENTRE_PIXEL`, as WGS84 GeoJSON."""
    with rasterio.open(scene.red) as dataset:
        x, y = dataset.xy(*AOI_CENTRE_PIXEL, offset="ul")
        crs = dataset.crs
    half = AOI_SIDE_M / 2
    ring = [(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half)]
    square = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    return rasterio.warp.transform_geom(crs, "EPSG:4326", square)


def covering_tile_bytes(path: Path, window: tuple[int, int, int, int]) -> int:
    """Compressed bytes (TileByteCounts) of the full-resolution tiles under `window`."""
    row_off, col_off, height, width = window
    with rasterio.open(path) as dataset:
        tile_height, tile_width = dataset.block_shapes[0]
        total = 0
        for tile_row in range(row_off // tile_height, (row_off + height - 1) // tile_height + 1):
            for tile_col in range(col_off // tile_width, (col_off + width - 1) // tile_width + 1):
                key = f"BLOCK_SIZE_{tile_col}_{tile_row}"
                total += int(dataset.get_tag_item(key, "TIFF", bidx=1))
    return total


def tile_offsets(dataset: rasterio.io.DatasetReader) -> Iterator[int]:
    """File offsets of the written tiles of band 1 (sparse tiles have offset 0)."""
    tile_height, tile_width = dataset.block_shapes[0]
    for row in range(-(-dataset.height // tile_height)):
        for col in range(-(-dataset.width // tile_width)):
            offset = int(dataset.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=1) or 0)
            if offset > 0:
                yield offset


def header_bytes(path: Path) -> int:
    """Bytes before the first tile of any level: the IFDs and their tag arrays."""
    with rasterio.open(path) as dataset:
        overview_count = len(dataset.overviews(1))
        offsets = list(tile_offsets(dataset))
    for level in range(overview_count):
        with rasterio.open(path, overview_level=level) as overview:
            offsets.extend(tile_offsets(overview))
    return min(offsets)


@dataclass(frozen=True)
class AoiTraffic:
    window: tuple[int, int, int, int]
    requests: int
    head_requests: int
    fetched: int
    tiles: int
    headers: int

    @property
    def ratio(self) -> float:
        return self.fetched / (self.tiles + self.headers)


def measure_aoi_read(scene: Scene) -> AoiTraffic:
    """Cut the AOI from the scene served over HTTP, as the `scene_bands` asset does."""
    from landsat_assets.resources.imagery import REMOTE_COG_OPTIONS
    from landsat_assets_tests.bench.range_server import serve_directory

    aoi = aoi_geometry(scene)
    bands = dict(zip(("red", "nir08", "qa_pixel"), (scene.red, scene.nir, scene.qa), strict=True))
    with serve_directory(scene.red.parent) as server, tempfile.TemporaryDirectory() as tmp:
        hrefs = {role: f"{server.url}/{path.name}" for role, path in bands.items()}
        with rasterio.Env(**REMOTE_COG_OPTIONS):
            extract = extract_scene_bands(
                PRODUCT_ID, hrefs, Path(tmp) / "scene_bands.tif", aoi_wgs84=aoi
            )
        traffic = server.traffic
    if extract is None:
        raise BenchError("the benchmark AOI misses the scene")
    return AoiTraffic(
        window=extract.window,
        requests=len(traffic.requests),
        head_requests=sum(1 for method, *_ in traffic.requests if method == "HEAD"),
        fetched=traffic.body_bytes,
        tiles=sum(covering_tile_bytes(path, extract.window) for path in bands.values()),
        headers=sum(header_bytes(path) for path in bands.values()),
    )


def report_aoi(traffic: AoiTraffic) -> None:
    row_off, col_off, height, width = traffic.window
    print()
    print(
        f"AOI read over HTTP ({AOI_SIDE_M / 1000:g} km square, window {height} x {width} px"
        f" at row {row_off}, col {col_off}; 3 bands):"
    )
    print(
        f"  requests: {traffic.requests} ({traffic.head_requests} HEAD),"
        f" bytes served: {traffic.fetched:,}"
    )
    print(
        f"  tiles under the window: {traffic.tiles:,} B compressed, headers: {traffic.headers:,} B"
    )
    holds = traffic.ratio <= AOI_BYTES_RATIO_TARGET
    print(
        f"| bytes fetched / (tiles + headers) | {traffic.ratio:.2f} |"
        f" <= {AOI_BYTES_RATIO_TARGET} | {verdict(holds)} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per method (median shown)")
    parser.add_argument("--skip-aoi", action="store_true", help="skip the AOI-over-HTTP read")
    parser.add_argument(
        "--skip-backfill", action="store_true", help="skip the backfill-overhead measurement"
    )
    parser.add_argument(
        "--skip-remote-backfill",
        action="store_true",
        help="skip the backfill overhead on full-size scenes over HTTP (10 km AOI, 30 ms)",
    )
    parser.add_argument(
        "--skip-shapes",
        action="store_true",
        help="skip Dagster's own cost per scene by step shape (5 steps or 1; ~10 min)",
    )
    parser.add_argument(
        "--skip-sensor",
        action="store_true",
        help="skip the 10,000-item sensor tick and the 10,000-partition status query",
    )
    parser.add_argument(
        "--skip-fields", action="store_true", help="skip 1,024 fields over the full scene"
    )
    parser.add_argument(
        "--skip-growth",
        action="store_true",
        help="skip the growth table (deployments of 100, 1,000 and 10,000 scenes; ~15 min)",
    )
    args = parser.parse_args(argv)
    # The per-scene assets' backfill policy is a beta parameter; its warning, printed each
    # time the definitions are built, would bury the figures.
    warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    scene = ensure_scene()
    include_gdal_calc = gdal_calc_available()
    if not include_gdal_calc:
        print(GDAL_CALC_INSTALL_HINT, flush=True)
    print("machine:")
    for key, value in machine_description().items():
        print(f"  {key}: {value}")
    chosen = methods(include_gdal_calc)
    correct = True
    textured = ensure_textured_scene(scene)
    for bench_scene in (scene, textured):
        print(
            f"\n{bench_scene.name} scene: timing {len(chosen)} methods x {args.repeat} runs "
            f"on {bench_scene.red.parent} ..."
        )
        results, floors = time_methods(bench_scene, chosen, args.repeat)
        correct &= report(results, chosen, include_gdal_calc, floors)
    if not args.skip_aoi:
        report_aoi(measure_aoi_read(scene))
    if not args.skip_backfill:
        correct &= report_backfill(measure_backfill_overhead(OUT_DIR))
    if not args.skip_remote_backfill:
        timing = remote_backfill.measure_remote_backfill(
            OUT_DIR, remote_backfill.scene_bands(textured), aoi_geometry(textured)
        )
        correct &= remote_backfill.report_remote_backfill(timing)
    if not args.skip_shapes:
        with tempfile.TemporaryDirectory(dir=OUT_DIR) as scratch:
            step_shapes.report_shapes(step_shapes.measure_shapes(Path(scratch)))
    if not args.skip_sensor:
        with tempfile.TemporaryDirectory(dir=OUT_DIR) as scratch:
            tick = measure_tick_in_own_process(demo_catalog(OUT_DIR), Path(scratch) / "storage")
            status = measure_partition_status(Path(scratch) / "home", Path(scratch))
        correct &= report_sensor_scale(tick, status)
    if not args.skip_fields:
        correct &= fields.report_fields(*fields.measure_fields(repeat=2))
    if not args.skip_growth:
        correct &= growth.main(["--instance", "postgres"]) == 0
    print(f"load average after the runs: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
