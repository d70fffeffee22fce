"""How scenes are processed: the cloud filter, the clear-pixel definition and safety limits."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from landsat_assets.science import qa
from landsat_assets.science.bands import DEFAULT_PIXEL_BUDGET
from landsat_assets.science.blocks import default_readers
from landsat_assets.science.indices import INDICES, NDVI, SpectralIndex, parse_indices
from landsat_assets.settings import Settings


class SceneProcessing(ConfigurableResource):
    min_clear_fraction: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Scenes whose AOI clear fraction is below this are filtered, not processed.",
    )
    usable_classes: str = Field(
        default="clear,water,snow",
        description="Mask classes that count as clear (default: QA bits 0-4 all zero).",
    )
    indices: str = Field(
        default="ndvi",
        description="Spectral indices computed (comma-separated); NDVI always is.",
    )
    pixel_budget: int = Field(
        default=DEFAULT_PIXEL_BUDGET,
        gt=0,
        description="Largest source band (pixels) that is read; larger ones are refused.",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=32,
        description=(
            "Reader threads per step; by default one per spare core for local band files "
            "and 4 for band files read over the network."
        ),
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> SceneProcessing:
        return cls(
            min_clear_fraction=settings.min_clear_fraction,
            usable_classes=",".join(sorted(c.name.lower() for c in settings.usable_classes)),
            indices=",".join(settings.indices),
        )

    def usable(self) -> frozenset[qa.MaskClass]:
        return qa.parse_usable_classes(self.usable_classes)

    def index_names(self) -> tuple[str, ...]:
        """Every index computed, NDVI first."""
        return parse_indices(self.indices)

    def other_indices(self) -> list[SpectralIndex]:
        """The indices besides NDVI (the `spectral_indices` raster's bands)."""
        return [INDICES[name] for name in self.index_names() if name != NDVI.name]

    def readers_for(self, path: str) -> int:
        """Reader threads for the band file at `path` (a local path or a URL)."""
        return self.workers or default_readers(path)
