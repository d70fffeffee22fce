"""The demo fields: parcels of the synthetic demo ground inside the demo AOI, chosen by what
grows on them, plus the reservoir, two patches of town and a trial plot smaller than a demo
pixel. `landsat_assets/demo/fields.geojson` is this module's output (a test keeps the two
equal); `make demo` measures them.

The demo ground is laid out in quarter sections: 805 m squares of the UTM grid, one cover
each (`scenes.make_landscape`). A field here is one such parcel, its cover read from the
ground itself, so the NDVI each field shows follows its crop's season.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from affine import Affine
from pyproj import Transformer
from shapely.geometry import Polygon, box, mapping
from shapely.ops import transform as transform_geometry

from landsat_assets.demo.scenes import (
    _RESERVOIR_AXES_M,
    _RESERVOIR_CENTRE,
    DEMO_AOI_PATH,
    UTM_EPSG,
    Cover,
    SceneGrid,
    make_landscape,
)
from landsat_assets.stac.aoi import load_aoi

DEMO_FIELDS_PATH = Path(__file__).with_name("fields.geojson")

PARCEL_M = 805.0
"""A quarter section, the demo ground's parcel."""

INSET_M = 45.0
"""A parcel field is drawn this far inside the parcel's edges, as fields are digitized inside
their boundaries; no pixel centre of a neighbour can then fall inside it."""

GRID_M = 30.0

PARCELS_PER_COVER = {
    Cover.CORN: ("irrigated corn", True, 5),
    Cover.PASTURE: ("irrigated pasture", True, 5),
    Cover.WHEAT: ("dryland wheat", False, 4),
    Cover.BARE: ("bare fallow", False, 1),
}
"""Cover -> (the field's `cover` property, irrigated, how many parcels)."""

_TO_UTM = Transformer.from_crs(4326, UTM_EPSG, always_xy=True)
_TO_WGS84 = Transformer.from_crs(UTM_EPSG, 4326, always_xy=True)


