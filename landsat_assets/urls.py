"""URLs as the platform keeps and shows them: never with what can be a credential.

A STAC API or AOI URL may carry a token in its query string (`?token=...`, a signed URL) or
a user and password before its host; band hrefs of Planetary Computer are signed. What is
stored (records, tags, metadata) or shown (messages, logs) goes through `redact`; text from
libraries that may quote a URL goes through `redact_text`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "<redacted>"

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*[^\s'\"<>.,:;)]")
"""A URL in running text, without the punctuation that ends a sentence or a clause."""


def redact(url: str) -> str:
    """`url` without its query string and user-info (each replaced by a marker), unchanged
    when it is not a URL (a local path)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = REDACTED if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_text(text: str) -> str:
    """`text` with every URL in it redacted."""
    return _URL.sub(lambda found: redact(found.group(0)), text)
