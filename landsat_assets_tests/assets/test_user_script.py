"""A user's script run per scene through Dagster Pipes: the example on two demo scenes, and
every way a script can fail leaving the products of earlier runs as they were."""

from __future__ import annotations

import hashlib
import json
import shutil
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    PipesSubprocessClient,
    materialize,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from landsat_assets.assets.masks import cloud_mask
from landsat_assets.assets.scenes import landsat_scene, scene_bands
from landsat_assets.assets.user_script import (
    BASE_ENVIRONMENT,
    USER_SCRIPT_ASSET,
    build_user_script_asset,
    user_script_assets,
)
from landsat_assets.definitions import build_definitions, build_resources
from landsat_assets.errors import SettingError
from landsat_assets.partitions import landsat_scenes, register_scenes
from landsat_assets.science.qa import MaskClass
from landsat_assets_tests.support.paths import REPO_ROOT

EXAMPLE_SCRIPT = REPO_ROOT / "examples" / "land_cover_script.py"
UPSTREAM = [landsat_scene, scene_bands, cloud_mask]


def run_script(
    env: dict[str, str],
    instance: DagsterInstance,
    script: Path,
    keys: list[str],
    *,
    timeout_s: float = 120.0,
    pass_env: tuple[str, ...] = (),
    with_upstream: bool = False,
):
    """Materialize the script's asset for `keys` (adjacent partitions) in one run."""
    script_asset = build_user_script_asset(script, timeout_s, pass_env)
    return materialize(
        [*UPSTREAM, script_asset],
        selection=None if with_upstream else [script_asset.key],
        instance=instance,
        resources=build_resources(env),
        tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
        raise_on_error=False,
    )


def product_dir(env: dict[str, str]) -> Path:
    return Path(env["LANDSAT_STORAGE"]) / USER_SCRIPT_ASSET


def latest_metadata(instance: DagsterInstance, asset: str, partition: str) -> dict:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    assert records, f"{asset} {partition} was not materialized"
    materialization = records[0].asset_materialization
    return {k: v.value for k, v in materialization.metadata.items()}


def failure_text(result) -> str:
    assert not result.success
    failures = result.get_step_failure_events()
    assert len(failures) == 1
    return failures[0].step_failure_data.error.to_string()


@dataclass(frozen=True)
class Baseline:
    env: dict[str, str]
    keys: list[str]
    instance: DagsterInstance
    run_id: str
    products: dict[str, bytes]


@pytest.fixture(scope="module")
def baseline(small_demo_catalog, tmp_path_factory) -> Iterator[Baseline]:
    """Two demo scenes with bands, cloud masks and the example script's products, all made
    in one run (so the script's step covers both partitions)."""
    env = {
        "LANDSAT_STAC_URL": str(small_demo_catalog),
        "LANDSAT_STORAGE": str(tmp_path_factory.mktemp("user-script") / "storage"),
    }
    scenes = build_resources(env)["catalog"].search()
    clearest = sorted(scenes, key=lambda scene: scene.cloud_cover or 0.0)[:2]
    keys = sorted(scene.scene_key for scene in clearest)
    with DagsterInstance.ephemeral() as instance:
        register_scenes(instance, keys)
        result = run_script(env, instance, EXAMPLE_SCRIPT, keys, with_upstream=True)
        assert result.success
        products = {key: (product_dir(env) / f"{key}.tif").read_bytes() for key in keys}
        yield Baseline(env, keys, instance, result.run_id, products)


@dataclass(frozen=True)
class Workspace:
    env: dict[str, str]
    keys: list[str]
    instance: DagsterInstance
    baseline: Baseline

    def assert_earlier_products_intact(self) -> None:
        published = sorted(p.name for p in product_dir(self.env).iterdir())
        assert published == sorted(f"{key}.tif" for key in self.keys)
        for key in self.keys:
            assert (product_dir(self.env) / f"{key}.tif").read_bytes() == (
                self.baseline.products[key]
            ), f"{key}: an earlier product was changed by a failed run"

    def staging_entries(self) -> set[str]:
        staging = Path(self.env["LANDSAT_STORAGE"]) / ".staging"
        return {p.name for p in staging.iterdir()} if staging.exists() else set()


