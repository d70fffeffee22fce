"""One scene search, two backends: a STAC API over HTTP, or a static catalog on disk.

The predicates (AOI, time range, cloud cover, platform) are always applied here, on the raw
items, whatever the server already did: servers differ in what they honour (local servers
ignore `query`; stac-fastapi-static supports CQL2 `filter`; some advertise no filter at all)
and in how they read -1 cloud covers or antimeridian footprints. Server-side filters only
make the pages smaller; the answer is the same with either backend.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import signal
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import orjson
import pystac
import requests
from pystac import StacIO
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from pystac_client.warnings import FallbackToPystac, NoConformsTo
from shapely.errors import ShapelyError
from urllib3 import Retry

from landsat_assets.errors import CatalogError, ItemError
from landsat_assets.stac.aoi import Aoi, bbox_geometry, footprint_intersects
from landsat_assets.stac.normalize import (
    HrefPolicy,
    item_cloud_cover,
    item_datetime,
    item_platform,
    normalize_item,
    normalize_platform,
    resolve_href,
)
from landsat_assets.stac.record_cache import Outcome, RecordCache
from landsat_assets.stac.scene import SceneRecord
from landsat_assets.urls import redact, redact_text

DEFAULT_COLLECTION = "landsat-c2-l2"
DEFAULT_PLATFORMS = ("landsat-8", "landsat-9")

HTTP_RETRIES = 3
"""Retries after the first try, for connection errors, timeouts, 429 and 5xx."""
HTTP_BACKOFF = 0.5
"""urllib3 sleeps 0, then 2x, 4x this between retries: 3 s in all with 3 retries."""
HTTP_TIMEOUT = (5.0, 30.0)
"""Connect and read timeouts in seconds, per try."""
_RETRY_STATUSES = (429, 500, 502, 503, 504)
_READ_ERRORS = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    pystac.STACError,
    pystac.STACTypeError,
    pystac.errors.RequiredPropertyMissing,
)
"""What pystac raises for files that are missing, not JSON, or not the STAC they claim."""


@dataclass(frozen=True)
class SceneQuery:
    """Naive datetimes are taken as UTC; `start` and `end` are both inclusive; a scene with no
    cloud cover (absent or -1) never passes a `max_cloud_cover`."""

    aoi: Aoi | None = None
    start: datetime | None = None
    end: datetime | None = None
    max_cloud_cover: float | None = None
    platforms: tuple[str, ...] = DEFAULT_PLATFORMS
    collection: str = DEFAULT_COLLECTION

    def __post_init__(self) -> None:
        start, end = _utc(self.start), _utc(self.end)
        if start is not None and end is not None and start > end:
            raise ValueError(f"start {start.isoformat()} is after end {end.isoformat()}")
        if self.max_cloud_cover is not None and not 0 <= self.max_cloud_cover <= 100:
            raise ValueError(f"max_cloud_cover {self.max_cloud_cover} is not within 0..100")
        platforms = []
        for name in self.platforms:
            platform = normalize_platform(name)
            if platform is None:
                raise ValueError(f"platform {name!r} is not a Landsat (e.g. 'landsat-9')")
            platforms.append(platform)
        if not platforms:
            raise ValueError("platforms is empty: no scene could match")
        if not self.collection:
            raise ValueError("collection is empty")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "platforms", tuple(dict.fromkeys(platforms)))

    def matches(self, item: Mapping[str, Any]) -> bool:
        """Whether a raw STAC item dict passes every predicate (the collection aside)."""
        if item_platform(item) not in self.platforms:
            return False
        moment = item_datetime(item)
        if (self.start is not None and moment < self.start) or (
            self.end is not None and moment > self.end
        ):
            return False
        if self.max_cloud_cover is not None:
            cloud_cover = item_cloud_cover(item)
            if cloud_cover is None or cloud_cover > self.max_cloud_cover:
                return False
        if self.aoi is not None:
            try:
                footprint = item.get("geometry")
                if footprint is None and item.get("bbox"):
                    bbox = item["bbox"]
                    footprint = bbox_geometry((bbox[0], bbox[1], bbox[-2], bbox[-1]))
                return footprint_intersects(self.aoi, footprint)
            except (
                ValueError,
                TypeError,
                KeyError,
                IndexError,
                AttributeError,
                ShapelyError,
            ) as error:
                raise ItemError(
                    f"item {item.get('id')!r}: footprint is not a usable GeoJSON geometry "
                    f"({type(error).__name__}: {error})"
                ) from error
        return True

    def cql2_filter(self) -> dict[str, Any]:
        """CQL2-JSON for the server, in Basic CQL2 only (`=`, `<=`, `and`, `or`; `in` needs
        the advanced-comparison conformance class), with the platform spelled the ways the
        public APIs spell it (`landsat-9` on Earth Search and Planetary Computer,
        `LANDSAT_9` on LandsatLook)."""
        platform_is = [
            {"op": "=", "args": [{"property": "platform"}, spelling]}
            for platform in self.platforms
            for spelling in (platform, platform.upper().replace("-", "_"))
        ]
        clauses: list[dict[str, Any]] = [{"op": "or", "args": platform_is}]
        if self.max_cloud_cover is not None:
            clauses.append(
                {"op": "<=", "args": [{"property": "eo:cloud_cover"}, self.max_cloud_cover]}
            )
        return clauses[0] if len(clauses) == 1 else {"op": "and", "args": clauses}


BadItemHandler = Callable[[ItemError], None]


@dataclass(frozen=True)
class SearchLimits:
    """Bounds on one search, so a catalog that lists without end (new items on every page,
    paging that never stops) or answers one byte at a time cannot hold a run or a sensor tick
    for ever. Past either, the search fails with a `CatalogError` naming the catalog."""

    max_items: int = 100_000
    """Items listed at most (LANDSAT_MAX_ITEMS), matching or not."""
    seconds: float = 600.0
    """Wall time of the whole search at most (LANDSAT_SEARCH_TIMEOUT_SECONDS)."""


class _Budget:
    """What is left of a search's `SearchLimits`."""

    def __init__(self, limits: SearchLimits, source: str) -> None:
        self.limits = limits
        self.source = source
        self.deadline = time.monotonic() + limits.seconds
        self.items = 0

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise CatalogError(
                f"catalog {self.source}: the search took more than {self.limits.seconds:g} s "
                "(LANDSAT_SEARCH_TIMEOUT_SECONDS); stopped"
            )

    def count_item(self) -> None:
        self.items += 1
        if self.items > self.limits.max_items:
            raise CatalogError(
                f"catalog {self.source}: it listed more than {self.limits.max_items:,} items "
                "(LANDSAT_MAX_ITEMS); narrow the AOI or dates, or raise the limit"
            )
        self.check_time()


