"""Forged and huge worker messages: student code runs in the worker's own process, so it can write anything to the
job's data socket or rewrite the worker's replies. Each forgery fails the question it was sent in (or, sent while
the cells run, the submission's loading) with a clear message; the grader never crashes, never holds more than
the case allows, and the next submission on the same sandbox is graded in full.

Attacks sit in the 'mse' solution cell (2 points) unless said otherwise; 'relu_derivative' (2) and 'worked_loss'
(1) stay correct, so an attack on one answer of mse leaves exactly 3 / 5.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_helpers import scores, with_cell

from dlgrade.grading import Grader, SubmissionResult
from dlgrade.sandbox import protocol

# Student code's tools: the worker's Child object (found among the process's objects), a raw frame writer on its
# data socket, and a hook on its reply path.
FORGE = r'''
import gc, json, struct

def _child():
    for thing in gc.get_objects():
        if type(thing).__name__ == "Child":
            state = getattr(thing, "__dict__", None)
            if isinstance(state, dict) and "nonce" in state and "sock" in state:
                return thing

def _send(header, blobs=()):
    """One message as raw bytes: a header (bytes, or a dict written with json) and its blobs."""
    if isinstance(header, dict):
        header = json.dumps(header).encode()
    frames = [struct.pack(">Q", len(header)), header]
    for blob in blobs:
        frames += [struct.pack(">Q", len(blob)), blob]
    _child().sock.sendall(b"".join(frames))

def _nonce():
    return _child().nonce

def _rewrite_replies(change):
    child = _child()
    original = child.reply
    def reply(header, blobs=()):
        original(change(dict(header)), blobs)
    child.reply = reply

def _npy(array):
    import numpy as np, io
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()
'''

ANSWER = '{"nonce": "%s", "op": "answer", "seq": 1, "status": "ok", "error": null, "seconds": 0.1, "output": ""'


def _raw_answer(fields: str, blobs: str = "()") -> str:
    """mse_loss sends a hand-written answer header (JSON text, so NaN and huge numbers can be written) first."""
    return FORGE + f'''
import numpy as np
def mse_loss(input, target, reduction='mean'):
    _send(({ANSWER!r} % _nonce() + {fields!r}).encode(), {blobs})
    return 0.0
'''


def _rewritten(change: str) -> str:
    """The worker's genuine answers to mse_loss's calls, with ``change`` (a lambda on the header) applied on their way
    out (the hook is set by the first call, so the other questions, answered by a fresh child, keep theirs)."""
    return FORGE + f'''
_hooked = []
def mse_loss(input, target, reduction='mean'):
    if not _hooked:
        _hooked.append(_rewrite_replies(lambda header: ({change})(header) if header.get("op") == "answer" else header))
    loss = (input - target) ** 2
    return loss if reduction == 'none' else (loss.mean() if reduction == 'mean' else loss.sum())
'''


LEAF = '"t": "leaf", "kind": "ndarray", "type": "numpy.ndarray", "dtype": "float64"'
ONE = "(_npy(np.zeros(3)),)"
ANSWER_FORGERIES = {
    # JSON that breaks the parser or the schema's bounds
    "nested_100000_deep": _raw_answer(', "blobs": 0, "value": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    "nested_400_deep": _raw_answer(', "blobs": 0, "value": ' + '{"t": "list", "v": [' * 400 + ']}' * 400 + "}"),
    "seconds_nan": _raw_answer(', "seconds": NaN, "blobs": 0, "value": {"t": "none"}}'),
    "seconds_infinity": _raw_answer(', "seconds": Infinity, "blobs": 0, "value": {"t": "none"}}'),
    "seconds_1e400": _raw_answer(', "seconds": 1e400, "blobs": 0, "value": {"t": "none"}}'),
    "int_of_5000_digits": _raw_answer(', "blobs": 0, "value": {"t": "none"}, "x": ' + "9" * 5000 + "}"),
    "not_utf8": FORGE + '''
def mse_loss(input, target, reduction='mean'):
    _send(b'{"nonce": "' + _nonce().encode() + b'", "op": "answer", "error": "\\xff\\xfe"}')
    return 0.0
''',
    "too_many_blobs": _raw_answer(', "blobs": 5000, "value": {"t": "none"}}'),
    # shapes
    "shape_infinity": _raw_answer(f', "blobs": 1, "value": {{{LEAF}, "shape": [Infinity], "i": 0}}}}', ONE),
    "shape_float": _raw_answer(f', "blobs": 1, "value": {{{LEAF}, "shape": [3.0], "i": 0}}}}', ONE),
    "shape_negative": _raw_answer(f', "blobs": 1, "value": {{{LEAF}, "shape": [-3], "i": 0}}}}', ONE),
    "shape_huge": _raw_answer(f', "blobs": 1, "value": {{{LEAF}, "shape": [{10**30}], "i": 0}}}}', ONE),
    "shape_product_overflows": _raw_answer(
        f', "blobs": 1, "value": {{{LEAF}, "shape": [{2**40}, {2**40}, 0], "i": 0}}}}', ONE),
    "shape_not_the_blobs": _raw_answer(f', "blobs": 1, "value": {{{LEAF}, "shape": [4], "i": 0}}}}', ONE),
    "leaf_points_nowhere": _raw_answer(f', "blobs": 1, "value": {{{LEAF}, "shape": [3], "i": 7}}}}', ONE),
    "blob_not_plain_npy": _raw_answer(f', "blobs": 1, "value": {{{LEAF}, "shape": [3], "i": 0}}}}',
                                      "(_npy(np.zeros(3, dtype='>f8')),)"),
    "blob_with_a_forged_npy_shape": _raw_answer(
        f', "blobs": 1, "value": {{{LEAF}, "shape": [3], "i": 0}}}}',
        "(_npy(np.zeros(3)).replace(b'(3,)', b'(9' + b'9' * 4999 + b',)'),)"),
    # every field of the worker's genuine answers, of a wrong type or out of range
    "seq_as_text": _rewritten("lambda h: {**h, 'seq': str(h['seq'])}"),
    "seq_of_another_call": _rewritten("lambda h: {**h, 'seq': h['seq'] + 1}"),
    "status_a_number": _rewritten("lambda h: {**h, 'status': 5}"),
    "status_passed": _rewritten("lambda h: {**h, 'status': 'passed'}"),
    "error_an_object": _rewritten("lambda h: {**h, 'status': 'error', 'error': {'a': 1}}"),
    "seconds_soon": _rewritten("lambda h: {**h, 'seconds': 'soon'}"),
    "seconds_negative": _rewritten("lambda h: {**h, 'seconds': -1.0}"),
    "seconds_true": _rewritten("lambda h: {**h, 'seconds': True}"),
    "output_a_list": _rewritten("lambda h: {**h, 'output': ['x']}"),
    "value_text": _rewritten("lambda h: {**h, 'value': 'x'}"),
    "value_of_unknown_kind": _rewritten("lambda h: {**h, 'value': {'t': 'pickle'}}"),
    "leaf_type_a_number": _rewritten("lambda h: {**h, 'value': {**h['value'], 'type': 5}}"),
    "leaf_kind_unknown": _rewritten("lambda h: {**h, 'value': {**h['value'], 'kind': 'object'}}"),
    "leaf_index_text": _rewritten("lambda h: {**h, 'value': {**h['value'], 'i': '0'}}"),
    "dict_key_a_number": _rewritten("lambda h: {**h, 'value': {'t': 'dict', 'v': [[1, {'t': 'none'}]]}}"),
    "dict_key_repeated": _rewritten(
        "lambda h: {**h, 'value': {'t': 'dict', 'v': [['a', {'t': 'none'}], ['a', {'t': 'none'}]]}}"),
    "error_with_arrays": _rewritten("lambda h: {**h, 'status': 'error', 'error': 'x'}"),
    # messages that are not this call's answer
    "wrong_nonce": _rewritten("lambda h: {**h, 'nonce': 'f' * 32}"),
    "not_an_answer": _rewritten("lambda h: {**h, 'op': 'executed'}"),
    "extra_answer_first": FORGE + '''
def mse_loss(input, target, reduction='mean'):
    _send({"nonce": _nonce(), "op": "answer", "seq": 1, "status": "error", "error": "forged", "seconds": 0.0,
           "output": "", "blobs": 0})
    return 0.0
''',
}

# Forgeries sent from a cell's top-level code while it runs: that cell is skipped (mse_loss is then undefined).
CELL_FORGERIES = {
    "nested_100000_deep": FORGE + '''
_send(('{"nonce": "%s", "op": "executed", "seconds": 0.1, "output": "", "blobs": 0, "cells": ' % _nonce()
       + "[" * 100000 + "]" * 100000 + "}").encode())
''',
    "seconds_nan": FORGE + '''
_send(('{"nonce": "%s", "op": "executed", "seconds": NaN, "output": "", "blobs": 0, "cells": []}' %
       _nonce()).encode())
''',
    "cell_out_of_order": FORGE + '''
_send({"nonce": _nonce(), "op": "cell", "id": "worked_solution", "blobs": 0})
''',
    "a_cell_message_with_8_mb_of_arrays": FORGE + '''
_send({"nonce": _nonce(), "op": "cell", "id": "relu_solution", "blobs": 1}, [bytes(8 << 20)])
''',
    "an_answer_while_cells_run": FORGE + '''
_send({"nonce": _nonce(), "op": "answer", "seq": 1, "status": "ok", "seconds": 0.0, "blobs": 0})
''',
}

# The worker's own message that ends the run, rewritten: no cell is to blame, the submission cannot be loaded.
END_OF_RUN_FORGERIES = {
    "seconds_soon": "lambda header: {**header, 'seconds': 'soon'}",
    "cells_not_a_list": "lambda header: {**header, 'cells': {'x': 1}}",
    "a_cell_error_an_object": "lambda header: {**header, 'cells': [{'id': 'setup', 'error': {'x': 1}}]}",
    "a_cell_never_run": "lambda header: {**header, 'cells': [{'id': 'elsewhere', 'error': None}]}",
    "output_a_number": "lambda header: {**header, 'output': 5}",
}


def _grade(grader: Grader, tmp_path: Path, code: str, cell: str = "mse_solution") -> SubmissionResult:
    path = with_cell(grader.assignment.source, cell, code, tmp_path / "mini.ipynb")
    return grader.grade(path)


def _assert_strict_json(result: SubmissionResult, tmp_path: Path) -> None:
    from dlgrade import report

    report.write_json(result, tmp_path / "results.json")

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in results JSON")

    json.loads((tmp_path / "results.json").read_text(encoding="utf-8"), parse_constant=refuse)


def _protocol_failures(result: SubmissionResult, question: int = 0) -> list[str]:
    return [case.message for case in result.questions[question].cases if "broke the grader's protocol" in case.message]


@pytest.mark.parametrize("forgery", sorted(ANSWER_FORGERIES))
def test_a_forged_answer_fails_its_question_only(grader: Grader, tmp_path: Path, forgery: str) -> None:
    result = _grade(grader, tmp_path, ANSWER_FORGERIES[forgery])
    assert scores(result) == {"mse": 0.0, "relu_derivative": 2.0, "worked_loss": 1.0}
    assert _protocol_failures(result), result.questions[0].feedback
    assert result.questions[0].status != "passed"
    _assert_strict_json(result, tmp_path)


@pytest.mark.parametrize("forgery", sorted(CELL_FORGERIES))
def test_a_forged_message_from_a_cell_skips_that_cell(grader: Grader, tmp_path: Path, forgery: str) -> None:
    result = _grade(grader, tmp_path, CELL_FORGERIES[forgery])
    assert scores(result) == {"mse": 0.0, "relu_derivative": 2.0, "worked_loss": 1.0}
    assert "cell mse_solution broke the grader's protocol when run, and was skipped" in result.notes
    _assert_strict_json(result, tmp_path)


@pytest.mark.parametrize("forgery", sorted(END_OF_RUN_FORGERIES))
def test_a_forged_end_of_run_fails_the_submission_not_the_grader(grader: Grader, tmp_path: Path,
                                                                 forgery: str) -> None:
    code = FORGE + f"""
