"""Standard Webhooks signatures and bearer API keys: who may submit work over the internet.

Interoperability is checked against the specification's published test vector and against the
official ``standardwebhooks`` package in both directions, so senders using any Standard
Webhooks library get in, and receivers of our callbacks can verify them with one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.datastructures import Headers

from heavylift.config import Settings
from heavylift.errors import PermanentError
from heavylift.webhooks import (
    Authenticator,
    InvalidSignature,
    Principal,
    Unauthorized,
    WebhookSecret,
    check_bearer,
    key_id,
    signature_headers,
    verify,
)

# The specification's test vector, as in the official libraries' tests (and reproduced by the
# installed package in test_vector_matches_the_official_package below).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

TOLERANCE = 300
BODY = json.dumps({"source": {"bucket": "b", "key": "cat é.jpg"}}).encode()


def vector_headers(**overrides: str) -> dict[str, str]:
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TS),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    headers.update({name.replace("_", "-"): value for name, value in overrides.items()})
    return headers


def verify_vector(
    headers: dict[str, str], body: bytes = VECTOR_BODY, now: float = VECTOR_TS
) -> str:
    return verify(
        headers, body, [WebhookSecret.parse(VECTOR_SECRET)], tolerance_s=TOLERANCE, now=now
    )


def official_headers(secret: str, msg_id: str, body: bytes, when: datetime) -> dict[str, str]:
    """Headers as a sender using the official package would build them."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, when, body.decode()),
    }


# The published test vector.


def test_vector_signs_as_published() -> None:
    secret = WebhookSecret.parse(VECTOR_SECRET)
    assert secret.sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE


def test_vector_verifies() -> None:
    assert verify_vector(vector_headers()) == VECTOR_ID


def test_vector_matches_the_official_package() -> None:
    """The constants above are the ones the reference implementation produces."""
    when = datetime.fromtimestamp(VECTOR_TS, tz=UTC)
    official = Webhook(VECTOR_SECRET).sign(VECTOR_ID, when, VECTOR_BODY.decode())
    assert official == VECTOR_SIGNATURE


def test_vector_secret_without_prefix_and_without_padding() -> None:
    """Bare base64 is accepted, as the official libraries accept it; padding may be dropped."""
    bare = VECTOR_SECRET.removeprefix("whsec_")
    assert WebhookSecret.parse(bare).sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE
    raw = base64.b64decode(bare)
    unpadded = "whsec_" + base64.b64encode(raw + b"x").decode().rstrip("=")
    assert WebhookSecret.parse(unpadded).key_id == key_id(raw + b"x")


# Round trips with the official package.


@pytest.mark.parametrize(
    "secret",
    [VECTOR_SECRET, WebhookSecret.generate(), WebhookSecret.generate().removeprefix("whsec_")],
)
def test_official_signatures_verify_with_ours(secret: str) -> None:
    headers = official_headers(secret, "msg_official", BODY, datetime.now(tz=UTC))
    assert (
        verify(headers, BODY, [WebhookSecret.parse(secret)], tolerance_s=TOLERANCE)
        == "msg_official"
    )


