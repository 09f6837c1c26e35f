"""Login throttling: failed logins per client address and per user name, with backoff.

After ``attempts`` failures counted against either, each further try must wait
``BASE_BACKOFF_S * 2 ** (failures - attempts)`` seconds after the last counted one, capped at
``max_backoff_s``. A try that comes too early is refused before its password is checked, so
guessing costs time however fast the guesses come, and it is not counted, so waiting is
enough to get back in. A success clears both counters.

The check and the count are one Lua script: every admitted try is counted as a failure
*before* its password is checked (a success then clears it), so concurrent tries from many
API processes and Lambdas can never get more than their allowance past the gate.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections.abc import Callable

import redis

from heavylift.state.keys import Layout
from heavylift.state.scripts import script

BASE_BACKOFF_S = 1.0
# Failures are forgotten this long after the longest wait they could impose: an attacker
# who pauses at the cap keeps the cap, an operator's old typos are gone by the next hour.
FORGET_AFTER_S = 3600
IPV6_PREFIX = 64  # one client (a home, a VM) is routinely given a whole /64


def address_key(address: str | None) -> str:
    """What one client controls: an IPv4 address, or an IPv6 address's /64; anything else
    (no address, a name) as a hash, so keys stay bounded whatever a proxy passes on."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return hashlib.sha256((address or "").encode("utf-8", "surrogatepass")).hexdigest()
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        network = ipaddress.IPv6Address(int(ip) >> (128 - IPV6_PREFIX) << (128 - IPV6_PREFIX))
        return f"{network}/{IPV6_PREFIX}"
    return str(ip)


class LoginThrottle:
    """One per Redis client: it registers its script once."""

    def __init__(
        self,
        client: redis.Redis,
        layout: Layout,
        attempts: int,
        max_backoff_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.layout = layout
        self.client = client
        self.attempts = attempts
        self.max_backoff_s = max_backoff_s
        self.clock = clock
        self._admit = script(client, "admit_login")

    def _keys(self, address: str | None, username: str) -> list[str]:
        return [
            self.layout.login_failures_by_address(address_key(address)),
            self.layout.login_failures_by_user(username),
        ]

    def admit(self, address: str | None, username: str) -> int:
        """0: go on and check the password (this try already counts as a failure until
        ``succeeded``). Otherwise the whole seconds to wait, at least 1 (``Retry-After``)."""
        wait_ms = self._admit(
            keys=self._keys(address, username),
            args=[
                round(self.clock() * 1000),
                self.attempts,
                round(BASE_BACKOFF_S * 1000),
                round(self.max_backoff_s * 1000),
                math.ceil(self.max_backoff_s) + FORGET_AFTER_S,
            ],
        )
        return math.ceil(int(wait_ms) / 1000)

    def succeeded(self, address: str | None, username: str) -> None:
        self.client.delete(*self._keys(address, username))
