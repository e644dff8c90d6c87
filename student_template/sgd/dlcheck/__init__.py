"""Numpy-only answer checking, shared by the grader and (copied as dlcheck/) the released notebooks; and
submit(), which hands the notebook in to the course's grading service (standard library only)."""

from .client import submit
from .local import check

__all__ = ["check", "submit"]
