"""Shared by the SSRF-safe fetching tests: a fake resolver and a policy for local servers.

``FakeDns`` answers from a table (one list of answers per call, to act out DNS rebinding), and
``local_policy`` allows the loopback test server's address and port only: the default policy
refuses loopback like any private address.
"""

from __future__ import annotations

from heavylift.net.safe_http import UrlPolicy
from tests.unit.http_servers import Server

PUBLIC_IP = "93.184.216.34"  # never reached: no test may connect to it


class FakeDns:
    """A resolver from a table; a list of answers per name is served one call at a time."""

    def __init__(self, table: dict[str, list[str] | list[list[str]]]) -> None:
        self.table = table
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        answers = self.table.get(host)
        if answers is None:
            raise OSError(f"fake DNS: no such name {host}")
        if answers and isinstance(answers[0], list):
            index = min(self.calls.count(host), len(answers)) - 1
            return list(answers[index])
        return [str(a) for a in answers]


DNS = {
    "private.example": ["10.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": [PUBLIC_IP, "10.0.0.1"],
    "loopback6.example": ["::1"],
    "mapped.example": ["::ffff:192.168.0.1"],
    "translated.example": ["::ffff:0:a9fe:a9fe"],
    "ula.example": ["fd00::1"],
    "cgnat.example": ["100.64.1.1"],
    "public.example": [PUBLIC_IP],
}


def local_policy(server: Server, **overrides: object) -> UrlPolicy:
    """Loopback allowed (the server's address only), plain http, the server's port."""
    fields: dict[str, object] = {
        "schemes": ("http", "https"),
        "ports": (80, 443, server.port),
        "allowed_networks": ("127.0.0.1/32",),
        "timeout_s": 5.0,
    }
    return UrlPolicy.model_validate(fields | overrides)
