"""Synthetic Landsat 8/9 Collection 2 Level-2 scenes: surface reflectance (blue, green, red,
NIR, SWIR 1.6 and 2.2), QA_PIXEL and QA_RADSAT rasters.

The demo world is the Colorado Front Range around Longmont (UTM zone 13N, EPSG:32613), seen by
the real WRS-2 scenes 033/032 and 034/032, whose footprints overlap by about 60 km there.
Footprint centres, sizes and tilt were measured from real Earth Search and Planetary Computer
items of those scenes. Land cover (irrigated fields, reservoirs, towns, forested mountains and
alpine rock to the west) is a pure function of UTM coordinates and the seed, so both path/rows
and every date see the same ground; the weather (clouds, their shadows, cirrus, haze, snow line)
is a function of the seed, the path/row and the date.

Pixel size: a full-size scene (`FULL_SCENE_SHAPE`) has Landsat's 30 m pixels. Smaller rasters
keep the real ground extent of a scene (about 230 km a side) and use bigger pixels instead:
230.4 m at 1000 px, 900.1 m at 256 px. The footprint is shrunk slightly where needed so that the
tilted scene fits the grid at every size.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS

from landsat_assets.science import qa as qa_bits
from landsat_assets.science.radsat import SATURATION_BIT_OF_BAND
from landsat_assets.stac.scene import (
    USGS_QA_FILL,
    USGS_SR_NODATA,
    USGS_SR_OFFSET,
    USGS_SR_SCALE,
    VALID_SR_DN_MAX,
    VALID_SR_DN_MIN,
    ProductId,
)

DEMO_AOI_PATH = Path(__file__).with_name("aoi.geojson")

UTM_EPSG = 32613
FULL_SCENE_SHAPE: tuple[int, int] = (7811, 7681)
"""(rows, columns) of a full-size scene at 30 m, the size USGS delivers."""
LANDSAT_PIXEL_M = 30.0

BAND_FILE_SUFFIXES = {
    "blue": "SR_B2",
    "green": "SR_B3",
    "red": "SR_B4",
    "nir08": "SR_B5",
    "swir16": "SR_B6",
    "swir22": "SR_B7",
    "qa_pixel": "QA_PIXEL",
    "qa_radsat": "QA_RADSAT",
}

_TO_UTM = Transformer.from_crs(4326, UTM_EPSG, always_xy=True)

# Mountain front (foothills west of Boulder and Longmont) and Union Reservoir near Longmont, in
# UTM metres: both anchor the synthetic ground to the real geography of the AOI.
_MOUNTAIN_FRONT_X = 476_000.0
_RESERVOIR_CENTRE = _TO_UTM.transform(-105.04, 40.183)
_RESERVOIR_AXES_M = (1700.0, 1100.0)


@dataclass(frozen=True)
class WrsScene:
    """One WRS-2 path/row of the demo world with its real footprint and overpass schedule."""

    path: str
    row: str
    centre: tuple[float, float]
    tilt_deg: float
    """Clockwise rotation of the along-track axis from grid north (descending orbit)."""
    along_track_m: float
    cross_track_m: float
    first_acquisition: date
    """First 2023 acquisition, by Landsat 9; Landsat 8 follows 8 days later and so on."""
    overpass: time


WRS_SCENES: dict[tuple[str, str], WrsScene] = {
    ("033", "032"): WrsScene(
        "033", "032", (564_400.0, 4_464_750.0), 13.25, 196_000.0, 186_000.0,
        date(2023, 1, 1), time(17, 37, 27),
    ),
    ("034", "032"): WrsScene(
        "034", "032", (434_000.0, 4_464_700.0), 14.3, 196_000.0, 186_000.0,
        date(2023, 1, 8), time(17, 43, 42),
    ),
}  # fmt: skip


def wrs_scene(path: str, row: str) -> WrsScene:
    try:
        return WRS_SCENES[(path, row)]
    except KeyError:
        known = ", ".join(f"{p}/{r}" for p, r in WRS_SCENES)
        raise ValueError(f"path/row {path}/{row} is not in the demo world ({known})") from None


def band_file_name(product_id: str, band: str) -> str:
    return f"{product_id}_{BAND_FILE_SUFFIXES[band]}.TIF"


@dataclass(frozen=True)
class SceneGrid:
    """The raster grid of one path/row at one size, with the scene footprint inside it."""

    shape: tuple[int, int]
    transform: Affine
    footprint: np.ndarray
    """(4, 2) UTM corners, counter-clockwise from the north-west one."""

    @property
    def pixel_size(self) -> float:
        return float(self.transform.a)

    def pixel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Easting of each column and northing of each row, float64."""
        rows, cols = self.shape
        xs = self.transform.c + self.pixel_size * (np.arange(cols) + 0.5)
        ys = self.transform.f - self.pixel_size * (np.arange(rows) + 0.5)
        return xs, ys

    def footprint_mask(self) -> np.ndarray:
        """True inside the footprint (data), False outside (fill)."""
        xs, ys = self.pixel_centres()
        centre = self.footprint.mean(axis=0)
        along = self.footprint[0] - self.footprint[1]
        cross = self.footprint[2] - self.footprint[1]
        half_along = float(np.linalg.norm(along)) / 2
        half_cross = float(np.linalg.norm(cross)) / 2
        u = along / (2 * half_along)
        v = cross / (2 * half_cross)
        dx = (xs - centre[0]).astype(np.float32)[None, :]
        dy = (ys - centre[1]).astype(np.float32)[:, None]
        inside_along = np.abs(dx * np.float32(u[0]) + dy * np.float32(u[1])) <= half_along
        return inside_along & (np.abs(dx * np.float32(v[0]) + dy * np.float32(v[1])) <= half_cross)