class _DeadlineSession(requests.Session):
    """Reads each response body as it arrives and stops at the search's deadline: a server
    sending one byte every few seconds never trips a per-read timeout."""

    def __init__(self, budget: _Budget) -> None:
        super().__init__()
        self.budget = budget

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.budget.check_time()
        response = super().send(request, **{**kwargs, "stream": True})
        body = bytearray()
        try:
            while chunk := response.raw.read1(_READ_CHUNK, decode_content=True):
                body += chunk
                self.budget.check_time()
        finally:
            response.close()
        response._content = bytes(body)
        return response


_READ_CHUNK = 1 << 16


def iter_scenes(
    catalog: str | os.PathLike[str],
    query: SceneQuery,
    *,
    page_size: int = 100,
    on_bad_item: BadItemHandler | None = None,
    local_roots: Sequence[Path] = (),
    limits: SearchLimits = SearchLimits(),
    workers: int = 1,
    record_cache: Path | None = None,
) -> Iterator[SceneRecord]:
    """Scenes matching `query`, page by page, as the catalog lists them (not deduplicated).

    `catalog` is an http(s) URL (a STAC API, or a static catalog served over HTTP) or a local
    catalog.json / collection.json, or the folder holding it (a path or a file:// URL); a
    local one's item files are read by `workers` forked processes (for a process that may fork:
    the CLI, not a code server's sensor).
    A matching item that cannot be normalized raises its `ItemError`, unless `on_bad_item`
    is given: then it is handed the error and the search goes on, so one hostile or broken
    item cannot stop a sensor or a main job from seeing every other scene. A local catalog's
    band files must lie in its folder or under one of `local_roots`. The search stays within
    `limits`. With a `record_cache` folder, a local catalog's item files unchanged since the
    last such search are not read again (record_cache.py).
    """
    source = str(catalog)
    label = redact(source)
    budget = _Budget(limits, label)
    parsed = urlparse(source)
    if parsed.scheme in ("http", "https"):
        records = _search_url(source, label, query, page_size, budget)
    else:
        path = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(source)
        root = _open_static(path)
        hrefs = HrefPolicy.for_catalog(str(path), local_roots)
        cache = (
            None
            if record_cache is None
            else RecordCache.open(record_cache, label, _search_stamp(query, hrefs))
        )
        records = _walk_static(root, query, label, hrefs, StacIO.default(), workers, cache)
    try:
        for record in records:
            budget.count_item()
            if isinstance(record, ItemError):
                shown = ItemError(redact_text(str(record)))
                if on_bad_item is None:
                    raise shown from None
                on_bad_item(shown)
            else:
                yield record
    except CatalogError as error:
        # Messages may quote next-page links or library errors holding the URL's token.
        raise CatalogError(redact_text(str(error))) from None


