"""Login and logout: one operator account from settings, compared in constant time.

No password configured means nobody can log in (the dashboard replays and purges jobs, so
it must never be open by accident). The login form itself carries a CSRF token, so another
site cannot log a browser into an account of its choosing.
"""

from __future__ import annotations

import hmac
import logging
import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from functions.dashboard.web import (
    action,
    base,
    csrf_ok,
    first,
    forbidden,
    logged_in,
    read_form,
    render,
    safe_next,
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
    if logged_in(request):
        return RedirectResponse(f"{base(request)}/", status_code=303)
    return render(
        request,
        "login.html",
        next=request.query_params.get("next", ""),
        disabled=get_settings().dashboard_password is None,
    )


async def login(request: Request) -> Response:
    if not await csrf_ok(request):
        return forbidden(request)
    form = await read_form(request)
    username, password = first(form, "username"), (form.get("password") or [""])[0]
    target = safe_next(request, first(form, "next"), f"{base(request)}/")
    disabled = get_settings().dashboard_password is None
    if not credentials_match(username, password):
        log.warning("dashboard login refused", extra={"username": username[:100]})
        message = (
            "Login is disabled: set HEAVYLIFT_DASHBOARD_PASSWORD."
            if disabled
            else "Wrong username or password."
        )
        return render(
            request,
            "login.html",
            401,
            error=message,
            next=target,
            username=username,
            disabled=disabled,
        )
    request.session.clear()  # a fresh session: no fixation of a pre-login one
    request.session["user"] = username
    request.session["csrf"] = secrets.token_urlsafe(32)
    log.info("dashboard login", extra={"username": username})
    return RedirectResponse(target, status_code=303)


@action
async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse(f"{base(request)}/login", status_code=303)
