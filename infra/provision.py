"""Create what the local stack needs in moto: buckets, the events queue, and the bucket
notification that sends ``ObjectCreated`` events of the uploads bucket to that queue."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"


def aws_client(service: str, endpoint_url: str, region: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="heavylift",
        aws_secret_access_key="heavylift",
    )


def ensure_bucket(s3: Any, name: str) -> None:
    try:
        s3.create_bucket(Bucket=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def provision(
    endpoint_url: str, region: str, uploads: str, results: str, queue_name: str, prefix: str = ""
) -> str:
    """Idempotently create buckets, queue and notification; return the queue URL."""
    s3 = aws_client("s3", endpoint_url, region)
    sqs = aws_client("sqs", endpoint_url, region)
    for bucket in (uploads, results):
        ensure_bucket(s3, bucket)
    queue_url = sqs.create_queue(
        QueueName=queue_name,
        Attributes={"VisibilityTimeout": "10", "ReceiveMessageWaitTimeSeconds": "1"},
    )["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{region}:{ACCOUNT}:{queue_name}"
    sqs.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={
            "Policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "s3.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": queue_arn,
                        }
                    ],
                }
            )
        },
    )
    rule: dict[str, Any] = {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}
    if prefix:
        rule["Filter"] = {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}
    s3.put_bucket_notification_configuration(
        Bucket=uploads, NotificationConfiguration={"QueueConfigurations": [rule]}
    )
    return str(queue_url)
