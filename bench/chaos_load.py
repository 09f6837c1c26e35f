"""The two actors of the chaos benchmark besides the stack itself.

* :class:`Submitter` posts webhook jobs at a steady rate, as a careful client would: every
  job has its own Idempotency-Key, and a 503 or a dropped connection is retried with the
  same key after Retry-After (capped), so a retry can never become a second job.
* :class:`ChaosMonkey` SIGKILLs a random worker process every few seconds, restarts Redis
  once (SIGKILL, down a moment) and takes S3 away once, all on a seeded schedule.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.chaos_inputs import Source
from infra.devstack import LocalStack

SUBMIT_THREADS = 16
RETRY_AFTER_CAP_S = 5.0
CONNECTION_RETRY_S = 0.5
GIVE_UP_S = 120.0


@dataclass
class Submission:
    key: str
    source: Source
    job_ids: set[str] = field(default_factory=set)  # every id any 202 named (1 expected)
    tries: int = 0
    error: str | None = None  # why the client gave up, if it did

    @property
    def accepted(self) -> bool:
        return bool(self.job_ids)


class Submitter:
    """POST ``/v1/jobs`` for each planned source, ``rate`` per second, retrying like a client."""

    def __init__(
        self,
        api_url: str,
        plan: list[Source],
        rate: float,
        run_id: str,
        auth_headers: dict[str, str],
    ) -> None:
        self.plan = plan
        self.rate = rate
        self.run_id = run_id
        self.submissions: dict[str, Submission] = {}
        self.responses: Counter[str] = Counter()  # "202", "503", "connection error", ...
        self.done = threading.Event()
        self._http = httpx.Client(
            base_url=api_url,
            headers=auth_headers,
            timeout=10,
            limits=httpx.Limits(max_connections=SUBMIT_THREADS * 2),
        )
        self._lock = threading.Lock()

    def job_ids(self) -> list[str]:
        """Every job id the API has accepted so far."""
        with self._lock:
            return [j for s in self.submissions.values() for j in s.job_ids]

    def run(self, stop: threading.Event) -> None:
        """Release one job every 1/rate seconds (late jobs catch up), then wait for all."""
        started = time.monotonic()
        try:
            with ThreadPoolExecutor(SUBMIT_THREADS, thread_name_prefix="submit") as pool:
                for i, source in enumerate(self.plan):
                    if stop.wait(max(0.0, started + i / self.rate - time.monotonic())):
                        break
                    submission = Submission(f"chaos-{self.run_id}-{i:05d}", source)
                    with self._lock:
                        self.submissions[submission.key] = submission
                    pool.submit(self._submit, submission, stop)
        finally:
            self._http.close()
            self.done.set()

    def _submit(self, submission: Submission, stop: threading.Event) -> None:
        try:
            self._submit_until_done(submission, stop)
        except Exception as exc:  # noqa: BLE001 (a pool would swallow it; report it instead)
            submission.error = f"client error: {exc!r}"

    def _submit_until_done(self, submission: Submission, stop: threading.Event) -> None:
        body = {"source": {"bucket": "heavylift-uploads", "key": submission.source.key}}
        headers = {"Idempotency-Key": submission.key}
        give_up = time.monotonic() + GIVE_UP_S
        while not stop.is_set():
            submission.tries += 1
            wait, outcome = self._post(submission, body, headers)
            with self._lock:
                self.responses[outcome] += 1
            if wait is None:
                return
            if time.monotonic() + wait > give_up:
                submission.error = f"gave up after {submission.tries} tries: {outcome}"
                return
            stop.wait(wait)

    def _post(
        self, submission: Submission, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[float | None, str]:
        """One try: (seconds to wait before the next, or None when done; what happened)."""
        try:
            response = self._http.post("/v1/jobs", json=body, headers=headers)
        except httpx.TransportError as exc:  # refused, reset, timed out: the API may be away
            return CONNECTION_RETRY_S, f"connection error ({type(exc).__name__})"
        status = response.status_code
        if status == 202:
            with self._lock:
                submission.job_ids.add(response.json()["job_id"])
            return None, "202"
        if status in (429, 502, 503, 504):
            retry_after = response.headers.get("Retry-After", "1")
            wait = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else 1.0
            return min(wait, RETRY_AFTER_CAP_S), str(status)
        submission.error = f"HTTP {status}: {response.text[:200]}"
        return None, str(status)


@dataclass
class ChaosEvent:
    at: float  # seconds since the chaos started
    what: str


class ChaosMonkey:
    """Worker kills every ``kill_every`` seconds until ``until`` is set; one Redis restart
    and one S3 outage at fixed times (each on its own thread, so kills go on meanwhile)."""

    def __init__(
        self,
        stack: LocalStack,
        seed: int,
        *,
        kill_every: tuple[float, float] = (3.0, 8.0),
        redis_at: float = 20.0,
        redis_down: float = 2.0,
        s3_at: float = 35.0,
        s3_down: float = 10.0,
    ) -> None:
        self.stack = stack
        self.rng = random.Random(seed)
        self.kill_every = kill_every
        self.redis_at, self.redis_down = redis_at, redis_down
        self.s3_at, self.s3_down = s3_at, s3_down
        self.events: list[ChaosEvent] = []
        self.kills = 0
        self.redis_restarts = 0
        self.failures: list[str] = []
        self.s3_down_now = False
        self._started = time.monotonic()
        self._threads: list[threading.Thread] = []

    def run(self, until: threading.Event, stop: threading.Event) -> None:
        self._started = time.monotonic()
        for target in (self._redis_restart, self._s3_outage):
            thread = threading.Thread(target=target, args=(stop,), daemon=True)
            thread.start()
            self._threads.append(thread)
        while not (until.is_set() or stop.is_set()):
            if stop.wait(self.rng.uniform(*self.kill_every)) or until.is_set():
                break
            self._kill_one()
        for thread in self._threads:
            thread.join()

    def _note(self, what: str) -> None:
        self.events.append(ChaosEvent(round(time.monotonic() - self._started, 1), what))

    def _kill_one(self) -> None:
        pids = self.stack.worker_children()
        if not pids:
            self._note("no worker process to kill (being replaced)")
            return
        pid = self.rng.choice(pids)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.kills += 1
        self._note(f"SIGKILL worker process {pid}")

    def _redis_restart(self, stop: threading.Event) -> None:
        if stop.wait(self.redis_at):
            return
        self._note(f"Redis SIGKILL, down {self.redis_down:.0f}s")
        try:
            self.stack.restart_redis(hard=True, down_for=self.redis_down)
        except Exception as exc:  # noqa: BLE001 (reported, and the run goes on)
            self.failures.append(f"Redis restart failed: {exc}")
            return
        self.redis_restarts += 1
        self._note("Redis back (AOF replayed)")

    def _s3_outage(self, stop: threading.Event) -> None:
        proxy = self.stack.s3_proxy
        if proxy is None or stop.wait(self.s3_at):
            return
        self._note(f"S3 down for {self.s3_down:.0f}s")
        self.s3_down_now = True
        try:
            with proxy.outage():
                stop.wait(self.s3_down)
        finally:
            self.s3_down_now = False
        self._note("S3 back")
