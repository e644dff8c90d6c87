"""`dlgrade report` on the sample class of losses, graded into a real course: every known mistake ranked with the
number of students who made it, the class statistics as nbgrader's gradebook gives them, the same tables as text
and formula-safe CSV, and a self-contained page linking every student to their feedback."""

from __future__ import annotations

import csv
import io
import re
import statistics
from pathlib import Path

import pytest
from course_helpers import base_course, cli, course  # noqa: F401 - fixtures
from insight_helpers import MARKUP, Graded, gradebook_scores, graded_class

from dlgrade.course import Course
from dlgrade.insight import cohort, tables


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    return graded_class(tmp_path_factory)


@pytest.fixture(scope="module")
def built(graded: Graded) -> cohort.Cohort:
    return cohort.build(Course.open(graded.course), "losses")


def test_every_known_mistake_is_ranked_with_the_number_of_students_who_made_it(graded: Graded,
                                                                               built: cohort.Cohort) -> None:
    seen = {(stats.name, m.name): m for stats in built.questions for m in stats.mistakes}
    for (question, mistake), count in graded.made.items():
        entry = seen[(question, mistake)]
        assert entry.count == count, (question, mistake)
        assert entry.origin == "suite"
        assert set(entry.students) == {s for s, sub in graded.students.items()
                                       if (sub.question, sub.mistake) == (question, mistake)}
    # nothing else is diagnosed: every ranked mistake is one the class made
    assert set(seen) == set(graded.made)
    for stats in built.questions:
        counts = [m.count for m in stats.mistakes]
        assert counts == sorted(counts, reverse=True)
    mse = [(m.name, m.count) for m in built.question("mse").mistakes]
    assert mse[0] == ("half_factor", 3)  # made three times: ranked first
    assert built.question("bce").mistakes[0].name == "forgot_minus"
    assert built.question("bce").mistakes[0].count == 2


def test_class_statistics_are_the_gradebooks(graded: Graded, built: cohort.Cohort) -> None:
    book = gradebook_scores(graded.course)
    grades = sorted(sum(v or 0.0 for v in scores.values()) for scores in book.values())
    assert len(built.rows) == len(graded.students) == len(book)
    assert sorted(built.scores) == pytest.approx(grades)
    q1, median, q3 = statistics.quantiles(grades, n=4, method="inclusive")
    assert built.quartiles() == pytest.approx((q1, median, q3))
    max_score = built.assignment.max_score
    assert built.full_marks == sum(g >= max_score - 1e-9 for g in grades) == 2  # the solution and its late copy
    assert built.blanks == 1
    assert built.late == 1 and [r.student for r in built.rows if r.late] == ["solution-late"]
    total, typical = built.grading_seconds()
    assert 0 < typical < total
    mse = built.question("mse")
    assert mse.graded == len(book)
    assert sum(mse.statuses.values()) == len(book)
    assert mse.mean == pytest.approx(statistics.fmean(scores["mse"] for scores in book.values()))


def test_text_and_csv_give_the_same_tables(graded: Graded, built: cohort.Cohort) -> None:
    text = cli("report", "losses", "--course", graded.course, "--format", "text")
    assert text.code == 0, text.err
    assert re.search(r"^mse +1 +half_factor +suite +3 ", text.out, re.M)
    assert re.search(r"^full marks +2$", text.out, re.M)
    out = graded.course / "report.csv"
    run = cli("report", "losses", "--course", graded.course, "--format", "csv", "--out", out)
    assert run.code == 0, run.err
    rows = list(csv.reader(io.StringIO(out.read_text())))
    start = rows.index(["table", "mistakes"])
    assert rows[start + 1][:5] == ["question", "rank", "mistake", "from", "students"]
    assert ["mse", "1", "half_factor", "suite", "3"] == rows[start + 2][:5]
    students = rows[rows.index(["table", "students"]) + 2:]
    assert {row[0] for row in students} == set(graded.students)


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_csv_field_that_would_be_a_formula_is_written_as_text(start: str) -> None:
    table = tables.Table("t", ("a", "b"), ((f"{start}HYPERLINK(\"http://x\")", -1.5),))
    rows = list(csv.reader(io.StringIO(tables.csv_text([table]))))
    shown = "\\x0d" if start == "\r" else start  # a carriage return is made visible (dlgrade.boundary.text)
    assert rows[2] == [f"'{shown}HYPERLINK(\"http://x\")", "-1.5"]


