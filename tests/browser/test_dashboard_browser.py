"""The dashboard in a real browser (headless Chromium): log in, watch a job go from queued
to succeeded on the jobs list without reloading the page, and replay a dead letter with its
button until the fixed job succeeds. Screenshots of every page are saved
(in docs/screenshots/ when run by `make screenshots`).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from heavylift.cli.api_client import upload_file
from heavylift.config import Settings
from infra.devstack import SOURCES_BUCKET, LocalStack
from infra.provision import aws_client
from infra.samples import write_sample

from .conftest import OVERVIEW, dead_letter_row, log_in, screenshot, wait_for_job

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

QUEUED = re.compile(r"\b(queued|running)\b")
SUCCEEDED = re.compile(r"\bsucceeded\b")
LOGIN_ERROR = re.compile(r"invalid|incorrect|wrong|failed|denied|not match", re.IGNORECASE)


def job_row(page: Page, job_id: str) -> Any:
    return page.locator(f'tr[data-job-id="{job_id}"]')


def test_logging_in(
    page: Page, stack: LocalStack, credentials: tuple[str, str], expect: Any
) -> None:
    username, password = credentials
    page.goto(f"{stack.api_url}/dashboard/jobs")  # closed without a session
    expect(page).to_have_url(re.compile(r"/dashboard/login"))

    log_in(page, stack.api_url, username, password + "-wrong")
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    expect(page.locator("body")).to_contain_text(LOGIN_ERROR)
    expect(page.locator("input[name=password]")).to_be_visible()

    log_in(page, stack.api_url, username, password)
    expect(page).to_have_url(OVERVIEW)
    expect(page.locator("#login")).to_have_count(0)


def test_a_job_goes_from_queued_to_succeeded_without_a_reload(
    logged_in: Page,
    stack: LocalStack,
    settings: Settings,
    api: httpx.Client,
    expect: Any,
    tmp_path: Path,
) -> None:
    page = logged_in
    worker = stack.services["worker"]
    worker.stop()  # hold the job in the queue, so the page sees it queued first
    try:
        photo = write_sample(tmp_path / "browser.jpg", 1600, 1200, seed=3)
        s3 = aws_client("s3", stack.s3_endpoint_url, "us-east-1")
        job_id = upload_file(s3, settings, photo, f"browser-{uuid.uuid4().hex[:8]}.jpg").job_id
        wait_for_job(api, job_id, lambda job: job["state"] == "queued", 30)

        page.goto(f"{stack.api_url}/dashboard/jobs")
        state = job_row(page, job_id).locator("td.state")
        expect(state).to_have_text(QUEUED)
        navigations: list[str] = []
        page.on(
            "framenavigated",
            lambda frame: navigations.append(frame.url) if frame == page.main_frame else None,
        )
        page.evaluate("window.__marker = 'still the same page'")
    finally:
        worker.start()

    expect(state).to_have_text(SUCCEEDED, timeout=60_000)  # by the page's own polling
    assert page.evaluate("window.__marker") == "still the same page"
    assert navigations == []
    screenshot(page, "jobs")

    row = job_row(page, job_id)
    if row.locator("a").count():
        row.locator("a").first.click()
    else:
        page.goto(f"{stack.api_url}/dashboard/jobs/{job_id}")
    expect(page).to_have_url(re.compile(re.escape(job_id)))
    expect(page.locator("body")).to_contain_text("succeeded")
    screenshot(page, "job")


def test_replaying_a_fixed_dead_letter_from_its_button(
    logged_in: Page,
    stack: LocalStack,
    api: httpx.Client,
    s3: Any,
    expect: Any,
    tmp_path: Path,
) -> None:
    page = logged_in
    page.on("dialog", lambda dialog: dialog.accept())  # should the button ask to confirm
    key = f"arrives-later-{uuid.uuid4().hex[:8]}.jpg"
    response = api.post("/v1/jobs", json={"source": {"bucket": SOURCES_BUCKET, "key": key}})
    assert response.status_code == 202, response.text
    job_id = str(response.json()["job_id"])
    failed = wait_for_job(api, job_id, lambda job: job["state"] in ("failed", "dead"), 60)
    assert failed["state"] == "failed" and failed["error"]["code"] == "not_found", failed

    letter = dead_letter_row(page, stack, job_id)
    expect(letter).to_have_count(1)
    expect(letter).to_contain_text("not_found")
    screenshot(page, "dead-letters")

    s3.upload_file(str(write_sample(tmp_path / "later.jpg", 800, 600)), SOURCES_BUCKET, key)
    letter.locator("button.replay").click()
    expect(page.locator("body")).to_contain_text("replayed 1")

    replayed = wait_for_job(api, job_id, lambda job: job["state"] == "succeeded", 60)
    assert replayed["replays"] == 1, replayed
    page.goto(f"{stack.api_url}/dashboard/jobs")
    expect(job_row(page, job_id).locator("td.state")).to_have_text(SUCCEEDED, timeout=30_000)

    page.goto(f"{stack.api_url}/dashboard/dead-letters")
    expect(page.locator("tr[data-letter-id]", has_text=job_id)).to_have_count(0)

    page.goto(f"{stack.api_url}/dashboard/")  # with both jobs behind it
    expect(page).to_have_url(OVERVIEW)
    screenshot(page, "overview")
