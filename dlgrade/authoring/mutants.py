"""`dlgrade mutants ID [QUESTION]`: how good is a suite? Grade mutants of each solution the way students err.

Each question's solution cell (read from the notebook) is mutated (dlgrade.authoring.mutations: a sign or an
operator flipped, sum for mean, a term dropped, an axis or a transpose changed, a range off by one, a constant
changed, a clamp or a max-subtraction removed), and each mutant is graded by the suite exactly as a student's cell
would be: in the sandbox (one warm sandbox for them all, a child per mutant), on the question's public cases and
its hidden cases of a fixed seed, the cases' trusted values computed once for every mutant. Each mutant is then

    killed       it fails a case; "named" when the grader names the failure as one of the question's known mistakes
    survived     it passes every case: a gap in the suite, shown with its diff. It is run again beside the
                 solution (both in the sandbox, same seeds) on the hidden cases of EQUIVALENCE_SEEDS more seeds
                 and on inputs near the suite's own (numbers jittered; arrays of both signs negated, redrawn, or
                 scaled by 1000 where the solution's answer stays finite):
                 the report says how often the suite's own cases catch it, else on which nearby input it differs
    signs        it gives the solution's answers on all of those, but not once the arrays the suite only ever
                 draws of one sign hold both (where the solution's answer stays finite): a gap if such inputs are
                 valid (relu's clamp dropped on positive-only cases), none if they are not (a probability made
                 negative): shown with its diff for the instructor to decide, left out of the score
    equivalent   it gives the solution's answers (at the question's tolerance) on all of those: nothing the suite
                 could ask tells it apart (e.g. axis=1 for axis=-1 on 2-D input); left out of the score

A judged question (its answer is a trained model) is probed on the further seeds' hidden cases only, by its judge:
a case catches a survivor only where the judge passes the solution itself (a model's accuracy can miss on a seed).
A question's mutation score is killed / (killed + survived). A hand-computed value (a variable question) is not
mutated: its mutants would only be other numbers, each caught by definition.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

import nbformat
import numpy as np

from dlgrade.assignments import Assignment
from dlgrade.authoring.mutations import Mutant, mutants_of
from dlgrade.checking.answers import Answer, Entries, Items, Leaf, Nothing, from_value
from dlgrade.checking.compare import compare
from dlgrade.grading import QuestionResult, Session, ask, grade_question, public_values, question_rng
from dlgrade.notebook import CodeCell, Extraction, extract
from dlgrade.sandbox.launcher import Sandbox
from dlgrade.suite import Case, Question, TensorArg

__all__ = ["MutantResult", "MutationRun", "QuestionReport", "run_mutants", "sampled"]

EQUIVALENCE_SEEDS = 8  # further seeds' hidden cases a survivor is graded on, to tell a gap from an equivalent
MIN_TIMEOUT = 3.0  # s: a mutant's time limit is this, or TIMEOUT_FACTOR times the solution's own grading time,
TIMEOUT_FACTOR = 4.0  # whichever is longer, never above the question's own timeout
KILLED = ("killed", "named")


def _seed(label: str) -> int:
    return int.from_bytes(hashlib.sha256(f"dlgrade-mutants:{label}".encode()).digest()[:8], "big")


@dataclass(frozen=True)
class MutantResult:
    """A mutant, graded: verdict killed | named (killed, as a known mistake) | survived | signs | equivalent."""

    mutant: Mutant
    verdict: str
    detail: str = ""  # the known mistake's name, the first failure, or how often other seeds catch a survivor


@dataclass
class QuestionReport:
    """One question's mutants and what the suite made of them."""

    question: str
    generated: int = 0  # mutants made (before sampling)
    results: list[MutantResult] = field(default_factory=list)
    skipped: str = ""  # why the question was not mutation-tested
    solution_fails: bool = False  # skipped because the notebook's own solution fails the suite: a broken suite

    def count(self, *verdicts: str) -> int:
        return sum(result.verdict in verdicts for result in self.results)

    @property
    def score(self) -> float | None:
        """killed / (killed + survived); None when no mutant counts."""
        counted = len(self.results) - self.count("equivalent", "signs")
        return self.count(*KILLED) / counted if counted else None

    def summary(self) -> str:
        if self.skipped:
            return f"not mutated: {self.skipped}"
        sampled = f" (a sample of {self.generated})" if self.generated > len(self.results) else ""
        score = "n/a" if self.score is None else f"{100 * self.score:.0f}%"
        return (f"{len(self.results)} mutants{sampled}: {self.count(*KILLED)} killed ({self.count('named')} as a "
                f"known mistake), {self.count('survived')} survived, {self.count('equivalent')} equivalent"
                + (f", {self.count('signs')} differing only with both signs" if self.count("signs") else "")
                + f"; score {score}")


