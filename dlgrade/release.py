"""Release an assignment: the student's notebook, made by nbgrader's own generate_assignment, plus dlcheck/.

    release(assignment, out_dir) -> out_dir/<id>/
        <id>.ipynb            nbgrader's student version (solutions and hidden tests stripped), post-processed by
                              NOTEBOOK_STEPS: top-level stubs that would raise become comments, outputs cleared,
                              nbgrader checksums refreshed, and a last look that no solution text is left
        dlcheck/*.py          a byte copy of dlgrade/checking/ (the grader's very comparison code)
        dlcheck/checks.json   per question, the public cases baked now: inputs, expected output, and the outputs
                              of known mistakes that differ from it (never reference code, hidden cases or
                              mistake sources); for a hand-computed variable only the answer's form; and where
                              questions use per-student numbers, the scheme and the numbers key my_numbers()
                              needs (from the course's secret, or the project's TEMPLATE_SECRET: never the secret)

Everything is deterministic (stable cell ids, sorted JSON keys, rounded expected floats), so releasing twice
gives identical bytes and CI can ask templates_current() whether the committed templates are up to date.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
import re
import shutil
import sysconfig
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from dlgrade import checking
from dlgrade.assignments import Assignment
from dlgrade.checking.answers import from_value
from dlgrade.checking.compare import compare
from dlgrade.checking.local import CHECKS_FILE, FORMAT, Unbakeable, encode, form_of
from dlgrade.checking.student_numbers import TEMPLATE_SECRET, numbers_key
from dlgrade.suite import Case, Question, Suite

__all__ = [
    "NOTEBOOK_STEPS", "ReleaseError", "bake_case", "bake_checks", "bake_numbers", "bake_question", "checks_json",
    "clear_outputs", "ensure_no_solutions", "generate_with_nbgrader", "neutralize_top_level_stubs",
    "refresh_checksums", "rekey_checker", "release", "release_notebook", "stable_cell_ids", "templates_current",
    "write_checker",
]

CHECKER_DIR = "dlcheck"
EXPECTED_DIGITS = 13  # significant digits of baked expected/mistake floats (far below any tolerance in use)
_STUB = re.compile(r"^raise NotImplementedError\(\)[ \t]*$")
_NONE_VARIABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*None[ \t]*(#.*)?$")
# What nbgrader strips (solutions, hidden tests, mark schemes): none of it may survive a release.
_LEFTOVER_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                     "BEGIN MARK SCHEME", "END MARK SCHEME")
_VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled")
_IGNORED = {"__pycache__", ".ipynb_checkpoints"}


class ReleaseError(Exception):
    """The assignment cannot be released (nbgrader failed, a solution would leak, a public case is broken)."""


# ---- nbgrader ------------------------------------------------------------------------------------------


def _nbgrader(cell: nbformat.NotebookNode) -> dict[str, Any]:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def stable_cell_ids(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Give every cell a fixed, unique id (the first holder of an id keeps it), so that neither nbgrader nor
    nbformat invents random ones for missing or duplicated ids."""
    notebook = copy.deepcopy(notebook)
    notebook.nbformat, notebook.nbformat_minor = 4, max(int(notebook.get("nbformat_minor", 0)), 5)
    given = [cell.get("id") or None for cell in notebook.cells]
    taken: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        if given[index] and given[index] not in taken:
            taken.add(given[index])
            continue
        wanted = re.sub(r"[^A-Za-z0-9_-]", "-", str(_nbgrader(cell).get("grade_id", "")))[:64]
        candidates = [wanted, f"cell-{index}", *(f"cell-{index}-{n}" for n in range(len(notebook.cells) + 1))]
        cell["id"] = next(c for c in candidates if c and c not in taken and c not in given)
        taken.add(cell["id"])
    return notebook


@functools.cache
def _alembic_head() -> str | None:
    """The head revision of nbgrader's gradebook migrations, read in-process with alembic's own API."""
    try:
        import nbgrader
        from alembic.script import ScriptDirectory

        return ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head()
    except Exception:
        return None


