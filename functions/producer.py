"""What both producers share: settings, the job store, credentials and policies, built once
per process (a warm Lambda reuses them) and lazily (importing a handler connects to nothing).
Producers write each job's queue message themselves, in the submission's Lua script, so they
need no Dramatiq broker and never import the workers' code."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

from heavylift.config import Settings, get_settings
from heavylift.jobs.identity import default_spec, s3_job_id
from heavylift.jobs.models import JobMessage, JobOrigin
from heavylift.jobs.source_rules import check_upload
from heavylift.jobs.spec import PipelineSpec
from heavylift.jobs.submission import Submission, submit
from heavylift.jobs.upload_events import ObjectCreated
from heavylift.logs import configure_logging
from heavylift.net.credentials import Authenticator
from heavylift.net.url_policy import UrlPolicy
from heavylift.state.store import JobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Producer:
    settings: Settings
    store: JobStore
    auth: Authenticator
    url_policy: UrlPolicy
    default_spec: PipelineSpec  # built once: most requests ask for no options

    def submit(self, message: JobMessage, max_depth: int = 0) -> Submission:
        return submit(
            message,
            self.store,
            max_depth=max_depth,
            history_retention_s=self.settings.history_retention_s,
        )

    def submit_upload(self, event: ObjectCreated) -> Submission:
        """One job per object version: the same upload delivered twice is the same job.

        Raises ``BucketNotAllowed``/``KeyNotAllowed`` for an upload outside the rules, and
        ``QueueFull`` when its queue is at ``max_queue_depth`` (the sender must retry)."""
        check_upload(event.location, self.settings)
        spec = self.default_spec
        message = JobMessage(
            job_id=s3_job_id(event.location, spec),
            source=event.location,
            spec=spec,
            origin=JobOrigin.S3_EVENT,
        )
        return self.submit(message, max_depth=self.settings.max_queue_depth)


@lru_cache(maxsize=1)
def get_producer() -> Producer:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    return Producer(
        settings,
        JobStore.from_settings(settings),
        Authenticator.from_settings(settings),
        UrlPolicy.from_settings(settings),
        default_spec(settings),
    )
