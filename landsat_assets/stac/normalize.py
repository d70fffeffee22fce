"""STAC items from Earth Search, Planetary Computer, USGS LandsatLook or a static catalog,
turned into one `SceneRecord`.

The three public APIs describe the same Landsat product differently (ids with or without
the processing date, `landsat-9` vs `LANDSAT_9`, `raster:bands` present or not, requester-pays
S3 vs signed Azure blobs). Everything downstream works from the normalized record, so each
difference is settled here once, and an item that cannot be used fails here with an
`ItemError` that names it, instead of as a KeyError deep inside a Dagster run.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pystac
from dateutil.parser import ParserError
from pystac.utils import make_absolute_href, str_to_datetime

from landsat_assets.errors import ItemError, SceneKeyError
from landsat_assets.stac.scene import (
    OPTIONAL_BANDS,
    SCENE_BANDS,
    USGS_QA_FILL,
    USGS_SR_NODATA,
    USGS_SR_OFFSET,
    USGS_SR_SCALE,
    Access,
    BandAsset,
    ProductId,
    SceneRecord,
    validate_scene_key,
)

_PLATFORM_PATTERN = re.compile(r"^landsat[\s_-]*0?([1-9])$", re.IGNORECASE)
_STAC_VERSION_PATTERN = re.compile(r"^(\d+)\.(\d+)\.(\d+)(-\S+)?$")
_SCHEME_PATTERN = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
"""A URL scheme as RFC 3986 spells it (what `urlparse` takes for one)."""

QA_SCALE = 1.0
QA_OFFSET = 0.0
_SURFACE_REFLECTANCE = (USGS_SR_SCALE, USGS_SR_OFFSET, USGS_SR_NODATA)
_BAND_DEFAULTS: dict[str, tuple[float, float, int | None]] = {
    **dict.fromkeys(("blue", "green", "red", "nir08", "swir16", "swir22"), _SURFACE_REFLECTANCE),
    "qa_pixel": (QA_SCALE, QA_OFFSET, USGS_QA_FILL),
    "qa_radsat": (QA_SCALE, QA_OFFSET, None),
}


REMOTE_SCHEMES = ("s3", "https", "http")
"""Band hrefs any catalog may give: the archives' own locations."""


@dataclass(frozen=True)
class HrefPolicy:
    """Which band hrefs are accepted from a catalog. A catalog is data from outside: a remote
    one must not make the platform read local files (`file:///etc/...`, `/vsi...` paths), a
    local one only the files in its own folder, and nobody gets `ftp://` or other schemes
    that GDAL would happily open. `TRUSTED_FILE` is for an item file the user names."""

    local_root: Path | None = None
    """Local band files must lie under this folder (the catalog's)..."""
    extra_roots: tuple[Path, ...] = ()
    """... or under one of these (LANDSAT_LOCAL_ROOTS)."""
    local_files: bool = True
    """Whether local paths and file:// URLs are accepted at all."""
    _folders: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    """Folders resolved by this policy (one search): a catalog's thousands of band files lie
    in a few folders, and resolving each file's whole path took most of a search's time."""

    @classmethod
    def for_catalog(cls, source: str, extra_roots: Sequence[Path] = ()) -> HrefPolicy:
        """A remote catalog (http/https URL) gets no local files; a local catalog (a
        catalog.json, its folder, or a file:// URL) gets the files under its folder and
        under `extra_roots`."""
        parsed = urlparse(source)
        if parsed.scheme in ("http", "https"):
            return cls(local_files=False)
        path = Path(unquote(parsed.path) if parsed.scheme == "file" else source).resolve()
        return cls(
            local_root=path if path.is_dir() else path.parent,
            extra_roots=tuple(root.resolve() for root in extra_roots),
        )

    def check(self, href: str, label: str, band: str) -> str:
        scheme = _scheme(href)
        if scheme in REMOTE_SCHEMES:
            return href
        if scheme not in ("", "file"):
            raise ItemError(
                f"{label}: band {band!r} href {href!r} uses the scheme {scheme!r}; only "
                f"{', '.join(REMOTE_SCHEMES)} (and files of a local catalog) are read"
            )
        if not self.local_files:
            raise ItemError(
                f"{label}: band {band!r} href {href!r} is a local file, refused from a remote "
                "catalog"
            )
        if self.local_root is not None:
            path = self._resolved(unquote(urlparse(href).path) if scheme == "file" else href)
            if not any(_is_within(path, root) for root in (self.local_root, *self.extra_roots)):
                extra = ", ".join(str(root) for root in self.extra_roots)
                raise ItemError(
                    f"{label}: band {band!r} href {href!r} is outside the catalog's folder "
                    f"{self.local_root}"
                    + (f" and LANDSAT_LOCAL_ROOTS ({extra})" if extra else "")
                    + "; add its folder to LANDSAT_LOCAL_ROOTS to read it"
                )
        return href

    def _resolved(self, path: str) -> str:
        """`os.path.realpath(path)`, its folder resolved once per policy; a file that is
        itself a symbolic link, a relative path or one ending in `..` is resolved in full.
        Plain strings, not pathlib: a search checks every band of thousands of items."""
        folder, name = os.path.split(path)
        if not os.path.isabs(path) or name in ("", ".", "..") or os.path.islink(path):
            return os.path.realpath(path)
        resolved = self._folders.get(folder)
        if resolved is None:
            resolved = self._folders[folder] = os.path.realpath(folder)
        return os.path.join(resolved, name)


