"""What of a decoder's words may reach a client.

ffmpeg and libvips name their input in their errors (a presigned URL with its signature,
a spool path on the worker), and error messages end up in job records that clients read
through the API. Every decoder message passes through :func:`redact` first.
"""

from __future__ import annotations

import re

URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"]+")
PATH = re.compile(r"(?<![\w.:/])(?:file:)?/(?:[^\s'\":/]+/)+[^\s'\":]*")
POINTER = re.compile(r" @ 0x[0-9a-fA-F]+")  # "[mov,mp4,… @ 0x55d0…]": an address, noise


def redact(text: str, *names: str) -> str:
    """``text`` with ``names`` (the input as the decoder was given it), every URL and every
    absolute path replaced by ``<source>``, and object addresses dropped."""
    for name in sorted(filter(None, names), key=len, reverse=True):
        text = text.replace(name, "<source>")
    text = URL.sub("<source>", text)
    text = PATH.sub("<source>", text)
    return POINTER.sub("", text)
