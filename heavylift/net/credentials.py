"""Who is calling, and what that credential may do.

Three kinds of bearer key and one kind of signing secret, each granting one scope:

* ``webhook_secrets`` (Standard Webhooks signatures) and ``api_keys`` submit jobs and read
  the jobs they made;
* ``event_keys`` post S3 events (what MinIO or Ceph send as their ``auth_token``);
* ``operator_keys`` read the jobs upload events made.

A key listed under several settings has all their scopes. Every job remembers the *client*
that made it, and only that client reads it. A client is named by an entry's ``name:``
prefix (``acme:hl_live_…``), so the old and new key of a rotation are one client; an
unnamed credential is a client of its own, named by its fingerprint.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr

from heavylift.config import Settings
from heavylift.errors import Forbidden, InvalidSignature, Unauthorized
from heavylift.jobs.models import JobOrigin
from heavylift.net.signatures import SIGNATURE_HEADERS, WebhookSecret, key_id, verify_signed

# A client name before the first colon: lower case, so "Weird:Key" stays one bare key.
_NAMED_ENTRY = re.compile(r"^([a-z0-9][a-z0-9_.-]{0,63}):(.+)$", re.S)


class Scope(StrEnum):
    """One thing a credential may do."""

    SUBMIT_JOBS = "submit jobs"
    POST_EVENTS = "post events"
    READ_UPLOAD_JOBS = "read upload jobs"


class Principal(BaseModel):
    """Who made a request (never a secret): for ownership, idempotency scopes and logs."""

    model_config = ConfigDict(frozen=True)

    method: Literal["signature", "api_key"]
    webhook_id: str | None = None  # the signed id: for signed requests, the only idempotency key
    key_id: str  # the fingerprint of the key or secret used
    client: str  # who owns the jobs this credential makes
    scopes: frozenset[Scope]

    def require(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this credential may not {scope.value}")

    def can_read(self, owner: str | None, origin: JobOrigin) -> bool:
        """A job is its client's; upload jobs (no owner) are for operator keys."""
        if owner is not None:
            return owner == self.client and Scope.SUBMIT_JOBS in self.scopes
        return origin is JobOrigin.S3_EVENT and Scope.READ_UPLOAD_JOBS in self.scopes


def split_client(entry: str) -> tuple[str | None, str]:
    """``acme:secret`` → ``("acme", "secret")``; an entry without a client name is all key."""
    match = _NAMED_ENTRY.match(entry.strip())
    if match is None:
        return None, entry.strip()
    return match.group(1), match.group(2).strip()


def check_bearer(authorization: str | None, keys: Sequence[str]) -> bool:
    """Whether ``Authorization: Bearer <token>`` names one of ``keys``."""
    return _match_bearer(authorization, keys) is not None


def _match_bearer(authorization: str | None, keys: Iterable[str]) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    match = None
    for key in keys:  # No early exit: how long it takes says nothing about which key matched.
        if key and hmac.compare_digest(token.encode(), key.encode()):
            match = key
    return match


@dataclass(frozen=True)
class _Grant:
    client: str | None
    scopes: frozenset[Scope]


@dataclass(frozen=True)
class _NamedSecret:
    secret: WebhookSecret
    client: str | None


class Authenticator:
    """Accepts a request that either a valid signature or a valid bearer key vouches for.

    Either is enough: anyone holding a key could drop a bad signature and get in anyway, so
    refusing the pair would add nothing. With nothing configured, everything is refused.
    """

    def __init__(
        self,
        secrets: Sequence[_NamedSecret],
        keys: Mapping[str, _Grant],
        *,
        tolerance_s: int,
    ) -> None:
        self.secrets = tuple(secrets)
        self.keys = dict(keys)
        self.tolerance_s = tolerance_s

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """Parses every secret up front, so a malformed one stops startup, not a request."""
        secrets: list[_NamedSecret] = []
        for index, text in enumerate(settings.webhook_secrets):
            client, value = split_client(text.get_secret_value())
            try:
                secrets.append(_NamedSecret(WebhookSecret.parse(value), client))
            except ValueError as exc:
                raise ValueError(f"HEAVYLIFT_WEBHOOK_SECRETS entry {index + 1}: {exc}") from None
        keys: dict[str, _Grant] = {}
        for setting, scope in (
            ("api_keys", Scope.SUBMIT_JOBS),
            ("event_keys", Scope.POST_EVENTS),
            ("operator_keys", Scope.READ_UPLOAD_JOBS),
        ):
            entries: tuple[SecretStr, ...] = getattr(settings, setting)
            for index, entry in enumerate(entries):
                client, key = split_client(entry.get_secret_value())
                if key:
                    keys[key] = _merge(keys.get(key), client, scope, f"{setting} entry {index + 1}")
        return cls(secrets, keys, tolerance_s=settings.webhook_tolerance_s)

    def authenticate(
        self, headers: Mapping[str, str], body: bytes, *, now: float | None = None
    ) -> Principal:
        """The principal, or :class:`Unauthorized` saying why (a signature's reason first)."""
        if not self.secrets and not self.keys:
            raise Unauthorized("no webhook secrets or API keys are configured")
        lowered = {name.lower(): value for name, value in headers.items()}
        failure: Unauthorized | None = None
        if any(name in lowered for name in SIGNATURE_HEADERS):
            try:
                return self._signed(lowered, body, now)
            except InvalidSignature as exc:
                failure = exc
        authorization = lowered.get("authorization")
        if key := _match_bearer(authorization, self.keys):
            grant = self.keys[key]
            fingerprint = key_id(key)
            return Principal(
                method="api_key",
                key_id=fingerprint,
                client=grant.client or fingerprint,
                scopes=grant.scopes,
            )
        if failure is not None:
            raise failure
        raise Unauthorized("invalid API key" if authorization else "missing credentials")

    def _signed(self, headers: Mapping[str, str], body: bytes, now: float | None) -> Principal:
        secrets = [named.secret for named in self.secrets]
        msg_id, secret = verify_signed(headers, body, secrets, self.tolerance_s, now)
        client = next(named.client for named in self.secrets if named.secret is secret)
        return Principal(
            method="signature",
            webhook_id=msg_id,
            key_id=secret.key_id,
            client=client or secret.key_id,
            scopes=frozenset({Scope.SUBMIT_JOBS}),
        )


def _merge(grant: _Grant | None, client: str | None, scope: Scope, where: str) -> _Grant:
    """One key in several lists has every list's scope, and at most one client name."""
    if grant is None:
        return _Grant(client, frozenset({scope}))
    if client and grant.client and client != grant.client:
        raise ValueError(f"HEAVYLIFT_{where.upper()}: the same key is named for two clients")
    return _Grant(client or grant.client, grant.scopes | {scope})
