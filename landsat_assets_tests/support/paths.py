"""Where the checkout is, for tests and bench scripts that read its files (dagster.yaml,
deploy/, examples/, docs/) or run commands from its root.

Defined once here so that a module's depth in the tree (`parents[2]` vs `parent.parent`)
cannot silently point a copy somewhere else when a file moves.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The folder that holds landsat_assets/ and landsat_assets_tests/."""
