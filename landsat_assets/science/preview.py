"""Small PNG previews of products, for the Dagster UI and for people browsing the storage."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import rasterio
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from landsat_assets.science.qa import MASK_CLASS_COLOURS, MaskClass

PREVIEW_PIXELS = 256
NDVI_COLOUR_MAP = "RdYlGn"


def _read_downsampled(path: str, band: int = 1) -> np.ndarray:
    """Read a band at most PREVIEW_PIXELS on a side, from the COG's overviews when it has them."""
    with rasterio.open(path) as dataset:
        factor = max(dataset.width, dataset.height) / PREVIEW_PIXELS
        shape = (
            max(1, round(dataset.height / max(factor, 1))),
            max(1, round(dataset.width / max(factor, 1))),
        )
        return dataset.read(band, out_shape=shape, resampling=rasterio.enums.Resampling.nearest)


def _png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, transparent=True, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def mask_preview(path: str) -> bytes:
    classes = _read_downsampled(path)
    colours = np.zeros((256, 4))
    for mask_class, rgb in MASK_CLASS_COLOURS.items():
        colours[int(mask_class)] = (*(c / 255 for c in rgb), 1.0)
    colours[int(MaskClass.FILL)] = (0, 0, 0, 0)
    figure, axes = plt.subplots(figsize=(4.2, 3.2))
    axes.imshow(classes, cmap=ListedColormap(colours), vmin=0, vmax=255, interpolation="nearest")
    axes.set_axis_off()
    legend = [
        Patch(
            facecolor=np.array(MASK_CLASS_COLOURS[c]) / 255, edgecolor="#444", label=c.name.lower()
        )
        for c in MaskClass
        if c is not MaskClass.FILL
    ]
    axes.legend(handles=legend, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7)
    return _png(figure)


def ndvi_preview(path: str) -> bytes:
    ndvi = _read_downsampled(path)
    figure, axes = plt.subplots(figsize=(4.2, 3.2))
    image = axes.imshow(
        np.ma.masked_invalid(ndvi), cmap=NDVI_COLOUR_MAP, vmin=-1, vmax=1, interpolation="nearest"
    )
    axes.set_axis_off()
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="NDVI")
    return _png(figure)


def timeseries_plot(
    datetimes: Sequence, means: Sequence[float], statuses: Sequence[str], labels: Mapping[str, str]
) -> bytes:
    """AOI mean NDVI over time; scenes filtered for clouds are marked on the time axis."""
    figure, axes = plt.subplots(figsize=(8, 3.5))
    rows = list(zip(datetimes, means, statuses, strict=True))
    processed = [(d, m) for d, m, s in rows if s == "processed"]
    if processed:
        axes.plot(*zip(*processed, strict=True), "o-", color="#1a9850", label=labels["processed"])
    filtered = [d for d, _m, s in rows if s == "filtered_cloudy"]
    if filtered:
        axes.plot(filtered, [-0.95] * len(filtered), "x", color="#777", label=labels["filtered"])
    axes.set_ylim(-1, 1)
    axes.set_ylabel("AOI mean NDVI")
    axes.grid(alpha=0.3)
    if processed or filtered:
        axes.legend(loc="lower right", fontsize=8)
    figure.autofmt_xdate()
    return _png(figure)
