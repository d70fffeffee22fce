"""An embedded demo: a static STAC catalog of synthetic Landsat C2 L2 scenes, no network needed.

See `scenes` for the synthetic world and `catalog` for the Earth Search-shaped catalog.
"""

from landsat_assets.demo.catalog import add_scene, build_demo_catalog
from landsat_assets.demo.scenes import DEMO_AOI_PATH, FULL_SCENE_SHAPE, write_scene_bands

__all__ = [
    "DEMO_AOI_PATH",
    "FULL_SCENE_SHAPE",
    "add_scene",
    "build_demo_catalog",
    "write_scene_bands",
]
