"""Which actor consumes which queue. Producers need only these names to enqueue, so they
never import the actors (and, with them, libvips and ffmpeg)."""

QUEUE_ACTORS: dict[str, str] = {
    "image": "process_image",
    "video": "process_video",
    "audio": "process_audio",
}
