"""Fixtures for the SSRF-safe fetching tests: a recorder of connections and a local server.

Every connection urllib3 opens is recorded (``connections``), so "refused" is checked to mean
"nothing was connected to"; ``server`` is a real HTTP server on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import urllib3.util.connection

from tests.unit.http_servers import Server, serving


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every (address, port) urllib3 connects to during the test."""
    seen: list[tuple[str, int]] = []
    original = urllib3.util.connection.create_connection

    def recording(address: tuple[str, int], *args: object, **kwargs: object) -> object:
        seen.append(address)
        return original(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(urllib3.util.connection, "create_connection", recording)
    return seen


@pytest.fixture
def server() -> Iterator[Server]:
    with serving(Server()) as running:
        yield running
