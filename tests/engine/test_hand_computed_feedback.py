"""A hand-computed answer's value is never given away: whatever is wrong with it (a wrong number, a known mistake,
a wrong form), the feedback, the results JSON and the HTML page say what is wrong without the expected value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_helpers import with_cell

from dlgrade import report
from dlgrade.grading import Grader

EXPECTED = ("42.25", "42.2500", "4.225e+01")  # the worked loss (−4.5 − 2)², as a text could print it


@pytest.mark.parametrize("answer, says", [
    ("loss_value = 43.0\n", "your number is not right"),
    ("loss_value = 42.5\n", "your number is not right"),  # the catalog's notes_slip
    ("loss_value = 42.25 * 1.0001\n", "your number is not right"),  # near: no "largest error" to subtract
    ("loss_value = float('nan')\n", "your number is not right"),
    ("loss_value = (42.25, 1.0)\n", "expected a number"),
])
def test_a_wrong_hand_computed_answer_is_told_without_the_expected_value(grader: Grader, tmp_path: Path,
                                                                        answer: str, says: str) -> None:
    path = with_cell(grader.assignment.source, "worked_solution", answer, tmp_path / "mini.ipynb")
    result = grader.grade(path)
    worked = next(q for q in result.questions if q.name == "worked_loss")
    assert worked.score == 0 and says in worked.feedback, worked.feedback
    texts = {"feedback": worked.feedback, "json": json.dumps(report.to_json(result)), "html": report.to_html(result)}
    shown_by_student = "42.25" in answer  # the student's own digits may come back to them, never the expected ones
    for where, text in texts.items():
        for form in EXPECTED[1:] if shown_by_student else EXPECTED:
            assert form not in text, (where, form, text)
        assert "expected: " not in text and "largest error" not in text.split("worked_loss", 1)[-1][:2000], where
    assert all(case.expected is None and case.yours is None for case in worked.cases)
