"""``heavylift worker``: N worker processes (``actors.serve``), kept at N.

Dramatiq's own master exits when one child crashes. Here a child that dies — killed,
out of memory, segfaulted — is replaced while the others keep working, and the jobs it
held are put back on their queues at once (each child is named with a worker id, so the
supervisor knows exactly which in-flight messages were its). A child that keeps dying
young is restarted with a growing pause rather than in a tight loop.

SIGTERM or SIGINT stops the children gracefully (running jobs get
``worker_shutdown_timeout_s``), then anything still running is killed and its jobs
requeued for another worker.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

import redis

from heavylift.config import Settings
from heavylift.queue.recovery import requeue_worker
from heavylift.state.keys import Layout
from heavylift.state.redis import REDIS_DOWN, connect

log = logging.getLogger("heavylift.supervisor")

POLL_S = 0.2
YOUNG_DEATH_S = 10.0  # a child that dies sooner than this counts towards a crash loop
MAX_RESTART_PAUSE_S = 30.0


@dataclass
class Child:
    slot: int
    worker_id: str
    proc: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)


@dataclass
class WorkerPlan:
    """What each child runs: threads, queues (empty: all) and extra actor modules."""

    processes: int
    threads: int
    queues: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "actors.serve", "--threads", str(self.threads)]
        if self.queues:
            argv += ["--queues", *self.queues]
        for module in self.modules:
            argv += ["--import", module]
        return argv


class Supervisor:
    def __init__(self, settings: Settings, plan: WorkerPlan) -> None:
        self.settings = settings
        self.plan = plan
        self.client: redis.Redis = connect(settings.redis_url, settings.redis_socket_timeout_s)
        self.layout = Layout(settings.namespace)
        self.children: dict[int, Child] = {}  # by slot
        self.crash_streak: dict[int, int] = {}
        self.not_before: dict[int, float] = {}
        self.unreleased: set[str] = set()  # dead children whose jobs are not requeued yet
        self.stopping = threading.Event()

    # --- lifecycle -------------------------------------------------------------------------

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        log.info("supervisor started", extra={"pid": os.getpid(), "processes": self.plan.processes})
        try:
            while not self.stopping.is_set():
                self._reap_children()
                self._fill_slots()
                self._release_jobs()
                self.stopping.wait(POLL_S)
        finally:
            self._shutdown()
        return 0

    def _fill_slots(self) -> None:
        now = time.monotonic()
        for slot in range(self.plan.processes):
            if slot not in self.children and now >= self.not_before.get(slot, 0.0):
                self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        worker_id = f"{os.uname().nodename}-{uuid.uuid4().hex[:12]}"
        env = {**os.environ, "HEAVYLIFT_WORKER_ID": worker_id, "PYTHONUNBUFFERED": "1"}
        # glibc gives every thread its own heap arena; two are plenty for this workload and
        # keep a worker ~10 MB smaller (docs/benchmarks.md, "Memory").
        env.setdefault("MALLOC_ARENA_MAX", "2")
        proc = subprocess.Popen(self.plan.argv(), env=env, stdin=subprocess.DEVNULL)
        self.children[slot] = Child(slot, worker_id, proc)
        log.info(
            "worker process spawned", extra={"slot": slot, "pid": proc.pid, "worker": worker_id}
        )

    def _reap_children(self) -> None:
        for slot, child in list(self.children.items()):
            code = child.proc.poll()
            if code is None:
                continue
            del self.children[slot]
            self.unreleased.add(child.worker_id)
            lived = time.monotonic() - child.started
            streak = self.crash_streak.get(slot, 0) + 1 if lived < YOUNG_DEATH_S else 0
            self.crash_streak[slot] = streak
            pause = min(MAX_RESTART_PAUSE_S, 0.5 * 2**streak) if streak else 0.0
            self.not_before[slot] = time.monotonic() + pause
            log.error(
                "worker process died; replacing it",
                extra={
                    "slot": slot,
                    "pid": child.proc.pid,
                    "exit": _describe_exit(code),
                    "lived_s": round(lived, 1),
                    "restart_in_s": pause,
                },
            )

    def _release_jobs(self) -> None:
        """Requeue what dead children held. If Redis is away, try again next round (and the
        heartbeat reaper in the other workers would get there too)."""
        for worker_id in list(self.unreleased):
            try:
                requeued = requeue_worker(self.client, self.layout, worker_id)
            except REDIS_DOWN as exc:
                log.warning("cannot requeue a dead worker's jobs yet", extra={"error": str(exc)})
                return
            self.unreleased.discard(worker_id)
            if requeued:
                log.warning(
                    "requeued a dead worker's jobs",
                    extra={"worker": worker_id, "requeued": requeued},
                )

    def _shutdown(self) -> None:
        children = list(self.children.values())
        for child in children:
            _signal(child.proc, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.worker_shutdown_timeout_s + 10
        for child in children:
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker process ignored SIGTERM; killing", extra={"pid": child.proc.pid})
                _signal(child.proc, signal.SIGKILL)
                child.proc.wait(5)
            self.unreleased.add(child.worker_id)
        self.children.clear()
        self._release_jobs()
        log.info("supervisor stopped")


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass


def _describe_exit(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