_rewrite_replies(lambda header: ({END_OF_RUN_FORGERIES[forgery]})(header) if header.get("op") == "executed"
                 else header)
"""
    result = _grade(grader, tmp_path, code)
    assert result.score == 0.0
    for question in result.questions:
        assert question.status == "error"
        assert "could not be loaded" in question.feedback and "broke protocol" in question.feedback
    _assert_strict_json(result, tmp_path)
    correct = grader.grade(grader.assignment.source)  # the same sandbox grades the next student in full
    assert correct.score == correct.max_score == 5.0


def test_reported_run_times_stay_finite_and_real(grader: Grader, tmp_path: Path) -> None:
    """A student's own answers claiming a billion seconds, or NaN, never reach the result."""
    code = _rewritten("lambda h: {**h, 'seconds': 1e9}")
    result = _grade(grader, tmp_path, code)
    assert result.student_time < 60.0
    assert scores(result)["mse"] == 0.0


# ---- huge legal answers ---------------------------------------------------------------------------------

HUGE_RELU = """
import numpy as np
def relu_grad(x):
    return np.zeros(6_000_000)
"""


def test_a_huge_legal_answer_is_refused_before_it_is_read(grader: Grader, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """An array of 48 MB for an expected answer of 4 numbers, in each of the question's two cases: the trusted side
    keeps none of its bytes (every read it makes of the socket stays small) and names the answer as too large."""
    reads: list[int] = []
    original = protocol.Reader._exactly

    def spy(self: protocol.Reader, n: int, deadline: float | None) -> bytes:
        data = original(self, n, deadline)
        reads.append(len(data))
        return data

    monkeypatch.setattr(protocol.Reader, "_exactly", spy)
    result = _grade(grader, tmp_path, HUGE_RELU, cell="relu_solution")
    assert scores(result) == {"mse": 2.0, "relu_derivative": 0.0, "worked_loss": 1.0}
    relu = result.questions[1]
    assert all("too large to read" in case.message for case in relu.cases), relu.feedback
    assert max(reads) <= 2 << 20  # the answers' 48 MB were read past in pieces, never held
    _assert_strict_json(result, tmp_path)


def test_an_answer_beyond_the_wires_per_array_cap_is_too_large_not_a_breach(grader: Grader, tmp_path: Path) -> None:
    """The worker converts arrays of up to 16M numbers (128 MB), twice the wire's 64 MB per array: such an answer
    is read past like any too large one, and the question's other case still runs."""
    code = """
import numpy as np
def relu_grad(x):
    return np.zeros(10_000_000) if x.ndim == 1 else (x > 0).astype(float)
"""
    result = _grade(grader, tmp_path, code, cell="relu_solution")
    public, hidden = result.questions[1].cases
    assert "too large to read" in public.message and hidden.passed


def test_a_wrong_shape_of_sensible_size_is_still_read_and_named(grader: Grader, tmp_path: Path) -> None:
    code = """
import numpy as np
def relu_grad(x):
    return np.zeros((x.size, x.size))
"""
    result = _grade(grader, tmp_path, code, cell="relu_solution")
    assert "shape: expected (4,), got (4, 4)" in result.questions[1].cases[0].message
