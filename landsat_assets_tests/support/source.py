"""The syntax tree of a source file, for tests that read the package's code."""

from __future__ import annotations

import ast
from pathlib import Path

from landsat_assets.runner import cycle_collection_paused


def parse_source(path: Path) -> ast.Module:
    """`ast.parse` of the file, with the cyclic garbage collector paused meanwhile.

    CPython 3.11 keeps the AST constructor's recursion counter per interpreter, not per
    thread (python/cpython#106905). A collection during the construction can run a finalizer,
    which can hand the GIL to another thread; if that thread parses too, it resets the shared
    counter, and this parse fails with "SystemError: AST constructor recursion depth
    mismatch" (seen once in the suite, 2026-12-02; which thread parsed alongside was not
    found). No collection, no finalizer, no switch."""
    text = path.read_text()
    with cycle_collection_paused():
        return ast.parse(text)
