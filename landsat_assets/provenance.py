"""What shapes each per-scene product besides its inputs: the settings it was made with.

Each product's Dagster code version is its code's own version followed by the settings that
shape it, in a readable form (`1;aoi=3f2a9c1b20de;min_clear_fraction=0.2`). Dagster records
the code version on every materialization, so a changed setting makes exactly the affected
products stale, in the UI and for `landsat-assets run` alike, and `changed_settings` can say
which setting changed since a product was made.
"""

from __future__ import annotations

import hashlib

import shapely

from landsat_assets.fields import load_fields
from landsat_assets.science.indices import bands_for
from landsat_assets.settings import Settings, resolve_aoi

PRODUCT_SETTINGS: dict[str, tuple[str, ...]] = {
    "scene_bands": ("aoi", "bands"),
    "cloud_mask": ("usable_classes",),
    "ndvi": ("usable_classes", "min_clear_fraction"),
    "spectral_indices": ("usable_classes", "min_clear_fraction", "indices"),
    "scene_ndvi_stats": ("usable_classes", "min_clear_fraction", "indices"),
    "ndvi_summary": ("aoi", "usable_classes", "min_clear_fraction", "indices"),
    "field_stats": ("usable_classes", "min_clear_fraction", "fields", "indices"),
    "field_timeseries": ("aoi", "usable_classes", "min_clear_fraction", "fields", "indices"),
}
"""The settings each product is made from directly. Products downstream of a changed one
follow through Dagster's data versions (an upstream change makes them stale too). The
summary names every setting: it holds only rows made with the current ones, so any change
rebuilds it from the rows that qualify (assets/summaries.py)."""

SETTING_NAMES = {
    "aoi": "AOI",
    "usable_classes": "usable classes",
    "min_clear_fraction": "min clear fraction",
    "fields": "fields",
    "indices": "indices",
    "bands": "bands read",
}
"""How people call each setting, in messages."""

_SEPARATOR = ";"


def setting_values(settings: Settings) -> dict[str, str]:
    """Each product-shaping setting as a short, stable text: equal texts, equal products. The
    AOI is a hash of its geometry, so the same area given another way is the same AOI; the
    fields are a digest of their ids, polygons and properties; the bands read follow from the
    indices."""
    aoi = resolve_aoi(settings.aoi)
    geometry = "none" if aoi is None else shapely.normalize(aoi.geometry).wkb_hex
    fields = (
        "none"
        if settings.fields is None
        else load_fields(settings.fields, settings.field_id).digest
    )
    return {
        "aoi": hashlib.sha256(geometry.encode()).hexdigest()[:12],
        "fields": fields,
        "usable_classes": "+".join(sorted(c.name.lower() for c in settings.usable_classes)),
        "min_clear_fraction": f"{settings.min_clear_fraction:g}",
        "indices": "+".join(settings.indices),
        "bands": "+".join(bands_for(settings.indices)),
    }


def versioned(code_version: str, product: str, values: dict[str, str]) -> str:
    """`code_version` of `product` followed by the settings that shape it (those of them in
    `values`: a product defined outside `build_definitions` carries none)."""
    shaping = [
        f"{name}={values[name]}" for name in PRODUCT_SETTINGS.get(product, ()) if name in values
    ]
    return _SEPARATOR.join([code_version, *shaping])


def settings_in(code_version: str) -> dict[str, str]:
    """The setting values a code version written by `versioned` carries."""
    return {name: value for name, value in _parts(code_version).items() if name}


def changed_settings(recorded: str | None, current: str) -> list[str]:
    """What differs between the code version a product was made with and the current one, in
    people's words ("AOI", "code"); empty when they are equal."""
    if recorded is None or recorded == current:
        return []
    old, new = _parts(recorded), _parts(current)
    changed = [
        SETTING_NAMES.get(name, name)
        for name in sorted(old.keys() | new.keys())
        if name and old.get(name) != new.get(name)
    ]
    if old.get("") != new.get(""):
        changed.append("code")
    return changed


def _parts(code_version: str) -> dict[str, str]:
    base, *settings = code_version.split(_SEPARATOR)
    return {"": base, **dict(part.partition("=")[::2] for part in settings)}
