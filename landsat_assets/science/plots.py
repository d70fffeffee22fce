"""Figures drawn with matplotlib: the summary and field time-series charts, and the two
legends stored in `legends/` (`draw_mask_legend`, `draw_ndvi_colour_bar`).

Importing matplotlib costs about 0.8 s, so only the code that draws imports this module, inside
the function that draws: a process that never draws (a no-op `landsat-assets run`, a code
server loading the definitions) never loads matplotlib."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from landsat_assets.science.preview import MASK_LEGEND_LABELS, NDVI_COLOUR_MAP, fewer_colours
from landsat_assets.science.qa import MASK_CLASS_COLOURS
from landsat_assets.science.status import SceneStatus


def _png(figure: plt.Figure, *, transparent: bool = True) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, transparent=transparent, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def draw_mask_legend() -> bytes:
    """The class legend shared by every mask preview (stored as `legends/mask.png`, which
    `preview.mask_legend` reads)."""
    figure, axes = plt.subplots(figsize=(2.2, 2.4))
    axes.set_axis_off()
    handles = [
        Patch(facecolor=np.array(MASK_CLASS_COLOURS[c]) / 255, edgecolor="#444", label=label)
        for c, label in MASK_LEGEND_LABELS.items()
    ]
    handles.append(Patch(facecolor="none", edgecolor="#444", linestyle="--", label="outside AOI"))
    axes.legend(handles=handles, loc="center", fontsize=8, frameon=False)
    figure.patch.set_facecolor("white")
    return fewer_colours(_png(figure, transparent=False))


def draw_ndvi_colour_bar() -> bytes:
    """The NDVI colour scale shared by every NDVI preview (stored as `legends/ndvi.png`,
    which `preview.ndvi_colour_bar` reads)."""
    figure, axes = plt.subplots(figsize=(0.9, 2.6))
    figure.colorbar(
        ScalarMappable(norm=Normalize(-1, 1), cmap=NDVI_COLOUR_MAP), cax=axes, label="NDVI"
    )
    return fewer_colours(_png(figure))


PLOT_SIZE = (11, 4.8)
"""Inches at 100 dpi: 1100 x 480 px, readable at the UI dialog's width."""
SERIES_COLOURS = ("#1b7837", "#2166ac", "#b35806", "#762a83", "#01665e", "#8c510a")
PLATFORM_MARKERS = {"landsat-8": "o", "landsat-9": "s"}
FILTERED_COLOUR = "#888888"
"""Scenes filtered for clouds (and no-data scenes): ticks along the bottom of the axes."""


def axis_limits(
    values: Sequence[float], pad: float = 0.08, span: float = 0.1
) -> tuple[float, float]:
    """y limits that show every finite value of `values` with `pad` of the range around them,
    at least `span` tall, inside -1..1 (the range of the indices); -1..1 when none is
    finite."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return -1.0, 1.0
    low, high = min(finite), max(finite)
    margin = max((high - low) * pad, (span - (high - low)) / 2, 0.0)
    return max(-1.0, low - margin), min(1.0, high + margin)


def series_of(table: pd.DataFrame) -> pd.Series:
    """Each row's series: its WRS-2 path/row (scenes of one path/row see the ground at the
    same angle and time of day, so their values compare)."""
    return "path/row " + table["wrs_path"].astype(str) + "/" + table["wrs_row"].astype(str)


def series_colours(table: pd.DataFrame) -> dict[str, str]:
    """One colour per series of `table`, the same in every panel of a figure."""
    labels = sorted(set(series_of(table)))
    return {label: SERIES_COLOURS[i % len(SERIES_COLOURS)] for i, label in enumerate(labels)}


def _draw_series(
    axes: plt.Axes,
    table: pd.DataFrame,
    column: str,
    markersize: float,
    colours: dict[str, str] | None = None,
) -> None:
    """Processed rows of `table` as one line per series (colour) with one marker per
    platform; rows not processed as ticks along the bottom, outside the data's scale."""
    colours = colours or series_colours(table)
    processed = table[table["status"] == SceneStatus.PROCESSED]
    for label, rows in processed.groupby(series_of(processed), sort=True):
        colour = colours[str(label)]
        axes.plot(rows["datetime"], rows[column], "-", color=colour, linewidth=1.2, label=label)
        for platform, points in rows.groupby("platform", sort=True):
            axes.plot(
                points["datetime"],
                points[column],
                PLATFORM_MARKERS.get(str(platform), "D"),
                color=colour,
                markersize=markersize,
                linestyle="none",
            )
    skipped = table[table["status"] != SceneStatus.PROCESSED]
    if len(skipped):
        axes.plot(
            skipped["datetime"],
            [0.03] * len(skipped),
            "|",
            color=FILTERED_COLOUR,
            markersize=markersize * 2.5,
            markeredgewidth=1.5,
            transform=axes.get_xaxis_transform(),
            label="filtered for clouds / no data",
        )


