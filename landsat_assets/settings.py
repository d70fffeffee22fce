"""Every `LANDSAT_*` setting of a deployment, parsed once into one typed, validated object.

`Settings.from_env(env)` is the only reader of the variables: the code location
(`definitions.py`) and the CLI each build one `Settings` and pass it down, so a value is
checked once, with one message, whatever reads it. Each invalid value is a `SettingError`
naming the variable, the value and what is allowed.

The declarations below are also the documentation: `settings_table()` renders them as the
table in docs/configuration.md, and a test keeps the two equal.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from landsat_assets.errors import AoiError, SettingError
from landsat_assets.fields import (
    DEFAULT_ID_PROPERTY,
    FieldsError,
    fields_union,
    is_geopackage,
    load_fields,
)
from landsat_assets.science.indices import INDICES, parse_indices
from landsat_assets.science.qa import MaskClass, parse_usable_classes
from landsat_assets.stac.aoi import Aoi, load_aoi
from landsat_assets.stac.watermark import FirstTick
from landsat_assets.urls import redact_text

PREFIX = "LANDSAT_"
DEFAULT_DEMO_CATALOG = "./demo-catalog/catalog.json"
NO_AOI = "none"
"""`LANDSAT_AOI=none`: whole scenes, no AOI window."""


class StartStatus(StrEnum):
    """Whether a sensor runs from the moment the code location loads, or waits for a person."""

    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Setting:
    """How one variable is read: its documented default, what it means, how it is parsed."""

    variable: str
    default: str
    """The default as a person would write it ("" = unset)."""
    help: str
    parse: Callable[[str], Any]
    """Text -> value; raises ValueError saying what is allowed."""
    fixed_at_load: bool = False
    """Read when the code location loads: a change needs a code location reload."""


def _setting(
    variable: str,
    default: str,
    help: str,
    parse: Callable[[str], Any],
    *,
    fixed_at_load: bool = False,
    value: Any = None,
) -> Any:
    """A `Settings` field read from `variable`. Its value when the variable is unset is `value`
    if given, else `default` parsed (None for an empty `default`)."""
    declaration = Setting(variable, default, help, parse, fixed_at_load)
    if value is None and default:
        value = parse(default)
    return dataclasses.field(default=value, metadata={"setting": declaration})


def _text(text: str) -> str:
    return text.strip()


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("not a number") from None
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _between(low: float, high: float, what: str) -> Callable[[str], float]:
    allowed = f"{what} must be a number from {low:g} to {high:g}"

    def parse(text: str) -> float:
        try:
            value = _number(text)
        except ValueError:
            raise ValueError(allowed) from None
        if not low <= value <= high:
            raise ValueError(allowed)
        return value

    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError("must be a whole number of at least 1") from None
    if value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def _positive_number(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise ValueError("must be a number above 0")
    return value


def _non_negative_number(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise ValueError("must be a number of at least 0")
    return value


def _choice(enum: type[StrEnum]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return enum(text.strip().lower())
        except ValueError:
            raise ValueError(f"must be {' or '.join(repr(m.value) for m in enum)}") from None

    return parse


def parse_date(text: str) -> datetime:
    """An ISO date or date-time; naive ones are UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("is not an ISO date (YYYY-MM-DD)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _usable_classes(text: str) -> frozenset[MaskClass]:
    return parse_usable_classes(text)


def _aoi(text: str) -> str:
    """The AOI spec, checked by loading it once (a file that exists and holds an area, or a
    bbox); the spec is kept so provenance and the UI show what was given."""
    spec = text.strip()
    if spec.lower() != NO_AOI:
        try:
            load_aoi(spec)
        except AoiError as error:
            raise ValueError(str(error)) from None
    return spec


def _fields_file(text: str) -> Path:
    path = Path(text.strip()).expanduser()
    if not path.is_file():
        raise ValueError("is not a file")
    return path


def _storage(text: str) -> str:
    # Here, not at the top: the stores import rasterio, which the `ndvi` command imports
    # in its own way after loading the settings (`science.remote`).
    from landsat_assets.stores import parse_storage_location

    parse_storage_location(text.strip())
    return text.strip()


def _folders(text: str) -> tuple[Path, ...]:
    folders = tuple(Path(part.strip()).expanduser() for part in text.split(",") if part.strip())
    missing = [str(folder) for folder in folders if not folder.is_dir()]
    if missing:
        raise ValueError(f"{missing[0]} is not a folder")
    return tuple(folder.resolve() for folder in folders)


def _cron(text: str) -> str:
    # The cron dialect is Dagster's, so is its validator (the only Dagster import here).
    from dagster._utils.schedules import is_valid_cron_schedule

    cron = text.strip()
    if not is_valid_cron_schedule(cron):
        raise ValueError("is not a cron schedule (five fields, e.g. '*/5 * * * *')")
    return cron


def _script(text: str) -> Path:
    path = Path(text.strip()).expanduser()
    if not path.is_file():
        raise ValueError("is not a file")
    return path


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_names(text: str) -> tuple[str, ...]:
    names = tuple(name for name in re.split(r"[\s,]+", text) if name)
    bad = [name for name in names if not _ENV_NAME.match(name)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not an environment variable name")
    return names


@dataclass(frozen=True)
class Settings:
    """The deployment's settings. Build with `from_env`; the defaults are the documented ones."""

    stac_url: str = _setting(
        "LANDSAT_STAC_URL",
        DEFAULT_DEMO_CATALOG,
        "STAC API URL, or path to a static catalog",
        _text,
    )
    collection: str = _setting(
        "LANDSAT_COLLECTION", "landsat-c2-l2", "collection id in the catalog", _text
    )
    aoi: str | None = _setting(
        "LANDSAT_AOI",
        "",
        "GeoJSON file (a Polygon or MultiPolygon area, WGS84), or `minx,miny,maxx,maxy`; "
        f"`{NO_AOI}` for whole scenes; unset: the demo AOI",
        _aoi,
    )
    fields: Path | None = _setting(
        "LANDSAT_FIELDS",
        "",
        "fields file (GeoJSON FeatureCollection in WGS84, or a one-layer GeoPackage): "
        "statistics and a cloud decision per field and scene; without LANDSAT_AOI the AOI is "
        "their union",
        _fields_file,
        fixed_at_load=True,
    )
    field_id: str = _setting(
        "LANDSAT_FIELD_ID",
        DEFAULT_ID_PROPERTY,
        "the property that names each field (a feature without it uses its own `id`)",
        _text,
        fixed_at_load=True,
    )
    indices: tuple[str, ...] = _setting(
        "LANDSAT_INDICES",
        "ndvi",
        f"spectral indices computed (comma-separated): any of {', '.join(INDICES)}; NDVI "
        "always is. Only the bands they need are read",
        parse_indices,
        fixed_at_load=True,
    )
    local_roots: tuple[Path, ...] = _setting(
        "LANDSAT_LOCAL_ROOTS",
        "",
        "folders (comma-separated) besides a local catalog's own folder whose band files its "
        "items may name; remote catalogs never reach local files",
        _folders,
        value=(),
    )
    max_items: int = _setting(
        "LANDSAT_MAX_ITEMS",
        "100000",
        "items one catalog search may list at most; past it the search fails, naming the "
        "catalog (a sensor tick then keeps its cursor)",
        _positive_int,
    )
    search_timeout_seconds: float = _setting(
        "LANDSAT_SEARCH_TIMEOUT_SECONDS",
        "600",
        "seconds one catalog search may take at most, however slowly the server answers",
        _positive_number,
    )
    start_date: datetime | None = _setting(
        "LANDSAT_START_DATE", "", "first acquisition date (ISO); unset: unbounded", parse_date
    )
    end_date: datetime | None = _setting(
        "LANDSAT_END_DATE", "", "last acquisition date (ISO); unset: unbounded", parse_date
    )
    max_scene_cloud: float | None = _setting(
        "LANDSAT_MAX_SCENE_CLOUD",
        "",
        "largest scene cloud cover (%, 0 to 100) searched; unset: any",
        _between(0, 100, "a percentage"),
    )
    min_clear_fraction: float = _setting(
        "LANDSAT_MIN_CLEAR_FRACTION",
        "0.2",
        "scenes whose AOI clear fraction (0 to 1) is lower are filtered, not processed",
        _between(0, 1, "a fraction"),
    )
    usable_classes: frozenset[MaskClass] = _setting(
        "LANDSAT_USABLE_CLASSES",
        "clear,water,snow",
        "mask classes counted as clear (the default is QA_PIXEL bits 0-4 all zero); any of "
        + ", ".join(c.name.lower() for c in MaskClass if c is not MaskClass.FILL),
        _usable_classes,
    )
    storage: str = _setting(
        "LANDSAT_STORAGE",
        "./data",
        "output folder, or `s3://bucket/prefix`",
        _storage,
        # Given rather than parsed here: parsing loads the stores and rasterio with them,
        # which the `ndvi` command imports in its own way after the settings
        # (`science.remote`); a test parses the default to this value.
        value="./data",
    )
    scenes_per_run: int = _setting(
        "LANDSAT_SCENES_PER_RUN",
        "10",
        "scenes per Dagster run in backfills and the main job",
        _positive_int,
        fixed_at_load=True,
    )
    sensor_status: StartStatus = _setting(
        "LANDSAT_SENSOR_STATUS",
        "running",
        "scene sensor at start: `running` or `stopped`",
        _choice(StartStatus),
        fixed_at_load=True,
    )
    sensor_interval_seconds: int = _setting(
        "LANDSAT_SENSOR_INTERVAL_SECONDS",
        "30",
        "seconds between scene sensor ticks",
        _positive_int,
        fixed_at_load=True,
    )
    sensor_max_runs_per_tick: int = _setting(
        "LANDSAT_SENSOR_MAX_RUNS_PER_TICK",
        "50",
        "runs one scene sensor tick requests at most",
        _positive_int,
        fixed_at_load=True,
    )
    sensor_lookback_days: float = _setting(
        "LANDSAT_SENSOR_LOOKBACK_DAYS",
        "30",
        "days behind its watermark each sensor tick rescans",
        _non_negative_number,
        fixed_at_load=True,
    )
    sensor_first_tick: FirstTick = _setting(
        "LANDSAT_SENSOR_FIRST_TICK",
        "latest",
        "what the first tick requests: `latest` (newest scene per path/row) or `all`",
        _choice(FirstTick),
        fixed_at_load=True,
    )
    automation_status: StartStatus = _setting(
        "LANDSAT_AUTOMATION_STATUS",
        "running",
        "automation sensor at start: `running` or `stopped`",
        _choice(StartStatus),
        fixed_at_load=True,
    )
    automation_interval_seconds: int = _setting(
        "LANDSAT_AUTOMATION_INTERVAL_SECONDS",
        "30",
        "seconds between automation sensor evaluations",
        _positive_int,
        fixed_at_load=True,
    )
    summary_cron: str = _setting(
        "LANDSAT_SUMMARY_CRON",
        "*/5 * * * *",
        "at most how often the summary refreshes while scenes are still running",
        _cron,
        fixed_at_load=True,
        value="*/5 * * * *",
    )
    user_script: Path | None = _setting(
        "LANDSAT_USER_SCRIPT",
        "",
        "your per-scene Python script (docs/user_scripts.md); unset: no script asset",
        _script,
        fixed_at_load=True,
    )
    user_script_timeout: float = _setting(
        "LANDSAT_USER_SCRIPT_TIMEOUT",
        "600",
        "seconds a script may run per scene",
        _positive_number,
    )
    user_script_pass_env: tuple[str, ...] = _setting(
        "LANDSAT_USER_SCRIPT_PASS_ENV",
        "",
        "environment variables passed to the script (comma- or space-separated)",
        _env_names,
        value=(),
    )

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, given_as: Mapping[str, str] | None = None
    ) -> Settings:
        """Parse every `LANDSAT_*` variable of `env`; empty means unset.

        `given_as` names how a person gave a variable (a CLI option), for the messages.
        Unknown `LANDSAT_*` variables are refused: a misspelt setting would otherwise be
        ignored without a word.
        """
        declared = {d.variable for d in declarations()}
        for variable in sorted(v for v in env if v.startswith(PREFIX) and v not in declared):
            close = difflib.get_close_matches(variable, declared, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise SettingError(f"{variable} is not a setting of landsat-assets{hint}")
        values = {}
        for item in dataclasses.fields(cls):
            variable = item.metadata["setting"].variable
            text = env.get(variable) or ""
            if text.strip():
                values[item.name] = parse_setting(
                    variable, text, given_as=(given_as or {}).get(variable, variable)
                )
        settings = cls(**values)
        if settings.fields is not None:
            try:
                load_fields(settings.fields, settings.field_id)
            except FieldsError as error:
                raise SettingError(str(error)) from None
            if settings.aoi is None:
                # The AOI loader reads a FeatureCollection as the union of its features;
                # `resolve_aoi` reads a GeoPackage's.
                settings = dataclasses.replace(settings, aoi=str(settings.fields))
        if settings.start_date and settings.end_date and settings.start_date > settings.end_date:
            raise SettingError(
                f"LANDSAT_START_DATE={settings.start_date.date().isoformat()} is after "
                f"LANDSAT_END_DATE={settings.end_date.date().isoformat()}"
            )
        return settings


def resolve_aoi(spec: str | None) -> Aoi | None:
    """The AOI of a `LANDSAT_AOI` spec: the demo AOI when unset, None for `none`."""
    if spec is None:
        from landsat_assets.demo import DEMO_AOI_PATH

        return load_aoi(str(DEMO_AOI_PATH))
    if spec.strip().lower() == NO_AOI:
        return None
    if is_geopackage(spec.strip()):  # a GeoPackage LANDSAT_FIELDS standing for the AOI
        return Aoi(geometry=fields_union(spec.strip()), source=spec.strip())
    return load_aoi(spec)


def parse_setting(variable: str, text: str, *, given_as: str) -> Any:
    """One setting's value from its text, as `Settings.from_env` parses it; the error names
    the setting the way the person gave it (`given_as`)."""
    (declaration,) = (d for d in declarations() if d.variable == variable)
    try:
        return declaration.parse(text)
    except ValueError as error:
        raise SettingError(f"{given_as}={redact_text(text)!r}: {error}") from None


def as_settings(config: Settings | Mapping[str, str]) -> Settings:
    """`config` itself, or the settings of an environment mapping."""
    return config if isinstance(config, Settings) else Settings.from_env(config)


def declarations() -> list[Setting]:
    return [item.metadata["setting"] for item in dataclasses.fields(Settings)]


def settings_table() -> str:
    """The settings as a Markdown table (docs/configuration.md)."""
    rows = [
        "| variable | meaning | default |",
        "|---|---|---|",
    ]
    for declaration in declarations():
        default = f"`{declaration.default}`" if declaration.default else "unset"
        meaning = declaration.help
        if declaration.fixed_at_load:
            meaning += " (read when the code location loads)"
        rows.append(f"| `{declaration.variable}` | {meaning} | {default} |")
    return "\n".join(rows)