def shape_of(size: int | tuple[int, int]) -> tuple[int, int]:
    """(rows, columns) from a side length or a (rows, columns) pair."""
    rows, cols = (size, size) if isinstance(size, int) else size
    if rows < 32 or cols < 32:
        raise ValueError(f"scene size {rows} x {cols} is too small: use at least 32 px a side")
    return int(rows), int(cols)


def pixel_size_for(columns: int) -> float:
    """Pixel size (m) that keeps a full scene's ground width across `columns` pixels."""
    return round(LANDSAT_PIXEL_M * FULL_SCENE_SHAPE[1] / columns, 1)


def scene_grid(scene: WrsScene, size: int | tuple[int, int]) -> SceneGrid:
    rows, cols = shape_of(size)
    pixel = pixel_size_for(cols)
    # USGS grids start on odd multiples of 15 m (e.g. 449085), i.e. on 30 m pixel centres.
    x0 = 30 * round((scene.centre[0] - cols * pixel / 2 - 15) / 30) + 15
    y0 = 30 * round((scene.centre[1] + rows * pixel / 2 - 15) / 30) + 15
    transform = Affine(pixel, 0.0, x0, 0.0, -pixel, y0)

    tilt = math.radians(scene.tilt_deg)
    u = np.array([math.sin(tilt), math.cos(tilt)])
    v = np.array([math.cos(tilt), -math.sin(tilt)])
    width_needed = scene.cross_track_m * v[0] + scene.along_track_m * u[0]
    height_needed = scene.cross_track_m * abs(v[1]) + scene.along_track_m * u[1]
    fit = min(1.0, 0.97 * cols * pixel / width_needed, 0.97 * rows * pixel / height_needed)
    half_along = u * scene.along_track_m * fit / 2
    half_cross = v * scene.cross_track_m * fit / 2
    centre = np.array([x0 + cols * pixel / 2, y0 - rows * pixel / 2])
    footprint = np.array(
        [
            centre + half_along - half_cross,
            centre - half_along - half_cross,
            centre - half_along + half_cross,
            centre + half_along + half_cross,
        ]
    )
    return SceneGrid((rows, cols), transform, footprint)


# --- smooth noise --------------------------------------------------------------------------


class _Layer(IntEnum):
    """Noise layer ids: each layer of the world or the weather gets its own random field."""

    ELEVATION_PLAINS = 1
    ELEVATION_MOUNTAINS = 2
    MOUNTAIN_FRONT = 3
    PARCELS = 4
    TOWNS = 5
    LAKES = 6
    SHORE = 7
    VIGOUR = 8
    BRIGHTNESS = 9
    SNOW = 10
    CLOUDS = 11
    CIRRUS = 12


def _key(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0])


def _lattice(ix: np.ndarray, iy: np.ndarray, key: int) -> np.ndarray:
    """Uniform [0, 1) value per integer lattice node: a pure function of (ix, iy, key)."""
    h = (ix.astype(np.uint64)[None, :] * np.uint64(0x9E3779B97F4A7C15)) ^ (
        iy.astype(np.uint64)[:, None] * np.uint64(0xC2B2AE3D27D4EB4F)
    )
    h ^= np.uint64(key)
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return ((h >> np.uint64(40)).astype(np.float32)) / np.float32(1 << 24)


