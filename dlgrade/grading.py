"""Grade one submission: extract -> execute (sandboxed) -> compare -> diagnose, each a small step.

The trusted side builds every case, computes every expected value and every known-mistake variant, and decides
every score. The worker only runs student code and hands back plain arrays. A worker that dies or hangs fails
the question it was answering; a fresh child (the same student code, re-run) answers the next question.

Questions are answered by world (see World): the open questions by a child of the torch sandbox, the by-hand
questions that need torch by a child whose guard put their rules in force before any cell ran, the numpy-only
ones by a child of the numpy-only sandbox. Each world's child runs the whole notebook, once per submission.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dlgrade.assignments import Assignment
from dlgrade.banned import Rules, find_banned
from dlgrade.boundary import messages
from dlgrade.boundary.text import plain
from dlgrade.by_hand import REFUSED, World, question_rules, refused_at_run_time, worlds
from dlgrade.checking.answers import Answer, Entries, Items, Leaf, Nothing, from_value
from dlgrade.checking.compare import Outcome, compare, precision_for
from dlgrade.checking.student_numbers import TEMPLATE_SECRET, normalise_id, numbers_key, student_numbers
from dlgrade.insight.figures import Figure, case_figure
from dlgrade.insight.probes import PROBED_STATUSES, ProbeAnswers, ProbeSet, behaviour, probe_set
from dlgrade.notebook import CodeCell, Extraction, extract
from dlgrade.sandbox import protocol
from dlgrade.sandbox.launcher import Job, Sandbox, SandboxUnavailable, WorkerGone
from dlgrade.suite import Case, Mistake, Question, Suite, unwrap_tensors

ANSWER_SLACK_BYTES = protocol.KEPT_UNASKED  # read of any answer, whatever its case expects (answer_budget)
ANSWER_FACTOR = 8  # times the expected answer's bytes
JUDGED_ANSWER_BYTES = 16 << 20  # a judged answer (a trained model's state dict) is read up to this
NPY_HEADER_BYTES = 128  # a plain .npy header, as protocol.encode_array writes it (64 or 128 bytes)
MAX_NOTE_CHARS = 2000
EXEC_TIMEOUT = 60.0  # seconds for the student's top-level code (all cells), per attempt
GUARD_TIMEOUT = 30.0  # seconds for a child to put a by-hand question's rules in force (~0.1 s)
MAX_SKIPPED_CELLS = 5  # cells that hang or kill the worker are skipped, then the rest is re-run
STATUSES = ("passed", "failed", "error", "timeout", "banned", "not_implemented")
INFRASTRUCTURE_ATTEMPTS = 2  # a submission whose sandbox fails under it is graded again once, on a fresh one
WARM_UP_STUDENT = "dlgrade-warm-up"  # whose numbers Grader.warm_up grades the solution on (no one's)
# Part of every result's key (dlgrade.autograde.assignment_fingerprint): raised by a change to the engine that
# changes a grade, so the next `dlgrade autograde` grades again what the old engine graded wrong. 2 (December
# 2026): a .py script is the notebook of its top-level statements, a question owns only its own cells, and a
# statement a world refuses (torch named in a numpy-only child) skips itself alone.
GRADING_REVISION = 2


class InfrastructureFailure(Exception):
    """The platform failed under a submission, not the student's code: the sandbox's fork server (or bubblewrap
    around it) died while a job ran (the OOM killer, an operator's kill, a crash of ours), or no job could be
    started. Never scored, never recorded: Grader.grade grades the submission again on a fresh sandbox, and
    raises this only when that fails too, so the caller reports the submission as not graded."""


# ---- results -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseResult:
    """One case: passed or why not. Public cases carry their inputs and values; hidden ones only the message."""

    label: str
    public: bool
    passed: bool
    status: str  # passed | failed | error | timeout | not_implemented
    message: str
    mistake: str | None = None  # the known mistake whose variant reproduces this failed answer, if one does
    inputs: str | None = None
    yours: str | None = None
    expected: str | None = None
    figure: Figure | None = None  # public cases only: yours against expected, drawn on the feedback page


@dataclass(frozen=True)
class QuestionResult:
    name: str
    entry: str
    score: float
    max_score: float
    status: str
    feedback: str
    diagnosis: Mistake | None
    cases: tuple[CaseResult, ...]
    # Failed without a known mistake: the submission's answers on the course's probe set (dlgrade.insight.probes).
    probe: ProbeAnswers | None = None


@dataclass(frozen=True)
class SubmissionResult:
    assignment: str
    submission: str
    questions: tuple[QuestionResult, ...]
    notes: tuple[str, ...]
    output: str  # what the student's code printed while its cells ran (capped)
    sandbox: tuple[str, ...]
    execution_time: float
    student_time: float  # as reported by the worker: the student code's own run time
    suite_version: str

    @property
    def score(self) -> float:
        return round(sum(q.score for q in self.questions), 2)

    @property
    def max_score(self) -> float:
        return round(sum(q.max_score for q in self.questions), 2)


# ---- the per-submission secret seed ----------------------------------------------------------------------


def submission_seed(secret: bytes, extraction: Extraction, suite_version: str) -> int:
    """Hidden cases' seed: secret, and changes with the submission's code, so a learned answer does not carry
    over; the same submission regraded gets the same cases (idempotent grading)."""
    digest = hashlib.sha256()
    for cell in extraction.cells:
        digest.update(cell.id.encode() + b"\0" + cell.source.encode() + b"\0")
    mac = hmac.new(secret, digest.digest() + suite_version.encode(), hashlib.sha256).digest()
    return int.from_bytes(mac[:8], "big")


def question_rng(seed: int, question: Question) -> np.random.Generator:
    return np.random.default_rng([seed, int.from_bytes(hashlib.sha256(question.name.encode()).digest()[:4], "big")])


# ---- executing student code ------------------------------------------------------------------------------


class Session:
    """The student's code loaded in a worker child; restarted (skipping cells that hang or crash) on demand.
    ``numbers``: the graded student's own numbers, which the notebook's my_numbers() returns in the worker;
    ``guard``: the by-hand rules (guard.py's policy) the child puts in force before it runs anything; ``skipped``:
    cells known to hang or crash (from another world's child), not run again."""

    def __init__(self, sandbox: Sandbox, cells: tuple[CodeCell, ...], harness: str,
                 numbers: dict[str, float] | None = None, guard: dict[str, Any] | None = None,
                 skipped: dict[str, str] | None = None) -> None:
        self.sandbox, self.cells, self.harness, self.numbers, self.guard = sandbox, cells, harness, numbers, guard
        self.job: Job | None = None
        self.skipped: dict[str, str] = dict(skipped or {})
        self.cell_errors: dict[str, str] = {}
        self.output = ""
        self.student_time = 0.0
        self.first_load = True

    def ready(self) -> Job:
        """A live child with the student's cells executed."""
        while self.job is None or self.job.dead:
            self.job = self._load()
        return self.job

    def whose(self, gone: WorkerGone) -> WorkerGone:
        """A job's child died or hung: the student's doing, returned as it is, unless the sandbox itself died under
        it (its fork server gone), which is ours: InfrastructureFailure."""
        if not self.sandbox.survived():
            raise InfrastructureFailure(f"the sandbox died while it ran this submission ({gone})") from gone
        return gone

    def _load(self) -> Job:
        try:
            job = self.sandbox.open_job()
        except (SandboxUnavailable, WorkerGone, OSError) as error:  # nothing of the student's has run yet
            raise InfrastructureFailure(f"no sandbox job could be started ({error})") from error
        if self.guard is not None:
            _install_guard(self, job, self.guard)
        try:
            if self.harness:
                job.send({"op": "harness", "source": self.harness})
                _checked(job, messages.harnessed, job.receive(time.monotonic() + 30.0, _no_arrays).header)
        except WorkerGone as gone:
            raise self.whose(gone) from None
        cells = [c for c in self.cells if c.id not in self.skipped]
        ids = [c.id for c in cells]
        deadline, current, started = time.monotonic() + EXEC_TIMEOUT, None, 0
        try:
            job.send({"op": "exec", "cells": [{"id": c.id, "source": c.source, **({"line": c.line} if c.line > 1
                                                                                   else {})} for c in cells],
                      "numbers": self.numbers})
            while True:
                header = job.receive(deadline, _no_arrays).header
                cell = _checked(job, messages.progress, header, ids, started)
                if cell is None:
                    current = None  # every cell has run: a broken end of the run is no one cell's to skip
                    done = _checked(job, messages.executed, header, ids)
                    break
                current, started = cell, started + 1
        except WorkerGone as gone:
            self.whose(gone)
            if current is None or len(self.skipped) >= MAX_SKIPPED_CELLS:
                raise
            why = "ran too long" if gone.timed_out else "broke the grader's protocol" if gone.broke_protocol \
                else "ended the worker process"
            self.skipped[current] = f"cell {current} {why} when run, and was skipped"
            return job  # dead: ready() loads again without that cell
        if self.first_load:
            self.first_load = False
            self.output = done.output
            self.student_time += done.seconds
            self.cell_errors.update(done.errors)
        return job

    def close(self) -> None:
        if self.job is not None:
            self.job.close()


def _install_guard(session: Session, job: Job, policy: dict[str, Any]) -> None:
    """Have a fresh child put a by-hand question's rules in force before it runs any cell. Nothing of the student's
    has run in it yet, so any failure here is the platform's, never the student's: InfrastructureFailure (the
    submission is graded again on a fresh sandbox, or reported as not graded)."""
    try:
        job.send({"op": "guard", "policy": policy})
        why = _checked(job, messages.guarded, job.receive(time.monotonic() + GUARD_TIMEOUT, _no_arrays).header)
    except WorkerGone as gone:
        session.whose(gone)  # the sandbox died: InfrastructureFailure already
        raise InfrastructureFailure(f"a child could not put the by-hand rules in force ({gone})") from None
    if why is not None:
        job.kill()
        raise InfrastructureFailure(f"a child could not put the by-hand rules in force: {why[-300:]}")


@dataclass(frozen=True)
class Reply:
    """What the worker said about one call, decoded and checked."""

    status: str  # ok | error | not_implemented | missing | timeout | crashed
    error: str = ""
    answer: Answer | None = None
    args_after: Answer | None = None


def _no_arrays(header: dict[str, Any]) -> int:
    """The budget of a message that carries no arrays (all but answers): none is held beyond what a reader keeps
    unasked, and the schema then refuses the message."""
    return 0


def _checked(job: Job, check: Callable[..., Any], *args: Any) -> Any:
    """check(*args) on a message (dlgrade.boundary.messages); a message that breaks the schema kills the job, as
    any other protocol violation does."""
    try:
        return check(*args)
    except protocol.ProtocolError as error:
        job.kill()
        raise WorkerGone(f"the worker broke protocol: {error}", broke_protocol=True) from None


def ask(session: Session, question: Question, cases: list[Case], timeout: float, seed: int,
        budget: Callable[[int], int]) -> Iterator[Reply]:
    """Run a question's cases in the worker: one request, then one answer per case, each read only when the
    caller asks for it (so each is compared before the next is read, and none is held longer) and kept only up
    to ``budget(number)`` bytes of arrays, the case's allowance (see answer_budget). Stops early (fewer replies
    than cases, the last one saying why) when the worker hangs past ``timeout`` seconds, dies or breaks protocol.
    The clock starts once the child is ready: neither the sweep of the previous child nor a reload of the student's
    cells (which has a budget of its own) is charged to the question."""
    try:
        job = session.ready()
    except WorkerGone as gone:
        yield Reply("timeout" if gone.timed_out else "crashed", f"your code could not be loaded: {gone}")
        return
    deadline = time.monotonic() + timeout
    blobs: list[bytes] = []
    calls = [{
        "op": "call", "nonce": job.nonce, "entry": question.entry, "kind": question.kind, "seq": number,
        "harness": question.harness, "args": protocol.encode_value(list(case.args), blobs),
        "kwargs": protocol.encode_value(dict(case.kwargs), blobs), "autograd": question.autograd,
        "return_args": question.check_mutation and question.kind == "function", "seed": seed + number,
    } for number, case in enumerate(cases, 1)]
    try:
        job.send({"op": "calls", "calls": calls}, blobs)
        del blobs, calls
        for number in range(1, len(cases) + 1):
            yield _read_reply(session, job, number, deadline, budget)
    except WorkerGone as gone:
        session.whose(gone)
        if gone.timed_out:
            yield Reply("timeout", f"did not finish within the question's {question.timeout:g} s budget")
        elif gone.broke_protocol:
            why = plain(str(gone).removeprefix("the worker broke protocol: "), 300)
            yield Reply("crashed", f"your code broke the grader's protocol ({why}); the question's remaining cases "
                                   "were not run")
        else:
            yield Reply("crashed", "your code ended the worker process (exit, crash, or a memory/CPU limit)")


def _read_reply(session: Session, job: Job, number: int, deadline: float, budget: Callable[[int], int]) -> Reply:
    """The answer to call ``number``, checked against the schema (dlgrade.boundary.messages); its arrays read up
    to the case's budget, asked for only by an answer with a value too large to keep unasked."""
    message = job.receive(deadline, lambda header: budget(number) if header.get("status") == "ok" else 0)
    answered = _checked(job, messages.answered, message.header, message.blobs, number)
    session.student_time += answered.seconds
    if answered.status != "ok":
        return Reply(answered.status, answered.error)
    return Reply("ok", answer=answered.value, args_after=answered.args_after)


# ---- comparing and diagnosing ----------------------------------------------------------------------------


def expected_value(question: Question, case: Case) -> Any:
    return case.call(question.reference)


@dataclass(frozen=True)
class _Failed:
    """A trusted computation that raised (a known-mistake variant may well fail on some inputs)."""

    error: Exception


@dataclass
class CaseValues:
    """What the trusted side computes on one case (the reference's output, a cross-check, the known-mistake
    variants), each at most once. Public cases are the same for every submission, so the Grader keeps theirs in
    ``memo`` across submissions (a training question's expected trajectory is one reference training run, once
    per worker instead of once per student); a hidden case's values live for that one submission."""

    question: Question
    case: Case
    number: int  # the case's position in the question (public cases first: the same in every submission)
    memo: dict[tuple[str, int, str], Any] | None = None
    own: dict[tuple[str, int, str], Any] = field(default_factory=dict, repr=False)  # without a memo

    def of(self, name: str, function: Callable[..., Any]) -> Any:
        """case.call(function), remembered under ``name``; _Failed(error) if it raised."""
        store = self.memo if self.memo is not None else self.own
        key = (self.question.name, self.number, name)
        if key not in store:
            try:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    # A known mistake's variance of one value, a mean of nothing: its warning is no news for the
                    # instructor's terminal (the value is compared, and a NaN where a number belongs fails).
                    warnings.simplefilter("ignore", RuntimeWarning)
                    store[key] = self.case.call(function)
            except Exception as error:
                store[key] = _Failed(error)
        return store[key]

    def trusted(self, name: str, function: Callable[..., Any]) -> Any:
        """of(), raising what the function raised: a reference or cross-check failing is ours to hear about."""
        value = self.of(name, function)
        if isinstance(value, _Failed):
            raise value.error
        return value

    def expected(self) -> Any:
        return self.trusted("reference", self.question.reference)

    def wrong(self, name: str, variant: Any) -> bool:
        """Whether a known mistake's output on this case is itself a wrong answer (judged as a student's would
        be): only then can it explain a failure here. Remembered under ``name`` like the values."""
        store = self.memo if self.memo is not None else self.own
        key = (self.question.name, self.number, f"wrong:{name}")
        if key not in store:
            store[key] = _graded_wrong(self, variant)
        return bool(store[key])


def _graded_wrong(values: CaseValues, variant: Any) -> bool:
    question = values.question
    try:
        answer = from_value(variant)
        with np.errstate(all="ignore"):
            if question.judge is not None:
                return not question.judge(values.case, answer).passed
            return not compare(answer, values.expected(), rtol=question.rtol, atol=question.atol,
                               dtype=question.dtype, names=question.output_names).passed
    except Exception:  # a variant the grader cannot read or judge is no right answer either
        return True


def _outcome(question: Question, values: CaseValues, answer: Answer, expected: Any) -> Outcome:
    case = values.case
    if question.judge is not None:
        verdict = question.judge(case, answer)
        return Outcome(verdict.passed, verdict.message)
    outcome = compare(answer, expected, rtol=question.rtol, atol=question.atol, dtype=question.dtype,
                      names=question.output_names)
    if outcome.passed and question.cross_check is not None:
        second = values.trusted("cross_check", question.cross_check)
        outcome = compare(answer, second, rtol=question.rtol, atol=question.atol, dtype=question.dtype,
                          names=question.output_names)
    return outcome


def _mutation(case: Case, after: Answer | None, tolerance: float = 0.0, harnessed: bool = False) -> str | None:
    """Which argument the student's function changed in place (beyond ``tolerance``, relative and absolute), if
    any."""
    if after is None:
        return None
    returned = getattr(after, "items", ())
    for position, value in enumerate(unwrap_tensors(list(case.args))):
        if not isinstance(value, np.ndarray) or position >= len(returned) or _same(returned[position], value):
            continue
        if not compare(returned[position], value, rtol=tolerance, atol=tolerance, dtype="any").passed:
            which = "an array it was given" if harnessed else f"its argument {position + 1}"  # (a harness's
            return f"changed {which} in place; a function must not modify its inputs"  # positions are not theirs)
    return None


def _same(answer: Answer, value: np.ndarray) -> bool:
    """The argument came back exactly as it went (NaN where it was NaN): what most do, seen without compare()."""
    if not isinstance(answer, Leaf) or answer.array.shape != value.shape:
        return False
    try:
        return bool(np.array_equal(answer.array, value, equal_nan=value.dtype.kind in "fc"))
    except (TypeError, ValueError):
        return False


def matching_mistake(question: Question, failures: list[tuple[CaseValues, Answer]]) -> Mistake | None:
    """The first known mistake that explains every failed answer (see _matches; computed on the trusted side).
    Public failures come first: their variants are remembered across submissions, so a mistake that does not
    match is mostly ruled out without computing anything."""
    if not failures:
        return None
    ordered = sorted(failures, key=lambda failure: failure[0].memo is None)
    for mistake in question.mistakes:
        if all(_matches(question, mistake, values, answer) for values, answer in ordered):
            return mistake
    return None


def _matches(question: Question, mistake: Mistake, values: CaseValues, answer: Answer) -> bool:
    """Whether the mistake explains this failed answer: its variant reproduces the answer as the grader compared
    it (tolerance and dtype family: booleans are not the floats a variant returns), and the variant is itself
    wrong on this case (a variant that agrees with the reference here explains nothing)."""
    variant = values.of(f"mistake:{mistake.name}", mistake.compute)
    if isinstance(variant, _Failed):
        return False
    if not compare(answer, variant, rtol=question.rtol, atol=question.atol, dtype=question.dtype,
                   names=question.output_names, variant=True).passed:
        return False
    return values.wrong(f"mistake:{mistake.name}", variant)


def _untouched(answer: Answer) -> bool:
    """A variable still holding the template's None (or a tuple of Nones): not implemented, not wrong."""
    if isinstance(answer, Items):
        return all(isinstance(item, Nothing) for item in answer.items)
    return isinstance(answer, Nothing)


def _brief(outcome: Outcome, public: bool) -> str:
    """A failure in words; hidden cases keep their inputs and values to themselves."""
    if public or outcome.index is None and outcome.yours is None:
        return outcome.text()
    where = f"{outcome.where}: " if outcome.where else ""
    return f"{where}values differ from the expected ones (largest error {outcome.max_error:.3g})" \
        if outcome.max_error is not None else f"{where}{outcome.message.split(';')[0]}"


def _show(answer: Answer, precision: int = 6) -> str:
    """The student's answer as printed in feedback (public cases only), with ``precision`` digits after the
    point (enough to show the difference reported: compare.precision_for)."""
    if isinstance(answer, Items):
        return ("(" + ", ".join(_show(item, precision) for item in answer.items) + ")")[:400]
    if isinstance(answer, Entries):
        return ("{" + ", ".join(f"{k!r}: {_show(v, precision)}" for k, v in answer.entries) + "}")[:400]
    if isinstance(answer, Leaf):
        return np.array2string(answer.array, precision=precision, threshold=20)[:400]
    return answer.describe()[:400]


def _show_expected(value: Any, precision: int = 6) -> str:
    """The expected value as a student reads it: arrays printed (integers as integers), tuples and dicts item
    by item."""
    if isinstance(value, tuple | list):
        return ("(" + ", ".join(_show_expected(v, precision) for v in value) + ")")[:400]
    if isinstance(value, dict):
        return ("{" + ", ".join(f"{k!r}: {_show_expected(v, precision)}" for k, v in value.items()) + "}")[:400]
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "biu":
            array = array.astype(float)
        return np.array2string(array, precision=precision, threshold=20)[:400]
    except (TypeError, ValueError):
        return repr(value)[:400]


def _show_inputs(case: Case) -> str:
    parts = [_show_input(a) for a in unwrap_tensors(case.args)]
    parts += [f"{k}={_show_input(v)}" for k, v in case.kwargs.items()]
    return ", ".join(parts)[:600]


def _show_input(value: Any) -> str:
    """An input as the feedback prints it: arrays summarised (numpy's repr would print a weight matrix in full, to be
    cut at 600 characters anyway), inside dicts, tuples and lists too."""
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=4, threshold=12)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_show_input(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple | list) and any(isinstance(v, np.ndarray | dict | tuple | list) for v in value):
        inner = ", ".join(_show_input(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    return repr(value)


# ---- how much of an answer is read ----------------------------------------------------------------------


def _wire_bytes(value: Any) -> int:
    """The bytes a plain value takes as the worker sends it: 8 per number, a .npy header per array."""
    if isinstance(value, protocol.TensorArg):
        value = value.array
    if isinstance(value, np.ndarray):
        return 8 * value.size + NPY_HEADER_BYTES
    if isinstance(value, tuple | list):
        return sum(_wire_bytes(item) for item in value)
    if isinstance(value, dict):
        return sum(_wire_bytes(item) for item in value.values())
    return 8 + NPY_HEADER_BYTES


def answer_budget(question: Question, values: CaseValues) -> int:
    """The bytes of arrays the trusted side reads of an answer to this case, known before the answer is read:
    ANSWER_FACTOR times the expected answer's plus ANSWER_SLACK_BYTES (so a wrong shape or a known mistake's
    variant is still read and named), JUDGED_ANSWER_BYTES for a judged answer (a trained model's weights), plus
    the arguments when they come back for the in-place check. Arrays beyond it are never held: such an answer
    fails its case as too large to read."""
    if question.judge is not None:
        allowed = JUDGED_ANSWER_BYTES
    else:
        allowed = ANSWER_SLACK_BYTES + ANSWER_FACTOR * _wire_bytes(values.expected())
    if question.check_mutation and question.kind == "function":
        allowed += _wire_bytes(values.case.args)
    return allowed


# ---- one question, one submission ------------------------------------------------------------------------


def grade_question(question: Question, points: float, extraction: Extraction, session: Session,
                   seed: int, memo: dict[tuple[str, int, str], Any] | None = None,
                   hidden_memo: dict[tuple[str, int, str], Any] | None = None, student: str | None = None,
                   numbers: dict[str, float] | None = None, rules: Rules | None = None) -> QuestionResult:
    """``memo`` keeps the trusted values of public cases across submissions (see CaseValues); ``hidden_memo``
    those of the hidden cases, for a caller that grades many submissions with the same seed (mutation testing).
    ``student`` and ``numbers``: whose submission this is and their own numbers, for a question with per-student
    numbers. ``rules`` are the question's for the static check (question_rules; by default its own solution cell
    only). A by-hand question whose rules are broken, found by the static check or refused while its cells or
    calls ran, scores 0 (banned)."""
    rules = rules or question_rules(None, question)
    violation = find_banned(extraction.cells, rules)
    if violation is not None:
        return QuestionResult(question.name, question.entry, 0.0, points, "banned", violation.message(), None, ())
    if question.numbers is not None:
        if numbers is None:
            return _nobody(question, points)
        cases = [(own_numbers_case(student or "", numbers), True)]
        memo = None  # the case is this student's: nothing of it may serve the next submission
    else:
        cases = [(case, True) for case in question.public()]
    cases += [(case, False) for case in question.hidden(question_rng(seed, question))]
    results: list[CaseResult] = []
    failures: list[tuple[CaseValues, Answer]] = []
    explained: list[int] = []  # where in results the failures are: a matching mistake is named on those cases
    values_of = [CaseValues(question, case, number, memo if public else hidden_memo)
                 for number, (case, public) in enumerate(cases, 1)]
    replies = ask(session, question, [case for case, _ in cases], question.timeout, seed,
                  lambda number: answer_budget(question, values_of[number - 1]))
    stop: CaseResult | None = None
    for number, (case, public) in enumerate(cases, 1):
        label = f"public case {number}: {case.describe()}" if public else f"hidden case {number}"
        reply = next(replies, None)  # read even after a stop: the worker answers every call, and none is left
        forbidden = _refused(question, session, rules, reply)
        if forbidden is not None:
            for _ in replies:  # the rest is read (and dropped) all the same: none is left for the next question
                pass
            return QuestionResult(question.name, question.entry, 0.0, points, "banned",
                                  f"Your code used what this exercise does not allow ({forbidden})", None, ())
        if stop is not None or reply is None:
            reason = stop or results[-1]
            results.append(CaseResult(label, public, False, reason.status, "not run: " + reason.message))
            continue
        if reply.status != "ok" or reply.answer is None:
            status = {"missing": "not_implemented", "crashed": "error"}.get(reply.status, reply.status)
            message = reply.error or reply.status
            if reply.status == "missing":
                message = f"{question.entry} is not defined: write it in the solution cell"
                own_failure = cell_failure(session, question.cell)  # known once the cells ran (the first reply)
                if own_failure:
                    message = f"{question.entry} is not defined: your cell {question.cell} {own_failure} before it " \
                              f"got there"
            elif reply.status == "not_implemented":
                message = f"{question.entry} is not implemented yet"
            result = CaseResult(label, public, False, status, message)
            results.append(result)
            if reply.status in ("timeout", "crashed", "missing"):
                stop = result
            continue
        if question.kind == "variable" and _untouched(reply.answer):
            results.append(CaseResult(label, public, False, "not_implemented",
                                      f"{question.entry} is still None: put your number in it"))
            continue
        values = values_of[number - 1]
        expected = values.expected() if question.judge is None else None
        outcome = _outcome(question, values, reply.answer, expected)
        mutated = _mutation(case, reply.args_after, question.mutation_tolerance, question.harness is not None) \
            if outcome.passed and question.check_mutation else None
        if mutated:
            outcome = Outcome(False, mutated)
        if not outcome.passed and not mutated:
            failures.append((values, reply.answer))
            explained.append(len(results))
        # Values are printed only where a student needs them, and never a hand-computed answer's: that would
        # hand over the answer to a resubmission.
        hand_computed = question.kind == "variable"
        shown = public and not outcome.passed and not hand_computed
        brief = _without_values(question, reply.answer, expected) if hand_computed and not outcome.passed \
            else _brief(outcome, public)
        precision = precision_for(outcome.max_error, outcome.expected)
        figure = case_figure(reply.answer, expected, question.output_names, question.rtol, question.atol,
                             outcome.passed) if public and expected is not None else None
        if figure is not None and figure.kind != "curve" and any(r.figure for r in results if not r.passed):
            figure = None  # one plot of a failure per question (the page stays small); every loss curve
        results.append(CaseResult(
            label, public, outcome.passed, "passed" if outcome.passed else "failed", brief,
            inputs=_show_inputs(case) if shown else None,
            yours=_show(reply.answer, precision) if shown else None,
            expected=_show_expected(expected, precision) if shown and expected is not None else None,
            figure=figure,
        ))
        del reply  # compared: its arrays go now, unless a failure keeps them for the diagnosis
    mistake = matching_mistake(question, failures)
    if mistake is not None:
        for index in explained:
            results[index] = replace(results[index], mistake=mistake.name)
    return _summarise(question, points, results, mistake, _broken_cells_note(question, session, results))


_PROBE_VALUES: dict[str, dict[tuple[str, int, str], Any]] = {}  # per probe set (its key): the same for everyone


def probed(question: Question, graded: QuestionResult, session: Session, seed: int) -> QuestionResult:
    """A graded question with the submission's answers on its probe set (dlgrade.insight.probes) when it failed
    without a known mistake, as it was otherwise."""
    probes = probe_set(question, seed)
    if probes is None or graded.diagnosis is not None or graded.status not in PROBED_STATUSES:
        return graded
    return replace(graded, probe=probe_question(question, session, probes, seed))


def probe_question(question: Question, session: Session, probes: ProbeSet, seed: int) -> ProbeAnswers:
    """The submission's behaviour on the question's probe set, asked of the child that has its code loaded (one
    request, like grading's, each answer read within the same budget; the same calls' seeds for every student, so
    their own randomness agrees too)."""
    memo = _PROBE_VALUES.setdefault(probes.key, {})
    values = [CaseValues(question, case, number, memo) for number, case in enumerate(probes.cases, 1)]

    def budget(number: int) -> int:
        try:
            return answer_budget(question, values[number - 1])
        except Exception:  # the reference fails on this probe: read what any answer may be read to
            return ANSWER_SLACK_BYTES

    replies = list(ask(session, question, list(probes.cases), question.timeout, seed, budget))
    return behaviour(question, probes, replies, _show)


def _refused(question: Question, session: Session, rules: Rules, reply: Reply | None) -> str | None:
    """For a by-hand question, what its own cells (once they ran: by the first reply) or this call were refused at
    run time (a ForbiddenAPI from the child's guard), in words; None otherwise. Checked as each answer streams in,
    so a refusal anywhere bans the question whatever the other cases did."""
    if not question.by_hand or reply is None:
        return None
    return refused_at_run_time(session.cell_errors, rules, [reply.error] if reply.status == "error" else [])


def cell_failure(session: Session, cell: str) -> str:
    """How the cell failed when the student's notebook ran ("raised ModuleNotFoundError: ..."), or ''."""
    if cell in session.cell_errors:
        lines = session.cell_errors[cell].strip().splitlines() or ["an exception"]
        return f"raised {lines[-1][:300]}"
    if cell in session.skipped:
        return "ran too long or ended the worker when run, and was skipped"
    return ""


def _broken_cells_note(question: Question, session: Session, results: list[CaseResult]) -> str:
    """The cells that failed when the notebook ran, named on a question they may have broken: its own solution
    cell, or any cell when the question's code raised or its entry point is missing (an import that failed in
    another cell leaves a name undefined here)."""
    if all(result.passed for result in results):
        return ""
    own = cell_failure(session, question.cell)
    if own:
        return (f"Your cell {question.cell} {own} when the notebook ran: the lines after that point never ran. "
                "Fix that first.")
    if not any(result.status == "error" or "is not defined" in result.message for result in results):
        return ""  # plain wrong answers, or a stub still raising NotImplementedError: no cell to blame
    # A cell this question's world refused a line of (torch named where there is none) ran on past it: no name
    # of it is missing because of that, and naming it would send the student after a line that is fine.
    others = [f"{cell} {failure}" for cell in [*session.cell_errors, *session.skipped]
              if (failure := cell_failure(session, cell))
              and not REFUSED.fullmatch((session.cell_errors.get(cell, "").strip().splitlines() or [""])[-1])]
    if not others:
        return ""
    shown = "; ".join(others[:3]) + (f"; and {len(others) - 3} more" if len(others) > 3 else "")
    return f"When your notebook ran, cell {shown}: a name this question needs may never have been defined."


def own_numbers(assignment: Assignment, numbers_secret: bytes, student: str | None) -> dict[str, float] | None:
    """A student's own numbers for an assignment, drawn with the numbers key of ``numbers_secret`` (a course's
    secret, or the project's template secret); None where no question has them, or no student is named."""
    scheme = assignment.suite.numbers_scheme
    if scheme is None or student is None or not normalise_id(student):
        return None
    return student_numbers(scheme, numbers_key(numbers_secret, assignment.id), student)


def own_numbers_case(student: str, numbers: dict[str, float]) -> Case:
    """The one case of a per-student question: the student's numbers, as keyword arguments of reference and
    mistakes (the worker ignores them: a variable is looked up, not called)."""
    shown = ", ".join(f"{name} = {value:g}" for name, value in numbers.items())
    return Case(kwargs=dict(numbers), label=f"your numbers (student {normalise_id(student)!r}: {shown})")


def _nobody(question: Question, points: float) -> QuestionResult:
    """A per-student question graded without knowing the student: nothing to compare with, so no points."""
    message = ("not graded: this question is computed with the student's own numbers, and the grader was not told "
               "whose submission this is (dlgrade grade --student ID)")
    case = CaseResult("your numbers", True, False, "error", message)
    return QuestionResult(question.name, question.entry, 0.0, points, "error", f"0/1 cases passed.\n{message}",
                          None, (case,))


def _parts(question: Question, answer: Answer, expected: Any) -> list[tuple[str, Answer, Any]]:
    """(name, answer, expected) of each number of a tuple/dict answer whose structure matches, else []."""
    if isinstance(expected, tuple | list) and isinstance(answer, Items) and len(answer.items) == len(expected):
        names = [question.output_names[i] if i < len(question.output_names) else f"output[{i}]"
                 for i in range(len(expected))]
        return list(zip(names, answer.items, expected, strict=True))
    if isinstance(expected, dict) and isinstance(answer, Entries) and {k for k, _ in answer.entries} == set(expected):
        given = dict(answer.entries)
        return [(repr(key), given[key], value) for key, value in expected.items()]
    return []


def _without_values(question: Question, answer: Answer, expected: Any) -> str:
    """What is wrong with a hand-computed answer, never what it should be: which of its numbers are not right,
    or what is wrong with its form (a form's words hold no expected value)."""
    def wrong_form(outcome: Outcome) -> bool:  # a structural problem, told without numbers
        return outcome.index is None and outcome.yours is None and outcome.expected is None \
            and outcome.max_error is None

    parts = _parts(question, answer, expected)
    if not parts:
        outcome = compare(answer, expected, rtol=question.rtol, atol=question.atol, dtype=question.dtype,
                          names=question.output_names)
        return outcome.text() if wrong_form(outcome) else "your number is not right"
    wrong, forms = [], []
    for name, item, wanted in parts:
        outcome = compare(item, wanted, rtol=question.rtol, atol=question.atol, dtype=question.dtype)
        if not outcome.passed:
            wrong.append(name)
            if wrong_form(outcome):
                forms.append(f"{name}: {outcome.text()}")
    if forms:
        return "; ".join(forms)
    right = [name for name, _, _ in parts if name not in wrong]
    verb = "is" if len(wrong) == 1 else "are"
    return f"{', '.join(wrong)} {verb} not right" + (f" ({', '.join(right)} {'is' if len(right) == 1 else 'are'} "
                                                     "right)" if right else "")


def _summarise(question: Question, points: float, results: list[CaseResult],
               mistake: Mistake | None, note: str = "") -> QuestionResult:
    passed = sum(r.passed for r in results)
    total = len(results) or 1
    statuses = {r.status for r in results}
    if passed == len(results) and results:
        status = "passed"
    elif "timeout" in statuses:
        status = "timeout"
    elif statuses <= {"not_implemented"}:
        status = "not_implemented"
    elif passed == 0 and "error" in statuses and "failed" not in statuses:
        status = "error"
    else:
        status = "failed"
    score = round(points * passed / total, 2)
    lines = [f"{passed}/{len(results)} cases passed."]
    if note:
        lines.append(note)
    if mistake is not None:
        lines.append(f"Known mistake ({mistake.name}): {mistake.feedback}")
    first = next((r for r in results if not r.passed), None)
    if first is not None:
        lines.append(f"First problem, {first.label}: {first.message}")
        if first.public and first.yours is not None:  # (a judged case has no one expected value to show)
            lines.append(f"  yours:    {first.yours}" + (f"\n  expected: {first.expected}" if first.expected else ""))
        if mistake is None and question.hint and status == "failed":
            lines.append(f"Hint: {question.hint}")
    return QuestionResult(question.name, question.entry, score, points, status, "\n".join(lines), mistake,
                          tuple(results))


_PUBLIC_VALUES: dict[tuple[str, str], dict[tuple[str, int, str], Any]] = {}


def public_values(assignment: Assignment) -> dict[tuple[str, int, str], Any]:
    """The memo of an assignment's public-case values in this process, per suite version (see CaseValues)."""
    return _PUBLIC_VALUES.setdefault((assignment.id, assignment.suite.version), {})


def precompute_public_values(assignment: Assignment) -> None:
    """Compute every public case's expected value now. A batch calls it before forking its workers: they then
    share the values, and the lazy imports the references trigger (torch.optim pulls in torch._dynamo, ~1.3 s),
    instead of each worker paying for them on its first submission. A reference that fails here is left for
    the grading to report."""
    memo = public_values(assignment)
    for question in assignment.suite.questions:
        if question.judge is not None or question.numbers is not None:  # judged, or the student's own numbers
            continue
        try:
            for number, case in enumerate(question.public(), 1):
                CaseValues(question, case, number, memo).of("reference", question.reference)
        except Exception:
            continue


@dataclass
class Grader:
    """Grades submissions of one assignment, one after another, on one warm sandbox."""

    assignment: Assignment
    sandbox: Sandbox
    secret: bytes = field(default_factory=lambda: os.urandom(32))
    # Whose numbers the per-student questions use: a course's secret (autograde passes it), or by default the
    # project's student_template's (see dlgrade.checking.student_numbers).
    numbers_secret: bytes = TEMPLATE_SECRET
    on_question: Callable[[QuestionResult], None] | None = None
    # Trusted values of public cases (the same for every submission): by default shared by every Grader of this
    # assignment in the process (see public_values).
    public_values: dict[tuple[str, int, str], Any] | None = field(default=None, repr=False)
    # The course's probe seed (dlgrade.insight.probes.probe_seed): None asks no probe set (one-off grading).
    probe_seed: int | None = None

    def __post_init__(self) -> None:
        if self.public_values is None:
            self.public_values = public_values(self.assignment)
        self.sandbox.warm(self.assignment.suite.warm_up)
        for world, _ in worlds(self.assignment.suite):
            if world.policy is not None:  # the fork server works out once what a guarded child will replace
                self.sandbox.warm(f"import guard\nguard.prepare({world.policy!r})\n")

    def numbers(self, student: str | None) -> dict[str, float] | None:
        """The student's own numbers for this assignment (None: no per-student question, or no student)."""
        return own_numbers(self.assignment, self.numbers_secret, student)

    def warm_up(self) -> SubmissionResult:
        """Grade the assignment's own solution notebook once, for nobody (the result is the caller's to check,
        never a record): whatever a first grading pays that later ones do not is paid now, on this Grader and its
        sandbox. Measured on training: the fork server's suite warm-up, which it runs after saying it is ready and
        before its first child (~1.4 s), and the trusted side's first torch.optim use, which imports torch._dynamo
        (~1.6 s); also the numpy-only sandbox's start (~0.4 s, where a question needs it), the public cases' values
        and anything a reference, judge or mistake loads lazily."""
        listening, self.on_question = self.on_question, None
        try:
            return self.grade(self.assignment.source, WARM_UP_STUDENT)
        finally:
            self.on_question = listening

    def grade(self, path: Path, student: str | None = None, seed: int | None = None,
              numbers: dict[str, float] | None = None, probe_seed: int | None = None) -> SubmissionResult:
        """Grade the submission at ``path``; ``student``: whose it is (their own numbers, where questions have
        them; without it those questions score 0 and say why). ``seed``: the hidden cases' seed where the caller
        computed it from the course secret (a cluster's main process keeps the secret to itself and sends each
        submission's seed alone), else submission_seed(); ``numbers``: the student's numbers where the caller
        derived them (the same cluster's main process), else numbers(student); ``probe_seed``: the course's probe
        seed, sent the same way (default: this Grader's). Questions are answered world by world (see World), each
        world's child closed before the next starts; ``on_question`` hears each result as it comes, in that order.
        A sandbox that dies under it (InfrastructureFailure) is ours, not the student's: the submission is graded
        again from the start on a fresh sandbox (the same seed, so the same cases), and InfrastructureFailure is
        raised if that one fails as well."""
        failures: list[str] = []
        while True:
            try:
                if not self.sandbox.alive():  # died since the last submission, or under the last attempt: a
                    self.sandbox.close()  # fresh one now, so that its start counts against no question's clock
                    self.sandbox.start()
                result = self._grade_once(path, student, seed, numbers, probe_seed)
            except (InfrastructureFailure, SandboxUnavailable) as failure:
                failures.append(str(failure) if isinstance(failure, InfrastructureFailure)
                                else f"a fresh sandbox did not start ({failure})")
                self.sandbox.close()  # whatever is left of it
                if len(failures) < INFRASTRUCTURE_ATTEMPTS:
                    continue
                raise InfrastructureFailure(f"not graded: the grading sandbox failed {len(failures)} times "
                                            f"({'; '.join(failures)}); nothing was recorded, rerun to grade it") \
                    from failure
            if failures:
                note = (f"graded again on a fresh sandbox: the first one failed under it, not because of your code "
                        f"({failures[0]})")
                result = replace(result, notes=(*result.notes, note))
            return result

    def _grade_once(self, path: Path, student: str | None, seed: int | None,
                    numbers: dict[str, float] | None, probe_seed: int | None) -> SubmissionResult:
        started = time.monotonic()
        extraction = extract(path, self.assignment.source)
        suite: Suite = self.assignment.suite
        version = suite.version
        if seed is None:
            seed = submission_seed(self.secret, extraction, version)
        if numbers is None:
            numbers = self.numbers(student)
        probe_seed = self.probe_seed if probe_seed is None else probe_seed
        results: dict[str, QuestionResult] = {}
        sessions: list[tuple[World, Session]] = []
        skipped: dict[str, str] = {}
        for world, questions in worlds(suite):
            sandbox = self.sandbox.numpy_only_sandbox() if world.numpy_only else self.sandbox
            session = Session(sandbox, extraction.cells, suite.harness_source, numbers, world.policy, skipped)
            sessions.append((world, session))
            try:
                for question in questions:
                    result = grade_question(question, self.assignment.points[question.name], extraction, session,
                                            seed, self.public_values, student=student, numbers=numbers,
                                            rules=question_rules(suite, question))
                    results[question.name] = result
                    if self.on_question:
                        self.on_question(result)
                if probe_seed is not None:
                    # Once every question of this world's child is graded, so that the extra calls cannot change
                    # any answer that is scored; asked of that child, under the same rules.
                    for question in questions:
                        results[question.name] = probed(question, results[question.name], session, probe_seed)
            finally:
                session.close()
            skipped.update(session.skipped)
        # What the notebook printed and which cells raised, as the open world's child saw them (the others run
        # the same cells with less: a numpy-only child cannot import torch, and says so for every cell that does).
        primary = next((s for w, s in sessions if w == World()), sessions[0][1]) if sessions else None
        notes = list(extraction.notes) + list(skipped.values())
        if suite.numbers_scheme and numbers is None:
            notes.append("no student id was given, so the questions on the student's own numbers were not graded "
                         "(dlgrade grade --student ID)")
        if primary is not None:
            notes += [f"cell {cell} raised: {error.splitlines()[-1]}" for cell, error in primary.cell_errors.items()]
        notes = [plain(note, MAX_NOTE_CHARS) for note in notes]  # they quote the student's notebook
        return SubmissionResult(
            assignment=self.assignment.id, submission=str(path),
            questions=tuple(results[q.name] for q in suite.questions), notes=tuple(notes),
            output=primary.output if primary is not None else "", sandbox=tuple(self.sandbox.isolation),
            execution_time=round(time.monotonic() - started, 4),
            student_time=round(sum(s.student_time for _, s in sessions), 4), suite_version=version,
        )
