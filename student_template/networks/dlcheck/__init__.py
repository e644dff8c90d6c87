"""Numpy-only answer checking, shared by the grader and (copied as dlcheck/) the released notebooks; and
submit(), which hands the notebook in to the course's grading service (standard library only)."""

from .local import check
from .submit import submit

__all__ = ["check", "submit"]