def _axis_weights(
    coords: np.ndarray, cell: float, smooth: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    scaled = coords / cell
    lower = np.floor(scaled).astype(np.int64)
    frac = (scaled - lower).astype(np.float32)
    if smooth:
        frac = frac * frac * (np.float32(3) - np.float32(2) * frac)
    first = int(lower.min())
    return lower - first, frac, first


def _interpolate(
    lattice_values: Callable[[np.ndarray, np.ndarray], np.ndarray],
    xs: np.ndarray,
    ys: np.ndarray,
    cell: float,
    *,
    smooth: bool,
) -> np.ndarray:
    """Interpolate values given at world lattice nodes (multiples of `cell`) to the pixels.

    Separable, so it costs a few passes over rows x columns whatever the lattice size.
    `lattice_values(ix, iy)` returns the (len(iy), len(ix)) values at nodes (ix, iy) * cell.
    """
    cx, wx, x_first = _axis_weights(xs, cell, smooth)
    cy, wy, y_first = _axis_weights(ys, cell, smooth)
    lattice = lattice_values(
        np.arange(x_first, x_first + int(cx.max()) + 2),
        np.arange(y_first, y_first + int(cy.max()) + 2),
    )
    along_x = lattice[:, cx] + (lattice[:, cx + 1] - lattice[:, cx]) * wx
    base = along_x[cy]
    out = along_x[cy + 1]
    out -= base
    out *= wy[:, None]
    out += base
    return out


def _fbm(xs: np.ndarray, ys: np.ndarray, cell: float, octaves: int, key: int) -> np.ndarray:
    """Summed octaves of value noise, rescaled to [0, 1]: terrain-like, never pixel noise.

    On grids much finer than the finest octave (30 m scenes) the field is computed on a
    world-aligned lattice at a quarter of that octave and interpolated: the same smooth field
    for a fraction of the cost.
    """
    step = cell / 2 ** (octaves - 1) / 4
    if xs.size > 1 and step >= 2 * abs(float(xs[1] - xs[0])):
        return _interpolate(
            lambda ix, iy: _fbm(ix * step, iy * step, cell, octaves, key),
            xs,
            ys,
            step,
            smooth=False,
        )
    total = np.zeros((ys.size, xs.size), dtype=np.float32)
    weight = 0.0
    for octave in range(octaves):
        amplitude = np.float32(0.5**octave)
        octave_key = _key(key, octave)
        total += _interpolate(
            lambda ix, iy, k=octave_key, a=amplitude: a * _lattice(ix, iy, k),
            xs,
            ys,
            cell / 2**octave,
            smooth=True,
        )
        weight += float(amplitude)
    total /= np.float32(weight)
    return total


def _cell_values(xs: np.ndarray, ys: np.ndarray, cell: float, key: int) -> np.ndarray:
    """A constant uniform value per square cell: field parcels with hard edges."""
    cx = np.floor(xs / cell).astype(np.int64)
    cy = np.floor(ys / cell).astype(np.int64)
    values = _lattice(np.arange(cx.min(), cx.max() + 1), np.arange(cy.min(), cy.max() + 1), key)
    return values[(cy - cy.min())[:, None], (cx - cx.min())[None, :]]


# --- the ground --------------------------------------------------------------------------


class Cover(IntEnum):
    WATER = 0
    PASTURE = 1
    CORN = 2
    WHEAT = 3
    BARE = 4
    FOREST = 5
    ALPINE = 6


# (NDVI in the dormant season, NDVI at peak, day of year of the peak, half-width in days)
_PHENOLOGY: dict[Cover, tuple[float, float, float, float]] = {
    Cover.PASTURE: (0.24, 0.78, 185.0, 55.0),
    Cover.CORN: (0.20, 0.88, 210.0, 40.0),
    Cover.WHEAT: (0.30, 0.80, 140.0, 32.0),
    Cover.FOREST: (0.55, 0.70, 200.0, 60.0),
}


@dataclass(frozen=True)
class Landscape:
    """The ground of one grid: everything about the pixels that does not depend on the date."""

    cover: np.ndarray
    elevation: np.ndarray
    vigour: np.ndarray
    brightness: np.ndarray
    snow_noise: np.ndarray


def make_landscape(grid: SceneGrid, seed: int) -> Landscape:
    xs, ys = grid.pixel_centres()

    def field(layer: _Layer, cell: float, octaves: int) -> np.ndarray:
        return _fbm(xs, ys, cell, octaves, _key(seed, layer))

    east = xs.astype(np.float32)[None, :]
    front_x = np.float32(_MOUNTAIN_FRONT_X - 4000.0)
    front_x = front_x + np.float32(8000) * field(_Layer.MOUNTAIN_FRONT, 40_000, 2)
    mountains = np.float32(1) / (np.float32(1) + np.exp((east - front_x) / np.float32(5000)))
    # The range climbs for about 35 km west of the front, to the Continental Divide.
    climb = np.clip((front_x - east) / np.float32(35_000), 0, 1)
    del front_x
    relief = np.float32(400) + np.float32(1300) * climb
    relief += np.float32(1300) * field(_Layer.ELEVATION_MOUNTAINS, 15_000, 5)
    elevation = np.float32(1550) + np.float32(250) * field(_Layer.ELEVATION_PLAINS, 20_000, 4)
    elevation += mountains * relief
    del mountains, relief, climb

    # Quarter sections (805 m) of the Public Land Survey: one crop per parcel.
    parcels = _cell_values(xs, ys, 805.0, _key(seed, _Layer.PARCELS))
    cover = np.full(grid.shape, Cover.PASTURE, dtype=np.uint8)
    cover[parcels >= 0.45] = Cover.CORN
    cover[parcels >= 0.82] = Cover.WHEAT
    cover[parcels >= 0.90] = Cover.BARE
    del parcels
    cover[field(_Layer.TOWNS, 8000, 3) > 0.72] = Cover.BARE
    cover[elevation >= 2100] = Cover.FOREST
    cover[elevation >= 3400] = Cover.ALPINE
    cover[(field(_Layer.LAKES, 5000, 3) > 0.76) & (elevation < 1900)] = Cover.WATER
    _add_reservoir(cover, xs, ys, seed)

    return Landscape(
        cover=cover,
        elevation=elevation,
        vigour=np.float32(0.8) + np.float32(0.35) * field(_Layer.VIGOUR, 3000, 3),
        brightness=field(_Layer.BRIGHTNESS, 2000, 3),
        snow_noise=field(_Layer.SNOW, 4000, 3),
    )


def _add_reservoir(cover: np.ndarray, xs: np.ndarray, ys: np.ndarray, seed: int) -> None:
    """A lake with a ragged shore inside the demo AOI, so every AOI has open water."""
    (cx, cy), reach = _RESERVOIR_CENTRE, 1.5 * max(_RESERVOIR_AXES_M)
    col = slice(*np.searchsorted(xs, [cx - reach, cx + reach]))
    row = slice(*np.searchsorted(-ys, [-(cy + reach), -(cy - reach)]))
    if col.start == col.stop or row.start == row.stop:
        return
    dx = xs[col][None, :] - cx
    dy = ys[row][:, None] - cy
    angle = math.radians(30)
    a = (dx * math.cos(angle) + dy * math.sin(angle)) / _RESERVOIR_AXES_M[0]
    b = (-dx * math.sin(angle) + dy * math.cos(angle)) / _RESERVOIR_AXES_M[1]
    shore = _fbm(xs[col], ys[row], 900, 2, _key(seed, _Layer.SHORE))
    cover[row, col][a * a + b * b + 0.5 * (shore - 0.5) < 1.0] = Cover.WATER


# --- sun and weather ---------------------------------------------------------------------


def solar_position(when: datetime, lon: float, lat: float) -> tuple[float, float]:
    """Sun elevation and azimuth (degrees, azimuth clockwise from north); ~0.1 degree accurate."""
    days = (when.timestamp() / 86400.0 + 2440587.5) - 2451545.0
    mean_longitude = (280.460 + 0.9856474 * days) % 360
    anomaly = math.radians((357.528 + 0.9856003 * days) % 360)
    ecliptic_longitude = math.radians(
        mean_longitude + 1.915 * math.sin(anomaly) + 0.020 * math.sin(2 * anomaly)
    )
    obliquity = math.radians(23.439 - 0.0000004 * days)
    right_ascension = math.atan2(
        math.cos(obliquity) * math.sin(ecliptic_longitude), math.cos(ecliptic_longitude)
    )
    declination = math.asin(math.sin(obliquity) * math.sin(ecliptic_longitude))
    sidereal = math.radians((280.46061837 + 360.98564736629 * days) % 360)
    hour_angle = sidereal + math.radians(lon) - right_ascension
    phi = math.radians(lat)
    elevation = math.asin(
        math.sin(phi) * math.sin(declination)
        + math.cos(phi) * math.cos(declination) * math.cos(hour_angle)
    )
    azimuth = math.atan2(
        -math.sin(hour_angle),
        math.tan(declination) * math.cos(phi) - math.sin(phi) * math.cos(hour_angle),
    )
    return math.degrees(elevation), math.degrees(azimuth) % 360


class Regime(IntEnum):
    """How cloudy an acquisition is: decides the fraction of the scene under cloud."""

    CLEAR = 0
    PARTLY = 1
    OVERCAST = 2


_REGIME_PROBABILITIES = (0.4, 0.35, 0.25)
_REGIME_CLOUD_FRACTION = {
    Regime.CLEAR: (0.0, 0.03),
    Regime.PARTLY: (0.08, 0.5),
    Regime.OVERCAST: (0.88, 0.99),
}


@dataclass(frozen=True)
class Weather:
    regime: Regime
    cloud_fraction: float
    cloud_height_m: float
    cirrus_fraction: float
    snowline_jitter_m: float
    overpass_jitter_s: float
    key: int


def draw_weather(
    seed: int, scene: WrsScene, acquired: date, *, regime: Regime | None = None, variant: int = 0
) -> Weather:
    """The weather of one acquisition; `variant` gives another draw for the same date."""
    key = _key(seed, int(scene.path), int(scene.row), acquired.toordinal(), variant)
    rng = np.random.default_rng(key)
    drawn = Regime(int(rng.choice(3, p=_REGIME_PROBABILITIES)))
    chosen = drawn if regime is None else regime
    low, high = _REGIME_CLOUD_FRACTION[chosen]
    return Weather(
        regime=chosen,
        cloud_fraction=float(rng.uniform(low, high)),
        cloud_height_m=float(rng.uniform(1200, 3000)),
        cirrus_fraction=float(rng.uniform(0.05, 0.3)) if rng.random() < 0.4 else 0.0,
        snowline_jitter_m=float(rng.uniform(-550, 350)),
        overpass_jitter_s=float(rng.uniform(-6, 6)),
        key=key,
    )


def acquisition_time(scene: WrsScene, acquired: date, weather: Weather) -> datetime:
    """The overpass time of the scene centre: the scene's nominal time plus a few seconds."""
    nominal = datetime.combine(acquired, scene.overpass, tzinfo=UTC)
    return nominal + timedelta(seconds=weather.overpass_jitter_s)


def _snowline_m(day_of_year: int, jitter_m: float) -> float:
    """Snow line elevation: above every peak from late April to late October.

    In midwinter it sits near 1900 m, just above the plains, so the farmland is snow-covered
    only after a storm (a low jitter) while the mountains stay white all winter.
    """
    winter = max(0.0, math.cos(2 * math.pi * (day_of_year - 20) / 365.25)) ** 0.7
    return 5000.0 - 3100.0 * winter + jitter_m * winter


def _season(cover: np.ndarray, day_of_year: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel dormant NDVI and seasonal NDVI amplitude on this day, looked up by cover."""
    dormant = np.zeros(len(Cover), dtype=np.float32)
    amplitude = np.zeros(len(Cover), dtype=np.float32)
    for cover_class, (low, peak, peak_day, width) in _PHENOLOGY.items():
        distance = (day_of_year - peak_day + 182.5) % 365 - 182.5
        dormant[cover_class] = low
        amplitude[cover_class] = (peak - low) * math.exp(-0.5 * (distance / width) ** 2)
    return dormant[cover], amplitude[cover]


# --- one acquisition ---------------------------------------------------------------------


@dataclass(frozen=True)
class SceneRasters:
    red: np.ndarray
    nir08: np.ndarray
    qa_pixel: np.ndarray
    others: dict[str, np.ndarray]
    """blue, green, swir16 and swir22 DNs, and QA_RADSAT."""
    cloud_cover: float
    """Percent of the data area flagged cloud, dilated cloud or cirrus."""
    cloud_cover_land: float
    sun_elevation: float
    sun_azimuth: float
    shadow_offset_px: tuple[int, int]
    """(rows, columns) from a cloud pixel to its shadow."""


_CLOUD_SHADOW_DIMMING = np.float32(0.35)
_HAZE_ALPHA = np.float32(0.15)
_DILATED_ALPHA = np.float32(0.4)
_HAZE_BAND = np.float32(0.04)
_DILATION_M = 90.0


def synthesize_scene(
    grid: SceneGrid, landscape: Landscape, acquired: datetime, weather: Weather
) -> SceneRasters:
    """Render one acquisition: surface, snow, clouds, shadows, cirrus, haze, fill and QA."""
    data = grid.footprint_mask()
    xs, ys = grid.pixel_centres()
    rng = np.random.default_rng(weather.key)
    day_of_year = acquired.timetuple().tm_yday
    centre_lon, centre_lat = _TO_UTM.transform(*grid.footprint.mean(axis=0), direction="INVERSE")
    sun_elevation, sun_azimuth = solar_position(acquired, centre_lon, centre_lat)

    cover = landscape.cover
    water = cover == Cover.WATER
    dormant, amplitude = _season(cover, day_of_year)
    ndvi = dormant + amplitude * landscape.vigour
    del dormant, amplitude
    nir = np.float32(0.15) + np.float32(0.32) * ndvi
    nir += np.float32(0.04) * (landscape.brightness - np.float32(0.5))
    red = nir * (np.float32(1) - ndvi) / (np.float32(1) + ndvi)
    del ndvi
    for cover_class, base, nir_ratio in ((Cover.BARE, 0.13, 1.22), (Cover.ALPINE, 0.17, 1.15)):
        where = cover == cover_class
        soil = np.float32(base) + np.float32(0.13) * landscape.brightness[where]
        red[where] = soil
        nir[where] = soil * np.float32(nir_ratio)
    water_red = np.float32(0.02) + np.float32(0.03) * landscape.brightness[water]
    red[water] = water_red
    nir[water] = water_red * (np.float32(0.3) + np.float32(0.2) * landscape.snow_noise[water])
    del water_red

    snowline = _snowline_m(day_of_year, weather.snowline_jitter_m)
    snow = landscape.elevation + np.float32(250) * (landscape.snow_noise - np.float32(0.5))
    snow = (snow > np.float32(snowline)) & ~water
    snow_red = np.float32(0.7) + np.float32(0.18) * landscape.snow_noise[snow]
    red[snow] = snow_red
    nir[snow] = snow_red * np.float32(0.9)
    del snow_red
    others = _other_bands(red, nir, water, snow, landscape.snow_noise)

    clouds = _fbm(xs, ys, 24_000, 5, _key(weather.key, _Layer.CLOUDS))
    if weather.regime is Regime.OVERCAST:
        # Centre the overcast on the AOI, so an overcast day is always unusable there.
        dx = (xs - _RESERVOIR_CENTRE[0]).astype(np.float32)[None, :]
        dy = (ys - _RESERVOIR_CENTRE[1]).astype(np.float32)[:, None]
        clouds += np.float32(0.6) * np.exp(-(dx * dx + dy * dy) / np.float32(2 * 30_000.0**2))
    threshold = _threshold_for_fraction(clouds, data, weather.cloud_fraction)
    cloud = clouds > threshold
    haze = (clouds > threshold - _HAZE_BAND) & ~cloud
    thickness = np.clip((clouds - threshold) / np.float32(0.15), 0, 1)
    del clouds
    cloud_red = np.float32(0.3) + np.float32(0.45) * thickness
    del thickness

    radius = max(1, round(_DILATION_M / grid.pixel_size))
    dilated = _dilate(cloud, radius) & ~cloud
    haze &= ~dilated

    shadow_length = weather.cloud_height_m / math.tan(math.radians(max(sun_elevation, 5.0)))
    away_from_sun = math.radians(sun_azimuth + 180)
    shadow_offset = (
        round(-shadow_length * math.cos(away_from_sun) / grid.pixel_size),
        round(shadow_length * math.sin(away_from_sun) / grid.pixel_size),
    )
    shadow = _shift(cloud, *shadow_offset) & ~cloud
    red[shadow] *= _CLOUD_SHADOW_DIMMING
    nir[shadow] *= _CLOUD_SHADOW_DIMMING
    for values in others.values():
        values[shadow] *= _CLOUD_SHADOW_DIMMING

    if weather.cirrus_fraction > 0:
        cirrus_field = _fbm(xs, ys, 40_000, 3, _key(weather.key, _Layer.CIRRUS))
        cirrus_threshold = _threshold_for_fraction(cirrus_field, data, weather.cirrus_fraction)
        cirrus = cirrus_field > cirrus_threshold
        brightening = np.float32(0.02) + np.float32(0.2) * (cirrus_field[cirrus] - cirrus_threshold)
        del cirrus_field
        red[cirrus] += brightening
        nir[cirrus] += brightening
        for values in others.values():
            values[cirrus] += brightening
        del brightening
    else:
        cirrus = np.zeros(grid.shape, dtype=bool)

    for mask, alpha in ((haze, _HAZE_ALPHA), (dilated, _DILATED_ALPHA)):
        red[mask] = (1 - alpha) * red[mask] + alpha * cloud_red[mask]
        nir[mask] = (1 - alpha) * nir[mask] + alpha * cloud_red[mask] * np.float32(1.03)
    red[cloud] = cloud_red[cloud]
    nir[cloud] = cloud_red[cloud] * np.float32(1.03)
    for band, values in others.items():
        brightness = cloud_red * _CLOUD_RATIO[band]
        for mask, alpha in ((haze, _HAZE_ALPHA), (dilated, _DILATED_ALPHA)):
            values[mask] = (1 - alpha) * values[mask] + alpha * brightness[mask]
        values[cloud] = brightness[cloud]
    del cloud_red

    red *= np.float32(1) + np.float32(0.015) * rng.standard_normal(grid.shape, dtype=np.float32)
    nir *= np.float32(1) + np.float32(0.015) * rng.standard_normal(grid.shape, dtype=np.float32)
    for values in others.values():
        values *= np.float32(1) + np.float32(0.015) * rng.standard_normal(
            grid.shape, dtype=np.float32
        )
    qa_radsat = _qa_radsat(others, data)

    snow &= ~cloud
    qa = _qa_pixel(
        data=data,
        cloud=cloud,
        dilated=dilated,
        haze=haze,
        cirrus=cirrus,
        shadow=shadow & ~cloud,
        snow=snow,
        water=water & ~cloud & ~dilated,
    )
    flagged = (cloud | dilated | cirrus)[data]
    land = ~water[data]
    return SceneRasters(
        red=_to_dn(red, data),
        nir08=_to_dn(nir, data),
        qa_pixel=qa,
        others={
            **{band: _to_dn(values, data) for band, values in others.items()},
            "qa_radsat": qa_radsat,
        },
        cloud_cover=round(100.0 * float(flagged.mean()), 2),
        cloud_cover_land=round(100.0 * float(flagged[land].mean()), 2) if land.any() else -1.0,
        sun_elevation=round(sun_elevation, 8),
        sun_azimuth=round(sun_azimuth, 8),
        shadow_offset_px=shadow_offset,
    )


_CLOUD_RATIO = {
    "blue": np.float32(1.05),
    "green": np.float32(1.02),
    "swir16": np.float32(0.8),
    "swir22": np.float32(0.55),
}
"""A cloud's reflectance in each band relative to red: white in the visible, darker in the
short-wave infrared."""

SATURATION_REFLECTANCE = np.float32(0.95)
"""Reflectance above which the demo flags a band saturated in QA_RADSAT: fresh snow and
thick cloud tops in blue and green, as real OLI scenes show."""


def _other_bands(
    red: np.ndarray,
    nir: np.ndarray,
    water: np.ndarray,
    snow: np.ndarray,
    snow_noise: np.ndarray,
) -> dict[str, np.ndarray]:
    """Blue, green and SWIR surface reflectance from red and NIR, per cover: vegetation and
    soil from typical spectra, water dark in NIR and SWIR, snow bright in the visible and
    dark in SWIR (so NDWI, NDMI, NBR and EVI behave as on real scenes)."""
    others = {
        "blue": np.float32(0.55) * red + np.float32(0.03) * nir + np.float32(0.01),
        "green": np.float32(0.7) * red + np.float32(0.1) * nir,
        "swir16": np.float32(0.6) * red + np.float32(0.5) * nir,
        "swir22": np.float32(0.5) * red + np.float32(0.22) * nir,
    }
    for band, ratio in (("blue", 1.6), ("green", 1.4), ("swir16", 0.15), ("swir22", 0.08)):
        others[band][water] = red[water] * np.float32(ratio)
    for band, ratio in (("blue", 1.12), ("green", 1.08)):
        others[band][snow] = red[snow] * np.float32(ratio)
    for band, base in (("swir16", 0.04), ("swir22", 0.02)):
        others[band][snow] = np.float32(base) + np.float32(0.04) * snow_noise[snow]
    return others


def _qa_radsat(others: dict[str, np.ndarray], data: np.ndarray) -> np.ndarray:
    """QA_RADSAT: the blue and green bits (and coastal with blue) where those bands are
    brighter than `SATURATION_REFLECTANCE`; 0 elsewhere and in fill."""
    flags = np.zeros(data.shape, dtype=np.uint16)
    blue = (others["blue"] > SATURATION_REFLECTANCE) & data
    flags[blue] |= np.uint16(
        (1 << SATURATION_BIT_OF_BAND["coastal"]) | (1 << SATURATION_BIT_OF_BAND["blue"])
    )
    green = (others["green"] > SATURATION_REFLECTANCE) & data
    flags[green] |= np.uint16(1 << SATURATION_BIT_OF_BAND["green"])
    return flags


def _threshold_for_fraction(field: np.ndarray, data: np.ndarray, fraction: float) -> np.float32:
    """The field value above which `fraction` of the data area lies (from a 1-in-16 sample)."""
    if fraction <= 0:
        return np.float32(np.inf)
    sample = field[::4, ::4][data[::4, ::4]]
    return np.float32(np.quantile(sample, 1.0 - fraction))


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by a (2r+1) square, done as two separable passes of shifted ORs."""
    rows = mask.copy()
    for step in range(1, radius + 1):
        rows[step:] |= mask[:-step]
        rows[:-step] |= mask[step:]
    out = rows.copy()
    for step in range(1, radius + 1):
        out[:, step:] |= rows[:, :-step]
        out[:, :-step] |= rows[:, step:]
    return out


def _shift(mask: np.ndarray, drow: int, dcol: int) -> np.ndarray:
    """`mask` moved by (drow, dcol) pixels; what moves in from outside is False."""
    out = np.zeros_like(mask)
    rows, cols = mask.shape
    if abs(drow) >= rows or abs(dcol) >= cols:
        return out
    out[max(drow, 0) : rows + min(drow, 0), max(dcol, 0) : cols + min(dcol, 0)] = mask[
        max(-drow, 0) : rows + min(-drow, 0), max(-dcol, 0) : cols + min(-dcol, 0)
    ]
    return out


def _to_dn(reflectance: np.ndarray, data: np.ndarray) -> np.ndarray:
    dn = np.rint((reflectance - np.float32(USGS_SR_OFFSET)) / np.float32(USGS_SR_SCALE))
    dn = np.clip(dn, VALID_SR_DN_MIN, VALID_SR_DN_MAX).astype(np.uint16)
    dn[~data] = USGS_SR_NODATA
    return dn


_LOW_CONFIDENCE_EVERYWHERE = np.uint16(
    (1 << qa_bits.CLOUD_CONFIDENCE_SHIFT)
    | (1 << qa_bits.SHADOW_CONFIDENCE_SHIFT)
    | (1 << qa_bits.SNOW_CONFIDENCE_SHIFT)
    | (1 << qa_bits.CIRRUS_CONFIDENCE_SHIFT)
)


def _qa_pixel(
    *,
    data: np.ndarray,
    cloud: np.ndarray,
    dilated: np.ndarray,
    haze: np.ndarray,
    cirrus: np.ndarray,
    shadow: np.ndarray,
    snow: np.ndarray,
    water: np.ndarray,
) -> np.ndarray:
    """QA_PIXEL as CFMask writes it: low confidence in every pair unless a flag says more."""
    qa = np.full(data.shape, _LOW_CONFIDENCE_EVERYWHERE, dtype=np.uint16)

    def flag(mask: np.ndarray, bit: int) -> None:
        qa[mask] |= np.uint16(1 << bit)

    def confidence(mask: np.ndarray, shift: int, level: int) -> None:
        qa[mask] = (qa[mask] & np.uint16(~(0b11 << shift) & 0xFFFF)) | np.uint16(level << shift)

    flag(dilated, qa_bits.DILATED_CLOUD_BIT)
    flag(cirrus, qa_bits.CIRRUS_BIT)
    flag(cloud, qa_bits.CLOUD_BIT)
    flag(shadow, qa_bits.CLOUD_SHADOW_BIT)
    flag(snow, qa_bits.SNOW_BIT)
    flag(~(cloud | dilated), qa_bits.CLEAR_BIT)
    flag(water, qa_bits.WATER_BIT)
    confidence(haze, qa_bits.CLOUD_CONFIDENCE_SHIFT, 2)
    confidence(cloud, qa_bits.CLOUD_CONFIDENCE_SHIFT, 3)
    confidence(shadow, qa_bits.SHADOW_CONFIDENCE_SHIFT, 3)
    confidence(snow, qa_bits.SNOW_CONFIDENCE_SHIFT, 3)
    confidence(cirrus, qa_bits.CIRRUS_CONFIDENCE_SHIFT, 3)
    qa[~data] = USGS_QA_FILL
    return qa


# --- files ---------------------------------------------------------------------------------


def write_cog(path: Path, array: np.ndarray, grid: SceneGrid, *, nodata: int | None) -> None:
    """Write a uint16 COG (DEFLATE, 512 px tiles, internal overviews) atomically.

    Overviews use nearest-neighbour resampling: averaging would invent QA bit patterns and
    blend fill into the SR edges. QA_PIXEL gets no nodata tag, as in USGS's own files.
    """
    partial = path.with_name(f".{path.name}.partial")
    profile = {
        "driver": "COG",
        "width": grid.shape[1],
        "height": grid.shape[0],
        "count": 1,
        "dtype": "uint16",
        "crs": CRS.from_epsg(UTM_EPSG),
        "transform": grid.transform,
        "nodata": nodata,
        "compress": "DEFLATE",
        "predictor": 2,
        "blocksize": 512,
        "overviews": "AUTO",
        "resampling": "NEAREST",
        "num_threads": "ALL_CPUS",
    }
    with rasterio.open(partial, "w", **profile) as dst:
        dst.write(array, 1)
        dst.update_tags(AREA_OR_POINT="Point")
    os.replace(partial, path)


def write_scene_files(
    out_dir: Path, product_id: str, rasters: SceneRasters, grid: SceneGrid
) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {band: out_dir / band_file_name(product_id, band) for band in BAND_FILE_SUFFIXES}
    write_cog(paths["red"], rasters.red, grid, nodata=USGS_SR_NODATA)
    write_cog(paths["nir08"], rasters.nir08, grid, nodata=USGS_SR_NODATA)
    write_cog(paths["qa_pixel"], rasters.qa_pixel, grid, nodata=None)
    for band, values in rasters.others.items():
        write_cog(paths[band], values, grid, nodata=None if band == "qa_radsat" else USGS_SR_NODATA)
    return paths


def write_scene_bands(
    out_dir: Path,
    product_id: str,
    *,
    size: int | tuple[int, int],
    acquired: datetime,
    seed: int,
    regime: Regime | None = None,
) -> dict[str, Path]:
    """Write one scene's surface reflectance (blue, green, red, nir08, swir16, swir22),
    QA_PIXEL and QA_RADSAT COGs (USGS file names) into `out_dir`.

    `product_id` names the path/row (033/032 or 034/032) and the date; `acquired` must fall on
    that date and sets the sun position. `size` is a side length or (rows, columns); pass
    `FULL_SCENE_SHAPE` for a real 30 m scene (needs about 3 GB of memory). The same arguments
    give byte-identical files, and the same scene as `build_demo_catalog` with that seed.
    """
    product = ProductId.parse(product_id)
    if product.processed is None:
        raise ValueError(f"{product_id!r} is not a full product id: it has no processing date")
    if acquired.tzinfo is None:
        acquired = acquired.replace(tzinfo=UTC)
    if acquired.astimezone(UTC).date() != product.acquired:
        raise ValueError(f"acquired={acquired.isoformat()} is not the date of {product_id}")
    scene = wrs_scene(product.path, product.row)
    grid = scene_grid(scene, size)
    weather = draw_weather(seed, scene, product.acquired, regime=regime)
    rasters = synthesize_scene(grid, make_landscape(grid, seed), acquired, weather)
    return write_scene_files(Path(out_dir), product_id, rasters, grid)
