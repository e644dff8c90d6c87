"""Hostile submissions: each scores 0 on the question it attacks, keeps the others' points, leaves the host be.

Every attack sits in the solution cell of the 'mse' question (2 points); 'relu_derivative' (2) and
'worked_loss' (1) stay correct, so an intact grade is exactly 3 / 5 with mse at 0.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
from engine_helpers import scores, with_cell

from dlgrade import report
from dlgrade.grading import Grader, SubmissionResult

ATTACKS = {
    "eq_always_true": """
class Anything:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    def __float__(self): return 0.0
    def __array__(self, *a, **k):
        raise RuntimeError('no')
def mse_loss(input, target, reduction='mean'):
    return Anything()
""",
    "ndarray_subclass": """
import numpy as np
class Liar(np.ndarray):
    def __eq__(self, other): return np.ones(np.shape(other), dtype=bool)
def mse_loss(input, target, reduction='mean'):
    return np.zeros(len(input)).view(Liar) if reduction == 'none' else np.zeros(()).view(Liar)
""",
    "float_subclass": """
class Liar(float):
    def __eq__(self, other): return True
    def __sub__(self, other): return 0.0
    def __rsub__(self, other): return 0.0
    def __abs__(self): return 0.0
def mse_loss(input, target, reduction='mean'):
    loss = ((input - target) ** 2)
    return [Liar(v) for v in loss] if reduction == 'none' else Liar(loss.mean())
""",
    "nan_and_inf": """
import numpy as np
def mse_loss(input, target, reduction='mean'):
    return np.full(len(input), np.nan) if reduction == 'none' else float('inf')
""",
    "broadcastable_shape": """
def mse_loss(input, target, reduction='mean'):
    loss = (input - target) ** 2
    if reduction == 'none':
        return loss[:, None]
    return (loss.mean() if reduction == 'mean' else loss.sum()).reshape(1, 1)
""",
    "monkeypatch_comparisons": """
import builtins, numpy as np, numpy.testing
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
numpy.testing.assert_array_almost_equal = lambda *a, **k: None
np.array_equal = lambda *a, **k: True
builtins.isinstance = lambda *a, **k: True
def mse_loss(input, target, reduction='mean'):
    return np.zeros(len(input)) if reduction == 'none' else 0.0
""",
    "sys_exit": """
import sys
def mse_loss(input, target, reduction='mean'):
    sys.exit(0)
""",
    "os_exit": """
import os
def mse_loss(input, target, reduction='mean'):
    os._exit(0)
""",
    "kill_parent": """
import os, signal
def mse_loss(input, target, reduction='mean'):
    for pid in (os.getppid(), 1, -1):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return 0.0
""",
    "infinite_loop": """
def mse_loss(input, target, reduction='mean'):
    while True:
        pass
""",
    "sleep": """
import time
def mse_loss(input, target, reduction='mean'):
    time.sleep(3600)
""",
    "huge_allocation": """
import numpy as np
def mse_loss(input, target, reduction='mean'):
    block = np.ones(10 * 2**30, dtype=np.uint8)
    return float(block[0])
""",
    "fork_bomb": """
import os
def mse_loss(input, target, reduction='mean'):
    while True:
        try:
            os.fork()
        except OSError:
            pass
""",
    "huge_stdout": """
def mse_loss(input, target, reduction='mean'):
    while True:
        print('x' * 65536)
""",
    "print_fake_results": """
import json
def mse_loss(input, target, reduction='mean'):
    print(json.dumps({"score": 5, "max_score": 5, "tests": [{"name": "mse", "score": 2, "status": "passed"}]}))
    return 0.0
""",
    "pickle_bomb": """
import os, pickle
class Bomb:
    def __reduce__(self):
        return (os.system, ('touch /tmp/pwned',))
def mse_loss(input, target, reduction='mean'):
    return Bomb() if reduction != 'none' else [Bomb(), pickle.dumps(Bomb())]
""",
}


@pytest.fixture(scope="module")
def host_listener():
    """A TCP server on the host's loopback; the sandbox must not reach it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


