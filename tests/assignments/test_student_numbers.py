"""Per-student numbers for the hand-computed questions (backprop's scalar_*, sgd's worked_update): every id gets its
own numbers and expected values, drawn the same way by the grader and by the released notebook; no ReLU sits at its
kink and no answer is round by accident; every known mistake (the notes' slips included) is recognised on anyone's
numbers; right answers typed for one id score 0 under another; and no hand-computed value is given away in
feedback, results JSON or the HTML page."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from autograders import backprop, sgd
from dlgrade import assignments, report
from dlgrade.checking import student_numbers as numbers_module
from dlgrade.checking.answers import from_value
from dlgrade.checking.compare import compare
from dlgrade.checking.student_numbers import (
    TEMPLATE_SECRET,
    NoStudentId,
    find_student_id,
    normalise_id,
    numbers_key,
    student_numbers,
)
from dlgrade.grading import Grader, SubmissionResult
from dlgrade.sample_class import replace_cell
from dlgrade.sandbox.launcher import Sandbox
from dlgrade.solution_cells import solution_sources
from dlgrade.suite import Question

PROJECT = Path(__file__).resolve().parents[2]
SCALAR = ("scalar_forward", "scalar_chain_rule", "scalar_param_grads", "scalar_sgd_step")
IDS = [f"student{n:04d}" for n in range(1500)] + ["ada", "Ada.Lovelace@example.edu", "s1234567", "x", "日本"]


def _key(assignment: str, secret: bytes = TEMPLATE_SECRET) -> str:
    return numbers_key(secret, assignment)


def _numbers(student: str, assignment: str = "backprop", secret: bytes = TEMPLATE_SECRET) -> dict[str, float]:
    return student_numbers("scalar_network", _key(assignment, secret), student)


def _per_student(suite: Any) -> list[Question]:
    return [question for question in suite.questions if question.numbers is not None]


# ---- the numbers ---------------------------------------------------------------------------------------------------


def test_two_students_get_different_numbers_and_expected_values() -> None:
    ada, bob = _numbers("ada"), _numbers("bob")
    assert ada != bob
    for question in _per_student(backprop.SUITE) + _per_student(sgd.SUITE):
        assert question.reference(**ada) != question.reference(**bob), question.name
    # ... and one student's numbers differ between assignments and between courses
    assert _numbers("ada", "sgd") != ada
    assert _numbers("ada", secret=b"a course's secret") != ada


def test_an_id_is_read_as_a_person_writes_it() -> None:
    assert _numbers(" Ada ") == _numbers("ada") == _numbers("ADA")
    assert normalise_id("Ada.Lovelace@Example.EDU ") == "ada.lovelace@example.edu"
    with pytest.raises(NoStudentId):
        _numbers("   ")


def test_a_students_numbers_never_change() -> None:
    """Released notebooks draw these: a change of the scheme would change every student's numbers under them."""
    assert _numbers("ada") == {"x": 4.0, "w1": 3.5, "b1": 2.5, "w3": 0.3, "b3": 4.0, "target": -3.0, "lr": 0.005}
    assert _numbers("ada", "sgd") == {"x": 4.0, "w1": 3.0, "b1": 2.5, "w3": -0.4, "b3": -1.5, "target": 1.5,
                                      "lr": 0.002}


def test_no_relu_at_its_kink_and_no_answer_round_by_accident_for_any_id() -> None:
    for student in IDS:
        n = _numbers(student)
        exact = {name: Fraction(value).limit_denominator(1000) for name, value in n.items()}
        y1 = exact["w1"] * exact["x"] + exact["b1"]
        assert y1 >= 1, (student, n)  # the ReLU is on and a whole unit from its kink
        example = backprop.scalar_backprop_example(**n)
        assert example.dy2_dy1 == 1.0 and abs(example.y3 - example.target) >= 1.0
        answers = [getattr(example, name) for question in SCALAR for name in backprop.SUITE.question(question)
                   .output_names]
        assert not any(float(value).is_integer() for value in answers), (student, answers)
        assert all(abs(value) < 1e4 for value in answers)


