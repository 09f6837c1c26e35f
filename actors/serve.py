"""One worker process: the media actors (plus any ``--import``-ed actor modules) served by
a Dramatiq ``Worker`` until SIGTERM or SIGINT, then a graceful stop.

``heavylift worker`` runs several of these under its supervisor (``actors.supervisor``),
which names each one with ``HEAVYLIFT_WORKER_ID`` so that it can hand a dead child's
in-flight jobs to the others at once. Run alone: ``python -m actors.serve --threads 2``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import threading
import uuid

import dramatiq

from actors.broker import install_broker
from heavylift.config import get_settings
from heavylift.logs import configure_logging

WORKER_ID_ENV = "HEAVYLIFT_WORKER_ID"
# An idle consumer sleeps at most this long between polls (Dramatiq's default is 1 s):
# a fresh job starts sooner, for one cheap Redis call per 100 ms per queue.
IDLE_POLL_MS = 100

log = logging.getLogger("heavylift.worker")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m actors.serve")
    parser.add_argument("--threads", type=int, default=0, help="worker threads (0: settings)")
    parser.add_argument("--queues", nargs="*", default=[], help="only these queues")
    parser.add_argument(
        "--import", dest="modules", action="append", default=[], help="more actor modules"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    worker_id = os.environ.get(WORKER_ID_ENV) or str(uuid.uuid4())
    broker = install_broker(settings, worker_id)
    # bind to the broker installed above
    for module in ("actors.media", "actors.callbacks"):
        importlib.import_module(module)
    for module in args.modules:
        importlib.import_module(module)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker = dramatiq.Worker(
        broker,
        queues=set(args.queues) or None,
        worker_threads=args.threads or settings.worker_threads,
        worker_timeout=IDLE_POLL_MS,
    )
    worker.start()
    log.info(
        "worker process started",
        extra={"worker": worker_id, "pid": os.getpid(), "queues": sorted(worker.consumers)},
    )
    stop.wait()
    log.info("worker process stopping", extra={"worker": worker_id})
    # Jobs still running after the timeout stay claimed by this worker id; the supervisor
    # puts them back on their queues once this process is gone.
    worker.stop(timeout=int(settings.worker_shutdown_timeout_s * 1000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
