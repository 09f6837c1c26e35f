"""The dashboard's session and escaping in a real browser (headless Chromium), against the
real stack: a cookie copied before logout is refused after it, a burst of wrong passwords
makes the form ask to wait (429) even for the right one, and a job key or error message
carrying markup shows as text on every page, including the rows the page's own polling
redraws.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import redis

from heavylift.config import Settings
from heavylift.state.keys import Layout
from heavylift.state.login_throttle import address_key
from infra.devstack import SOURCES_BUCKET, LocalStack

from .conftest import OVERVIEW, VIEWPORT, dead_letter_row, log_in, submit_login, wait_for_job

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page

pytestmark = pytest.mark.browser

LOGIN = re.compile(r"/dashboard/login")
IMG = '"><img src=x onerror=alert(1)>'
SCRIPT = "<script>alert(1)</script>"
AS_TEXT = "<img src=x onerror=alert(1)><script>alert(1)</script>"  # (JSON escapes the quote)
ATTEMPTS = 5  # HEAVYLIFT_DASHBOARD_LOGIN_ATTEMPTS: the stack keeps the default


@pytest.fixture
def forget_failures(settings: Settings, credentials: tuple[str, str]) -> Iterator[None]:
    """Whatever a test leaves, the next login from this machine is not throttled."""
    yield
    layout = Layout(settings.namespace)
    client = redis.Redis.from_url(settings.redis_url)
    client.delete(
        layout.login_failures_by_address(address_key("127.0.0.1")),
        layout.login_failures_by_user(credentials[0]),
    )
    client.close()


def test_a_cookie_copied_before_logout_is_refused_after_it(
    logged_in: Page, browser: Browser, stack: LocalStack, expect: Any
) -> None:
    page = logged_in
    copied = page.context.cookies()
    (session,) = [c for c in copied if c["name"] == "heavylift_dashboard"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert not session["secure"]  # the local stack serves plain http

    page.click("#logout")
    expect(page).to_have_url(LOGIN)
    now = [c["value"] for c in page.context.cookies() if c["name"] == "heavylift_dashboard"]
    assert session["value"] not in now  # replaced (by the login form's, with no session)

    thief = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        thief.add_cookies(copied)  # type: ignore[arg-type]
        stolen = thief.new_page()
        stolen.goto(f"{stack.api_url}/dashboard/jobs")
        expect(stolen).to_have_url(LOGIN)
        assert stolen.request.get(f"{stack.api_url}/dashboard/api/jobs").status == 401
    finally:
        thief.close()


def test_wrong_passwords_make_the_form_ask_to_wait(
    page: Page,
    stack: LocalStack,
    credentials: tuple[str, str],
    expect: Any,
    forget_failures: None,
) -> None:
    username, password = credentials
    for n in range(ATTEMPTS):
        assert log_in(page, stack.api_url, username, f"{password}-wrong-{n}") == 401
    # The right password, well within the first one-second wait: refused unchecked.
    assert submit_login(page, username, password) == 429
    expect(page).to_have_url(LOGIN)
    expect(page.locator("#error")).to_contain_text(re.compile(r"try again in \d+ seconds?"))
    expect(page.locator("#login-form")).to_be_visible()

    time.sleep(1.1)  # the first wait is one second
    assert log_in(page, stack.api_url, username, password) == 303
    expect(page).to_have_url(OVERVIEW)


def test_markup_in_a_key_and_its_error_shows_as_text_everywhere(
    logged_in: Page, stack: LocalStack, api: httpx.Client, expect: Any
) -> None:
    page = logged_in
    dialogs: list[str] = []
    refused: list[str] = []  # what the CSP would have had to block, had markup got in

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda m: refused.append(m.text) if "Refused" in m.text else None)

    key = f"xss-{uuid.uuid4().hex[:8]}-{IMG}{SCRIPT}.jpg"
    response = api.post("/v1/jobs", json={"source": {"bucket": SOURCES_BUCKET, "key": key}})
    assert response.status_code == 202, response.text
    job_id = str(response.json()["job_id"])
    wait_for_job(api, job_id, lambda job: job["state"] in ("failed", "dead"), 60)

    def assert_inert(where: str, shows_key: bool = True) -> None:
        assert page.locator("img[src=x]").count() == 0, where
        assert page.locator("script:not([src])").count() == 0, where
        if shows_key:
            assert AS_TEXT in page.locator("body").inner_text(), where

    page.goto(f"{stack.api_url}/dashboard/jobs")
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    expect(row).to_have_count(1)
    assert_inert("jobs, as served")
    page.wait_for_timeout(2500)  # one poll: the rows are redrawn from /api/jobs
    expect(row).to_contain_text(IMG + SCRIPT)
    assert_inert("jobs, redrawn")

    page.goto(f"{stack.api_url}/dashboard/jobs/{job_id}")
    assert_inert("job")

    letter = dead_letter_row(page, stack, job_id)
    expect(letter).to_have_count(1)
    page.wait_for_timeout(2500)  # one poll: the table body is replaced from a fresh page
    assert_inert("dead letters", shows_key=False)  # it shows the job, not its key
    letter.locator("a").first.click()
    expect(page).to_have_url(re.compile(r"/dashboard/dead-letters/."))
    assert_inert("dead letter")

    assert dialogs == [] and refused == []