NEAR = "near "  # the label's prefix of an input near a suite's case
SIGNS = "signs crossed: "  # the label's prefix of a suite's case whose one-signed arrays were given both signs
SCALE = 1000.0  # how far a "scaled" probe moves an array of both signs (the solution's answer must stay finite)
PROBE_BYTES = 64 << 20  # what is read of one answer when probing (the instructor's code and a mutant of it)
_NO_ANSWER = object()


def _nearby(value: Any, rng: np.random.Generator, how: str) -> Any:
    """``value`` with its float arrays (and, jittered, its floats) moved as the suite's own inputs could be: each
    number jittered (x e^{0.05 N}: signs, zeros and magnitudes kept), or, for an array that already holds both
    signs (a domain symmetric about 0: logits, weights, data), negated or redrawn at its scale (N(0, 1) times its
    largest magnitude). Probabilities, variances and rates are never pushed out of their domain that way;
    integers, booleans and texts are kept, and so (jittered) are float arrays of whole numbers. "scaled": an array of
    both signs times SCALE (logits of +-1000, where a softmax without its max-subtraction overflows).
    ``how`` "signs": an array of one sign (all >= 0, or all <= 0) gets random signs (both present), the inputs a
    suite that only ever draws positive numbers never asks about; the caller keeps such an input only where the
    solution's answer on it is finite (a probability or a variance made negative is not an input at all)."""
    if isinstance(value, TensorArg):
        return TensorArg(_nearby(value.array, rng, how))
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size:
        if how == "jitter" and np.isfinite(value).all() and np.all(value == np.round(value)):
            return value  # whole numbers in floats: counts, labels, one-hot rows; a fraction of one is no input
        if how == "jitter":
            return value * np.exp(0.05 * rng.standard_normal(value.shape))
        if how == "signs":
            if not np.isfinite(value).all() or not np.any(value) or (np.any(value < 0) and np.any(value > 0)):
                return value
            signs = rng.choice([-1.0, 1.0], size=value.shape)
            if value.size > 1 and np.all(signs == signs.flat[0]):
                signs.flat[0] = -signs.flat[0]
            return value * signs
        if not (np.any(value < 0) and np.any(value > 0)):
            return value
        if how == "negated":
            return -value
        if how == "scaled":
            return value * SCALE
        scale = float(np.max(np.abs(value))) if np.isfinite(value).all() else 1.0
        return rng.standard_normal(value.shape) * (scale or 1.0)
    if type(value) is float and how == "jitter":
        return value * float(np.exp(0.05 * rng.standard_normal()))
    if isinstance(value, tuple | list):
        return type(value)(_nearby(item, rng, how) for item in value)
    if isinstance(value, dict):
        return {key: _nearby(item, rng, how) for key, item in value.items()}
    return value


def _differs(first: Case, second: Case) -> bool:
    """Whether a nearby case moved anything (a case of integers only is the same case)."""
    def flat(value: Any) -> list[Any]:
        if isinstance(value, TensorArg):
            value = value.array
        if isinstance(value, tuple | list):
            return [x for item in value for x in flat(item)]
        if isinstance(value, dict):
            return [x for key in sorted(value) for x in flat(value[key])]
        return [value]

    pairs = zip(flat((first.args, first.kwargs)), flat((second.args, second.kwargs)), strict=True)
    return any(not (a is b or (isinstance(a, np.ndarray) and np.array_equal(a, b, equal_nan=True))
                    or (not isinstance(a, np.ndarray) and a == b)) for a, b in pairs)


def _value(answer: Answer) -> Any:
    """A plain answer as a value compare() can expect; _NO_ANSWER for text or opaque objects."""
    if isinstance(answer, Leaf):
        return answer.array
    if isinstance(answer, Items):
        items = [_value(item) for item in answer.items]
        return _NO_ANSWER if any(item is _NO_ANSWER for item in items) else \
            (tuple(items) if answer.kind == "tuple" else items)
    if isinstance(answer, Entries):
        entries = {key: _value(item) for key, item in answer.entries}
        return _NO_ANSWER if any(item is _NO_ANSWER for item in entries.values()) else entries
    if isinstance(answer, Nothing):
        return None
    return _NO_ANSWER