def _is_within(path: str, root: Path) -> bool:
    """Whether the resolved `path` is `root` or lies below it."""
    top = str(root)
    return path == top or path.startswith(top.rstrip(os.sep) + os.sep)


def _scheme(href: str) -> str:
    """The href's URL scheme in lower case; "" for a path (most hrefs of a local catalog,
    told apart without parsing: a search checks every band of thousands of items)."""
    if href.startswith("/"):
        return ""
    scheme = _SCHEME_PATTERN.match(href)
    return scheme.group(1).lower() if scheme else ""


TRUSTED_FILE = HrefPolicy()


def normalize_platform(value: object) -> str | None:
    """`LANDSAT_9`, `Landsat 9`, `landsat-9` -> `landsat-9`; None when it is not a Landsat."""
    if not isinstance(value, str):
        return None
    match = _PLATFORM_PATTERN.fullmatch(value.strip())
    return f"landsat-{match.group(1)}" if match else None


def item_platform(item: Mapping[str, Any]) -> str | None:
    """The normalized platform, from `platform` or else from the product id's mission digit."""
    properties = _properties(item)
    if properties.get("platform") is not None:
        return normalize_platform(properties["platform"])
    product = ProductId.match(str(item.get("id", "")))
    return f"landsat-{product.satellite}" if product else None


def item_datetime(item: Mapping[str, Any]) -> datetime:
    """Acquisition time, timezone-aware UTC (`start_datetime` when `datetime` is null)."""
    properties = _properties(item)
    value = properties.get("datetime") or properties.get("start_datetime")
    if value is None:
        raise ItemError(f"{_label(item)}: no datetime or start_datetime")
    return _parse_time(item, "datetime", value)


def item_cloud_cover(item: Mapping[str, Any]) -> float | None:
    """`eo:cloud_cover` in percent; None when absent or negative (USGS writes -1 for
    "not computed"), so a cloud filter never mistakes -1 for a clear scene."""
    return _percent(item, "eo:cloud_cover")