def search_scenes(
    catalog: str | os.PathLike[str],
    query: SceneQuery,
    *,
    page_size: int = 100,
    on_bad_item: BadItemHandler | None = None,
    local_roots: Sequence[Path] = (),
    limits: SearchLimits = SearchLimits(),
    workers: int = 1,
    record_cache: Path | None = None,
) -> list[SceneRecord]:
    """One record per scene_key (the newest `version` wins, so a USGS reprocessing replaces
    the older product), sorted by acquisition time."""
    newest: dict[str, SceneRecord] = {}
    records = iter_scenes(
        catalog,
        query,
        page_size=page_size,
        on_bad_item=on_bad_item,
        local_roots=local_roots,
        limits=limits,
        workers=workers,
        record_cache=record_cache,
    )
    for record in records:
        kept = newest.get(record.scene_key)
        if kept is None or record.version > kept.version:
            newest[record.scene_key] = record
    return sorted(newest.values(), key=lambda record: (record.datetime, record.scene_key))


def _search_url(
    url: str, label: str, query: SceneQuery, page_size: int, budget: _Budget
) -> Iterator[SceneRecord | ItemError]:
    """`url` is opened; `label` (the URL without credentials) names it in records and
    messages."""
    stac_io = _stac_io(budget)
    client = _open_client(url, label, stac_io)
    hrefs = HrefPolicy.for_catalog(url)
    if not client.conforms_to(ConformanceClasses.ITEM_SEARCH):
        yield from _walk_static(client, query, label, hrefs, stac_io)  # a static catalog on the web
        return
    try:
        collection = client.get_collection(query.collection)
    except APIError as error:
        raise _api_error(label, error) from error
    if collection is None or collection.id != query.collection:
        raise CatalogError(f"STAC API {label}: collection {query.collection!r} not found")
    parameters: dict[str, Any] = {"collections": [query.collection], "limit": page_size}
    if query.aoi is not None:
        parameters["intersects"] = query.aoi.to_geojson()
    if query.start is not None or query.end is not None:
        parameters["datetime"] = [query.start, query.end]
    if client.conforms_to(ConformanceClasses.FILTER):
        parameters["filter"] = query.cql2_filter()
        parameters["filter_lang"] = "cql2-json"
    search = client.search(**parameters)
    for page in _pages(stac_io, label, search.url, search.method, search.get_parameters()):
        for item in page.get("features", []):
            yield from _matching_scene(item, query, label, hrefs)


