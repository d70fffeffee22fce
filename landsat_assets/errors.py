"""Every error the platform raises on purpose, under one root.

Each message names what is wrong (the setting, scene, item, file or URL) so a person can act
on it; none carries a credential. Callers catch by meaning:

- `LandsatAssetsError`: anything below; the CLI prints its message on one line (exit 2).
- `InputError`: bad input that retrying cannot repair (a Dagster step fails at once).
- `TransientReadError`: a remote read that failed for a reason that can pass (retried).
"""

from __future__ import annotations


class LandsatAssetsError(Exception):
    """Root of the platform's own errors."""


class SettingError(LandsatAssetsError, ValueError):
    """A setting (a `LANDSAT_*` variable or the CLI option that sets it) with a value that
    cannot be used; the message names the variable, the value and what is allowed."""


class InputError(LandsatAssetsError, ValueError):
    """An input (AOI, STAC item, band file, scene key) that cannot be used as it is."""


class AoiError(InputError):
    """An AOI that cannot be used; the message names the file or spec and what is wrong."""


class ItemError(InputError):
    """A STAC item that cannot become a SceneRecord; the message names the item and why."""


class SceneKeyError(InputError):
    """A scene key that could escape a path or clash with Dagster's partition syntax."""


class CursorError(InputError):
    """A sensor cursor that the platform did not write (hand-edited, or another sensor's)."""


class SceneNotFoundError(InputError, LookupError):
    """Scenes asked for by key that the catalog no longer lists."""


class SceneInputError(InputError):
    """A band file of a scene cannot be used; the message names the scene and the file."""

    def __init__(self, scene: str, path: str, problem: str) -> None:
        super().__init__(f"scene {scene}: {path}: {problem}")
        self.scene = scene
        self.path = path


class TransientReadError(LandsatAssetsError, OSError):
    """A remote band read that failed for a reason that can pass (HTTP 5xx or 429, a timeout,
    a dropped connection), after GDAL's own retries: retrying the step may succeed. The
    message names the scene and the URL, like `SceneInputError`."""

    def __init__(self, scene: str, path: str, problem: str) -> None:
        super().__init__(f"scene {scene}: {path}: {problem}")
        self.scene = scene
        self.path = path


class BandReadError(LandsatAssetsError, OSError):
    """A block of a band file could not be read (truncated or damaged file, or a remote read
    that failed after GDAL's own retries); GDAL's message alone does not name the file.
    Raised by the block reader and turned into one of the scene errors above by its caller."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: cannot read a block: {problem}")
        self.path = path
        self.problem = problem


class CatalogError(LandsatAssetsError, RuntimeError):
    """A catalog or STAC API that cannot be searched; the message names the URL or path."""


class StorageError(LandsatAssetsError):
    """Product storage (`LANDSAT_STORAGE`) that cannot be used as configured; the message
    names the folder or the bucket and endpoint, never a credential."""


class InstanceError(LandsatAssetsError, RuntimeError):
    """The Dagster instance (its database) cannot be opened; says which and why."""
