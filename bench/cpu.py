"""CPU seconds per process tree from ``/proc`` (Linux only; no psutil needed).

Used to say *where* the cores went during a timed window: the workers, moto's server,
Redis, the SQS poller, the API, or the benchmark's own uploader.
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, utime+stime seconds) of one live process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may contain spaces
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found:
                parents[int(entry)] = found[0]
    return parents


def tree_cpu(root: int, parents: dict[int, int] | None = None) -> float:
    """CPU seconds used so far by ``root`` and its live descendants."""
    parents = _parents() if parents is None else parents
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        found = _stat(pid)
        if found:
            total += found[1]
        todo.extend(children.get(pid, []))
    return total


def snapshot(
    trees: dict[str, int | None], single: dict[str, int] | None = None
) -> dict[str, float]:
    """CPU seconds so far: each named process tree, each named single process, and
    ``_system``, the busy time of the whole machine (so others' load can be told apart)."""
    parents = _parents()
    found = {name: tree_cpu(pid, parents) for name, pid in trees.items() if pid}
    found.update({name: process_cpu(pid) for name, pid in (single or {}).items()})
    found["_system"] = system_busy()
    return found


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds per name over a window, plus ``other``: busy time of processes that are
    not ours (another test run on the same machine makes a measurement unreliable)."""
    used = {name: round(after[name] - before.get(name, 0.0), 2) for name in after}
    system = used.pop("_system")
    used["other"] = round(max(0.0, system - sum(used.values())), 2)
    return used


def process_cpu(pid: int) -> float:
    """CPU seconds used so far by one process (all its threads), not its children."""
    found = _stat(pid)
    return found[1] if found else 0.0


def system_busy() -> float:
    """CPU seconds all cores have spent not idle since boot (from ``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / TICKS
