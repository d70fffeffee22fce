"""The deployment's fields (LANDSAT_FIELDS), as a resource the field assets read."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field as ConfigField

from landsat_assets.fields import DEFAULT_ID_PROPERTY, Fields, load_fields


class LandsatFields(ConfigurableResource):
    path: str = ConfigField(description="GeoJSON FeatureCollection of the fields (WGS84).")
    id_property: str = ConfigField(
        default=DEFAULT_ID_PROPERTY, description="The property that names each field."
    )

    def load(self) -> Fields:
        return load_fields(self.path, self.id_property)
