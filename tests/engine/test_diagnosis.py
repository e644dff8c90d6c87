"""The trusted side's diagnosis and the numbers it prints: a known mistake must explain a failure (its variant is
itself wrong there and reproduces the answer as compared), and every value shown carries the digits that tell
yours from the expected one."""

from __future__ import annotations

import numpy as np

from dlgrade.checking.answers import from_value
from dlgrade.checking.compare import compare, precision_for, shown_pair
from dlgrade.grading import CaseValues, _show, _show_expected, matching_mistake
from dlgrade.suite import Case, Mistake, Question


def _question(*mistakes: Mistake, dtype: str = "float") -> Question:
    return Question(name="q", cell="q_solution", entry="f", reference=lambda x: x,
                    public=lambda: [Case((np.array([1.0, 2.0]),))], mistakes=mistakes, dtype=dtype)


def _failures(question: Question, answer: object) -> list[tuple[CaseValues, object]]:
    case = question.public()[0]
    return [(CaseValues(question, case, 1), from_value(answer))]


def test_a_variant_that_agrees_with_the_reference_explains_nothing() -> None:
    # the variant is 0.9e-7 relative from the reference: right, as compared (rtol 1e-7)
    near = Mistake("near", "a mistake that changes nothing here", lambda x: x * (1 + 0.9e-7), "")
    question = _question(near)
    answer = np.array([1.0, 2.0]) * (1 + 1.8e-7)  # wrong (1.8e-7 > rtol), and within rtol of the variant
    assert not compare(from_value(answer), np.array([1.0, 2.0]), rtol=1e-7, atol=1e-10).passed
    assert compare(from_value(answer), np.array([1.0, 2.0]) * (1 + 0.9e-7), rtol=1e-7, atol=1e-10).passed
    assert matching_mistake(question, _failures(question, answer)) is None


def test_a_variant_that_is_wrong_and_reproduces_the_answer_is_named() -> None:
    doubled = Mistake("doubled", "you doubled it", lambda x: 2 * x, "")
    question = _question(doubled)
    assert matching_mistake(question, _failures(question, np.array([2.0, 4.0]))) is doubled


def test_booleans_are_not_the_floats_a_variant_returns() -> None:
    # the variant returns floats equal to the (boolean) answer's values: the answer failed on its dtype, which
    # the variant does not reproduce
    positive = Mistake("positive", "you returned x > 0", lambda x: (x > 0).astype(np.float64), "")
    question = _question(positive)
    assert matching_mistake(question, _failures(question, np.array([True, True]))) is None
    # ... while floats with those values are that mistake
    assert matching_mistake(question, _failures(question, np.array([1.0, 1.0]))) is positive


def test_a_variant_with_the_answers_wrong_dtype_reproduces_it() -> None:
    values = Mistake("values", "you returned the values, not positions", lambda x: x * 1.5, "")
    question = Question(name="q", cell="q_solution", entry="f", reference=lambda x: np.array([0, 1]),
                        public=lambda: [Case((np.array([1.0, 2.0]),))], mistakes=(values,), dtype="int")
    assert matching_mistake(question, _failures(question, np.array([1.5, 3.0]))) is values
    assert matching_mistake(question, _failures(question, np.array([1.5, 3.5]))) is None


def test_numbers_carry_the_digits_that_show_their_difference() -> None:
    assert shown_pair(0.4795641, 0.4795643) == ("0.4795641", "0.4795643")  # six digits would print 0.479564 twice
    assert shown_pair(0.25, 0.5) == ("0.25", "0.5")
    assert shown_pair(1.0 / 3.0, 2.0 / 3.0) == ("0.333333", "0.666667")
    assert shown_pair(61601.0, 61600.0) == ("61601", "61600")
    assert shown_pair(1234567.0, 1234580.0) == ("1234567", "1234580")  # never 1.23457e+06
    assert shown_pair(3.0, 3.0000002) == ("3", "3.0000002")


def test_a_2e7_error_is_shown_with_its_digits_in_the_message_and_the_arrays() -> None:
    yours, expected = np.array([0.47956412, 1.0]), np.array([0.47956432, 1.0])
    outcome = compare(from_value(yours), expected, rtol=1e-7, atol=1e-10)
    assert not outcome.passed
    assert "yours 0.4795641, expected 0.4795643" in outcome.message
    precision = precision_for(outcome.max_error, outcome.expected)
    assert precision == 8
    assert _show(from_value(yours), precision) == "[0.47956412 1.        ]"
    assert _show_expected(expected, precision) == "[0.47956432 1.        ]"


def test_integers_print_as_integers() -> None:
    outcome = compare(from_value(np.array([61601, 7])), np.array([61600, 7]), rtol=0.0, atol=0.0, dtype="int")
    assert "yours 61601, expected 61600" in outcome.message
    assert _show_expected(np.array([61600, 7])) == "[61600     7]"
    assert _show_expected((np.int64(3), np.array([1, 2]))) == "(3, [1 2])"
    assert _show_expected(np.array([0.5, 2.0])) == "[0.5 2. ]"


def test_a_float32_near_miss_is_said_to_be_the_types_and_a_wrong_float32_answer_is_not() -> None:
    """'values differ (largest error 2.6e-06)' left a student who computed in float32 looking for a wrong formula."""
    exact = np.random.default_rng(3).normal(size=6)
    near = compare(from_value(exact.astype(np.float32)), exact, rtol=1e-10, atol=1e-12, dtype="float")
    assert not near.passed and "yours is float32, whose rounding alone is larger than this question allows" in \
        near.text()
    wrong = compare(from_value((2 * exact).astype(np.float32)), exact, rtol=1e-10, atol=1e-12, dtype="float")
    assert not wrong.passed and "float32" not in wrong.text()
    assert compare(from_value(exact.astype(np.float32)), exact, rtol=1e-5, atol=1e-8, dtype="float").passed
