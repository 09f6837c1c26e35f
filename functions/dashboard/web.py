"""What every dashboard handler shares: templates, the session, login and CSRF guards, forms.

The dashboard is an operator tool on the same origin as the API, so it is closed by default:
pages redirect to the login form, JSON endpoints answer 401, and every POST must carry the
session's CSRF token (a form field or the ``X-CSRF-Token`` header) or gets a 403.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from heavylift.config import get_settings

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
SESSION_COOKIE = "heavylift_dashboard"
SESSION_MAX_AGE_S = 12 * 3600
MAX_FORM_BYTES = 1024 * 1024
# Images are presigned S3 URLs on another origin; everything else is served from here.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' http: https: data:; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_PROCESS_SECRET = secrets.token_urlsafe(32)  # sessions end with the process when none is set

Handler = Callable[[Request], Awaitable[Response]]


def session_secret() -> str:
    configured = get_settings().dashboard_session_secret
    return configured.get_secret_value() if configured else _PROCESS_SECRET


class LazySession:
    """Starlette's SessionMiddleware, built on first use: the secret comes from settings,
    which must not be read at import time (tests and Lambda configure them later)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._secret: str | None = None
        self._inner: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        secret = session_secret()
        if self._inner is None or secret != self._secret:
            self._secret = secret
            self._inner = SessionMiddleware(
                self.app,
                secret_key=secret,
                session_cookie=SESSION_COOKIE,
                max_age=SESSION_MAX_AGE_S,
                same_site="strict",
                https_only=False,  # local stacks serve plain http; put TLS in front in prod
            )
        await self._inner(scope, receive, send)


def base(request: Request) -> str:
    """Where the dashboard is mounted (``/dashboard``), for links and redirects."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def logged_in(request: Request) -> bool:
    return isinstance(request.session.get("user"), str)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    context.update(
        base=base(request),
        csrf_token=csrf_token(request),
        user=request.session.get("user"),
        flash=request.session.pop("flash", None),
    )
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=SECURITY_HEADERS
    )


def json_response(payload: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status_code, headers={"Cache-Control": "no-store"})


async def read_form(request: Request) -> dict[str, list[str]]:
    """The url-encoded body (what the dashboard's forms and fetch calls send), read once."""
    cached = getattr(request.state, "form", None)
    if cached is not None:
        return dict(cached)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            break
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    request.state.form = form
    return dict(form)


def first(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0].strip()


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def page(handler: Handler) -> Handler:
    """A page: redirect to the login form when there is no session."""

    async def guarded(request: Request) -> Response:
        if not logged_in(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            query = urlencode({"next": target})
            return RedirectResponse(f"{base(request)}/login?{query}", status_code=303)
        return await handler(request)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


def api(handler: Handler) -> Handler:
    """A JSON endpoint: 401 without a session (scripts polling it must not follow redirects)."""

    async def guarded(request: Request) -> Response:
        if not logged_in(request):
            return json_response({"error": "login required"}, 401)
        return await handler(request)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


async def csrf_ok(request: Request) -> bool:
    expected = request.session.get("csrf")
    given = request.headers.get("x-csrf-token") or first(await read_form(request), "csrf_token")
    return isinstance(expected, str) and bool(given) and secrets.compare_digest(expected, given)


def forbidden(request: Request) -> Response:
    if wants_json(request) or "x-csrf-token" in request.headers:
        return json_response({"error": "CSRF token missing or wrong"}, 403)
    return render(
        request,
        "error.html",
        403,
        title="Forbidden",
        message="CSRF token missing or wrong: reload the page and try again.",
    )


def action(handler: Handler) -> Handler:
    """A POST that changes something: needs a session and the session's CSRF token."""

    async def guarded(request: Request) -> Response:
        if not logged_in(request):
            if wants_json(request) or "x-csrf-token" in request.headers:
                return json_response({"error": "login required"}, 401)
            return RedirectResponse(f"{base(request)}/login", status_code=303)
        if not await csrf_ok(request):
            return forbidden(request)
        return await handler(request)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*")


def parse_time(text: str, now: datetime | None = None) -> datetime | None:
    """``15m``/``2h``/``7d`` ago, or an ISO time (a ``datetime-local`` input; naive is UTC);
    empty is None. Raises ValueError on anything else."""
    if not text.strip():
        return None
    match = _DURATION.fullmatch(text)
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]
        return (now or datetime.now(UTC)) - timedelta(**{unit: float(match[1])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration (15m, 2h, 7d) nor an ISO time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def safe_next(request: Request, target: str, fallback: str) -> str:
    """A redirect target inside the dashboard only (no open redirect to another site)."""
    root = base(request) + "/"
    if target.startswith(root) and not target.startswith("//") and "\\" not in target:
        return target
    return fallback


def age_s(moment: datetime | None, now: datetime | None = None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - moment).total_seconds()


def seconds_text(value: float | None) -> str:
    """``850 ms``, ``12.4 s``, ``3 min 5 s``, ``2 h 7 min``; an em dash when unknown."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{int(value // 60)} min {int(value % 60)} s"
    return f"{int(value // 3600)} h {int(value % 3600 // 60)} min"


templates.env.filters["seconds"] = seconds_text
