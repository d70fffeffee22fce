"""Dagster asset platform for Landsat 8/9 Collection 2 Level-2 imagery."""

__version__ = "0.1.0"
