"""Crafted uploads from the security review, and the instruments that catch them at work.

Each payload is a playlist or manifest that makes a demuxer open *other* resources (DASH,
HLS, ffconcat), or an SVG, dressed in the first bytes of a container Heavylift accepts, so
that a sniffer looking at a few bytes calls it media. The references point wherever the
test says: a :class:`LoopbackTrap` (the cloud metadata service, in production) and a
:class:`OpenWatch`-ed media file outside any spool. Generated here, never stored.
"""

from __future__ import annotations

import base64
import ctypes
import http.server
import os
import struct
import threading
import zlib
from pathlib import Path
from typing import Any

from infra.processes import free_port

# --- disguises: the first bytes a sniffer sees -------------------------------------------

DISGUISES: dict[str, bytes] = {
    # bytes 4-8 "free": an old QuickTime file to a sniffer that reads only those
    "mov": b"<!--free-->",
    # bytes 4-8 "ftyp", brand "jp2 ": ffmpeg's mov probe scores that brand 5, DASH's 100
    "mp4": b"<!--ftypjp2 -->",
    "mkv": b"\x1a\x45\xdf\xa3<!--webm-->",  # the EBML magic number
    "mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00",  # an empty ID3v2.4 tag (ffmpeg skips it)
}
SVG_DISGUISES: dict[str, bytes] = {
    "avif": b"<!--ftypavif-->",  # bytes 4-12 "ftypavif"
    "png": b"\x89PNG\r\n\x1a\n",  # the PNG signature, then no IHDR
}
KINDS = ("dash", "hls", "concat")
SUFFIX_CONTENT_TYPES = {"hls": ".m3u8"}  # named so uploads carry the playlist's MIME type


def dash_manifest(references: list[str]) -> bytes:
    """An on-demand MPD whose representations are whole files at ``references``."""
    sets = "".join(
        f'<AdaptationSet mimeType="{"video" if i == 0 else "audio"}/mp4">'
        f'<Representation id="{i}" bandwidth="500000"><BaseURL>{ref}</BaseURL>'
        "</Representation></AdaptationSet>\n"
        for i, ref in enumerate(references)
    )
    return (
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" '
        'mediaPresentationDuration="PT2S" minBufferTime="PT1S">\n'
        f"<Period>\n{sets}</Period>\n</MPD>\n"
    ).encode()


def hls_playlist(references: list[str]) -> bytes:
    segments = "".join(f"#EXTINF:1.0,\n{ref}\n" for ref in references)
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"{segments}#EXT-X-ENDLIST\n"
    ).encode()


def concat_script(references: list[str]) -> bytes:
    return ("ffconcat version 1.0\n" + "".join(f"file '{ref}'\n" for ref in references)).encode()


BUILDERS = {"dash": dash_manifest, "hls": hls_playlist, "concat": concat_script}


def crafted(kind: str, disguise: str, references: list[str]) -> bytes:
    """``kind`` (dash, hls, concat) referring to ``references``, dressed as ``disguise``."""
    return DISGUISES[disguise] + BUILDERS[kind](references)


def tiny_png(width: int = 8, height: int = 8) -> bytes:
    """A valid grey PNG, written by hand (no decoder involved)."""
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw))


def png_bomb(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` × ``height`` pixels in a few hundred bytes."""
    row = b"\x00" + b"\x00" * 3 * min(width, 64)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(row * 4))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def svg_document(width: int = 4000, height: int = 4000) -> bytes:
    """An SVG whose one image is a data URI, drawn at ``width`` × ``height``."""
    data = base64.b64encode(tiny_png()).decode()
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{width}" height="{height}"><image width="{width}" height="{height}" '
        f'xlink:href="data:image/png;base64,{data}"/></svg>\n'
    ).encode()


def svg_disguised(disguise: str) -> bytes:
    return SVG_DISGUISES[disguise] + svg_document()


# --- instruments -------------------------------------------------------------------------


class LoopbackTrap:
    """An HTTP listener on 127.0.0.1 that records every connection and request (and
    answers 404): whatever reaches it was sent by something that followed a reference."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[str] = []
        self.connections = 0
        trap = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                trap.requests.append(f"GET {self.path}")
                self.send_response(404)
                self.end_headers()

            do_HEAD = do_POST = do_GET  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            def verify_request(self, request: Any, client_address: Any) -> bool:
                trap.connections += 1
                return True

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "latest/meta-data/iam/security-credentials/worker.mp4") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    @property
    def hits(self) -> int:
        return max(self.connections, len(self.requests))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Site:
    """Serves payloads over http on loopback, like a client's web server or a bucket."""

    def __init__(self) -> None:
        self.port = free_port()
        self.files: dict[str, bytes] = {}
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = site.files.get(self.path.split("?")[0].lstrip("/"))
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, name: str, body: bytes) -> str:
        self.files[name] = body
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


IN_ACCESS = 0x001
IN_OPEN = 0x020
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")


class OpenWatch:
    """Counts opens and reads of one file by any process (inotify), so a test can assert
    that nothing outside a job's spool was touched."""

    def __init__(self, path: Path) -> None:
        self.path = path
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if libc.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN | IN_ACCESS) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")
        self.events = 0

    def count(self) -> int:
        """Events so far (opens and reads)."""
        while True:
            try:
                data = os.read(self.fd, 64 * 1024)
            except BlockingIOError:
                return self.events
            offset = 0
            while offset < len(data):
                _, _, _, name_length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size + name_length
                self.events += 1

    def close(self) -> None:
        os.close(self.fd)
