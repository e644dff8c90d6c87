"""What nbgrader_config.py's CONFIG_BLOCK plugs into nbgrader's converters (see the package's docstring).

nbgrader runs these inside its own process (the `nbgrader` command, or formgrader's Jupyter server). Grading
itself runs as `dlgrade autograde` in a process of its own (so a server never forks, nor holds a sandbox), the
whole class in parallel when nbgrader was asked for every student; what is then taken into nbgrader's output
is read back from dlgrade's record, which is the one source of the scores in the gradebook, the feedback and
the autograded notebook. A submission dlgrade cannot grade fails in nbgrader with dlgrade's one-line reason,
and gets no score at all.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.exporters import Exporter
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, default

from dlgrade.errors import UsageError

__all__ = ["DlgradeHookError", "FeedbackExporter", "GradeWithDlgrade", "RestoreFromGradebook"]


class DlgradeHookError(Exception):
    """dlgrade could not grade (or give feedback on) one submission nbgrader asked about; nbgrader reports it for
    that student and goes on with the others."""


def _owner(configurable: Any) -> Any:
    """The nbgrader converter a preprocessor or exporter works for (it holds the course directory)."""
    node = configurable
    while node is not None:
        if getattr(node, "coursedir", None) is not None:
            return node
        node = getattr(node, "parent", None)
    raise DlgradeHookError("dlgrade's nbgrader hooks run inside nbgrader's Autograde or GenerateFeedback only")


def _course_and_assignment(configurable: Any, resources: dict[str, Any]) -> tuple[Any, Any, str]:
    from dlgrade.course import Course

    info = resources["nbgrader"]
    if info["notebook"] != info["assignment"]:
        raise DlgradeHookError(f"{info['notebook']}.ipynb: dlgrade grades the notebook {info['assignment']}.ipynb "
                               f"of assignment {info['assignment']} only")
    try:
        course = Course.open(Path(_owner(configurable).coursedir.root))
        return course, course.assignment(info["assignment"]), str(info["student"])
    except UsageError as error:
        raise DlgradeHookError(str(error)) from None


class _HookPreprocessor(Preprocessor):
    enabled = Bool(True, help="nbconvert runs a registered preprocessor only when enabled").tag(config=True)


class RestoreFromGradebook(_HookPreprocessor):
    """nbgrader's sanitizing step, as dlgrade writes the autograded notebook: outputs cleared, the source's
    kernelspec, every cell's nbgrader metadata (and every locked cell) from the gradebook's source cells, never
    the student's (nbgrader's own OverwriteCells keeps a student's unknown grade cells and stops at others)."""

    def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        from nbgrader.preprocessors import ClearOutput

        from dlgrade.source_cells import RestoreSourceCells, SnapshotOverwriteKernelspec, SourceCells

        info = resources["nbgrader"]
        coursedir = _owner(self).coursedir
        source = Path(coursedir.format_path(coursedir.source_directory, ".", info["assignment"]))
        cells = SourceCells.read(info["db_url"], info["assignment"], info["notebook"],
                                 source / f"{info['notebook']}.ipynb")
        for step in (ClearOutput(parent=self), SnapshotOverwriteKernelspec(cells, parent=self),
                     RestoreSourceCells(cells, parent=self)):
            nb, resources = step.preprocess(nb, resources)
        return nb, resources


def run_dlgrade_autograde(root: Path, assignment_id: str, student: str | None = None) -> list[str]:
    """`dlgrade autograde` in a process of its own (the whole class, or one student); its one-line reports."""
    command = [sys.executable, "-m", "dlgrade.cli", "autograde", assignment_id, "--course", str(root)]
    if student is not None:
        command += ["--student", student]
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    return [line for line in done.stderr.splitlines() if line.startswith("dlgrade: ")]


def settle(course: Any, assignment: Any, student: str) -> Any:
    """dlgrade's autograded notebook of the student's current submission, once its record is in the gradebook
    and its feedback written (whatever is missing is written, nothing is graded); a str saying why not."""
    from dlgrade.autograde import Recorder, course_lock, find_submissions, read_record, write_autograded

    with course_lock(course):
        submission = find_submissions(course, assignment, [student])[0]
        if submission.problem:
            return submission.problem
        previous = read_record(course, assignment, student)
        if previous is None or previous[0] != submission.key:
            return "not graded"
        with course.gradebook() as book:
            Recorder(course, {assignment.id: assignment}, book).resume(submission, previous[1])
        folder = write_autograded(course, submission, previous[1])
    if folder is None:
        return "its notebook cannot be read back"
    return nbformat.read(folder / f"{assignment.id}.ipynb", as_version=4)


class GradeWithDlgrade(_HookPreprocessor):
    """nbgrader's autograding step replaced by dlgrade's: the submission is graded in dlgrade's sandbox and
    recorded (gradebook, results, feedback), and the notebook nbgrader writes is dlgrade's autograded one."""

    def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        course, assignment, student = _course_and_assignment(self, resources)
        converter = _owner(self)
        coursedir = converter.coursedir
        graded = converter.__dict__.setdefault("_dlgrade_class_graded", set())
        if any(mark in coursedir.student_id for mark in "*?[") and not coursedir.student_id_exclude and \
                assignment.id not in graded:
            self.log.info("dlgrade: grading every submission of %s (dlgrade autograde)", assignment.id)
            run_dlgrade_autograde(course.root, assignment.id)  # each student's outcome is read below
            graded.add(assignment.id)
        try:
            outcome = settle(course, assignment, student)
            if isinstance(outcome, str):
                reports = run_dlgrade_autograde(course.root, assignment.id, student)
                outcome = settle(course, assignment, student)
                if isinstance(outcome, str):
                    raise DlgradeHookError(f"dlgrade did not grade {student}'s {assignment.id}: "
                                           f"{reports[-1].removeprefix('dlgrade: ') if reports else outcome}")
        except UsageError as error:
            raise DlgradeHookError(str(error)) from None
        self.log.info("dlgrade graded %s's %s", student, assignment.id)
        return outcome, resources


class FeedbackExporter(Exporter):
    """nbgrader generate_feedback's exporter: dlgrade's feedback page of the submission (its checked result,
    with the gradebook's scores, late penalty and the graders' comments), and results.json, timestamp.txt and
    submission_secret.txt beside it, instead of a render of the notebook."""

    output_mimetype = "text/html"

    @default("file_extension")
    def _file_extension_default(self) -> str:
        return ".html"

    def from_notebook_node(self, nb: Any, resources: Any = None, **kw: Any) -> tuple[str, dict[str, Any]]:
        from dlgrade.autograde import book_entry, feedback_files, find_submissions, read_record

        _, resources = super().from_notebook_node(nb, resources, **kw)
        course, assignment, student = _course_and_assignment(self, resources)
        try:
            submission = find_submissions(course, assignment, [student])[0]
            previous = read_record(course, assignment, student)
            if submission.problem or previous is None or previous[0] != submission.key:
                raise DlgradeHookError(f"{student}: no dlgrade result of this submission "
                                       f"({submission.problem or 'not graded since it was collected'}); grade it "
                                       f"first (formgrader's Autograde, or dlgrade autograde {assignment.id})")
            with course.gradebook() as book:
                entry = book_entry(book, assignment, student)
        except UsageError as error:
            raise DlgradeHookError(str(error)) from None
        files = feedback_files(submission, previous[1], entry)
        page = files.pop(f"{assignment.id}.html")
        resources["outputs"] = {**resources.get("outputs", {}), **{name: text.encode() for name, text in files.items()}}
        return page, resources
