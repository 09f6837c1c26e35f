"""Resident memory of processes, read from outside through ``/proc`` (Linux only).

:class:`RssSampler` follows one process (a Dramatiq worker child) and its descendants
(ffmpeg) from a background thread every ~20 ms. At each sample it sums the RSS of the live
processes, so the tree's peak is a peak of *simultaneous* use. The kernel's own high-water
mark (``VmHWM``) is read too, after resetting it through ``/proc/<pid>/clear_refs``, so the
followed process's peak is exact even between samples.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KIB = 1024
FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem")


def status(pid: int) -> dict[str, Any] | None:
    """Name and memory fields (bytes) of a live process; None if it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found: dict[str, Any] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == "Name":
            found["name"] = value.strip()
        elif key == "State" and value.strip().startswith("Z"):
            return None
        elif key in FIELDS:
            found[key] = int(value.split()[0]) * KIB
    return found if "VmRSS" in found else None


def children(pid: int) -> list[int]:
    """Direct children of ``pid``. Each thread lists the children it forked, so read them all
    (ffmpeg is started from a job thread, not the main one)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], children(pid)
    while todo:
        child = todo.pop()
        out.append(child)
        todo += children(child)
    return out


def reset_peak(pid: int) -> bool:
    """Reset the kernel's peak RSS (``VmHWM``) of ``pid`` to its current RSS (Linux ≥ 4.0)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def rss(pid: int) -> int:
    found = status(pid)
    return int(found["VmRSS"]) if found else 0


@dataclass
class Peaks:
    """What one sampling window saw. Bytes throughout."""

    samples: int = 0
    seconds: float = 0.0
    max_gap_ms: float = 0.0  # the longest time between two samples after ``gap_from``
    process: int = 0  # the followed process: the larger of sampled VmRSS and its VmHWM
    process_sampled: int = 0
    process_hwm: int | None = None  # None when clear_refs could not reset it
    process_anon_at_peak: int = 0  # RssAnon at the sample of the largest VmRSS
    process_file_at_peak: int = 0
    tree: int = 0  # the largest sum of simultaneous RSS over the process and its descendants
    tree_parts_at_peak: dict[str, int] = field(default_factory=dict)  # "name pid" → RSS
    children: dict[str, int] = field(default_factory=dict)  # "name pid" → its own VmHWM
    others: dict[str, int] = field(default_factory=dict)  # e.g. moto: sampled peak RSS
    timeline: list[tuple[float, int, int]] = field(default_factory=list)  # (s, process, tree)

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["timeline"] = [list(point) for point in self.timeline]
        return data


class RssSampler:
    """Follow ``pid`` and its descendants (and, for context, ``others``) until stopped."""

    def __init__(
        self, pid: int, others: dict[str, int] | None = None, interval: float = 0.02
    ) -> None:
        self.pid = pid
        self.others = others or {}
        self.interval = interval
        self.peaks = Peaks()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._timeline_every = 0.5  # a coarse timeline for the JSON (one point per 0.5 s)
        # gaps between samples count from here on (the caller's own upload may hold the GIL)
        self.gap_from = 0.0

    def start(self) -> RssSampler:
        for pid in [self.pid, *self.others.values()]:
            reset_peak(pid)
        self._started = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> Peaks:
        self._stop.set()
        self._thread.join()
        self._sample()  # one last look, and the kernel's high-water mark
        found = status(self.pid)
        peaks = self.peaks
        if found and "VmHWM" in found:
            peaks.process_hwm = int(found["VmHWM"])
        peaks.process = max(peaks.process_sampled, peaks.process_hwm or 0)
        peaks.seconds = round(time.monotonic() - self._started, 3)
        return peaks

    def _run(self) -> None:
        last = time.monotonic()
        next_point = 0.0
        while not self._stop.is_set():
            tree, process = self._sample()
            now = time.monotonic()
            if last >= self.gap_from:
                self.peaks.max_gap_ms = max(self.peaks.max_gap_ms, round((now - last) * 1000, 1))
            last = now
            elapsed = now - self._started
            if elapsed >= next_point:
                self.peaks.timeline.append((round(elapsed, 2), process, tree))
                next_point = elapsed + self._timeline_every
            self._stop.wait(self.interval)

    def _sample(self) -> tuple[int, int]:
        peaks = self.peaks
        peaks.samples += 1
        main = status(self.pid)
        if main is None:
            return 0, 0
        process = int(main["VmRSS"])
        parts = {f"{main.get('name', '?')} {self.pid}": process}
        for child in descendants(self.pid):
            found = status(child)
            if found is None:
                continue
            label = f"{found.get('name', '?')} {child}"
            parts[label] = int(found["VmRSS"])
            peaks.children[label] = max(
                peaks.children.get(label, 0), int(found.get("VmHWM", found["VmRSS"]))
            )
        tree = sum(parts.values())
        if process > peaks.process_sampled:
            peaks.process_sampled = process
            peaks.process_anon_at_peak = int(main.get("RssAnon", 0))
            peaks.process_file_at_peak = int(main.get("RssFile", 0))
        if tree > peaks.tree:
            peaks.tree = tree
            peaks.tree_parts_at_peak = parts
        for name, pid in self.others.items():
            peaks.others[name] = max(peaks.others.get(name, 0), rss(pid))
        return tree, process