def demo_fields(seed: int = 0) -> dict[str, Any]:
    """The demo fields as a GeoJSON FeatureCollection (WGS84), for the demo ground of `seed`."""
    aoi = transform_geometry(_TO_UTM.transform, load_aoi(str(DEMO_AOI_PATH)).geometry)
    minx, miny, maxx, maxy = aoi.bounds
    # The 30 m lattice of USGS grids (edges on odd multiples of 15 m), as the scenes use.
    x0 = GRID_M * math.floor((minx - 15) / GRID_M) + 15
    y0 = GRID_M * math.ceil((maxy - 15) / GRID_M) + 15
    transform = Affine(GRID_M, 0, x0, 0, -GRID_M, y0)
    shape = (int((maxy - miny) // GRID_M) + 2, int((maxx - minx) // GRID_M) + 2)
    grid = SceneGrid(shape=shape, transform=transform, footprint=np.zeros((4, 2)))
    cover = make_landscape(grid, seed).cover

    features: list[dict[str, Any]] = []
    parcels = _pure_parcels(cover, transform, aoi)
    for wanted, (name, irrigated, count) in PARCELS_PER_COVER.items():
        for number, parcel in enumerate(_spread(parcels.get(wanted, []), count), start=1):
            features.append(_feature(f"{name.split()[-1]}-{number}", parcel, name, irrigated))
    for number, patch in enumerate(_town_patches(cover, transform, aoi), start=1):
        features.append(_feature(f"town-{number}", patch, "urban", False))
    features.append(_feature("reservoir", _reservoir(), "open water", False))
    trial_x, trial_y = aoi.centroid.x, aoi.centroid.y
    trial = box(trial_x, trial_y, trial_x + 60, trial_y + 60)
    features.append(_feature("trial-plot", trial, "trial plot (60 m)", True))
    return {"type": "FeatureCollection", "features": features}


def write_demo_fields(path: Path = DEMO_FIELDS_PATH, seed: int = 0) -> Path:
    path.write_text(json.dumps(demo_fields(seed), indent=1) + "\n")
    return path


def _pixels_of(geometry: Polygon, transform: Affine, shape: tuple[int, int]) -> tuple:
    minx, miny, maxx, maxy = geometry.bounds
    col0, row0 = ~transform * (minx, maxy)
    col1, row1 = ~transform * (maxx, miny)
    rows = slice(max(0, math.ceil(row0)), min(shape[0], math.floor(row1)))
    cols = slice(max(0, math.ceil(col0)), min(shape[1], math.floor(col1)))
    return rows, cols


def _pure_parcels(cover: np.ndarray, transform: Affine, aoi: Polygon) -> dict[Cover, list[Polygon]]:
    """Parcels wholly inside the AOI whose pixels all have one cover, by cover."""
    minx, miny, maxx, maxy = aoi.bounds
    found: dict[Cover, list[Polygon]] = {}
    for i in range(math.ceil(minx / PARCEL_M), math.floor(maxx / PARCEL_M)):
        for j in range(math.ceil(miny / PARCEL_M), math.floor(maxy / PARCEL_M)):
            parcel = box(
                i * PARCEL_M + INSET_M,
                j * PARCEL_M + INSET_M,
                (i + 1) * PARCEL_M - INSET_M,
                (j + 1) * PARCEL_M - INSET_M,
            )
            if not aoi.contains(parcel):
                continue
            values = np.unique(cover[_pixels_of(parcel, transform, cover.shape)])
            if values.size == 1:
                found.setdefault(Cover(int(values[0])), []).append(parcel)
    return found


def _spread(parcels: list[Polygon], count: int) -> list[Polygon]:
    """`count` parcels spread over the list (ordered west to east, south to north)."""
    if len(parcels) <= count:
        return parcels
    step = len(parcels) / count
    return [parcels[int(k * step)] for k in range(count)]


def _town_patches(cover: np.ndarray, transform: Affine, aoi: Polygon) -> list[Polygon]:
    """Up to two 570 m squares of built-up ground (bare, not inside one parcel), centred on a
    pixel centre so that no pixel centre lies on their edges."""
    patches: list[Polygon] = []
    bare = cover == Cover.BARE
    rows, cols = np.nonzero(bare)
    for row, col in zip(rows[::97], cols[::97], strict=True):
        x, y = transform * (col + 0.5, row + 0.5)
        patch = box(x - 285, y - 285, x + 285, y + 285)
        pixels = _pixels_of(patch, transform, cover.shape)
        if not aoi.contains(patch) or not bare[pixels].all():
            continue
        if _parcel_aligned(patch) or any(patch.intersects(p) for p in patches):
            continue
        patches.append(patch)
        if len(patches) == 2:
            break
    return patches


def _parcel_aligned(patch: Polygon) -> bool:
    """Whether the patch lies inside one parcel (then it may be a bare field, not a town)."""
    minx, miny, maxx, maxy = patch.bounds
    return math.floor(minx / PARCEL_M) == math.floor(maxx / PARCEL_M) and math.floor(
        miny / PARCEL_M
    ) == math.floor(maxy / PARCEL_M)


def _reservoir() -> Polygon:
    """The reservoir's ellipse, 80 % of its size so that its ragged shore stays outside."""
    (cx, cy), (a, b) = _RESERVOIR_CENTRE, _RESERVOIR_AXES_M
    angle = math.radians(30)
    points = []
    for k in range(48):
        t = 2 * math.pi * k / 48
        u, v = 0.8 * a * math.cos(t), 0.8 * b * math.sin(t)
        points.append((cx + u * math.cos(angle) - v * math.sin(angle),
                       cy + u * math.sin(angle) + v * math.cos(angle)))  # fmt: skip
    return Polygon(points)


def _feature(field_id: str, utm: Polygon, cover: str, irrigated: bool) -> dict[str, Any]:
    wgs84 = shapely.set_precision(transform_geometry(_TO_WGS84.transform, utm), 1e-7)
    return {
        "type": "Feature",
        "properties": {
            "id": field_id,
            "cover": cover,
            "irrigated": irrigated,
            "area_ha": round(utm.area / 10_000, 1),
        },
        "geometry": mapping(wgs84),
    }
