"""The README documents what the code does: every setting, every route."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Route

from functions.http import app
from heavylift.config import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [
        f"HEAVYLIFT_{name.upper()}"
        for name in Settings.model_fields
        if f"HEAVYLIFT_{name.upper()}" not in README
    ]
    assert missing == []


def test_every_route_is_documented() -> None:
    routes = [r for r in app.routes if isinstance(r, Route)]
    missing = [
        f"{sorted(r.methods or [])} {r.path}"
        for r in routes
        if not any(f"{m} {r.path}" in README for m in (r.methods or []))
    ]
    assert missing == []
