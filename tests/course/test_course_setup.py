"""Nothing a course command does to the instructor's course is silent: a deleted nbgrader_config.py stops every
command in one line (nbgrader would run the course on its defaults), `dlgrade setup --exchange` on an existing config
applies it and says so, a contradicting --course-id is refused, a rerun of setup never replaces source/<id>/ edited
in the course without --force (and keeps a copy), an old config gets dlgrade's hooks said in a line; and --workers is
capped by the class and by the memory here, and says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from course_helpers import (
    FIXTURE_ROOT,
    base_course,  # noqa: F401 - a fixture
    cli,
    course,  # noqa: F401 - a fixture
    one_line_error,
    records,
    submit_class,
)

from dlgrade import batch
from dlgrade.course import Course
from dlgrade.formgrader import MARKER, configured


def test_a_course_whose_config_was_deleted_is_refused_in_one_line(course: Path, tmp_path: Path) -> None:  # noqa: F811
    submit_class(course, ("solution",))
    (course / "nbgrader_config.py").unlink()
    for args in (("autograde", "mini"), ("collect", "mini"), ("feedback", "mini"), ("export-grades",)):
        one_line_error(cli(*args, "--course", course), "nbgrader_config.py is missing", "defaults")
    assert records(course) == {} and not list((course / "feedback").iterdir())
    run = cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT)  # the way back: a new config
    assert run.code == 0 and "wrote" in run.out, run.err
    assert configured(Course.open(course).config)


def test_setup_exchange_on_an_existing_config_is_applied_and_said(course: Path, tmp_path: Path) -> None:  # noqa: F811
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    before = (course / "nbgrader_config.py").read_text()
    run = cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT, "--exchange", exchange, "--publish")
    assert run.code == 0, run.err
    assert f"the exchange is now {exchange}" in run.out
    assert (course / "nbgrader_config.py").read_text().startswith(before.rstrip("\n"))  # appended, nothing rewritten
    assert Course.open(course).config.Exchange.root == str(exchange)
    assert (exchange / "course" / "outbound" / "mini" / "mini.ipynb").is_file()
    run = cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT, "--exchange", exchange)
    assert run.code == 0 and "exchange is now" not in run.out  # already so: nothing to say, nothing added
    assert (course / "nbgrader_config.py").read_text().count("\nc.Exchange.root =") == 1


def test_setup_course_id_contradicting_the_config_is_refused(course: Path) -> None:  # noqa: F811
    before = (course / "nbgrader_config.py").read_bytes()
    one_line_error(cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT, "--course-id", "other"),
                   "sets course_id 'course'", "'other'")
    assert (course / "nbgrader_config.py").read_bytes() == before


def test_setup_adds_the_hooks_to_an_older_config_and_says_so(course: Path) -> None:  # noqa: F811
    text = (course / "nbgrader_config.py").read_text()
    (course / "nbgrader_config.py").write_text(text[:text.index(MARKER)])
    assert not configured(Course.open(course).config)
    assert "lacks dlgrade's hooks" in cli("export-grades", "--course", course).err
    run = cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT)
    assert run.code == 0 and "added dlgrade's hooks" in run.out, run.out
    assert configured(Course.open(course).config)


def _edit(notebook_path: Path, text: str) -> None:
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.cells.insert(1, nbformat.v4.new_markdown_cell(text))
    nbformat.write(notebook, notebook_path)


def test_setup_never_replaces_an_edited_source_without_force(course: Path) -> None:  # noqa: F811
    source = course / "source" / "mini" / "mini.ipynb"
    _edit(source, "The instructor's note, written through formgrader's Edit link.")
    edited = source.read_bytes()
    one_line_error(cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT), "was edited", "--force")
    assert source.read_bytes() == edited
    run = cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT, "--force")
    assert run.code == 0, run.err
    assert source.read_bytes() == (FIXTURE_ROOT / "assignments" / "mini" / "mini.ipynb").read_bytes()
    kept = list((course / ".dlgrade" / "replaced").glob("mini-*/mini.ipynb"))
    assert len(kept) == 1 and kept[0].read_bytes() == edited and str(kept[0].parent) in run.out


def test_setup_takes_the_projects_new_version_over_an_unedited_source(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURE_ROOT, project)
    root = tmp_path / "course"
    assert cli("setup", "mini", "--course", root, "--project", project).code == 0
    _edit(project / "assignments" / "mini" / "mini.ipynb", "A clarification added to the project's notebook.")
    run = cli("setup", "mini", "--course", root, "--project", project)
    assert run.code == 0, run.err
    assert (root / "source" / "mini" / "mini.ipynb").read_bytes() == \
        (project / "assignments" / "mini" / "mini.ipynb").read_bytes()
    assert json.loads((root / ".dlgrade" / "sources" / "mini.json").read_text())["mini.ipynb"]


def test_workers_are_capped_by_the_class_and_said(course: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from dlgrade.sandbox.launcher import Sandbox, SandboxUnavailable

    launched = []
    original = Sandbox.launch

    def counted(self: Sandbox) -> None:
        launched.append(self)
        if len(launched) > 3:  # what an uncapped run would go on to do, without doing it here
            raise SandboxUnavailable("the test stops a fourth early sandbox")
        original(self)

    monkeypatch.setattr(Sandbox, "launch", counted)
    submit_class(course, ("solution",))
    run = cli("autograde", "mini", "--course", course, "--workers", "1000")
    assert run.code == 0, run.err
    assert len(launched) == 1  # one sandbox for a class of one
    assert "--workers 1000 capped to 1: 1 submission to grade" in run.err
    assert sum(records(course)["solution"]["result"]["questions"][i]["score"] for i in range(3)) == 5.0


def test_workers_are_capped_by_the_memory_here(monkeypatch: pytest.MonkeyPatch) -> None:
    assert batch.memory_for_grading() > batch.SLOT_BYTES  # read from this machine's kernel and cgroup
    monkeypatch.setattr(batch, "memory_for_grading", lambda: 3 * batch.SLOT_BYTES + 1)
    assert batch.capped_workers(8, 100) == (3, "--workers 8 capped to 3: memory for 3 (1.5 GiB free, ~512 MiB each)")
    assert batch.capped_workers(8, 2)[0] == 2
    monkeypatch.setattr(batch, "memory_for_grading", lambda: 1)
    assert batch.capped_workers(4, 10)[0] == 1  # always at least one
    assert batch.capped_workers(None, 0)[0] == 0  # nothing to grade, nothing started
