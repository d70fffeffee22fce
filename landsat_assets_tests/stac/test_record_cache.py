"""A local catalog's item files are read again only when they changed: a search with a record
cache finds what a search without one finds, whatever changed in between, and reads no
unchanged file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from landsat_assets.demo.catalog import build_demo_catalog
from landsat_assets.stac.scene import SceneRecord
from landsat_assets.stac.search import SceneQuery, search_scenes
from landsat_assets_tests.support.catalogs import spy_on_item_reads


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    return build_demo_catalog(tmp_path / "catalog", size=32, dates=3)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return spy_on_item_reads(monkeypatch)


def item_files(catalog: Path) -> list[Path]:
    return sorted(p for p in catalog.parent.glob("*/*/*.json") if p.name != "collection.json")


def searched(
    catalog: Path, cache: Path | None, query: SceneQuery | None = None
) -> tuple[list[SceneRecord], list[str]]:
    bad: list[str] = []
    records = search_scenes(
        catalog, query or SceneQuery(), on_bad_item=lambda e: bad.append(str(e)), record_cache=cache
    )
    return records, bad


def test_an_unchanged_catalog_is_not_read_again(
    catalog: Path, tmp_path: Path, reads: list[str]
) -> None:
    cache = tmp_path / "cache"
    first = searched(catalog, cache)
    assert len(reads) == len(item_files(catalog)) == len(first[0])
    reads.clear()
    assert searched(catalog, cache) == first == searched(catalog, None)
    assert len(reads) == len(item_files(catalog)), "only the search without a cache reads"


def test_a_changed_item_file_is_read_again_even_with_its_old_times(
    catalog: Path, tmp_path: Path, reads: list[str]
) -> None:
    """A USGS reprocessing rewrites the item; setting its modification time back (as a copy
    that keeps times does) does not hide the change."""
    cache = tmp_path / "cache"
    searched(catalog, cache)
    changed = item_files(catalog)[2]
    times = changed.stat()
    item = json.loads(changed.read_text())
    item["properties"]["updated"] = "2031-01-01T00:00:00Z"
    item["properties"]["landsat:product_generated"] = "2031-01-01T00:00:00Z"
    changed.write_text(json.dumps(item))
    os.utime(changed, ns=(times.st_atime_ns, times.st_mtime_ns))
    reads.clear()
    records, _ = searched(catalog, cache)
    assert reads == [str(changed)]
    assert records == searched(catalog, None)[0]
    assert any(r.item_id == item["id"] and r.version.startswith("2031") for r in records)


def test_added_and_removed_items_and_bad_items_are_found_as_without_a_cache(
    catalog: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    files = item_files(catalog)
    files[0].write_text("{ not json")
    first = searched(catalog, cache)
    assert len(first[1]) == 1 and str(files[0]) in first[1][0]
    assert searched(catalog, cache) == first, "a bad item stays bad, with the same message"
    collection = files[1].parent.parent / "collection.json"
    links = json.loads(collection.read_text())
    links["links"] = [link for link in links["links"] if files[1].name not in link["href"]]
    collection.write_text(json.dumps(links))
    assert searched(catalog, cache) == searched(catalog, None)
    assert len(searched(catalog, cache)[0]) == len(first[0]) - 1


def test_a_band_turned_into_a_link_outside_the_catalog_is_refused(
    catalog: Path, tmp_path: Path
) -> None:
    """The href policy is applied to kept records too: a band file can become a symbolic
    link without its item file changing."""
    cache = tmp_path / "cache"
    records, _ = searched(catalog, cache)
    band = Path(records[0].bands["red"].href)
    outside = tmp_path / "secret.tif"
    outside.write_bytes(band.read_bytes())
    band.unlink()
    band.symlink_to(outside)
    cached, bad = searched(catalog, cache)
    assert (cached, bad) == searched(catalog, None)
    assert len(bad) == 1 and "outside the catalog's folder" in bad[0]


def test_another_query_or_a_damaged_cache_reads_every_file(
    catalog: Path, tmp_path: Path, reads: list[str]
) -> None:
    cache = tmp_path / "cache"
    searched(catalog, cache)
    reads.clear()
    cloudless = SceneQuery(max_cloud_cover=10)
    assert searched(catalog, cache, cloudless) == searched(catalog, None, cloudless)
    assert len(reads) == 2 * len(item_files(catalog))
    for stored in cache.iterdir():
        stored.write_bytes(stored.read_bytes()[:100])
    reads.clear()
    assert searched(catalog, cache, cloudless) == searched(catalog, None, cloudless)
    assert len(reads) == 2 * len(item_files(catalog))
