"""A suite's warm-up runs in the sandbox's fork server, once, before it forks the children that grade."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from engine_helpers import with_cell

from dlgrade import assignments
from dlgrade.grading import Grader
from dlgrade.sandbox.launcher import Sandbox

# The student's mse_loss says whether the child found a module loaded that nothing but the warm-up imports.
PROBE = """
import sys
def mse_loss(input, target, reduction='mean'):
    return 'warm:' + str('wave' in sys.modules)
"""


def _probe(grader: Grader, tmp_path: Path) -> str:
    path = with_cell(grader.assignment.source, "mse_solution", PROBE, tmp_path / "mini.ipynb")
    message = grader.grade(path).questions[0].cases[0].message
    return "warm:True" if "warm:True" in message else "warm:False" if "warm:False" in message else message


def _with_warm_up(mini: assignments.Assignment, source: str) -> assignments.Assignment:
    return dataclasses.replace(mini, suite=dataclasses.replace(mini.suite, warm_up=source))


def test_children_inherit_what_the_warm_up_loaded(mini: assignments.Assignment, tmp_path: Path) -> None:
    with Sandbox() as cold, Sandbox() as warm:
        assert _probe(Grader(mini, cold, secret=b"t"), tmp_path) == "warm:False"
        grader = Grader(_with_warm_up(mini, "import wave\n"), warm, secret=b"t")
        assert _probe(grader, tmp_path) == "warm:True"
        # (besides the suite's warm-up: the by-hand guard's plan for relu_derivative, worked out once as well)
        assert [w for w in warm.warm_ups if not w.startswith("import guard\n")] == ["import wave\n"]


def test_a_restarted_fork_server_is_warmed_again(mini: assignments.Assignment, tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        grader = Grader(_with_warm_up(mini, "import wave\n"), sandbox, secret=b"t")
        assert _probe(grader, tmp_path) == "warm:True"
        first = sandbox.process.pid
        sandbox.process.kill()
        sandbox.process.wait()
        assert _probe(grader, tmp_path) == "warm:True"
        assert sandbox.process.pid != first


def test_a_failing_warm_up_is_ignored(mini: assignments.Assignment, tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        grader = Grader(_with_warm_up(mini, "import wave\nraise RuntimeError('no')\n"), sandbox, secret=b"t")
        assert _probe(grader, tmp_path) == "warm:True"
        solution = grader.grade(mini.source)
        assert solution.score == solution.max_score


def test_a_graders_warm_up_grades_the_solution_once_the_fork_server_is_warm(mini: assignments.Assignment,
                                                                            tmp_path: Path) -> None:
    # Unsandboxed, so that the fork server's warm-up can leave a mark here; it takes its time, as torch's do.
    marker = tmp_path / "warmed"
    source = f"import pathlib, time\ntime.sleep(0.5)\npathlib.Path({str(marker)!r}).write_text('yes')\n"
    heard: list = []
    with Sandbox(sandboxed=False) as sandbox:
        grader = Grader(_with_warm_up(mini, source), sandbox, secret=b"t", on_question=heard.append)
        result = grader.warm_up()
        assert marker.read_text() == "yes"  # run by the fork server before the solution's child was forked
        assert result.submission == str(mini.source)
        assert result.score == result.max_score
        assert heard == []  # nobody's submission: nothing told, and the listener is back for the next one
        assert grader.on_question == heard.append


def test_a_graders_warm_up_starts_the_numpy_only_sandbox() -> None:
    losses = assignments.load("losses")  # its numpy-only questions are answered by a sandbox of their own
    with Sandbox() as sandbox:
        result = Grader(losses, sandbox, secret=b"t").warm_up()
        assert result.score == result.max_score
        assert sandbox.numpy_only_sandbox().alive()