def _platform_handles(table: pd.DataFrame) -> list[Line2D]:
    platforms = sorted(set(table.loc[table["status"] == SceneStatus.PROCESSED, "platform"]))
    return [
        Line2D(
            [],
            [],
            marker=PLATFORM_MARKERS.get(str(p), "D"),
            color="#444",
            linestyle="none",
            label=str(p),
        )
        for p in platforms
    ]


def timeseries_figure(table: pd.DataFrame, column: str, title: str) -> plt.Figure:
    """`column` of `table` (the summary's columns) over time: one line per path/row, a
    marker per satellite, filtered scenes as ticks along the bottom; the y axis fits the
    processed values; the legend sits under the axes, never on the data."""
    figure, axes = plt.subplots(figsize=PLOT_SIZE)
    _draw_series(axes, table, column, markersize=5)
    processed = table[table["status"] == SceneStatus.PROCESSED]
    axes.set_ylim(*axis_limits(list(processed[column])))
    axes.set_ylabel(column.replace("_", " "))
    axes.grid(alpha=0.3)
    locator = mdates.AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes.set_title(title, fontsize=12)
    handles, _labels = axes.get_legend_handles_labels()
    handles += _platform_handles(table)
    if handles:
        axes.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.1),
            ncol=min(len(handles), 5),
            fontsize=9,
            frameon=False,
        )
    figure.tight_layout()
    return figure


def timeseries_plot(table: pd.DataFrame, column: str = "ndvi_mean", title: str = "") -> bytes:
    """`timeseries_figure` as a PNG."""
    return _png(timeseries_figure(table, column, title or column))


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


def field_timeseries_figure(
    table: pd.DataFrame, index: str = "ndvi", panels: int = FIELD_PANELS, title: str = ""
) -> plt.Figure:
    """Small multiples of each field's mean index over time, in the style of
    `timeseries_figure` (a line per path/row, a marker per satellite, scenes where the field
    was filtered for clouds as ticks), for the `panels` fields whose mean varies most
    between scenes. The panels share one y axis fitted to the values shown."""
    column = f"{index}_mean"
    shown = most_variable_fields(table, column, panels)
    columns = min(4, max(1, len(shown)))
    rows = max(1, math.ceil(len(shown) / columns))
    figure, grid = plt.subplots(
        rows,
        columns,
        figsize=(3.4 * columns, 2.5 * rows + 0.9),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    for axes in grid.flat[len(shown) :]:
        axes.set_visible(False)
    of_shown = table[table["field_id"].isin(shown)]
    colours = series_colours(of_shown)
    for axes, field_id in zip(grid.flat, shown, strict=False):
        _draw_series(
            axes, table[table["field_id"] == field_id], column, markersize=3, colours=colours
        )
        axes.set_title(str(field_id), fontsize=10)
        axes.grid(alpha=0.3)
        locator = mdates.AutoDateLocator(maxticks=4)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        axes.tick_params(labelsize=8)
    processed = of_shown[of_shown["status"] == SceneStatus.PROCESSED]
    grid.flat[0].set_ylim(*axis_limits(list(processed[column])))
    fields = int(table["field_id"].nunique())
    figure.suptitle(
        title
        or f"{index.upper()} mean per field: {len(shown)} of {fields} fields, most variable first",
        fontsize=12,
    )
    figure.supylabel(f"field mean {index.upper()}")
    seen: dict[str, Line2D] = {}
    for axes in grid.flat[: len(shown)]:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    handles = [seen[label] for label in sorted(seen)] + _platform_handles(of_shown)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    if handles:
        figure.legend(
            handles=handles,
            loc="lower center",
            ncol=min(len(handles), 5),
            fontsize=9,
            frameon=False,
        )
    return figure


def field_timeseries_plot(
    table: pd.DataFrame, index: str = "ndvi", panels: int = FIELD_PANELS, title: str = ""
) -> bytes:
    """`field_timeseries_figure` as a PNG."""
    return _png(field_timeseries_figure(table, index, panels, title))
