"""The queues and the actor that consumes each: the one place their names are written.

Each media kind has its own queue, so a backlog of hour-long videos never starves
thumbnails, and callbacks have theirs, so a slow client endpoint never delays media work.
Producers need only these names to enqueue, so they never import the actors (and, with
them, libvips and ffmpeg). The names are part of the wire format: renaming one strands the
messages already queued under it.
"""

from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    CALLBACKS = "callbacks"


MEDIA_QUEUES: tuple[Queue, ...] = (Queue.IMAGE, Queue.VIDEO, Queue.AUDIO)

ACTORS: dict[Queue, str] = {
    Queue.IMAGE: "process_image",
    Queue.VIDEO: "process_video",
    Queue.AUDIO: "process_audio",
    Queue.CALLBACKS: "deliver_callback",
}
