"""Bring your own script: an analyst's local Python script run once per scene through Dagster Pipes.

`LANDSAT_USER_SCRIPT` names the script; without it the asset is not part of the definitions.
The contract (docs/user_scripts.md): the script gets the scene's inputs as Pipes extras,
writes exactly one product file (.tif, .json or .parquet) into its output directory, and
reports metadata, checks and logs through dagster-pipes.

The platform, not the script, publishes the product, as `<storage>/user_scene_product/
<scene>.<ext>`, and only once every scene of the step has succeeded: exit code 0 within the
timeout, the Pipes session opened and closed, and one readable product. A Dagster step is
all or nothing, so a failing scene leaves every earlier product untouched; the main job's
per-scene reruns then isolate it.

This isolates a process, it is not a sandbox: the script runs in its own process group
(killed whole on timeout, when the run is stopped, and after it exits), in a fresh scratch
directory that is also its HOME, with an environment of PATH, locale and GDAL/PROJ data
variables, the Pipes bootstrap variables and what `LANDSAT_USER_SCRIPT_PASS_ENV` lists, so
no credential reaches it unless listed. It can still read whatever the code location can.
"""

import codecs
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow.parquet as pq
import rasterio
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    PipesSubprocessClient,
    asset,
    open_pipes_session,
)
from dagster._core.errors import DagsterPipesExecutionError
from dagster._core.pipes.client import PipesClientCompletedInvocation
from dagster._core.pipes.context import PipesSession
from dagster_pipes import PipesExtras
from rasterio.errors import RasterioError
from rasterio.windows import Window

from landsat_assets.assets.common import STORAGE_METADATA, per_scene, storage_link
from landsat_assets.errors import InputError, LandsatAssetsError
from landsat_assets.io_managers.products import StoredRaster
from landsat_assets.resources.storage import LandsatStorage
from landsat_assets.science.qa import MaskClass
from landsat_assets.science.status import SceneStatus
from landsat_assets.settings import Settings, as_settings
from landsat_assets.stores import ProductStore, product_key

USER_SCRIPT_ASSET = "user_scene_product"
TIMEOUT_SETTING = "LANDSAT_USER_SCRIPT_TIMEOUT"

BASE_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ", "GDAL_DATA", "PROJ_DATA", "PROJ_LIB")
"""Variables a script gets from the code location's environment without being listed."""

PRODUCT_FORMATS: Mapping[str, str] = {
    ".tif": "tif",
    ".tiff": "tif",
    ".json": "json",
    ".parquet": "parquet",
}
"""Product file suffixes a script may write, and the extension they are published under."""

STDERR_TAIL_LINES = 30
STDERR_TAIL_BYTES = 16_384