def _pages(
    stac_io: StacApiIO, source: str, href: str, method: str | None, parameters: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Every page of a search, by its `next` links. Unlike pystac-client, an empty page in the
    middle does not end the search (the pages after it would be lost without a word), and a
    link back to a page already read, or a page repeating items already listed, stops it
    with an error instead of looping for ever."""
    seen_requests = {_request_fingerprint(method, href, parameters)}
    seen_items: set[str] = set()
    page = _read_page(stac_io, source, href, href, method=method, parameters=parameters)
    while True:
        ids = {str(item.get("id")) for item in page.get("features", []) if isinstance(item, dict)}
        if ids and ids <= seen_items:
            raise CatalogError(
                f"STAC API {source}: a page repeats only items already listed "
                f"({', '.join(sorted(ids)[:3])} ...): its paging loops; search stopped"
            )
        seen_items |= ids
        yield page
        link = next(
            (
                link
                for link in page.get("links", [])
                if isinstance(link, dict) and link.get("rel") == "next"
            ),
            None,
        )
        if link is None:
            return
        next_link = pystac.Link.from_dict(link)
        body = link.get("body", {})
        if link.get("merge", False):
            body = {**parameters, **body}
        fingerprint = _request_fingerprint(link.get("method", "GET"), next_link.href, body)
        if fingerprint in seen_requests:
            raise CatalogError(
                f"STAC API {source}: the next-page link {next_link.href} "
                f"({link.get('method', 'GET')}) points back to a page already read: its "
                "paging loops; search stopped"
            )
        seen_requests.add(fingerprint)
        page = _read_page(stac_io, source, next_link, next_link.href, parameters=parameters)


def _request_fingerprint(method: str | None, href: str, body: object) -> str:
    return json.dumps([(method or "GET").upper(), href, body], sort_keys=True, default=str)


def _read_page(
    stac_io: StacApiIO, source: str, target: str | pystac.Link, href: str, **kwargs: Any
) -> dict[str, Any]:
    """One page; a body that is not JSON (cut short by a proxy or a dropped connection) is
    fetched again like the transient HTTP errors urllib3 retries, with the same backoff."""
    for attempt in range(HTTP_RETRIES + 1):
        if attempt:
            time.sleep(HTTP_BACKOFF * 2 ** (attempt - 1))
        try:
            page = stac_io.read_json(target, **kwargs)
        except APIError as error:
            raise _api_error(source, error) from error
        except ValueError as error:
            problem = f"not valid JSON ({error})"
            continue
        if isinstance(page, dict):
            return page
        problem = f"a JSON {type(page).__name__}, not a page of items"
    raise CatalogError(
        f"STAC API {source}: gave up after {HTTP_RETRIES + 1} tries: page {href} is {problem}"
    )


def _search_stamp(query: SceneQuery, hrefs: HrefPolicy) -> dict[str, Any]:
    """What an item file's outcome depends on besides the file: the query and the policy."""
    return {
        "aoi": None if query.aoi is None else query.aoi.geometry.wkb_hex,
        "start": None if query.start is None else query.start.isoformat(),
        "end": None if query.end is None else query.end.isoformat(),
        "max_cloud_cover": query.max_cloud_cover,
        "platforms": list(query.platforms),
        "collection": query.collection,
        "local_root": None if hrefs.local_root is None else str(hrefs.local_root),
        "extra_roots": [str(root) for root in hrefs.extra_roots],
        "local_files": hrefs.local_files,
    }


def _walk_static(
    root: pystac.Catalog,
    query: SceneQuery,
    source: str,
    hrefs: HrefPolicy,
    stac_io: StacIO,
    workers: int = 1,
    cache: RecordCache | None = None,
) -> Iterator[SceneRecord | ItemError]:
    """The scenes of a static catalog's item files, in the catalog's order. A local
    catalog's files unchanged since the last search take their outcome from `cache`
    (record_cache.py) when one is given, and the files left are read by `workers` forked
    processes when there are many of them: reading thousands of item files is CPU work, a
    few hundred microseconds each."""
    collection = _find_collection(root, query.collection, source)
    files = list(_item_files(collection, source))
    local = _is_local(root.get_self_href())
    cache = cache if local else None
    kept = cache.kept(files, hrefs) if cache is not None else {}
    unread = [href for href in files if href not in kept]
    read: dict[str, Outcome] = {}
    forked = workers if local and len(unread) >= FORK_FROM_FILES else 1
    with _item_readers(unread, query, source, hrefs, stac_io, forked) as outcomes:
        for href in files:
            if href in kept:
                yield from kept[href]
                continue
            outcome = next(outcomes)
            if cache is not None:
                read[href] = outcome
            yield from outcome
    if cache is not None:
        cache.save(files, read)


@contextlib.contextmanager
def _item_readers(
    files: Sequence[str],
    query: SceneQuery,
    source: str,
    hrefs: HrefPolicy,
    stac_io: StacIO,
    workers: int,
) -> Iterator[Iterator[Outcome]]:
    """`_scenes_in_file` of each of `files`, in order: read in this process, or by `workers`
    forked processes when there are more than one."""
    if workers <= 1:
        yield (_scenes_in_file(href, query, source, hrefs, stac_io) for href in files)
        return
    read = functools.partial(_scenes_in_file, query=query, source=source, hrefs=hrefs)
    pool = multiprocessing.get_context("fork").Pool(workers, initializer=terminable)
    try:
        yield pool.imap(read, files, chunksize=FILES_PER_TASK)
    except BaseException:
        pool.terminate()
        raise
    # Each worker takes its stop sentinel and leaves: no signal is needed. (`terminate`
    # stops idle workers with SIGTERM, which hung a 10,000-scene run whose workers had
    # inherited SIGTERM ignored.)
    pool.close()
    pool.join()


def terminable() -> None:
    """Worker initializer: SIGTERM ends the worker, as `Pool.terminate` expects, even when the
    command was started with SIGTERM ignored (a process inherits SIG_IGN across fork and exec,
    from a job runner or a shell's background job)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


FILES_PER_TASK = 256
"""Item files a worker reads per task: large enough that handing tasks out costs little."""
FORK_FROM_FILES = 1_000
"""Item files left to read (those the record cache does not answer for) at least before
worker processes are started for them (a tenth of a second or more of reading)."""


def _is_local(href: str | None) -> bool:
    return href is not None and href.startswith("/")


def _scenes_in_file(
    href: str,
    query: SceneQuery,
    source: str,
    hrefs: HrefPolicy,
    stac_io: StacIO | None = None,
) -> Outcome:
    """The scene of one item file (none when it does not match the query), or the
    `ItemError` saying why the file cannot give one. A local file needs no `stac_io`."""
    try:
        item = _read_json(href, stac_io)
    except APIError as error:
        raise _api_error(source, error) from error
    except _READ_ERRORS as error:
        return [ItemError(f"catalog {source}: item file {href} cannot be read: {error}")]
    if not isinstance(item, dict):
        return [ItemError(f"catalog {source}: item file {href} is not a JSON object")]
    return list(_matching_scene(item, query, source, hrefs, item_file=href))


def _item_files(catalog: pystac.Catalog, source: str) -> Iterator[str]:
    """The href of every item file below `catalog`, each resolved against the catalog's own
    href once (a link's get_absolute_href() scans the catalog's links for "self": quadratic
    in items)."""
    try:
        links = catalog.get_links(pystac.RelType.ITEM)
        children = list(catalog.get_children())
    except APIError as error:
        raise _api_error(source, error) from error
    except _READ_ERRORS as error:
        raise CatalogError(f"catalog {source}: cannot read {catalog.id}: {error}") from error
    base = catalog.get_self_href()
    for link in links:
        yield resolve_href(link.href, base) if base else link.href
    for child in children:
        yield from _item_files(child, source)


def _read_json(href: str, stac_io: StacIO | None) -> Any:
    """A catalog file's JSON: a local file read directly (pystac's reader parses its href as a
    URL first, a tenth of a 10,000-item search), anything else through `stac_io`."""
    if _is_local(href):
        with open(href, "rb") as file:
            return orjson.loads(file.read())
    if stac_io is None:
        raise ValueError(f"{href} is not a local file")
    return stac_io.read_json(href)


def _matching_scene(
    item: Mapping[str, Any],
    query: SceneQuery,
    source: str,
    hrefs: HrefPolicy,
    *,
    item_file: str | None = None,
) -> Iterator[SceneRecord | ItemError]:
    """The item's scene record, or the `ItemError` saying why it has none (yielded, not
    raised, so the caller decides whether one bad item ends the search). An item read from
    `item_file` (a static catalog) has its relative hrefs resolved against it, and errors
    name the file."""
    try:
        if query.matches(item):
            yield normalize_item(item, source=source, hrefs=hrefs, base_href=item_file)
    except ItemError as error:
        where = f"catalog {source}: item file {item_file}" if item_file else f"catalog {source}"
        failure = ItemError(f"{where}: {error}")
        failure.__cause__ = error
        yield failure


def _find_collection(root: pystac.Catalog, collection_id: str, source: str) -> pystac.Catalog:
    if isinstance(root, pystac.Collection) and root.id == collection_id:
        return root
    seen = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FallbackToPystac)
            for collection in root.get_all_collections():
                if collection.id == collection_id:
                    return collection
                seen.append(collection.id)
    except APIError as error:
        raise _api_error(source, error) from error
    except _READ_ERRORS as error:
        raise CatalogError(f"catalog {source}: cannot read its collections: {error}") from error
    listed = ", ".join(repr(name) for name in seen) or "none"
    raise CatalogError(
        f"catalog {source}: collection {collection_id!r} not found (collections: {listed})"
    )


def _open_static(path: Path) -> pystac.Catalog:
    if not path.exists():
        raise CatalogError(f"catalog path {path} does not exist")
    if path.is_dir():
        candidates = [path / "catalog.json", path / "collection.json"]
        found = next((candidate for candidate in candidates if candidate.is_file()), None)
        if found is None:
            raise CatalogError(f"catalog folder {path} has no catalog.json or collection.json")
        path = found
    try:
        root = pystac.read_file(str(path.resolve()))
    except _READ_ERRORS as error:
        raise CatalogError(f"{path} is not a STAC catalog: {error}") from error
    if not isinstance(root, pystac.Catalog):
        raise CatalogError(
            f"{path} is not a STAC catalog or collection but a {type(root).__name__}"
        )
    return root


def _stac_io(budget: _Budget) -> StacApiIO:
    """Retries with backoff on transient failures, POST included (a search is read-only);
    `Retry-After` is not obeyed so that the total wait stays a few seconds. Every response is
    read within the search's deadline."""
    retry = Retry(
        total=HTTP_RETRIES,
        backoff_factor=HTTP_BACKOFF,
        status_forcelist=_RETRY_STATUSES,
        allowed_methods=None,
        respect_retry_after_header=False,
    )
    stac_io = StacApiIO(max_retries=retry, timeout=HTTP_TIMEOUT)
    bounded = _DeadlineSession(budget)
    bounded.adapters = stac_io.session.adapters
    bounded.headers = stac_io.session.headers
    stac_io.session = bounded
    return stac_io


def _open_client(url: str, label: str, stac_io: StacApiIO) -> Client:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoConformsTo)
            # Client.open resets the StacApiIO's timeout to its own argument (None: wait for
            # ever on a server that never answers), so the timeout goes here too.
            return Client.open(url, stac_io=stac_io, timeout=HTTP_TIMEOUT)
    except APIError as error:
        raise _api_error(label, error) from error
    except _READ_ERRORS as error:
        raise CatalogError(f"{label} is not a STAC catalog or API: {error}") from error


def _api_error(url: str, error: APIError) -> CatalogError:
    status = getattr(error, "status_code", None)
    if status is None:
        return CatalogError(
            f"STAC API {url}: gave up after {HTTP_RETRIES + 1} tries "
            f"(connection errors, timeouts and HTTP {'/'.join(map(str, _RETRY_STATUSES))} "
            f"are retried): {error}"
        )
    return CatalogError(f"STAC API {url} answered HTTP {status}: {error}")


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