def _same(question: Question, ours: Any, theirs: Any) -> bool:
    """Whether a mutant's answer is the solution's, as the question compares (its tolerance, any dtype)."""
    if ours is _NO_ANSWER:
        return False
    if theirs is None or ours is None:
        return ours is None and theirs is None
    try:
        return compare(from_value(ours), theirs, rtol=question.rtol, atol=question.atol, dtype="any",
                       names=question.output_names).passed
    except Exception:
        return False


def _finite(value: Any) -> bool:
    """Whether every number of a plain answer is finite (a solution's answer outside its inputs' domain is not)."""
    if isinstance(value, tuple | list):
        return all(_finite(item) for item in value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    try:
        array = np.asarray(value)
    except Exception:
        return False
    return array.dtype.kind not in "fc" or bool(np.isfinite(array).all())


def sampled(mutants: Sequence[Mutant], limit: int | None) -> list[Mutant]:
    """At most ``limit`` mutants, chosen by their stable keys (the same on every run and machine), in code order."""
    if limit is None or len(mutants) <= limit:
        return list(mutants)
    chosen = {m.key for m in sorted(mutants, key=lambda m: m.key)[:limit]}
    return [m for m in mutants if m.key in chosen]


class MutationRun:
    """Grades mutants of an assignment's solution cells on one warm sandbox."""

    def __init__(self, assignment: Assignment, sandbox: Sandbox) -> None:
        self.assignment, self.sandbox = assignment, sandbox
        self.solution = extract(assignment.source, assignment.source)  # the notebook as its own submission
        self.memo = public_values(assignment)
        self.hidden_memo: dict[tuple[str, int, str], Any] = {}
        self.other_memo: dict[tuple[str, int, str], Any] = {}
        self._probes: dict[str, tuple[list[Case], list[Any]]] = {}
        self._judged: dict[str, QuestionResult] = {}  # a judged question's solution on the further seeds
        self.raw_cells = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell.source
                          for cell in nbformat.read(assignment.source, as_version=4).cells if cell.cell_type == "code"}
        sandbox.warm(assignment.suite.warm_up)

    def mutants(self, question: Question) -> list[Mutant]:
        return mutants_of(self.raw_cells.get(question.cell, ""))

    def _cells(self, question: Question, source: str | None) -> Extraction:
        """The solution notebook's cells up to the question's cell, that cell holding ``source``."""
        cells: list[CodeCell] = []
        for cell in self.solution.cells:
            if cell.id == question.cell:
                cells.append(CodeCell(cell.id, source, True) if source is not None else cell)
                break
            cells.append(cell)
        return Extraction(tuple(cells), ())

    def grade(self, question: Question, source: str | None, others: bool = False) -> QuestionResult:
        """The question graded with its cell holding ``source`` (None: the solution), on the fixed seed's hidden
        cases, or (``others``) on EQUIVALENCE_SEEDS further seeds' hidden cases at once."""
        extraction = self._cells(question, source)
        if others:
            seeds = [_seed(f"other-{n}") for n in range(EQUIVALENCE_SEEDS)]
            original = question.hidden

            def hidden(_rng: np.random.Generator) -> list[Case]:
                return [case for seed in seeds for case in original(np.random.default_rng([seed, 1]))]

            question = replace(question, hidden=hidden, timeout=question.timeout * (EQUIVALENCE_SEEDS + 1))
        session = Session(self.sandbox, extraction.cells, self.assignment.suite.harness_source)
        try:
            return grade_question(question, self.assignment.points[question.name], extraction, session,
                                  _seed("main"), self.memo, self.other_memo if others else self.hidden_memo)
        finally:
            session.close()

    def judge(self, question: Question, mutant: Mutant) -> MutantResult:
        result = self.grade(question, mutant.source)
        if result.status != "passed":
            if result.diagnosis is not None:
                return MutantResult(mutant, "named", result.diagnosis.name)
            first = next((case for case in result.cases if not case.passed), None)
            return MutantResult(mutant, "killed", first.message.splitlines()[0][:160] if first else "")
        if question.judge is not None:
            # A judge (a trained model's accuracy) may fail the solution itself on some seed: a mutant is caught
            # only where the judge passes the solution and fails the mutant.
            if question.name not in self._judged:
                self._judged[question.name] = self.grade(question, None, others=True)
            solution = [case.passed for case in self._judged[question.name].cases if not case.public]
            again = [case.passed for case in self.grade(question, mutant.source, others=True).cases if not case.public]
            again += [False] * (len(solution) - len(again))  # cases it never reached (a timeout) are failed
            caught = sum(ours and not theirs for ours, theirs in zip(solution, again, strict=False))
            also = f" (the solution fails {solution.count(False)} of them too)" if False in solution else ""
            if not caught:
                return MutantResult(mutant, "equivalent", f"the judge passes it wherever it passes the "
                                                                    f"solution on {len(solution)} hidden cases of "
                                                                    f"{EQUIVALENCE_SEEDS} more seeds{also}")
            return MutantResult(mutant, "survived", f"{caught} of {len(solution)} hidden cases of "
                                                              f"{EQUIVALENCE_SEEDS} other seeds catch it{also}")
        probes, answers = self.probes(question)
        mine = self.answers(question, mutant.source, probes)
        differs = [case for case, theirs, ours in zip(probes, answers, mine, strict=True)
                   if not _same(question, ours, theirs)]
        if not differs:
            return MutantResult(mutant, "equivalent", f"the solution's answers on {len(probes)} inputs")
        def made(case: Case) -> bool:
            return not case.label.startswith((NEAR, SIGNS))

        suite_cases = [case for case in differs if made(case)]
        own = sum(made(case) for case in probes)
        if suite_cases:
            return MutantResult(mutant, "survived", f"{len(suite_cases)} of {own} hidden cases of "
                                                              f"{EQUIVALENCE_SEEDS} other seeds catch it")
        near = [case for case in differs if case.label.startswith(NEAR)]
        if near:
            return MutantResult(mutant, "survived",
                                f"no case the suite makes catches it; it differs from the solution on {len(near)} "
                                f"of {sum(c.label.startswith(NEAR) for c in probes)} inputs near them, e.g. "
                                f"{near[0].label[len(NEAR):][:100]}")
        return MutantResult(mutant, "signs",
                            f"no case the suite makes catches it: every array the suite draws has one sign; with "
                            f"both signs it differs from the solution (on {len(differs)} of "
                            f"{sum(c.label.startswith(SIGNS) for c in probes)} such inputs, e.g. "
                            f"{differs[0].label[len(SIGNS):][:80]}): if such inputs are valid, add a case with "
                            "negative and positive values; if not, nothing is missing")

    # ---- probing a survivor beside the solution ----

    def probes(self, question: Question) -> tuple[list[Case], list[Any]]:
        """The cases a survivor is run on beside the solution (further seeds' hidden cases, inputs near the
        suite's own), with the solution's answers (those the solution answers at all); computed once."""
        if question.name not in self._probes:
            rng = np.random.default_rng(_seed(f"near-{question.name}"))
            cases = [Case(c.args, c.kwargs, f"seed {n}: {c.describe()}") for n in range(EQUIVALENCE_SEEDS)
                     for c in question.hidden(np.random.default_rng([_seed(f"other-{n}"), 1]))]
            base = list(question.public()) + list(question.hidden(question_rng(_seed("main"), question)))
            for case in base:
                for how in ("jitter", "negated", "redrawn", "scaled", "signs"):
                    label = f"{SIGNS}{case.describe()[:80]}" if how == "signs" else \
                        f"{NEAR}{case.describe()[:80]}, {how}"
                    near = Case(_nearby(case.args, rng, how), _nearby(dict(case.kwargs), rng, how), label)
                    if _differs(near, case):
                        cases.append(near)
            replies = self.answers(question, None, cases)
            kept = [(case, answer) for case, answer in zip(cases, replies, strict=True) if answer is not _NO_ANSWER
                    and (not case.label.startswith(SIGNS) and not case.label.endswith(", scaled") or _finite(answer))]
            self._probes[question.name] = ([case for case, _ in kept], [answer for _, answer in kept])
        return self._probes[question.name]

    def answers(self, question: Question, source: str | None, cases: list[Case]) -> list[Any]:
        """The answers (plain values) of the question's cell holding ``source`` (None: the solution) on ``cases``,
        run in the sandbox as a student's are (the same per-call seeds for every cell); _NO_ANSWER where it
        raised, timed out or is not plain data."""
        extraction = self._cells(question, source)
        session = Session(self.sandbox, extraction.cells, self.assignment.suite.harness_source)
        found: list[Any] = []
        try:
            timeout = question.timeout * (1 + len(cases) / max(1, len(question.public())))
            for reply in ask(session, question, cases, timeout, _seed("probe"), lambda _number: PROBE_BYTES):
                found.append(_value(reply.answer) if reply.status == "ok" and reply.answer is not None
                             else _NO_ANSWER)
        finally:
            session.close()
        return found + [_NO_ANSWER] * (len(cases) - len(found))

    def test_question(self, question: Question, limit: int | None = None) -> QuestionReport:
        report = QuestionReport(question.name)
        if question.kind == "variable":
            report.skipped = "a hand-computed value (its mutants would only be other numbers)"
            return report
        mutants = self.mutants(question)
        report.generated = len(mutants)
        if not mutants:
            report.skipped = "nothing in its solution cell to mutate"
            return report
        solved_at = time.monotonic()
        solution = self.grade(question, None)
        if solution.status != "passed":
            report.skipped = f"the notebook's solution does not pass its own cases ({solution.status})"
            report.solution_fails = True
            return report
        own = time.monotonic() - solved_at
        limited = replace(question, timeout=min(question.timeout, max(MIN_TIMEOUT, TIMEOUT_FACTOR * own)))
        for mutant in sampled(mutants, limit):
            report.results.append(self.judge(limited, mutant))
        return report


