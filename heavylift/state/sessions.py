"""Dashboard sessions kept in Redis, so that logging out ends them everywhere.

A signed cookie alone cannot be revoked: a copy taken before logout stays valid until it
expires. Here the cookie carries only a random id; the session (user, CSRF token, when it
began) is a Redis key with a TTL, and a session exists exactly as long as that key does.
Logging out deletes it; logging in always makes a new id (no fixation), ending the one it
replaces in the same step. Every API process and Lambda sees the same sessions.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import asdict, dataclass

import redis

from heavylift.state.keys import Layout

TOKEN_BYTES = 32  # of the session id and of the CSRF token
# What secrets.token_urlsafe(TOKEN_BYTES) makes; nothing else is ever looked up in Redis.
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class Session:
    id: str
    user: str
    csrf: str
    created_at: float  # Unix time


def is_session_id(value: object) -> bool:
    return isinstance(value, str) and _SESSION_ID.fullmatch(value) is not None


class SessionStore:
    """Sessions that last ``max_age_s`` from login (Redis expires them; nothing sweeps)."""

    def __init__(self, client: redis.Redis, layout: Layout, max_age_s: int) -> None:
        self.client = client
        self.layout = layout
        self.max_age_s = max_age_s

    def create(self, user: str, replacing: str | None = None) -> Session:
        """A new session for ``user``; the session ``replacing`` names (a browser's previous
        one) ends in the same transaction."""
        session = Session(
            id=secrets.token_urlsafe(TOKEN_BYTES),
            user=user,
            csrf=secrets.token_urlsafe(TOKEN_BYTES),
            created_at=time.time(),
        )
        data = {key: value for key, value in asdict(session).items() if key != "id"}
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self._key(session.id), json.dumps(data), ex=self.max_age_s, nx=True)
            if is_session_id(replacing):
                pipe.delete(self._key(str(replacing)))
            created = pipe.execute()[0]
        if not created:  # 256 random bits collided: never, but never reuse someone's id
            raise RuntimeError("session id collision")
        return session

    def get(self, session_id: object) -> Session | None:
        if not is_session_id(session_id):
            return None
        raw = self.client.get(self._key(str(session_id)))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            session = Session(
                id=str(session_id),
                user=data["user"],
                csrf=data["csrf"],
                created_at=float(data["created_at"]),
            )
        except (ValueError, TypeError, KeyError):  # not written by create(): no session
            return None
        if not (isinstance(session.user, str) and is_session_id(session.csrf)):
            return None
        return session

    def end(self, session_id: object) -> None:
        if is_session_id(session_id):
            self.client.delete(self._key(str(session_id)))

    def _key(self, session_id: str) -> str:
        return self.layout.dashboard_session(session_id)
