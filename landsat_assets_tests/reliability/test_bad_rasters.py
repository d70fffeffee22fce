"""Bad band files through the whole pipeline (Dagster runs via the main job's runner): each
damaged scene ends in a per-scene error naming the scene and the file, or in a
`no_data` / `filtered_cloudy` row, and every other scene is still processed."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
from dagster import instance_for_test

from landsat_assets.definitions import build_definitions
from landsat_assets.runner import RunReport, run_pipeline
from landsat_assets.stac.search import SceneQuery, search_scenes
from landsat_assets_tests.support.catalogs import band_file, copy_catalog
from landsat_assets_tests.support.realworld import REALWORLD

pytestmark = pytest.mark.slow

# xlandsat's crops of real USGS bands carry no georeferencing (no CRS, no transform).
XLANDSAT_SCENE = "LC08_L2SP_017051_20151205_20200908_02_T1"
XLANDSAT_RED = REALWORLD / "xlandsat" / XLANDSAT_SCENE / f"{XLANDSAT_SCENE}_SR_B4.TIF"

ALL_CLOUD_QA = 22280  # bits 1 (dilated), 3 (cloud), 8-9 high cloud confidence
ALL_FILL_QA = 1


def rewrite(path: Path, change: Callable[[np.ndarray, dict], tuple[np.ndarray, dict]]) -> None:
    with rasterio.open(path) as src:
        array, profile = src.read(1), dict(src.profile)
    array, profile = change(array, profile)
    path.unlink()
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)


def corrupt(path: Path) -> None:
    path.write_bytes(b"II*\x00 this is not a TIFF any more")


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def as_float(path: Path) -> None:
    rewrite(path, lambda a, p: (a.astype("float32"), p | {"dtype": "float32"}))


def cropped(path: Path) -> None:
    rewrite(
        path,
        lambda a, p: (a[:-8, :-8].copy(), p | {"height": a.shape[0] - 8, "width": a.shape[1] - 8}),
    )


def other_crs(path: Path) -> None:
    rewrite(path, lambda a, p: (a, p | {"crs": "EPSG:32614"}))


def no_georeferencing(path: Path) -> None:
    shutil.copyfile(XLANDSAT_RED, path)


def filled(value: int) -> Callable[[Path], None]:
    return lambda path: rewrite(path, lambda a, p: (np.full_like(a, value), p))


@dataclass(frozen=True)
class Damage:
    band: str
    apply: Callable[[Path], None]
    expect: str
    """`error: <text>` for a per-scene failure mentioning text, else the summary status."""


DAMAGES = {
    "corrupt": Damage("red", corrupt, "error: cannot open the red band"),
    "truncated": Damage("nir08", truncate, "error: IReadBlock failed"),
    "wrong-dtype": Damage("qa_pixel", as_float, "error: is float32, expected uint16"),
    "qa-other-shape": Damage("qa_pixel", cropped, "error: differs from"),
    "nir-other-crs": Damage("nir08", other_crs, "error: grid (CRS or transform) differs"),
    "no-georeferencing": Damage("red", no_georeferencing, "error: no georeferencing"),
    "all-fill": Damage("qa_pixel", filled(ALL_FILL_QA), "no_data"),
    "all-cloud": Damage("qa_pixel", filled(ALL_CLOUD_QA), "filtered_cloudy"),
}
NEEDS_SAMPLES = {"no-georeferencing"}
"""Damages made from a real-world sample: marked realworld, and left out of the run when the
samples folder is missing (the other damages still run)."""


@dataclass(frozen=True)
class DamagedRun:
    report: RunReport
    victims: dict[str, tuple[str, Path]]
    """Damage name -> (scene key, damaged file)."""
    healthy: list[str]


@pytest.fixture(scope="module")
def damaged_run(tiny_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> DamagedRun:
    folder = tmp_path_factory.mktemp("damaged")
    catalog = copy_catalog(tiny_catalog, folder / "catalog")
    scenes = search_scenes(catalog, SceneQuery())
    damages = {n: d for n, d in DAMAGES.items() if n not in NEEDS_SAMPLES or REALWORLD.is_dir()}
    victims = {}
    for (name, damage), scene in zip(damages.items(), scenes, strict=False):
        path = band_file(catalog, scene.item_id, damage.band)
        damage.apply(path)
        victims[name] = (scene.scene_key, path)
    env = {
        "LANDSAT_STAC_URL": str(catalog),
        "LANDSAT_STORAGE": str(folder / "storage"),
        "LANDSAT_AOI": "none",
    }
    with instance_for_test() as instance:
        report = run_pipeline(
            instance, build_definitions(env), scenes_per_run=4, echo=lambda _line: None
        )
    damaged = {key for key, _ in victims.values()}
    return DamagedRun(report, victims, [s.scene_key for s in scenes if s.scene_key not in damaged])


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.realworld) if n in NEEDS_SAMPLES else n for n in DAMAGES],
)
def test_damaged_scene_ends_clearly(name: str, damaged_run: DamagedRun) -> None:
    scene, path = damaged_run.victims[name]
    expect = DAMAGES[name].expect
    summary = damaged_run.report.summary
    if expect.startswith("error: "):
        message = damaged_run.report.failures.get(scene, "")
        assert scene in message and path.name in message, message or "no failure reported"
        assert expect.removeprefix("error: ") in message
        assert scene not in set(summary["scene_id"])
    else:
        assert scene not in damaged_run.report.failures
        row = summary[summary["scene_id"] == scene]
        assert list(row["status"]) == [expect]


def test_healthy_scenes_complete_beside_damaged_ones(damaged_run: DamagedRun) -> None:
    report = damaged_run.report
    failed = {scene for scene in report.failures if scene != "ndvi_summary"}
    expected_failures = {
        scene
        for name, (scene, _) in damaged_run.victims.items()
        if name not in ("all-fill", "all-cloud")
    }
    assert failed == expected_failures
    assert "ndvi_summary" not in report.failures
    rows = set(report.summary["scene_id"])
    assert set(damaged_run.healthy) <= rows
    assert len(damaged_run.healthy) >= 3
    assert (report.summary["status"] == "processed").any()
