"""The platform tests (a Dask cluster, a PostgreSQL gradebook) grade courses of the engine fixture's 'mini'
assignment, as the course tests do: their helpers (a set-up course, its sample class, the gradebook read back) are
shared from tests/course."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "course"))

from course_helpers import base_course, course  # noqa: E402, F401 - fixtures: a set-up mini course, a fresh copy
