"""Clusters of unexplained failures and the course's own known mistakes, on the losses class graded by a suite
without mse's known mistakes: each removed mistake's students make one cluster, exactly them; `dlgrade mistakes
add` on a cluster names it after the next autograde in exactly those students' feedback, regrading no one and
changing no score; removing it takes it out again; bad input is one line and exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from course_helpers import cli
from insight_helpers import HALF_WAYS, Graded, bare_class, gradebook_scores, results_json

from dlgrade.course import Course
from dlgrade.insight import clusters, cohort
from dlgrade.insight.catalog import Catalog, CatalogError
from dlgrade.notebook import extract

REMOVED = ("half_factor", "sum_instead_of_mean", "root_mean_square", "absolute_error")


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    return bare_class(tmp_path_factory)


@pytest.fixture
def course(bare: Graded, tmp_path: Path) -> Path:
    """A copy of the graded course, for a test that changes it."""
    copy = tmp_path / "course"
    shutil.copytree(bare.course, copy)
    settings = json.loads((copy / ".dlgrade" / "course.json").read_text())
    assert Path(settings["assignments_root"]).is_dir()
    return copy


def _students_of(graded: Graded, mistake: str) -> set[str]:
    return {name for name, s in graded.students.items() if (s.question, s.mistake) == ("mse", mistake)}


def test_each_removed_mistake_is_one_cluster_holding_exactly_its_students(bare: Graded) -> None:
    built = cohort.build(Course.open(bare.course), "losses")
    assert built.question("mse").mistakes == ()  # the suite no longer names any of them
    found = clusters.clusters(built, "mse")
    by_students = {frozenset(c.students): c for c in found}
    for mistake in REMOVED:
        assert frozenset(_students_of(bare, mistake)) in by_students, mistake
    assert len(_students_of(bare, "half_factor")) == 3
    # the rest of the unexplained failures (the always-equal attack) are clusters of their own
    others = [c for c in found if not any(set(c.students) == _students_of(bare, m) for m in REMOVED)]
    assert [c.students for c in others] == [("hostile-always-equal",)]
    # largest first, numbered 1, 2, ...
    assert [c.number for c in found] == list(range(1, len(found) + 1))
    assert found[0].size == 3 and set(found[0].students) == _students_of(bare, "half_factor")
    # nobody else of the class is in a cluster of mse, and the other questions' mistakes are still named
    assert sum(c.size for c in found) == len(built.question("mse").unexplained) == 7
    assert [m.name for m in built.question("bce").mistakes] == ["forgot_minus"]


def test_a_cluster_shows_its_shortest_cell_and_its_answers_next_to_the_expected_ones(bare: Graded) -> None:
    built = cohort.build(Course.open(bare.course), "losses")
    half = clusters.clusters(built, "mse")[0]
    cells = {}
    for student in half.students:
        path = bare.course / "submitted" / student / "losses" / "losses.ipynb"
        cells[student] = next(c.source for c in extract(path, built.assignment.source).cells if c.id == "mse_solution")
    assert half.representative == min(cells, key=lambda s: len(cells[s].strip()))
    assert half.representative == "half-a"  # "(input - target) ** 2 / 2" is the shortest way to write it
    assert half.cell == cells["half-a"] and HALF_WAYS["half-a"][1] in half.cell
    probes = built.probes["mse"]
    assert probes is not None and len(half.rows) == len(probes.cases) > probes.public
    first = half.rows[0]  # public case 1 of mse: x=[0.5, 1, 2], y=[1, 1, 0], reduction='none'
    assert first.label.startswith("public case 1")
    assert first.expected == "[0.25 0.   4.  ]" and first.answer == "[0.125 0.    2.   ]"
    # half of the loss is the loss only where it is 0 (a probe whose input equals its target)
    for row in half.rows:
        numbers = row.expected.replace("[", " ").replace("]", " ").split()
        assert row.same == all(float(v) == 0 for v in numbers), row


def test_probe_answers_are_the_same_inputs_for_every_student_and_stored_under_their_key(bare: Graded) -> None:
    built = cohort.build(Course.open(bare.course), "losses")
    keys = {q.probe.key for row in built.graded for q in row.result.questions if q.probe is not None}
    probed = {q for row in built.graded for q in row.result.questions if q.probe is not None}
    assert keys == {built.probes[q.name].key for q in probed}
    # only failures without a known mistake were probed: bce's forgot_minus was named, so not probed
    assert all(q.diagnosis is None and q.status in ("failed", "error") for q in probed)
    record = json.loads((bare.course / ".dlgrade" / "results" / "losses" / "bce-forgot-minus.json").read_text())
    assert [q["probe"] for q in record["result"]["questions"]] == [None] * len(record["result"]["questions"])


def test_naming_a_cluster_names_it_in_exactly_those_students_feedback_and_changes_no_score(course: Path,
                                                                                          bare: Graded) -> None:
    before = {s: results_json(course, s) for s in bare.students}
    scores = gradebook_scores(course)
    built = cohort.build(Course.open(course), "losses")
    number = next(c.number for c in clusters.clusters(built, "mse")
                  if set(c.students) == _students_of(bare, "root_mean_square"))
    words = "for reduction='mean' you return the root of the mean: that is RMSE, not MSE"
    run = cli("mistakes", "add", "losses", "mse", "--cluster", number, "--name", "rmse", "--feedback", words,
              "--course", course)
    assert run.code == 0, run.err
    assert "mse-root-mean-square" in run.out and "not kept" not in run.out  # nothing of the instructor's lost
    catalog = Catalog.load(course)
    assert [(m.assignment, m.question, m.name, m.feedback) for m in catalog.mistakes] == [
        ("losses", "mse", "rmse", words)]
    rerun = cli("autograde", "losses", "--course", course)
    assert rerun.code == 0, rerun.err
    assert "0 graded now" in rerun.out  # nobody's code ran again
    after = {s: results_json(course, s) for s in bare.students}
    assert gradebook_scores(course) == scores
    for student in bare.students:
        old, new = before[student], after[student]
        assert new["score"] == old["score"]
        assert [(t["name"], t["score"], t["status"]) for t in new["tests"]] == \
            [(t["name"], t["score"], t["status"]) for t in old["tests"]]
        mse = next(t for t in new["tests"] if t["name"] == "mse")
        if student == "mse-root-mean-square":
            assert mse["diagnosis"]["mistake"] == "rmse" and mse["diagnosis"]["origin"] == "course"
            assert mse["diagnosis"]["feedback"] == words
            assert f"Known mistake (rmse): {words}" in mse["output"]
            page = (course / "feedback" / student / "losses" / "losses.html").read_text()
            assert "Known mistake (rmse):" in page
        else:
            assert new == old, student  # not even rewritten
    assert "mse-root-mean-square " in rerun.out and "mse: rmse" in rerun.out
    # the report now ranks it, from the course's catalog, and its cluster is gone
    built = cohort.build(Course.open(course), "losses")
    assert [(m.name, m.origin, m.students) for m in built.question("mse").mistakes] == [
        ("rmse", "course", ("mse-root-mean-square",))]
    assert all("mse-root-mean-square" not in c.students for c in clusters.clusters(built, "mse"))
    listed = cli("mistakes", "list", "losses", "--course", course)
    assert listed.code == 0 and "course  rmse" in listed.out and "1 students" in listed.out

    yml = course / "mistakes.yml"  # a comment of the instructor's: the rewrite drops it, keeping the file as it was
    commented = yml.read_text() + "# keep rmse until week 9\n"
    yml.write_text(commented)
    removed = cli("mistakes", "remove", "losses", "mse", "rmse", "--course", course)
    assert removed.code == 0, removed.err
    assert f"its comments are not kept: the file as it was is {course / 'mistakes.yml.before-edit'}" in removed.out
    assert (course / "mistakes.yml.before-edit").read_text() == commented and "week 9" not in yml.read_text()
    assert cli("autograde", "losses", "--course", course).code == 0
    assert results_json(course, "mse-root-mean-square") == before["mse-root-mean-square"]  # as it was
    assert gradebook_scores(course) == scores


def test_an_unknown_cluster_or_name_is_one_line_and_exit_2(course: Path) -> None:
    for args, words in (
        (("add", "losses", "mse", "--cluster", "99", "--name", "x", "--feedback", "y"), "has no cluster 99"),
        (("add", "losses", "mse", "--cluster", "0", "--name", "x", "--feedback", "y"), "has no cluster 0"),
        (("add", "losses", "nosuch", "--cluster", "1", "--name", "x", "--feedback", "y"), "no question 'nosuch'"),
        (("add", "losses", "bce", "--cluster", "1", "--name", "forgot_minus", "--feedback", "y"), "already has"),
        (("add", "losses", "mse", "--cluster", "1", "--name", "no spaces", "--feedback", "y"), "--name"),
        (("add", "losses", "mse", "--cluster", "1", "--name", "x", "--feedback", " "), "--feedback"),
        (("add", "nosuch", "mse", "--cluster", "1", "--name", "x", "--feedback", "y"), "unknown assignment"),
        (("remove", "losses", "mse", "nosuch"), "no course mistake 'nosuch'"),
        (("list", "nosuch"), "unknown assignment"),
    ):
        run = cli("mistakes", *args, "--course", course)
        assert run.code == 2, args
        assert run.err.count("\n") == 1 and words in run.err, (args, run.err)
    assert not (course / "mistakes.yml").exists()


BAD_CATALOGS = [
    ("losses:\n  mse: [\n", 3, "not valid YAML"),
    ("losses:\n  mse:\n  - name: x\n    feedback: y\n    probe_set: 0123456789abcdef\n"
     "    behaviours: [0123456789abcdef]\n    colour: red\n", 7, "unknown key 'colour' in losses.mse[0]"),
    ("losses:\n  mse:\n  - name: x\n    feedback: y\n    probe_set: 0123456789abcdef\n", 3,
     "losses.mse[0]: missing key 'behaviours'"),
    ("losses:\n  mse:\n  - name: x\n    feedback: y\n    probe_set: nothex\n    behaviours: [0123456789abcdef]\n", 5,
     "losses.mse[0].probe_set must be 16 hex digits"),
    ("losses:\n  mse:\n  - name: x\n    feedback: ''\n    probe_set: 0123456789abcdef\n    behaviours: [a]\n", 4,
     "losses.mse[0].feedback must be non-empty text"),
    ("losses:\n  mse:\n  - name: 3x\n    feedback: y\n    probe_set: 0123456789abcdef\n"
     "    behaviours: [0123456789abcdef]\n", 3, "losses.mse[0].name '3x'"),
    ("nosuch:\n  mse: []\n", 1, "unknown assignment 'nosuch'"),
    ("losses:\n  mse: {name: x}\n", 2, "losses.mse must be a list"),
    ("- just\n- a list\n", 1, "the file must be a mapping"),
    ("losses:\n  nosuch:\n  - name: x\n    feedback: y\n    probe_set: 0123456789abcdef\n"
     "    behaviours: [0123456789abcdef]\n", 3, "losses has no question 'nosuch'"),
    ("losses:\n  mse:\n  - {name: x, feedback: y, probe_set: 0123456789abcdef, behaviours: [0123456789abcdef]}\n"
     "  - {name: x, feedback: z, probe_set: 0123456789abcdef, behaviours: [0123456789abcdef]}\n", 4,
     "the name 'x' is used twice"),
    ("losses:\n  bce:\n  - {name: forgot_minus, feedback: y, probe_set: 0123456789abcdef, "
     "behaviours: [0123456789abcdef]}\n", 3, "'forgot_minus' is already a known mistake of the suite"),
]


@pytest.mark.parametrize(("text", "line", "words"), BAD_CATALOGS)
def test_a_bad_mistakes_yml_is_one_line_naming_file_line_and_key(course: Path, text: str, line: int,
                                                                 words: str) -> None:
    path = course / "mistakes.yml"
    path.write_text(text)
    with pytest.raises(CatalogError) as raised:
        Catalog.load(course, ["losses"]).of(Course.open(course).assignment("losses"))
    assert str(raised.value).startswith(f"{path}, line {line}: "), str(raised.value)
    assert words in str(raised.value)


def test_a_bad_mistakes_yml_stops_report_and_autograde_before_anything_is_written(course: Path) -> None:
    (course / "mistakes.yml").write_text("losses:\n  mse:\n  - name: x\n    feedback: y\n")
    feedback = {p: p.read_bytes() for p in (course / "feedback").rglob("*.json")}
    for command in (("autograde", "losses", "--force"), ("report", "losses"), ("mistakes", "list", "losses"),
                    ("feedback", "losses")):
        run = cli(*command, "--course", course)
        assert run.code == 2, command
        assert run.err.count("\n") == 1 and f"{course / 'mistakes.yml'}, line 3: " in run.err, run.err
    assert {p: p.read_bytes() for p in (course / "feedback").rglob("*.json")} == feedback
    assert not (course / "reports").exists()


def test_a_failure_recorded_without_probe_answers_is_listed_not_clustered(course: Path) -> None:
    """A record from before probes were collected (or under another course secret) has none on this probe set:
    the report says so and how to get them, and clusters the others."""
    path = course / ".dlgrade" / "results" / "losses" / "mse-root-mean-square.json"
    record = json.loads(path.read_text())
    mse = next(q for q in record["result"]["questions"] if q["name"] == "mse")
    assert mse["probe"] is not None
    mse["probe"] = None
    path.write_text(json.dumps(record))
    other = course / ".dlgrade" / "results" / "losses" / "mse-absolute-error.json"
    record = json.loads(other.read_text())
    next(q for q in record["result"]["questions"] if q["name"] == "mse")["probe"]["key"] = "0" * 16  # stale
    other.write_text(json.dumps(record))
    built = cohort.build(Course.open(course), "losses")
    assert built.question("mse").unprobed == ("mse-absolute-error", "mse-root-mean-square")
    found = clusters.clusters(built, "mse")
    assert all(s not in c.students for c in found for s in ("mse-absolute-error", "mse-root-mean-square"))
    assert sum(c.size for c in found) == 5
    run = cli("report", "losses", "--course", course)
    assert run.code == 0, run.err
    page = (course / "reports" / "losses.html").read_text()
    assert "2 of them without answers on the course's probe set" in page
    assert "dlgrade autograde losses --force" in page
