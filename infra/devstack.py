"""The whole Heavylift stack on 127.0.0.1, on free ports: redis-server (AOF, noeviction),
moto's server (S3 + SQS) with the uploads bucket notifying a queue, the SQS poller that
invokes ``functions.s3_events.handler`` like Lambda's SQS trigger, the Starlette API under
uvicorn, and Dramatiq workers. Used by ``heavylift dev up``, ``make demo`` and the
integration tests alike, so the tests exercise exactly what users run.

For failure tests and the chaos benchmark it can also put S3 behind an
:class:`~infra.outage_proxy.OutageProxy` (``s3_via_proxy``), restart Redis on its own data
(``restart_redis``) and name the worker processes to kill (``worker_children``).
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from heavylift.config import Settings
from heavylift.net.signatures import WebhookSecret
from infra.outage_proxy import OutageProxy
from infra.processes import HEAVYLIFT_COMMAND, Service, free_port, pid_alive
from infra.provision import aws_client, ensure_bucket, provision
from infra.redis_service import INFRA_DIR, answers_ping, redis_server_binary, redis_service

__all__ = ["INFRA_DIR", "LocalStack", "StackError", "redis_server_binary", "run_until_stopped"]

REPO_DIR = INFRA_DIR.parent
SOURCES_BUCKET = "heavylift-sources"
SUPERVISE_INTERVAL_S = 0.5
REDIS_READY_TIMEOUT_S = 60.0  # a restart replays the AOF first


class StackError(RuntimeError):
    pass


class LocalStack:
    def __init__(
        self,
        state_dir: Path,
        *,
        worker_processes: int = 2,
        worker_threads: int = 2,
        api: bool = True,
        workers: bool = True,
        sqs_poller: bool = True,
        log_format: str = "console",
        extra_env: dict[str, str] | None = None,
        s3_via_proxy: bool = False,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.log_dir = self.state_dir / "logs"
        self.worker_processes = worker_processes
        self.worker_threads = worker_threads
        self.want = {"api": api, "worker": workers, "poller": sqs_poller}
        self.redis_port = free_port()
        self.moto_port = free_port()
        self.api_port = free_port()
        # Clients reach S3 through the proxy, so a test can take S3 away; set-up goes direct.
        self.s3_proxy = (
            OutageProxy("127.0.0.1", self.moto_port, port=free_port()) if s3_via_proxy else None
        )
        s3_url = self.s3_proxy.url if self.s3_proxy else self.moto_url
        dev_key = "hl_dev_" + secrets.token_urlsafe(24)
        self.settings_env = {
            "HEAVYLIFT_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "HEAVYLIFT_S3_ENDPOINT_URL": s3_url,
            "HEAVYLIFT_API_URL": f"http://127.0.0.1:{self.api_port}",
            "HEAVYLIFT_AWS_REGION": "us-east-1",
            "HEAVYLIFT_AWS_ACCESS_KEY_ID": "heavylift",
            "HEAVYLIFT_AWS_SECRET_ACCESS_KEY": "heavylift",
            "HEAVYLIFT_UPLOADS_BUCKET": "heavylift-uploads",
            "HEAVYLIFT_RESULTS_BUCKET": "heavylift-results",
            "HEAVYLIFT_EVENTS_QUEUE": "heavylift-upload-events",
            "HEAVYLIFT_SOURCE_BUCKETS": f"heavylift-uploads,{SOURCES_BUCKET}",
            # Fresh credentials per stack: the API is closed by default, even locally.
            "HEAVYLIFT_API_KEYS": dev_key,
            # The dev key also reads upload jobs (the CLI follows uploads through the API).
            "HEAVYLIFT_OPERATOR_KEYS": dev_key,
            "HEAVYLIFT_EVENT_KEYS": "hl_events_" + secrets.token_urlsafe(24),
            "HEAVYLIFT_METRICS_TOKEN": "hl_metrics_" + secrets.token_urlsafe(24),
            "HEAVYLIFT_DASHBOARD_SECURE_COOKIE": "false",  # the local stack serves plain http
            "HEAVYLIFT_WEBHOOK_SECRETS": WebhookSecret.generate(),
            "HEAVYLIFT_CALLBACK_SECRET": WebhookSecret.generate(),
            "HEAVYLIFT_DASHBOARD_PASSWORD": secrets.token_urlsafe(12),
            "HEAVYLIFT_LOG_FORMAT": log_format,
            **(extra_env or {}),
        }
        self.services: dict[str, Service] = {}
        self.redis_restarts = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()  # between supervise() and restart_redis()
        self._held: set[str] = set()  # down on purpose: supervise() leaves them alone

    # --- configuration handed to clients -----------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        return dict(self.settings_env)

    @property
    def redis_url(self) -> str:
        return self.settings_env["HEAVYLIFT_REDIS_URL"]

    @property
    def s3_endpoint_url(self) -> str:
        """What every service and client uses (the proxy, with ``s3_via_proxy``)."""
        return self.settings_env["HEAVYLIFT_S3_ENDPOINT_URL"]

    @property
    def moto_url(self) -> str:
        """moto itself, bypassing any proxy: for set-up and for checking results."""
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def api_url(self) -> str:
        return self.settings_env["HEAVYLIFT_API_URL"]

    def settings(self) -> Settings:
        """Settings as the stack's own services see them (never a developer's dev.env)."""
        fields = {k.removeprefix("HEAVYLIFT_").lower(): v for k, v in self.settings_env.items()}
        return Settings(_env_file=None, **fields)  # type: ignore[call-arg,arg-type]

    @property
    def api_key(self) -> str:
        return self.settings_env["HEAVYLIFT_API_KEYS"].split(",")[0]

    @property
    def auth_headers(self) -> dict[str, str]:
        """The dev key's: it submits jobs and (as an operator key) reads upload jobs."""
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def event_headers(self) -> dict[str, str]:
        """What a MinIO webhook would send to ``POST /v1/events/s3``."""
        return {"Authorization": f"Bearer {self.settings_env['HEAVYLIFT_EVENT_KEYS']}"}

    @property
    def metrics_headers(self) -> dict[str, str]:
        """What a Prometheus scraper would send to ``GET /metrics``."""
        return {"Authorization": f"Bearer {self.settings_env['HEAVYLIFT_METRICS_TOKEN']}"}

    def write_env_file(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"{key}={value}" for key, value in sorted(self.settings_env.items())]
        path.write_text(
            "# written by `heavylift dev up`; removed by `heavylift dev down`\n"
            + "\n".join(lines)
            + "\n"
        )

    def child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEAVYLIFT_")}
        env.update(self.settings_env)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_DIR), env.get("PYTHONPATH")]))
        return env

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> LocalStack:
        try:
            self._start_redis()
            self._start_moto()
            if self.s3_proxy is not None:
                self.s3_proxy.start()
            provision(
                self.moto_url,
                "us-east-1",
                self.settings_env["HEAVYLIFT_UPLOADS_BUCKET"],
                self.settings_env["HEAVYLIFT_RESULTS_BUCKET"],
                self.settings_env["HEAVYLIFT_EVENTS_QUEUE"],
                self.settings_env.get("HEAVYLIFT_UPLOADS_PREFIX", ""),
            )
            # Webhook jobs may also read this one; it notifies nobody, so no S3 event races them.
            ensure_bucket(aws_client("s3", self.moto_url, "us-east-1"), SOURCES_BUCKET)
            if self.want["poller"]:
                self._add(
                    Service(
                        "poller",
                        [sys.executable, "-m", "infra.sqs_poller"],
                        self.child_env(),
                        self.log_dir,
                        cwd=REPO_DIR,
                    )
                ).start()
            if self.want["api"]:
                self._start_api()
            if self.want["worker"]:
                self.start_worker()
        except BaseException:
            self.stop()
            raise
        return self

    def start_worker(self, queues: tuple[str, ...] = (), name: str = "worker") -> Service:
        """``heavylift worker`` for every queue, or only for ``queues``."""
        argv = [*HEAVYLIFT_COMMAND, "worker"]
        argv += ["--processes", str(self.worker_processes), "--threads", str(self.worker_threads)]
        for queue in queues:
            argv += ["--queues", queue]
        service = self._add(Service(name, argv, self.child_env(), self.log_dir, cwd=REPO_DIR))
        service.start()
        return service

    def supervise(self) -> None:
        """Bring back any restartable service that died, until :meth:`request_stop`."""
        while not self._stop.wait(SUPERVISE_INTERVAL_S):
            with self._lock:
                for service in list(self.services.values()):
                    if service.restart and service.name not in self._held and not service.alive():
                        service.restarts += 1
                        print(
                            f"[heavylift] {service.name} exited; restarting "
                            f"(restart #{service.restarts})",
                            file=sys.stderr,
                        )
                        service.start()

    # --- failure injection -------------------------------------------------------------------

    def stop_redis(self, hard: bool = False) -> None:
        """Take Redis away (SIGTERM, or SIGKILL if ``hard``) until :meth:`resume_redis`;
        :meth:`supervise` leaves it down meanwhile."""
        with self._lock:
            self._held.add("redis")
            service = self.services["redis"]
        if hard:
            service.kill()
        else:
            service.stop()

    def resume_redis(self) -> None:
        """Start Redis again on the same port and data dir (its AOF intact); return once it
        answers PING, i.e. after it has replayed the AOF."""
        service = self.services["redis"]
        try:
            with self._lock:
                if not service.alive():
                    service.start()
            self._wait(
                service,
                lambda: answers_ping(self.redis_port),
                "redis-server",
                REDIS_READY_TIMEOUT_S,
            )
            self.redis_restarts += 1
        finally:
            with self._lock:
                self._held.discard("redis")

    def restart_redis(self, hard: bool = False, down_for: float = 0.0) -> None:
        """Stop Redis, stay down ``down_for`` seconds, start it again on the same data."""
        self.stop_redis(hard)
        if down_for > 0:
            time.sleep(down_for)
        self.resume_redis()

    def worker_children(self, service_name: str = "worker") -> list[int]:
        """The python processes a worker service's main process runs jobs in (Dramatiq's
        worker processes, or a supervisor's children): the ones to kill in chaos tests."""
        service = self.services.get(service_name)
        if service is None or service.pid is None or not service.alive():
            return []
        return [pid for pid in child_pids(service.pid) if _is_python_worker(pid)]

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        last = ("api", "poller", "moto", "redis")  # workers (whatever their name) go first
        for name in sorted(self.services, key=lambda n: last.index(n) if n in last else -1):
            if name == "moto" and self.s3_proxy is not None:
                self.s3_proxy.stop()
            self.services.pop(name).stop()
        if self.s3_proxy is not None:
            self.s3_proxy.stop()  # idempotent: when moto never started

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the services -----------------------------------------------------------------------

    def _add(self, service: Service) -> Service:
        self.services[service.name] = service
        return service

    def _start_redis(self) -> None:
        """The first start: empty, like moto's S3 (see ``infra.redis_service``)."""
        service = self._add(
            redis_service(self.redis_port, self.state_dir / "redis", self.child_env(), self.log_dir)
        )
        service.start()
        self._wait(service, lambda: answers_ping(self.redis_port), "redis-server")

    def _start_moto(self) -> None:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.moto_port)]
        service = self._add(Service("moto", argv, self.child_env(), self.log_dir))
        service.start()
        self._wait(service, lambda: _http_ok(f"{self.moto_url}/moto-api/"), "moto server")

    def _start_api(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "functions.http:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.api_port),
            "--no-access-log",
        ]
        service = self._add(Service("api", argv, self.child_env(), self.log_dir, cwd=REPO_DIR))
        service.start()
        self._wait(service, lambda: _http_ok(f"{self.api_url}/healthz"), "API")

    def _wait(
        self, service: Service, check: Callable[[], bool], what: str, timeout: float = 30
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not service.alive():
                raise StackError(f"{what} exited during start-up:\n{service.tail()}")
            try:
                if check():
                    return
            except Exception:  # not listening yet
                pass
            time.sleep(0.1)
        raise StackError(f"{what} not ready after {timeout:.0f}s:\n{service.tail()}")


def child_pids(pid: int) -> list[int]:
    """Live direct children of ``pid``, from /proc (every thread's ``children`` list, or a
    scan of every process's parent where the kernel lacks those lists)."""
    found: set[int] = set()
    task_dirs = list(Path(f"/proc/{pid}/task").glob("*/children"))
    for children in task_dirs:
        try:
            found.update(int(p) for p in children.read_text().split())
        except OSError:
            continue
    if not task_dirs:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(") ", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid:
                found.add(int(stat.parent.name))
    return sorted(p for p in found if pid_alive(p))


def _is_python_worker(pid: int) -> bool:
    """A python process, but not multiprocessing's resource tracker or similar helpers."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    command = b" ".join(argv)
    return os.path.basename(argv[0]).startswith(b"python") and b"_tracker" not in command


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback only)
        return bool(response.status == 200)


def run_until_stopped(stack: LocalStack) -> None:
    """Supervise in the foreground until Ctrl-C or SIGTERM, then stop every service."""
    signal.signal(signal.SIGTERM, lambda *_: stack.request_stop())
    try:
        stack.supervise()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
