"""Mutants of a solution cell: the code a student who errs in one small way writes, one edit each.

Made from the cell's syntax tree, but each edit replaces only the text of the node it changes (so a mutant differs
from the solution in that one place, comments and layout kept, and its diff is the line a student would have
written). Only code between the cell's BEGIN/END SOLUTION markers is mutated: the signature and docstring are the
instructor's. The operators, each named as the mistake it models:

    sign flip            a + b <-> a - b, -x -> x, x -= d <-> x += d
    operator flip        * <-> /, @ -> *, ** -> *, < <-> <=, > <-> >=, == <-> !=
    sum <-> mean         .sum() <-> .mean(), np.sum <-> np.mean, torch.sum <-> torch.mean (nansum, nanmean too)
    dropped term         a + b -> a | b, a - b -> a, a * b -> a | b, a / b -> a; a call statement dropped
                         (optimizer.zero_grad(), loss.backward(), model.eval(), ...); a step that rewrites a
                         name from itself dropped (y = relu(y), x -= lr * g); a keyword argument dropped
    max-subtraction removed   x - x.max(...) -> x (and np.max, amax, logsumexp)
    axis changed         axis= / dim= to another axis or none; keepdims dropped; a reducer's positional axis
    transpose changed    .T / .t() / .transpose(...) / np.transpose(x) removed; a @ b -> b @ a; a call's first
                         two arguments swapped (nn.Linear(out, in), F.binary_cross_entropy(y, p))
    off-by-one           range(n) -> range(n - 1), range(n + 1), range(1, n); range(a, b) -> range(a, b -/+ 1);
                         a slice bound or an index -/+ 1
    constant changed     an integer -/+ 1, a float x2 and /2 (0 -> 1), True <-> False
    clamp removed        np.clip(x, a, b), torch.clamp(x, ...), x.clamp(...), np.maximum(x, c), max(x, c) -> x
"""

from __future__ import annotations

import ast
import difflib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from dlgrade.solution_cells import MARKER_LINE

__all__ = ["Mutant", "mutants_of", "solution_region"]

_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
           ast.Pow: "**", ast.MatMult: "@", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
           ast.NotEq: "!="}
_SIGN = {ast.Add: ast.Sub, ast.Sub: ast.Add}
_FLIP = {ast.Mult: [ast.Div], ast.Div: [ast.Mult], ast.FloorDiv: [ast.Div], ast.MatMult: [ast.Mult],
         ast.Pow: [ast.Mult], ast.Lt: [ast.LtE], ast.LtE: [ast.Lt], ast.Gt: [ast.GtE], ast.GtE: [ast.Gt],
         ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq]}
_SUM_MEAN = {"sum": "mean", "mean": "sum", "nansum": "nanmean", "nanmean": "nansum"}
# A function for its twin, the way a student mixes them up (bits and nats too).
_TWINS = {"argmin": "argmax", "argmax": "argmin", "max": "min", "min": "max", "amax": "amin", "amin": "amax",
          "maximum": "minimum", "minimum": "maximum", "log": "log2", "log2": "log", "log10": "log"}
_MAXES = {"max", "amax", "logsumexp", "nanmax"}
_REDUCERS = {"sum", "mean", "max", "min", "argmax", "argmin", "amax", "amin", "softmax", "log_softmax", "logsumexp",
             "var", "std", "prod", "cumsum", "cumprod", "norm", "nansum", "nanmean", "all", "any", "squeeze",
             "unsqueeze", "concatenate", "stack", "cat", "flip", "median"}
_AXIS_KEYWORDS = {"axis", "dim"}
_CLAMPS = {"clip", "clamp", "clamp_min", "clamp_max", "maximum", "minimum", "fmax", "fmin"}
_TRANSPOSES = {"transpose", "t", "permute", "swapaxes", "swapdims"}
_OPERATORS = ("sign flip", "operator flip", "sum <-> mean", "dropped term", "max-subtraction removed",
              "axis changed", "transpose changed", "off-by-one", "constant changed", "clamp removed")


