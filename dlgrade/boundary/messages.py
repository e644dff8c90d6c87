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
product is at most ``MAX_ELEMENTS``, and points at a blob of the message. A leaf's blob is decoded only through
the exact .npy layout the worker writes, whose length must match its shape before anything is allocated; a blob
the reader did not keep (beyond the bytes the case allows: see protocol.Reader) is never decoded at all, and the
leaf is shown as the large value it was.
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
class AnswerHeader:
    """An answer's header, checked: its value trees still point at blobs, which are read after it."""

    status: str
    error: str
    seconds: float
    value: Any = None
    args_after: Any = None


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise BadMessage(what)


def _op(header: Any) -> str:
    _require(isinstance(header, dict), "a message header is not an object")
    op = header.get("op")
    _require(type(op) is str, "a message without an op")
    return op


def _text(header: dict[str, Any], key: str, limit: int, optional: bool = False) -> str:
    value = header.get(key)
    if value is None and optional:
        return ""
    _require(type(value) is str, f"{key} is not text")
    return plain(value, limit)


def _seconds(header: dict[str, Any]) -> float:
    value = header.get("seconds")
    _require(type(value) in (int, float) and 0 <= value <= MAX_SECONDS,  # NaN fails the comparison
             f"seconds is not a number of seconds between 0 and {MAX_SECONDS:g}")
    return float(value)


def progress(header: Any, expected_ids: list[str], started: int) -> str | None:
    """The id of the cell a ``cell`` message announces (it must be ``expected_ids[started]``), or None for the
    ``executed`` message that ends the run (check it with ``executed``)."""
    op = _op(header)
    if op == "executed":
        return None
    _require(op == "cell", f"unexpected {op!r} message while the cells run")
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


def answer_header(header: Any, seq: int) -> AnswerHeader:
    """The header of the answer to call number ``seq``; its trees are checked against its blob count."""
    _require(_op(header) == "answer", f"expected an answer, got a {header.get('op')!r} message")
    _require(header.get("seq") == seq and type(header.get("seq")) is int,
             f"an answer to call {header.get('seq')!r} where call {seq} was asked")
    status = header.get("status")
    _require(status in STATUSES, "an answer without a valid status")
    error = _text(header, "error", MAX_ERROR_CHARS, optional=True)
    seconds = _seconds(header)
    _require(type(header.get("output", "")) is str, "output is not text")
    blobs = header["blobs"]  # protocol.Reader checked it: an int within its cap
    if status != "ok":
        _require(blobs == 0, "an answer without a value carries arrays")
        return AnswerHeader(status, error, seconds)
    counter = [0]
    value = _tree(header.get("value"), blobs, 0, counter)
    after = _tree(header["args_after"], blobs, 0, counter) if "args_after" in header else None
    return AnswerHeader(status, error, seconds, value, after)


def _int(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _tree(node: Any, blobs: int, depth: int, counter: list[int]) -> dict[str, Any]:
    """A checked copy of a plain.describe tree: known node kinds and fields only, texts made plain."""
    counter[0] += 1
    _require(counter[0] <= MAX_TREE_NODES, f"a value of more than {MAX_TREE_NODES} parts")
    _require(depth <= MAX_TREE_DEPTH, f"a value nested more than {MAX_TREE_DEPTH} deep")
    _require(type(node) is dict, "a value node is not an object")
    kind = node.get("t")
    if kind == "leaf":
        shape = node.get("shape")
        _require(type(shape) is list and len(shape) <= MAX_DIMS and all(_int(n, 0, MAX_ELEMENTS) for n in shape),
                 "a leaf's shape is not a list of sizes")
        size = 1
        for n in shape:
            size *= n
        _require(size <= MAX_ELEMENTS, f"a leaf of more than {MAX_ELEMENTS} elements")
        _require(node.get("kind") in LEAF_KINDS, "a leaf of no known kind")
        _require(_int(node.get("i"), 0, blobs - 1), "a leaf points at no array of the message")
        _require(type(node.get("type")) is str and type(node.get("dtype")) is str, "a leaf's type is not text")
        return {"t": "leaf", "kind": node["kind"], "type": plain(node["type"], MAX_NAME_CHARS),
                "dtype": plain(node["dtype"], 60), "shape": tuple(shape), "i": node["i"]}
    if kind in ("tuple", "list"):
        items = node.get("v")
        _require(type(items) is list and len(items) <= MAX_ITEMS, f"a {kind} of no valid items")
        return {"t": kind, "v": [_tree(item, blobs, depth + 1, counter) for item in items]}
    if kind == "dict":
        pairs = node.get("v")
        _require(type(pairs) is list and len(pairs) <= MAX_ITEMS, "a dict of no valid items")
        _require(all(type(pair) is list and len(pair) == 2 and type(pair[0]) is str for pair in pairs),
                 "a dict item is not a [text key, value] pair")
        _require(len({pair[0] for pair in pairs}) == len(pairs), "a dict with a repeated key")
        return {"t": "dict", "v": [(plain(key, MAX_NAME_CHARS), _tree(item, blobs, depth + 1, counter))
                                   for key, item in pairs]}
    if kind == "none":
        return {"t": "none"}
    if kind == "str":
        _require(type(node.get("v")) is str, "a string value is not text")
        return {"t": "str", "v": plain(node["v"], MAX_STRING_CHARS)}
    if kind == "opaque":
        _require(type(node.get("type")) is str, "an opaque value's type is not text")
        return {"t": "opaque", "type": plain(node["type"], MAX_NAME_CHARS)}
    raise BadMessage(f"a value node of unknown kind {plain(str(kind), 40)!r}")


def answer(tree: dict[str, Any], blobs: list[bytes | None]) -> Answer:
    """The Answer a checked tree describes, its arrays decoded from ``blobs`` (None: a blob not read)."""
    kind = tree["t"]
    if kind == "leaf":
        blob, shape = blobs[tree["i"]], tree["shape"]
        if blob is None:
            size = int(np.prod(shape, dtype=object))
            return Opaque(f"{tree['type']} of shape {shape} ({size:,} values, too large to read: far larger than "
                          "the expected answer)")
        return Leaf(tree["kind"], tree["type"], tree["dtype"], shape, decode(blob, shape))
    if kind in ("tuple", "list"):
        return Items(kind, tuple(answer(item, blobs) for item in tree["v"]))
    if kind == "dict":
        return Entries(tuple((key, answer(item, blobs)) for key, item in tree["v"]))
    if kind == "none":
        return Nothing()
    if kind == "str":
        return Text(tree["v"])
    return Opaque(tree["type"])


def decode(blob: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """A blob as the plain array of ``shape`` it must be: only the .npy layout the worker writes is read, and
    only when its length matches its header's shape (checked before anything is allocated)."""
    array = protocol.read_plain_npy(blob)
    _require(array is not None, "an array that is not a plain float64, int64 or bool .npy")
    _require(array.shape == shape, f"an array of shape {array.shape} where its leaf says {shape}")
    return array
