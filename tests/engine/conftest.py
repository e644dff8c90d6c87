"""Engine tests run real submissions of the small 'mini' fixture assignment in a real sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from engine_helpers import FIXTURE_ROOT

from dlgrade import assignments
from dlgrade.grading import Grader
from dlgrade.sandbox.launcher import Sandbox, bwrap_path


@pytest.fixture(scope="session")
def mini() -> assignments.Assignment:
    return assignments.load("mini", root=FIXTURE_ROOT)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    if bwrap_path() is None:
        pytest.fail("bubblewrap is required for the engine tests (make test installs it)")
    with Sandbox() as box:
        yield box


@pytest.fixture(scope="session")
def shared_tmp_sandbox() -> Iterator[Sandbox]:
    """A sandbox that may not nest user namespaces (bubblewrap's --disable-userns), as on hosts that forbid
    them: its children share its /tmp and /dev/shm, wiped between them, and may not change inodes' metadata."""
    if bwrap_path() is None:
        pytest.fail("bubblewrap is required for the engine tests (make test installs it)")
    with Sandbox(nested_namespaces=False) as box:
        yield box


@pytest.fixture(scope="session")
def grader(mini: assignments.Assignment, sandbox: Sandbox) -> Grader:
    return Grader(mini, sandbox, secret=b"engine-tests")
