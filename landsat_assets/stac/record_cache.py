"""What a local static catalog's item files gave the last search, kept so that the next search
reads again only the files that changed.

Reading, matching and normalizing one item file costs about 0.6 ms of CPU: six seconds for a
10,000-item catalog on every `landsat-assets run`, to learn that nothing changed. A file
counts as unchanged while its inode, size, modification time and change time are the ones
recorded when it was read (the change time cannot be set back, as `touch` sets back the
modification time; a file replaced by a rename is another inode). Anything else is read
again.

An outcome is only valid for the search that produced it, so the cache carries a stamp: the
catalog, the query, the href policy and the source code of the modules that read items. A
cache with another stamp starts empty. The band hrefs of a kept record are checked against
the href policy on every search, because a band file can become a symbolic link without its
item file changing. The cache is a memo of the catalog, never a second catalog: a missing,
unreadable or foreign file only makes a search read every item.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from landsat_assets.errors import ItemError
from landsat_assets.science.cog import atomic_path
from landsat_assets.stac.normalize import HrefPolicy
from landsat_assets.stac.scene import SceneRecord

Outcome = list[SceneRecord | ItemError]
"""What one item file gives a search: its scene, nothing (it does not match the query), or
the error saying why it cannot give one."""

FORMAT = 1
"""Bumped when the file's layout changes."""


def _reader_digest() -> str:
    """A digest of the source of the modules that turn an item file into an outcome."""
    from landsat_assets.stac import aoi, normalize, scene, search

    digest = hashlib.sha256()
    for module in (aoi, normalize, scene, search):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()


def _identity(stat: os.stat_result) -> list[int]:
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


@dataclass
class RecordCache:
    """The outcomes of one catalog's item files for one search (see the module docstring)."""

    path: Path
    stamp: dict[str, Any]
    entries: dict[str, list[Any]] = field(default_factory=dict)
    """Item file -> [inode, size, mtime_ns, ctime_ns, encoded outcome]."""

    @classmethod
    def open(cls, folder: Path, source: str, search: dict[str, Any]) -> RecordCache:
        """The cache of catalog `source` under `folder` for the search described by `search`
        (a JSON-able description of its query and href policy); empty if there is none yet,
        it cannot be read, or it was made for another search or by other code."""
        stamp = {"format": FORMAT, "source": source, "search": search, "code": _reader_digest()}
        name = hashlib.sha256(source.encode()).hexdigest()[:24]
        cache = cls(folder / f"{name}.json", orjson.loads(orjson.dumps(stamp)))
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            stored = orjson.loads(cache.path.read_bytes())
            if stored["stamp"] == cache.stamp:
                cache.entries = dict(stored["entries"])
        return cache

    def kept(self, files: Iterable[str], hrefs: HrefPolicy) -> dict[str, Outcome]:
        """The kept outcome of each of `files` that has not changed since it was read and
        whose band hrefs still pass `hrefs`."""
        found: dict[str, Outcome] = {}
        for href in files:
            entry = self.entries.get(href)
            if entry is None:
                continue
            try:
                if _identity(os.stat(href)) != entry[:4]:
                    continue
                outcome = _decoded(entry[4])
                for item in outcome:
                    if isinstance(item, SceneRecord):
                        _check_bands(item, hrefs)
            except (OSError, ValueError, TypeError, KeyError, ItemError):
                continue
            found[href] = outcome
        return found

    def save(self, files: Sequence[str], read: dict[str, Outcome]) -> None:
        """Keep the outcomes just `read` and drop the files no longer listed; a cache that
        cannot be written only makes the next search slower."""
        listed = set(files)
        entries = {href: entry for href, entry in self.entries.items() if href in listed}
        for href, outcome in read.items():
            with contextlib.suppress(OSError):
                entries[href] = [*_identity(os.stat(href)), _encoded(outcome)]
        if not read and len(entries) == len(self.entries):
            return
        self.entries = entries
        payload = {"stamp": self.stamp, "entries": entries}
        with contextlib.suppress(OSError), atomic_path(self.path) as temporary:
            temporary.write_bytes(orjson.dumps(payload))


def _check_bands(record: SceneRecord, hrefs: HrefPolicy) -> None:
    for name, band in record.bands.items():
        hrefs.check(band.href, record.item_id, name)
        if band.alternate_s3_href is not None:
            hrefs.check(band.alternate_s3_href, record.item_id, f"{name} alternate s3")


def _encoded(outcome: Outcome) -> list[dict[str, Any]]:
    return [
        {"error": str(item)} if isinstance(item, ItemError) else {"record": item.to_json_dict()}
        for item in outcome
    ]


def _decoded(encoded: list[dict[str, Any]]) -> Outcome:
    return [
        ItemError(item["error"]) if "error" in item else SceneRecord.from_json_dict(item["record"])
        for item in encoded
    ]
