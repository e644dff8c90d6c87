"""Bake a suite into question specs for in-kernel grading (the otter export and the nbgrader benchmark).

Runs on the trusted side: each question's public cases and one draw of its hidden cases (from ``seed``, through
the grader's own question_rng, so the cases are those dlgrade would generate for that seed), with the reference's
expected output, the outputs of known mistakes on public cases, and, for judged questions, the data of the
judge's in-kernel twin (dlgrade.interop.judges). The spec is JSON in the checks.json value format
(dlgrade.checking.local); dlgrade/interop/kernel.py reads it in the student's kernel.

What baking cannot keep: hidden cases are fixed at export time (dlgrade draws new ones per submission), and
their inputs and expected values sit in the exported files, readable by any code that runs beside them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from dlgrade import checking
from dlgrade.assignments import Assignment
from dlgrade.checking.local import CHECKS_FILE, Unbakeable, encode
from dlgrade.errors import UsageError
from dlgrade.grading import expected_value, question_rng
from dlgrade.interop import kernel
from dlgrade.interop.judges import judge_key, twin_for
from dlgrade.release import CHECKER_DIR, checks_json, revealed_mistakes
from dlgrade.suite import Case, Question

__all__ = ["ExportError", "bake_question", "bake_suite", "decode_roundtrip", "public_only", "spec_json",
           "write_kernel_checker"]


class ExportError(UsageError):
    """The suite cannot be exported to in-kernel tests (an unbakeable case, a judge without a twin)."""


def _bake_case(question: Question, case: Case, number: int, public: bool, seed: int,
               with_mistakes: bool) -> dict[str, Any]:
    label = f"public case {number}: {case.describe()}" if public else f"hidden case {number}"
    try:
        baked: dict[str, Any] = {"label": label, "public": public, "seed": seed + number,
                                 "args": encode(list(case.args)), "kwargs": encode(dict(case.kwargs))}
    except Unbakeable as why:
        raise ExportError(f"{question.name}, {label}: its inputs are not plain data ({why})") from None
    twin = twin_for(question)
    if twin is not None:
        return baked | {"judge_data": encode(twin.data(question, case))}
    expected = expected_value(question, case)
    try:
        baked["expected"] = encode(expected)
    except Unbakeable as why:
        raise ExportError(f"{question.name}, {label}: its expected answer is {why}") from None
    baked["mistakes"] = revealed_mistakes(question, case, expected) if with_mistakes and public else []
    return baked


def bake_question(assignment: Assignment, question: Question, seed: int, *, hidden: bool = True,
                  mistakes: bool = True) -> dict[str, Any]:
    """The spec of one question: its public cases, then (``hidden``) the hidden cases drawn from ``seed``.

    Case n (1-based, public first) is called with seed + n, as dlgrade's worker does.
    """
    if question.numbers is not None:
        raise ExportError(f"{assignment.id}/{question.name}: its answers are computed on each student's own "
                          "numbers, which a kernel cannot check without being told every student's answers (and "
                          "whom to believe); grade it with dlgrade (autograde, or the Gradescope export)")
    if question.judge is not None and twin_for(question) is None:
        raise ExportError(f"{assignment.id}/{question.name}: its judge ({judge_key(question)}) has no in-kernel "
                          "twin in dlgrade/interop/judges.py, so it cannot be graded inside a kernel")
    # A hand-computed variable's one case is its answer: students never see it, so it goes with the hidden ones.
    cases = [(case, question.kind != "variable") for case in question.public()]
    if hidden:
        cases += [(case, False) for case in question.hidden(question_rng(seed, question))]
    twin = twin_for(question)
    return {
        "format": kernel.SPEC_FORMAT, "assignment": assignment.id, "question": question.name,
        "entry": question.entry, "kind": question.kind, "points": float(assignment.points[question.name]),
        "rtol": float(question.rtol), "atol": float(question.atol), "dtype": question.dtype,
        "output_names": list(question.output_names), "autograd": bool(question.autograd),
        "check_mutation": bool(question.check_mutation), "timeout": float(question.timeout),
        "harness": question.harness,
        "harness_source": assignment.suite.harness_source if question.harness else "",
        "judge": {"key": judge_key(question), "source": twin.source} if twin is not None else None,
        "hint": question.hint,
        "mistakes": [{"name": m.name, "feedback": m.feedback} for m in question.mistakes],
        "cases": [_bake_case(question, case, number, public, seed, mistakes)
                  for number, (case, public) in enumerate(cases, 1)],
    }


def bake_suite(assignment: Assignment, seed: int, *, hidden: bool = True) -> dict[str, dict[str, Any]]:
    """question name -> spec, in notebook order."""
    return {question.name: bake_question(assignment, question, seed, hidden=hidden)
            for question in assignment.suite.questions}


def spec_json(spec: dict[str, Any]) -> str:
    """A spec's JSON text (compact, sorted keys, no NaN literals: non-finite floats are already encoded)."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def public_only(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec without its hidden cases (what a student may see)."""
    return spec | {"cases": [case for case in spec["cases"] if case.get("public")]}


def write_kernel_checker(folder: Path, assignment: Assignment) -> Path:
    """folder/dlcheck/: the checking package (as a release ships it, with checks.json) plus kernel.py, the
    in-kernel runtime the exported tests call."""
    target = folder / CHECKER_DIR
    target.mkdir(parents=True, exist_ok=True)
    for module in sorted(Path(checking.__file__).resolve().parent.glob("*.py")):
        shutil.copyfile(module, target / module.name)
    (target / CHECKS_FILE).write_text(checks_json(assignment.suite), encoding="utf-8")
    shutil.copyfile(Path(kernel.__file__).resolve(), target / "kernel.py")
    return target


def decode_roundtrip(value: Any) -> Any:
    """``value`` as the kernel runtime receives it: encoded to the spec's JSON and decoded again (numpy only)."""
    from dlgrade.checking.local import decode

    return decode(json.loads(json.dumps(encode(value), allow_nan=False)), tensors=False)