@pytest.fixture
def workspace(baseline, tmp_path) -> Iterator[Workspace]:
    """A private copy of the baseline's storage and a fresh instance with its partitions."""
    storage = tmp_path / "storage"
    shutil.copytree(baseline.env["LANDSAT_STORAGE"], storage)
    env = dict(baseline.env, LANDSAT_STORAGE=str(storage))
    with DagsterInstance.ephemeral() as instance:
        register_scenes(instance, baseline.keys)
        yield Workspace(env, baseline.keys, instance, baseline)


def process_gone(pid: str, timeout: float = 10.0) -> bool:
    """Whether the process has ended (gone, or a zombie its new parent has yet to reap)."""
    stat = Path("/proc") / pid / "stat"
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def write_script(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(body))
    return script


def test_example_script_reports_metadata_and_writes_land_cover(baseline):
    runs = baseline.instance.get_runs()
    assert len(runs) == 1
    logs = [entry.user_message for entry in baseline.instance.all_logs(baseline.run_id)]
    for key in baseline.keys:
        assert any(f"{key}: classifying land cover into land_cover.tif" in m for m in logs)

        metadata = latest_metadata(baseline.instance, USER_SCRIPT_ASSET, key)
        assert metadata["status"] == "produced"
        assert metadata["format"] == "tif"
        assert metadata["script"] == str(EXAMPLE_SCRIPT)
        assert metadata["storage"] == str(product_dir(baseline.env) / f"{key}.tif")
        assert metadata["check observed_fraction"] in ("passed", "failed (warn)")
        observed = metadata["check observed_fraction: observed_fraction"]
        assert 0.0 <= observed <= 1.0

        storage = Path(baseline.env["LANDSAT_STORAGE"])
        with rasterio.open(product_dir(baseline.env) / f"{key}.tif") as product:
            classes = product.read(1)
            grid = (product.crs, product.transform, product.shape)
        with rasterio.open(storage / "scene_bands" / f"{key}.tif") as bands:
            assert grid == (bands.crs, bands.transform, bands.shape)
            red, nir = bands.read(1).astype(np.float64), bands.read(2).astype(np.float64)
            scale, offset = bands.scales[0], bands.offsets[0]
        with rasterio.open(storage / "cloud_mask" / f"{key}.tif") as mask_file:
            mask = mask_file.read(1)

        counts = metadata["class_counts"]
        assert counts == {
            name: int(np.count_nonzero(classes == code))
            for code, name in enumerate(
                ["water", "bare_or_built", "sparse_vegetation", "dense_vegetation", "snow"],
                start=1,
            )
        } | {"obscured": int(np.count_nonzero(classes == 6))}
        assert metadata["classified_pixels"] == int(np.count_nonzero(classes)) > 0
        assert (classes[mask == MaskClass.FILL] == 0).all()
        obscuring = [MaskClass.CLOUD, MaskClass.DILATED_CLOUD, MaskClass.CIRRUS]
        assert (classes[np.isin(mask, [*obscuring, MaskClass.CLOUD_SHADOW])] == 6).all()
        assert (classes[mask == MaskClass.SNOW] == 5).all()
        assert (classes[mask == MaskClass.WATER] == 1).all()
        red_r, nir_r = red * scale + offset, nir * scale + offset
        with np.errstate(divide="ignore", invalid="ignore"):
            ndvi = (nir_r - red_r) / (nir_r + red_r)
        clear = mask == MaskClass.CLEAR
        in_range = (red >= 7273) & (red <= 43636) & (nir >= 7273) & (nir <= 43636)
        land = clear & in_range
        assert land.any(), f"{key} has no clear land pixels to check the NDVI classes on"
        assert (classes[land & (ndvi < 0)] == 1).all()
        assert (classes[land & (ndvi >= 0) & (ndvi < 0.2)] == 2).all()
        assert (classes[land & (ndvi >= 0.2) & (ndvi < 0.5)] == 3).all()
        assert (classes[land & (ndvi >= 0.5)] == 4).all()
    assert not any((Path(baseline.env["LANDSAT_STORAGE"]) / ".staging").rglob("land_cover*"))