def normalize_item(
    item: Mapping[str, Any] | pystac.Item,
    *,
    source: str | None = None,
    hrefs: HrefPolicy = TRUSTED_FILE,
    base_href: str | None = None,
) -> SceneRecord:
    """Relative asset hrefs are resolved against the item's self href (or `base_href`, the
    file a dict was read from), so a pystac Item read from a static catalog, or a dict whose
    self link is absolute or whose file is known, gives absolute band hrefs; the absolute
    hrefs must then pass `hrefs` (searches pass their catalog's policy)."""
    if isinstance(item, pystac.Item):
        base_href = item.get_self_href()
        item_dict = item.to_dict(include_self_link=False, transform_hrefs=False)
        if item.collection_id and not item_dict.get("collection"):
            item_dict["collection"] = item.collection_id
        return _normalize(item_dict, base_href=base_href, source=source, hrefs=hrefs)
    if not isinstance(item, Mapping):
        raise ItemError(f"expected a STAC item (dict or pystac.Item), got {type(item).__name__}")
    return _normalize(item, base_href=base_href or _self_href(item), source=source, hrefs=hrefs)


def normalize_item_file(path: Path) -> SceneRecord:
    """A single item JSON file; relative hrefs are resolved against the file's location."""
    path = Path(path)
    try:
        item = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ItemError(f"{path}: no such file") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ItemError(f"{path}: not readable as JSON: {error}") from error
    if not isinstance(item, dict):
        raise ItemError(f"{path}: a JSON {type(item).__name__}, not a STAC item")
    base_href = str(path.resolve())
    self_href = _self_href(item)
    if self_href is not None:
        base_href = make_absolute_href(self_href, base_href)
    try:
        return _normalize(item, base_href=base_href, source=str(path), hrefs=TRUSTED_FILE)
    except ItemError as error:
        raise ItemError(f"{path}: {error}") from error


def _normalize(
    item: Mapping[str, Any], *, base_href: str | None, source: str | None, hrefs: HrefPolicy
) -> SceneRecord:
    label = _label(item)
    if item.get("type") != "Feature":
        kind = item.get("type") or "object without a type"
        raise ItemError(f"{label}: a {kind}, not a STAC item (type Feature)")
    _check_stac_version(item, label)
    try:
        return _record(item, base_href=base_href, source=source, label=label, hrefs=hrefs)
    except ItemError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise ItemError(f"{label}: malformed item: {type(error).__name__}: {error}") from error


def _record(
    item: Mapping[str, Any],
    *,
    base_href: str | None,
    source: str | None,
    label: str,
    hrefs: HrefPolicy,
) -> SceneRecord:
    item_id = item.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise ItemError(f"{label}: no id")
    properties = _properties(item)
    product = ProductId.match(item_id)
    scene_key = _scene_key(item_id, product, label)

    platform = item_platform(item)
    if platform is None:
        raise ItemError(f"{label}: platform {properties.get('platform')!r} is not a Landsat")

    assets = item.get("assets")
    if not isinstance(assets, Mapping):
        raise ItemError(f"{label}: no assets")
    present = [name for name in OPTIONAL_BANDS if _has_href(assets.get(name))]
    bands = {
        name: _band(item, assets, name, base_href=base_href, label=label, hrefs=hrefs)
        for name in [*SCENE_BANDS, *present]
    }
    red_asset = assets["red"]
    shape = _first(red_asset.get("proj:shape"), properties.get("proj:shape"))
    transform = _first(red_asset.get("proj:transform"), properties.get("proj:transform"))

    return SceneRecord(
        scene_key=scene_key,
        item_id=item_id,
        datetime=item_datetime(item),
        platform=platform,
        wrs_path=_wrs(item, "landsat:wrs_path", product, "path", label),
        wrs_row=_wrs(item, "landsat:wrs_row", product, "row", label),
        cloud_cover=item_cloud_cover(item),
        cloud_cover_land=_percent(item, "landsat:cloud_cover_land"),
        version=_version(item, product, bands["red"].href, scene_key),
        bands=bands,
        geometry=item.get("geometry"),
        bbox=_bbox(item.get("bbox")),
        epsg=_epsg(red_asset) or _epsg(properties),
        shape=(int(shape[0]), int(shape[1])) if shape else None,
        transform=tuple(float(v) for v in transform[:6]) if transform else None,
        sun_elevation=_number(
            _first(properties.get("view:sun_elevation"), properties.get("eo:sun_elevation"))
        ),
        collection=item.get("collection") or properties.get("collection"),
        source=source,
    )


