"""IO managers for the platform's products, one file format each, one layout for all.

Layout: `<storage>/<asset>/<partition>.<ext>` for per-scene assets and
`<storage>/<asset>.<ext>` for unpartitioned ones. A step that covers several
partitions (a backfill with a multi-partition policy) hands over a dict keyed by
partition and gets one object per key, which Dagster's UPathIOManager cannot do.
A value of None means "this partition has no such product" (an AOI that misses the
scene, a scene filtered for clouds): any older object under that key is removed so
storage never shows a product the current run did not make.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import rasterio
from dagster import AssetKey, ConfigurableIOManager, Failure, InputContext, OutputContext

from landsat_assets.errors import StorageError
from landsat_assets.resources.storage import LandsatStorage
from landsat_assets.science.blocks import BandSource, ScaledBand
from landsat_assets.science.cog import naming_a_full_disk
from landsat_assets.stac.scene import SceneRecord
from landsat_assets.stores import ProductStore, product_key


@contextlib.contextmanager
def permanent_storage_errors() -> Iterator[None]:
    """A storage that cannot take a product (full, read-only) fails the step at once."""
    try:
        yield
    except StorageError as error:
        raise Failure(description=str(error), allow_retries=False) from error


@dataclass(frozen=True)
class StagedFile:
    """A finished product file in local scratch space, waiting to be published."""

    path: Path


@dataclass(frozen=True)
class StoredRaster:
    """A published raster: a URI rasterio can open, its tags (dataset and first band merged),
    each band's tags, description and scale/offset, so consumers need not reopen it for its
    metadata."""

    uri: str
    tags: Mapping[str, str]
    scales: tuple[float, ...]
    offsets: tuple[float, ...]
    descriptions: tuple[str | None, ...] = ()
    band_tags: tuple[Mapping[str, str], ...] = ()

    def has(self, role: str) -> bool:
        return role in self.descriptions

    def band(self, role: str) -> BandSource:
        """The band described as `role` (`scene_bands`: a band's STAC common name)."""
        if role not in self.descriptions:
            raise StorageError(f"{self.uri} has no {role} band (it has {self.descriptions})")
        return BandSource(self.uri, self.descriptions.index(role) + 1)

    def scaled(self, role: str) -> ScaledBand:
        """The band described as `role` and its (scale, offset), as recorded from the item."""
        source = self.band(role)
        return ScaledBand(
            source, (float(self.scales[source.band - 1]), float(self.offsets[source.band - 1]))
        )

    def tags_of(self, role: str) -> Mapping[str, str]:
        return self.band_tags[self.band(role).band - 1]


class ProductIOManager(ConfigurableIOManager):
    storage: LandsatStorage

    extension: ClassVar[str]

    def encode(self, obj: Any, staging: Path) -> Path:
        """Write `obj` into `staging` and return the file to publish."""
        raise NotImplementedError

    def decode(self, store: ProductStore, key: str) -> Any:
        raise NotImplementedError

    @classmethod
    def key_for(cls, asset_key: AssetKey, partition: str | None) -> str:
        """Where this manager stores `asset_key` (one partition of it): the one layout."""
        return product_key(cls.folder_for(asset_key), partition, cls.extension)

    @staticmethod
    def folder_for(asset_key: AssetKey) -> str:
        """The folder holding the products of each partition of `asset_key`."""
        return "/".join(asset_key.path)

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        store = self.storage.store()
        values = obj if context.has_asset_partitions else {None: obj}
        if context.has_asset_partitions and not isinstance(obj, Mapping):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a dict by partition")
        for partition, value in values.items():
            key = self.key_for(context.asset_key, partition)
            if value is None:
                store.delete(key)
                continue
            staged = value.path if isinstance(value, StagedFile) else None
            with permanent_storage_errors():
                if staged is None:
                    staging = store.staging_dir()
                    with naming_a_full_disk(staging):
                        staged = self.encode(value, staging)
                store.put(staged, key)

    def load_input(self, context: InputContext) -> Any:
        store = self.storage.store()
        if not context.has_asset_partitions:
            key = self.key_for(context.asset_key, None)
            return self.decode(store, key) if store.exists(key) else None
        loaded = {}
        for partition in context.asset_partition_keys:
            key = self.key_for(context.asset_key, partition)
            loaded[partition] = self.decode(store, key) if store.exists(key) else None
        return loaded


class RasterIOManager(ProductIOManager):
    """COGs produced by the assets themselves (streamed to scratch, never held in memory)."""

    extension: ClassVar[str] = "tif"

    def decode(self, store: ProductStore, key: str) -> StoredRaster:
        uri = store.uri(key)
        with self.storage.gdal_env(), rasterio.open(uri) as dataset:
            return StoredRaster(
                uri,
                dataset.tags() | dataset.tags(1),
                dataset.scales,
                dataset.offsets,
                dataset.descriptions,
                tuple(dataset.tags(band) for band in dataset.indexes),
            )


class TableIOManager(ProductIOManager):
    """pandas DataFrames as Parquet."""

    extension: ClassVar[str] = "parquet"

    def encode(self, obj: pd.DataFrame, staging: Path) -> Path:
        path = staging / f"table.{self.extension}"
        obj.to_parquet(path, index=False)
        return path

    def decode(self, store: ProductStore, key: str) -> pd.DataFrame:
        # One thread: Arrow's pool threads can release the Python file object while the
        # interpreter finalizes, aborting the process (exit 134; Apache Arrow issue 34314).
        return pd.read_parquet(io.BytesIO(store.read_bytes(key)), use_threads=False)


class SceneRecordIOManager(ProductIOManager):
    """Normalized scene records as JSON, readable by people and by `landsat-assets inspect`."""

    extension: ClassVar[str] = "json"

    def encode(self, obj: SceneRecord, staging: Path) -> Path:
        path = staging / f"scene.{self.extension}"
        path.write_text(json.dumps(obj.to_json_dict(), indent=2, sort_keys=True))
        return path

    def decode(self, store: ProductStore, key: str) -> SceneRecord:
        return SceneRecord.from_json_dict(json.loads(store.read_bytes(key)))


class PngIOManager(ProductIOManager):
    extension: ClassVar[str] = "png"

    def encode(self, obj: bytes, staging: Path) -> Path:
        path = staging / f"image.{self.extension}"
        path.write_bytes(obj)
        return path

    def decode(self, store: ProductStore, key: str) -> bytes:
        return store.read_bytes(key)


def product_uri(
    storage: LandsatStorage,
    manager: type[ProductIOManager],
    asset_key: AssetKey,
    partition: str | None = None,
) -> str:
    """The URI of a product as `manager` lays it out in `storage` (for links in metadata)."""
    return storage.store().uri(manager.key_for(asset_key, partition))
