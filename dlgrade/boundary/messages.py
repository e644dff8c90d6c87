"""The worker's data-channel messages, read on the trusted side as untrusted data.

Student code runs in the same process as the worker's side of the protocol: it can send any bytes, so every
message is checked against the strict schema below before anything of it is used. A message that breaks it
raises BadMessage (a ProtocolError): the job is then killed and what it was doing fails, never the grader.

    cell      {op, id}                                 id: the next of the cells sent
    executed  {op, cells: [{id, error}], seconds, output}
    harnessed {op}
    answer    {op, seq, status, error, seconds, output[, value[, args_after]]}   blobs only when status is ok

Numbers are finite (JSON's NaN and Infinity never parse: protocol.Reader refuses them) and within range, texts
are made plain (dlgrade.boundary.text) and cut to length, a value tree is at most ``MAX_TREE_DEPTH`` deep with
at most ``MAX_TREE_NODES`` nodes, every leaf's shape is a list of at most ``MAX_DIMS`` non-negative ints whose
product is at most ``MAX_ELEMENTS``, and points at a blob of the message. The reader kept a message's blobs only
up to the bytes its case allows (protocol.Reader); a leaf whose blob it read past is never decoded, and shows as
the large value it was. A kept blob is decoded only through the exact .npy layout the worker writes, whose length
must match its shape before anything is allocated, and must have its leaf's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dlgrade.boundary.text import plain
from dlgrade.checking.answers import Answer, Entries, Items, Leaf, Nothing, Opaque, Text
from dlgrade.checking.plain import MAX_DEPTH, MAX_ELEMENTS, MAX_ITEMS
from dlgrade.sandbox import protocol

STATUSES = ("ok", "error", "not_implemented", "missing")
LEAF_KINDS = ("ndarray", "tensor", "scalar")
MAX_SECONDS = 1e6  # a run time the worker reports; anything longer is a lie (the limits stop far earlier)
MAX_TREE_DEPTH = MAX_DEPTH + 2  # what plain.describe can produce, and a level to spare
MAX_TREE_NODES = 4 * protocol.MAX_BLOBS
MAX_DIMS = 64  # numpy's own limit
MAX_ERROR_CHARS = 4000  # the worker sends at most 3,000 characters of a traceback
MAX_OUTPUT_CHARS = 6000  # and 4,000 of printed output, with its truncation marker
MAX_NAME_CHARS = 200  # a type's name; a dtype's is shorter still
MAX_STRING_CHARS = 1000  # a returned str, as plain.describe cuts it


class BadMessage(protocol.ProtocolError):
    """A message that does not fit the schema: forged or broken by student code."""


@dataclass(frozen=True)
class Executed:
    """The end of a run of the student's cells: per cell that raised, its (plain) error; the run's time and
    what it printed."""

    errors: dict[str, str]
    seconds: float
    output: str


@dataclass(frozen=True)
class Answered:
    """An answer message, checked: the call's status, the student's error and run time, and on ``ok`` the value
    (and the arguments after the call, for the in-place check) as plain arrays."""

    status: str
    error: str
    seconds: float
    value: Answer | None = None
    args_after: Answer | None = None


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise BadMessage(what)


def _op(header: Any, arrays: bool = False) -> str:
    _require(isinstance(header, dict), "a message header is not an object")
    op = header.get("op")
    _require(type(op) is str, "a message without an op")
    if not arrays and header.get("blobs") != 0:
        raise BadMessage(f"a {plain(op, 40)!r} message carries arrays")
    return op


def _text(header: dict[str, Any], key: str, limit: int, optional: bool = False) -> str:
    value = header.get(key)
    if value is None and optional:
        return ""
    if type(value) is not str:
        raise BadMessage(f"{key} is not text")
    return plain(value, limit)


def _seconds(header: dict[str, Any]) -> float:
    value = header.get("seconds")
    if type(value) not in (int, float) or not 0 <= value <= MAX_SECONDS:  # NaN fails the comparison
        raise BadMessage(f"seconds is not a number of seconds between 0 and {MAX_SECONDS:g}")
    return float(value)


def progress(header: Any, expected_ids: list[str], started: int) -> str | None:
    """The id of the cell a ``cell`` message announces (it must be ``expected_ids[started]``), or None for the
    ``executed`` message that ends the run (check it with ``executed``)."""
    op = _op(header)
    if op == "executed":
        return None
    if op != "cell":
        raise BadMessage(f"unexpected {plain(op, 40)!r} message while the cells run")
    _require(started < len(expected_ids) and header.get("id") == expected_ids[started],
             "a cell message out of order")
    return expected_ids[started]


def executed(header: dict[str, Any], ids: list[str]) -> Executed:
    """The ``executed`` message that ends a run of ``ids``."""
    cells = header.get("cells")
    _require(type(cells) is list and len(cells) <= len(ids), "executed: cells is not a list of the cells run")
    known, errors = set(ids), {}
    for cell in cells:
        _require(type(cell) is dict and type(cell.get("id")) is str and cell["id"] in known,
                 "executed: a cell that was not run")
        error = cell.get("error")
        _require(error is None or type(error) is str, "executed: a cell's error is not text")
        if error:
            errors[cell["id"]] = plain(error, MAX_ERROR_CHARS)
    return Executed(errors, _seconds(header), _text(header, "output", MAX_OUTPUT_CHARS))


def harnessed(header: Any) -> None:
    _require(_op(header) == "harnessed", "the harness was not acknowledged")


def answered(header: Any, blobs: list[bytes | None], seq: int) -> Answered:
    """The answer to call number ``seq``: its header checked, its value trees checked and turned into Answers in
    one pass (written out check by check: a losses submission reads about 400 of these)."""
    if _op(header, arrays=True) != "answer":
        raise BadMessage(f"expected an answer, got a {plain(str(header.get('op')), 40)!r} message")
    if type(header.get("seq")) is not int or header["seq"] != seq:
        raise BadMessage(f"an answer to call {plain(repr(header.get('seq')), 40)} where call {seq} was asked")
    status = header.get("status")
    if status not in STATUSES:
        raise BadMessage("an answer without a valid status")
    error = _text(header, "error", MAX_ERROR_CHARS, optional=True)
    seconds = _seconds(header)
    if type(header.get("output", "")) is not str:
        raise BadMessage("output is not text")
    if status != "ok":
        if blobs:
            raise BadMessage("an answer without a value carries arrays")
        return Answered(status, error, seconds)
    counter = [0]
    value = _answer(header.get("value"), blobs, 0, counter)
    after = _answer(header["args_after"], blobs, 0, counter) if "args_after" in header else None
    return Answered(status, error, seconds, value, after)


def _answer(node: Any, blobs: list[bytes | None], depth: int, counter: list[int]) -> Answer:
    """The Answer a plain.describe tree describes, checked node by node: known kinds and fields only, texts made
    plain, arrays decoded from ``blobs`` (None: a blob the reader did not keep)."""
    counter[0] += 1
    if counter[0] > MAX_TREE_NODES:
        raise BadMessage(f"a value of more than {MAX_TREE_NODES} parts")
    if depth > MAX_TREE_DEPTH:
        raise BadMessage(f"a value nested more than {MAX_TREE_DEPTH} deep")
    if type(node) is not dict:
        raise BadMessage("a value node is not an object")
    kind = node.get("t")
    if kind == "leaf":
        return _leaf(node, blobs)
    if kind == "tuple" or kind == "list":
        items = node.get("v")
        if type(items) is not list or len(items) > MAX_ITEMS:
            raise BadMessage(f"a {kind} of no valid items")
        return Items(kind, tuple([_answer(item, blobs, depth + 1, counter) for item in items]))
    if kind == "dict":
        pairs = node.get("v")
        if type(pairs) is not list or len(pairs) > MAX_ITEMS:
            raise BadMessage("a dict of no valid items")
        entries, keys = [], set()
        for pair in pairs:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                raise BadMessage("a dict item is not a [text key, value] pair")
            if pair[0] in keys:
                raise BadMessage("a dict with a repeated key")
            keys.add(pair[0])
            entries.append((plain(pair[0], MAX_NAME_CHARS), _answer(pair[1], blobs, depth + 1, counter)))
        return Entries(tuple(entries))
    if kind == "none":
        return Nothing()
    if kind == "str":
        if type(node.get("v")) is not str:
            raise BadMessage("a string value is not text")
        return Text(plain(node["v"], MAX_STRING_CHARS))
    if kind == "opaque":
        if type(node.get("type")) is not str:
            raise BadMessage("an opaque value's type is not text")
        return Opaque(plain(node["type"], MAX_NAME_CHARS))
    raise BadMessage(f"a value node of unknown kind {plain(str(kind), 40)!r}")


def _leaf(node: dict[str, Any], blobs: list[bytes | None]) -> Leaf | Opaque:
    shape, index, kind = node.get("shape"), node.get("i"), node.get("kind")
    type_name, dtype = node.get("type"), node.get("dtype")
    if type(shape) is not list or len(shape) > MAX_DIMS:
        raise BadMessage("a leaf's shape is not a list of sizes")
    size = 1
    for n in shape:
        if type(n) is not int or not 0 <= n <= MAX_ELEMENTS:
            raise BadMessage("a leaf's shape is not a list of sizes")
        size *= n
    if size > MAX_ELEMENTS:
        raise BadMessage(f"a leaf of more than {MAX_ELEMENTS} elements")
    if kind not in LEAF_KINDS:
        raise BadMessage("a leaf of no known kind")
    if type(index) is not int or not 0 <= index < len(blobs):
        raise BadMessage("a leaf points at no array of the message")
    if type(type_name) is not str or type(dtype) is not str:
        raise BadMessage("a leaf's type is not text")
    type_name, shape = plain(type_name, MAX_NAME_CHARS), tuple(shape)
    blob = blobs[index]
    if blob is None:
        return Opaque(f"{type_name} of shape {shape} ({size:,} values, too large to read: far larger than the "
                      "expected answer)")
    return Leaf(kind, type_name, plain(dtype, 60), shape, decode(blob, shape))


def decode(blob: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """A blob as the plain array of ``shape`` it must be: only the .npy layout the worker writes is read, and
    only when its length matches its header's shape (checked before anything is allocated)."""
    array = protocol.read_plain_npy(blob)
    _require(array is not None, "an array that is not a plain float64, int64 or bool .npy")
    if array.shape != shape:
        raise BadMessage(f"an array of shape {array.shape} where its leaf says {shape}")
    return array
