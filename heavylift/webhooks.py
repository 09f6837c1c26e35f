"""Who may submit work: Standard Webhooks signatures, or bearer API keys.

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
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr

from heavylift.config import Settings
from heavylift.errors import PermanentError

SECRET_PREFIX = "whsec_"
_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class Unauthorized(PermanentError):
    """The request proved no right to submit work (HTTP 401). ``reason`` is safe to show."""

    code = "unauthorized"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidSignature(Unauthorized):
    """A Standard Webhooks signature that is missing, malformed, stale or wrong."""

    code = "invalid_signature"


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


def _verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[WebhookSecret],
    tolerance_s: int,
    now: float | None,
) -> tuple[str, WebhookSecret]:
    lowered = {name.lower(): value for name, value in headers.items()}
    missing = [name for name in _HEADERS if not lowered.get(name, "").strip()]
    if missing:
        raise InvalidSignature(f"missing header(s): {', '.join(missing)}")
    msg_id = lowered["webhook-id"].strip()
    stamp = lowered["webhook-timestamp"].strip()
    if len(msg_id) > 256 or not msg_id.isprintable() or not msg_id.isascii():
        raise InvalidSignature("webhook-id must be at most 256 printable ASCII characters")
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
    return _verify(headers, body, secrets, tolerance_s, now)[0]


def _match_bearer(authorization: str | None, keys: Sequence[str]) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    match = None
    for key in keys:  # No early exit: how long it takes says nothing about which key matched.
        if key and hmac.compare_digest(token.encode(), key.encode()):
            match = key
    return match


def check_bearer(authorization: str | None, keys: Sequence[str]) -> bool:
    """Whether ``Authorization: Bearer <token>`` names one of ``keys``."""
    return _match_bearer(authorization, keys) is not None


class Principal(BaseModel):
    """Who submitted a request, for the job record and logs (never a secret)."""

    model_config = ConfigDict(frozen=True)

    method: Literal["signature", "api_key"]
    webhook_id: str | None = None
    key_id: str


class Authenticator:
    """Accepts a request that either a valid signature or a valid API key vouches for.

    Either is enough: anyone holding an API key could drop a bad signature and get in anyway,
    so refusing the pair would add nothing. With nothing configured, everything is refused.
    """

    def __init__(
        self, secrets: Sequence[WebhookSecret], api_keys: Sequence[str], *, tolerance_s: int
    ) -> None:
        self.secrets = tuple(secrets)
        self.api_keys = tuple(key for key in api_keys if key)
        self.tolerance_s = tolerance_s

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """Parses every secret up front, so a malformed one stops startup, not a request."""
        secrets: list[WebhookSecret] = []
        for index, text in enumerate(settings.webhook_secrets):
            try:
                secrets.append(WebhookSecret.parse(text))
            except ValueError as exc:
                raise ValueError(f"HEAVYLIFT_WEBHOOK_SECRETS entry {index + 1}: {exc}") from None
        keys = [key.get_secret_value().strip() for key in settings.api_keys]
        return cls(secrets, keys, tolerance_s=settings.webhook_tolerance_s)

    def authenticate(
        self, headers: Mapping[str, str], body: bytes, *, now: float | None = None
    ) -> Principal:
        """The principal, or :class:`Unauthorized` saying why (a signature's reason first)."""
        if not self.secrets and not self.api_keys:
            raise Unauthorized("no webhook secrets or API keys are configured")
        lowered = {name.lower(): value for name, value in headers.items()}
        failure: Unauthorized | None = None
        if any(name in lowered for name in _HEADERS):
            try:
                msg_id, secret = _verify(lowered, body, self.secrets, self.tolerance_s, now)
                return Principal(method="signature", webhook_id=msg_id, key_id=secret.key_id)
            except InvalidSignature as exc:
                failure = exc
        authorization = lowered.get("authorization")
        if key := _match_bearer(authorization, self.api_keys):
            return Principal(method="api_key", key_id=key_id(key))
        if failure is not None:
            raise failure
        raise Unauthorized("invalid API key" if authorization else "missing credentials")
