"""`dlgrade new ID [--course DIR]`: a working assignment to start from, in a course's own content.

    DIR/assignments/ID/ID.ipynb   nbgrader source notebook: a locked setup cell, one question (its task, its
                                  solution cell between BEGIN/END SOLUTION markers, its grade cell with points)
    DIR/autograders/ID.py         its suite: one Question with a reference, public and hidden cases and one known
                                  mistake written as an edit of the notebook's solution cell

It passes `dlgrade validate ID --course DIR` as written (tests/authoring checks it end to end), so an instructor
changes a working assignment rather than writing one from a blank page. Nothing is overwritten.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from dlgrade.content import is_builtin
from dlgrade.errors import UsageError

__all__ = ["write_skeleton"]

_ID = re.compile(r"^[a-z][a-z0-9_]{0,40}$")

INTRO = """\
# {id}

Write each function in its solution cell, then run the cell below it: `check("...")` runs the public cases and
tells you what differs. Your grade comes from the grader, which also runs hidden cases."""

SETUP = """\
import numpy as np

from dlcheck import check"""

TASK = """\
## 1. `mse_loss` (2 points)

The mean squared error of a prediction $\\hat y$ and a target $y$, two float arrays of the same shape with $n$
numbers each:

$$\\mathrm{MSE}(\\hat y, y) = \\frac{1}{n} \\sum_{i=1}^{n} (\\hat y_i - y_i)^2 .$$

Write `mse_loss(prediction, target)` in numpy and return **one number**. For example
$\\hat y = [1, 2, 3]$, $y = [1, 0, 4]$ give $(0 + 4 + 1)/3 = 5/3$."""

SOLUTION = '''\
def mse_loss(prediction, target):
    """The mean squared error of two float arrays of the same shape, as one number."""
    ### BEGIN SOLUTION
    return np.mean((prediction - target) ** 2)
    ### END SOLUTION'''

SUITE = '''\
"""{id}: the autograder suite of assignments/{id}/{id}.ipynb (written by `dlgrade new`; see docs/authoring.md).

One Question per grade cell of the notebook (its grade_id is the question's name; its points are declared there
only). The solution lives in the notebook's solution cell alone: each Mistake is that cell with an edit, and the
grader recognises a student who makes it by running the edited cell on the trusted side.
"""

import numpy as np

from dlgrade.suite import Case, Mistake, Question, Suite


def mse_reference(prediction, target):
    """(1/n) sum (prediction - target)^2: the answer each case is compared with (rtol/atol below)."""
    return float(np.mean((np.asarray(prediction, dtype=np.float64) - target) ** 2))


def mse_public():
    """Small cases a student can check by hand; check() in the released notebook runs these."""
    return [Case((np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 4.0])),
                 label="prediction [1, 2, 3], target [1, 0, 4]")]


def mse_hidden(rng):
    """Fresh cases for every submission, drawn from a secret seed on the grader's side."""
    n = int(rng.integers(5, 20))
    return [
        Case((rng.normal(size=n), rng.normal(size=n))),
        Case((rng.normal(size=(3, 4)), rng.normal(size=(3, 4))), label="a 3 x 4 batch"),
        Case((np.array([2.5]), np.array([-1.0])), label="one number"),
    ]


SUITE = Suite(
    assignment="{id}",
    questions=(
        Question(
            name="mse",  # the grade cell's grade_id
            cell="mse_solution",  # the solution cell's grade_id
            entry="mse_loss",  # what the student defines there
            reference=mse_reference,
            public=mse_public,
            hidden=mse_hidden,
            rtol=1e-7,
            atol=1e-10,
            mistakes=(
                Mistake("sum_not_mean", "your loss adds the squared errors up; the mean divides their sum by n",
                        edits=[("np.mean(", "np.sum(")]),
            ),
        ),
    ),
)
'''


def _cell(kind: str, source: str, cell_id: str, nbgrader: dict | None = None) -> nbformat.NotebookNode:
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source, id=cell_id)
    if nbgrader is not None:
        cell.metadata["nbgrader"] = {"schema_version": 3, **nbgrader}
    return cell


def skeleton_notebook(assignment_id: str) -> nbformat.NotebookNode:
    """The skeleton's source notebook, with nbgrader's metadata as its Create Assignment toolbar writes it."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"}}
    notebook.cells = [
        _cell("markdown", INTRO.format(id=assignment_id), "intro"),
        _cell("code", SETUP, "setup", {"grade": False, "grade_id": "setup", "locked": True, "solution": False}),
        _cell("markdown", TASK, "mse-task"),
        _cell("code", SOLUTION, "mse-solution",
              {"grade": False, "grade_id": "mse_solution", "locked": False, "solution": True}),
        _cell("code", 'check("mse")', "mse",
              {"grade": True, "grade_id": "mse", "locked": True, "points": 2, "solution": False}),
    ]
    nbformat.validate(notebook)
    return notebook


def write_skeleton(assignment_id: str, course_dir: Path) -> tuple[Path, Path]:
    """Write the skeleton's notebook and suite into ``course_dir`` (created if need be); UsageError, and nothing
    written, for a bad id or a file that exists."""
    if not _ID.match(assignment_id):
        raise UsageError(f"{assignment_id!r} is not an assignment id: lower-case letters, digits and _, starting "
                         "with a letter (it names the notebook, the suite module and nbgrader's assignment)")
    course_dir = Path(course_dir)
    if is_builtin(course_dir):
        raise UsageError(f"{course_dir} is dlgrade's built-in content, not a course: nothing was written (run `dlgrade "
                         f"new {assignment_id}` in a course folder, or give --course DIR)")
    notebook = course_dir / "assignments" / assignment_id / f"{assignment_id}.ipynb"
    suite = course_dir / "autograders" / f"{assignment_id}.py"
    for path in (notebook.parent, suite):
        if path.exists():
            raise UsageError(f"{path} exists: nothing was written (pick another id, or remove it first)")
    notebook.parent.mkdir(parents=True)
    suite.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(skeleton_notebook(assignment_id), notebook)
    suite.write_text(SUITE.replace("{id}", assignment_id), encoding="utf-8")
    return notebook, suite
