"""The scene catalog as a Dagster resource: which STAC source, which AOI, which dates."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from landsat_assets.errors import SceneNotFoundError
from landsat_assets.settings import DEFAULT_DEMO_CATALOG, NO_AOI, Settings, parse_date, resolve_aoi
from landsat_assets.stac.aoi import Aoi
from landsat_assets.stac.scene import ProductId, SceneRecord
from landsat_assets.stac.search import (
    BadItemHandler,
    SceneQuery,
    SearchLimits,
    iter_scenes,
    search_scenes,
)
from landsat_assets.urls import redact


class LandsatCatalog(ConfigurableResource):
    """A STAC API URL or a local static catalog, searched with one meaning everywhere."""

    stac_url: str = Field(
        default=DEFAULT_DEMO_CATALOG,
        description="STAC API URL, or path to a static catalog (default: the demo catalog).",
    )
    collection: str = Field(default="landsat-c2-l2")
    aoi: str | None = Field(
        default=None,
        description="GeoJSON file or minx,miny,maxx,maxy (WGS84); default the demo AOI; "
        f"'{NO_AOI}' for whole scenes.",
    )
    start_date: str | None = Field(default=None, description="First acquisition date (ISO).")
    end_date: str | None = Field(default=None, description="Last acquisition date (ISO).")
    max_scene_cloud: float | None = Field(default=None, ge=0, le=100)
    max_items: int = Field(default=100_000, gt=0, description="Items a search lists at most.")
    search_timeout_seconds: float = Field(
        default=600.0, gt=0, description="Seconds a search may take at most."
    )
    local_roots: list[str] = Field(
        default_factory=list,
        description="Folders besides a local catalog's own whose band files it may name.",
    )

    @classmethod
    def from_settings(
        cls, settings: Settings, env: Mapping[str, str] | None = None
    ) -> LandsatCatalog:
        """The catalog of `settings`. A catalog URL that carries a secret (a query string,
        user-info) and came from `env` is handed to Dagster as the `EnvVar` it came from, so
        the UI's resource view shows the variable's name, never the token. `env` must be
        the process environment, where Dagster and `source` read the variable."""
        url = settings.stac_url
        secret = env is not None and env.get("LANDSAT_STAC_URL") == url and redact(url) != url
        return cls(
            stac_url=EnvVar("LANDSAT_STAC_URL") if secret else url,
            collection=settings.collection,
            aoi=settings.aoi,
            start_date=settings.start_date.isoformat() if settings.start_date else None,
            end_date=settings.end_date.isoformat() if settings.end_date else None,
            max_scene_cloud=settings.max_scene_cloud,
            local_roots=[str(folder) for folder in settings.local_roots],
            max_items=settings.max_items,
            search_timeout_seconds=settings.search_timeout_seconds,
        )

    def area_of_interest(self) -> Aoi | None:
        return resolve_aoi(self.aoi)

    def aoi_geojson(self) -> dict[str, Any] | None:
        aoi = self.area_of_interest()
        return None if aoi is None else aoi.to_geojson()

    def query(self, **overrides: Any) -> SceneQuery:
        settings: dict[str, Any] = {
            "aoi": self.area_of_interest(),
            "start": parse_date(self.start_date) if self.start_date else None,
            "end": parse_date(self.end_date) if self.end_date else None,
            "max_cloud_cover": self.max_scene_cloud,
            "collection": self.collection,
        }
        settings.update(overrides)
        return SceneQuery(**settings)

    def limits(self) -> SearchLimits:
        return SearchLimits(max_items=self.max_items, seconds=self.search_timeout_seconds)

    def roots(self) -> list[Path]:
        return [Path(folder) for folder in self.local_roots]

    def shown_source(self) -> str:
        """The source as it may be shown or stored: without query string or user-info."""
        return redact(self.source())

    def source(self) -> str:
        url = self.stac_url
        if isinstance(url, EnvVar):  # used outside a run (the main job, the CLI)
            url = url.get_value() or ""
        if "://" in url:
            return url
        return str(Path(url).expanduser().resolve())

    def search(
        self,
        *,
        on_bad_item: BadItemHandler | None = None,
        workers: int = 1,
        record_cache: Path | None = None,
        **overrides: Any,
    ) -> list[SceneRecord]:
        """One record per scene (its newest processing version), oldest first; a local
        catalog's item files read by `workers` forked processes, those unchanged since the
        last search with the same `record_cache` folder taken from it."""
        arguments = self._search_arguments(on_bad_item, overrides)
        return search_scenes(self.source(), **arguments, workers=workers, record_cache=record_cache)

    def iter_search(
        self, *, on_bad_item: BadItemHandler | None = None, **overrides: Any
    ) -> Iterator[SceneRecord]:
        """Records as the catalog lists them, page by page (for a sensor tick)."""
        return iter_scenes(self.source(), **self._search_arguments(on_bad_item, overrides))

    def _search_arguments(
        self, on_bad_item: BadItemHandler | None, overrides: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "query": self.query(**overrides),
            "on_bad_item": on_bad_item,
            "local_roots": self.roots(),
            "limits": self.limits(),
        }

    def find_scenes(self, keys: Iterable[str]) -> dict[str, SceneRecord]:
        """The newest record of each scene key.

        One search over the keys' acquisition days with the configured AOI finds them all in
        the usual case (the keys came from that search); any left over, say after the AOI
        changed, are looked up day by day without it."""
        wanted = set(keys)
        days = sorted({_acquisition_day(key) for key in wanted})
        if not days:
            return {}
        found = self._matching(wanted, start=days[0], end=_end_of(days[-1]))
        for day in sorted({_acquisition_day(key) for key in wanted - found.keys()}):
            found |= self._matching(wanted, aoi=None, start=day, end=_end_of(day))
        missing = sorted(wanted - found.keys())
        if missing:
            raise SceneNotFoundError(
                f"scene(s) {', '.join(missing)} not found in {self.shown_source()} "
                f"(collection {self.collection})"
            )
        return found

    def _matching(self, wanted: set[str], **overrides: Any) -> dict[str, SceneRecord]:
        """The wanted scenes among those searched. Other items that cannot be used are not
        this lookup's business (the search that found the wanted keys reported them); a
        wanted scene whose item went bad is simply not found."""
        arguments = self._search_arguments(_not_wanted_here, {"max_cloud_cover": None, **overrides})
        records = search_scenes(self.source(), **arguments)
        return {r.scene_key: r for r in records if r.scene_key in wanted}


def _not_wanted_here(_error: Exception) -> None:
    return None


def _end_of(day: datetime) -> datetime:
    return day + timedelta(days=1) - timedelta(microseconds=1)


def _acquisition_day(scene_key: str) -> datetime:
    product = ProductId.match(scene_key)
    if product is None:
        raise SceneNotFoundError(f"scene key {scene_key!r} is not a Landsat product id")
    return datetime.combine(product.acquired, time(), tzinfo=UTC)
