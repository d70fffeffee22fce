"""Where the real USGS/STAC samples are: `../shared/realworld` beside the repository.

CI and developer machines have the folder; a fresh clone does not, so tests that read it
skip with this reason instead of failing.
"""

from __future__ import annotations

import pytest

from landsat_assets_tests.support.paths import REPO_ROOT

REALWORLD = REPO_ROOT.parent / "shared" / "realworld"
REALWORLD_ITEMS = REALWORLD / "items"
SKIP_REASON = f"real-world samples not present at {REALWORLD} (they come with shared/)"

REALWORLD_MARKS = [
    pytest.mark.realworld,
    pytest.mark.skipif(not REALWORLD.is_dir(), reason=SKIP_REASON),
]
"""`pytestmark = REALWORLD_MARKS` (or `marks=` of a param) on tests that read the samples."""
