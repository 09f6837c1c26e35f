"""Where ``POST /v1/jobs`` spends its time, from a cProfile of the real API under load.

``create_job`` (``functions/http.py``) reads, authenticates, parses and validates the
request, builds the job message, calls ``heavylift.jobs.submission.submit`` and shapes the response.
``submit`` picks the queue, drafts the ``JobRecord``, encodes the Dramatiq message
(``DramatiqDispatcher.envelope``) and writes both in one Redis round trip
(``JobStore.create_enqueued``: a single EVALSHA that checks the backlog, SETs the record and
pushes the message), then logs. Each piece is the cumulative time of its functions when
called directly by its parent; "rest" is what the pieces leave of their parent. The socket
wait of ``create_enqueued`` (sending the command, waiting for Redis's answer: the event
loop is blocked meanwhile) is attributed the way gprof does it, assuming each call of a
function costs the same whoever makes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

Function = tuple[str, str]  # (the end of its file's path, its name)
Key = tuple[str, int, str]  # pstats' (file, line, name)

CREATE_JOB: Function = ("functions/http.py", "create_job")
SUBMIT: Function = ("heavylift/jobs/submission.py", "submit")
CREATE_ENQUEUED: Function = ("heavylift/state/store.py", "create_enqueued")
PYDANTIC_INIT: Function = ("pydantic/main.py", "__init__")
ROUND_TRIP: Function = ("redis/connection.py", "send_packed_command")
# Where redis-py blocks: the send (which wakes redis-server) and the wait for its answer.
SOCKET_CALLS = {
    f"<method '{name}' of '_socket.socket' objects>" for name in ("recv", "recv_into", "sendall")
}
IDLE = "<method 'poll' of 'select.epoll' objects>"  # the event loop waiting for sockets
THEN = " → "  # joins a piece's label to its parent's in ``us_per_request``


@dataclass(frozen=True)
class Piece:
    label: str
    parent: Function
    functions: tuple[Function, ...]


ENQUEUE = Piece("create_enqueued (one EVALSHA)", SUBMIT, (CREATE_ENQUEUED,))
# In the order a request runs through them.
HANDLER = (
    Piece("read body", CREATE_JOB, (("functions/http.py", "read_body"),)),
    Piece("auth (bearer key)", CREATE_JOB, (("functions/http.py", "authenticate"),)),
    Piece("JSON parse", CREATE_JOB, (("functions/http.py", "parse_json"),)),
    Piece("pydantic validation", CREATE_JOB, (("functions/http.py", "validate"),)),
    Piece("job_message (policy, spec, id)", CREATE_JOB, (("functions/http.py", "job_message"),)),
)
SUBMISSION = (
    Piece(
        "queue_for + queue keys",
        SUBMIT,
        (
            ("heavylift/jobs/submission.py", "queue_for"),
            ("heavylift/state/keys.py", "queue"),
            ("heavylift/state/keys.py", "waiting"),
            ("heavylift/state/keys.py", "messages"),
        ),
    ),
    Piece("JobRecord draft", SUBMIT, (PYDANTIC_INIT, ("heavylift/jobs/models.py", "utcnow"))),
    Piece("envelope (DramatiqDispatcher.envelope)", SUBMIT, (("actors/dispatch.py", "envelope"),)),
    ENQUEUE,
    Piece("log line 'job submitted'", SUBMIT, (("logging/__init__.py", "info"),)),
)
RESPONSE = Piece(
    "response (JobAccepted + JSONResponse)",
    CREATE_JOB,
    (PYDANTIC_INIT, ("pydantic/main.py", "model_dump"), ("starlette/responses.py", "__init__")),
)
RECORD_JSON = Piece("record JSON", CREATE_ENQUEUED, (("pydantic/main.py", "model_dump_json"),))


def _find(stats: Any, function: Function) -> list[Key]:
    file, name = function
    return [k for k in stats.stats if k[0].endswith(file) and k[2] == name]


def _cumulative(stats: Any, function: Function) -> float:
    return sum(stats.stats[k][3] for k in _find(stats, function))


def _calls(stats: Any, function: Function) -> int:
    return sum(stats.stats[k][1] for k in _find(stats, function))


def _from_parent(stats: Any, piece: Piece) -> float:
    """Cumulative seconds in ``piece``'s functions when called directly by its parent."""
    parents = set(_find(stats, piece.parent))
    return sum(
        edge[3]
        for function in piece.functions
        for key in _find(stats, function)
        for caller, edge in stats.stats[key][4].items()
        if caller in parents
    )


