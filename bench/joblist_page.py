"""The dashboard's job-list *page* at both sizes: the same filtered ``GET /dashboard/jobs``
through the real Starlette app (login, session, job index, template), in process.

Settings are per process, so the two namespaces are measured in alternating blocks: switch
the namespace, make one untimed request, then time a few. Load from elsewhere on the
machine thus hits both sizes alike, as in ``bench.joblist``.
"""

from __future__ import annotations

import os
import re
import statistics
import time

from starlette.testclient import TestClient

from functions.http import app
from functions.producer import get_producer
from heavylift.config import get_settings

PASSWORD = "bench-password"
PER_BLOCK = 5


def _use(redis_url: str, namespace: str) -> TestClient:
    os.environ.update(
        HEAVYLIFT_REDIS_URL=redis_url,
        HEAVYLIFT_NAMESPACE=namespace,
        HEAVYLIFT_DASHBOARD_PASSWORD=PASSWORD,
        HEAVYLIFT_DASHBOARD_SESSION_SECRET="bench-session-secret",
    )
    get_settings.cache_clear()
    get_producer.cache_clear()
    client = TestClient(app, follow_redirects=False)
    page = client.get("/dashboard/login").text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert token, page
    form = {"username": "admin", "password": PASSWORD, "csrf_token": token[1], "next": ""}
    assert client.post("/dashboard/login", data=form).status_code == 303
    return client


def time_pages(redis_url: str, namespaces: list[str], query: str, calls: int) -> dict[str, float]:
    """Median milliseconds of ``GET /dashboard/jobs?<query>`` per namespace."""
    samples: dict[str, list[float]] = {ns: [] for ns in namespaces}
    path = f"/dashboard/jobs?{query}"
    while min(len(s) for s in samples.values()) < calls:
        for ns in namespaces:
            client = _use(redis_url, ns)
            assert client.get(path).status_code == 200  # untimed: connections, templates
            for _ in range(PER_BLOCK):
                began = time.perf_counter()
                response = client.get(path)
                samples[ns].append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200 and "data-job-id" in response.text
            client.close()
    return {ns: statistics.median(values) for ns, values in samples.items()}
