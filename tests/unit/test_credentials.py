"""Who may submit work over the internet: webhook secrets, bearer API keys, the authenticator.

Secrets are parsed without ever being echoed, bearer keys are compared exactly, and the
``Authenticator`` that ``POST /v1/jobs`` uses accepts a valid signature or a valid key, reports
why a request was refused, rotates secrets and keys from the environment, and refuses
everything when nothing is configured.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable

import pytest

from heavylift.config import Settings
from heavylift.errors import InvalidSignature, PermanentError, Unauthorized
from heavylift.net.credentials import Authenticator, Principal, Scope, check_bearer
from heavylift.net.signatures import WebhookSecret, key_id, signature_headers
from tests.unit.webhook_helpers import BODY, VECTOR_SECRET

# Secrets.


@pytest.mark.parametrize(
    "text", ["", "whsec_", "   ", "whsec_not base64!", "whsec_abc$def", "whsec_Zq9Xk"]
)
def test_bad_secrets_are_refused_without_echoing_them(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        WebhookSecret.parse(text)
    if text.removeprefix("whsec_").strip():
        assert text.removeprefix("whsec_") not in str(caught.value)


def test_secrets_never_show_in_repr() -> None:
    secret = WebhookSecret.parse(VECTOR_SECRET)
    raw = base64.b64decode(VECTOR_SECRET.removeprefix("whsec_"))
    assert "MfKQ9r8G" not in repr(secret)
    assert repr(secret) == f"WebhookSecret(key_id='{hashlib.sha256(raw).hexdigest()[:8]}')"


def test_generated_secrets_are_fresh_and_usable() -> None:
    first, second = WebhookSecret.generate(), WebhookSecret.generate()
    assert first != second and first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 24


# Bearer API keys.

KEY_A = "hl_live_" + "a" * 32
KEY_B = "hl_live_" + "b" * 32


@pytest.mark.parametrize(
    ("authorization", "keys", "ok"),
    [
        (f"Bearer {KEY_A}", [KEY_A], True),
        (f"bearer {KEY_A}", [KEY_A], True),
        (f"BEARER  {KEY_A} ", [KEY_A], True),
        (f"Bearer {KEY_A}", [KEY_B, KEY_A], True),
        (f"Bearer {KEY_B}", [KEY_B, KEY_A], True),
        (f"Bearer {KEY_B}", [KEY_A], False),
        (f"Bearer {KEY_A}x", [KEY_A], False),
        (f"Bearer {KEY_A[:-1]}", [KEY_A], False),
        (None, [KEY_A], False),
        ("", [KEY_A], False),
        ("Bearer", [KEY_A], False),
        ("Bearer ", [KEY_A, ""], False),
        (KEY_A, [KEY_A], False),
        (f"Basic {KEY_A}", [KEY_A], False),
        (f"Token {KEY_A}", [KEY_A], False),
        (f"Bearer {KEY_A}", [], False),
        ("Bearer é", ["é"], True),
    ],
)
def test_check_bearer(authorization: str | None, keys: list[str], ok: bool) -> None:
    assert check_bearer(authorization, keys) is ok


# The authenticator that POST /v1/jobs uses.


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def signed(secret: str, msg_id: str = "msg_1", body: bytes = BODY, **extra: str) -> dict[str, str]:
    return {**signature_headers(secret, msg_id, body), **extra}


@pytest.fixture
def secret() -> str:
    return WebhookSecret.generate()


@pytest.fixture
def auth(secret: str) -> Authenticator:
    return Authenticator.from_settings(settings(webhook_secrets=[secret], api_keys=[KEY_A]))


def test_signed_request_gives_a_signature_principal(auth: Authenticator, secret: str) -> None:
    principal = auth.authenticate(signed(secret), BODY)
    fingerprint = WebhookSecret.parse(secret).key_id
    assert principal == Principal(
        method="signature",
        webhook_id="msg_1",
        key_id=fingerprint,
        client=fingerprint,
        scopes=frozenset({Scope.SUBMIT_JOBS}),
    )
    assert len(principal.key_id) == 8 and int(principal.key_id, 16) >= 0


def test_replayed_request_names_the_same_webhook_id(auth: Authenticator, secret: str) -> None:
    """Within the tolerance a replay passes, with the id that makes it the same job."""
    headers = signed(secret, "msg_retry")
    assert (
        auth.authenticate(headers, BODY).webhook_id
        == auth.authenticate(headers, BODY).webhook_id
        == "msg_retry"
    )


def test_bearer_request_gives_an_api_key_principal(auth: Authenticator) -> None:
    principal = auth.authenticate({"Authorization": f"Bearer {KEY_A}"}, BODY)
    assert principal == Principal(
        method="api_key",
        webhook_id=None,
        key_id=key_id(KEY_A),
        client=key_id(KEY_A),
        scopes=frozenset({Scope.SUBMIT_JOBS}),
    )
    assert KEY_A[:8] not in principal.model_dump_json()


def test_unsigned_request_is_refused(auth: Authenticator) -> None:
    with pytest.raises(Unauthorized, match="missing credentials"):
        auth.authenticate({"content-type": "application/json"}, BODY)


def test_wrong_key_is_refused(auth: Authenticator) -> None:
    with pytest.raises(Unauthorized, match="invalid API key"):
        auth.authenticate({"authorization": f"Bearer {KEY_B}"}, BODY)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda h: {**h, "webhook-id": "msg_2"}, "no matching signature"),
        (lambda h: {**h, "webhook-timestamp": str(int(time.time()) - 3600)}, "too old"),
        (lambda h: {k: v for k, v in h.items() if k != "webhook-signature"}, "missing header"),
    ],
)
def test_bad_signature_reports_its_reason(
    auth: Authenticator,
    secret: str,
    tamper: Callable[[dict[str, str]], dict[str, str]],
    reason: str,
) -> None:
    with pytest.raises(InvalidSignature, match=reason):
        auth.authenticate(tamper(signed(secret)), BODY)


def test_bad_signature_with_valid_bearer_is_accepted_as_api_key(
    auth: Authenticator, secret: str
) -> None:
    """Either method suffices: a key holder could drop the bad signature and get in anyway.
    The unverified webhook-id is not passed on."""
    headers = signed(secret, authorization=f"Bearer {KEY_A}")
    principal = auth.authenticate(headers, BODY + b"tampered")
    assert principal.method == "api_key" and principal.webhook_id is None


def test_bad_signature_with_wrong_bearer_reports_the_signature(
    auth: Authenticator, secret: str
) -> None:
    headers = signed(secret, authorization=f"Bearer {KEY_B}")
    with pytest.raises(InvalidSignature, match="no matching signature"):
        auth.authenticate(headers, BODY + b"tampered")


def test_valid_signature_wins_over_a_bearer(auth: Authenticator, secret: str) -> None:
    principal = auth.authenticate(signed(secret, authorization=f"Bearer {KEY_A}"), BODY)
    assert principal.method == "signature" and principal.webhook_id == "msg_1"


def test_rotation_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = WebhookSecret.generate(), WebhookSecret.generate()
    monkeypatch.setenv("HEAVYLIFT_WEBHOOK_SECRETS", f"{new}, {old}")
    monkeypatch.setenv("HEAVYLIFT_API_KEYS", f"{KEY_B},{KEY_A}")
    auth = Authenticator.from_settings(settings())
    for sender in (old, new):
        assert auth.authenticate(signed(sender), BODY).key_id == WebhookSecret.parse(sender).key_id
    for key in (KEY_A, KEY_B):
        assert auth.authenticate({"authorization": f"Bearer {key}"}, BODY).key_id == key_id(key)


def test_tolerance_comes_from_settings(secret: str) -> None:
    auth = Authenticator.from_settings(settings(webhook_secrets=[secret], webhook_tolerance_s=10))
    headers = signature_headers(secret, "m", BODY, int(time.time()) - 60)
    with pytest.raises(InvalidSignature, match="too old"):
        auth.authenticate(headers, BODY)
    assert auth.authenticate(headers, BODY, now=time.time() - 55).webhook_id == "m"


def test_nothing_configured_refuses_everything(secret: str) -> None:
    """Safe by default: no secrets and no keys means no way in, not an open door."""
    auth = Authenticator.from_settings(settings())
    for headers in (
        signed(secret),
        {"authorization": f"Bearer {KEY_A}"},
        {},
        {"authorization": "Bearer "},
    ):
        with pytest.raises(Unauthorized, match="no webhook secrets or API keys"):
            auth.authenticate(headers, BODY)


def test_keys_only_refuses_signed_requests(secret: str) -> None:
    auth = Authenticator.from_settings(settings(api_keys=[KEY_A]))
    with pytest.raises(InvalidSignature, match="no matching signature"):
        auth.authenticate(signed(secret), BODY)


def test_secrets_only_refuses_bearer_requests(secret: str) -> None:
    auth = Authenticator.from_settings(settings(webhook_secrets=[secret]))
    with pytest.raises(Unauthorized, match="invalid API key"):
        auth.authenticate({"authorization": f"Bearer {KEY_A}"}, BODY)
    with pytest.raises(Unauthorized):
        auth.authenticate({"authorization": "Bearer "}, BODY)


def test_malformed_configured_secret_stops_startup_without_echoing_it(secret: str) -> None:
    bad = "whsec_this is not base64!"
    with pytest.raises(ValueError, match="entry 2") as caught:
        Authenticator.from_settings(settings(webhook_secrets=[secret, bad]))
    assert "this is not" not in str(caught.value)


def test_refusals_are_permanent_401_errors() -> None:
    assert issubclass(InvalidSignature, Unauthorized) and issubclass(Unauthorized, PermanentError)
    error = InvalidSignature("too old")
    assert (error.code, error.reason, str(error)) == ("invalid_signature", "too old", "too old")
    assert Unauthorized("x").code == "unauthorized"


# Scopes and clients.


def test_each_list_grants_its_scope_and_a_key_in_several_has_them_all() -> None:
    auth = Authenticator.from_settings(
        settings(api_keys=[KEY_A], event_keys=[KEY_A, KEY_B], operator_keys=[KEY_B])
    )
    both = auth.authenticate({"authorization": f"Bearer {KEY_A}"}, BODY)
    assert both.scopes == {Scope.SUBMIT_JOBS, Scope.POST_EVENTS}
    other = auth.authenticate({"authorization": f"Bearer {KEY_B}"}, BODY)
    assert other.scopes == {Scope.POST_EVENTS, Scope.READ_UPLOAD_JOBS}


def test_a_client_name_prefix_names_the_owner_not_the_key(secret: str) -> None:
    auth = Authenticator.from_settings(
        settings(webhook_secrets=[f"acme:{secret}"], api_keys=[f"acme:{KEY_A}", KEY_B])
    )
    assert auth.authenticate(signed(secret), BODY).client == "acme"
    assert auth.authenticate({"authorization": f"Bearer {KEY_A}"}, BODY).client == "acme"
    assert auth.authenticate({"authorization": f"Bearer {KEY_B}"}, BODY).client == key_id(KEY_B)
    with pytest.raises(Unauthorized):  # the name is not part of the key
        auth.authenticate({"authorization": f"Bearer acme:{KEY_A}"}, BODY)


def test_one_key_named_for_two_clients_stops_startup() -> None:
    with pytest.raises(ValueError, match="two clients"):
        Authenticator.from_settings(settings(api_keys=[f"a:{KEY_A}"], event_keys=[f"b:{KEY_A}"]))
