"""The time forms operators type in ``heavylift dlq --since`` and the dashboard's filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from heavylift.moments import parse_moment

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - timedelta(seconds=90)),
        (" 15m ", NOW - timedelta(minutes=15)),
        ("1.5h", NOW - timedelta(hours=1.5)),
        ("7d", NOW - timedelta(days=7)),
        ("2026-11-30T08:00", datetime(2026, 11, 30, 8, 0, tzinfo=UTC)),  # naive is UTC
        ("2026-11-30T08:00+01:00", datetime(2026, 11, 30, 7, 0, tzinfo=UTC)),
        ("", None),
    ],
)
def test_durations_ago_and_iso_times(text: str, expected: datetime | None) -> None:
    assert parse_moment(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "15 minutes", "-5m", "2026-13-01"])
def test_anything_else_is_refused_with_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="neither a duration"):
        parse_moment(text, NOW)