@dataclass(frozen=True)
class Mutant:
    """One mutant of a solution cell: what changed (operator, a one-line description at its line) and the cell's
    whole source as the student would submit it."""

    operator: str
    description: str
    source: str
    original: str

    @property
    def key(self) -> str:
        """A stable id: the mutant's source hashed (the same mutant on every run, for sampling and reports)."""
        return hashlib.sha256(self.source.encode()).hexdigest()[:12]

    def diff(self) -> list[str]:
        """The changed lines, as a unified diff without context: '-' the solution's, '+' the mutant's."""
        lines = difflib.unified_diff(self.original.splitlines(), self.source.splitlines(), lineterm="", n=0)
        return [line for line in lines if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def solution_region(cell_source: str) -> tuple[str, set[int]]:
    """The cell as a student writes it (marker lines dropped) and the numbers (1-based) of its lines that were
    between BEGIN and END SOLUTION (all of them when the cell has no markers)."""
    kept, region, inside, marked = [], set(), False, False
    for line in cell_source.splitlines(keepends=True):
        match = MARKER_LINE.match(line)
        if match:
            inside, marked = match.group(1) == "BEGIN", True
            continue
        kept.append(line)
        if inside:
            region.add(len(kept))
    if not marked:
        region = set(range(1, len(kept) + 1))
    return "".join(kept), region


class _Source:
    """The source's text by node: spans from the AST's (line, UTF-8 column) positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.data = text.encode()
        self.starts = [0]
        for line in self.data.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, line: int, column: int) -> int:
        return self.starts[line - 1] + column

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (self.offset(node.lineno, node.col_offset),  # type: ignore[attr-defined]
                self.offset(node.end_lineno, node.end_col_offset))  # type: ignore[attr-defined]

    def of(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.data[start:end].decode()

    def replaced(self, start: int, end: int, new: str) -> str:
        return (self.data[:start] + new.encode() + self.data[end:]).decode()


def _grouped(text: str, node: ast.AST) -> str:
    """An expression's text, parenthesised where it is an operator expression (it replaces a bigger one)."""
    if isinstance(node, ast.BinOp | ast.UnaryOp | ast.BoolOp | ast.Compare | ast.IfExp | ast.Lambda | ast.NamedExpr):
        return f"({text})"
    return text


def _name_of(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _is_max(node: ast.AST) -> bool:
    """A maximum taken (x.max(...), np.max(...), torch's x.max(dim=...).values or [0], logsumexp)."""
    if isinstance(node, ast.Attribute) and node.attr == "values" or isinstance(node, ast.Subscript):
        node = node.value
    return isinstance(node, ast.Call) and _name_of(node) in _MAXES


def _int_value(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and type(node.operand.value) is int:
        return -node.operand.value
    return None


class _Mutator:
    def __init__(self, source: str, region: set[int]) -> None:
        self.src = _Source(source)
        self.tree = ast.parse(source)
        self.region = region
        self.docstrings = {id(body[0].value) for node in ast.walk(self.tree)
                           if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                           and (body := node.body) and isinstance(body[0], ast.Expr)
                           and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)}
        self.axis_nodes: set[int] = set()  # constants mutated as axes, not again as plain constants

    def inside(self, node: ast.AST) -> bool:
        lineno, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        return lineno is not None and all(line in self.region for line in range(lineno, (end or lineno) + 1))

    def edits(self) -> Iterator[tuple[str, str, int, tuple[int, int], str]]:
        """(operator, description, line, (start, end), new text) for every mutation point."""
        for node in ast.walk(self.tree):
            if not self.inside(node) or id(node) in self.docstrings:
                continue
            for method in (self.binop, self.unary, self.augassign, self.compare, self.call, self.attribute,
                           self.statement, self.rewrite, self.slice_bounds, self.constant):
                yield from method(node)

    # ---- the operators ----

    def _operator_token(self, left: ast.AST, right: ast.AST, symbol: str) -> tuple[int, int] | None:
        """The span of the operator's symbol between two operands (only parentheses and spaces around it)."""
        start, end = self.src.span(left)[1], self.src.span(right)[0]
        between = self.src.data[start:end].decode()
        at = between.find(symbol)
        if at < 0 or (symbol == "*" and between[at:at + 2] == "**") or (symbol == "/" and between[at:at + 2] == "//"):
            return None
        return start + len(between[:at].encode()), start + len(between[:at].encode()) + len(symbol.encode())

    def binop(self, node: ast.AST) -> Iterator[tuple[str, str, int, tuple[int, int], str]]:
        if not isinstance(node, ast.BinOp) or type(node.op) not in _SYMBOL:
            return
        symbol = _SYMBOL[type(node.op)]
        token = self._operator_token(node.left, node.right, symbol)
        line = node.lineno
        if token is not None:
            for new in ([_SIGN[type(node.op)]] if type(node.op) in _SIGN else _FLIP.get(type(node.op), [])):
                kind = "sign flip" if type(node.op) in _SIGN else "operator flip"
                yield kind, f"`{symbol}` -> `{_SYMBOL[new]}`", line, token, _SYMBOL[new]
        span = self.src.span(node)
        left, right = self.src.of(node.left), self.src.of(node.right)
        if isinstance(node.op, ast.Sub) and _is_max(node.right):
            yield "max-subtraction removed", f"`{self.src.of(node)}` -> `{left}`", line, span, \
                _grouped(left, node.left)
        elif isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
            yield "dropped term", f"`{self.src.of(node)}` -> `{left}`", line, span, _grouped(left, node.left)
            if isinstance(node.op, ast.Add | ast.Mult):
                yield "dropped term", f"`{self.src.of(node)}` -> `{right}`", line, span, _grouped(right, node.right)
        if isinstance(node.op, ast.MatMult):
            yield "transpose changed", f"`{left} @ {right}` -> `{right} @ {left}`", line, span, \
                f"{_grouped(right, node.right)} @ {_grouped(left, node.left)}"

    def unary(self, node: ast.AST) -> Iterator[tuple[str, str, int, tuple[int, int], str]]:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and _int_value(node) is None \
                and not (isinstance(node.operand, ast.Constant)):
            operand = self.src.of(node.operand)
            yield "sign flip", f"`{self.src.of(node)}` -> `{operand}`", node.lineno, self.src.span(node), \
                _grouped(operand, node.operand)

    def augassign(self, node: ast.AST) -> Iterator[tuple[str, str, int, tuple[int, int], str]]:
        if not isinstance(node, ast.AugAssign) or type(node.op) not in _SYMBOL:
            return
        symbol = _SYMBOL[type(node.op)] + "="
        token = self._operator_token(node.target, node.value, symbol)
        if token is None:
            return
        news = [_SIGN[type(node.op)]] if type(node.op) in _SIGN else _FLIP.get(type(node.op), [])
        for new in news:
            kind = "sign flip" if type(node.op) in _SIGN else "operator flip"
            yield kind, f"`{symbol}` -> `{_SYMBOL[new]}=`", node.lineno, token, _SYMBOL[new] + "="
        yield "dropped term", f"`{self.src.of(node)}` dropped", node.lineno, self.src.span(node), "pass"

    def compare(self, node: ast.AST) -> Iterator[tuple[str, str, int, tuple[int, int], str]]:
        if not isinstance(node, ast.Compare):
            return
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            symbol = _SYMBOL.get(type(op))
            token = self._operator_token(left, right, symbol) if symbol else None
            if token is not None:
                for new in _FLIP.get(type(op), []):
                    yield "operator flip", f"`{symbol}` -> `{_SYMBOL[new]}`", node.lineno, token, _SYMBOL[new]
            left = right

    def call(self, node: ast.AST) -> Iterator[tuple[str, str, int, tuple[int, int], str]]:
        if not isinstance(node, ast.Call):
            return
        name, line, span = _name_of(node), node.lineno, self.src.span(node)
        func = node.func
        if name in _SUM_MEAN:
            end = self.src.span(func)[1]
            yield "sum <-> mean", f"`{name}` -> `{_SUM_MEAN[name]}`", line, (end - len(name), end), _SUM_MEAN[name]
        if name in _TWINS and not (isinstance(func, ast.Name) and name in ("max", "min")):
            end = self.src.span(func)[1]
            yield "operator flip", f"`{name}` -> `{_TWINS[name]}`", line, (end - len(name), end), _TWINS[name]
        receiver = func.value if isinstance(func, ast.Attribute) else None
        is_method = receiver is not None and not (isinstance(receiver, ast.Name) and receiver.id in
                                                  ("np", "numpy", "torch", "F", "math", "nn"))
        # axis changed
        for keyword in node.keywords:
            value = _int_value(keyword.value) if keyword.value is not None else None
            if keyword.arg in _AXIS_KEYWORDS and (value is not None or (isinstance(keyword.value, ast.Constant)
                                                                        and keyword.value.value is None)):
                self.axis_nodes.add(id(keyword.value))
                if isinstance(keyword.value, ast.UnaryOp):
                    self.axis_nodes.add(id(keyword.value.operand))
                for other in [v for v in (0, 1, -1, None) if v != value]:
                    if other is None and name in ("softmax", "log_softmax", "cat", "stack", "concatenate"):
                        continue
                    yield "axis changed", f"`{keyword.arg}={value}` -> `{keyword.arg}={other}`", line, \
                        self.src.span(keyword.value), repr(other)
            if keyword.arg in _AXIS_KEYWORDS and isinstance(keyword.value, ast.Name):  # the axis hard-coded
                for other in (0, -1):
                    yield "axis changed", f"`{keyword.arg}={keyword.value.id}` -> `{keyword.arg}={other}`", line, \
                        self.src.span(keyword.value), str(other)
            if keyword.arg in ("keepdims", "keepdim") and isinstance(keyword.value, ast.Constant) \
                    and keyword.value.value is True:
                yield "axis changed", f"`{keyword.arg}=True` dropped", line, self.src.span(keyword.value), "False"
        if name in _REDUCERS:
            for arg in node.args[(0 if is_method else 1):]:
                value = _int_value(arg)
                if value is None:
                    continue
                self.axis_nodes.add(id(arg))
                if isinstance(arg, ast.UnaryOp):
                    self.axis_nodes.add(id(arg.operand))
                for other in [v for v in (0, 1, -1) if v != value]:
                    yield "axis changed", f"`{name}(..., {value})` -> axis {other}", line, self.src.span(arg), \
                        str(other)
        # transpose removed
        if name in _TRANSPOSES:
            if is_method and receiver is not None:
                text = self.src.of(receiver)
                yield "transpose changed", f"`.{name}(...)` removed", line, span, _grouped(text, receiver)
            elif node.args:
                text = self.src.of(node.args[0])
                yield "transpose changed", f"`{name}(...)` removed", line, span, _grouped(text, node.args[0])
        # clamp removed
        if name in _CLAMPS or (isinstance(func, ast.Name) and func.id in ("max", "min") and len(node.args) == 2):
            candidates = [receiver] if is_method and receiver is not None else \
                [arg for arg in node.args if not isinstance(arg, ast.Constant) and _int_value(arg) is None][:2]
            for kept in candidates:
                text = self.src.of(kept)
                yield "clamp removed", f"`{self.src.of(node)}` -> `{text}`", line, span, _grouped(text, kept)
        # the first two arguments swapped (a layer's in and out, a loss's prediction and target)
        if len(node.args) >= 2 and not any(isinstance(arg, ast.Starred) for arg in node.args[:2]) \
                and name not in ("range", "where", "isinstance", "getattr", "setattr", "zip", "enumerate"):
            first, second = (self.src.of(arg) for arg in node.args[:2])
            if first != second:
                start, end = self.src.span(node.args[0])[0], self.src.span(node.args[1])[1]
                between = self.src.data[self.src.span(node.args[0])[1]:self.src.span(node.args[1])[0]].decode()
                more = ", ..." if len(node.args) > 2 or node.keywords else ""
                yield "transpose changed", f"`{name}({first}, {second}{more})` -> `{name}({second}, {first}{more})`", \
                    line, (start, end), f"{second}{between}{first}"
        # a keyword argument dropped (generator=, keepdims=, reduction=, ...)
        for keyword in node.keywords:
            if keyword.arg is None or keyword.arg in ("axis", "dim"):
                continue
            start, end = self.src.span(keyword)
            before = self.src.data[:start].rstrip()
            if before.endswith(b","):
                start = len(before) - 1
            else:
                after = self.src.data[end:]
                stripped = after.lstrip()
                if stripped.startswith(b","):
                    end += len(after) - len(stripped) + 1
                    end += len(self.src.data[end:]) - len(self.src.data[end:].lstrip(b" "))
            yield "dropped term", f"`{keyword.arg}=` dropped", line, (start, end), ""
        # off-by-one in a range
        if isinstance(func, ast.Name) and func.id == "range" and node.args and not node.keywords:
            texts = [self.src.of(arg) for arg in node.args]
            if len(texts) == 1:
                options = [f"range({texts[0]} - 1)", f"range({texts[0]} + 1)", f"range(1, {texts[0]})"]
            else:
                rest = "".join(f", {t}" for t in texts[2:])
                options = [f"range({texts[0]}, {texts[1]} - 1{rest})", f"range({texts[0]}, {texts[1]} + 1{rest})",
                           f"range({texts[0]} + 1, {texts[1]}{rest})"]
            for option in options:
                yield "off-by-one", f"`{self.src.of(node)}` -> `{option}`", line, span, option

    def attribute(self, node: ast.AST) -> Iterator[tuple[str, str, int, tuple[int, int], str]]:
        if isinstance(node, ast.Attribute) and node.attr in ("T", "mT") and isinstance(node.ctx, ast.Load):
            text = self.src.of(node.value)
            yield "transpose changed", f"`.{node.attr}` removed", node.lineno, self.src.span(node), \
                _grouped(text, node.value)

    def statement(self, node: ast.AST) -> Iterator[tuple[str, str, int, tuple[int, int], str]]:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and _name_of(node.value) != "print":
            yield "dropped term", f"`{self.src.of(node)}` dropped", node.lineno, self.src.span(node), "pass"

    def rewrite(self, node: ast.AST) -> Iterator[tuple[str, str, int, tuple[int, int], str]]:
        """A step that rewrites a name from itself (y = relu(y)): a forgotten activation, layer or update."""
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node.value)):
                yield "dropped term", f"`{self.src.of(node)}` dropped", node.lineno, self.src.span(node), "pass"

    def slice_bounds(self, node: ast.AST) -> Iterator[tuple[str, str, int, tuple[int, int], str]]:
        if isinstance(node, ast.Slice):
            for bound in (node.lower, node.upper):
                value = _int_value(bound) if bound is not None else None
                if value is None:
                    continue
                self.axis_nodes.add(id(bound))
                if isinstance(bound, ast.UnaryOp):
                    self.axis_nodes.add(id(bound.operand))
                for other in (value - 1, value + 1):
                    yield "off-by-one", f"slice bound {value} -> {other}", node.lineno, self.src.span(bound), \
                        str(other)
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice | ast.Tuple):
            value = _int_value(node.slice)
            if value is not None:
                self.axis_nodes.add(id(node.slice))
                if isinstance(node.slice, ast.UnaryOp):
                    self.axis_nodes.add(id(node.slice.operand))
                for other in (value - 1, value + 1):
                    yield "off-by-one", f"index [{value}] -> [{other}]", node.lineno, self.src.span(node.slice), \
                        str(other)

    def constant(self, node: ast.AST) -> Iterator[tuple[str, str, int, tuple[int, int], str]]:
        if not isinstance(node, ast.Constant) or id(node) in self.axis_nodes:
            return
        value = node.value
        if isinstance(value, bool):
            options: list[object] = [not value]
        elif type(value) is int:
            options = [value + 1, value - 1]
        elif type(value) is float:
            options = [1.0] if value == 0 else [value * 2, value / 2]
        else:
            return
        for other in options:
            yield "constant changed", f"{value!r} -> {other!r}", node.lineno, self.src.span(node), repr(other)


def mutants_of(cell_source: str) -> list[Mutant]:
    """Every distinct mutant of a solution cell (see the module's docstring), in the order of the cell's code;
    none that does not parse, none identical to the solution."""
    source, region = solution_region(cell_source)
    try:
        mutator = _Mutator(source, region)
    except SyntaxError:
        return []
    found: dict[str, Mutant] = {}
    edits = sorted(mutator.edits(), key=lambda edit: (edit[3][0], _OPERATORS.index(edit[0]), edit[1]))
    for operator, description, line, (start, end), new in edits:
        mutated = mutator.src.replaced(start, end, new)
        if mutated == source or mutated in found:
            continue
        try:
            ast.parse(mutated)
        except SyntaxError:
            continue
        found[mutated] = Mutant(operator, f"line {line}: {description}", mutated, source)
    return list(found.values())
