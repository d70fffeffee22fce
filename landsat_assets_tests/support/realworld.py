"""Where the real USGS/STAC samples are: `../shared/realworld` beside the checkout.

CI and developer machines have the folder; a fresh clone elsewhere does not. A test that
reads the samples says so in one way only, the `realworld` mark (`@pytest.mark.realworld`,
`pytestmark`, or a param's `marks=`). The root conftest passes the collected tests to
`skip_without_samples`, which skips every marked test with the one SKIP_REASON when the
folder is missing. So the mark that selects these tests (`-m "not realworld"`) is also what
skips them, and no test carries a skip of its own that could drift from the others.

Module-level code runs at import, before that hook: it may build paths into the folder but
must not read them.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from landsat_assets_tests.support.paths import REPO_ROOT

REALWORLD = REPO_ROOT.parent / "shared" / "realworld"
REALWORLD_ITEMS = REALWORLD / "items"
SKIP_REASON = (
    f"real-world samples folder {REALWORLD} is missing (it comes with shared/, beside the checkout)"
)


def skip_without_samples(items: Iterable[pytest.Item]) -> None:
    """Skip every test marked `realworld` when the samples folder is missing.

    Done at collection (from `pytest_collection_modifyitems`) so that no fixture of a marked
    test, not even a module-scoped one, is set up to read a folder that is not there."""
    if REALWORLD.is_dir():
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if item.get_closest_marker("realworld") is not None:
            item.add_marker(skip)
