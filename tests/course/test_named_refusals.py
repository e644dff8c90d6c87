"""What a run leaves out, it names: a submission that became unusable keeps its earlier grade in the gradebook and
its row (and `dlgrade feedback`) says so; student folders with control characters or a leading '.' are refused by
name and never reach the gradebook, the table or grades.csv; an LMS archive naming one member twice, or one name
as both a file and a folder, is refused whole in one line; files of a download that are nobody's submission are
listed, and a .py script is collected as a submission."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import nbformat
import pytest
from course_helpers import (
    base_course,  # noqa: F401 - a fixture
    cli,
    course,  # noqa: F401 - a fixture
    gradebook_scores,
    mini,
    one_line_error,
    records,
    submit,
)

from dlgrade.course import check_student_id
from dlgrade.errors import UsageError

# ruff: noqa: F811


def _zip(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """A zip of ``members`` in order, names repeated as given (zipfile warns of a duplicate, and writes it)."""
    with pytest.warns(UserWarning) if len({n for n, _ in members}) < len(members) else _nothing(), \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return path


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_a_submission_made_unusable_keeps_its_earlier_grade_and_every_output_says_so(course: Path) -> None:
    submit(course, "dave", mini().source.read_bytes(), "2030-01-01 10:00:00.000000 UTC")
    submit(course, "erin", mini().source.read_bytes(), "2030-01-01 10:00:00.000000 UTC")
    first = cli("autograde", "mini", "--course", course, "--workers", "1")
    assert first.code == 0, first.err
    assert sum(gradebook_scores(course)["dave"].values()) == 5.0
    (course / "submitted" / "dave" / "mini" / "mini.ipynb").write_text("garbage\n")
    again = cli("autograde", "mini", "--course", course, "--workers", "1")
    assert again.code == 1
    row = next(line for line in again.out.splitlines() if line.startswith("dave "))
    assert "refused" in row and "the gradebook still holds the grade of an earlier file (5 / 5)" in row, row
    assert "dlgrade: dave: refused:" in again.err and "earlier file (5 / 5)" in again.err
    assert sum(gradebook_scores(course)["dave"].values()) == 5.0  # kept: never zeroed by a broken file
    feedback = cli("feedback", "mini", "--course", course)
    assert feedback.code == 0, feedback.err
    assert "feedback of 1 student(s)" in feedback.out
    skipped = [line for line in feedback.out.splitlines() if line.startswith("no feedback for ")]
    assert len(skipped) == 1 and skipped[0].startswith("no feedback for dave: its submission is refused ("), skipped
    assert "the gradebook still holds the grade of an earlier file (5 / 5)" in skipped[0]
    # a student of the gradebook whose folder is gone is named too
    (course / "submitted" / "dave" / "mini" / "mini.ipynb").unlink()
    (course / "submitted" / "dave" / "mini" / "timestamp.txt").unlink()
    (course / "submitted" / "dave" / "mini").rmdir()
    feedback = cli("feedback", "mini", "--course", course)
    assert "no feedback for dave: in the gradebook, but no submission of mini in " in feedback.out, feedback.out


ODD_IDS = ("nl\nx", "esc\x1b[31mred", "rtl\u202eevil", "zero\u200bwidth", "tab\tbed", "line\u2028sep")


@pytest.mark.parametrize("student", ODD_IDS)
def test_a_student_id_with_a_control_or_format_character_is_refused(student: str) -> None:
    with pytest.raises(UsageError) as raised:
        check_student_id(student)
    message = str(raised.value)
    assert message.isprintable() and "control or invisible character" in message and "U+" in message


def test_odd_and_hidden_student_folders_are_refused_by_name_and_never_reach_the_gradebook(course: Path,
                                                                                        tmp_path: Path) -> None:
    notebook = mini().source.read_bytes()
    for student in ("alice", "nl\nx", "esc\x1b[31mred", "..dots", ".hidden"):
        submit(course, student, notebook)
    run = cli("autograde", "mini", "--course", course, "--workers", "1")
    assert run.code == 1
    assert set(gradebook_scores(course)) == {"alice"} and set(records(course)) == {"alice"}
    assert "\x1b" not in run.out + run.err
    table = run.out[run.out.index("\nmini\n"):].strip().splitlines()[:-1]  # then the gradebook's line
    assert len(table) == 2 + 5 + 1, "\n".join(table)  # title, header, one line per folder, the counts
    for shown in ("nl\\nx", "esc\\x1b[31mred", "..dots", ".hidden"):
        assert any(line.startswith(shown) and "refused" in line for line in table), (shown, table)
    assert "unusable student id '..dots' (a folder name without '/', '*' or a leading '.')" in run.out
    assert "5 submissions: 1 graded now, 0 already graded, 4 refused" in run.out
    # the progress's first line counts refusals as refusals, not as graded
    assert "grading mini: 1 submissions on 1 workers (4 refused)" in run.err, run.err
    one_line_error(cli("autograde", "mini", "--course", course, "--student", "..dots"),
                   "unusable student id '..dots'")
    export = cli("export-grades", "--course", course, "--to", tmp_path)
    assert export.code == 0, export.err
    students = [row["student_id"] for row in csv.DictReader((tmp_path / "grades.csv").open(newline=""))]
    assert students == ["alice"], students
    # a rerun: alice already graded, the four refused again, each counted as what it is
    rerun = cli("autograde", "mini", "--course", course, "--workers", "1")
    assert "5 submissions: 0 graded now, 1 already graded, 4 refused" in rerun.out


def test_an_archive_naming_a_member_twice_or_as_file_and_folder_is_refused_whole(course: Path,
                                                                                  tmp_path: Path) -> None:
    notebook = mini().source.read_bytes()
    blank = nbformat.writes(nbformat.v4.new_notebook()).encode()
    cases = {
        "twice.zip": ([("alice_mini.ipynb", notebook), ("bob_mini.ipynb", notebook), ("alice_mini.ipynb", blank)],
                      "member 'alice_mini.ipynb' is in the archive twice"),
        "spelled.zip": ([("alice/mini.ipynb", notebook), ("alice//./mini.ipynb", blank)],
                        "member 'alice//./mini.ipynb' is in the archive twice"),
        "composed.zip": ([("\u00fcma_mini.ipynb", notebook), ("u\u0308ma_mini.ipynb", blank)],
                         "is in the archive twice"),
        "dirfile.zip": ([("alice_mini.ipynb", notebook), ("gina_mini.ipynb/", b""), ("gina_mini.ipynb", notebook)],
                        "member 'gina_mini.ipynb' is both a file and a folder in the archive"),
        "filedir.zip": ([("hank", b"x"), ("hank/mini.ipynb", notebook)],
                        "member 'hank/mini.ipynb' is both a file and a folder in the archive"),
    }
    for name, (members, words) in cases.items():
        if name == "dirfile.zip":  # zipfile.writestr makes a folder member of a name ending in '/'
            with zipfile.ZipFile(tmp_path / name, "w") as archive:
                for member, data in members:
                    archive.writestr(member, data)
            archive_path = tmp_path / name
        else:
            archive_path = _zip(tmp_path / name, members)
        run = cli("collect", "mini", "--course", course, "--zip", archive_path)
        one_line_error(run, str(archive_path), words, "nothing was collected")
        assert not list((course / "submitted").iterdir()), name
        assert not (course / "downloaded" / "mini" / "archive" / name).exists(), name


def test_a_nested_archive_and_a_member_of_its_folder_clash(course: Path, tmp_path: Path) -> None:
    notebook = mini().source.read_bytes()
    inner = _zip(tmp_path / "inner.zip", [("alice_mini.ipynb", notebook)])
    outer = _zip(tmp_path / "outer.zip", [("inner.zip", inner.read_bytes()), ("inner/alice_mini.ipynb", notebook)])
    one_line_error(cli("collect", "mini", "--course", course, "--zip", outer), "is in the archive twice")


def test_files_of_a_download_that_are_nobodys_submission_are_listed_and_a_script_is_collected(
        course: Path, tmp_path: Path) -> None:
    notebook = mini().source.read_bytes()
    script = "\n\n".join(cell.source for cell in nbformat.reads(notebook.decode(), 4).cells
                         if cell.cell_type == "code").encode()
    download = _zip(tmp_path / "download.zip", [("alice_mini.ipynb", notebook), ("dave_mini.py", script),
                                                 ("carol_notes.txt", b"hi"), ("evil.sh", b"rm -rf /")])
    run = cli("collect", "mini", "--course", course, "--zip", download)
    assert run.code == 0, run.err
    assert "collected 2 submission(s) of mini: alice, dave" in run.out
    assert ("not collected: 2 file(s) of the download that are no student's mini notebook or script by their "
            "names: download/carol_notes.txt, download/evil.sh") in run.out, run.out
    assert (course / "submitted" / "dave" / "mini" / "mini.py").read_bytes() == script
    graded = cli("autograde", "mini", "--course", course, "--workers", "1")
    assert graded.code == 0, graded.err
    assert sum(gradebook_scores(course)["dave"].values()) == 5.0