class Shares:
    """The share of each function's time spent on behalf of ``roots`` (called by them,
    directly or not), assuming, as gprof does, that a function's calls cost the same
    whoever makes them. Self-calls are ignored; a cycle is entered once."""

    def __init__(self, stats: Any, roots: list[Key]) -> None:
        self.stats = stats
        self.known: dict[Key, float] = dict.fromkeys(roots, 1.0)
        self.visiting: set[Key] = set()

    def of(self, key: Key) -> float:
        if key in self.known:
            return self.known[key]
        if key in self.visiting or key not in self.stats.stats:
            return 0.0
        self.visiting.add(key)
        callers = {c: e for c, e in self.stats.stats[key][4].items() if c != key}
        total = sum(e[3] for e in callers.values())
        mine = sum(e[3] * self.of(c) for c, e in callers.items())
        self.visiting.discard(key)
        self.known[key] = mine / total if total else 0.0
        return self.known[key]


def _redis_socket(stats: Any, shares: Shares | None = None) -> float:
    """Seconds in socket calls made by redis-py (under the roots of ``shares``, if given)."""
    return sum(
        edge[2] * (shares.of(caller) if shares else 1.0)
        for key, (_, _, _, _, callers) in stats.stats.items()
        if key[2] in SOCKET_CALLS
        for caller, edge in callers.items()
        if "/redis/" in caller[0]
    )


def _enqueue(stats: Any, spent: float) -> list[tuple[str, float]]:
    """``create_enqueued``'s ``spent`` seconds: the record's JSON, the socket calls of its
    EVALSHA, and the rest (redis-py: pool, packing, parsing the answer)."""
    record = _from_parent(stats, RECORD_JSON)
    socket = _redis_socket(stats, Shares(stats, _find(stats, CREATE_ENQUEUED)))
    return [
        (RECORD_JSON.label, record),
        ("socket wait (send, Redis's answer)", socket),
        ("rest (redis-py: pool, pack, parse)", spent - record - socket),
    ]


def breakdown(stats: Any, requests: int, per_s: float) -> dict[str, Any]:
    """µs per request in each piece of create_job (cProfile's inflated clock), the Redis
    round trips per request and the time blocked in their socket calls."""
    total = _cumulative(stats, CREATE_JOB)
    submit = _cumulative(stats, SUBMIT)
    handler = {p.label: _from_parent(stats, p) for p in HANDLER}
    submission = {p.label: _from_parent(stats, p) for p in SUBMISSION}
    response = _from_parent(stats, RESPONSE)
    seconds: dict[str, float] = {**handler, "submit": submit}
    for label, spent in submission.items():
        seconds[f"submit{THEN}{label}"] = spent
        if label == ENQUEUE.label:
            seconds |= {f"submit{THEN}{label}{THEN}{k}": v for k, v in _enqueue(stats, spent)}
    seconds[f"submit{THEN}rest (Layout, Submission)"] = submit - sum(submission.values())
    seconds[RESPONSE.label] = response
    seconds["rest (headers, Producer.submit, checks)"] = (
        total - submit - sum(handler.values()) - response
    )
    busy = sum(v[2] for k, v in stats.stats.items() if k[2] != IDLE)
    idle = sum(v[2] for k, v in stats.stats.items() if k[2] == IDLE)
    per_request = max(requests, 1)
    return {
        "requests": requests,
        "per_s_profiled": round(per_s, 1),
        "us_per_request": {k: round(v / per_request * 1e6, 1) for k, v in seconds.items()},
        "create_job_us": round(total / per_request * 1e6, 1),
        "outside_create_job_us": round((busy - total) / per_request * 1e6, 1),
        "idle_us": round(idle / per_request * 1e6, 1),
        "redis_round_trips_per_request": round(_calls(stats, ROUND_TRIP) / per_request, 2),
        "redis_socket_us_per_request": round(_redis_socket(stats) / per_request * 1e6, 1),
        "top": top_functions(stats, 15),
    }


def top_functions(stats: Any, n: int) -> list[dict[str, Any]]:
    """The ``n`` functions with the most own time."""
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:n]
    return [
        {
            "function": f"{Path(k[0]).name}:{k[1]}({k[2]})",
            "calls": v[1],
            "own_s": round(v[2], 3),
            "cumulative_s": round(v[3], 3),
        }
        for k, v in rows
    ]