@settings(max_examples=300, deadline=None)
@given(student=st.text(min_size=1, max_size=40), secret=st.binary(min_size=1, max_size=32))
def test_any_id_of_any_course_gets_usable_numbers(student: str, secret: bytes) -> None:
    """Whatever the id (any text: names, emails, digits, scripts) and the course's secret."""
    assume(normalise_id(student))
    n = _numbers(student, secret=secret)
    example = backprop.scalar_backprop_example(**n)
    assert example.y1 >= 1.0 and example.dy2_dy1 == 1.0 and abs(example.y3 - example.target) >= 1.0
    assert not any(float(getattr(example, name)).is_integer() for name in (
        "y1", "y3", "loss", "dl_dy3", "dl_dy1", "dl_dx", "dl_dw3", "dl_dw1", "w3_new", "b3_new", "w1_new", "b1_new"))


def test_expected_values_are_torch_autograd_on_anyones_numbers() -> None:
    for student in IDS[:25]:
        n = _numbers(student)
        x = torch.tensor(n["x"], dtype=torch.float64, requires_grad=True)
        w1, b1, w3, b3 = (torch.tensor(n[k], dtype=torch.float64, requires_grad=True) for k in ("w1", "b1", "w3", "b3"))
        y1 = w1 * x + b1
        y2 = torch.relu(y1)
        y3 = w3 * y2 + b3
        for node in (y1, y2, y3):
            node.retain_grad()
        loss = (y3 - n["target"]) ** 2
        loss.backward()
        steps = [(p - n["lr"] * p.grad).item() for p in (w3, b3, w1, b1)]
        autograd = {
            "scalar_forward": (y1.item(), y2.item(), y3.item(), loss.item()),
            "scalar_chain_rule": (y3.grad.item(), y2.grad.item(), y1.grad.item(), x.grad.item()),
            "scalar_param_grads": (w3.grad.item(), b3.grad.item(), w1.grad.item(), b1.grad.item()),
            "scalar_sgd_step": tuple(steps),
        }
        for name, values in autograd.items():
            np.testing.assert_allclose(backprop.SUITE.question(name).reference(**n), values, rtol=1e-13, atol=1e-13)
        got = sgd.SUITE.question("worked_update").reference(**n)
        np.testing.assert_allclose([got[k] for k in ("w3", "b3", "w1", "b1")], steps, rtol=1e-13, atol=1e-13)


# ---- the catalog on anyone's numbers ---------------------------------------------------------------------------------


def _run_cells(sources: list[str], numbers: dict[str, float]) -> dict[str, Any]:
    namespace: dict[str, Any] = dict(numbers)
    for source in sources:
        exec(compile(source, "<cell>", "exec"), namespace)
    return namespace


def _named(question: Question, answer: Any, numbers: dict[str, float]) -> str | None:
    """The mistake the grader names for this answer (its rule: the first variant that reproduces it)."""
    verdict = from_value(answer)
    if compare(verdict, question.reference(**numbers), rtol=question.rtol, atol=question.atol, dtype="any",
               names=question.output_names).passed:
        return "right"
    for mistake in question.mistakes:
        if compare(verdict, mistake.compute(**numbers), rtol=question.rtol, atol=question.atol, dtype="any",
                   names=question.output_names).passed:
            return mistake.name
    return None


@pytest.mark.parametrize("suite, cells", [
    (backprop.SUITE, [solution_sources(backprop.NOTEBOOK)[cell] for cell in (
        "scalar_forward_solution", "scalar_chain_rule_solution", "scalar_param_grads_solution",
        "scalar_sgd_step_solution")]),
    (sgd.SUITE, [solution_sources(sgd.NOTEBOOK)["worked_update_solution"]]),
])
def test_every_known_mistake_is_named_on_anyones_numbers(suite: Any, cells: list[str]) -> None:
    """Each mistake's cell (how a student writes it) run on an id's numbers gives the answer the grader names as
    that mistake, and the solution's the right one, for 300 ids; every mistake is told apart from the others."""
    questions = _per_student(suite)
    for student in IDS[:300]:
        n = _numbers(student, suite.assignment)
        for position, question in enumerate(questions):
            earlier = cells[:position]
            assert _named(question, _run_cells(earlier + [cells[position]], n)[question.entry], n) == "right"
            for mistake in question.mistakes:
                answer = _run_cells(earlier + [mistake.solution], n)[question.entry]
                assert _named(question, answer, n) == mistake.name, (student, question.name, mistake.name)


