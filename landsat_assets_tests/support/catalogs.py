"""Private copies of a demo catalog that a test may damage: edit an item, add one, find its
band files. Items are plain JSON files with relative links, as `build_demo_catalog` writes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from landsat_assets.stac import search as search_module

COLLECTION = "landsat-c2-l2"


def copy_catalog(catalog_json: Path, folder: Path) -> Path:
    """A copy of the catalog folder; returns the copy's catalog.json."""
    shutil.copytree(catalog_json.parent, folder)
    return folder / "catalog.json"


def item_path(catalog_json: Path, item_id: str) -> Path:
    return catalog_json.parent / COLLECTION / item_id / f"{item_id}.json"


def read_item(catalog_json: Path, item_id: str) -> dict[str, Any]:
    return json.loads(item_path(catalog_json, item_id).read_text())


def edit_item(
    catalog_json: Path, item_id: str, change: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    path = item_path(catalog_json, item_id)
    item = json.loads(path.read_text())
    change(item)
    path.write_text(json.dumps(item))
    return item


def band_file(catalog_json: Path, item_id: str, band: str) -> Path:
    href = read_item(catalog_json, item_id)["assets"][band]["href"]
    return (item_path(catalog_json, item_id).parent / href).resolve()


def add_item(catalog_json: Path, folder_name: str, item: dict[str, Any]) -> Path:
    """Write `item` as a new item file of the collection (in its own folder) and link it, so
    a catalog may list one id twice, as a careless or hostile catalog does."""
    collection_json = catalog_json.parent / COLLECTION / "collection.json"
    path = collection_json.parent / folder_name / f"{folder_name}.json"
    path.parent.mkdir()
    path.write_text(json.dumps(item))
    collection = json.loads(collection_json.read_text())
    collection["links"].append(
        {"rel": "item", "href": f"./{folder_name}/{folder_name}.json", "type": "application/json"}
    )
    collection_json.write_text(json.dumps(collection))
    return path


def one_day_env(moment: datetime) -> dict[str, str]:
    """LANDSAT_START_DATE / LANDSAT_END_DATE selecting the acquisitions of one day."""
    day = moment.date()
    return {
        "LANDSAT_START_DATE": day.isoformat(),
        "LANDSAT_END_DATE": (day + timedelta(days=1)).isoformat(),
    }


def catalog_of_items(template: Path, folder: Path, items: Sequence[dict[str, Any]]) -> Path:
    """A new catalog in `folder` with the catalog and collection of `template` (a catalog.json)
    listing `items` alone, each in its own folder as `add_item` writes it; returns its
    catalog.json."""
    catalog_json = folder / "catalog.json"
    (folder / COLLECTION).mkdir(parents=True)
    shutil.copyfile(template, catalog_json)
    collection = json.loads((template.parent / COLLECTION / "collection.json").read_text())
    collection["links"] = [link for link in collection["links"] if link["rel"] != "item"]
    (folder / COLLECTION / "collection.json").write_text(json.dumps(collection))
    for item in items:
        add_item(catalog_json, item["id"], item)
    return catalog_json


def spy_on_item_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The item files searches in this process read from now on (the search's own reader,
    spied on; forked workers' reads are not seen)."""
    files: list[str] = []
    read_json = search_module._read_json

    def spied(href: str, stac_io: Any) -> Any:
        files.append(href)
        return read_json(href, stac_io)

    monkeypatch.setattr(search_module, "_read_json", spied)
    return files
