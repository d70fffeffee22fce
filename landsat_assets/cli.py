"""`landsat-assets`: the main job, the direct NDVI command, item inspection, the demo catalog."""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import math
import os
import re
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from landsat_assets.errors import InputError, InstanceError, LandsatAssetsError, StorageError
from landsat_assets.settings import Settings, declarations, parse_setting
from landsat_assets.stac.scene import USGS_SR_OFFSET, USGS_SR_SCALE
from landsat_assets.urls import redact_text

if TYPE_CHECKING:
    import pandas as pd
    from dagster import Definitions

DEFAULT_DAGSTER_HOME = Path(".dagster_home")
REPO_INSTANCE_CONFIG = Path(__file__).resolve().parent.parent / "dagster.yaml"


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _clean_floats(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


def root_cause(error: BaseException) -> str:
    """The innermost error's message (a database driver's names the host and port, where
    Dagster's wrapper says only "too many retries"), with any password in a URL masked."""
    while error.__cause__ is not None:
        error = error.__cause__
    return redact_text(str(error).strip())


LOW_SPACE_BYTES = 1 << 20
"""Free space under which a failed database write is taken for a full disk: SQLite reports
a full tmpfs as "disk I/O error", not as "database or disk is full"."""


def instance_failure(error: BaseException, home: Path) -> InstanceError:
    """A database error of the Dagster instance as one line; a full disk says so and names
    DAGSTER_HOME. Products already written stay, and the next run finds the rest to do."""
    cause = root_cause(error)
    if "disk is full" in cause or shutil.disk_usage(home).free < LOW_SPACE_BYTES:
        return InstanceError(
            f"no space left on the device holding DAGSTER_HOME {home}: the Dagster instance "
            "cannot record the run; free some space and run again (it picks up where this "
            "run stopped)"
        )
    return InstanceError(f"the Dagster instance in {home} failed: {cause}")


class _HeldBack(io.TextIOBase):
    """A stderr that keeps what is written to it until `release`."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.held: list[str] = []

    def write(self, text: str) -> int:
        self.held.append(text)
        return len(text)

    def release(self) -> None:
        self.stream.write("".join(self.held))
        self.stream.flush()


@contextlib.contextmanager
def dagster_console_held_back() -> Iterator[None]:
    """Hold back what Dagster's console logger writes to stderr during a run and print it
    when the run ends. A run that fails because the instance cannot record it (a full
    DAGSTER_HOME) drops it: Dagster's step failures, stack traces and "Exception while
    writing logger call" lines are all that one failure, which `instance_failure` states in
    one line (raised as an `InstanceError` inside the block), and the next run reports any
    scene failure again."""
    held = _HeldBack(sys.stderr)
    sys.stderr = held
    try:
        yield
    except InstanceError:
        raise
    except BaseException:
        held.release()
        raise
    else:
        held.release()
    finally:
        sys.stderr = held.stream


def ensure_dagster_home() -> Path:
    """Use DAGSTER_HOME, or `./.dagster_home` seeded with the project's dagster.yaml."""
    # Here, not at the top: the stores import rasterio, which `command_ndvi` imports itself.
    from landsat_assets.stores import check_writable_folder

    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).resolve()
    try:
        check_writable_folder(home, f"DAGSTER_HOME {home}")
    except StorageError as error:
        raise InstanceError(str(error)) from None
    config = home / "dagster.yaml"
    if not config.exists() and REPO_INSTANCE_CONFIG.exists():
        shutil.copyfile(REPO_INSTANCE_CONFIG, config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


RUN_OPTIONS = {
    "catalog": "LANDSAT_STAC_URL",
    "aoi": "LANDSAT_AOI",
    "fields": "LANDSAT_FIELDS",
    "indices": "LANDSAT_INDICES",
    "start": "LANDSAT_START_DATE",
    "end": "LANDSAT_END_DATE",
    "storage": "LANDSAT_STORAGE",
    "min_clear_fraction": "LANDSAT_MIN_CLEAR_FRACTION",
    "scenes_per_run": "LANDSAT_SCENES_PER_RUN",
}
"""Command-line options that set a setting for one command, by argparse destination."""


def command_settings(args: argparse.Namespace) -> Settings:
    """The settings of this command: the environment, with the options given overriding it.
    Messages name the option the person typed, not the variable behind it."""
    env = dict(os.environ)
    given_as = {}
    for dest, variable in RUN_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is not None:
            env[variable] = value
            given_as[variable] = "--" + dest.replace("_", "-")
    return Settings.from_env(env, given_as=given_as)


def command_run(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance
    from sqlalchemy.exc import OperationalError

    from landsat_assets.definitions import build_definitions
    from landsat_assets.runner import ALL_SCENES, format_report, run_pipeline

    settings = command_settings(args)
    home = ensure_dagster_home()
    defs = build_definitions(settings)
    # What is loaded by now (Dagster, the code location) lives as long as the process. Frozen,
    # the cyclic collector's full passes stop rescanning it while the run makes thousands of
    # scene records: a fifth of a 10,000-item search.
    gc.freeze()
    try:
        instance = DagsterInstance.get()
    except Exception as error:
        raise InstanceError(
            f"cannot open the Dagster instance {home / 'dagster.yaml'}: {root_cause(error)}"
        ) from error
    with instance, dagster_console_held_back():
        try:
            report = run_pipeline(
                instance,
                defs,
                scenes_per_run=settings.scenes_per_run,
                force=args.scene or (ALL_SCENES if args.force else None),
                search_workers=len(os.sched_getaffinity(0)),
            )
        except OperationalError as error:
            raise instance_failure(error, home) from error
    storage = defs.resources["storage"].store()
    print(format_report(report, storage.uri("")))
    print(f"Dagster instance: {home} (open the UI with `make dev`)")
    return 0 if report.ok else 1


def command_summary(args: argparse.Namespace) -> int:
    from landsat_assets.definitions import build_definitions
    from landsat_assets.runner import format_summary_table, load_summary

    defs = build_definitions(command_settings(args))
    table = load_summary(defs)
    if table is None:
        return _nothing_yet(defs, "summary", "run `landsat-assets run` first")
    _print_table(table, args, format_summary_table)
    return 0


def _nothing_yet(defs: Definitions, what: str, hint: str) -> int:
    print(f"no {what} in {defs.resources['storage'].store().uri('')}: {hint}", file=sys.stderr)
    return 1


def _print_table(
    table: pd.DataFrame, args: argparse.Namespace, readable: Callable[[pd.DataFrame], str]
) -> None:
    """`table` as JSON row objects (`--json`), CSV (`--csv`) or `readable` text."""
    if args.json:
        rows = [_clean_floats(row) for row in table.to_dict(orient="records")]
        print(json.dumps(rows, default=_json_default, indent=2))
    elif args.csv:
        print(table.to_csv(index=False), end="")
    else:
        print(readable(table))


def command_fields(args: argparse.Namespace) -> int:
    from landsat_assets.definitions import build_definitions
    from landsat_assets.runner import format_field_table, load_field_timeseries

    defs = build_definitions(command_settings(args))
    table = load_field_timeseries(defs)
    if table is None:
        return _nothing_yet(
            defs, "field time series", "run `landsat-assets run --fields FILE` first"
        )
    if args.field:
        unknown = sorted(set(args.field) - set(table["field_id"]))
        if unknown:
            raise InputError(f"--field {', '.join(unknown)}: no such field in the time series")
        table = table[table["field_id"].isin(args.field)]
    _print_table(table, args, format_field_table)
    return 0


def command_ndvi(args: argparse.Namespace) -> int:
    from landsat_assets.science.remote import import_rasterio_for_local_files, is_remote

    # First, before anything imports rasterio: local files need no boto3, which rasterio
    # would load (0.4-0.5 s of CPU per command with its teardown; `science.remote`).
    if not any(is_remote(path) for path in (args.red, args.nir, args.qa)):
        import_rasterio_for_local_files()
    from landsat_assets.science.bands import open_scene_bands
    from landsat_assets.science.blocks import BandSource, default_readers
    from landsat_assets.science.ndvi import write_ndvi
    from landsat_assets.science.status import SceneStatus

    # The modules loaded by now live as long as the process. Frozen, the interpreter's
    # collections at exit skip them: 0.1-0.15 s less teardown per command (docs/performance.md).
    gc.freeze()
    scene = Path(args.red).stem
    min_clear_fraction = parse_setting(
        "LANDSAT_MIN_CLEAR_FRACTION", args.min_clear_fraction, given_as="--min-clear-fraction"
    )
    with open_scene_bands(scene, {"red": args.red, "nir08": args.nir, "qa_pixel": args.qa}):
        pass
    result = write_ndvi(
        scene,
        BandSource(args.red),
        BandSource(args.nir),
        BandSource(args.qa),
        Path(args.out),
        red_scale=(args.scale, args.offset),
        nir_scale=(args.scale, args.offset),
        min_clear_fraction=min_clear_fraction,
        workers=default_readers(args.red),
    )
    output = {
        "status": result.status.value,
        "reason": result.verdict.reason,
        "output": str(Path(args.out)) if result.status is SceneStatus.PROCESSED else None,
        "aoi_clear_fraction": result.mask.clear_fraction,
        "aoi_cloud_fraction": result.mask.cloud_fraction,
        **result.statistics,
    }
    print(json.dumps(_clean_floats(output), indent=2))
    return 0


def command_inspect(args: argparse.Namespace) -> int:
    from landsat_assets.errors import ItemError
    from landsat_assets.stac.normalize import normalize_item_file

    try:
        record = normalize_item_file(Path(args.item))
    except (ItemError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(record.to_json_dict(), indent=2, default=_json_default))
    return 0


def command_demo_build(args: argparse.Namespace) -> int:
    from landsat_assets.demo.catalog import build_demo_catalog

    path = build_demo_catalog(
        Path(args.out).resolve(),
        size=args.size,
        seed=args.seed,
        dates=args.dates,
        full_size=args.full_size,
    )
    print(f"demo catalog written: {path}")
    return 0


def command_demo_add(args: argparse.Namespace) -> int:
    from landsat_assets.demo.catalog import add_scene

    item = add_scene(Path(args.catalog).resolve(), seed=args.seed)
    print(f"added scene {item.id} ({item.datetime:%Y-%m-%d}) to {args.catalog}")
    return 0


def from_env(variable: str, unset: str | None = None) -> str:
    """The default of an option that overrides a setting: the variable, else the setting's own
    default (`unset` says what no value means, for a setting without one)."""
    (declaration,) = (d for d in declarations() if d.variable == variable)
    return f"(default: ${variable}, else {declaration.default or unset})"


def installed_version() -> str:
    """The installed distribution's version (`--version`)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("landsat-assets")
    except PackageNotFoundError:
        return "(not installed)"


class _VersionAction(argparse.Action):
    """`--version`, which looks the version up only when asked: every command builds the
    parser, and the lookup (importlib.metadata reading the installed metadata) cost 0.03 s
    of each command's start-up (docs/performance.md)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"{parser.prog} {installed_version()}")
        parser.exit()


def _add_table_options(parser: argparse.ArgumentParser) -> None:
    """The options of a command that prints a stored table: its format (readable text unless
    `--json` or `--csv`) and the storage it is read from."""
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON list of row objects")
    output.add_argument("--csv", action="store_true", help="print CSV with a header row")
    parser.add_argument(
        "--storage",
        help="output folder or s3://bucket/prefix to read " + from_env("LANDSAT_STORAGE"),
    )


def _add_commands(parser: argparse.ArgumentParser, dest: str) -> argparse._SubParsersAction:
    """The subcommands of `parser`, the one given stored as `dest`."""
    return parser.add_subparsers(
        dest=dest,
        required=True,
        metavar="COMMAND",
        help="one of these; COMMAND --help: its options",
    )


def _add_command(
    commands: argparse._SubParsersAction, name: str, help: str
) -> argparse.ArgumentParser:
    """A subcommand whose `--help` says what it does, as the list of commands does."""
    return commands.add_parser(name, help=help, description=help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="landsat-assets",
        description="Landsat 8/9 C2 L2 cloud masks, NDVI and scene summaries with Dagster.",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="show the installed version and exit"
    )
    commands = _add_commands(parser, "command")

    run = _add_command(commands, "run", "discover scenes and materialize every product")
    run.add_argument(
        "--catalog",
        help="STAC API URL or static catalog path " + from_env("LANDSAT_STAC_URL"),
    )
    run.add_argument(
        "--aoi",
        help="GeoJSON file, minx,miny,maxx,maxy, or 'none' for whole scenes "
        + from_env("LANDSAT_AOI", "the demo AOI"),
    )
    run.add_argument(
        "--fields",
        help="fields to measure: a GeoJSON FeatureCollection or a GeoPackage "
        + from_env("LANDSAT_FIELDS", "no fields"),
    )
    run.add_argument(
        "--indices",
        metavar="LIST",
        help="spectral indices to compute besides NDVI, comma-separated: evi, savi, ndwi, "
        "ndmi, nbr " + from_env("LANDSAT_INDICES", "ndvi"),
    )
    run.add_argument(
        "--start",
        help="first acquisition date, YYYY-MM-DD " + from_env("LANDSAT_START_DATE", "unbounded"),
    )
    run.add_argument(
        "--end",
        help="last acquisition date, YYYY-MM-DD " + from_env("LANDSAT_END_DATE", "unbounded"),
    )
    run.add_argument(
        "--storage", help="output folder or s3://bucket/prefix " + from_env("LANDSAT_STORAGE")
    )
    run.add_argument(
        "--min-clear-fraction",
        metavar="FRACTION",
        help="scenes whose AOI clear fraction (0 to 1) is lower are filtered "
        + from_env("LANDSAT_MIN_CLEAR_FRACTION"),
    )
    run.add_argument(
        "--scenes-per-run",
        metavar="N",
        help="scenes per Dagster run; a failed batch is re-run scene by scene "
        + from_env("LANDSAT_SCENES_PER_RUN"),
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="recompute every scene found, even those up to date",
    )
    run.add_argument(
        "--scene",
        action="append",
        metavar="KEY",
        help="recompute this scene even if up to date (repeat for more; implies --force)",
    )
    run.set_defaults(handler=command_run)

    summary = _add_command(commands, "summary", "print the all-scenes summary table")
    _add_table_options(summary)
    summary.set_defaults(handler=command_summary)

    fields = _add_command(commands, "fields", "print the fields' time series table")
    _add_table_options(fields)
    fields.add_argument(
        "--field", action="append", metavar="ID", help="only this field (repeat for more)"
    )
    fields.set_defaults(handler=command_fields)

    ndvi = _add_command(commands, "ndvi", "masked NDVI COG from three band files")
    ndvi.add_argument("red", metavar="RED", help="red band (SR_B4) GeoTIFF: a file or URL")
    ndvi.add_argument(
        "nir", metavar="NIR", help="near-infrared band (SR_B5, nir08) GeoTIFF: a file or URL"
    )
    ndvi.add_argument("qa", metavar="QA", help="QA_PIXEL band GeoTIFF: a file or URL")
    ndvi.add_argument(
        "out",
        metavar="OUT",
        help="the NDVI COG to write (nothing is written for a filtered or no-data scene)",
    )
    ndvi.add_argument(
        "--min-clear-fraction",
        default="0",
        metavar="FRACTION",
        help="below this clear fraction (0 to 1) the scene is filtered and nothing is written "
        "(default: %(default)s, never filtered)",
    )
    ndvi.add_argument(
        "--scale",
        type=float,
        default=USGS_SR_SCALE,
        help="reflectance per DN, for both bands (default: %(default)s, USGS C2 L2)",
    )
    ndvi.add_argument(
        "--offset",
        type=float,
        default=USGS_SR_OFFSET,
        help="reflectance at DN 0, for both bands (default: %(default)s, USGS C2 L2)",
    )
    ndvi.set_defaults(handler=command_ndvi)

    inspect = _add_command(commands, "inspect", "print a STAC item's normalized scene record")
    inspect.add_argument("item", metavar="ITEM", help="a STAC item's JSON file")
    inspect.set_defaults(handler=command_inspect)

    demo = _add_command(commands, "demo-catalog", "the embedded synthetic demo catalog")
    demo_commands = _add_commands(demo, "demo_command")
    build = _add_command(demo_commands, "build", "write the demo catalog")
    build.add_argument(
        "--out", default="demo-catalog", help="folder to write it to (default: %(default)s)"
    )
    build.add_argument(
        "--size", type=int, default=1000, help="pixels per scene side (default: %(default)s)"
    )
    build.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the synthetic landscape and weather (default: %(default)s)",
    )
    build.add_argument(
        "--dates", type=int, default=24, help="acquisitions per path/row (default: %(default)s)"
    )
    build.add_argument(
        "--full-size",
        action="store_true",
        help="real-size 7,811 x 7,681 pixel scenes at 30 m instead of --size (slow)",
    )
    build.set_defaults(handler=command_demo_build)
    add = _add_command(demo_commands, "add-scene", "append one newer acquisition")
    add.add_argument(
        "--catalog", default="demo-catalog", help="the demo catalog's folder (default: %(default)s)"
    )
    add.add_argument(
        "--seed", type=int, default=0, help="seed of the new scene's weather (default: %(default)s)"
    )
    add.set_defaults(handler=command_demo_add)
    return parser


_NEGATIVE_NUMBER = re.compile(r"^-\.?\d")


def with_negative_values_attached(argv: Sequence[str]) -> list[str]:
    """`--aoi -105.3,39.9,-105.1,40.1` as `--aoi=-105.3,...`: argparse takes a value that starts
    with a minus sign (any western longitude, southern latitude) for an option of its own."""
    joined: list[str] = []
    for token in argv:
        previous = joined[-1] if joined else ""
        if _NEGATIVE_NUMBER.match(token) and previous.startswith("--") and "=" not in previous:
            joined[-1] = f"{previous}={token}"
        else:
            joined.append(token)
    return joined


def main(argv: Sequence[str] | None = None) -> int:
    # BackfillPolicy, Output's data_version and the automation sensor's use_user_code_server
    # are beta parameters in Dagster 1.13; users cannot act on those warnings.
    for beta in ("backfill_policy", "data_version", "use_user_code_server"):
        warnings.filterwarnings("ignore", message=rf"Parameter `{beta}`")
    arguments = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(with_negative_values_attached(arguments))
    try:
        return args.handler(args)
    except Exception as error:
        if not isinstance(error, LandsatAssetsError):
            raise
        # The platform's own errors name the setting, item or file; a traceback would hide it.
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
