"""Where Dramatiq's Redis broker keeps things, in one place.

Heavylift reads and moves messages beside Dramatiq (dead letters, scheduled retries, the
in-flight messages of a dead worker), so it must agree with Dramatiq's key layout
(``dramatiq/brokers/redis/dispatch.lua``, pinned in requirements.txt):

* ``<ns>:<queue>``               list of message ids waiting to be fetched
* ``<ns>:<queue>.msgs``          hash: message id → encoded message
* ``<ns>:<queue>.XQ``            sorted set of dead-lettered ids, scored by when (ms)
* ``<ns>:<queue>.XQ.msgs``       hash: dead-lettered id → encoded message
* ``<ns>:__acks__.<worker>.<queue>``  set of ids a worker fetched and has not acked yet
* ``<ns>:__heartbeats__``        sorted set: worker id → last heartbeat (ms)

Heavylift adds its own keys beside them, named here too:

* ``<ns>:heavylift.scheduled``       sorted set: id → when a retry is due (ms)
* ``<ns>:heavylift.scheduled.msgs``  hash: id → encoded message (it names its queue)
* ``<ns>:heavylift.queue.deliveries.<id>`` how many times a message started without finishing

and the dashboard's (``heavylift.state.sessions``, ``heavylift.state.login_throttle``):

* ``<ns>:dashboard.session.<id>``        one logged-in session (user, CSRF token), with a TTL
* ``<ns>:dashboard.login.addr.<addr>``   hash: failed logins from one client address
* ``<ns>:dashboard.login.user.<sha256>`` hash: failed logins as one user name (hashed: names
  are whatever a client typed, and keys must stay short)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DEAD_LETTER_SUFFIX = ".XQ"


@dataclass(frozen=True)
class QueueKeys:
    """The keys of one queue (never a ``.DQ`` delay queue: Heavylift does not use them)."""

    namespace: str
    queue: str

    @property
    def waiting(self) -> str:
        return f"{self.namespace}:{self.queue}"

    @property
    def messages(self) -> str:
        return f"{self.namespace}:{self.queue}.msgs"

    @property
    def dead(self) -> str:
        return f"{self.namespace}:{self.queue}{DEAD_LETTER_SUFFIX}"

    @property
    def dead_messages(self) -> str:
        return f"{self.dead}.msgs"

    def acks(self, worker_id: str) -> str:
        return f"{self.namespace}:__acks__.{worker_id}.{self.queue}"


@dataclass(frozen=True)
class Layout:
    """The namespace-wide keys."""

    namespace: str

    def queue(self, name: str) -> QueueKeys:
        return QueueKeys(self.namespace, name)

    @property
    def heartbeats(self) -> str:
        return f"{self.namespace}:__heartbeats__"

    def worker_acks_pattern(self, worker_id: str) -> str:
        """Every ack set of one worker (one per queue it consumes)."""
        return f"{self.namespace}:__acks__.{worker_id}.*"

    def acks_prefix(self, worker_id: str) -> str:
        return f"{self.namespace}:__acks__.{worker_id}."

    @property
    def dead_letter_pattern(self) -> str:
        return f"{self.namespace}:*{DEAD_LETTER_SUFFIX}"

    def queue_of_dead_key(self, key: str) -> str:
        """``<ns>:image.XQ`` → ``image``."""
        return key[len(self.namespace) + 1 : -len(DEAD_LETTER_SUFFIX)]

    @property
    def scheduled(self) -> str:
        return f"{self.namespace}:heavylift.scheduled"

    @property
    def scheduled_messages(self) -> str:
        return f"{self.scheduled}.msgs"

    def deliveries(self, redis_message_id: str) -> str:
        return f"{self.namespace}:heavylift.queue.deliveries.{redis_message_id}"

    def dashboard_session(self, session_id: str) -> str:
        return f"{self.namespace}:dashboard.session.{session_id}"

    def login_failures_by_address(self, address_key: str) -> str:
        """``address_key`` is already bounded (``heavylift.state.login_throttle.address_key``)."""
        return f"{self.namespace}:dashboard.login.addr.{address_key}"

    def login_failures_by_user(self, username: str) -> str:
        digest = hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{self.namespace}:dashboard.login.user.{digest}"
