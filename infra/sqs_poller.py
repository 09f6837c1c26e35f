"""Local stand-in for Lambda's SQS trigger: poll the events queue, invoke the handler.

It builds the same event Lambda would (``Records`` with ``eventSource: aws:sqs``) and
deletes messages only after the handler returned, so a handler that raises (broker down)
leaves them to reappear after the visibility timeout, exactly as on AWS.
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType
from typing import Any

from functions.s3_events import handler
from heavylift.config import get_settings
from heavylift.logs import configure_logging
from infra.provision import ACCOUNT, aws_client

log = logging.getLogger("infra.sqs_poller")


def lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class SqsPoller:
    def __init__(self, endpoint_url: str, region: str, queue_name: str) -> None:
        self.sqs = aws_client("sqs", endpoint_url, region)
        self.queue_url = self.sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        self.queue_arn = f"arn:aws:sqs:{region}:{ACCOUNT}:{queue_name}"
        self.region = region
        self.running = True

    def poll_once(self) -> int:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        try:
            result = handler(lambda_event(messages, self.queue_arn, self.region), None)
        except Exception:
            log.exception(
                "handler failed; messages will be redelivered", extra={"count": len(messages)}
            )
            return 0
        self.sqs.delete_message_batch(
            QueueUrl=self.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
        log.info("events delivered", extra={"count": len(messages), **result})
        return len(messages)

    def run(self) -> None:
        while self.running:
            try:
                self.poll_once()
            except Exception:  # the queue endpoint itself is away: wait and try again
                log.exception("polling failed")
                time.sleep(1)

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.running = False


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    poller = SqsPoller(settings.s3_endpoint_url or "", settings.aws_region, settings.events_queue)
    signal.signal(signal.SIGTERM, poller.stop)
    signal.signal(signal.SIGINT, poller.stop)
    log.info("SQS poller polling", extra={"queue": poller.queue_url})
    poller.run()


if __name__ == "__main__":
    main()