def test_the_html_report_is_one_self_contained_page_linking_every_student_to_their_feedback(graded: Graded) -> None:
    out = graded.course / "reports" / "losses.html"
    run = cli("report", "losses", "--course", graded.course)
    assert run.code == 0, run.err
    assert str(out) in run.out
    page = out.read_text()
    assert "<svg" in page and "class=\"chart\"" in page  # matplotlib's charts, inline
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "nothing is fetched from a network"
    assert "<script" not in page.replace("&lt;script", "")  # the page runs nothing, and a student's text is text
    links = re.findall(r'<a href="([^"#][^"]*)">([^<]+)</a>', page)
    assert {student for _, student in links} == set(graded.students)
    for link, student in links:
        assert (out.parent / link).resolve() == (graded.course / "feedback" / student / "losses" /
                                                 "losses.html").resolve()
    for question in ("mse", "bce", "weibull_nll"):
        assert f">{question}</a>" in page
    assert re.search(r'<tr><td class="num">3</td><td><b>half_factor</b></td>', page)
    assert MARKUP in page


def test_the_report_shows_where_each_mistake_comes_from(graded: Graded, built: cohort.Cohort, tmp_path: Path) -> None:
    assert cli("report", "losses", "--course", graded.course, "--out", tmp_path / "r.html").code == 0
    page = (tmp_path / "r.html").read_text()
    assert page.count('class="badge suite"') == sum(len(q.mistakes) for q in built.questions)
    assert 'class="badge course"' not in page


def test_unknown_assignment_is_one_line_and_exit_2(graded: Graded) -> None:
    run = cli("report", "nosuch", "--course", graded.course)
    assert run.code == 2
    assert run.err.count("\n") == 1 and "unknown assignment 'nosuch'" in run.err


def test_report_of_a_course_without_records_is_one_line_and_exit_2(course: Path) -> None:  # noqa: F811
    for command in (("report", "mini"), ("report", "mini", "--format", "csv"),
                    ("mistakes", "add", "mini", "mse", "--cluster", "1", "--name", "x", "--feedback", "y")):
        run = cli(*command, "--course", course)
        assert run.code == 2, command
        assert run.err.count("\n") == 1 and "no graded submissions of mini" in run.err, run.err


def test_a_graders_manual_score_is_the_one_the_report_counts(graded: Graded, tmp_path: Path) -> None:
    import shutil

    from nbgrader.api import Gradebook

    copy = tmp_path / "course"
    shutil.copytree(graded.course, copy)
    before = {row.student: row for row in cohort.build(Course.open(copy), "losses").rows}
    with Gradebook(f"sqlite:///{copy / 'gradebook.db'}", "course") as book:
        grade = book.find_grade("mse", "losses", "losses", "mse-half-factor")
        grade.manual_score = 1.75
        book.db.commit()
    after = {row.student: row for row in cohort.build(Course.open(copy), "losses").rows}
    changed = after["mse-half-factor"]
    assert changed.scores["mse"] == 1.75 and changed.manual == frozenset({"mse"})
    assert changed.score == pytest.approx(before["mse-half-factor"].score - before["mse-half-factor"].scores["mse"]
                                          + 1.75)
    assert all(after[s].score == before[s].score and not after[s].manual for s in after if s != "mse-half-factor")


def test_a_student_graded_in_the_gradebook_with_no_submission_left_is_listed_not_left_out(graded: Graded,
                                                                                         tmp_path: Path) -> None:
    """The report counted submitted/ alone: a student whose folder was removed vanished from it, while the
    gradebook and grades.csv kept the grade. Listed now, as withdrawn, and out of the numbers like a resubmission."""
    import shutil

    copy = tmp_path / "course"
    shutil.copytree(graded.course, copy)
    before = cohort.build(Course.open(copy), "losses")
    gone = "mse-half-factor"
    shutil.move(copy / "submitted" / gone, tmp_path / gone)
    after = cohort.build(Course.open(copy), "losses")
    rows = {row.student: row for row in after.rows}
    assert len(after.rows) == len(before.rows) and rows[gone].state == "withdrawn" and not rows[gone].graded
    assert [row.student for row in after.graded] == [row.student for row in before.graded if row.student != gone]
    run = cli("report", "losses", "--course", copy, "--format", "text")
    assert run.code == 0, run.err
    assert re.search(r"in the gradebook, no submission in submitted/\s+1\b", run.out), run.out[:2000]
    assert re.search(rf"{re.escape(gone)}\s+withdrawn", run.out), run.out
