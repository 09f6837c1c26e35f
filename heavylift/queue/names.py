"""Which actor consumes which queue. Producers need only these names to enqueue, so they
never import the actors (and, with them, libvips and ffmpeg)."""

QUEUE_ACTORS: dict[str, str] = {
    "image": "process_image",
    "video": "process_video",
    "audio": "process_audio",
}

# Callbacks have a queue of their own: a slow client endpoint never delays media work.
CALLBACK_QUEUE = "callbacks"
CALLBACK_ACTOR = "deliver_callback"
