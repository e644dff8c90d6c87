"""What a student is shown of a graded submission, by the assignment's ``hidden`` policy.

    full          every question's feedback and every case's message, as `dlgrade grade` reports them
    per-question  each question's score and status, and its public cases; of the hidden cases only how many passed
    score         the total only

In every mode a hidden case keeps its inputs to itself (the engine never puts them in a result), and nothing the
student's own code wrote about a hidden case is repeated: an exception's message, a returned string, dict keys
or a class name could carry the hidden inputs out (``raise ValueError(repr(x))``), so they are replaced by what
the trusted side knows (the exception's built-in class, "a string", "a dict").
The input is a result as the grading process stored it (autograde.result_to_data of a checked result).
"""

from __future__ import annotations

import builtins
import re
from typing import Any

from dlgrade import report
from dlgrade.grading import CaseResult, QuestionResult, SubmissionResult
from dlgrade.suite import Mistake

_BUILTIN_ERRORS = {name for name, value in vars(builtins).items()
                   if isinstance(value, type) and issubclass(value, BaseException)}
_QUOTED = r"(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
_STRING = re.compile(r"the string " + _QUOTED)
_KEY_LIST = re.compile(r"\[(?:\s*" + _QUOTED + r"\s*,?)*\s*\]")
_DICT_KEYS = re.compile(r"a dict with keys " + _KEY_LIST.pattern)
_UNEXPECTED = re.compile(r"unexpected " + _KEY_LIST.pattern)
# "got a X" where X is a type's name: the student's own classes are named by the student.
_GOT_TYPE = re.compile(r"\b(got) an? ([A-Za-z_][\w.]*)")
# Types the engine names itself; any other name is a class of the student's, named as the student pleased.
_SAFE_TYPE = re.compile(r"(?:float|int|bool|str|string|list|tuple|dict|None|ndarray|tensor|torch\.Tensor|"
                        r"numpy\.(?:u?int(?:8|16|32|64)|float(?:16|32|64|128)|complex(?:64|128|256)|bool_?|ndarray|"
                        r"str_|bytes_|longdouble|object_))")


def _kept_type(match: re.Match[str]) -> str:
    if _SAFE_TYPE.fullmatch(match.group(2)):
        return match.group(0)
    return f"{match.group(1)} a value of a class of your own"


def _error_class(message: str) -> str | None:
    """The built-in exception named on a traceback's last line ("ValueError: ..."), if it is one."""
    for line in reversed(message.strip().splitlines()):
        head = line.strip().removeprefix("not run: ").split(":", 1)[0].strip()
        if head in _BUILTIN_ERRORS:
            return head
    return None


def hidden_message(case: dict[str, Any]) -> str:
    """A hidden case's message with everything the student's code wrote taken out."""
    status, message = str(case.get("status", "")), str(case.get("message", ""))
    prefix = "not run: " if message.startswith("not run: ") else ""
    if status == "failed" or status == "timeout":
        text = _STRING.sub("a string", message)
        text = _DICT_KEYS.sub("a dict", text)
        text = _UNEXPECTED.sub("unexpected keys", text)
        return _GOT_TYPE.sub(_kept_type, text)
    if status == "passed":
        return message
    if status == "not_implemented":
        return prefix + "not implemented yet"
    error = _error_class(message)
    raised = f"raised {error}" if error else "raised an error (or ended the worker)"
    return (f"{prefix}your code {raised} on this hidden case; its message is not shown, since it could hold the "
            "hidden inputs")


def _case(raw: dict[str, Any], mode: str) -> CaseResult:
    public = bool(raw.get("public")) or mode == "instructor"
    return CaseResult(
        label=str(raw.get("label", "")), public=public, passed=bool(raw.get("passed")),
        status=str(raw.get("status", "")), message=str(raw.get("message", "")) if public else hidden_message(raw),
        mistake=raw.get("mistake") if isinstance(raw.get("mistake"), str) else None,
        inputs=raw.get("inputs") if public else None, yours=raw.get("yours") if public else None,
        expected=raw.get("expected") if public else None)


def _never(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("a stored diagnosis is words only")


def _question(raw: dict[str, Any], mode: str) -> QuestionResult:
    cases = [_case(c, mode) for c in raw.get("cases") or []]
    feedback = str(raw.get("feedback", ""))
    for original, shown in zip(raw.get("cases") or [], cases, strict=True):
        if not shown.public and original.get("message") and original["message"] != shown.message:
            feedback = feedback.replace(str(original["message"]), shown.message)
    diagnosis = raw.get("diagnosis")
    mistake = Mistake(str(diagnosis["name"]), str(diagnosis["feedback"]), _never, "") \
        if isinstance(diagnosis, dict) else None
    if mode == "per-question":
        public = [c for c in cases if c.public]
        hidden = [c for c in cases if not c.public]
        lines = []
        if public:
            lines.append(f"Public cases: {sum(c.passed for c in public)} of {len(public)} passed.")
            first = next((c for c in public if not c.passed), None)
            if first is not None:
                lines.append(f"First problem, {first.label}: {first.message}")
                if first.yours is not None:
                    lines.append(f"  yours:    {first.yours}\n  expected: {first.expected}")
        if hidden:
            lines.append(f"Hidden cases: {sum(c.passed for c in hidden)} of {len(hidden)} passed (their details "
                         "are not shown for this assignment).")
        feedback, mistake, cases = "\n".join(lines), None, public
    return QuestionResult(str(raw.get("name", "")), str(raw.get("entry", "")), float(raw.get("score", 0.0)),
                          float(raw.get("max_score", 0.0)), str(raw.get("status", "")), feedback, mistake,
                          tuple(cases))


def student_result(data: dict[str, Any], mode: str) -> SubmissionResult:
    """The stored result as the student may see it under ``mode`` (score | per-question | full), or all of it
    (``instructor``)."""
    questions = tuple(_question(q, mode) for q in data.get("questions") or [])
    if mode == "score":
        score = round(sum(q.score for q in questions), 2)
        total = round(sum(q.max_score for q in questions), 2)
        questions = (QuestionResult(
            "total", "", score, total, "passed" if score >= total - 1e-9 else "failed",
            "Only the total is shown for this assignment (the course's policy).", None, ()),)
    return SubmissionResult(
        assignment=str(data.get("assignment", "")), submission="", questions=questions,
        notes=tuple(str(n) for n in data.get("notes") or []), output=str(data.get("output", "")),
        sandbox=tuple(str(s) for s in data.get("sandbox") or []),
        execution_time=float(data.get("execution_time", 0.0)), student_time=float(data.get("student_time", 0.0)),
        suite_version=str(data.get("suite_version", "")))


def results_json(data: dict[str, Any], mode: str) -> dict[str, Any]:
    """Gradescope-style results JSON as the student may see it (the total alone, under ``score``)."""
    shown = report.to_json(student_result(data, mode))
    if mode == "score":
        shown["tests"] = []
    shown["visibility"] = mode
    return shown


def feedback_html(data: dict[str, Any], mode: str) -> str:
    """dlgrade's feedback page of the result as the student may see it."""
    return report.to_html(student_result(data, mode))
