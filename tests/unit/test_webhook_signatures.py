"""Standard Webhooks signatures: which signed requests verify, and which are refused.

Interoperability is checked against the specification's published test vector and against the
official ``standardwebhooks`` package in both directions, so senders using any Standard
Webhooks library get in, and receivers of our callbacks can verify them with one. Tampered,
stale, future and malformed requests are refused with a reason.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.datastructures import Headers

from heavylift.net.signatures import (
    InvalidSignature,
    WebhookSecret,
    key_id,
    signature_headers,
    verify,
)
from tests.unit.webhook_helpers import (
    BODY,
    TOLERANCE,
    VECTOR_BODY,
    VECTOR_ID,
    VECTOR_SECRET,
    VECTOR_SIGNATURE,
    VECTOR_TS,
    official_headers,
    vector_headers,
    verify_vector,
)

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
