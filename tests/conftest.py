"""Project-wide test settings: hypothesis runs the same examples every time (CI must be deterministic)."""

from hypothesis import settings

settings.register_profile("dlgrade", derandomize=True, database=None, deadline=None)
settings.load_profile("dlgrade")
