"""Which actor consumes which queue. Producers need only these names to enqueue, so they
never import the actors (and, with them, libvips)."""

QUEUE_ACTORS: dict[str, str] = {"image": "process_image"}
