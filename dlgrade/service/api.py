"""The students' API: submit a notebook, follow it, read its results and feedback, list one's own history."""

from __future__ import annotations

import asyncio
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
from starlette.requests import ClientDisconnect

from dlgrade.service import visibility
from dlgrade.service.app import AnyCaller, Facts, Service, State, Student, loads, one_line, shorten, utc
from dlgrade.service.models import Accepted, AssignmentTerms, Me, SubmissionStatus, SubmissionSummary
from dlgrade.service.store import ACTIVE, Row, iso
from dlgrade.service.tokens import Caller

log = logging.getLogger("dlgrade.service")
router = APIRouter(prefix="/api/v1")

SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MULTIPART_SLACK = 64 << 10  # boundaries and part headers around the file in a multipart upload
READ_IDLE = 30.0  # s without a byte of an upload's body: it is given up (408) and the connection closed
READ_TOTAL = 600.0  # s for a whole upload (20 MB at 35 kB/s)
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


class UploadCut(Exception):
    """The client went away before the whole body arrived (nothing to answer: there is nobody to answer)."""


def _close(status: int, detail: str) -> HTTPException:
    """An error after which the connection is closed: the rest of the body, if any, is not read."""
    return HTTPException(status, detail, headers={"Connection": "close"})


async def _body(request: Request, limit: int, cap: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed ``limit`` bytes (a notebook's ``cap``
    and a form's slack), and given up (408) when no byte of it came for READ_IDLE seconds or it is not all there
    after READ_TOTAL: a body announced larger than what is sent does not hold a connection forever. UploadCut
    when the client disconnects."""
    too_large = HTTPException(413, f"the upload is larger than the {_megabytes(cap)} this service accepts")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise too_large
    chunks, size = [], 0
    stream = request.stream().__aiter__()
    deadline = time.monotonic() + READ_TOTAL
    while True:
        try:
            chunk = await asyncio.wait_for(anext(stream), max(0.0, min(READ_IDLE, deadline - time.monotonic())))
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise _close(408, f"the upload stopped arriving ({size} bytes came); send it again") from None
        except ClientDisconnect:
            raise UploadCut(f"the client disconnected after {size} bytes") from None
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
    except Exception as error:  # starlette's HTTPException (too many files or fields) or a parser's error
        reason = shorten(getattr(error, "detail", None) or error, 160) or type(error).__name__
        raise HTTPException(400, f"not a multipart form that can be read: {reason}") from None
    try:
        files = [value for value in form.values() if isinstance(value, UploadFile)]
        if not files:
            raise HTTPException(400, "the form has no file: upload the notebook as its file")
        data = await files[0].read()
    finally:
        await form.close()
    if len(data) > limit:
        raise HTTPException(413, f"the notebook is larger than the {_megabytes(limit)} this service accepts")
    return data


def notebook_problem(data: bytes, facts: Facts) -> str | None:
    """Why ``data`` is not a notebook of this assignment, in one line (None: it is one). Whatever this cannot
    make sense of is a reason too: an upload is refused (400), never an error of the service."""
    try:
        return _notebook_problem(data, facts)
    except RecursionError:
        return "not a notebook: nested too deeply"
    except Exception as error:  # a shape of JSON not foreseen below: refuse the upload, keep the cause in the log
        log.warning("could not check an upload of %s (%s: %s)", facts.id, type(error).__name__, one_line(error, 200),
                    exc_info=True)
        return f"not a notebook that can be checked ({type(error).__name__}: {shorten(error, 120)})"


def _integer(value: Any) -> bool:
    return type(value) is int  # not a bool, not a float (NaN, 1e999)


def _cells_problem(cells: Any) -> str | None:
    """What in the cells the grader could not use: cells, their metadata, nbgrader's metadata and grade ids of
    other types than nbformat and nbgrader write."""
    if not isinstance(cells, list):
        return "not a notebook: its cells are not a list"
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            return f"not a notebook: cell {number} is not a cell (a JSON {type(cell).__name__})"
        meta = cell.get("metadata", {})
        if not isinstance(meta, dict):
            return f"not a notebook: the metadata of cell {number} is not a mapping"
        nbgrader = meta.get("nbgrader", {})
        if not isinstance(nbgrader, dict):
            return f"not a notebook: the nbgrader metadata of cell {number} is not a mapping"
        if "grade_id" in nbgrader and not isinstance(nbgrader["grade_id"], str):
            return f"not a notebook: the nbgrader grade_id of cell {number} is not a string"
    return None


def _notebook_problem(data: bytes, facts: Facts) -> str | None:
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
        return f"not a notebook: not JSON ({shorten(error, 120)}); upload the .ipynb file"
    if not isinstance(raw, dict) or not _integer(raw.get("nbformat")):
        return "not a notebook: no nbformat version in it (upload the .ipynb file)"
    if "nbformat_minor" in raw and not _integer(raw["nbformat_minor"]):
        return f"not a notebook: its nbformat_minor is {shorten(json.dumps(raw['nbformat_minor']), 40)}, not a " \
               "whole number"
    if not isinstance(raw.get("metadata", {}), dict):
        return "not a notebook: its metadata is not a mapping"
    try:  # text that JSON can escape but UTF-8 cannot hold (a lone surrogate): the grader could not write it
        json.dumps(raw, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        return f"not a notebook: it holds text that is not valid Unicode ({error.object[error.start:error.end]!r})"
    if raw["nbformat"] == 4 and (problem := _cells_problem(raw.get("cells"))):
        return problem
    try:
        notebook = nbformat.reads(text, as_version=4)
    except RecursionError:
        return "not a notebook: nested too deeply"
    except Exception as error:
        return f"not a notebook nbformat can read ({shorten(error, 160) or type(error).__name__})"
    cells = notebook.get("cells")
    if problem := _cells_problem(cells):  # again, as converted from an older nbformat
        return problem
    if not cells:
        return "not a notebook: it has no cells"
    return belongs(cells, facts)


def belongs(cells: list[Any], facts: Facts) -> str | None:
    """Why these cells are not a notebook of the assignment (None: they are): the grader matches a submission's
    cells to the instructor's by grade_id, so a notebook of the assignment carries nbgrader's metadata, its grade
    and solution cells are all the assignment's, and it holds at least one of the assignment's solution cells
    (a locked cell such as `setup` proves nothing: every assignment has one)."""
    if not facts.cell_ids:  # the instructor's notebook has no nbgrader cells: its cells are run as written
        return None
    from dlgrade.notebook import nbgrader_metadata  # the engine's reading of it, as it will match the cells

    marked = [nbgrader_metadata(cell) for cell in cells]
    ids = {meta["grade_id"] for meta in marked if isinstance(meta.get("grade_id"), str)}
    if not ids:
        return (f"not a notebook of {facts.id}: it has no nbgrader cell metadata (upload the notebook released for "
                f"{facts.id}, not a copy of its code in another notebook)")
    tasks = {meta["grade_id"] for meta in marked
             if isinstance(meta.get("grade_id"), str) and (meta.get("solution") or meta.get("grade"))}
    foreign = sorted(tasks - facts.cell_ids)
    if foreign:
        named = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        return shorten(f"not a notebook of {facts.id}: its cells {named} are not {facts.id}'s (is it the notebook "
                       "of another assignment?)", 300)
    if not ids & (facts.solution_ids or facts.cell_ids):
        return f"not a notebook of {facts.id}: none of {facts.id}'s solution cells is in it (is it the notebook " \
               "of another assignment?)"
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
    try:
        data = await _notebook_bytes(request, state.policy.max_upload_bytes)
    except UploadCut as cut:  # not an error of the service: one line in the log, and nobody left to answer
        log.info("an upload of %s by %s was cut off: %s", facts.id, who.name, cut)
        raise HTTPException(400, "the upload was cut off before its end") from None
    except HTTPException as error:
        if error.status_code == 408:
            log.info("an upload of %s by %s was given up: %s", facts.id, who.name, error.detail)
        raise
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
