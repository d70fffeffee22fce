"""URLs as the platform keeps and shows them: never with what can be a credential."""

from __future__ import annotations


def without_query(href: str) -> str:
    """An href fit to store: query strings can carry credentials (signed URLs), never kept."""
    return href.split("?", 1)[0]
