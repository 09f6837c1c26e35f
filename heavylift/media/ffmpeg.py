"""Run one ffmpeg child with every pipe served, a deadline, and typed failures.

ffmpeg reads the source from stdin (fed from a ``SourceStream`` by a thread) or from a URL
or spool file, always as one :class:`~heavylift.media.ffmpeg_input.FFmpegInput` (the only
way to name an input here), writes its main output to stdout (copied by the caller's thread
into a writable, so outputs stream too), and may write side outputs to extra pipes (each
consumed by its own thread) and progress reports to another. A timer kills the child at
the deadline, and the progress reader kills it once the media runs past its length limit.
A decoder that hangs or crashes therefore costs one job, never the worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

import imageio_ffmpeg

from heavylift.errors import CorruptMedia, JobTimeout, TooLarge, TransientError
from heavylift.media.ffmpeg_input import FFmpegInput
from heavylift.media.sink import Writable
from heavylift.media.stream import SourceStream

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
CHUNK = 256 * 1024

SideConsumer = Callable[[IO[bytes]], object]
ArgsBuilder = Callable[[dict[str, str]], list[str]]


class _Failures:
    """The first error each helper thread hit, so the caller can raise the right one."""

    def __init__(self) -> None:
        self.feed: BaseException | None = None
        self.side: BaseException | None = None


@dataclass
class Progress:
    """What ffmpeg's progress reports said: how far the output got, and whether that
    went past the length limit (the child is killed then)."""

    out_time_s: float | None = None
    too_long: bool = False


@dataclass(frozen=True)
class Finished:
    report: str  # ffmpeg's stderr (its last lines)
    out_time_s: float | None  # media time of the last output written: the real duration


def run_ffmpeg(
    args_for: ArgsBuilder,
    *,
    source: FFmpegInput,
    input_options: Sequence[str] = (),
    side: dict[str, SideConsumer] | None = None,
    feed: SourceStream | None = None,
    stdout: Writable | None = None,
    deadline: float,
    duration_s: float | None = None,
    max_duration_s: float | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Finished:
    """Run ffmpeg on ``source`` (fed from ``feed`` when it reads stdin). ``args_for`` gets
    ``{"name": "pipe:N"}`` for each side output and returns the output arguments."""
    if (feed is not None) != source.reads_stdin:
        raise ValueError("a source that reads stdin needs a feed, and only such a source")
    side = side or {}
    pipes = {name: os.pipe() for name in [*side, "progress"]}
    names = {name: f"pipe:{write}" for name, (_, write) in pipes.items()}
    argv = [
        FFMPEG,
        "-hide_banner",
        "-nostdin",
        "-y",
        "-loglevel",
        "info",
        "-progress",
        names["progress"],
        "-nostats",
        *source.args(*input_options),
        *_outputs(args_for(names)),
    ]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout is not None else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        pass_fds=[write for _, write in pipes.values()],
    )
    for _, write in pipes.values():
        os.close(write)
    failures = _Failures()
    progress = Progress()
    stderr_lines: deque[str] = deque(maxlen=400)
    threads = [
        _thread(_collect_stderr, proc, stderr_lines),
        _thread(
            _read_progress,
            pipes["progress"][0],
            progress,
            proc,
            duration_s,
            max_duration_s,
            on_progress,
        ),
        *(
            _thread(_consume_side, pipes[name][0], consume, failures, proc)
            for name, consume in side.items()
        ),
    ]
    if feed is not None:
        threads.append(_thread(_feed, proc, feed, failures))
    timed_out = threading.Event()
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _kill, (proc, timed_out))
    watchdog.start()
    try:
        if stdout is not None and proc.stdout is not None:
            while chunk := proc.stdout.read(CHUNK):
                stdout.write(chunk)
    except BaseException:
        _kill(proc)
        raise
    finally:
        returncode = proc.wait()
        watchdog.cancel()
        for thread in threads:
            thread.join()
    report = source.redact("\n".join(stderr_lines))
    if timed_out.is_set():
        raise JobTimeout("processing exceeded its time limit; ffmpeg was stopped")
    if progress.too_long:
        raise TooLarge(f"longer than the {max_duration_s:.0f} s limit; ffmpeg was stopped")
    for failure in (failures.feed, failures.side):
        if failure is not None:
            raise failure
    if returncode < 0:
        raise TransientError(f"ffmpeg was killed by signal {-returncode}")
    if returncode != 0:
        raise CorruptMedia(f"ffmpeg failed: {_tail(report)}")
    return Finished(report, progress.out_time_s)


def _outputs(args: list[str]) -> list[str]:
    """Output arguments only: every input is an ``FFmpegInput``, with its whitelists."""
    if "-i" in args:
        raise ValueError("ffmpeg inputs are built by heavylift.media.ffmpeg_input only")
    return args


def _thread(target: Callable[..., None], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _feed(proc: subprocess.Popen[bytes], feed: SourceStream, failures: _Failures) -> None:
    assert proc.stdin is not None
    try:
        while chunk := feed.read(CHUNK):
            proc.stdin.write(chunk)
    except (BrokenPipeError, ValueError):
        pass  # ffmpeg stopped reading (finished early or failed): its exit code tells
    except BaseException as exc:  # the source failed: storage error or size limit
        failures.feed = exc
        _kill(proc)
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass


def _consume_side(
    read_fd: int, consume: SideConsumer, failures: _Failures, proc: subprocess.Popen[bytes]
) -> None:
    with os.fdopen(read_fd, "rb") as pipe:
        try:
            consume(pipe)
        except BaseException as exc:
            failures.side = failures.side or exc
            _kill(proc)
        finally:
            while pipe.read(CHUNK):  # never leave ffmpeg blocked on a full pipe
                pass


def _read_progress(
    read_fd: int,
    progress: Progress,
    proc: subprocess.Popen[bytes],
    duration_s: float | None,
    max_duration_s: float | None,
    on_progress: Callable[[float], None] | None,
) -> None:
    with os.fdopen(read_fd, "rb") as pipe:
        for raw in pipe:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if key != "out_time_us" or not value.isdigit():
                continue
            progress.out_time_s = int(value) / 1e6
            if max_duration_s is not None and progress.out_time_s > max_duration_s:
                progress.too_long = True
                _kill(proc)
            if on_progress and duration_s:
                on_progress(min(1.0, progress.out_time_s / duration_s))


def _collect_stderr(proc: subprocess.Popen[bytes], lines: deque[str]) -> None:
    assert proc.stderr is not None
    for raw in proc.stderr:
        lines.append(raw.decode(errors="replace").rstrip())


def _kill(proc: subprocess.Popen[bytes], flag: threading.Event | None = None) -> None:
    if flag is not None:
        flag.set()
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass


def _tail(report: str) -> str:
    lines = [line for line in report.splitlines() if line.strip() and "=" not in line[:20]]
    return " | ".join(lines[-3:])[:500] or "no diagnostics"
