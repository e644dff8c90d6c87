"""`dlgrade mutants` on a fixture suite with a known gap (tests/fixtures/authoring_gaps: relu_row_mean, whose
cases only ever hold positive numbers), graded in the real sandbox: the clamp-removed mutant survives and is shown
with its diff, the sum-for-mean mutant is reported as the catalogued mistake it is, and axis=1 for axis=-1 (2-D
inputs only) is proved equivalent; the score counts the rest."""

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


def test_the_question_summary_counts_each_verdict(report: list[str]) -> None:
    assert report[0] == ("relu_mean: 8 mutants: 5 killed (1 as a known mistake), 1 survived, 2 equivalent; "
                         "score 83%")
    assert report[-1].startswith("gaps: 8 mutants graded in ")


def test_the_gap_survives_and_is_shown_with_its_diff(report: list[str]) -> None:
    block = _block(report, "SURVIVED")
    assert "line 3: `np.maximum(x, 0.0)` -> `x` (clamp removed)" in block[0]
    assert "every array the suite draws has one sign" in block[1] and "add a case with negative" in block[1]
    assert [line.strip() for line in block[2:]] == ["-    return np.mean(np.maximum(x, 0.0), axis=-1)",
                                                    "+    return np.mean(x, axis=-1)"]
    assert sum(line.lstrip().startswith("SURVIVED") for line in report) == 1


def test_a_catalogued_mistake_is_named(report: list[str]) -> None:
    assert "  named sum_not_mean line 3: `mean` -> `sum` (sum <-> mean)" in report


def test_an_equivalent_mutant_is_proved_equivalent_and_left_out_of_the_score(report: list[str]) -> None:
    equivalents = [line.strip() for line in report if line.lstrip().startswith("equivalent")]
    assert equivalents == ["equivalent   line 3: `maximum(x, 0.0)` -> `maximum(0.0, x)` (transpose changed)",
                           "equivalent   line 3: `axis=-1` -> `axis=1` (axis changed)"]
    assert _block(report, "equivalent   line 3: `axis=-1`")[2].strip() == \
        "+    return np.mean(np.maximum(x, 0.0), axis=1)"


def test_fail_under_fails_a_question_under_the_threshold() -> None:
    run = cli("mutants", "gaps", "relu_mean", "--course", GAPS, "--fail-under", "90")
    assert run.code == 1 and "FAIL relu_mean: mutation score 83% is under 90%" in run.out
    one_line_error(cli("mutants", "gaps", "relu", "--course", GAPS), "gaps has no question 'relu'", "relu_mean")


def test_a_sample_is_deterministic_and_in_code_order() -> None:
    source = (GAPS / "assignments/gaps/gaps.ipynb").read_text()
    assert source  # the fixture is there; its cell, as the mutator sees it:
    cell = ('def relu_row_mean(x):\n    ### BEGIN SOLUTION\n    return np.mean(np.maximum(x, 0.0), axis=-1)\n'
            '    ### END SOLUTION')
    mutants = mutants_of(cell)
    assert len(mutants) == 8
    first, second = sampled(mutants, 3), sampled(list(reversed(mutants)), 3)
    assert [m.key for m in first] == sorted((m.key for m in second), key=[m.key for m in mutants].index)
    assert [mutants.index(m) for m in first] == sorted(mutants.index(m) for m in first)
    assert sampled(mutants, None) == mutants
