"""Bad input to the course commands: one clear line on stderr, exit status 2, and nothing lost or half-done."""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path

import pytest
from course_helpers import (
    FIXTURE_ROOT,
    base_course,  # noqa: F401 - a fixture
    cli,
    course,  # noqa: F401 - a fixture
    gradebook_scores,
    mini,
    one_line_error,
    records,
    submit,
)


def test_unknown_assignment_student_and_course(course: Path, tmp_path: Path) -> None:  # noqa: F811
    one_line_error(cli("autograde", "nope", "--course", course), "unknown assignment", "nope")
    one_line_error(cli("autograde", "mini", "--course", course, "--student", "zed"), "unknown student", "zed")
    one_line_error(cli("autograde", "mini", "--course", tmp_path), "not a dlgrade course")
    one_line_error(cli("setup", "nope", "--course", tmp_path / "c2", "--project", FIXTURE_ROOT),
                   "unknown assignment")


def test_locked_gradebook_is_refused_before_grading_and_loses_nothing(course: Path) -> None:  # noqa: F811
    submit(course, "alice", mini().source.read_bytes())
    holder = sqlite3.connect(course / "gradebook.db")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        one_line_error(cli("autograde", "mini", "--course", course), "locked")
    finally:
        holder.rollback()
        holder.close()
    assert records(course) == {}
    run = cli("autograde", "mini", "--course", course, "--workers", "1")
    assert run.code == 0, run.err
    assert sum(gradebook_scores(course)["alice"].values()) == 5.0


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_zip_collect_files_lms_downloads_and_refuses_zip_slip(course: Path, tmp_path: Path) -> None:  # noqa: F811
    notebook = mini().source.read_bytes()
    evil = _zip(tmp_path / "evil.zip", {"alice_mini.ipynb": notebook, "../../escaped.ipynb": notebook})
    one_line_error(cli("collect", "mini", "--course", course, "--zip", evil), "zip slip")
    assert not list((course / "submitted").iterdir()) and not (course / "downloaded").exists()
    assert not list(tmp_path.parent.rglob("escaped.ipynb"))
    good = _zip(tmp_path / "download.zip", {"alice_mini.ipynb": notebook, "bob/mini.ipynb": notebook})
    run = cli("collect", "mini", "--course", course, "--zip", good)
    assert run.code == 0, run.err
    for student in ("alice", "bob"):
        assert (course / "submitted" / student / "mini" / "mini.ipynb").read_bytes() == notebook
    late = _zip(tmp_path / "late.zip", {"carol_mini.ipynb": notebook})
    one_line_error(cli("collect", "mini", "--course", course, "--zip", late), "--force")
    assert not (course / "downloaded" / "mini" / "archive" / "late.zip").exists()  # taken back
    run = cli("collect", "mini", "--course", course, "--zip", late, "--force")  # every download, collected again
    assert run.code == 0, run.err
    for student in ("alice", "bob", "carol"):
        assert (course / "submitted" / student / "mini" / "mini.ipynb").read_bytes() == notebook


def test_exchange_collect_refuses_a_submission_with_a_symlink(course: Path, tmp_path: Path) -> None:  # noqa: F811
    from dlgrade.course import Course
    from dlgrade.demo import submit as student_submits

    exchange = tmp_path / "exchange"
    exchange.mkdir()
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.Exchange.root = {str(exchange)!r}\nc.ExchangeCollect.check_owner = False\n")
    assert cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT, "--publish").code == 0
    assert (exchange / "course" / "outbound" / "mini" / "mini.ipynb").is_file()
    student_submits(Course.open(course).config, tmp_path, "course", "alice", "mini", mini().source)
    hostile = exchange / "course" / "inbound" / "mallory+mini+2030-01-01 10:00:00.000000 UTC+x"
    hostile.mkdir()
    (hostile / "mini.ipynb").symlink_to(FIXTURE_ROOT / "autograders" / "mini.py")
    (hostile / "timestamp.txt").write_text("2030-01-01 10:00:00.000000 UTC")
    run = cli("collect", "mini", "--course", course)
    assert run.code == 1
    assert "alice" in run.out and "mallory" in run.err and "symbolic link" in run.err
    assert (course / "submitted" / "alice" / "mini" / "mini.ipynb").is_file()
    assert (course / "submitted" / "alice" / "mini" / "timestamp.txt").is_file()
    assert not (course / "submitted" / "mallory").exists()


@pytest.mark.parametrize("content", [b"\x00\x01 not a notebook", b'{"cells": 3}'])
def test_a_corrupt_notebook_alone_is_refused_with_one_line(course: Path, content: bytes) -> None:  # noqa: F811
    submit(course, "carol", content)
    run = cli("autograde", "mini", "--course", course, "--student", "carol")
    assert run.code == 1
    assert [line for line in run.err.splitlines() if line.startswith("dlgrade: carol: refused")]
    assert records(course) == {}


def test_release_feedback_skips_zip_students_and_reaches_exchange_ones(course: Path, tmp_path: Path) -> None:  # noqa: F811
    from dlgrade.course import Course
    from dlgrade.demo import submit as student_submits

    exchange = tmp_path / "exchange"
    exchange.mkdir()
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.Exchange.root = {str(exchange)!r}\nc.ExchangeCollect.check_owner = False\n")
    assert cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT, "--publish").code == 0
    student_submits(Course.open(course).config, tmp_path, "course", "alice", "mini", mini().source)
    assert cli("collect", "mini", "--course", course).code == 0
    # "aaron" sorts first: nbgrader's own release would stop at his missing submission_secret.txt
    lms = _zip(tmp_path / "download.zip", {"aaron_mini.ipynb": mini().source.read_bytes()})
    assert cli("collect", "mini", "--course", course, "--zip", lms).code == 0
    assert cli("autograde", "mini", "--course", course, "--no-sandbox").code == 0
    run = cli("feedback", "mini", "--course", course, "--release")
    assert run.code == 0, run.err
    assert "released to the exchange for 1 student(s)" in run.out
    assert "not in the exchange (collected from a zip): aaron" in run.out
    released = list((exchange / "course" / "feedback").glob("*.html"))
    assert len(released) == 1 and "alice" not in released[0].name  # nbgrader names it by a hash
    assert released[0].read_bytes() == (course / "feedback" / "alice" / "mini" / "mini.html").read_bytes()


def test_one_students_folder_is_found_as_the_class_listing_finds_it(course: Path) -> None:  # noqa: F811
    """The grading service looks up the one student it records (submitted_folder), not the whole class: the same
    folders, and never one outside submitted/ or a hidden one."""
    from dlgrade.course import Course, submitted_folder, submitted_folders

    for student in ("alice", "bob.smith", ".hidden"):
        submit(course, student, mini().source.read_bytes())
    (course / "submitted" / "carol").mkdir()  # a student without this assignment
    opened = Course.open(course)
    listed = dict(submitted_folders(opened, "mini"))
    assert sorted(listed) == ["alice", "bob.smith"]
    for student, folder in listed.items():
        assert submitted_folder(opened, "mini", student) == folder
    for outsider in (".hidden", "carol", "../submitted/alice", "alice/../alice", "*", "", "zed"):
        assert submitted_folder(opened, "mini", outsider) is None, outsider
