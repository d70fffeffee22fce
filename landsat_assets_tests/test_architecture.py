"""The layering, checked on the source: the science and STAC core never import Dagster, and no
module imports a layer above its own (functions' local imports included). And what loading the
code costs: the CLI and the code location never import matplotlib."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import landsat_assets
from landsat_assets_tests.support.source import parse_source

PACKAGE = Path(landsat_assets.__file__).resolve().parent

PLAIN = (
    "errors",
    "urls",
    "stores",
    "console",
    "science",
    "stac",
    "demo",
    "settings",
    "provenance",
    "devserver",
    "fields",
)
"""The functional core: plain Python, numpy, rasterio, pystac; tested without Dagster."""

LAYERS = [
    PLAIN,
    ("resources", "partitions"),
    ("io_managers",),
    ("automation", "assets", "jobs", "materializations", "inflight"),
    ("freshness", "sensors", "runner", "definitions"),
    ("cli",),
    ("launcher",),
]
"""Each module may import its own layer and the layers before it, never one after it."""

ALLOWED_DAGSTER_IN_PLAIN = {("settings", "dagster._utils.schedules")}
"""`LANDSAT_SUMMARY_CRON` is checked with Dagster's own cron validator, imported only when one
is given."""


def _modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(PACKAGE).with_suffix("").parts): path
        for path in PACKAGE.rglob("*.py")
    }


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(parse_source(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _layer(module: str) -> int:
    top = module.removeprefix("landsat_assets.").split(".")[0]
    for rank, members in enumerate(LAYERS):
        if top in members:
            return rank
    raise AssertionError(f"landsat_assets.{top} is in no layer: add it to LAYERS")


MODULES = sorted(m for m in _modules() if m.split(".")[-1] != "__init__")


@pytest.mark.parametrize("module", MODULES)
def test_no_module_imports_a_layer_above_its_own(module):
    rank = _layer(module)
    above = sorted(
        name
        for name in _imports(_modules()[module])
        if name.startswith("landsat_assets.") and _layer(name) > rank
    )
    assert above == [], f"{module} (layer {rank}) imports {above}"


@pytest.mark.parametrize("module", [m for m in MODULES if _layer(m) == 0])
def test_the_core_never_imports_dagster(module):
    top = module.split(".")[0]
    dagster = {
        name
        for name in _imports(_modules()[module])
        if name.split(".")[0] in ("dagster", "dagster_aws", "dagster_pipes")
        and (top, name) not in ALLOWED_DAGSTER_IN_PLAIN
    }
    assert dagster == set(), f"{module} imports {sorted(dagster)}"


def test_every_package_module_is_in_a_layer():
    for module in MODULES:
        _layer(module)


def test_loading_the_cli_and_the_code_location_never_imports_matplotlib():
    """matplotlib costs about 0.8 s per process, and a no-op `landsat-assets run` or a code
    server load never draws: only `science.plots` imports it, inside the functions that draw."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, landsat_assets.cli, landsat_assets.definitions;"
            " print('matplotlib' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert loaded.stdout.strip() == "False", (
        "importing landsat_assets.cli and landsat_assets.definitions loads matplotlib: import "
        "landsat_assets.science.plots inside the function that draws, never at a module's top"
    )