def _scene_key(item_id: str, product: ProductId | None, label: str) -> str:
    key = item_id if product is None else product.item_id
    try:
        return validate_scene_key(key)
    except SceneKeyError as error:
        raise ItemError(f"{label}: cannot become a scene key: {error}") from error


def _has_href(asset: object) -> bool:
    return isinstance(asset, Mapping) and isinstance(asset.get("href"), str)


def _band(
    item: Mapping[str, Any],
    assets: Mapping[str, Any],
    name: str,
    *,
    base_href: str | None,
    label: str,
    hrefs: HrefPolicy,
) -> BandAsset:
    asset = assets.get(name)
    if not _has_href(asset):
        present = ", ".join(sorted(assets)) or "none"
        raise ItemError(f"{label}: missing band {name!r} (assets: {present})")
    href = hrefs.check(_absolute(asset["href"], base_href, label, name), label, name)
    scale, offset, nodata = _BAND_DEFAULTS[name]
    raster_bands = asset.get("raster:bands")
    if isinstance(raster_bands, list) and raster_bands and isinstance(raster_bands[0], Mapping):
        first = raster_bands[0]  # null fields (stac-geoparquet writes them) mean "not given"
        scale = float(_first(first.get("scale"), scale))
        offset = float(_first(first.get("offset"), offset))
        if first.get("nodata") is not None:
            nodata = _nodata(first["nodata"], label, name)
    alternate = asset.get("alternate")
    alternate_s3 = alternate.get("s3") if isinstance(alternate, Mapping) else None
    alternate_href = alternate_s3.get("href") if isinstance(alternate_s3, Mapping) else None
    return BandAsset(
        href=href,
        scale=scale,
        offset=offset,
        nodata=nodata,
        access=_access(href, asset, _properties(item)),
        alternate_s3_href=(
            hrefs.check(alternate_href, label, f"{name} alternate s3")
            if isinstance(alternate_href, str)
            else None
        ),
    )


def _access(href: str, asset: Mapping[str, Any], properties: Mapping[str, Any]) -> Access:
    requester_pays = asset.get("storage:requester_pays", properties.get("storage:requester_pays"))
    if requester_pays is True or href.startswith("s3://usgs-landsat/"):
        return "requester_pays"
    if _scheme(href) and (urlparse(href).hostname or "").endswith(".blob.core.windows.net"):
        return "needs_signing"
    return "public"


def _absolute(href: str, base_href: str | None, label: str, band: str) -> str:
    if href.startswith("/") or _scheme(href):
        return href
    if base_href is None:
        raise ItemError(
            f"{label}: band {band!r} has the relative href {href!r} and the item has no "
            "absolute self link or file location to resolve it against"
        )
    return resolve_href(href, base_href)


def resolve_href(href: str, base_href: str) -> str:
    """`href` made absolute against the file or URL `base_href`: pystac's
    `make_absolute_href`, with a fast path for the relative hrefs of a local catalog (a search
    resolves one per item and per band)."""
    if base_href.startswith("/") and not href.startswith("/") and not _scheme(href):
        return os.path.normpath(os.path.join(os.path.dirname(base_href), href))
    return make_absolute_href(href, base_href)


def _version(
    item: Mapping[str, Any], product: ProductId | None, red_href: str, scene_key: str
) -> str:
    """The most specific processing time available, as a fixed-width UTC ISO string so that
    plain string comparison orders reprocessings: `landsat:product_generated`, else the
    processing date of the product id (item id or band file name), else `updated`,
    `created`, and at last the acquisition time (older than any reprocessing)."""
    properties = _properties(item)
    generated = properties.get("landsat:product_generated")
    if generated:
        return _iso(_parse_time(item, "landsat:product_generated", generated))
    processed = product.processed if product else None
    if processed is None:
        in_file_name = ProductId.search(red_href.rsplit("/", 1)[-1])
        if in_file_name and in_file_name.item_id == scene_key:
            processed = in_file_name.processed
    if processed is not None:
        return _iso(datetime.combine(processed, time(), tzinfo=UTC))
    for name in ("updated", "created"):
        if properties.get(name):
            return _iso(_parse_time(item, name, properties[name]))
    return _iso(item_datetime(item))


