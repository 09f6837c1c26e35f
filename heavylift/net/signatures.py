"""Standard Webhooks signatures: verifying the requests clients sign, signing our callbacks.

Signed requests carry ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``: an
HMAC-SHA256 of ``{id}.{timestamp}.{body}`` under a shared ``whsec_`` secret
(https://www.standardwebhooks.com/). The timestamp bounds replays to the tolerance window;
the verified id is the idempotency key that makes a replay within it the same job.
Callbacks we send are signed the same way, so receivers can use any Standard Webhooks library.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Mapping, Sequence

from pydantic import SecretStr

from heavylift.errors import InvalidSignature
from heavylift.jobs.identity import MAX_IDEMPOTENCY_KEY_CHARS

SECRET_PREFIX = "whsec_"
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def key_id(key: bytes | str) -> str:
    """A short fingerprint naming a secret or key in logs without revealing it."""
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(raw).hexdigest()[:8]


class WebhookSecret:
    """A decoded signing key. Its repr shows only the fingerprint, so it can be logged."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("a webhook secret may not be empty")
        self._key = key

    @classmethod
    def parse(cls, text: str | SecretStr) -> WebhookSecret:
        """``whsec_<base64>`` or bare base64, as every Standard Webhooks library accepts."""
        value = text.get_secret_value() if isinstance(text, SecretStr) else text
        value = value.strip().removeprefix(SECRET_PREFIX)
        try:  # Padding is often dropped by hand-copied secrets; restore it, then be strict.
            key = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        except (binascii.Error, ValueError):
            # Never echo the value: it is (most of) a secret.
            raise ValueError("a webhook secret must be base64 (whsec_ optional)") from None
        return cls(key)

    @staticmethod
    def generate() -> str:
        """A new random secret in ``whsec_`` form (24 bytes, the spec's minimum)."""
        return SECRET_PREFIX + base64.b64encode(os.urandom(24)).decode()

    @property
    def key_id(self) -> str:
        return key_id(self._key)

    def digest(self, msg_id: str, timestamp: int, body: bytes) -> bytes:
        content = f"{msg_id}.{timestamp}.".encode() + body
        return hmac.new(self._key, content, hashlib.sha256).digest()

    def sign(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """The ``v1,<base64>`` entry of a ``webhook-signature`` header."""
        return "v1," + base64.b64encode(self.digest(msg_id, timestamp, body)).decode()

    def __repr__(self) -> str:
        return f"WebhookSecret(key_id={self.key_id!r})"


def signature_headers(
    secret: WebhookSecret | str | SecretStr,
    msg_id: str,
    body: bytes,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The three headers that sign an outgoing callback."""
    if not isinstance(secret, WebhookSecret):
        secret = WebhookSecret.parse(secret)
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": secret.sign(msg_id, ts, body),
    }


def _v1_signatures(header: str) -> list[bytes]:
    """The decoded ``v1`` entries of a signature header; other versions and junk are skipped."""
    found: list[bytes] = []
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        if version != "v1" or not encoded:
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def verify_signed(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[WebhookSecret],
    tolerance_s: int,
    now: float | None,
) -> tuple[str, WebhookSecret]:
    """The verified ``webhook-id`` and the secret that signed it, or :class:`InvalidSignature`."""
    lowered = {name.lower(): value for name, value in headers.items()}
    missing = [name for name in SIGNATURE_HEADERS if not lowered.get(name, "").strip()]
    if missing:
        raise InvalidSignature(f"missing header(s): {', '.join(missing)}")
    msg_id = lowered["webhook-id"].strip()
    stamp = lowered["webhook-timestamp"].strip()
    if len(msg_id) > MAX_IDEMPOTENCY_KEY_CHARS or not (msg_id.isprintable() and msg_id.isascii()):
        raise InvalidSignature(
            f"webhook-id must be at most {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters"
        )
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        raise InvalidSignature("webhook-timestamp must be whole seconds since the epoch")
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if timestamp < current - tolerance_s:
        raise InvalidSignature("webhook-timestamp is too old")
    if timestamp > current + tolerance_s:
        raise InvalidSignature("webhook-timestamp is too new (check the sender's clock)")
    offered = _v1_signatures(lowered["webhook-signature"])
    if not offered:
        raise InvalidSignature("webhook-signature holds no well-formed v1 signature")
    for secret in secrets:
        expected = secret.digest(msg_id, timestamp, body)
        # Check every offered signature, so timing says nothing about which one came close.
        matched = [hmac.compare_digest(expected, candidate) for candidate in offered]
        if any(matched):
            return msg_id, secret
    raise InvalidSignature("no matching signature")


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[WebhookSecret],
    *,
    tolerance_s: int,
    now: float | None = None,
) -> str:
    """The verified ``webhook-id``; use it, not the raw header, as the idempotency key."""
    return verify_signed(headers, body, secrets, tolerance_s, now)[0]
