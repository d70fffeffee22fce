"""The test STAC API honours `datetime` when asked to, as public APIs do: the growth
benchmark's routine sensor tick relies on it to page only the recent scenes."""

from __future__ import annotations

from landsat_assets_tests.support.stac_api import PagedStacApi


def _item(day: int) -> dict:
    return {"id": f"scene-{day}", "properties": {"datetime": f"2023-01-{day:02d}T17:30:00Z"}}


def _listed(api: PagedStacApi, interval: str | None) -> list[str]:
    ids, number = [], 0
    while True:
        page = api.page(number, interval)
        ids += [feature["id"] for feature in page["features"]]
        if not page["links"]:
            return ids
        number += 1


def test_a_datetime_interval_narrows_the_pages_when_honoured() -> None:
    items = [{**_item(day), "assets": {}} for day in range(1, 11)]
    api = PagedStacApi(items=items, page_size=3, honours_datetime=True)
    assert _listed(api, "2023-01-08T00:00:00Z/..") == ["scene-8", "scene-9", "scene-10"]
    assert _listed(api, "../2023-01-02T17:30:00Z") == ["scene-1", "scene-2"]
    assert _listed(api, "2023-01-04T00:00:00Z/2023-01-05T23:59:59Z") == ["scene-4", "scene-5"]
    assert len(_listed(api, None)) == 10
    ignoring = PagedStacApi(items=items, page_size=3)
    assert len(_listed(ignoring, "2023-01-08T00:00:00Z/..")) == 10
