"""Every Redis key Heavylift reads or writes, named in one place.

Key names are stored data: renaming one strands what is already in Redis, so
``tests/unit/test_keys.py`` pins each of them. Nothing else in the code builds a key; Lua
scripts get theirs in ``KEYS`` (or, where a script finds its queue only in a message,
:attr:`Layout.queue_key_parts`).

Dramatiq's own keys (``dramatiq/brokers/redis/dispatch.lua``, pinned in requirements.txt),
which Heavylift reads and moves messages in beside Dramatiq:

* ``<ns>:<queue>``                    list of message ids waiting to be fetched
* ``<ns>:<queue>.msgs``               hash: message id → encoded message
* ``<ns>:<queue>.XQ``                 sorted set of dead-lettered ids, scored by when (ms)
* ``<ns>:<queue>.XQ.msgs``            hash: dead-lettered id → encoded message
* ``<ns>:__acks__.<worker>.<queue>``  set of ids a worker fetched and has not acked yet
* ``<ns>:__heartbeats__``             sorted set: worker id → last heartbeat (ms)

Heavylift's queue keys:

* ``<ns>:heavylift.scheduled``        sorted set: id → when a retry is due (ms)
* ``<ns>:heavylift.scheduled.msgs``   hash: id → encoded message (it names its queue)
* ``<ns>:heavylift.deliveries.<id>``  how many times a message started without finishing

Jobs and what the dashboard and ``/metrics`` show:

* ``<ns>:job:<id>``                   the job record (JSON), with the job TTL
* ``<ns>:jobs:all``, ``<ns>:jobs:<field>:<value>``  the job index (sorted sets of ids by
  creation time; fields ``state``, ``queue``, ``media``, ``error``)
* ``<ns>:jobs:indexes``               set of every index set's name, for pruning
* ``<ns>:metrics``                    hash: Prometheus counters and histogram buckets
* ``<ns>:history:<epoch minute>``     hash: submitted, succeeded, failed in that minute

The dashboard's:

* ``<ns>:dashboard.session.<id>``        one logged-in session (user, CSRF token), with a TTL
* ``<ns>:dashboard.login.addr.<addr>``   hash: failed logins from one client address
* ``<ns>:dashboard.login.user.<sha256>`` hash: failed logins as one user name (hashed: names
  are whatever a client typed, and keys must stay short)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DEAD_LETTER_SUFFIX = ".XQ"
MESSAGES_SUFFIX = ".msgs"
ACKS = "__acks__"
INDEX_FIELDS = ("state", "queue", "media", "error")


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
        return f"{self.waiting}{MESSAGES_SUFFIX}"

    @property
    def dead(self) -> str:
        return f"{self.namespace}:{self.queue}{DEAD_LETTER_SUFFIX}"

    @property
    def dead_messages(self) -> str:
        return f"{self.dead}{MESSAGES_SUFFIX}"

    def acks(self, worker_id: str) -> str:
        return f"{self.namespace}:{ACKS}.{worker_id}.{self.queue}"


@dataclass(frozen=True)
class Layout:
    """The keys of one namespace (``HEAVYLIFT_NAMESPACE``)."""

    namespace: str

    # --- Dramatiq's ------------------------------------------------------------------------

    def queue(self, name: str) -> QueueKeys:
        return QueueKeys(self.namespace, name)

    @property
    def queue_key_parts(self) -> tuple[str, str]:
        """What goes before and after a queue's name in its list's key; the queue's message
        hash adds ``MESSAGES_SUFFIX``. For a Lua script that learns the queue from a message."""
        return f"{self.namespace}:", ""

    @property
    def heartbeats(self) -> str:
        return f"{self.namespace}:__heartbeats__"

    @property
    def acks_pattern(self) -> str:
        """Every ack set of every worker."""
        return f"{self.namespace}:{ACKS}.*"

    def worker_acks_pattern(self, worker_id: str) -> str:
        """Every ack set of one worker (one per queue it consumes)."""
        return f"{self.acks_prefix(worker_id)}*"

    def acks_prefix(self, worker_id: str = "") -> str:
        """Before the queue name in a worker's ack sets (before the worker id, without one)."""
        return f"{self.namespace}:{ACKS}." + (f"{worker_id}." if worker_id else "")

    def worker_and_queue_of_acks(self, key: str) -> tuple[str, str]:
        """``<ns>:__acks__.<worker>.<queue>`` → (worker, queue). Queue names have no dots;
        worker ids may (a host name)."""
        worker, _, queue = key[len(self.acks_prefix()) :].rpartition(".")
        return worker, queue

    @property
    def messages_pattern(self) -> str:
        """Every message hash: queues', dead letters' and scheduled retries'."""
        return f"{self.namespace}:*{MESSAGES_SUFFIX}"

    @property
    def dead_letter_pattern(self) -> str:
        return f"{self.namespace}:*{DEAD_LETTER_SUFFIX}"

    def queue_of_dead_key(self, key: str) -> str:
        """``<ns>:image.XQ`` → ``image``."""
        return key[len(self.namespace) + 1 : -len(DEAD_LETTER_SUFFIX)]

    # --- Heavylift's queue keys ------------------------------------------------------------

    @property
    def scheduled(self) -> str:
        return f"{self.namespace}:heavylift.scheduled"

    @property
    def scheduled_messages(self) -> str:
        return f"{self.scheduled}{MESSAGES_SUFFIX}"

    def deliveries(self, redis_message_id: str) -> str:
        return f"{self.namespace}:heavylift.deliveries.{redis_message_id}"

    # --- jobs ----------------------------------------------------------------------------

    def job(self, job_id: str) -> str:
        return f"{self.namespace}:job:{job_id}"

    @property
    def job_index_all(self) -> str:
        return f"{self.namespace}:jobs:all"

    def job_index(self, field: str, value: str) -> str:
        """The index set of jobs whose ``field`` (one of ``INDEX_FIELDS``) is ``value``."""
        if field not in INDEX_FIELDS:
            raise ValueError(f"no job index by {field!r}")
        return f"{self.namespace}:jobs:{field}:{value}"

    @property
    def job_index_registry(self) -> str:
        return f"{self.namespace}:jobs:indexes"

    # --- /metrics and the dashboard's history ----------------------------------------------

    @property
    def metrics(self) -> str:
        return f"{self.namespace}:metrics"

    def history_minute(self, epoch_minute: int) -> str:
        return f"{self.namespace}:history:{epoch_minute}"

    # --- the dashboard's --------------------------------------------------------------------

    def dashboard_session(self, session_id: str) -> str:
        return f"{self.namespace}:dashboard.session.{session_id}"

    def login_failures_by_address(self, address_key: str) -> str:
        """``address_key`` is already bounded (``heavylift.state.login_throttle.address_key``)."""
        return f"{self.namespace}:dashboard.login.addr.{address_key}"

    def login_failures_by_user(self, username: str) -> str:
        digest = hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{self.namespace}:dashboard.login.user.{digest}"
