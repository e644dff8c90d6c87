"""A student's answer as the trusted side holds it: plain arrays plus what the value originally was.

Built from the tree that plain.describe produced (in the worker or in the notebook) and checked for
consistency, so a forged tree cannot smuggle in anything but float64 / int64 / bool arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .plain import describe


@dataclass(frozen=True)
class Leaf:
    """A number, array or tensor: ``array`` is its plain copy; kind/type/dtype/shape say what it was."""

    kind: str  # ndarray | tensor | scalar
    type: str
    dtype: str
    shape: tuple[int, ...]
    array: np.ndarray

    def describe(self) -> str:
        if self.kind == "scalar":
            return f"a {self.type}"
        return f"a {self.type} of shape {self.shape} and dtype {self.dtype}"


@dataclass(frozen=True)
class Items:
    """A tuple or list of answers."""

    kind: str  # tuple | list
    items: tuple[Any, ...]

    def describe(self) -> str:
        return f"a {self.kind} of {len(self.items)} items"


@dataclass(frozen=True)
class Entries:
    """A dict of answers with string keys (a state dict, named gradients)."""

    entries: tuple[tuple[str, Any], ...]

    def describe(self) -> str:
        return f"a dict with keys {[key for key, _ in self.entries]}"


@dataclass(frozen=True)
class Nothing:
    """The student returned None."""

    def describe(self) -> str:
        return "None"


@dataclass(frozen=True)
class Text:
    value: str

    def describe(self) -> str:
        return f"the string {self.value[:60]!r}"


@dataclass(frozen=True)
class Opaque:
    """Something that is not plain data (an object of a class of the student's, a subclass, a huge array)."""

    type: str

    def describe(self) -> str:
        return f"a {self.type}"


Answer = Leaf | Items | Entries | Nothing | Text | Opaque


class MalformedAnswer(ValueError):
    """The tree does not describe a consistent plain value (a broken or forged worker message)."""


def from_tree(tree: Any, arrays: list[np.ndarray]) -> Answer:
    """Rebuild an answer from a describe() tree, trusting nothing in it."""
    if not isinstance(tree, dict):
        raise MalformedAnswer("answer node is not an object")
    kind = tree.get("t")
    if kind == "leaf":
        index = tree.get("i")
        if type(index) is not int or not 0 <= index < len(arrays):
            raise MalformedAnswer("answer leaf points at no array")
        array = arrays[index]
        shape = tuple(int(n) for n in tree.get("shape", ()))
        if array.shape != shape:
            raise MalformedAnswer(f"answer leaf says shape {shape} but carries {array.shape}")
        return Leaf(str(tree.get("kind")), str(tree.get("type"))[:200], str(tree.get("dtype"))[:60], shape, array)
    if kind in ("tuple", "list"):
        return Items(kind, tuple(from_tree(item, arrays) for item in tree.get("v", ())))
    if kind == "dict":
        return Entries(tuple((str(key), from_tree(item, arrays)) for key, item in tree.get("v", ())))
    if kind == "none":
        return Nothing()
    if kind == "str":
        return Text(str(tree.get("v", ""))[:1000])
    if kind == "opaque":
        return Opaque(str(tree.get("type", "?"))[:200])
    raise MalformedAnswer(f"unknown answer node {kind!r}")


def from_value(value: Any) -> Answer:
    """The answer for a value produced in this very process (the released notebook's check())."""
    arrays: list[np.ndarray] = []
    return from_tree(describe(value, arrays), arrays)
