"""Standard Webhooks material shared by the signature and authentication tests.

The specification's published test vector, a request body, and headers built three ways: the
vector's own, verified with our ``verify``, and signed by the official ``standardwebhooks``
package as a sender using it would.
"""

from __future__ import annotations

import json
from datetime import datetime

from standardwebhooks import Webhook

from heavylift.net.signatures import WebhookSecret, verify

# The specification's test vector, as in the official libraries' tests (and reproduced by the
# installed package in test_webhook_signatures.test_vector_matches_the_official_package).
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
