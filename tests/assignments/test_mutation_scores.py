"""Every built-in question compared with its reference keeps its mutation score at or above MUTATION_THRESHOLD on
the sample `dlgrade validate` grades (VALIDATE_SAMPLE mutants per question, chosen deterministically), in the real
sandbox: a suite change that opens a test gap (a case removed, a range narrowed, a tolerance loosened) fails CI
here, with its survivors named. Judged questions are not held to it (docs/authoring.md, "Mutation scores"): a
judge accepts a range of answers by design, and grading their mutants trains a model per mutant and seed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dlgrade import assignments
from dlgrade.authoring import MUTATION_THRESHOLD, VALIDATE_SAMPLE
from dlgrade.sandbox.launcher import Sandbox
from dlgrade.validate import mutation_checks


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as started:
        yield started


@pytest.mark.parametrize("assignment_id", assignments.known_ids())
def test_every_built_in_question_scores_at_least_the_threshold(assignment_id: str, sandbox: Sandbox) -> None:
    assignment = assignments.load(assignment_id)
    checks = mutation_checks(assignment, sandbox, VALIDATE_SAMPLE, judged=False)
    compared = [q.name for q in assignment.suite.questions if q.judge is None]
    assert [check.student for check in checks] == [f"mutants {name}" for name in compared]
    failed = [f"{check.student}: {check.detail}" for check in checks if not check.ok]
    assert not failed, f"under {MUTATION_THRESHOLD:g}%:\n" + "\n".join(failed)
    kinds = {q.name: q.kind for q in assignment.suite.questions}
    for check in checks:  # every function question mutated; a hand-computed number has no code to mutate
        name = check.student.removeprefix("mutants ")
        expected = "not mutated: a hand-computed value" if kinds[name] == "variable" else "; score "
        assert expected in check.detail, f"{name}: {check.detail}"