@contextlib.contextmanager
def _gradebook_without_subprocess() -> Iterator[None]:
    """nbgrader's Gradebook learns the migration head by running `alembic heads` in a subprocess for every new
    database (a fresh interpreter: seconds, and it fails when the venv's bin is not on PATH). Give it the same
    answer read in-process; when that is impossible, at least put this Python's scripts folder on PATH."""
    import nbgrader.api

    head, original, saved_path = _alembic_head(), nbgrader.api.get_alembic_version, os.environ.get("PATH", "")
    if head is not None:
        nbgrader.api.get_alembic_version = lambda: head
    elif not shutil.which("alembic"):
        os.environ["PATH"] = os.pathsep.join(filter(None, [sysconfig.get_path("scripts"), saved_path]))
    try:
        yield
    finally:
        nbgrader.api.get_alembic_version = original
        os.environ["PATH"] = saved_path


def generate_with_nbgrader(source: nbformat.NotebookNode, assignment_id: str, workdir: Path) -> nbformat.NotebookNode:
    """nbgrader generate_assignment, through its Python API, in a throwaway course directory under ``workdir``:
    source/<id>/<id>.ipynb -> release/<id>/<id>.ipynb, with its gradebook there too."""
    from nbgrader.apps import NbGraderAPI  # slow to import: only when releasing
    from traitlets.config import Config

    course = workdir / "course"
    (course / "source" / assignment_id).mkdir(parents=True)
    nbformat.write(source, course / "source" / assignment_id / f"{assignment_id}.ipynb")
    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
    with _gradebook_without_subprocess():
        result = NbGraderAPI(config=config).generate_assignment(assignment_id, force=True, create=True)
    released = course / "release" / assignment_id / f"{assignment_id}.ipynb"
    if not result.get("success") or not released.is_file():
        detail = (result.get("log") or "").strip() or (result.get("error") or "").strip()
        raise ReleaseError(f"nbgrader generate_assignment failed for {assignment_id}:\n{detail}")
    return nbformat.read(released, as_version=4)


# ---- the notebook post-processing steps ------------------------------------------------------------------


