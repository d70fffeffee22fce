"""Previews and charts: what they choose to show."""

import pandas as pd

from landsat_assets.science.preview import most_variable_fields


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
