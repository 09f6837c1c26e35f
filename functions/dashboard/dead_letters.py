"""Dead letters: list with filters, one letter's detail, replay or purge.

Every action goes through ``heavylift.queue.dead_letters`` (``select_dead_letters`` then
``replay`` or ``purge``), the same functions as ``heavylift dlq``, so the dashboard cannot act
on letters differently from the CLI: same atomic moves, same "empty selector never means all" rule.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from functions.dashboard.web import (
    action,
    api,
    base,
    first,
    json_response,
    page,
    read_form,
    render,
    safe_next,
    wants_json,
)
from functions.producer import get_producer
from heavylift.moments import parse_moment
from heavylift.queue import dead_letters as dlq
from heavylift.state.keys import Layout

FILTER_PARAMS = ("queue", "actor", "error", "since", "job")
MAX_LISTED = 500  # rows rendered; actions on "all matching" are not limited by this


class BadFilter(ValueError):
    pass


def selector_from(values: dict[str, str], **extra: Any) -> dlq.Selector:
    try:
        return dlq.Selector(
            queue=values.get("queue") or None,
            actor=values.get("actor") or None,
            error=values.get("error") or None,
            since=parse_moment(values.get("since", "")),
            job=values.get("job") or None,
            **extra,
        )
    except (ValidationError, ValueError) as exc:
        raise BadFilter(str(exc)) from exc


def _core() -> tuple[Any, Layout, Any]:
    producer = get_producer()
    return producer.store.client, Layout(producer.settings.namespace), producer.store


def listed(selector: dlq.Selector) -> list[dlq.DeadLetter]:
    client, layout, store = _core()
    letters = dlq.list_dead_letters(client, layout, store, selector)
    return sorted(letters, key=lambda letter: letter.dead_at, reverse=True)  # newest first


def row(letter: dlq.DeadLetter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "queue": letter.queue,
        "actor": letter.actor,
        "job_id": letter.job_id,
        "dead_at": letter.dead_at.isoformat(),
        "retries": letter.retries,
        "error_code": letter.error_code,
        "error_message": letter.error_message,
    }


def _raw_filters(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "").strip() for name in FILTER_PARAMS}


@page
async def letter_list(request: Request) -> Response:
    raw = _raw_filters(request)
    try:
        letters = await run_in_threadpool(listed, selector_from(raw))
        error = None
    except BadFilter as exc:
        letters, error = [], str(exc)
    return render(
        request,
        "dead_letters.html",
        400 if error else 200,
        error=error,
        letters=letters[:MAX_LISTED],
        total=len(letters),
        filters=raw,
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    )


@api
async def letter_list_json(request: Request) -> Response:
    try:
        letters = await run_in_threadpool(listed, selector_from(_raw_filters(request)))
    except BadFilter as exc:
        return json_response({"error": str(exc)}, 400)
    return json_response({"total": len(letters), "letters": [row(x) for x in letters[:MAX_LISTED]]})


def _detail(letter_id: str) -> dlq.DeadLetterDetail | None:
    client, layout, store = _core()
    return dlq.get_dead_letter(client, layout, store, letter_id)


@page
async def letter_detail(request: Request) -> Response:
    detail = await run_in_threadpool(_detail, request.path_params["letter_id"])
    if detail is None:
        return render(
            request,
            "error.html",
            404,
            title="Not found",
            message="No such dead letter (replayed, purged, or expired).",
        )
    message = detail.letter.message
    return render(
        request,
        "dead_letter.html",
        letter=detail.letter,
        record=detail.record,
        message_json=json.dumps(message, indent=2, sort_keys=True) if message else "",
        args_json=json.dumps(message.get("args") or [], indent=2) if message else "",
    )


def _run(verb: str, selector: dlq.Selector) -> tuple[int, int]:
    """(done, skipped) of one replay or purge; ids that matched nothing count as skipped."""
    client, layout, store = _core()
    letters = dlq.select_dead_letters(client, layout, store, selector)
    if verb == "replay":
        replayed = dlq.replay(client, layout, store, letters)
        done, skipped = len(replayed.replayed), len(replayed.skipped)
    else:
        purged = dlq.purge(client, layout, store, letters)
        done, skipped = len(purged.purged), len(purged.skipped)
    return done, skipped + len(selector.missing(letters))


async def _act(request: Request, verb: str) -> Response:
    """``scope=selected`` acts on the posted ``ids``; ``scope=matching`` on every letter the
    posted filters match (all of them when no filter is given: the button says so)."""
    form = await read_form(request)
    values = {name: first(form, name) for name in FILTER_PARAMS}
    ids = [i.strip() for i in form.get("ids", []) if i.strip()]
    fallback = f"{base(request)}/dead-letters?{urlencode({k: v for k, v in values.items() if v})}"
    back = safe_next(request, first(form, "next"), fallback.rstrip("?"))
    try:
        if first(form, "scope") == "matching":
            selector = selector_from(values)
            selector = selector.model_copy(update={"all": selector.is_empty})
        else:
            selector = dlq.Selector(ids=ids)
        done, skipped = await run_in_threadpool(_run, verb, selector)
        past = "replayed" if verb == "replay" else "purged"
        status, message = 200, f"{past} {done}, skipped {skipped}"
    except (BadFilter, dlq.EmptySelector) as exc:
        done = skipped = 0
        status = 400
        message = "nothing selected" if isinstance(exc, dlq.EmptySelector) else str(exc)
    if wants_json(request) or "x-csrf-token" in request.headers:
        key = "replayed" if verb == "replay" else "purged"
        return json_response({key: done, "skipped": skipped, "message": message}, status)
    request.session["flash"] = message
    return RedirectResponse(back, status_code=303)


@action
async def replay(request: Request) -> Response:
    return await _act(request, "replay")


@action
async def purge(request: Request) -> Response:
    return await _act(request, "purge")
