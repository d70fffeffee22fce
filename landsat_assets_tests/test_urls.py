"""Redaction: no query string or user-info survives, and running text around URLs is kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from landsat_assets.urls import redact, redact_text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://user:pw@example.com:8443/v1/search?token=abc#part",
            "https://<redacted>@example.com:8443/v1/search?<redacted>",
        ),
        ("postgresql://dagster:hunter2@db:5432/dagster", "postgresql://<redacted>@db:5432/dagster"),
        ("s3://bucket/key.TIF", "s3://bucket/key.TIF"),
        ("/data/catalog.json?not-a-url", "/data/catalog.json?not-a-url"),
    ],
)
def test_redact(url, shown):
    assert redact(url) == shown


def test_urls_in_running_text_keep_their_punctuation():
    text = "STAC API http://127.0.0.1:45669: gave up; see https://a.b/c?sig=1, or (s3://b/k?X=2)."
    assert redact_text(text) == (
        "STAC API http://127.0.0.1:45669: gave up; see https://a.b/c?<redacted>, or "
        "(s3://b/k?<redacted>)."
    )


@given(
    prefix=st.text(max_size=20),
    host=st.from_regex(r"[a-z0-9.-]{1,20}(:[0-9]{0,6})?:?", fullmatch=True),
    secret=st.from_regex(r"[A-Za-z0-9_-]{8,30}", fullmatch=True),
)
def test_a_planted_query_token_never_survives(prefix, host, secret):
    text = f"{prefix} https://{host}/search?token={secret} and more"
    assert f"token={secret}" not in redact_text(text)
