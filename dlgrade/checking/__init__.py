"""Numpy-only answer checking, shared by the grader and (copied as dlcheck/) the released notebooks."""