def _wrs(
    item: Mapping[str, Any], name: str, product: ProductId | None, part: str, label: str
) -> str:
    value = _properties(item).get(name)
    if value is None:
        if product is None:
            raise ItemError(f"{label}: no {name} and the id is not a Landsat product id")
        return getattr(product, part)
    text = str(value).strip()
    if not text.isdigit() or len(text) > 3:
        raise ItemError(f"{label}: {name} {value!r} is not a WRS-2 number")
    return text.zfill(3)


def _percent(item: Mapping[str, Any], name: str) -> float | None:
    value = _properties(item).get(name)
    if value is None:
        return None
    number = _number(value)
    if number is None:
        raise ItemError(f"{_label(item)}: {name} {value!r} is not a number")
    return None if number < 0 else number


def _parse_time(item: Mapping[str, Any], name: str, value: object) -> datetime:
    try:
        # The standard library's parser first (most catalogs' times; a search parses three per
        # item), dateutil's for the ISO 8601 forms it alone reads.
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        try:
            parsed = str_to_datetime(str(value))
        except (ParserError, ValueError, OverflowError) as error:
            message = f"{_label(item)}: {name} {value!r} is not an ISO 8601 time"
            raise ItemError(message) from error
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _check_stac_version(item: Mapping[str, Any], label: str) -> None:
    """Pre-1.0 items (sat-api, STAC 1.0.0-beta.2) key assets by file name and put the platform
    in `eo:platform`; reading them half-right would be worse than refusing them."""
    version = item.get("stac_version")
    match = _STAC_VERSION_PATTERN.fullmatch(str(version)) if version is not None else None
    if match is None:
        return
    release = tuple(int(part) for part in match.group(1, 2, 3))
    if release < (1, 0, 0) or (release == (1, 0, 0) and match.group(4)):
        raise ItemError(
            f"{label}: obsolete STAC {version} item (pre-1.0, e.g. the retired USGS sat-api); "
            "fetch it again from a current STAC API (Earth Search, Planetary Computer, "
            "LandsatLook stac-server)"
        )


def _nodata(value: object, label: str, band: str) -> int | None:
    number = _number(value)
    if number is None or not float(number).is_integer():
        raise ItemError(f"{label}: band {band!r} has nodata {value!r}, not an integer")
    return int(number)


def _epsg(fields: Mapping[str, Any]) -> int | None:
    if fields.get("proj:epsg") is not None:
        return int(fields["proj:epsg"])
    code = fields.get("proj:code")
    if isinstance(code, str) and code.upper().startswith("EPSG:"):
        return int(code.split(":", 1)[1])
    return None


def _bbox(value: object) -> tuple[float, float, float, float] | None:
    if not isinstance(value, list | tuple):
        return None
    if len(value) == 6:
        value = [value[0], value[1], value[3], value[4]]
    if len(value) != 4:
        return None
    minx, miny, maxx, maxy = (float(v) for v in value)
    return (minx, miny, maxx, maxy)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def _properties(item: Mapping[str, Any]) -> Mapping[str, Any]:
    properties = item.get("properties")
    return properties if isinstance(properties, Mapping) else {}


def _self_href(item: Mapping[str, Any]) -> str | None:
    links = item.get("links")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, Mapping) and link.get("rel") == "self":
            href = link.get("href")
            return href if isinstance(href, str) else None
    return None


def _label(item: Mapping[str, Any]) -> str:
    return f"item {item.get('id')!r}" if item.get("id") else "item without id"
