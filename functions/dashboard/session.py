"""The dashboard's session: a signed cookie naming a session kept in Redis.

The cookie (Starlette's ``SessionMiddleware``, signed) carries the session id once logged in
(``heavylift.state.sessions`` holds the user and CSRF token), and before that only the login
form's CSRF token and flash messages, so anonymous visitors never create Redis keys. Every
request that needs a login asks Redis whether its session still exists: logging out, an
expired key or an operator's ``DEL`` ends it for every copy of the cookie.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

import redis
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from functions.producer import get_producer
from heavylift.config import get_settings
from heavylift.state.keys import Layout
from heavylift.state.login_throttle import LoginThrottle
from heavylift.state.sessions import Session, SessionStore

SESSION_COOKIE = "heavylift_dashboard"
SESSION_MAX_AGE_S = 12 * 3600  # of the cookie and of the Redis key: a login lasts 12 h
_PROCESS_SECRET = secrets.token_urlsafe(32)  # sessions end with the process when none is set
_STATE = "dashboard_session"  # request.state attribute: the looked-up Session or None
_SID = "sid"  # the cookie's field naming the Redis session


def session_secret() -> str:
    configured = get_settings().dashboard_session_secret
    return configured.get_secret_value() if configured else _PROCESS_SECRET


class LazySession:
    """Starlette's SessionMiddleware, built on first use: the secret and the ``Secure`` flag
    come from settings, which must not be read at import time (tests and Lambda configure
    them later)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._built_for: tuple[str, bool] | None = None
        self._inner: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        wanted = (session_secret(), get_settings().dashboard_secure_cookie)
        if self._inner is None or wanted != self._built_for:
            self._built_for = wanted
            self._inner = SessionMiddleware(
                self.app,
                secret_key=wanted[0],
                session_cookie=SESSION_COOKIE,
                max_age=SESSION_MAX_AGE_S,
                same_site="strict",
                https_only=wanted[1],  # off only for the local stack's plain http
            )
        await self._inner(scope, receive, send)


def _sessions() -> SessionStore:
    producer = get_producer()
    layout = Layout(producer.settings.namespace)
    return SessionStore(producer.store.client, layout, SESSION_MAX_AGE_S)


@lru_cache(maxsize=1)
def _throttle(
    client: redis.Redis, namespace: str, attempts: int, max_backoff_s: float
) -> LoginThrottle:
    return LoginThrottle(client, Layout(namespace), attempts, max_backoff_s)


def login_throttle() -> LoginThrottle:
    """One per Redis client and settings (its script is registered once)."""
    producer = get_producer()
    settings = producer.settings
    return _throttle(
        producer.store.client,
        settings.namespace,
        settings.dashboard_login_attempts,
        settings.dashboard_login_max_backoff_s,
    )


def _lookup(session_id: object) -> Session | None:
    """The session, while the account it logged into is still the configured one (unsetting
    the password or renaming the user ends every session)."""
    session = _sessions().get(session_id)
    settings = get_settings()
    if session is None or settings.dashboard_password is None:
        return None
    return session if session.user == settings.dashboard_username else None


async def current(request: Request) -> Session | None:
    """The request's session, looked up in Redis once per request."""
    if hasattr(request.state, _STATE):
        found: Session | None = getattr(request.state, _STATE)
        return found
    session_id = request.session.get(_SID)
    found = None if session_id is None else await run_in_threadpool(_lookup, session_id)
    if found is None and session_id is not None:
        request.session.pop(_SID)  # ended: stop asking Redis about it
    setattr(request.state, _STATE, found)
    return found


def looked_up(request: Request) -> Session | None:
    """The session ``current`` found; None when it has not run (an error page, say)."""
    found: Session | None = getattr(request.state, _STATE, None)
    return found


def csrf_token(request: Request) -> str:
    """The token this request's forms must carry: the session's once logged in, else the
    login form's, kept in the signed cookie."""
    session = looked_up(request)
    if session is not None:
        return session.csrf
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def start(request: Request, user: str) -> Session:
    """Log in: always a new session id (no fixation); the browser's previous one ends."""
    previous = request.session.get(_SID)
    session = await run_in_threadpool(
        _sessions().create, user, previous if isinstance(previous, str) else None
    )
    request.session.clear()
    request.session[_SID] = session.id
    setattr(request.state, _STATE, session)
    return session


async def end(request: Request) -> None:
    """Log out: the Redis session is deleted, and the cookie with it."""
    await run_in_threadpool(_sessions().end, request.session.get(_SID))
    request.session.clear()
    setattr(request.state, _STATE, None)
