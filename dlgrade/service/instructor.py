"""The instructor's API (an instructor's token): the queue, and any student's history with full results."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from dlgrade.service.api import status_of, summary
from dlgrade.service.app import Instructor, State
from dlgrade.service.models import Queue, SubmissionStatus
from dlgrade.service.store import ACTIVE, FINAL
from dlgrade.service.tokens import NAME

router = APIRouter(prefix="/api/v1")


@router.get("/queue", response_model=Queue, responses={401: {}, 403: {}})
def queue(who: Instructor, state: State,
          finished: Annotated[int, Query(ge=0, le=1000, description="also this many of the latest finished")] = 0,
          ) -> dict[str, Any]:
    """What is queued and being graded (oldest first), with the counts of every status."""
    rows = state.store.rows(ACTIVE)
    if finished:
        rows += state.store.rows(FINAL, newest=finished)
    return {"counts": state.store.counts(), "submissions": [summary(state, row, who) for row in rows]}


@router.get("/students/{name}/submissions", response_model=list[SubmissionStatus],
            responses={400: {}, 401: {}, 403: {}, 404: {}})
def student_history(name: str, who: Instructor, state: State, assignment: str | None = None) -> list[dict[str, Any]]:
    """A student's submissions, newest first, with their full results: an empty list for a student without any
    (the service does not know who is enrolled), 400 for a name no student can have, 404 for an assignment the
    service does not serve."""
    if not NAME.match(name):
        raise HTTPException(400, f"{name[:64]!r} is not a student's name (letters, digits and . _ @ + -, at most "
                                 "128)")
    if assignment is not None and assignment not in state.facts:
        raise HTTPException(404, f"unknown assignment {assignment[:64]!r} (this course has: "
                                 f"{', '.join(sorted(state.facts))})")
    return [status_of(state, row, who) for row in state.store.history(name, assignment)]