def test_the_notes_slips_are_in_the_catalog() -> None:
    names = {question.name: {m.name for m in question.mistakes} for question in _per_student(backprop.SUITE)}
    assert all("notes_slip" in names[q] and "lecture_example" in names[q] for q in SCALAR[1:])
    assert "notes_chain_values" in names["scalar_param_grads"] and "notes_gradients" in names["scalar_sgd_step"]
    assert {"notes_slide_numbers", "notes_dl_dy3", "lecture_example"} <= {
        m.name for m in sgd.SUITE.question("worked_update").mistakes}


def test_no_catalog_text_or_hint_states_a_right_answer() -> None:
    lecture = backprop.scalar_backprop_example(**backprop.LECTURE)
    right = [lecture.dl_dy3, lecture.dl_dx, lecture.dl_dw3, lecture.dl_dw1, lecture.w3_new, lecture.b3_new,
             lecture.w1_new, lecture.b1_new]
    for question in _per_student(backprop.SUITE) + _per_student(sgd.SUITE):
        for text in [question.hint] + [m.feedback for m in question.mistakes]:
            for value in right:
                assert f"{value:g}" not in text.replace("−", "-"), (question.name, value, text)


# ---- grading: the sandbox, the feedback, the files -------------------------------------------------------------------


def _typed_answers(assignment: assignments.Assignment, student: str) -> Any:
    """The source notebook with every per-student answer typed in as numbers: right for ``student`` only."""
    notebook = nbformat.read(assignment.source, as_version=4)
    n = _numbers(student, assignment.id)
    for question in _per_student(assignment.suite):
        value = question.reference(**n)
        notebook = replace_cell(notebook, question.cell, f"{question.entry} = {value!r}\n")
    return notebook


@pytest.fixture(scope="module")
def sandbox() -> Any:
    with Sandbox() as running:
        yield running


def _grade(assignment: assignments.Assignment, sandbox: Sandbox, notebook: Any, tmp_path: Path,
           student: str | None) -> SubmissionResult:
    path = tmp_path / (student or "nobody") / f"{assignment.id}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return Grader(assignment, sandbox, secret=b"test").grade(path, student)


def _scores(result: SubmissionResult, names: list[str]) -> dict[str, float]:
    return {q.name: q.score for q in result.questions if q.name in names}


@pytest.mark.parametrize("assignment_id", ["backprop", "sgd"])
def test_right_answers_typed_for_one_student_score_zero_under_another(assignment_id: str, sandbox: Sandbox,
                                                                      tmp_path: Path) -> None:
    assignment = assignments.load(assignment_id)
    names = [q.name for q in _per_student(assignment.suite)]
    notebook = _typed_answers(assignment, "ada")
    own = _grade(assignment, sandbox, notebook, tmp_path, "ada")
    assert _scores(own, names) == {name: assignment.points[name] for name in names}
    other = _grade(assignment, sandbox, notebook, tmp_path, "bob")
    assert _scores(other, names) == dict.fromkeys(names, 0.0)
    assert {q.status for q in other.questions if q.name in names} == {"failed"}
    assert other.score == own.score - sum(assignment.points[name] for name in names)  # nothing else changed


def test_the_solution_and_each_mistake_graded_in_the_sandbox_on_several_ids(sandbox: Sandbox,
                                                                             tmp_path: Path) -> None:
    assignment = assignments.load("backprop")
    source = nbformat.read(assignment.source, as_version=4)
    chain = assignment.suite.question("scalar_chain_rule")
    for student in ("ada", "s1234567", "Grace.Hopper@example.edu"):
        solved = _grade(assignment, sandbox, source, tmp_path, student)
        assert solved.score == solved.max_score, student
        for mistake in chain.mistakes:
            result = _grade(assignment, sandbox, replace_cell(source, chain.cell, mistake.solution), tmp_path,
                            student)
            graded = next(q for q in result.questions if q.name == chain.name)
            assert graded.score == 0 and graded.diagnosis is not None, (student, mistake.name)
            assert graded.diagnosis.name == mistake.name, (student, mistake.name)


