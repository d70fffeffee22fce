"""The longest test modules start first (support/ordering.py): they are named as they are on
disk, so none silently drops back to the end of the suite after a rename, and the session's
collection is in their order."""

import pytest

from landsat_assets_tests.support.ordering import LONGEST_MODULES, module_rank
from landsat_assets_tests.support.paths import REPO_ROOT


def test_every_longest_module_exists() -> None:
    missing = [m for m in LONGEST_MODULES if not (REPO_ROOT / "landsat_assets_tests" / m).is_file()]
    assert missing == []


def test_the_session_collects_the_longest_modules_first(request: pytest.FixtureRequest) -> None:
    ranks = [module_rank(item) for item in request.session.items]
    assert ranks == sorted(ranks)
