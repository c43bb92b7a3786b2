"""`--since T` of `tracer dlq` and `tracer reclassify`."""

from __future__ import annotations

import pytest

from cli.moments import parse_moment

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0.0),
        ("90s", NOW - 90),
        ("30m", NOW - 1800),
        ("1.5h", NOW - 5400),
        ("2d", NOW - 172_800),
        ("1w", NOW - 604_800),
        ("1700000000", 1_700_000_000.0),
        ("2024-05-01", 1_714_521_600.0),
        ("2024-05-01T02:00:00Z", 1_714_528_800.0),
        ("2024-05-01T02:00:00+02:00", 1_714_521_600.0),
    ],
)
def test_ages_unix_seconds_and_iso_times(text: str, expected: float) -> None:
    assert parse_moment(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["last tuesday", "3y", "2024-13-01", "-1h"])
def test_anything_else_is_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text)):
        parse_moment(text, now=NOW)
