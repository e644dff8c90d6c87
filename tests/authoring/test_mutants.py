"""`dlgrade mutants` on a fixture suite with known gaps (tests/fixtures/authoring_gaps), graded in the real
sandbox: relu_mean's sum-for-mean mutant is reported as the catalogued mistake it is and its axis=1-for-axis=-1 and
swapped-arguments mutants are proved equivalent; softmax, checked on small logits only, lets the mutant without
the max-subtraction survive (it overflows on logits of +-1000), shown with its diff; positive, checked on positive
inputs only, lets the mutant without the clamp pass (it differs only once inputs hold both signs: said apart)."""

from __future__ import annotations

from pathlib import Path

import pytest
from course_helpers import cli, one_line_error

from dlgrade.authoring.mutants import sampled
from dlgrade.authoring.mutations import mutants_of

GAPS = Path(__file__).resolve().parent.parent / "fixtures" / "authoring_gaps"


@pytest.fixture(scope="module")
def report() -> list[str]:
    run = cli("mutants", "gaps", "--course", GAPS)
    assert run.code == 0, run.out + run.err
    return run.out.splitlines()


def _block(lines: list[str], heading: str) -> list[str]:
    """The report's lines of the mutant whose heading line starts with ``heading``, up to the next mutant."""
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith(heading))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" " * 14)), len(lines))
    return lines[start:end]


def test_each_question_summary_counts_each_verdict(report: list[str]) -> None:
    summaries = [line for line in report if line and not line.startswith(" ")]
    assert summaries[:3] == [
        "relu_mean: 8 mutants: 6 killed (1 as a known mistake), 0 survived, 2 equivalent; score 100%",
        "softmax: 6 mutants: 3 killed (0 as a known mistake), 3 survived, 0 equivalent; score 50%",
        "positive: 4 mutants: 2 killed (0 as a known mistake), 0 survived, 1 equivalent, 1 differing only with both "
        "signs; score 100%"]
    assert summaries[3].startswith("gaps: 18 mutants graded in ")


def test_a_catalogued_mistake_is_named(report: list[str]) -> None:
    assert "  named sum_not_mean line 3: `mean` -> `sum` (sum <-> mean)" in report


def test_an_equivalent_mutant_is_proved_equivalent_and_shown(report: list[str]) -> None:
    relu = report[:report.index("")]
    equivalents = [line.strip() for line in relu if line.lstrip().startswith("equivalent")]
    assert equivalents == ["equivalent   line 3: `maximum(x, 0.0)` -> `maximum(0.0, x)` (transpose changed)",
                           "equivalent   line 3: `axis=-1` -> `axis=1` (axis changed)"]
    assert [line.strip() for line in _block(relu, "equivalent   line 3: `axis=-1`")[1:]] == [
        "-    return np.mean(np.maximum(x, 0.0), axis=-1)", "+    return np.mean(np.maximum(x, 0.0), axis=1)"]


def test_the_gap_survives_and_is_shown_with_its_diff_and_the_input_that_tells(report: list[str]) -> None:
    block = _block(report, "SURVIVED     line 2: `z - np.max(z)` -> `z`")
    assert "(max-subtraction removed)" in block[0]
    assert "no case the suite makes catches it; it differs from the solution on " in block[1]
    assert block[1].endswith(", scaled")  # logits scaled by 1000: exp overflows
    assert [line.strip() for line in block[2:]] == ["-    e = np.exp(z - np.max(z))", "+    e = np.exp(z)"]
    survivors = [line.strip() for line in report if line.lstrip().startswith("SURVIVED")]
    assert survivors == ["SURVIVED     line 2: `z - np.max(z)` -> `z` (max-subtraction removed)",
                         "SURVIVED     line 2: `-` -> `+` (sign flip)",
                         "SURVIVED     line 2: `max` -> `min` (operator flip)"]


def test_a_mutant_that_differs_only_with_both_signs_is_said_apart(report: list[str]) -> None:
    block = _block(report, "ONE SIGN")
    assert "line 2: `np.maximum(x, 0.0)` -> `x` (clamp removed)" in block[0]
    assert "every array the suite draws has one sign" in block[1] and "add a case with negative and positive" in \
        block[1]
    assert [line.strip() for line in block[2:]] == ["-    return np.maximum(x, 0.0)", "+    return x"]


def test_fail_under_fails_a_question_under_the_threshold() -> None:
    run = cli("mutants", "gaps", "softmax", "--course", GAPS, "--fail-under", "90")
    assert run.code == 1 and "FAIL softmax: mutation score 50% is under 90%" in run.out
    assert run.out.startswith("softmax: 6 mutants") and "relu_mean" not in run.out  # that question only
    assert cli("mutants", "gaps", "relu_mean", "--course", GAPS, "--fail-under", "90").code == 0
    one_line_error(cli("mutants", "gaps", "relu", "--course", GAPS), "gaps has no question 'relu'", "relu_mean")


def test_a_sample_is_deterministic_in_code_order_and_said() -> None:
    cell = ('def relu_row_mean(x):\n    ### BEGIN SOLUTION\n    return np.mean(np.maximum(x, 0.0), axis=-1)\n'
            '    ### END SOLUTION')
    mutants = mutants_of(cell)
    assert len(mutants) == 8
    first, second = sampled(mutants, 3), sampled(list(reversed(mutants)), 3)
    assert {m.key for m in first} == {m.key for m in second} and len(first) == 3  # the same 3, however listed
    assert [mutants.index(m) for m in first] == sorted(mutants.index(m) for m in first)
    assert sampled(mutants, None) == mutants
    run = cli("mutants", "gaps", "relu_mean", "--course", GAPS, "--limit", "3")
    assert run.code == 0 and run.out.startswith("relu_mean: 3 mutants (a sample of 8): ")


@pytest.mark.parametrize(("option", "value"), [("--limit", "0"), ("--limit", "-1"), ("--limit", "many"),
                                               ("--fail-under", "nan"), ("--fail-under", "120"),
                                               ("--fail-under", "high")])
def test_a_bad_limit_or_threshold_is_one_line(option: str, value: str) -> None:
    one_line_error(cli("mutants", "gaps", "--course", GAPS, option, value), option, repr(value))


def test_a_solution_failing_its_own_suite_fails_its_mutation_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A question skipped because the notebook's own solution fails its cases is a failing check, built-in or a
    course's: no mutation score means anything then (other skips, e.g. a hand-computed number, are not)."""
    from dlgrade import assignments, validate
    from dlgrade.authoring.mutants import QuestionReport

    gaps = assignments.load("gaps", GAPS)
    reports = [QuestionReport("softmax", skipped="the notebook's solution does not pass its own cases (failed)",
                              solution_fails=True),
               QuestionReport("relu_mean", skipped="a hand-computed value (its mutants would only be other numbers)")]
    monkeypatch.setattr(validate, "mutation_reports", lambda *args, **kwargs: reports)
    checks = validate.mutation_checks(gaps, sandbox=None)  # type: ignore[arg-type]
    assert [(check.student, check.ok) for check in checks] == [("mutants softmax", False), ("mutants relu_mean", True)]
    assert "does not pass its own cases" in checks[0].detail