def test_without_a_student_id_the_per_student_questions_score_zero_and_say_why(sandbox: Sandbox,
                                                                                 tmp_path: Path) -> None:
    assignment = assignments.load("sgd")
    result = _grade(assignment, sandbox, nbformat.read(assignment.source, as_version=4), tmp_path, None)
    worked = next(q for q in result.questions if q.name == "worked_update")
    assert worked.score == 0 and worked.status == "error" and "--student" in worked.feedback
    assert any("no student id" in note for note in result.notes)
    assert all(q.status == "passed" for q in result.questions if q.name != "worked_update")


def _shown(value: float) -> list[str]:
    """How a number could be written in a text (rounded, trimmed, with a true minus sign)."""
    forms = {repr(float(value)), f"{value:g}", f"{value:.6g}", f"{value:.4f}".rstrip("0").rstrip("."),
             np.array2string(np.asarray(value), precision=6)}
    return sorted(forms | {form.replace("-", "−") for form in forms})


def _distinctive(student: str, assignment_id: str) -> bool:
    """Answers far from every input and from every case-count a text prints (so a hit is a leak, not chance)."""
    n = _numbers(student, assignment_id)
    example = backprop.scalar_backprop_example(**n)
    values = [example.y1, example.y3, example.loss, example.dl_dy3, example.dl_dy2, example.dl_dx, example.dl_dw3,
              example.dl_dw1, example.w3_new, example.b3_new, example.w1_new, example.b1_new]
    return all(len(f"{abs(v):g}") >= 4 and f"{abs(v):g}" not in {f"{abs(x):g}" for x in n.values()} for v in values)


@pytest.mark.parametrize("assignment_id", ["backprop", "sgd"])
def test_no_hand_computed_value_appears_in_feedback_results_json_or_html(assignment_id: str, sandbox: Sandbox,
                                                                         tmp_path: Path) -> None:
    """Wrong answers of every kind (each known mistake, answers off by a little, answers of the wrong form): the
    feedback, the Gradescope results JSON and the HTML page never show the expected numbers."""
    assignment = assignments.load(assignment_id)
    student = next(s for s in IDS if _distinctive(s, assignment_id))
    n = _numbers(student, assignment_id)
    source = nbformat.read(assignment.source, as_version=4)
    submissions = []
    for question in _per_student(assignment.suite):
        submissions += [replace_cell(source, question.cell, m.solution) for m in question.mistakes]
        close = question.reference(**n)
        close = {k: v * 1.01 for k, v in close.items()} if isinstance(close, dict) else tuple(v * 1.01 for v in close)
        submissions.append(replace_cell(source, question.cell, f"{question.entry} = {close!r}\n"))
        submissions.append(replace_cell(source, question.cell, f"{question.entry} = 'seventeen'\n"))
    expected = [v for q in _per_student(assignment.suite)
                for v in (lambda r: r.values() if isinstance(r, dict) else r)(q.reference(**n))]
    assert expected
    for number, notebook in enumerate(submissions):
        result = _grade(assignment, sandbox, notebook, tmp_path / str(number), student)
        per_student = [q for q in result.questions if q.name in {x.name for x in _per_student(assignment.suite)}]
        assert any(q.score < q.max_score for q in per_student)
        texts = {"feedback": "\n".join(q.feedback for q in per_student),
                 "results.json": json.dumps(report.to_json(result), ensure_ascii=False),
                 "html": report.to_html(result)}
        for where, text in texts.items():
            for value in expected:
                for form in _shown(value):
                    assert form not in text, (where, value, form, text[:2000])


# ---- finding the student in the notebook ---------------------------------------------------------------------------