def test_non_zero_exit_fails_the_step_and_publishes_nothing(workspace, tmp_path):
    """One of two scenes fails: the step fails, and the scene that succeeded is not
    published either (a step is all or nothing), so both earlier products stay."""
    failing = workspace.keys[1]
    script = write_script(
        tmp_path,
        f"""
        import sys
        from pathlib import Path
        from dagster_pipes import open_dagster_pipes

        with open_dagster_pipes() as pipes:
            scene = pipes.get_extra("scene_key")
            if scene == {failing!r}:
                print("marker-nonzero: the red band of " + scene + " is unusable", file=sys.stderr)
                sys.exit(3)
            (Path(pipes.get_extra("output_dir")) / "result.json").write_text("{{}}")
        """,
    )
    staging_before = workspace.staging_entries()
    text = failure_text(run_script(workspace.env, workspace.instance, script, workspace.keys))
    assert f"failed for scene {failing}: exited with code 3" in text
    assert f"marker-nonzero: the red band of {failing} is unusable" in text
    workspace.assert_earlier_products_intact()
    assert workspace.staging_entries() == staging_before


def test_timeout_kills_the_process_group(workspace, tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    script = write_script(
        tmp_path,
        f"""
        import subprocess, sys, time
        from dagster_pipes import open_dagster_pipes

        with open_dagster_pipes() as pipes:
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
            open({str(pid_file)!r}, "w").write(str(child.pid))
            print("marker-timeout: waiting for a server that never answers", file=sys.stderr)
            time.sleep(300)
        """,
    )
    started = time.monotonic()
    result = run_script(workspace.env, workspace.instance, script, workspace.keys[:1], timeout_s=3)
    assert time.monotonic() - started < 60
    text = failure_text(result)
    assert "did not finish within 3 s (LANDSAT_USER_SCRIPT_TIMEOUT)" in text
    assert "marker-timeout: waiting for a server that never answers" in text
    assert process_gone(pid_file.read_text()), "the script's child outlived the timeout"
    workspace.assert_earlier_products_intact()


def test_script_that_writes_no_product_fails(workspace, tmp_path):
    script = write_script(
        tmp_path,
        """
        import sys
        from pathlib import Path
        from dagster_pipes import open_dagster_pipes

        with open_dagster_pipes() as pipes:
            (Path(pipes.get_extra("output_dir")) / "notes.txt").write_text("scratch")
            print("marker-nothing: no clear pixels, skipping", file=sys.stderr)
        """,
    )
    result = run_script(workspace.env, workspace.instance, script, workspace.keys[:1])
    text = failure_text(result)
    assert "wrote no product file (.tif, .tiff, .json, .parquet)" in text
    assert "marker-nothing: no clear pixels, skipping" in text
    workspace.assert_earlier_products_intact()


GARBAGE_SCRIPTS = {
    "garbage product": (
        """
        import sys
        from pathlib import Path
        from dagster_pipes import open_dagster_pipes

        with open_dagster_pipes() as pipes:
            sys.stdout.buffer.write(bytes(range(256)) * 4)
            (Path(pipes.get_extra("output_dir")) / "land_cover.tif").write_bytes(b"II*\\x00junk")
            print("marker-garbage: wrote the raster", file=sys.stderr)
        """,
        "land_cover.tif is not a readable tif file",
    ),
    "garbage on the pipes channel": (
        """
        import sys
        from pathlib import Path
        from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

        with open_dagster_pipes() as pipes:
            channel = PipesEnvVarParamsLoader().load_messages_params()["path"]
            with open(channel, "a") as messages:
                messages.write("%%% this is not a pipes message %%%\\n")
            (Path(pipes.get_extra("output_dir")) / "counts.json").write_text("{}")
            print("marker-garbage: printed into the channel", file=sys.stderr)
        """,
        "did not close cleanly",
    ),
    "no pipes, garbage on stdout": (
        """
        import sys
        from pathlib import Path

        print("%%% garbage %%%")
        Path("counts.json").write_text("{}")
        print("marker-garbage: never opened pipes", file=sys.stderr)
        """,
        "exited 0 without opening Dagster Pipes",
    ),
}


@pytest.mark.parametrize("case", list(GARBAGE_SCRIPTS))
def test_garbage_fails_the_scene(workspace, tmp_path, case):
    body, reason = GARBAGE_SCRIPTS[case]
    script = write_script(tmp_path, body)
    result = run_script(workspace.env, workspace.instance, script, workspace.keys[:1])
    text = failure_text(result)
    assert reason in text
    assert "marker-garbage" in text
    workspace.assert_earlier_products_intact()


def test_script_sees_no_secrets_and_runs_in_its_scratch_directory(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSAT_PLANTED_SECRET", "planted-secret-value")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "planted-aws-secret")
    monkeypatch.setenv("LANDSAT_PASSED_SETTING", "passed-on-purpose")
    script = write_script(
        tmp_path,
        """
        import json, os
        from pathlib import Path
        from dagster_pipes import open_dagster_pipes

        with open_dagster_pipes() as pipes:
            out = Path(pipes.get_extra("output_dir"))
            seen = {"environ": dict(os.environ), "cwd": os.getcwd(), "output_dir": str(out)}
            (out / "environment.json").write_text(json.dumps(seen))
            pipes.report_asset_materialization(metadata={"variables": len(os.environ)})
        """,
    )
    key, other = workspace.keys
    result = run_script(
        workspace.env,
        workspace.instance,
        script,
        [key],
        pass_env=("LANDSAT_PASSED_SETTING",),
    )
    assert result.success
    published = product_dir(workspace.env) / f"{key}.json"
    text = published.read_text()
    assert "planted-secret-value" not in text
    assert "planted-aws-secret" not in text
    seen = json.loads(text)
    environ = seen["environ"]
    assert environ["LANDSAT_PASSED_SETTING"] == "passed-on-purpose"
    assert {"DAGSTER_PIPES_CONTEXT", "DAGSTER_PIPES_MESSAGES"} <= set(environ)
    allowed = {*BASE_ENVIRONMENT, "HOME", "PYTHONUNBUFFERED", "LC_CTYPE"}
    allowed |= {"DAGSTER_PIPES_CONTEXT", "DAGSTER_PIPES_MESSAGES", "LANDSAT_PASSED_SETTING"}
    assert set(environ) <= allowed
    assert seen["cwd"] == seen["output_dir"] == environ["HOME"]
    assert Path(seen["output_dir"]).is_relative_to(Path(workspace.env["LANDSAT_STORAGE"]))
    assert not Path(seen["output_dir"]).exists(), "the scratch directory was left behind"
    metadata = latest_metadata(workspace.instance, USER_SCRIPT_ASSET, key)
    assert metadata["variables"] == len(environ)
    assert metadata["format"] == "json" and metadata["json_type"] == "object"
    assert not (product_dir(workspace.env) / f"{key}.tif").exists(), "stale product kept"
    assert (product_dir(workspace.env) / f"{other}.tif").read_bytes() == (
        workspace.baseline.products[other]
    )


def test_asset_is_defined_only_when_a_script_is_configured(tmp_path):
    assert user_script_assets({}) == []
    env = {"LANDSAT_USER_SCRIPT": str(EXAMPLE_SCRIPT), "LANDSAT_USER_SCRIPT_TIMEOUT": "30"}
    (script_asset,) = user_script_assets(env)
    assert script_asset.key == AssetKey(USER_SCRIPT_ASSET)
    assert script_asset.partitions_def == landsat_scenes
    code_version = hashlib.sha256(EXAMPLE_SCRIPT.read_bytes()).hexdigest()[:16]
    assert script_asset.code_versions_by_key[script_asset.key] == code_version
    graph = build_definitions(env).resolve_asset_graph()
    node = graph.get(AssetKey(USER_SCRIPT_ASSET))
    assert {AssetKey("scene_bands"), AssetKey("cloud_mask")} <= set(node.parent_keys)
    assert node.description and node.group_name and node.kinds
    assert not build_definitions({}).resolve_asset_graph().has(AssetKey(USER_SCRIPT_ASSET))
    assert isinstance(build_resources({})["pipes_subprocess_client"], PipesSubprocessClient)

    with pytest.raises(SettingError, match="LANDSAT_USER_SCRIPT_TIMEOUT"):
        user_script_assets(dict(env, LANDSAT_USER_SCRIPT_TIMEOUT="0"))
    with pytest.raises(SettingError, match="LANDSAT_USER_SCRIPT_TIMEOUT"):
        user_script_assets(dict(env, LANDSAT_USER_SCRIPT_TIMEOUT="soon"))
    with pytest.raises(SettingError, match="LANDSAT_USER_SCRIPT_PASS_ENV"):
        user_script_assets(dict(env, LANDSAT_USER_SCRIPT_PASS_ENV="AWS_REGION, $(id)"))
    with pytest.raises(SettingError, match="is not a file"):
        user_script_assets(dict(env, LANDSAT_USER_SCRIPT=str(tmp_path / "missing.py")))