@pytest.mark.parametrize("secret", [VECTOR_SECRET, WebhookSecret.generate()])
def test_our_signatures_verify_with_the_official_package(secret: str) -> None:
    headers = signature_headers(secret, "job-callback-1", BODY)
    assert Webhook(secret).verify(BODY, headers, json_parse=False) is None
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_official_package_refuses_our_signature_over_another_body() -> None:
    headers = signature_headers(VECTOR_SECRET, "job-callback-1", BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(VECTOR_SECRET).verify(BODY + b" ", headers, json_parse=False)


def test_signature_headers_use_the_given_timestamp_and_a_parsed_secret() -> None:
    headers = signature_headers(
        WebhookSecret.parse(VECTOR_SECRET), VECTOR_ID, VECTOR_BODY, VECTOR_TS
    )
    assert headers == vector_headers()


def test_signature_headers_default_to_now() -> None:
    before = int(time.time())
    headers = signature_headers(VECTOR_SECRET, "m", b"{}")
    assert before <= int(headers["webhook-timestamp"]) <= int(time.time())


# Tampering, staleness and malformed headers.


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (vector_headers(), b'{"test": 2432232315}'),
        (vector_headers(), VECTOR_BODY + b"\n"),
        (vector_headers(), b""),
        (vector_headers(webhook_id="msg_other"), VECTOR_BODY),
        (vector_headers(webhook_timestamp=str(VECTOR_TS + 1)), VECTOR_BODY),
        (
            vector_headers(webhook_signature="v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="),
            VECTOR_BODY,
        ),
    ],
    ids=["body", "trailing-newline", "empty-body", "id", "timestamp", "signature"],
)
def test_tampering_is_refused(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(InvalidSignature, match="no matching signature"):
        verify_vector(headers, body)


def test_another_secret_is_refused() -> None:
    with pytest.raises(InvalidSignature, match="no matching signature"):
        verify(
            vector_headers(),
            VECTOR_BODY,
            [WebhookSecret(os.urandom(24))],
            tolerance_s=TOLERANCE,
            now=VECTOR_TS,
        )


def test_tolerance_is_inclusive_in_both_directions() -> None:
    assert verify_vector(vector_headers(), now=VECTOR_TS + TOLERANCE) == VECTOR_ID
    assert verify_vector(vector_headers(), now=VECTOR_TS - TOLERANCE) == VECTOR_ID


def test_stale_requests_are_refused() -> None:
    """A captured request cannot be replayed once it is older than the tolerance."""
    with pytest.raises(InvalidSignature, match="too old"):
        verify_vector(vector_headers(), now=VECTOR_TS + TOLERANCE + 1)


def test_future_requests_are_refused() -> None:
    with pytest.raises(InvalidSignature, match="too new"):
        verify_vector(vector_headers(), now=VECTOR_TS - TOLERANCE - 1)


def test_real_clock_refuses_the_2021_vector() -> None:
    with pytest.raises(InvalidSignature, match="too old"):
        verify(
            vector_headers(),
            VECTOR_BODY,
            [WebhookSecret.parse(VECTOR_SECRET)],
            tolerance_s=TOLERANCE,
        )


@pytest.mark.parametrize("name", ["webhook-id", "webhook-timestamp", "webhook-signature"])
@pytest.mark.parametrize("blank", [None, "", "   "])
def test_each_missing_header_is_named(name: str, blank: str | None) -> None:
    headers = vector_headers()
    if blank is None:
        del headers[name]
    else:
        headers[name] = blank
    with pytest.raises(InvalidSignature, match=f"missing header.*{name}"):
        verify_vector(headers)


def test_no_headers_at_all() -> None:
    with pytest.raises(InvalidSignature, match="webhook-id, webhook-timestamp, webhook-signature"):
        verify_vector({})


@pytest.mark.parametrize(
    "stamp",
    ["abc", "1614265330.0", "-1614265330", "1e9", "0x60374d72", "１６１４２６５３３０", "9" * 40],
)
def test_malformed_timestamps_are_refused(stamp: str) -> None:
    with pytest.raises(InvalidSignature, match="whole seconds"):
        verify_vector(vector_headers(webhook_timestamp=stamp))


@pytest.mark.parametrize("msg_id", ["msg\nX", "msg\x00", "é" * 3, "m" * 257])
def test_unusable_ids_are_refused(msg_id: str) -> None:
    """The id becomes an idempotency key and a log field: printable ASCII, bounded."""
    with pytest.raises(InvalidSignature, match="webhook-id"):
        verify_vector(vector_headers(webhook_id=msg_id))


@pytest.mark.parametrize(
    "signature",
    [
        "garbage",
        "v1",
        "v1,",
        "v1,!!!not-base64!!!",
        "v1;g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ",",
    ],
)
def test_malformed_signature_headers_are_refused(signature: str) -> None:
    with pytest.raises(InvalidSignature, match="no well-formed v1 signature"):
        verify_vector(vector_headers(webhook_signature=signature))


def test_other_versions_are_ignored_even_with_the_right_bytes() -> None:
    """``v1a`` (asymmetric) and unknown versions are skipped, never compared as HMACs."""
    digest = VECTOR_SIGNATURE.removeprefix("v1,")
    for version in ("v1a", "v2", "V1"):
        with pytest.raises(InvalidSignature, match="no well-formed v1 signature"):
            verify_vector(vector_headers(webhook_signature=f"{version},{digest}"))


@pytest.mark.parametrize("position", [0, 1, 2])
def test_several_signatures_with_one_valid(position: int) -> None:
    """A sender rotating its secret signs with both; any one valid v1 entry is enough."""
    others = [
        "v1," + base64.b64encode(os.urandom(32)).decode(),
        "v1a," + base64.b64encode(os.urandom(64)).decode(),
        "v1,!!junk!!",
    ]
    others.insert(position, VECTOR_SIGNATURE)
    assert verify_vector(vector_headers(webhook_signature=" ".join(others))) == VECTOR_ID


def test_several_signatures_none_valid() -> None:
    wrong = " ".join("v1," + base64.b64encode(os.urandom(32)).decode() for _ in range(3))
    with pytest.raises(InvalidSignature, match="no matching signature"):
        verify_vector(vector_headers(webhook_signature=wrong))


def test_several_secrets_rotation_on_our_side() -> None:
    old, new = WebhookSecret.generate(), WebhookSecret.generate()
    secrets = [WebhookSecret.parse(new), WebhookSecret.parse(old)]
    now = int(time.time())
    for sender_secret in (old, new):
        headers = signature_headers(sender_secret, "msg_rot", BODY, now)
        assert verify(headers, BODY, secrets, tolerance_s=TOLERANCE) == "msg_rot"
    retired = signature_headers(WebhookSecret.generate(), "msg_rot", BODY, now)
    with pytest.raises(InvalidSignature):
        verify(retired, BODY, secrets, tolerance_s=TOLERANCE)


def test_no_secrets_verifies_nothing() -> None:
    with pytest.raises(InvalidSignature, match="no matching signature"):
        verify(vector_headers(), VECTOR_BODY, [], tolerance_s=TOLERANCE, now=VECTOR_TS)


def test_header_names_are_case_insensitive() -> None:
    headers = {name.title(): value for name, value in vector_headers().items()}
    assert "Webhook-Id" in headers
    assert verify_vector(headers) == VECTOR_ID
    assert verify_vector(Headers(headers)) == VECTOR_ID  # type: ignore[arg-type]


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Signatures go through hmac.compare_digest; a one-bit difference is still refused."""
    calls: list[tuple[bytes, bytes]] = []
    real: Callable[[bytes, bytes], bool] = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    good = base64.b64decode(VECTOR_SIGNATURE.removeprefix("v1,"))
    flipped = "v1," + base64.b64encode(good[:-1] + bytes([good[-1] ^ 1])).decode()
    with pytest.raises(InvalidSignature, match="no matching signature"):
        verify_vector(vector_headers(webhook_signature=flipped))
    assert calls and all(len(a) == len(b) == 32 for a, b in calls)
    assert verify_vector(vector_headers()) == VECTOR_ID


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
    assert principal == Principal(
        method="signature", webhook_id="msg_1", key_id=WebhookSecret.parse(secret).key_id
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
    assert principal == Principal(method="api_key", webhook_id=None, key_id=key_id(KEY_A))
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