def mutation_reports(assignment: Assignment, sandbox: Sandbox, questions: Sequence[str] | None = None,
                     limit: int | None = None, on_report: Any = None) -> list[QuestionReport]:
    """Every (or the named) question's report, in the suite's order."""
    run = MutationRun(assignment, sandbox)
    reports = []
    for question in assignment.suite.questions:
        if questions is not None and question.name not in questions:
            continue
        report = run.test_question(question, limit)
        reports.append(report)
        if on_report is not None:
            on_report(report)
    return reports


def print_report(report: QuestionReport, out: TextIO, details: bool = True) -> None:
    print(f"{report.question}: {report.summary()}", file=out, flush=True)
    if not details:
        return
    for result in report.results:
        if result.verdict in ("survived", "signs", "equivalent", "named"):
            label = {"survived": "SURVIVED", "signs": "ONE SIGN", "equivalent": "equivalent",
                     "named": f"named {result.detail}"}
            print(f"  {label[result.verdict]:<12} {result.mutant.description} ({result.mutant.operator})", file=out)
            if result.verdict in ("survived", "signs"):
                print(f"  {'':<12} {result.detail}", file=out)
            if result.verdict != "named":
                for line in result.mutant.diff():
                    print(f"  {'':<14}{line}", file=out)
    print(file=out, flush=True)


