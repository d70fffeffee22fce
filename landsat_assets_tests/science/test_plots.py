"""Charts drawn with matplotlib: what they choose to show."""

import pandas as pd

from landsat_assets.science.plots import (
    axis_limits,
    field_timeseries_figure,
    most_variable_fields,
    timeseries_figure,
)


def test_the_field_chart_shows_the_most_variable_fields_first():
    table = pd.DataFrame(
        {
            "field_id": ["flat", "flat", "swing", "swing", "cloudy", "mild", "mild"],
            "ndvi_mean": [0.5, 0.5, 0.1, 0.9, float("nan"), 0.4, 0.6],
            "status": ["processed"] * 4 + ["filtered_cloudy"] + ["processed"] * 2,
        }
    )
    assert most_variable_fields(table, "ndvi_mean", 3) == ["swing", "mild", "flat"]
    assert most_variable_fields(table, "ndvi_mean", 9)[-1] == "cloudy"


def summary_table() -> pd.DataFrame:
    """Two path/rows, both satellites, one scene filtered for clouds (no NDVI value)."""
    days = pd.to_datetime(
        ["2023-05-01", "2023-05-09", "2023-05-17", "2023-05-25", "2023-06-02"], utc=True
    )
    return pd.DataFrame(
        {
            "datetime": days,
            "platform": ["landsat-8", "landsat-9", "landsat-8", "landsat-9", "landsat-8"],
            "wrs_path": ["033", "034", "033", "034", "033"],
            "wrs_row": ["032"] * 5,
            "ndvi_mean": [0.31, 0.35, float("nan"), 0.42, 0.47],
            "status": ["processed", "processed", "filtered_cloudy", "processed", "processed"],
        }
    )


def test_the_y_axis_fits_the_values():
    low, high = axis_limits([0.31, 0.35, 0.42, 0.47])
    assert 0.25 < low < 0.31 and 0.47 < high < 0.55
    assert axis_limits([float("nan")]) == (-1.0, 1.0)
    low, high = axis_limits([0.5])
    assert high - low >= 0.1 and low < 0.5 < high
    assert axis_limits([-0.99, 0.99]) == (-1.0, 1.0)


def test_the_time_series_has_a_line_per_path_row_and_marks_filtered_scenes():
    table = summary_table()
    figure = timeseries_figure(table, "ndvi_mean", "NDVI mean over AOI demo")
    (axes,) = figure.axes
    labels = [line.get_label() for line in axes.get_lines()]
    assert labels.count("path/row 033/032") == 1 and labels.count("path/row 034/032") == 1
    (ticks,) = [line for line in axes.get_lines() if line.get_label().startswith("filtered")]
    assert len(ticks.get_xdata()) == 1  # the filtered scene, drawn without a value
    (line_033,) = [line for line in axes.get_lines() if line.get_label() == "path/row 033/032"]
    assert list(line_033.get_ydata()) == [0.31, 0.47]
    assert axes.get_ylim() == axis_limits([0.31, 0.35, 0.42, 0.47])
    assert axes.get_title() == "NDVI mean over AOI demo"
    # The legend sits below the axes, never over the data.
    figure.canvas.draw()
    legend = axes.get_legend().get_window_extent()
    assert legend.y1 <= axes.get_window_extent().y0
    width, height = figure.get_size_inches() * figure.dpi
    assert width >= 1000 and height >= 400


def test_the_field_chart_shares_a_fitted_axis_and_splits_series():
    rows = summary_table()
    table = pd.concat(
        [rows.assign(field_id="a"), rows.assign(field_id="b", ndvi_mean=rows["ndvi_mean"] + 0.1)]
    )
    figure = field_timeseries_figure(table)
    panels = [axes for axes in figure.axes if axes.get_visible()]
    assert len(panels) == 2
    assert panels[0].get_ylim() == axis_limits(
        table.loc[table["status"] == "processed", "ndvi_mean"]
    )
    for axes in panels:
        labels = [line.get_label() for line in axes.get_lines()]
        assert {"path/row 033/032", "path/row 034/032"} <= set(labels)
    # A path/row has one colour in every panel, even where it is the only one.
    alone = table[~((table["field_id"] == "b") & (table["wrs_path"] == "033"))]
    colours = {}
    for axes in [a for a in field_timeseries_figure(alone).axes if a.get_visible()]:
        for line in axes.get_lines():
            if line.get_label().startswith("path/row"):
                assert colours.setdefault(line.get_label(), line.get_color()) == line.get_color()
    assert len(set(colours.values())) == 2
    assert "NDVI" in figure.get_suptitle()
