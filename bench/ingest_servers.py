"""The ingest benchmark's servers: the local stack's API ("real") and the bare Starlette app.

Both run under the API's own uvicorn argv (only the app and the port swapped), with the
stack's environment and working directory, so the only difference is the app. Every
process is started and stopped by its own pid (``infra.processes.Service``).
"""

from __future__ import annotations

import importlib.util
import time
import urllib.request
from pathlib import Path
from typing import Any

from infra.devstack import REPO_DIR, LocalStack
from infra.processes import Service

HOST = "127.0.0.1"
REAL_APP = "functions.http:app"
BARE_APP = "bench.bare_app:app"
QUEUE_DEPTH = "10000000"  # far above what a run enqueues: the bench must not measure 429s
START_TIMEOUT_S = 30.0


def start_stack(state_dir: Path, env: dict[str, str]) -> LocalStack:
    """redis-server + moto + the API; no workers or SQS poller, so the API has the cores."""
    return LocalStack(
        state_dir,
        workers=False,
        sqs_poller=False,
        log_format="json",
        extra_env={"HEAVYLIFT_MAX_QUEUE_DEPTH": QUEUE_DEPTH, **env},
    ).start()


def real_port(stack: LocalStack) -> int:
    return int(stack.api_url.rsplit(":", 1)[1])


def pid_of(service: Service) -> int:
    if service.pid is None:
        raise RuntimeError(f"{service.name} has no process")
    return service.pid


def server_argv(stack: LocalStack, app: str, port: int | str) -> list[str]:
    """The API's uvicorn argv with only the app and the port swapped: same host, access
    log, workers, loop and HTTP implementation, whatever ``_start_api`` says today."""
    argv = list(stack.services["api"].argv)
    if argv.count(REAL_APP) != 1 or argv.count(str(stack.api_port)) != 1:
        raise RuntimeError(f"cannot find the app and the port in the API's argv: {argv}")
    argv[argv.index(REAL_APP)] = app
    argv[argv.index(str(stack.api_port))] = str(port)
    return argv


def start_server(stack: LocalStack, name: str, argv: list[str], port: int) -> Service:
    """A server beside the stack's API: same environment and directory, logs in its log dir.
    Returns once it answers a ``POST /v1/jobs`` with 202."""
    service = Service(name, argv, stack.child_env(), stack.log_dir, restart=False, cwd=REPO_DIR)
    service.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not service.alive():
            raise RuntimeError(f"{name} exited during start-up:\n{service.tail()}")
        if _accepts(port, stack.auth_headers):
            return service
        time.sleep(0.1)
    service.stop()
    raise RuntimeError(f"{name} not answering after {START_TIMEOUT_S:g} s:\n{service.tail()}")


def start_bare(stack: LocalStack, port: int) -> Service:
    return start_server(stack, "bare", server_argv(stack, BARE_APP, port), port)


def _accepts(port: int, headers: dict[str, str]) -> bool:
    request = urllib.request.Request(
        f"http://{HOST}:{port}/v1/jobs",
        data=b'{"source": {"bucket": "heavylift-uploads", "key": "bench/ready.jpg"}}',
        headers={**headers, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 (loopback)
            return bool(response.status == 202)
    except OSError:
        return False


def uvicorn_settings(stack: LocalStack) -> dict[str, Any]:
    """What the servers' argv is and what ``--loop auto`` / ``--http auto`` resolve to in
    this venv (the argv sets neither unless it says so), for the record."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    argv = server_argv(stack, "<app>", "<port>")
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return {
        "argv": argv[argv.index("uvicorn") :],  # the app and the port are placeholders
        "loop": _flag(argv, "--loop") or f"auto → {loop}",
        "http": _flag(argv, "--http") or f"auto → {AutoHTTPProtocol.__name__}",
        "workers": _flag(argv, "--workers") or "1 (default)",
    }


def _flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None
