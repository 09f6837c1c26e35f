"""Counting after the chaos: what the job records, the results bucket and the dead-letter
sets say about every submitted job, and where any job that is neither done nor
dead-lettered went (its message's place in Redis, its log lines).

A job counts as *succeeded* only if its record says so AND its ``manifest.json`` exists; as
*dead-lettered* only if its record is failed/dead AND its message sits in a ``.XQ`` set.
Everything else that was accepted is *lost*.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import redis
from rich.table import Table

from bench.chaos_load import Submission
from heavylift.jobs.models import JobRecord, JobState
from heavylift.queue import wire
from heavylift.state.keys import DEAD_LETTER_SUFFIX, MESSAGES_SUFFIX, Layout

MANIFEST = "manifest.json"


def job_records(client: redis.Redis, namespace: str, job_ids: list[str]) -> dict[str, JobRecord]:
    found: dict[str, JobRecord] = {}
    for start in range(0, len(job_ids), 500):
        chunk = job_ids[start : start + 500]
        raws = client.mget([Layout(namespace).job(j) for j in chunk])
        for job_id, raw in zip(chunk, raws, strict=True):
            if raw is not None:
                found[job_id] = JobRecord.model_validate_json(raw)
    return found


def manifest_versions(s3: Any, bucket: str) -> Counter[str]:
    """job id → how many versions of its manifest.json the (versioned) bucket holds."""
    versions: Counter[str] = Counter()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            job_id, _, name = version["Key"].rpartition("/")
            if name == MANIFEST:
                versions[job_id] += 1
    return versions


def job_id_of(raw: bytes | str | None) -> str | None:
    """The job id inside an encoded Dramatiq message."""
    message = wire.decode(raw)
    return None if message is None else wire.job_id_of(message)


def dead_letters(client: redis.Redis, layout: Layout) -> Counter[str]:
    """job id → dead-letter entries naming it, over every queue's ``.XQ`` set."""
    found: Counter[str] = Counter()
    for key in client.scan_iter(match=layout.dead_letter_pattern, count=1000):
        if not key.endswith(DEAD_LETTER_SUFFIX.encode()) or client.type(key) != b"zset":
            continue
        ids: list[bytes] = list(client.zrange(key, 0, -1))  # type: ignore[arg-type]
        if ids:
            for raw in client.hmget(key + MESSAGES_SUFFIX.encode(), ids):
                found[job_id_of(raw) or "<unreadable dead letter>"] += 1
    return found


def message_places(client: redis.Redis, namespace: str, wanted: set[str]) -> dict[str, list[str]]:
    """Where the messages of ``wanted`` jobs are now: waiting, in flight (an ack set),
    delayed, scheduled, or orphaned in a ``.msgs`` hash. For explaining losses."""
    places: dict[str, list[str]] = defaultdict(list)
    layout = Layout(namespace)
    in_acks = {
        member: key.decode()
        for key in client.scan_iter(match=layout.acks_pattern, count=1000)
        for member in client.smembers(key)
    }
    for key in client.scan_iter(match=layout.messages_pattern, count=1000):
        name = key.decode()
        if name.endswith(f"{DEAD_LETTER_SUFFIX}{MESSAGES_SUFFIX}"):
            continue
        for message_id, raw in client.hgetall(key).items():
            job_id = job_id_of(raw)
            if job_id not in wanted:
                continue
            owner = name.removesuffix(MESSAGES_SUFFIX)
            if message_id in in_acks:
                places[job_id].append(f"in flight in {in_acks[message_id]}")
            elif client.lpos(owner, message_id) is not None:  # type: ignore[arg-type]
                places[job_id].append(f"waiting in {owner}")
            else:
                places[job_id].append(f"in {name} only")
    return places


