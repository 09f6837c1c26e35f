"""Configuration from ``HEAVYLIFT_*`` environment variables.

Defaults run against the local stack; ``heavylift dev up`` writes the ports it picked to
``.heavylift/dev.env``, which is read as a fallback so that the CLI and a shell in the repo
talk to the running stack without exporting anything.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from heavylift.jobs.spec import MAX_THUMBNAIL_WIDTH, MIN_THUMBNAIL_WIDTH

DEV_ENV_FILE = ".heavylift/dev.env"


class Settings(BaseSettings):
    """Every knob Heavylift has. Field ``foo`` is read from ``HEAVYLIFT_FOO``."""

    model_config = SettingsConfigDict(
        env_prefix="HEAVYLIFT_", env_file=DEV_ENV_FILE, extra="ignore", frozen=True
    )

    # Where things are.
    redis_url: str = "redis://127.0.0.1:6379/0"
    namespace: str = Field(default="heavylift", description="Prefix of every Redis key and queue.")
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint; unset means AWS itself."
    )
    aws_region: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    uploads_bucket: str = "heavylift-uploads"
    results_bucket: str = "heavylift-results"
    uploads_prefix: str = Field(default="", description="Only keys under this prefix trigger jobs.")
    events_queue: str = Field(
        default="heavylift-upload-events", description="SQS queue of S3 events."
    )
    api_url: str = "http://127.0.0.1:8000"

    # Who may submit work, and from where (the API is exposed to the internet).
    webhook_secrets: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(),
        description="Standard Webhooks secrets (whsec_…), comma-separated; several for rotation.",
    )
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(), description="Bearer API keys, comma-separated; several for rotation."
    )
    event_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(),
        description="Bearer keys that may post S3 events to /v1/events/s3 (MinIO's auth_token).",
    )
    operator_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(), description="Bearer keys that may read the jobs upload events made."
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token /metrics needs on the public app; unset: it answers 404 "
        "there (serve functions.http:metrics_app on an internal port instead).",
    )
    webhook_tolerance_s: int = Field(
        default=300, description="Signed requests older or newer than this are refused."
    )
    source_buckets: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Buckets webhook jobs may read; empty: the uploads bucket only."
    )
    max_queue_depth: int = Field(
        default=10_000, ge=1, description="Above this many waiting jobs the API answers 429."
    )
    max_event_records: int = Field(
        default=100, ge=1, description="Most upload records one event request may carry."
    )

    # URL sources and callbacks: fetched by workers, so guarded against SSRF.
    url_schemes: Annotated[tuple[str, ...], NoDecode] = ("https",)
    url_ports: Annotated[tuple[int, ...], NoDecode] = (443,)
    url_allowed_networks: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="CIDRs exempt from the private-address refusal (internal sources, tests).",
    )
    url_timeout_s: float = Field(default=30.0, description="Connect and read timeout per request.")
    url_max_redirects: int = 5
    callback_secret: SecretStr | None = Field(
        default=None, description="Standard Webhooks secret (whsec_…) that signs callbacks."
    )
    callback_max_retries: int = 10

    # What jobs make.
    thumbnail_widths: Annotated[tuple[int, ...], NoDecode] = (256, 1024)
    thumbnail_quality: int = Field(default=80, ge=1, le=100)
    output_formats: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("webp", "avif", "jpeg"), description="Thumbnail formats a job may ask for."
    )
    max_output_width: int = Field(
        default=4096,
        ge=MIN_THUMBNAIL_WIDTH,
        le=MAX_THUMBNAIL_WIDTH,
        description="Widest thumbnail a job may ask for.",
    )
    max_outputs_per_job: int = Field(default=6, description="Most thumbnail widths per job.")

    # Limits: each breach fails the job with a named error instead of hurting the worker.
    max_source_bytes: int = 5 * 1024**3
    max_pixels: int = Field(default=100_000_000, description="Per image or video frame.")
    max_duration_s: float = 4 * 3600
    max_job_seconds: int = Field(
        default=3 * 3600, description="Processing time per job; ffmpeg is killed past it."
    )
    max_image_decode_s: float = Field(
        default=60.0, gt=0, description="An image decode running longer is stopped (timeout)."
    )

    # Reliability.
    max_retries: int = Field(default=5, ge=0)
    min_backoff_ms: int = 2_000
    max_backoff_ms: int = 5 * 60_000
    max_deliveries: int = Field(
        default=3,
        ge=1,
        description="Deliveries that kill their worker before a message is dead-lettered.",
    )
    heartbeat_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="A worker silent this long is presumed dead and its jobs run elsewhere.",
    )
    redis_socket_timeout_s: float = 5.0
    redis_patience_s: float = Field(
        default=30.0,
        ge=0,
        description="How long a worker waits out a Redis outage before failing an attempt.",
    )
    job_ttl_seconds: int = 30 * 24 * 3600
    dead_letter_ttl_seconds: int = Field(
        default=7 * 24 * 3600, description="Dead letters older than this are dropped."
    )

    # Streaming I/O.
    spool_memory_bytes: int = Field(
        default=1024**2,
        description="Outputs larger than this spill from memory to a temp file.",
    )
    multipart_threshold_bytes: int = 16 * 1024**2
    read_chunk_bytes: int = 256 * 1024

    # The dashboard (/dashboard): closed until a password is configured.
    dashboard_username: str = "admin"
    dashboard_password: SecretStr | None = Field(
        default=None, description="Login for /dashboard; unset: nobody can log in."
    )
    dashboard_session_secret: SecretStr | None = Field(
        default=None,
        description="Signs the dashboard cookie, which carries the id of a session kept in "
        "Redis; unset: a random one per process (set it when several API processes serve the "
        "dashboard).",
    )
    dashboard_secure_cookie: bool = Field(
        default=True,
        description="Send the session cookie over https only (the local stack, on plain "
        "http, turns it off).",
    )
    dashboard_login_attempts: int = Field(
        default=5,
        ge=1,
        description="Failed logins per client address or user name before backoff begins.",
    )
    dashboard_login_max_backoff_s: float = Field(
        default=900.0, gt=0, description="Longest wait the login backoff imposes."
    )
    history_retention_s: int = Field(
        default=2 * 24 * 3600, description="How long per-minute throughput history is kept."
    )

    # Workers.
    worker_processes: int = 2
    worker_threads: int = 2
    worker_shutdown_timeout_s: float = Field(
        default=30.0,
        description="On SIGTERM, running jobs get this long before they are put back.",
    )

    # Logs.
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"

    @field_validator("thumbnail_widths", "url_ports", mode="before")
    @classmethod
    def _split_ints(cls, value: object) -> object:
        """Accept ``256,1024`` as well as ``[256, 1024]`` from the environment."""
        if isinstance(value, str):
            text = value.strip().strip("[]")
            return tuple(int(part) for part in text.split(",") if part.strip())
        return value

    @field_validator(
        "webhook_secrets",
        "api_keys",
        "event_keys",
        "operator_keys",
        "source_buckets",
        "url_schemes",
        "url_allowed_networks",
        "output_formats",
        mode="before",
    )
    @classmethod
    def _split_strings(cls, value: object) -> object:
        """Comma-separated lists from the environment."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def allowed_source_buckets(self) -> tuple[str, ...]:
        return self.source_buckets or (self.uploads_bucket,)

    @field_validator("thumbnail_widths")
    @classmethod
    def _check_widths(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        low, high = MIN_THUMBNAIL_WIDTH, MAX_THUMBNAIL_WIDTH
        if not value or any(not low <= width <= high for width in value):
            raise ValueError(f"thumbnail widths must be between {low} and {high} pixels")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _records_outlive_dead_letters(self) -> Settings:
        """``heavylift dlq show`` reads each dead letter's history from its job record."""
        if self.dead_letter_ttl_seconds > self.job_ttl_seconds:
            raise ValueError("dead_letter_ttl_seconds must not exceed job_ttl_seconds")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
