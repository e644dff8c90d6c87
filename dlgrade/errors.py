"""Errors that end a command with one clear line on stderr and exit status 2."""


class UsageError(Exception):
    """Unusable input: a missing file, a notebook that is not JSON, an unknown assignment."""
