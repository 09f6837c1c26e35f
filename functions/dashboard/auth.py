"""Login and logout: one operator account from settings, compared in constant time.

No password configured means nobody can log in (the dashboard replays and purges jobs, so
it must never be open by accident). The login form itself carries a CSRF token, so another
site cannot log a browser into an account of its choosing. Tries are throttled per client
address and user name (``heavylift.state.login_throttle``): a try that comes too early gets a 429
with ``Retry-After`` and its password is never looked at. A login starts a new server-side
session (``heavylift.state.sessions``); logout deletes it.
"""

from __future__ import annotations

import hmac
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from functions.dashboard.session import current, end, login_throttle, start
from functions.dashboard.web import (
    action,
    base,
    csrf_ok,
    first,
    forbidden,
    json_response,
    read_form,
    render,
    safe_next,
    wants_json,
)
from heavylift.config import get_settings

log = logging.getLogger(__name__)


def credentials_match(username: str, password: str) -> bool:
    """Both compared, always, in constant time: timing tells nothing about which was wrong."""
    settings = get_settings()
    if settings.dashboard_password is None:
        return False
    expected_password = settings.dashboard_password.get_secret_value()
    user_ok = hmac.compare_digest(username.encode(), settings.dashboard_username.encode())
    password_ok = hmac.compare_digest(password.encode(), expected_password.encode())
    return user_ok and password_ok and bool(expected_password)


async def login_form(request: Request) -> Response:
    if await current(request) is not None:
        return RedirectResponse(f"{base(request)}/", status_code=303)
    return render(
        request,
        "login.html",
        next=safe_next(request, request.query_params.get("next", ""), ""),
        disabled=get_settings().dashboard_password is None,
    )


def _refused(
    request: Request,
    status: int,
    *,
    error: str,
    message: str,
    target: str,
    username: str,
    wait_s: int = 0,
) -> Response:
    """JSON (``error``) for scripts, else the login form again, refilled and saying
    ``message``. A 429 says when to try again."""
    if wants_json(request):
        payload: dict[str, object] = {"error": error}
        if wait_s:
            payload["retry_after_s"] = wait_s
        response: Response = json_response(payload, status)
    else:
        disabled = get_settings().dashboard_password is None
        response = render(
            request,
            "login.html",
            status,
            error=message,
            next=target,
            username=username,
            disabled=disabled,
        )
    if wait_s:
        response.headers["Retry-After"] = str(wait_s)
    return response


async def login(request: Request) -> Response:
    if not await csrf_ok(request):
        return forbidden(request)
    form = await read_form(request)
    username, password = first(form, "username"), (form.get("password") or [""])[0]
    target = safe_next(request, first(form, "next"), f"{base(request)}/")
    address = request.client.host if request.client else None
    throttle = login_throttle()
    wait_s = await run_in_threadpool(throttle.admit, address, username)
    if wait_s:
        log.warning(
            "dashboard login throttled",
            extra={"username": username[:100], "address": address, "retry_after_s": wait_s},
        )
        unit = "second" if wait_s == 1 else "seconds"
        message = f"Too many failed logins: try again in {wait_s} {unit}."
        return _refused(
            request,
            429,
            error="too many failed logins",
            message=message,
            target=target,
            username=username,
            wait_s=wait_s,
        )
    if not credentials_match(username, password):
        log.warning("dashboard login refused", extra={"username": username[:100]})
        if get_settings().dashboard_password is None:
            message = "Login is disabled: set HEAVYLIFT_DASHBOARD_PASSWORD."
        else:
            message = "Wrong username or password."
        error = message.rstrip(".")
        return _refused(
            request, 401, error=error, message=message, target=target, username=username
        )
    await run_in_threadpool(throttle.succeeded, address, username)
    await start(request, username)
    log.info("dashboard login", extra={"username": username, "address": address})
    return RedirectResponse(target, status_code=303)


@action
async def logout(request: Request) -> Response:
    await end(request)
    return RedirectResponse(f"{base(request)}/login", status_code=303)
