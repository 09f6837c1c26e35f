"""SSRF-safe callbacks: ``post_json`` sends the body and headers, and nothing more.

The caller cannot override the ``Host``, ``Content-Type`` or ``Content-Length`` the request is
framed with, redirects are returned rather than followed, error statuses are returned, and
private targets are refused without connecting.
"""

from __future__ import annotations

import pytest

from heavylift.errors import UrlRefused
from heavylift.net.safe_http import UrlPolicy, post_json
from tests.unit.http_servers import Server, redirect, status
from tests.unit.safe_http.helpers import DNS, FakeDns, local_policy

# Callbacks.


def test_post_json_sends_body_and_headers(server: Server) -> None:
    server.routes["/hook"] = status(204)
    body = b'{"job_id": "j1", "status": "succeeded"}'
    headers = {
        "webhook-id": "msg_1",
        "webhook-signature": "v1,abc=",
        "host": "evil.example",
        "content-type": "application/json; charset=utf-8",
        "content-length": "1",
    }
    dns = FakeDns({"hooks.example": ["127.0.0.1"]})
    url = f"http://hooks.example:{server.port}/hook?token=t"
    assert post_json(url, body, headers, local_policy(server), resolver=dns) == 204
    [request] = server.requests
    assert (request.method, request.path, request.body) == ("POST", "/hook?token=t", body)
    assert request.headers["webhook-signature"] == "v1,abc="
    names = [name.lower() for name, _ in request.header_list]
    assert names.count("host") == names.count("content-type") == names.count("content-length") == 1
    assert request.headers["host"] == f"hooks.example:{server.port}"  # never the caller's
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["content-length"] == str(len(body))


def test_post_json_defaults_the_content_type(server: Server) -> None:
    server.routes["/hook"] = status(200)
    assert post_json(server.url("/hook"), b"{}", {}, local_policy(server)) == 200
    assert server.requests[0].headers["content-type"] == "application/json"


def test_post_json_does_not_follow_redirects(server: Server) -> None:
    server.routes["/hook"] = redirect("/elsewhere", code=307)
    server.routes["/elsewhere"] = status(200)
    assert post_json(server.url("/hook"), b"{}", {}, local_policy(server)) == 307
    assert [r.path for r in server.requests] == ["/hook"]


def test_post_json_returns_error_statuses(server: Server) -> None:
    server.routes["/hook"] = status(500)
    assert post_json(server.url("/hook"), b"{}", {}, local_policy(server)) == 500


def test_post_json_refuses_private_targets(connections: list[tuple[str, int]]) -> None:
    dns = FakeDns(DNS)  # type: ignore[arg-type]
    for url in (
        "https://169.254.169.254/latest/meta-data/",
        "https://private.example/hook",
        "https://[::1]/hook",
        "https://localhost/hook",
    ):
        with pytest.raises(UrlRefused):
            post_json(url, b"{}", {}, UrlPolicy(), resolver=dns)
    assert connections == []
