"""redis-server for the local stack: which binary, which config, and where its data lives.

Only the stack's first start wipes the data directory (moto's S3 starts empty, so old job
records would point at outputs that no longer exist). Every later start of the same stack,
a supervisor's or :meth:`infra.devstack.LocalStack.restart_redis`'s, reuses the same port
and directory, so the AOF brings back every queued, delayed and dead-lettered message.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from infra.processes import Service

INFRA_DIR = Path(__file__).resolve().parent
REDIS_CONF = INFRA_DIR / "redis.conf"


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if not found:
        from infra.devstack import StackError

        raise StackError(
            "redis-server is not installed: run `make setup` (apt-get install redis-server)"
        )
    return found


def redis_service(port: int, data_dir: Path, env: dict[str, str], log_dir: Path) -> Service:
    """The ``redis`` Service of a stack, its data directory emptied (first start only)."""
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    argv = [redis_server_binary(), str(REDIS_CONF), "--port", str(port), "--dir", str(data_dir)]
    return Service("redis", argv, env, log_dir)


def answers_ping(port: int) -> bool:
    """True once Redis serves commands (not while it is still loading its AOF)."""
    client = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()
