"""`make bench`: measurements against the targets of issue 6, each printed with its verdict."""


def verdict(holds: bool) -> str:
    return "PASS" if holds else "FAIL"
