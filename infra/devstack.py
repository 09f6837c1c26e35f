"""The whole Heavylift stack on 127.0.0.1, on free ports: redis-server (AOF, noeviction),
moto's server (S3 + SQS) with the uploads bucket notifying a queue, the event bridge that
invokes ``functions.s3_events.handler`` like Lambda's SQS trigger, the Starlette API under
uvicorn, and Dramatiq workers. Used by ``heavylift dev up``, ``make demo`` and the
integration tests alike, so the tests exercise exactly what users run.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import redis

from infra.processes import Service, free_port
from infra.provision import provision

INFRA_DIR = Path(__file__).resolve().parent
REPO_DIR = INFRA_DIR.parent
SUPERVISE_INTERVAL_S = 0.5


class StackError(RuntimeError):
    pass


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise StackError(
            "redis-server is not installed: run `make setup` (apt-get install redis-server)"
        )
    return found


class LocalStack:
    def __init__(
        self,
        state_dir: Path,
        *,
        worker_processes: int = 2,
        worker_threads: int = 2,
        api: bool = True,
        workers: bool = True,
        bridge: bool = True,
        log_format: str = "console",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.log_dir = self.state_dir / "logs"
        self.worker_processes = worker_processes
        self.worker_threads = worker_threads
        self.want = {"api": api, "worker": workers, "bridge": bridge}
        self.redis_port = free_port()
        self.moto_port = free_port()
        self.api_port = free_port()
        self.settings_env = {
            "HEAVYLIFT_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "HEAVYLIFT_S3_ENDPOINT_URL": f"http://127.0.0.1:{self.moto_port}",
            "HEAVYLIFT_API_URL": f"http://127.0.0.1:{self.api_port}",
            "HEAVYLIFT_AWS_REGION": "us-east-1",
            "HEAVYLIFT_AWS_ACCESS_KEY_ID": "heavylift",
            "HEAVYLIFT_AWS_SECRET_ACCESS_KEY": "heavylift",
            "HEAVYLIFT_UPLOADS_BUCKET": "heavylift-uploads",
            "HEAVYLIFT_RESULTS_BUCKET": "heavylift-results",
            "HEAVYLIFT_EVENTS_QUEUE": "heavylift-upload-events",
            "HEAVYLIFT_LOG_FORMAT": log_format,
            **(extra_env or {}),
        }
        self.services: dict[str, Service] = {}
        self._stop = threading.Event()

    # --- configuration handed to clients -----------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        return dict(self.settings_env)

    @property
    def redis_url(self) -> str:
        return self.settings_env["HEAVYLIFT_REDIS_URL"]

    @property
    def s3_endpoint_url(self) -> str:
        return self.settings_env["HEAVYLIFT_S3_ENDPOINT_URL"]

    @property
    def api_url(self) -> str:
        return self.settings_env["HEAVYLIFT_API_URL"]

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
            provision(
                self.s3_endpoint_url,
                "us-east-1",
                self.settings_env["HEAVYLIFT_UPLOADS_BUCKET"],
                self.settings_env["HEAVYLIFT_RESULTS_BUCKET"],
                self.settings_env["HEAVYLIFT_EVENTS_QUEUE"],
                self.settings_env.get("HEAVYLIFT_UPLOADS_PREFIX", ""),
            )
            if self.want["bridge"]:
                self._add(
                    Service(
                        "bridge",
                        [sys.executable, "-m", "infra.event_bridge"],
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
        argv = [sys.executable, "-m", "heavylift", "worker"]
        argv += ["--processes", str(self.worker_processes), "--threads", str(self.worker_threads)]
        for queue in queues:
            argv += ["--queues", queue]
        service = self._add(Service(name, argv, self.child_env(), self.log_dir, cwd=REPO_DIR))
        service.start()
        return service

    def supervise(self) -> None:
        """Bring back any restartable service that died, until :meth:`request_stop`."""
        while not self._stop.wait(SUPERVISE_INTERVAL_S):
            for service in list(self.services.values()):
                if service.restart and not service.alive():
                    service.restarts += 1
                    print(
                        f"[heavylift] {service.name} exited; restarting "
                        f"(restart #{service.restarts})",
                        file=sys.stderr,
                    )
                    service.start()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        last = ("api", "bridge", "moto", "redis")  # workers (whatever their name) go first
        for name in sorted(self.services, key=lambda n: last.index(n) if n in last else -1):
            self.services.pop(name).stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the services -----------------------------------------------------------------------

    def _add(self, service: Service) -> Service:
        self.services[service.name] = service
        return service

    def _start_redis(self) -> None:
        # moto keeps S3 in memory, so every stack starts with empty buckets; Redis must start
        # empty too, or old job records would point at outputs that no longer exist. (Within
        # one run, Redis restarts keep their AOF: that is what persistence is for.)
        data_dir = self.state_dir / "redis"
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        argv = [
            redis_server_binary(),
            str(INFRA_DIR / "redis.conf"),
            "--port",
            str(self.redis_port),
            "--dir",
            str(data_dir),
        ]
        service = self._add(Service("redis", argv, self.child_env(), self.log_dir))
        service.start()
        client = redis.Redis(port=self.redis_port, socket_timeout=1)
        self._wait(service, lambda: bool(client.ping()), "redis-server")

    def _start_moto(self) -> None:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.moto_port)]
        service = self._add(Service("moto", argv, self.child_env(), self.log_dir))
        service.start()
        self._wait(service, lambda: _http_ok(f"{self.s3_endpoint_url}/moto-api/"), "moto server")

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
