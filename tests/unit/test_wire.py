"""Heavylift's copy of Dramatiq's message format, checked against Dramatiq itself.

The job core writes messages without Dramatiq (in the submission's Lua script), and reads
them for dead letters and the dashboard; a Dramatiq upgrade that changed the format must
fail here, not in production.
"""

from __future__ import annotations

import json

import dramatiq
from dramatiq.encoder import JSONEncoder

from heavylift.queue import wire


def test_an_encoded_message_is_what_dramatiq_decodes_and_would_write() -> None:
    encoded = wire.encode("image", "process_image", {"job_id": "j1"})
    message = dramatiq.Message.decode(encoded.body.encode())
    assert (message.queue_name, message.actor_name, message.args) == (
        "image",
        "process_image",
        ({"job_id": "j1"},),
    )
    assert message.options == {"redis_message_id": encoded.redis_message_id}
    # byte for byte what Dramatiq's own encoder makes of the same message
    assert JSONEncoder().encode(message.asdict()).decode() == encoded.body


def test_a_retry_drops_what_described_the_failed_delivery() -> None:
    failed = dramatiq.Message(
        queue_name="image",
        actor_name="process_image",
        args=({"job_id": "j1"},),
        kwargs={},
        options={
            "redis_message_id": "r1",
            "retries": 1,
            "traceback": "Traceback …",
            "eta": 1,
            wire.DELIVERY_OPTION: 2,
            "max_retries": 5,
        },
    ).asdict()
    retry = wire.retry_of(failed, retries=2)
    decoded = dramatiq.Message.decode(retry.body.encode())
    assert decoded.options == {
        "redis_message_id": retry.redis_message_id,
        "retries": 2,
        "max_retries": 5,
    }
    assert retry.redis_message_id != "r1" and decoded.message_id == failed["message_id"]


def test_a_replay_is_a_first_delivery_on_its_queue_again() -> None:
    dead = {
        **json.loads(wire.encode("image", "process_image", {"job_id": "j1"}).body),
        "queue_name": "image.DQ",
    }
    dead["options"].update(retries=5, traceback="…")
    replayed = json.loads(wire.replay_of(dead, "image"))
    assert replayed["queue_name"] == "image"
    assert replayed["options"] == {
        "redis_message_id": dead["options"]["redis_message_id"],
        "retries": 0,
    }


def test_reading_messages_never_raises() -> None:
    for raw in (None, b"", b"not json", b"[1, 2]", b"\xff\xfe", "{}"):
        message = wire.decode(raw)
        assert message is None or wire.job_id_of(message) is None
    assert wire.job_id_of({"args": ["j1"]}) == "j1"  # a callback carries the job id itself
    assert wire.job_id_of({"args": {"job_id": "x"}}) is None
    assert wire.queue_of({"queue_name": "video.DQ"}) == "video"
    assert wire.retries_of({"options": {"retries": "nonsense"}}) == 0