class ScriptProcessError(DagsterPipesExecutionError):
    """The script's process failed (exit code, timeout, Pipes protocol); keeps its stderr tail."""

    def __init__(self, reason: str, stderr_tail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stderr_tail = stderr_tail


class ScriptOutputError(InputError):
    """The script exited cleanly but left no single readable product."""


class UserScriptError(LandsatAssetsError):
    """A scene's script run failed; the message names the script, the scene and the reason,
    and ends with the script's stderr tail (a Python traceback lands there)."""

    def __init__(self, script: Path, scene: str, reason: str, stderr_tail: str) -> None:
        tail = stderr_tail.strip() or "(empty)"
        super().__init__(
            f"user script {script.name} failed for scene {scene}: {reason}\n"
            f"stderr (last {STDERR_TAIL_LINES} lines):\n{tail}"
        )
        self.scene = scene
        self.reason = reason
        self.stderr_tail = stderr_tail


class ScriptInvocation(PipesClientCompletedInvocation):
    """A finished, successful script run: its Pipes results and the end of its stderr."""

    def __init__(self, session: PipesSession, stderr_tail: str) -> None:
        super().__init__(session)
        self.stderr_tail = stderr_tail


class _StderrTail:
    """Copies a child's stderr to ours as it arrives (so it lands in the run's compute log)
    and keeps its last bytes for error messages, in bounded memory."""

    def __init__(self, stream: IO[bytes], *, echo: bool) -> None:
        self._stream = stream
        self._echo = echo
        self._tail = bytearray()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        with self._stream:
            while chunk := self._stream.read1(65536):  # type: ignore[attr-defined]
                if self._echo:
                    sys.stderr.write(decoder.decode(chunk))
                    sys.stderr.flush()
                self._tail += chunk
                del self._tail[:-STDERR_TAIL_BYTES]

    def join(self, timeout: float) -> None:
        """Wait for EOF; a process that escaped the group may hold the pipe, so give up then."""
        self._thread.join(timeout)

    def text(self) -> str:
        decoded = bytes(self._tail).decode("utf-8", errors="replace")
        return "\n".join(decoded.splitlines()[-STDERR_TAIL_LINES:])


def _signal_group(group: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(group, sig)


def _stop_group(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the group if its leader still runs, SIGKILL whatever is left after `grace_s`
    (also children a finished script left behind), and reap the leader."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


class ScriptSubprocessClient(PipesSubprocessClient):
    """A `PipesSubprocessClient` for code the platform does not own.

    Unlike its base, the process inherits none of the orchestrator's environment: it gets
    the client's and the call's `env` plus the Pipes bootstrap variables. It runs in its own
    process group, which is stopped whole on timeout, on interruption and after the script
    exits; its stderr is forwarded and its tail kept for the error. A run also fails when
    the script exits 0 without opening and closing Dagster Pipes: then its messages (the
    metadata it reports) were lost or never sent.
    """

    def run(  # type: ignore[override]
        self,
        *,
        context: OpExecutionContext | AssetExecutionContext,
        extras: PipesExtras | None = None,
        command: str | Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout_s: float | None = None,
    ) -> ScriptInvocation:
        timed_out = False
        with open_pipes_session(
            context=context,
            context_injector=self.context_injector,
            message_reader=self.message_reader,
            extras=extras,
        ) as session:
            process = subprocess.Popen(
                command,
                cwd=cwd or self.cwd,
                env={**self.env, **(env or {}), **session.get_bootstrap_env_vars()},
                stdin=subprocess.DEVNULL,
                stdout=None if self.forward_stdio else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            assert process.stderr is not None
            stderr = _StderrTail(process.stderr, echo=self.forward_stdio)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            except BaseException:
                context.log.info("[pipes] execution interrupted, stopping the script's processes")
                raise
            finally:
                _stop_group(process, self.termination_timeout_seconds)
                stderr.join(timeout=self.termination_timeout_seconds)
        tail = stderr.text()
        handler = session.message_handler
        if timed_out:
            raise ScriptProcessError(
                f"did not finish within {timeout_s:g} s ({TIMEOUT_SETTING}); "
                "its process group was killed",
                tail,
            )
        if process.returncode < 0:
            name = signal.Signals(-process.returncode).name
            raise ScriptProcessError(f"was killed by {name}", tail)
        if process.returncode != 0:
            raise ScriptProcessError(f"exited with code {process.returncode}", tail)
        if not handler.received_opened_message:
            raise ScriptProcessError(
                "exited 0 without opening Dagster Pipes (it must run "
                "`with open_dagster_pipes() as pipes:`)",
                tail,
            )
        if not handler.received_closed_message:
            raise ScriptProcessError(
                "exited 0 but its Dagster Pipes session did not close cleanly: its message "
                "channel held something other than Pipes messages, or it exited from inside "
                "the `with open_dagster_pipes()` block",
                tail,
            )
        return ScriptInvocation(session, tail)


def script_environment(
    pass_env: Iterable[str], home: Path, source: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The script's environment apart from Pipes' variables: the base variables and the
    listed ones that are set, HOME in its scratch directory (so no tool finds credentials
    under the real home) unless HOME is listed, and unbuffered Python output."""
    inherited = {name: source[name] for name in (*BASE_ENVIRONMENT, *pass_env) if name in source}
    return {"PATH": os.defpath, "HOME": str(home), "PYTHONUNBUFFERED": "1", **inherited}


def find_product(output_dir: Path) -> Path:
    """The one product file the script wrote; other files (scratch, GDAL sidecars) are ignored."""
    products = [p for p in sorted(output_dir.iterdir()) if p.suffix.lower() in PRODUCT_FORMATS]
    if not products:
        raise ScriptOutputError(
            f"wrote no product file ({', '.join(PRODUCT_FORMATS)}) into its output directory"
        )
    if len(products) > 1:
        names = ", ".join(p.name for p in products)
        raise ScriptOutputError(f"wrote {len(products)} product files ({names}); write one")
    if not stat.S_ISREG(products[0].lstat().st_mode):
        raise ScriptOutputError(f"{products[0].name} is not a regular file")
    return products[0]


def _describe_raster(path: Path) -> dict[str, Any]:
    with rasterio.open(path) as dataset:
        if dataset.driver != "GTiff":
            raise ValueError(f"it is a {dataset.driver} raster, not a GeoTIFF")
        # The last row: a truncated file opens fine but fails here.
        dataset.read(1, window=Window(0, dataset.height - 1, dataset.width, 1))
        return {
            "width": dataset.width,
            "height": dataset.height,
            "bands": dataset.count,
            "dtype": dataset.dtypes[0],
            "crs": dataset.crs.to_string() if dataset.crs else "none",
        }


def _describe_json(path: Path) -> dict[str, Any]:
    value = json.loads(path.read_bytes())
    kind = {dict: "object", list: "array"}.get(type(value), "scalar")
    return {"json_type": kind}


def _describe_parquet(path: Path) -> dict[str, Any]:
    metadata = pq.read_metadata(path)
    return {"rows": metadata.num_rows, "columns": ", ".join(metadata.schema.names)}


_DESCRIBE = {"tif": _describe_raster, "json": _describe_json, "parquet": _describe_parquet}


def inspect_product(path: Path) -> tuple[str, dict[str, Any]]:
    """The product's published extension and its metadata; refuses a file that is not what
    its suffix says, so garbage never reaches storage."""
    extension = PRODUCT_FORMATS[path.suffix.lower()]
    try:
        details = _DESCRIBE[extension](path)
    except (RasterioError, ValueError, OSError) as error:
        raise ScriptOutputError(
            f"{path.name} is not a readable {extension} file: {error}"
        ) from error
    return extension, {"format": extension, "bytes": path.stat().st_size, **details}


def reported_metadata(
    context: AssetExecutionContext, scene: str, invocation: ScriptInvocation
) -> dict[str, Any]:
    """What the script reported, as materialization metadata: its materialization metadata
    as is, and each check as `check <name>` (passed / failed) plus `check <name>: <key>`.

    Checks become metadata because Dagster asset checks must be declared up front and are
    not per partition in a multi-partition step; a failed check is logged as a warning."""
    metadata: dict[str, Any] = {}
    for result in invocation.get_results(implicit_materializations=False):
        if isinstance(result, MaterializeResult):
            metadata.update(result.metadata or {})
        elif isinstance(result, AssetCheckResult):
            name = result.check_name
            verdict = "passed" if result.passed else f"failed ({result.severity.value.lower()})"
            if not result.passed:
                context.log.warning(f"{scene}: the script's check {name} {verdict}")
            metadata[f"check {name}"] = verdict
            metadata.update({f"check {name}: {k}": v for k, v in result.metadata.items()})
    return metadata


@dataclass(frozen=True)
class ScriptProduct:
    path: Path
    extension: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class UserScript:
    """One configured script and how it is run for a scene."""

    path: Path
    timeout_s: float
    pass_env: tuple[str, ...]

    def run_for_scene(
        self,
        context: AssetExecutionContext,
        client: ScriptSubprocessClient,
        scene: str,
        bands: StoredRaster,
        mask: StoredRaster,
        scratch: Path,
    ) -> ScriptProduct:
        extras = {
            "scene_key": scene,
            "scene_bands_uri": bands.uri,
            "band_order": list(bands.descriptions),
            "cloud_mask_uri": mask.uri,
            "mask_classes": {c.name.lower(): int(c) for c in MaskClass},
            "output_dir": str(scratch),
        }
        started = time.monotonic()
        try:
            invocation = client.run(
                context=context,
                extras=extras,
                command=[sys.executable, str(self.path)],
                env=script_environment(self.pass_env, scratch),
                cwd=str(scratch),
                timeout_s=self.timeout_s,
            )
        except ScriptProcessError as error:
            raise UserScriptError(self.path, scene, error.reason, error.stderr_tail) from error
        seconds = time.monotonic() - started
        try:
            path = find_product(scratch)
            extension, details = inspect_product(path)
        except ScriptOutputError as error:
            raise UserScriptError(self.path, scene, str(error), invocation.stderr_tail) from error
        context.log.info(f"{scene}: {self.path.name} wrote {path.name} in {seconds:.1f} s")
        metadata = {
            **reported_metadata(context, scene, invocation),
            "status": "produced",
            "script": MetadataValue.path(str(self.path)),
            "script_seconds": MetadataValue.float(seconds),
            **details,
        }
        return ScriptProduct(path, extension, metadata)


def _publish(
    context: AssetExecutionContext, store: ProductStore, scene: str, product: ScriptProduct | None
) -> None:
    """Put the product under its final key and remove this scene's product in any other
    format, so storage holds exactly what this run made (nothing when it made nothing)."""
    formats = set(PRODUCT_FORMATS.values())
    if product is None:
        for extension in formats:
            store.delete(product_key(USER_SCRIPT_ASSET, scene, extension))
        context.add_asset_metadata(
            {
                "status": SceneStatus.NO_DATA.value,
                "reason": "no bands or cloud mask for this scene",
            },
            partition_key=scene,
        )
        return
    uri = store.put(product.path, product_key(USER_SCRIPT_ASSET, scene, product.extension))
    for extension in formats - {product.extension}:
        store.delete(product_key(USER_SCRIPT_ASSET, scene, extension))
    context.add_asset_metadata(
        {**product.metadata, STORAGE_METADATA: storage_link(uri)}, partition_key=scene
    )


def build_user_script_asset(
    script: Path, timeout_s: float, pass_env: tuple[str, ...]
) -> AssetsDefinition:
    """The per-scene asset that runs `script`; its code version is the script's hash, so
    editing the script makes its products stale."""
    script = script.expanduser().resolve()
    user_script = UserScript(script, timeout_s, pass_env)

    @asset(
        name=USER_SCRIPT_ASSET,
        **per_scene,
        group_name="user_scripts",
        kinds={"python"},
        code_version=hashlib.sha256(script.read_bytes()).hexdigest()[:16],
        description=(
            f"The product of the user script {script}, run per scene through Dagster Pipes "
            "on the scene's bands and cloud mask (see docs/user_scripts.md)."
        ),
    )
    def user_scene_product(
        context: AssetExecutionContext,
        scene_bands: dict[str, StoredRaster | None],
        cloud_mask: dict[str, StoredRaster | None],
        storage: LandsatStorage,
        pipes_subprocess_client: ScriptSubprocessClient,
    ) -> MaterializeResult:
        store = storage.store()
        products: dict[str, ScriptProduct | None] = {}
        scratch_dirs: list[Path] = []
        try:
            for scene in context.partition_keys:
                bands, mask = scene_bands[scene], cloud_mask[scene]
                if bands is None or mask is None:
                    context.log.info(f"{scene}: no bands or cloud mask; the script is not run")
                    products[scene] = None
                    continue
                scratch_dirs.append(store.staging_dir())
                products[scene] = user_script.run_for_scene(
                    context, pipes_subprocess_client, scene, bands, mask, scratch_dirs[-1]
                )
            for scene, product in products.items():
                _publish(context, store, scene, product)
        finally:
            for scratch in scratch_dirs:
                shutil.rmtree(scratch, ignore_errors=True)
        return MaterializeResult()

    return user_scene_product


def user_script_assets(config: Settings | Mapping[str, str]) -> list[AssetsDefinition]:
    """The user-script asset when `LANDSAT_USER_SCRIPT` is set, else none."""
    settings = as_settings(config)
    if settings.user_script is None:
        return []
    return [
        build_user_script_asset(
            settings.user_script, settings.user_script_timeout, settings.user_script_pass_env
        )
    ]
