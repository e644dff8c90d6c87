"""The students' API: submit a notebook, follow it, read its results and feedback, list one's own history."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from dlgrade.service import visibility
from dlgrade.service.app import AnyCaller, Facts, Service, State, Student, loads, one_line, utc
from dlgrade.service.models import Accepted, AssignmentTerms, Me, SubmissionStatus, SubmissionSummary
from dlgrade.service.store import ACTIVE, Row, iso
from dlgrade.service.tokens import Caller

log = logging.getLogger("dlgrade.service")
router = APIRouter(prefix="/api/v1")

SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MULTIPART_SLACK = 64 << 10  # boundaries and part headers around the file in a multipart upload
MAX_WAIT = 60.0
# The feedback page: nothing runs, nothing loads, no form posts; only its own inline styles (and data: images).
FEEDBACK_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
                "form-action 'none'; frame-ancestors 'self'; sandbox")


def _facts(state: Service, assignment_id: str) -> Facts:
    facts = state.facts.get(assignment_id)
    if facts is None:
        raise HTTPException(404, f"unknown assignment {assignment_id[:64]!r} (this course has: "
                                 f"{', '.join(sorted(state.facts))})")
    return facts


def _row(state: Service, who: Caller, sid: str) -> Row:
    """A submission the caller may see: their own (an instructor: any); 404 for anything else."""
    row = state.store.get(sid) if SUBMISSION_ID.match(sid) else None
    if row is None or not (who.instructor or row.student == who.name):
        raise HTTPException(404, "no such submission of yours")
    return row


def _late(state: Service, row: Row) -> bool:
    if row.assignment not in state.facts:
        return False
    deadline = state.deadline(row.assignment, row.student)
    return deadline is not None and row.submitted_at > deadline.timestamp()


def summary(state: Service, row: Row, who: Caller) -> dict[str, Any]:
    return {"id": row.id, "assignment": row.assignment, "status": row.status, "submitted_at": iso(row.submitted_at),
            "graded_at": iso(row.graded_at) if row.status != "queued" and row.status != "grading" else None,
            "score": row.score, "max_score": row.max_score, "counts": bool(row.in_force), "late": _late(state, row),
            "detail": row.detail, "student": row.student if who.instructor else None}


def status_of(state: Service, row: Row, who: Caller) -> dict[str, Any]:
    shown = summary(state, row, who)
    data = loads(row.result) if row.status == "graded" else None
    if isinstance(data, dict) and row.assignment in state.facts:
        mode = "instructor" if who.instructor else state.terms(row.assignment).hidden
        shown.update(results=visibility.results_json(data, mode), visibility=mode,
                     feedback=f"/api/v1/submissions/{row.id}/feedback")
    shown["recorded"] = bool(row.recorded)
    if row.status == "queued":
        shown["position"] = state.store.position(row.seq)
    return shown


# ---- submitting ---------------------------------------------------------------------------------------------


def _megabytes(limit: int) -> str:
    return f"{limit / (1 << 20):.3g} MB"


async def _body(request: Request, limit: int, cap: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed ``limit`` bytes (a notebook's ``cap``
    and a form's slack)."""
    too_large = HTTPException(413, f"the upload is larger than the {_megabytes(cap)} this service accepts")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _notebook_bytes(request: Request, limit: int) -> bytes:
    """The notebook of an upload: the body itself, or the file of a multipart form."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await _body(request, limit + (MULTIPART_SLACK if kind == "multipart/form-data" else 0), limit)
    if kind != "multipart/form-data":
        return body

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=8)
    except Exception as error:
        raise HTTPException(400, f"not a multipart form that can be read: {one_line(error, 120)}") from None
    files = [value for value in form.values() if isinstance(value, UploadFile)]
    if not files:
        raise HTTPException(400, "the form has no file: upload the notebook as its file")
    data = await files[0].read()
    await form.close()
    if len(data) > limit:
        raise HTTPException(413, f"the notebook is larger than the {_megabytes(limit)} this service accepts")
    return data


def notebook_problem(data: bytes, facts: Facts) -> str | None:
    """Why ``data`` is not a notebook of this assignment, in one line (None: it is one)."""
    import nbformat

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not a notebook: the file is not UTF-8 text"
    try:
        raw = json.loads(text)
    except RecursionError:
        return "not a notebook: its JSON is nested too deeply"
    except ValueError as error:
        return f"not a notebook: not JSON ({one_line(error, 80)})"
    if not isinstance(raw, dict) or not isinstance(raw.get("nbformat"), int):
        return "not a notebook: no nbformat version in it (upload the .ipynb file)"
    try:
        notebook = nbformat.reads(text, as_version=4)
    except RecursionError:
        return "not a notebook: nested too deeply"
    except Exception as error:
        return f"not a notebook nbformat can read ({type(error).__name__}: {one_line(error, 80)})"
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        return "not a notebook: it has no cells"
    ids = {cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") for cell in cells
           if isinstance(cell, dict) and isinstance(cell.get("metadata"), dict)
           and isinstance(cell["metadata"].get("nbgrader"), dict)}
    ids.discard(None)
    if ids and not ids & facts.grade_ids:
        return f"not a notebook of {facts.id}: none of its cells is one of {facts.id}'s (is it another assignment?)"
    return None


def _refuse_by_policy(state: Service, facts: Facts, who: Caller) -> None:
    """403 when the assignment takes no submission from this student now, 429 over the daily allowance."""
    terms = state.terms(facts.id)
    now = datetime.now(UTC)
    if not terms.open or terms.per_day == 0:
        raise HTTPException(403, f"{facts.id} is not open for submissions")
    deadline = state.deadline(facts.id, who.name)
    if deadline is not None and now > deadline:
        if terms.late == "refuse":
            raise HTTPException(403, f"the deadline of {facts.id} ({utc(deadline)}) has passed; late submissions "
                                     "are not accepted")
        if terms.accept_until is not None and now > terms.accept_until + (deadline - facts.deadline):
            raise HTTPException(403, f"late submissions of {facts.id} were accepted until "
                                     f"{utc(terms.accept_until)}")
    later = state.store.next_allowed(who.name, facts.id, terms.per_day, time.time())
    if later is not None:
        raise _too_many(facts, terms.per_day, later)


def _too_many(facts: Facts, per_day: int | None, later: float) -> HTTPException:
    wait = max(1, int(later - time.time() + 0.999))
    return HTTPException(429, f"{per_day} graded submissions of {facts.id} per 24 hours are used up; the next one "
                              f"is allowed at {iso(later)}", headers={"Retry-After": str(wait)})


@router.post("/assignments/{assignment_id}/submissions", status_code=202, response_model=Accepted,
             responses={400: {}, 401: {}, 403: {}, 404: {}, 413: {}, 429: {}})
async def submit(assignment_id: str, request: Request, who: Student, state: State) -> JSONResponse:
    """Queue a notebook for grading: 202 once it is on disk and in the queue."""
    facts = _facts(state, assignment_id)
    await run_in_threadpool(_refuse_by_policy, state, facts, who)
    data = await _notebook_bytes(request, state.policy.max_upload_bytes)
    problem = await run_in_threadpool(notebook_problem, data, facts)
    if problem:
        log.info("refused an upload of %s by %s: %s", facts.id, who.name, problem)
        raise HTTPException(400, problem)
    terms = state.terms(facts.id)
    digest = hashlib.sha256(data).hexdigest()
    client = request.client.host if request.client else ""
    row, later = await run_in_threadpool(state.store.accept, who.name, facts.id, data, digest, client, terms.per_day)
    if row is None:
        raise _too_many(facts, terms.per_day, later or time.time())
    late = _late(state, row)
    log.info("accepted %s: %s submitted %s (%d bytes, sha256 %s) from %s%s", row.id, who.name, facts.id, row.size,
             digest[:16], client or "?", ", late" if late else "")
    state.wake()
    body = Accepted(id=row.id, assignment=facts.id, submitted_at=iso(row.submitted_at) or "", late=late)
    return JSONResponse(body.model_dump(), 202, headers={"Location": f"/api/v1/submissions/{row.id}"})


# ---- following a submission -----------------------------------------------------------------------------------


@router.get("/submissions/{sid}", response_model=SubmissionStatus, responses={401: {}, 404: {}})
async def submission(sid: str, who: AnyCaller, state: State,
                     wait: Annotated[float, Query(ge=0.0, le=MAX_WAIT)] = 0.0) -> dict[str, Any]:
    """A submission's status and, once graded, its results. ``wait``: up to that many seconds for it to leave
    queued/grading first (long polling)."""
    row = _row(state, who, sid)
    deadline = time.monotonic() + wait
    while row.status in ACTIVE and state.changes is not None and time.monotonic() < deadline:
        await state.changes.wait(row.id, min(deadline - time.monotonic(), 5.0))
        row = _row(state, who, sid)
    return await run_in_threadpool(status_of, state, row, who)


@router.get("/submissions/{sid}/feedback", response_class=HTMLResponse, responses={401: {}, 404: {}})
def feedback(sid: str, who: AnyCaller, state: State) -> HTMLResponse:
    """dlgrade's feedback page of a graded submission, as the policy lets its student see it."""
    row = _row(state, who, sid)
    data = loads(row.result) if row.status == "graded" else None
    if not isinstance(data, dict) or row.assignment not in state.facts:
        raise HTTPException(404, f"no feedback: the submission is {row.status}")
    mode = "instructor" if who.instructor else state.terms(row.assignment).hidden
    return HTMLResponse(visibility.feedback_html(data, mode), headers={"Content-Security-Policy": FEEDBACK_CSP})