def account(
    submissions: dict[str, Submission],
    records: dict[str, JobRecord],
    manifests: Counter[str],
    dlq: Counter[str],
) -> dict[str, Any]:
    accepted = {j: s for s in submissions.values() for j in s.job_ids}
    succeeded, dead, lost = set(), set(), {}
    for job_id in accepted:
        record = records.get(job_id)
        state = record.state if record else None
        if state is JobState.SUCCEEDED and manifests[job_id]:
            succeeded.add(job_id)
        elif state in (JobState.FAILED, JobState.DEAD) and dlq[job_id]:
            dead.add(job_id)
        else:
            lost[job_id] = _why_lost(state)
    expected_dead = {j for j, s in accepted.items() if s.source.corrupt}
    multi_ids = {s.key: sorted(s.job_ids) for s in submissions.values() if len(s.job_ids) > 1}
    orphans = sorted(set(manifests) - set(accepted))
    return {
        "attempted": len(submissions),
        "not_accepted": {s.key: s.error for s in submissions.values() if not s.accepted},
        "submitted": len(accepted),
        "succeeded": len(succeeded),
        "dead_lettered": len(dead),
        "lost": len(lost),
        "lost_jobs": lost,
        "duplicated": len(multi_ids) + len(orphans),
        "keys_with_several_job_ids": multi_ids,
        "manifests_never_submitted": orphans,
        "manifest_rewrites": sum(1 for j in accepted if manifests[j] > 1),
        "dead_letters_per_job_above_1": {j: n for j, n in dlq.items() if n > 1},
        "expected_dead_letters": len(expected_dead),
        "unexpected_dead_letters": sorted(dead - expected_dead),
        "missing_dead_letters": sorted(expected_dead - dead),
        "attempts_above_1": sum(1 for r in records.values() if r.attempts > 1),
        "final_states": dict(Counter(r.state.value for r in records.values())),
        "error_codes": dict(Counter(r.error.code for r in records.values() if r.error)),
        "attempt_error_codes": dict(Counter(e.code for r in records.values() for e in r.errors)),
    }


def _why_lost(state: JobState | None) -> str:
    if state is None:
        return "no job record"
    if not state.is_final:
        return f"not final ({state.value})"
    if state is JobState.SUCCEEDED:
        return "succeeded without manifest.json"
    return f"{state.value} without a dead letter"


def passed(result: dict[str, Any]) -> bool:
    return not (
        result["lost"]
        or result["duplicated"]
        or result["not_accepted"]
        or result["unexpected_dead_letters"]
        or result["missing_dead_letters"]
    )


def table(result: dict[str, Any]) -> Table:
    ok = passed(result)
    out = Table(title=f"Chaos: {'[green]PASS[/]' if ok else '[red]FAIL[/]'}")
    out.add_column("measure")
    out.add_column("value", justify="right")
    out.add_column("target / note")
    rows: list[tuple[str, Any, str]] = [
        ("jobs submitted (202)", result["submitted"], f"of {result['attempted']} attempted"),
        ("succeeded (record + manifest)", result["succeeded"], ""),
        ("dead-lettered (record + .XQ)", result["dead_lettered"], ""),
        ("expected dead letters", result["expected_dead_letters"], "corrupt sources' jobs"),
        ("lost", _flag(result["lost"]), "0"),
        ("duplicated manifests", _flag(result["duplicated"]), "0"),
        ("not accepted by the API", _flag(len(result["not_accepted"])), "0"),
        ("manifest rewrites", result["manifest_rewrites"], "informational"),
        ("jobs with attempts > 1", result["attempts_above_1"], ""),
        ("workers killed", result["chaos"]["workers_killed"], ""),
        ("Redis restarts", result["chaos"]["redis_restarts"], "SIGKILL"),
        ("S3 outage seconds", f"{result['chaos']['s3_outage_s']:.1f}", ""),
        ("wall time (s)", f"{result['wall_s']:.1f}", ""),
    ]
    for name, value, note in rows:
        out.add_row(name, str(value), note)
    return out


def _flag(value: int) -> str:
    return f"[bold red]{value}[/]" if value else f"[green]{value}[/]"


def log_lines(log_dir: Path, job_id: str, limit: int = 8) -> list[str]:
    """The last lines mentioning ``job_id`` across every service log."""
    hits: list[str] = []
    for path in sorted(log_dir.glob("*.log")):
        with open(path, errors="replace") as log:
            hits += [f"{path.stem}: {line.rstrip()[:300]}" for line in log if job_id in line]
    return hits[-limit:]


def save(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