def run_mutants(assignment: Assignment, question: str | None = None, no_sandbox: bool = False,
                limit: int | None = None, fail_under: float | None = None, out: TextIO | None = None) -> int:
    """The command: print every question's report; exit 1 when ``fail_under`` (a percentage) is given and a
    question scores under it, else 0."""
    from dlgrade.errors import UsageError

    out = out or sys.stdout
    if question is not None and question not in [q.name for q in assignment.suite.questions]:
        known = ", ".join(q.name for q in assignment.suite.questions)
        raise UsageError(f"{assignment.id} has no question {question!r} (its questions: {known})")
    from dlgrade.authoring.checks import check_cases

    check_cases(assignment)  # a broken reference or case is an authoring error, said before any mutant is graded
    started = time.monotonic()
    with Sandbox(sandboxed=not no_sandbox) as sandbox:
        reports = mutation_reports(assignment, sandbox, [question] if question else None, limit,
                                   lambda report: print_report(report, out))
    graded = sum(len(report.results) for report in reports)
    seconds = time.monotonic() - started
    print(f"{assignment.id}: {graded} mutants graded in {seconds:.1f} s ({graded / max(seconds, 1e-9):.1f} per "
          "second)", file=out)
    low = [r for r in reports if fail_under is not None and r.score is not None and 100 * r.score < fail_under]
    for report in low:
        print(f"FAIL {report.question}: mutation score {100 * (report.score or 0):.0f}% is under {fail_under:g}%",
              file=out)
    return 1 if low else 0