@router.get("/assignments/{assignment_id}/submissions", response_model=list[SubmissionSummary],
            responses={401: {}, 404: {}})
def history(assignment_id: str, who: AnyCaller, state: State) -> list[dict]:
    """The caller's own submissions of the assignment, newest first."""
    facts = _facts(state, assignment_id)
    return [summary(state, row, who) for row in state.store.history(who.name, facts.id)]


@router.get("/me", response_model=Me, responses={401: {}})
def me(who: AnyCaller, state: State) -> dict[str, Any]:
    """Who the token names, and each assignment's terms for them now."""
    now = time.time()
    terms = []
    for assignment_id, facts in sorted(state.facts.items()):
        policy = state.terms(assignment_id)
        used = state.store.used(who.name, assignment_id, now - 24 * 3600.0)
        later = state.store.next_allowed(who.name, assignment_id, policy.per_day, now)
        terms.append(AssignmentTerms(
            id=assignment_id, open=policy.open and policy.per_day != 0,
            deadline=utc(state.deadline(assignment_id, who.name)), late=policy.late,
            accept_until=utc(policy.accept_until), per_day=policy.per_day, used=used, next_allowed=iso(later),
            counts=policy.counts, hidden=policy.hidden, max_score=facts.max_score))
    return {"name": who.name, "role": who.role, "assignments": terms}
