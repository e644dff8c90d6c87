"""grades.csv is safe to open in a spreadsheet: written by a real CSV writer (a comma, a quote or a newline in an id or
a roster name shifts nothing) with formula prefixes neutralised (OWASP's CSV-injection rule: a field that starts
with = + - @ tab or CR gets a leading '), and every row parses back to its student's score; `nbgrader export`
on a dlgrade course writes the same file."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from course_helpers import (
    base_course,  # noqa: F401 - a fixture
    cli,
    course,  # noqa: F401 - a fixture
)

pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's add_submission warns

# student id -> (last name, score out of 5)
ROSTER = {
    "alice": ("Smith", 5.0),
    "comma,id": ("Doe, Jr.", 4.0),
    'quote"d': ('O"Neil', 3.5),
    "new\nline": ("Two\nLines", 3.0),
    '=HYPERLINK("http://evil.example","click")': ("=1+1", 2.5),
    "@SUM(A1:A9)": ("@cmd", 2.0),
    "+1-1": ("+x", 1.5),
    "-2+3": ("-y", 1.0),
    "\tTAB": ("\ttab", 0.5),
    "\rCR": ("\rcr", 0.0),
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str) -> str:
    """What a safe export holds for a text field: a leading ' before a formula prefix, the rest as it is."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


@pytest.fixture
def roster_course(course: Path) -> Path:  # noqa: F811
    """Students with hostile ids and names, each with a known score in mini (grades set through nbgrader's API)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "course") as book:
        for student, (last_name, score) in ROSTER.items():
            book.add_student(student, last_name=last_name, first_name=last_name, email=f"{last_name}@x")
            book.add_submission("mini", student)
            grades = {g.name: g for g in book.find_submission_notebook("mini", "mini", student).grades}
            grades["mse"].manual_score = min(score, 2.0)
            grades["relu_derivative"].manual_score = min(max(score - 2.0, 0.0), 2.0)
            grades["worked_loss"].manual_score = max(score - 4.0, 0.0)
        book.db.commit()
    return course


def _assert_safe_and_exact(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    with path.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == len(ROSTER)  # no row shifted, split or merged
    by_id = {row["student_id"]: row for row in rows}
    assert sorted(by_id) == sorted(spreadsheet_text(student) for student in ROSTER)
    for student, (last_name, score) in ROSTER.items():
        row = by_id[spreadsheet_text(student)]
        assert float(row["score"]) == float(row["raw_score"]) == score, student
        assert float(row["max_score"]) == 5.0
        assert row["last_name"] == row["first_name"] == spreadsheet_text(last_name)
        assert row["assignment"] == "mini"
    for row in rows:  # nothing a spreadsheet would evaluate
        assert not any(str(value).startswith(FORMULA_STARTS) for value in row.values()), row
    assert '\n=HYPERLINK' not in text and ',=' not in text and ',@' not in text


def test_export_grades_csv_quotes_and_neutralises_every_field(roster_course: Path, tmp_path: Path) -> None:
    run = cli("export-grades", "--course", roster_course, "--to", tmp_path)
    assert run.code == 0, run.err
    _assert_safe_and_exact(tmp_path / "grades.csv")


def test_nbgraders_own_export_on_a_dlgrade_course_is_as_safe(roster_course: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", str(tmp_path / "grades.csv")],
                          cwd=roster_course, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_safe_and_exact(tmp_path / "grades.csv")


def test_a_score_the_gradebook_sums_inexactly_is_exported_as_the_json_has_it(course: Path,  # noqa: F811
                                                                           tmp_path: Path) -> None:
    """1.1 + 1.1 + 0.1 is 2.3000000000000003 in the gradebook's float sum: the CSV said so, the JSON 2.3."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "course") as book:
        book.add_student("ann")
        book.add_submission("mini", "ann")
        grades = {g.name: g for g in book.find_submission_notebook("mini", "mini", "ann").grades}
        for name, score in (("mse", 1.1), ("relu_derivative", 1.1), ("worked_loss", 0.1)):
            grades[name].manual_score = score
        book.db.commit()
        assert book.find_submission("mini", "ann").score == 1.1 + 1.1 + 0.1 != 2.3
    assert cli("export-grades", "--course", course, "--to", tmp_path).code == 0
    with (tmp_path / "grades.csv").open(newline="", encoding="utf-8") as stream:
        row = next(r for r in csv.DictReader(stream) if r["student_id"] == "ann")
    assert (row["raw_score"], row["score"], row["late_submission_penalty"]) == ("2.3", "2.3", "0.0")