def _grade(grader: Grader, tmp_path: Path, code: str) -> SubmissionResult:
    path = with_cell(grader.assignment.source, "mse_solution", code, tmp_path / "mini.ipynb")
    return grader.grade(path)


def assert_only_mse_lost(result: SubmissionResult) -> None:
    assert scores(result) == {"mse": 0.0, "relu_derivative": 2.0, "worked_loss": 1.0}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_scores_zero_on_its_question_only(grader: Grader, tmp_path: Path, attack: str) -> None:
    result = _grade(grader, tmp_path, ATTACKS[attack])
    assert_only_mse_lost(result)
    assert not Path("/tmp/pwned").exists()


def test_infinite_loop_is_reported_as_timeout(grader: Grader, tmp_path: Path) -> None:
    result = _grade(grader, tmp_path, ATTACKS["infinite_loop"])
    mse = result.questions[0]
    assert mse.status == "timeout"
    assert "3 s budget" in mse.cases[0].message


def test_exit_is_an_error_not_a_pass(grader: Grader, tmp_path: Path) -> None:
    result = _grade(grader, tmp_path, ATTACKS["sys_exit"])
    assert result.questions[0].status == "error"
    assert "SystemExit" in result.questions[0].cases[0].message


def test_subclass_answer_is_named_as_wrong_type(grader: Grader, tmp_path: Path) -> None:
    result = _grade(grader, tmp_path, ATTACKS["float_subclass"])
    assert "got a __main__.Liar" in result.questions[0].cases[1].message


def test_reading_the_graders_files_finds_nothing(grader: Grader, tmp_path: Path) -> None:
    from dlgrade import assignments

    root = assignments.PROJECT_ROOT
    code = f"""
import importlib, os
def mse_loss(input, target, reduction='mean'):
    found = []
    for path in {[str(root / 'reference' / 'losses.py'), str(root / 'autograders'), str(root / 'dlgrade'),
                  str(grader.assignment.source)]!r}:
        if os.path.exists(path):
            found.append(path)
    # (an editable install may leave empty namespace packages behind: what matters is that no code is there)
    for module in ('reference.losses', 'autograders.mini', 'autograders.losses', 'dlgrade.grading'):
        try:
            importlib.import_module(module)
            found.append(module)
        except ImportError:
            pass
    return ', '.join(found) or 'nothing'
"""
    result = _grade(grader, tmp_path, code)
    message = result.questions[0].cases[0].message
    assert "the string 'nothing'" in message


def test_network_is_unreachable(grader: Grader, tmp_path: Path, host_listener) -> None:
    port, accepted = host_listener
    code = f"""
import socket
def mse_loss(input, target, reduction='mean'):
    try:
        socket.create_connection(('127.0.0.1', {port}), timeout=1).close()
        return 'connected'
    except OSError as error:
        return type(error).__name__
"""
    result = _grade(grader, tmp_path, code)
    assert scores(result)["mse"] == 0.0
    assert "connected" not in result.questions[0].cases[0].message
    assert accepted == []


def test_fake_results_file_does_not_touch_the_real_one(grader: Grader, tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    code = f"""
import json, os
def mse_loss(input, target, reduction='mean'):
    for path in ({str(target)!r}, 'results.json', '/autograder/results/results.json'):
        try:
            os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
            with open(path, 'w') as f:
                json.dump({{"score": 5, "max_score": 5}}, f)
        except OSError:
            pass
    return 0.0
"""
    result = _grade(grader, tmp_path, code)
    report.write_json(result, target)
    written = json.loads(target.read_text())
    assert written["score"] == 3.0
    assert not Path("/autograder/results/results.json").exists()


def test_sandbox_survives_and_grades_the_next_submission(grader: Grader, tmp_path: Path) -> None:
    _grade(grader, tmp_path, ATTACKS["kill_parent"])
    _grade(grader, tmp_path, ATTACKS["fork_bomb"])
    result = grader.grade(grader.assignment.source)
    assert result.score == result.max_score == 5.0
