"""Find banned APIs in a student's code by reading its syntax tree (never by running it).

A pattern is a dotted prefix ("torch.autograd", "torch.nn.functional") matched against every name the code uses
after resolving its imports and aliases (``import torch.nn.functional as F``; ``from torch import autograd``),
or a method name written with a leading dot (".backward") matched against any attribute of that name. Only the
entry point and the student's own functions and classes it reaches (by name) are checked, so a helper cell
elsewhere in the notebook that legitimately uses autograd does not count against a "by hand" question.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class Violation:
    """A banned API used in the student's code."""

    pattern: str
    used: str
    line: int
    function: str

    def message(self) -> str:
        return (f"{self.function} uses {self.used} (line {self.line}), which this exercise does not allow "
                f"({self.pattern}): compute it yourself")


def _parse_all(sources: list[str]) -> list[ast.Module]:
    trees = []
    for source in sources:
        try:
            trees.append(ast.parse(source))
        except (SyntaxError, ValueError):
            continue  # a cell that does not parse fails when it runs; nothing to check statically
    return trees


def _aliases(trees: list[ast.Module]) -> dict[str, str]:
    """Local name -> dotted module path for every import in the code."""
    names: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        names[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        names[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    root = aliases.get(node.id, node.id)
    return ".".join([root, *reversed(parts)])


def _definitions(trees: list[ast.Module]) -> dict[str, ast.AST]:
    """Top-level functions and classes by name (the last definition wins, as when the notebook runs)."""
    found: dict[str, ast.AST] = {}
    for tree in trees:
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                found[node.name] = node
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = node
    return found


@functools.lru_cache(maxsize=8)
def _index(sources: tuple[str, ...]) -> tuple[dict[str, str], dict[str, ast.AST]]:
    """Imports and top-level definitions of a submission, parsed once for all its questions."""
    trees = _parse_all(list(sources))
    return _aliases(trees), _definitions(trees)


@functools.lru_cache(maxsize=512)
def _uses(sources: tuple[str, ...], name: str) -> tuple[tuple[str, str, int], ...]:
    """What the definition of ``name`` uses, in the order ast.walk meets it, as (kind, text, line): "ref" for a
    name defined at top level, "attr" for an attribute, "dotted" for a resolved name or attribute chain,
    "import" for a module imported inside it. Computed once per submission and definition, since the twelve
    questions of an assignment each search the same code."""
    aliases, definitions = _index(sources)
    uses: list[tuple[str, str, int]] = []
    for node in ast.walk(definitions[name]):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Name) and node.id in definitions:
            uses.append(("ref", node.id, line))
        if isinstance(node, ast.Attribute):
            uses.append(("attr", node.attr, line))
        if isinstance(node, ast.Attribute | ast.Name):
            dotted = _dotted(node, aliases)
            if dotted:
                uses.append(("dotted", dotted, line))
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            uses += [("import", f"{module}.{alias.name}" if module else alias.name, line) for alias in node.names]
    return tuple(uses)


def _matches(text: str, prefix: str) -> bool:
    return text == prefix or text.startswith(prefix + ".")


def find_banned(sources: list[str], entry: str, patterns: tuple[str, ...]) -> Violation | None:
    """The first banned use reachable from ``entry`` in the student's code, or None."""
    if not patterns:
        return None
    key = tuple(sources)
    _aliases_, definitions = _index(key)
    methods = tuple(p[1:] for p in patterns if p.startswith("."))
    prefixes = tuple(p for p in patterns if not p.startswith("."))
    seen, queue = set(), [entry]
    while queue:
        name = queue.pop()
        if name in seen or name not in definitions:
            continue
        seen.add(name)
        for kind, text, line in _uses(key, name):
            if kind == "ref":
                queue.append(text)
            elif kind == "attr" and text in methods:
                return Violation("." + text, f".{text}()", line, name)
            elif kind in ("dotted", "import"):
                for prefix in prefixes:
                    if _matches(text, prefix):
                        return Violation(prefix, text, line, name)
    return None
