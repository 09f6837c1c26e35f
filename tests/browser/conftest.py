"""Fixtures for the browser tests: the real stack (redis-server, moto, the SQS poller, the
API with its dashboard under uvicorn, and a worker) and headless Chromium driven by
Playwright.

Chromium is Debian's ``chromium`` package (``make browser-deps``, run by ``make setup``),
launched through ``executable_path``; ``playwright install`` and its download are never
used. Without it the tests fail, with a message saying how to install it: they never skip.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from heavylift.config import Settings
from infra.devstack import LocalStack
from infra.provision import aws_client

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

CHROMIUM = Path(os.environ.get("BROWSER_TESTS_CHROMIUM", "/usr/bin/chromium"))
VIEWPORT = {"width": 1280, "height": 800}
# `make screenshots` points this at docs/screenshots; an ordinary test run must not rewrite
# tracked files, so it saves them in the temp dir.
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "heavylift-screenshots"
)
OVERVIEW = re.compile(r"/dashboard/?(\?.*)?$")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "browser: drives the dashboard in headless Chromium (Debian's chromium, "
        "installed by `make browser-deps`) against the real stack",
    )


def _chromium_problem() -> str | None:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return (
            f"Chromium not found at {CHROMIUM}: the browser tests need Debian's chromium "
            "package. Install it with `make browser-deps` (run by `make setup` / `make test`), "
            "i.e. `apt-get install chromium`."
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return (
            "The Python package `playwright` is missing: run `make setup` "
            "(it is pinned in requirements.txt). Do not run `playwright install`: the tests "
            f"use {CHROMIUM}."
        )
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    problem = _chromium_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"],  # root in a container
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[LocalStack]:
    # ``browser`` first: without Chromium, fail before spending seconds on the stack.
    local = LocalStack(
        tmp_path_factory.mktemp("browser"), worker_processes=1, worker_threads=2
    ).start()
    yield local
    local.stop()


@pytest.fixture(scope="module")
def settings(stack: LocalStack) -> Settings:
    return stack.settings()


@pytest.fixture(scope="module")
def s3(stack: LocalStack) -> Any:
    """Straight to moto: for putting objects where webhook jobs read them."""
    return aws_client("s3", stack.moto_url, "us-east-1")


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=10, headers=stack.auth_headers) as client:
        yield client


@pytest.fixture(scope="module")
def credentials(stack: LocalStack) -> tuple[str, str]:
    env = stack.env
    return (
        env.get("HEAVYLIFT_DASHBOARD_USERNAME", "admin"),
        env["HEAVYLIFT_DASHBOARD_PASSWORD"],
    )


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) with a 1280×800 viewport."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def expect() -> Any:
    """Playwright's ``expect``, imported lazily so a missing package fails the tests with a
    clear message (from ``browser``) instead of breaking collection of the whole suite."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def log_in(page: Page, base_url: str, username: str, password: str) -> int:
    """Open the login form, fill it in and submit it (without checking where it lands); the
    status of the form's answer (303 once in: the redirect's)."""
    page.goto(f"{base_url}/dashboard/login")
    return submit_login(page, username, password)


def submit_login(page: Page, username: str, password: str) -> int:
    """``log_in`` on the login form already shown (after a refusal, say)."""
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        with page.expect_navigation():  # a form POST: the answer is a new page
            page.click("#login")
    return answer.value.status


@pytest.fixture
def logged_in(page: Page, stack: LocalStack, credentials: tuple[str, str], expect: Any) -> Page:
    """``page``, logged in to the dashboard and on the overview."""
    log_in(page, stack.api_url, *credentials)
    expect(page).to_have_url(OVERVIEW)
    return page


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_job(
    api: httpx.Client, job_id: str, check: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        response = api.get(f"/v1/jobs/{job_id}")
        if response.status_code == 200:
            body = response.json()
            if check(body):
                return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id}: condition not reached in {timeout}s; last {body}")


def dead_letter_row(page: Page, stack: LocalStack, job_id: str) -> Locator:
    """The dead-letter page's row of ``job_id``, reloading until it shows (the letter is
    written right after the job's record)."""
    letter = page.locator("tr[data-letter-id]", has_text=job_id)
    page.goto(f"{stack.api_url}/dashboard/dead-letters")
    for _ in range(50):
        if letter.count():
            break
        page.wait_for_timeout(200)
        page.reload()
    return letter
