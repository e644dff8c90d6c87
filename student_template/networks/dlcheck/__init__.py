"""Numpy-only answer checking, shared by the grader and (copied as dlcheck/) the released notebooks."""

from .local import check

__all__ = ["check"]
