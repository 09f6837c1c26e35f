"""When an operator means: ``15m``, ``2h``, ``7d`` ago, or an ISO-8601 time.

The CLI's ``--since`` and the dashboard's time filters take the same forms, so they share
this one parser. Naive times are UTC, as everything Heavylift stores is.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_AGO = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
FORMS = "a duration (90s, 15m, 2h, 7d) or an ISO-8601 time"


def parse_moment(text: str, now: datetime | None = None) -> datetime | None:
    """The moment ``text`` names; None for empty text. Raises ValueError on anything else."""
    if not text.strip():
        return None
    match = _AGO.fullmatch(text)
    if match:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[match[2]]: float(match[1])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is neither {FORMS}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
