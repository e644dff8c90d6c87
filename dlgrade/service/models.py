"""The API's response bodies (pydantic): what a client can rely on, readable in one place."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal["queued", "grading", "graded", "refused", "failed"]


class Accepted(BaseModel):
    """202: the submission is on disk and in the queue."""

    id: str
    status: Literal["queued"] = "queued"
    assignment: str
    submitted_at: str
    late: bool = Field(description="submitted after the deadline (nbgrader's late penalty applies)")


class SubmissionSummary(BaseModel):
    """One submission in a history or the queue."""

    id: str
    assignment: str
    status: Status
    submitted_at: str
    graded_at: str | None = None
    score: float | None = None
    max_score: float | None = None
    counts: bool = Field(False, description="this is the submission whose grade is in the gradebook")
    late: bool = False
    detail: str = Field("", description="why it was refused or failed, in one line")
    student: str | None = Field(None, description="instructor views only")


class SubmissionStatus(SubmissionSummary):
    """A submission and, once graded, its results as the assignment's policy lets its student see them."""

    results: dict[str, Any] | None = None
    visibility: str | None = None
    recorded: bool = Field(False, description="the gradebook step has run for it")
    position: int | None = Field(None, description="while queued: how many submissions are ahead of it")
    feedback: str | None = Field(None, description="the feedback page, once graded")


class AssignmentTerms(BaseModel):
    """An assignment's policy as it applies to the caller now."""

    id: str
    open: bool
    deadline: str | None
    late: str
    accept_until: str | None
    per_day: int | None
    used: int = Field(description="submissions that count against the allowance, in the last 24 hours")
    next_allowed: str | None
    counts: str
    hidden: str
    max_score: float


class Me(BaseModel):
    name: str
    role: str
    assignments: list[AssignmentTerms]


class Queue(BaseModel):
    counts: dict[str, int]
    submissions: list[SubmissionSummary]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    grading_process: bool
