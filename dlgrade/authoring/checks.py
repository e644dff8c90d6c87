"""What `dlgrade validate` and `dlgrade release` check of an assignment before anything is graded or released:
each question's cases are built as declared, and the reference gives a plain answer on each of its own public
cases and of a seeded draw of its hidden ones (one that raises on a hidden case would fail every student's
grading). A failure is one AuthoringError line naming the suite file (and the line that raised), the question
and the case.
(The notebook and the suite agreeing is checked by dlgrade.assignments.load itself.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dlgrade.assignments import Assignment, AuthoringError, _where_raised
from dlgrade.checking.answers import Answer, Entries, Items, Opaque, Text, from_value
from dlgrade.suite import Case, Question

__all__ = ["check_cases"]


def _first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]}"


def _cases(assignment: Assignment, question: Question, what: str, build: Any) -> Sequence[Case]:
    where = f"{assignment.suite_file}: question {question.name!r}"
    try:
        cases = list(build())
    except Exception as error:
        line = _where_raised(error, assignment.suite_file)
        raise AuthoringError(f"{assignment.suite_file}{line}: question {question.name!r}: {what} raised "
                             f"{_first_line(error)}") from None
    wrong = next((case for case in cases if not isinstance(case, Case)), None)
    if wrong is not None:
        raise AuthoringError(f"{where}: {what} gave a {type(wrong).__name__}, not a Case; return a list of "
                             "Case(args=(...), kwargs={...}, label=...)")
    return cases


def check_cases(assignment: Assignment, memo: dict[tuple[str, int, str], Any] | None = None) -> None:
    """Every question's public cases and (seeded) hidden cases build, each a Case; a function question has at
    least one public case; the reference answers every public case (a judged question's is the judge's business).
    ``memo``: the grader's public-case values (dlgrade.grading.public_values), so what is computed here is
    computed once."""
    from dlgrade.grading import CaseValues

    for question in assignment.suite.questions:
        where = f"{assignment.suite_file}: question {question.name!r}"
        public = _cases(assignment, question, "public()", question.public)
        if not public:
            raise AuthoringError(f"{where}: public() gave no case; give at least one small case a student can "
                                 "check by hand")
        hidden = _cases(assignment, question, "hidden(rng)", lambda q=question: q.hidden(np.random.default_rng(0)))
        if question.judge is not None:
            continue  # a judged answer is the judge's business
        drawn = [(f"public case {n}", case, n, memo) for n, case in enumerate(public, 1)]
        drawn += [(f"hidden case {n} (seed 0)", case, n, None) for n, case in enumerate(hidden, len(public) + 1)]
        for label, case, number, store in drawn:
            try:
                expected = CaseValues(question, case, number, store).expected()
            except Exception as error:
                line = _where_raised(error, assignment.suite_file)
                raise AuthoringError(f"{assignment.suite_file}{line}: question {question.name!r}: the reference "
                                     f"fails on its own {label} ({case.describe()[:80]}): {_first_line(error)}") \
                    from None
            answer = from_value(expected)
            opaque = _opaque(answer)
            if opaque is not None:
                raise AuthoringError(f"{where}: the reference returns {opaque} on {label}; return "
                                     "plain data (numbers, numpy arrays, tuples, lists or dicts of them)")


def _opaque(answer: Answer) -> str | None:
    """What in an answer is not plain data, or None."""
    if isinstance(answer, Opaque | Text):
        return answer.describe()
    children = answer.items if isinstance(answer, Items) else \
        [item for _, item in answer.entries] if isinstance(answer, Entries) else []
    return next((found for found in map(_opaque, children) if found is not None), None)
