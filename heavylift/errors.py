"""Typed errors: each has a stable ``code`` users see, and says whether a retry can help.

Every code Heavylift reports (in a job record, a problem document, a metric label) is a
class here, so each is defined once and ``tests/unit/test_errors.py`` can check the README
documents them all. Transient errors (storage 5xx, throttling, lost connections) are
retried with backoff; permanent ones (bad input, missing object, a refused request) are not.
"""

from __future__ import annotations


class HeavyliftError(Exception):
    """Base class. ``code`` is the machine-readable name stored in the job record."""

    code: str = "internal_error"
    transient: bool = False

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.code)
        self.message = message or self.code


class PermanentError(HeavyliftError):
    """Retrying cannot help: the input or the request is wrong."""


class TransientError(HeavyliftError):
    """Retrying later may help: a dependency is unavailable or slow."""

    code = "transient_error"
    transient = True


class InternalError(TransientError):
    """An exception nobody expected (a bug, an unforeseen library error). Retried: it may be
    load-related. Its message is for operators only (``JobRecord.public`` hides it)."""

    code = "internal_error"


def as_heavylift_error(exc: BaseException) -> HeavyliftError:
    """``exc`` as a typed error: itself, or an :class:`InternalError` naming it. The one rule
    the runner (for the record) and the queue (for retries and counters) both apply."""
    if isinstance(exc, HeavyliftError):
        return exc
    return InternalError(f"{type(exc).__name__}: {exc}")


# --- a job's input ---------------------------------------------------------------------------


class UnsupportedMedia(PermanentError):
    code = "unsupported_media"


class CorruptMedia(PermanentError):
    code = "corrupt_media"


class TooLarge(PermanentError):
    code = "too_large"


class NotFound(PermanentError):
    code = "not_found"


class AccessDenied(PermanentError):
    code = "access_denied"


class JobTimeout(PermanentError):
    """The job ran past its processing time limit; its decoder was stopped."""

    code = "timeout"


class UrlRefused(PermanentError):
    """The URL may not be fetched: its scheme, port, host or an address it leads to."""

    code = "url_refused"


class SourceUnavailable(TransientError):
    """A URL's server could not be reached, was too slow, or answered 5xx/429: try later."""

    code = "source_unavailable"


class SourceFailed(PermanentError):
    """A URL's server answered in a way retrying cannot fix (4xx, bad redirect, certificate)."""

    code = "source_failed"


# --- the infrastructure ----------------------------------------------------------------------


class StorageUnavailable(TransientError):
    code = "storage_unavailable"


class BrokerUnavailable(TransientError):
    """Redis (queue or job store) cannot be reached: producers must not acknowledge work."""

    code = "broker_unavailable"


class QueueFull(TransientError):
    """The job's queue already holds as many waiting jobs as allowed: try again later."""

    code = "queue_full"


class InvalidMessage(PermanentError):
    """A queue message that is not a valid job message (a bug or a hand-made message)."""

    code = "invalid_message"


class WorkerLost(TransientError):
    """The worker running an attempt died (killed, out of memory, crashed) before it ended.

    Never raised: it names, in the job record, an attempt that no code lived to report."""

    code = "worker_lost"


class PoisonMessage(PermanentError):
    """Every delivery of this message killed its worker; it is dead-lettered, not re-run."""

    code = "poison_message"


class CallbackRejected(TransientError):
    """A client's callback endpoint answered, but not with a 2xx."""

    code = "callback_rejected"


# --- a request to the API ----------------------------------------------------------------------


class Unauthorized(PermanentError):
    """The request proved no right to call the API (HTTP 401). ``reason`` is safe to show."""

    code = "unauthorized"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidSignature(Unauthorized):
    """A Standard Webhooks signature that is missing, malformed, stale or wrong."""

    code = "invalid_signature"


class Forbidden(PermanentError):
    """The credential is valid but may not do this (HTTP 403): post events, submit jobs."""

    code = "forbidden"


class InvalidJson(PermanentError):
    """The body is not JSON, or nests it too deeply (HTTP 400)."""

    code = "invalid_json"


class InvalidRequest(PermanentError):
    """The body is JSON but not a valid request: fields, types (HTTP 422)."""

    code = "invalid_request"


class InvalidIdempotencyKey(PermanentError):
    """An ``Idempotency-Key`` too long or with characters no key has (HTTP 400)."""

    code = "invalid_idempotency_key"


class IdempotencyConflict(PermanentError):
    """An idempotency key already used for a different request (HTTP 409)."""

    code = "idempotency_conflict"


class InvalidOutputs(PermanentError):
    """Output options outside this deployment's bounds (HTTP 422)."""

    code = "invalid_outputs"


class CallbacksDisabled(PermanentError):
    """A ``callback_url`` on a deployment without a callback secret (HTTP 422)."""

    code = "callbacks_disabled"


class BucketNotAllowed(PermanentError):
    """A source in a bucket this deployment does not read for clients (``source_buckets``)."""

    code = "bucket_not_allowed"


class KeyNotAllowed(PermanentError):
    """An upload outside ``uploads_prefix``: only keys under it become jobs."""

    code = "key_not_allowed"


class TooManyRecords(PermanentError):
    """An event request carrying more upload records than one request may."""

    code = "too_many_records"


class InvalidEvent(PermanentError):
    """A payload that is none of the S3 notification shapes Heavylift understands."""

    code = "invalid_event"
