"""What every dashboard handler shares: templates, login and CSRF guards, forms, redirects.

The dashboard is an operator tool on the same origin as the API, so it is closed by default:
pages redirect to the login form, JSON endpoints answer 401, and every POST must carry the
session's CSRF token (a form field or the ``X-CSRF-Token`` header) or gets a 403.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from functions.dashboard.session import csrf_token, current, looked_up

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
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

Handler = Callable[[Request], Awaitable[Response]]


def base(request: Request) -> str:
    """Where the dashboard is mounted (``/dashboard``), for links and redirects."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    session = looked_up(request)
    context.update(
        base=base(request),
        csrf_token=csrf_token(request),
        user=session.user if session else None,
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
        if await current(request) is None:
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
        if await current(request) is None:
            return json_response({"error": "login required"}, 401)
        return await handler(request)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


async def csrf_ok(request: Request) -> bool:
    """The session's token (or, logged out, the login form's) was sent back."""
    session = await current(request)
    expected = session.csrf if session else request.session.get("csrf")
    given = request.headers.get("x-csrf-token") or first(await read_form(request), "csrf_token")
    if not (isinstance(expected, str) and given):
        return False
    # Bytes: compare_digest refuses str with non-ASCII characters (a 500, not a 403).
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))


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
        if await current(request) is None:
            if wants_json(request) or "x-csrf-token" in request.headers:
                return json_response({"error": "login required"}, 401)
            return RedirectResponse(f"{base(request)}/login", status_code=303)
        if not await csrf_ok(request):
            return forbidden(request)
        return await handler(request)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


# Characters browsers drop or rewrite in URLs (C0 controls, DEL; "\\" becomes "/").
_URL_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")
_MAX_DECODINGS = 4


def safe_next(request: Request, target: str, fallback: str) -> str:
    """A redirect target inside the dashboard only: a path under it, with no ``.``/``..``
    segment, backslash or control character however often it is percent-decoded (browsers
    resolve ``%2e%2e`` as ``..``; a proxy may decode once more)."""
    root = base(request) + "/"
    if not target.startswith(root) or target.startswith("//") or _URL_UNSAFE.search(target):
        return fallback
    path = urlsplit(target).path
    for _ in range(_MAX_DECODINGS):
        segments = path.split("/")
        if _URL_UNSAFE.search(path) or "." in segments or ".." in segments:
            return fallback
        decoded = unquote(path)
        if decoded == path:
            return target
        path = decoded
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