def neutralize_top_level_stubs(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A `raise NotImplementedError()` at column 0 of a code cell (ClearSolutions' stub where the solution was a
    top-level statement such as `dl_dx = 17.25`) becomes a comment, so the notebook runs top to bottom; the
    variable's None then says "not implemented". Stubs inside function bodies stay (they say it themselves)."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.split("\n")
        for index, line in enumerate(lines):
            if not _STUB.match(line):
                continue
            names = list(dict.fromkeys(m.group(1) for m in map(_NONE_VARIABLE.match, lines[:index]) if m))
            if len(names) == 1:
                lines[index] = f"# Replace the None above with your answer: {names[0]} = ..."
            elif names:
                lines[index] = f"# Replace the Nones above with your answers: {', '.join(names)}"
            else:
                lines[index] = "# Write your answer here."
        cell.source = "\n".join(lines)
    return notebook


def clear_outputs(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """No outputs, execution counts or run-time cell metadata: the released bytes depend on the source only."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        for key in _VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
    return notebook


def refresh_checksums(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Recompute nbgrader's cell checksums as its ComputeChecksums does, so that the metadata describes the
    released cells (the stub step changes sources after nbgrader computed them)."""
    from nbgrader.utils import compute_checksum

    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        meta = _nbgrader(cell)
        if "checksum" in meta:
            meta["checksum"] = compute_checksum(cell)
    return notebook


def ensure_no_solutions(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Refuse to release a notebook in which any nbgrader region marker survived."""
    for cell in notebook.cells:
        for marker in _LEFTOVER_MARKERS:
            if marker in cell.source:
                where = _nbgrader(cell).get("grade_id") or cell.get("id", "?")
                raise ReleaseError(f"cell {where} still contains {marker!r} after nbgrader: it would leak")
    return notebook


Step = Callable[[nbformat.NotebookNode], nbformat.NotebookNode]
NOTEBOOK_STEPS: tuple[Step, ...] = (neutralize_top_level_stubs, clear_outputs, refresh_checksums,
                                    ensure_no_solutions)


def release_notebook(assignment: Assignment, workdir: Path) -> nbformat.NotebookNode:
    """The student's notebook: nbgrader's student version, then each of NOTEBOOK_STEPS in turn."""
    source = stable_cell_ids(nbformat.read(assignment.source, as_version=4))
    notebook = generate_with_nbgrader(source, assignment.id, workdir)
    for step in NOTEBOOK_STEPS:
        notebook = step(notebook)
    nbformat.validate(notebook)
    return notebook


# ---- baking the public checks ----------------------------------------------------------------------------


def _grader_only_reason(question: Question) -> str | None:
    # A harness is public helper code (it runs beside the student's code), so check() runs it too; a judge is
    # trusted code (e.g. a hidden test set), so it stays with the grader.
    if question.judge is not None:
        return "its answer is judged by the grader, not compared with one expected value"
    if question.kind == "variable":
        return "a hand-computed answer: any check here would give its value away"
    return None


def bake_case(question: Question, case: Case) -> dict[str, Any]:
    """One public case as checks.json holds it: label, inputs, expected output, and the known mistakes whose
    output on this case differs from the expected one (name and output)."""
    baked: dict[str, Any] = {"label": case.describe()}
    try:
        baked["args"] = encode(list(case.args))
        baked["kwargs"] = encode(dict(case.kwargs))
    except Unbakeable as why:
        return baked | {"grader_only": f"its inputs are not plain data ({why})"}
    try:
        expected = case.call(question.reference)
    except Exception as error:
        raise ReleaseError(f"{question.name}: the reference fails on public case {case.describe()!r}: "
                           f"{type(error).__name__}: {error}") from error
    try:
        baked["expected"] = encode(expected, EXPECTED_DIGITS)
    except Unbakeable as why:
        return {"label": baked["label"], "grader_only": f"its expected answer is {why}"}
    baked["mistakes"] = revealed_mistakes(question, case, expected, EXPECTED_DIGITS)
    return baked


def revealed_mistakes(question: Question, case: Case, expected: Any, digits: int | None = None) -> list[dict[str, Any]]:
    """The known mistakes whose output on this case differs from the expected one (so the case can name them):
    name and encoded output."""
    revealed = []
    for mistake in question.mistakes:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):  # a wrong variant may well divide by 0
                warnings.simplefilter("ignore")
                output = case.call(mistake.compute)
            if compare(from_value(output), expected, rtol=question.rtol, atol=question.atol, dtype="any",
                       names=question.output_names).passed:
                continue  # this case cannot tell the mistake from a right answer
            revealed.append({"name": mistake.name, "output": encode(output, digits)})
        except Exception:  # a variant that fails or gives no plain data names nothing on this case
            continue
    return revealed


def bake_judged(question: Question, reason: str) -> dict[str, Any]:
    """A judged question's public cases, for check() to run the student's entry point on them as the grader
    does: with the judge's in-kernel twin and its data for the case (e.g. the public case's test set) where
    that gives nothing away, else with the answer's form (an array's shape and kind) where the reference is a
    plain call. The twin's data for lr_regimes would be the codes themselves: not baked."""
    from dlgrade.interop.judges import twin_for  # the in-kernel twins of the suites' judges

    twin = twin_for(question)
    if twin is not None and twin.reveals_answer:
        twin = None
    cases, calls = [], []
    for case in question.public():
        baked: dict[str, Any] = {"label": case.describe()}
        try:
            baked |= {"args": encode(list(case.args)), "kwargs": encode(dict(case.kwargs))}
            if twin is not None:
                baked["judge_data"] = encode(twin.data(question, case), EXPECTED_DIGITS)
            elif (baked["args"], baked["kwargs"]) in calls:
                continue  # the same call again (digits: one training run, judged against three thresholds)
            calls.append((baked["args"], baked["kwargs"]))
            if twin is None and question.harness is None:
                expected = np.asarray(case.call(question.reference))
                baked["form"] = {"shape": [int(n) for n in expected.shape], "kind": expected.dtype.kind}
        except Unbakeable as why:
            baked = {"label": baked["label"], "grader_only": f"its inputs are not plain data ({why})"}
        cases.append(baked)
    spec: dict[str, Any] = {
        "grader_only": reason, "judged": True, "harness": question.harness, "autograd": bool(question.autograd),
        "hint": question.hint, "cases": cases,
    }
    return spec | ({"judge_source": twin.source} if twin is not None else {})


def bake_question(question: Question) -> dict[str, Any]:
    """What check() needs for one question; never the reference's code, hidden cases or mistake sources."""
    baked: dict[str, Any] = {"entry": question.entry, "kind": question.kind}
    reason = _grader_only_reason(question)
    if reason is not None and question.kind == "variable":
        # Only the answer's form (how many numbers, which keys): the values and the mistakes' outputs would leak.
        expected = question.public()[0].call(question.reference)
        return baked | {"grader_only": reason, "form": form_of(expected), "output_names": list(question.output_names)}
    if reason is not None and question.judge is not None:
        return baked | bake_judged(question, reason)
    if reason is not None:
        return baked | {"grader_only": reason}
    baked |= {
        "rtol": float(question.rtol), "atol": float(question.atol), "dtype": question.dtype,
        "output_names": list(question.output_names), "autograd": bool(question.autograd),
        "check_mutation": bool(question.check_mutation), "hint": question.hint, "harness": question.harness,
        "mistakes": [{"name": m.name, "feedback": m.feedback} for m in question.mistakes],
        "cases": [bake_case(question, case) for case in question.public()],
    }
    return baked


def bake_numbers(suite: Suite, numbers_secret: bytes = TEMPLATE_SECRET) -> dict[str, Any] | None:
    """What my_numbers() needs: the scheme and the assignment's numbers key (one-way from ``numbers_secret``)."""
    if suite.numbers_scheme is None:
        return None
    return {"assignment": suite.assignment, "scheme": suite.numbers_scheme,
            "key": numbers_key(numbers_secret, suite.assignment)}


def bake_checks(suite: Suite, numbers_secret: bytes = TEMPLATE_SECRET) -> dict[str, Any]:
    baked = {"format": FORMAT, "assignment": suite.assignment, "harness_source": suite.harness_source,
             "questions": {question.name: bake_question(question) for question in suite.questions}}
    numbers = bake_numbers(suite, numbers_secret)
    return baked | {"numbers": numbers} if numbers else baked


def _checks_text(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def checks_json(suite: Suite, numbers_secret: bytes = TEMPLATE_SECRET) -> str:
    """checks.json's text: sorted keys, no NaN literals, one trailing newline (identical on every re-release)."""
    return _checks_text(bake_checks(suite, numbers_secret))


def write_checker(folder: Path, suite: Suite, numbers_secret: bytes = TEMPLATE_SECRET) -> Path:
    """folder/dlcheck/: the checking package's modules, byte for byte, and checks.json."""
    target = folder / CHECKER_DIR
    target.mkdir(parents=True, exist_ok=True)
    for module in sorted(Path(checking.__file__).resolve().parent.glob("*.py")):
        shutil.copyfile(module, target / module.name)
    (target / CHECKS_FILE).write_text(checks_json(suite, numbers_secret), encoding="utf-8")
    return target


def rekey_checker(folder: Path, suite: Suite, numbers_secret: bytes) -> None:
    """Give a released folder/dlcheck/checks.json (e.g. a copy of the project's template) the numbers key of
    ``numbers_secret``: a course's students must draw the numbers that course's grader computes."""
    numbers = bake_numbers(suite, numbers_secret)
    path = folder / CHECKER_DIR / CHECKS_FILE
    if numbers is None or not path.is_file():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(_checks_text(data | {"numbers": numbers}), encoding="utf-8")


# ---- the release and the CI check ------------------------------------------------------------------------


def _build(assignment: Assignment, folder: Path, workdir: Path, numbers_secret: bytes) -> None:
    folder.mkdir(parents=True)
    notebook = release_notebook(assignment, workdir)
    nbformat.write(notebook, folder / f"{assignment.id}.ipynb")
    write_checker(folder, assignment.suite, numbers_secret)


def release(assignment: Assignment, out_dir: Path, numbers_secret: bytes = TEMPLATE_SECRET) -> Path:
    """Write out_dir/<id>/ afresh (the old one is replaced only once the new one is complete); return it.
    ``numbers_secret``: a course's secret for a course's release (its students' own numbers). The assignment's
    cases and references are checked first (dlgrade.authoring.checks: an AuthoringError line)."""
    from dlgrade.authoring.checks import check_cases
    from dlgrade.grading import public_values

    check_cases(assignment, public_values(assignment))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / assignment.id
    with tempfile.TemporaryDirectory(prefix=f".{assignment.id}-", dir=out_dir) as staging:
        staged = Path(staging) / assignment.id
        _build(assignment, staged, Path(staging) / "work", numbers_secret)
        if final.exists():
            shutil.rmtree(final)
        staged.rename(final)
    return final


def _files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {path.relative_to(folder).as_posix(): path for path in sorted(folder.rglob("*"))
            if path.is_file() and not _IGNORED & set(path.relative_to(folder).parts) and path.suffix != ".pyc"}


BAKED_RTOL = 1e-9  # baked numbers agree across machines to here (vectorised exp/log differ in the last bits)


def same_baked(first: Any, second: Any) -> bool:
    """Two parsed checks.json equal up to the last bits of their numbers: a central difference of 1e-5 turns
    a CPU's last-bit rounding of exp or log into ~1e-11 of its value, so two machines bake 13 digits that
    differ there; nothing graded depends on it (every tolerance is far looser)."""
    if isinstance(first, dict) and isinstance(second, dict):
        return first.keys() == second.keys() and all(same_baked(first[k], second[k]) for k in first)
    if isinstance(first, list) and isinstance(second, list):
        return len(first) == len(second) and all(same_baked(a, b) for a, b in zip(first, second, strict=True))
    if isinstance(first, bool) or isinstance(second, bool):
        return first is second
    if isinstance(first, (int, float)) and isinstance(second, (int, float)):
        return abs(first - second) <= BAKED_RTOL * max(1.0, abs(first), abs(second))
    return first == second


def _same_file(name: str, fresh: Path, committed: Path) -> bool:
    """Byte for byte, except checks.json, whose numbers are compared to BAKED_RTOL (see same_baked)."""
    fresh_bytes, committed_bytes = fresh.read_bytes(), committed.read_bytes()
    if fresh_bytes == committed_bytes:
        return True
    if Path(name).name != CHECKS_FILE:
        return False
    try:
        return same_baked(json.loads(fresh_bytes), json.loads(committed_bytes))
    except ValueError:
        return False


def templates_current(assignment: Assignment, templates_dir: Path) -> list[str]:
    """How the committed templates_dir/<id>/ differs from a fresh release (byte for byte, but for the last
    bits of checks.json's numbers); [] when current."""
    committed_root = Path(templates_dir) / assignment.id
    fix = f"run `dlgrade release {assignment.id}`"
    if not committed_root.is_dir():
        return [f"{committed_root} is missing: {fix}"]
    with tempfile.TemporaryDirectory(prefix="dlgrade-release-") as scratch:
        fresh_root = release(assignment, Path(scratch))
        fresh, committed = _files(fresh_root), _files(committed_root)
        problems = []
        for name in sorted(fresh.keys() | committed.keys()):
            shown = f"{assignment.id}/{name}"
            if name not in committed:
                problems.append(f"{shown} is missing: {fix}")
            elif name not in fresh:
                problems.append(f"{shown} is not produced by the release (a stale or hand-made file): remove it")
            elif not _same_file(name, fresh[name], committed[name]):
                problems.append(f"{shown} differs from a fresh release (edited by hand, or the source or suite "
                                f"changed): {fix}")
        return problems