def test_the_student_id_is_found_as_jupyterhub_and_nbgrader_know_it(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    for name in ("DLGRADE_STUDENT", "JUPYTERHUB_USER", "JUPYTER_CONFIG_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setattr(numbers_module, "_jupyter_config_dirs", lambda: [str(tmp_path / "config")])
    assert find_student_id() is None
    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    assert find_student_id() == ("ada", "JupyterHub ($JUPYTERHUB_USER)")
    monkeypatch.setenv("DLGRADE_STUDENT", "s1234567")
    assert find_student_id()[0] == "s1234567"
    monkeypatch.delenv("DLGRADE_STUDENT")
    monkeypatch.delenv("JUPYTERHUB_USER")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'dl'\n")

    class Login:
        pw_name = "grace"

    monkeypatch.setattr("pwd.getpwuid", lambda uid: Login())
    assert find_student_id() == ("grace", "your login name (as nbgrader submits)")
    Login.pw_name = "jovyan"  # a container's user, which nbgrader itself replaces by $JUPYTERHUB_USER
    assert find_student_id() is None


# ---- who the student is, where one submission is graded on its own ------------------------------------------------


def _course_layout(root: Path, secret: bytes) -> None:
    """The parts of a dlgrade course that say whose numbers a submission has (what `dlgrade setup` writes)."""
    (root / ".dlgrade").mkdir(parents=True)
    (root / ".dlgrade" / "course.json").write_text(json.dumps({"format": 1, "assignments_root": str(PROJECT)}))
    (root / ".dlgrade" / "secret").write_bytes(secret)


def test_dlgrade_grade_takes_the_student_from_a_course_path_or_student(tmp_path: Path) -> None:
    """A course's submitted/<student>/<id>/ names the student and the course's secret keys the numbers; outside a
    course --student names the student and the project template's numbers hold; without either, no points."""
    import subprocess
    import sys

    assignment = assignments.load("sgd")
    secret = b"a course secret, 32 bytes long.."
    course = tmp_path / "course"
    _course_layout(course, secret)
    notebook = nbformat.read(assignment.source, as_version=4)
    question = assignment.suite.question("worked_update")
    right = question.reference(**student_numbers("scalar_network", numbers_key(secret, "sgd"), "ada"))
    notebook = replace_cell(notebook, question.cell, f"updated_params = {right!r}\n")
    inside = course / "submitted" / "ada" / "sgd" / "sgd.ipynb"
    inside.parent.mkdir(parents=True)
    nbformat.write(notebook, inside)
    outside = tmp_path / "downloads" / "sgd.ipynb"
    outside.parent.mkdir()
    nbformat.write(notebook, outside)

    def worked(path: Path, *flags: str) -> float:
        out = tmp_path / "r.json"
        done = subprocess.run([sys.executable, "-m", "dlgrade.cli", "grade", str(path), "--assignment", "sgd",
                               "--json", str(out), *flags], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        return next(t["score"] for t in json.loads(out.read_text())["tests"] if t["name"] == "worked_update")

    assert worked(inside) == 3.0  # ada, with the course's numbers
    assert worked(inside, "--student", "bob") == 0.0
    assert worked(outside, "--student", "ada") == 0.0  # the template's numbers are not this course's
    assert worked(outside, "--student", "ada", "--course", str(course)) == 3.0
    assert worked(outside) == 0.0


def test_gradescope_grades_as_the_submitter_of_its_metadata(tmp_path: Path) -> None:
    from dlgrade.interop.gradescope import gradescope_student

    assert gradescope_student(tmp_path) is None
    (tmp_path / "submission_metadata.json").write_text(json.dumps(
        {"users": [{"email": "Ada@uni.edu", "id": 1234, "name": "Ada", "sid": "s1234567"}]}))
    assert gradescope_student(tmp_path) == "Ada@uni.edu"
    assert gradescope_student(tmp_path, "sid") == "s1234567"
    assert gradescope_student(tmp_path, "id") == "1234"
    (tmp_path / "submission_metadata.json").write_text("{not json")
    assert gradescope_student(tmp_path) is None


def test_an_in_kernel_export_refuses_per_student_questions_in_one_line() -> None:
    from dlgrade.interop.bake import ExportError, bake_question

    assignment = assignments.load("sgd")
    with pytest.raises(ExportError, match=r"^sgd/worked_update: its answers are computed on each student's own "):
        bake_question(assignment, assignment.suite.question("worked_update"), 7)
