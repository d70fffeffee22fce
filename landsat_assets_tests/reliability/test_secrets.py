"""Credentials only ever come from the environment and never show in event logs, run
records, stored products or console output; the local UI binds to loopback only."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._serdes import serialize_value

from landsat_assets.definitions import build_definitions
from landsat_assets.runner import format_report, run_pipeline
from landsat_assets.stac.search import SceneQuery, search_scenes
from landsat_assets_tests.support.catalogs import band_file, copy_catalog
from landsat_assets_tests.support.cli import landsat_assets
from landsat_assets_tests.support.paths import REPO_ROOT

SECRET = "planted-secret-XYZ"
ACCESS_KEY = "AKIAPLANTEDFAKE12345"
MAKEFILE = REPO_ROOT / "Makefile"


@pytest.mark.slow
def test_planted_credentials_never_leak(
    tiny_catalog: Path,
    tmp_path: Path,
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    catalog = copy_catalog(tiny_catalog, tmp_path / "catalog")
    (victim, *_) = search_scenes(catalog, SceneQuery())
    band_file(catalog, victim.item_id, "red").write_bytes(b"broken, so error paths run too")
    secrets = {"AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ACCESS_KEY_ID": ACCESS_KEY}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    env = {
        **secrets,
        "LANDSAT_STAC_URL": str(catalog),
        "LANDSAT_STORAGE": str(tmp_path / "storage"),
        "LANDSAT_END_DATE": "2023-03-01",
    }
    report = run_pipeline(instance, build_definitions(env), scenes_per_run=4, echo=print)
    print(format_report(report, str(tmp_path / "storage")))
    assert victim.scene_key in report.failures, "the error path was not exercised"

    runs = instance.get_runs()
    assert len(runs) >= 2
    for run in runs:
        assert SECRET not in serialize_value(run)
        assert ACCESS_KEY not in serialize_value(run)
        for event in instance.all_logs(run.run_id):
            text = serialize_value(event)
            assert SECRET not in text and ACCESS_KEY not in text, event.dagster_event_type
    captured = capfd.readouterr()
    assert victim.scene_key in captured.out
    for stream in (captured.out, captured.err):
        assert SECRET not in stream and ACCESS_KEY not in stream
    for path in (tmp_path / "storage").rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert SECRET.encode() not in content and ACCESS_KEY.encode() not in content, path


def test_make_dev_binds_to_loopback_only() -> None:
    text = MAKEFILE.read_text()
    match = re.search(r"^dev:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert match, "no dev target in the Makefile"
    recipe = match.group(1)
    assert "landsat_assets.devserver" in recipe, "make dev runs dagster dev under devserver.py"
    hosts = re.findall(r"(?:--host|-h)[ =](\S+)", recipe)
    assert hosts == ["127.0.0.1"], recipe
    assert "0.0.0.0" not in recipe


TOKEN = "tok-PLANTED-987"


@pytest.mark.slow
def test_a_token_in_the_stac_or_aoi_url_is_never_written(tiny_stac_api: str, tmp_path: Path):
    """Every byte the main job writes (stdout, stderr, products, the Dagster instance) is
    free of a token carried in the STAC API URL's query string, and so is an AOI URL's."""
    home, storage = tmp_path / "home", tmp_path / "storage"
    env = {
        "DAGSTER_HOME": str(home),
        "LANDSAT_STAC_URL": f"{tiny_stac_api}?token={TOKEN}",
        "LANDSAT_STORAGE": str(storage),
        "LANDSAT_END_DATE": "2023-03-01",
    }
    run = landsat_assets("run", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "processed" in run.stdout
    aoi_url = f"https://example.test/fields.geojson?token={TOKEN}"
    aoi = landsat_assets("run", "--aoi", aoi_url, env=env, cwd=tmp_path)
    assert aoi.returncode == 2 and "example.test/fields.geojson" in aoi.stderr
    written = [run.stdout, run.stderr, aoi.stdout, aoi.stderr]
    files = [p for root in (home, storage) for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files), "the instance wrote no database"
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), path
    for output in written:
        assert TOKEN not in output


def test_the_ui_shows_the_variable_holding_a_catalog_token(monkeypatch) -> None:
    """The resource configuration the UI lists is the catalog resource's config default: a
    catalog URL with a token is given there as the variable it came from, not its value."""
    url = f"https://stac.example.test/v1?token={TOKEN}"
    monkeypatch.setenv("LANDSAT_STAC_URL", url)
    catalog = build_definitions(os.environ).resources["catalog"]
    shown = catalog.get_resource_definition().config_schema.default_value_as_json_str
    assert TOKEN not in shown and "LANDSAT_STAC_URL" in shown
    assert catalog.source() == url
    plain = build_definitions({"LANDSAT_STAC_URL": "https://stac.example.test/v1"})
    assert (
        "stac.example.test"
        in plain.resources["catalog"]
        .get_resource_definition()
        .config_schema.default_value_as_json_str
    )
