"""Small PNG previews of products, for the Dagster UI and for people browsing the storage."""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import rasterio
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.patches import Patch
from PIL import Image

from landsat_assets.science.qa import MASK_CLASS_COLOURS, MaskClass
from landsat_assets.science.status import SceneStatus

PREVIEW_PIXELS = 128
"""Previews travel inside every materialization event (Dagster stores them in its event
log): 128 px on the longer side keeps each a few kilobytes (docs/performance.md)."""
NDVI_COLOUR_MAP = "RdYlGn"
NDVI_LEVELS = 32
"""NDVI previews use this many colours of the map (a palette PNG: about a sixth of RGBA)."""


def _read_downsampled(path: str, band: int = 1) -> np.ndarray:
    """Read a band about PREVIEW_PIXELS on its longer side: large rasters from the COG's
    overviews, small AOI windows enlarged by whole pixels so they stay legible."""
    with rasterio.open(path) as dataset:
        factor = max(dataset.width, dataset.height) / PREVIEW_PIXELS
        shape = (
            max(1, round(dataset.height / max(factor, 1))),
            max(1, round(dataset.width / max(factor, 1))),
        )
        data = dataset.read(band, out_shape=shape, resampling=rasterio.enums.Resampling.nearest)
    enlarge = max(1, PREVIEW_PIXELS // max(data.shape))
    return data.repeat(enlarge, axis=0).repeat(enlarge, axis=1)


def _png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, transparent=True, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _palette_png(indices: np.ndarray, palette: np.ndarray) -> bytes:
    """Palette indices (uint8) and an RGBA palette (N x 4, N <= 256) as a palette PNG,
    without a matplotlib figure (about 50x cheaper per scene)."""
    image = Image.fromarray(indices.astype(np.uint8), "P")
    image.putpalette(palette[:, :3].astype(np.uint8).flatten().tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True, transparency=bytes(palette[:, 3]))
    return buffer.getvalue()


LEGEND_COLOURS = 32


def fewer_colours(png: bytes, colours: int = LEGEND_COLOURS) -> bytes:
    """A figure drawn by matplotlib as a palette PNG of `colours` colours, a third of its
    size or less: for copies that travel inside Dagster's events."""
    image = Image.open(io.BytesIO(png)).quantize(colors=colours, method=Image.Quantize.FASTOCTREE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


MASK_PALETTE = np.zeros((256, 4), dtype=np.uint8)
for _mask_class, _rgb in MASK_CLASS_COLOURS.items():
    MASK_PALETTE[int(_mask_class)] = (*_rgb, 0 if _mask_class is MaskClass.FILL else 255)


def mask_preview(path: str) -> bytes:
    """The cloud mask in its class colours, fill transparent; see `mask_legend`."""
    return _palette_png(_read_downsampled(path), MASK_PALETTE)


NDVI_PALETTE = np.vstack(
    [
        colormaps[NDVI_COLOUR_MAP](np.linspace(0, 1, NDVI_LEVELS), bytes=True),
        np.zeros((1, 4), dtype=np.uint8),
    ]
)
"""NDVI_LEVELS colours from -1 to 1, then transparent (no value)."""


def ndvi_preview(path: str) -> bytes:
    """NDVI in the RdYlGn diverging colour map over -1..1 (NDVI_LEVELS steps), no-value
    pixels transparent; see `ndvi_colour_bar`."""
    ndvi = _read_downsampled(path)
    levels = np.round((np.clip(ndvi, -1, 1) + 1) / 2 * (NDVI_LEVELS - 1))
    return _palette_png(np.where(np.isnan(ndvi), NDVI_LEVELS, levels), NDVI_PALETTE)


@functools.cache
def mask_legend() -> bytes:
    """The class legend shared by every mask preview, drawn once per process."""
    figure, axes = plt.subplots(figsize=(1.6, 1.9))
    axes.set_axis_off()
    handles = [
        Patch(
            facecolor=np.array(MASK_CLASS_COLOURS[c]) / 255, edgecolor="#444", label=c.name.lower()
        )
        for c in MaskClass
        if c is not MaskClass.FILL
    ]
    axes.legend(handles=handles, loc="center", fontsize=8, frameon=False)
    return fewer_colours(_png(figure))


@functools.cache
def ndvi_colour_bar() -> bytes:
    """The NDVI colour scale shared by every NDVI preview, drawn once per process."""
    figure, axes = plt.subplots(figsize=(0.9, 2.6))
    figure.colorbar(
        ScalarMappable(norm=Normalize(-1, 1), cmap=NDVI_COLOUR_MAP), cax=axes, label="NDVI"
    )
    return fewer_colours(_png(figure))


def timeseries_plot(
    datetimes: Sequence, means: Sequence[float], statuses: Sequence[str], labels: Mapping[str, str]
) -> bytes:
    """AOI mean NDVI over time; scenes filtered for clouds are marked on the time axis."""
    figure, axes = plt.subplots(figsize=(8, 3.5))
    rows = list(zip(datetimes, means, statuses, strict=True))
    processed = [(d, m) for d, m, s in rows if s == SceneStatus.PROCESSED]
    if processed:
        axes.plot(*zip(*processed, strict=True), "o-", color="#1a9850", label=labels["processed"])
    filtered = [d for d, _m, s in rows if s == SceneStatus.FILTERED_CLOUDY]
    if filtered:
        axes.plot(filtered, [-0.95] * len(filtered), "x", color="#777", label=labels["filtered"])
    axes.set_ylim(-1, 1)
    axes.set_ylabel("AOI mean NDVI")
    axes.grid(alpha=0.3)
    if processed or filtered:
        axes.legend(loc="lower right", fontsize=8)
    figure.autofmt_xdate()
    return _png(figure)


FIELD_PANELS = 12
"""Fields the field plot shows, the most variable first."""


def most_variable_fields(table: pd.DataFrame, column: str, count: int) -> list[str]:
    """The `count` fields whose `column` varies most over their processed scenes (by
    standard deviation, ties in field order); fields never processed come last."""
    processed = table[table["status"] == SceneStatus.PROCESSED]
    spread = processed.groupby("field_id", sort=True)[column].std().fillna(0.0)
    ranked = list(spread.sort_values(ascending=False, kind="stable").index)
    never = sorted(set(table["field_id"]) - set(ranked))
    return [*ranked, *never][:count]


def field_timeseries_plot(
    table: pd.DataFrame, index: str = "ndvi", panels: int = FIELD_PANELS
) -> bytes:
    """Small multiples of each field's mean index over time, for the `panels` fields whose
    mean varies most between scenes; scenes where a field was filtered for clouds are marked
    on its time axis. Every panel shares the index's -1..1 scale."""
    column = f"{index}_mean"
    shown = most_variable_fields(table, column, panels)
    columns = min(4, max(1, len(shown)))
    rows = max(1, math.ceil(len(shown) / columns))
    figure, grid = plt.subplots(
        rows, columns, figsize=(3 * columns, 2.2 * rows), sharex=True, sharey=True, squeeze=False
    )
    for axes in grid.flat[len(shown) :]:
        axes.set_visible(False)
    for axes, field_id in zip(grid.flat, shown, strict=False):
        rows_of_field = table[table["field_id"] == field_id]
        ok = rows_of_field[rows_of_field["status"] == SceneStatus.PROCESSED]
        axes.plot(ok["datetime"], ok[column], "o-", color="#1a9850", markersize=3)
        cloudy = rows_of_field[rows_of_field["status"] == SceneStatus.FILTERED_CLOUDY]
        axes.plot(cloudy["datetime"], [-0.95] * len(cloudy), "x", color="#777", markersize=4)
        axes.set_title(str(field_id), fontsize=9)
        axes.set_ylim(-1, 1)
        axes.grid(alpha=0.3)
        locator = mdates.AutoDateLocator(maxticks=4)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        axes.tick_params(labelsize=8)
    figure.supylabel(f"field mean {index.upper()}")
    figure.tight_layout()
    return _png(figure)
