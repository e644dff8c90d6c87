"""What a "by hand" question's code uses that its rules forbid, read from the syntax tree (never by running it).

The sandbox enforces the rules at run time as well (dlgrade/sandbox/guard.py, and numpy-only questions answered
where no package but numpy exists); this check comes first for its early, precise message. It fails closed:

* every statement of the cells the question owns (its solution cell, the cells of the questions it uses, and any
  cell that defines its entry point) is checked, top-level code included, with everything it reaches by name;
* names are resolved with Python's scopes: a function's parameter or local variable is that function's own, never
  a same-named top-level name of another cell; a global name is followed to every binding of it that may be live
  when the code runs (in a function's body, which the grader calls after every cell ran: any cell's; in a cell's
  top-level code: that cell's and the earlier cells'); imports and aliases (``import torch.nn as tnn``,
  ``F = torch.nn.functional``, ``from torch import nn``, the instructor's setup cell's included) are resolved to
  the module they name;
* what cannot be resolved is a finding, not a pass: getattr with a computed name, eval/exec/compile,
  ``__import__``, importlib, globals()/locals()/vars(), sys.modules, the builtins module, introspection that walks
  to other objects' internals (``__dict__``, ``__globals__``, ``__subclasses__``, frames), torch's private and
  dispatcher-level modules (torch._C, torch.ops, torch.library, torch.jit...), ways of running other code
  (subprocess, pickle, threads), a name no cell defines, and an entry point no statement defines while a student
  cell somewhere could define it out of the check's sight (exec, globals(), setattr with a computed name...).
  (A name that such a cell rebinds at run time is the run-time guard's to answer: the rebinding runs there too.)

A banned pattern is a dotted prefix ("torch.autograd", "torch.nn.functional") matched against every resolved name
the code uses, or a method name with a leading dot (".backward") matched against any attribute of that name.
``autograd=False`` adds torch's autograd entry points; ``numpy_only`` allows no module but numpy and the standard
library.
"""

from __future__ import annotations

import ast
import builtins
import functools
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class Cell(Protocol):
    id: str
    source: str
    student: bool
    line: int  # the line of the submitted file the source starts on


@dataclass(frozen=True)
class Violation:
    """A use the question's rules forbid, or one the check cannot follow."""

    pattern: str  # the banned name, or the kind of construct ("dynamic lookup", "numpy only", ...)
    used: str
    line: int
    function: str  # where: a function's name or "cell <id>"
    reason: str = ""  # for a construct the check cannot follow: why it is refused

    def message(self) -> str:
        if self.reason:
            return f"{self.function} uses {self.used} (line {self.line}): {self.reason}"
        return (f"{self.function} uses {self.used} (line {self.line}), which this exercise does not allow "
                f"({self.pattern}): compute it yourself")


@dataclass(frozen=True)
class Rules:
    """A by-hand question's rules, as the check reads them (see Question in dlgrade/suite.py)."""

    entry: str
    banned: tuple[str, ...] = ()
    autograd: bool = True
    numpy_only: bool = False
    cells: tuple[str, ...] = ()  # ids of the cells the question owns: its solution cell and its uses' cells
    uses: tuple[str, ...] = ()  # entry points of the questions it uses

    @property
    def by_hand(self) -> bool:
        return bool(self.banned) or not self.autograd or self.numpy_only


# What autograd=False bans besides the question's own list (the first four are guard.py's AUTOGRAD_BANNED, which
# the sandbox's copy cannot import from here; a test keeps the two in step).
AUTOGRAD_BANNED = ("torch.autograd", ".backward", "torch.func", "functorch", "torch.enable_grad",
                   "torch.set_grad_enabled")
# Modules whose use a by-hand question's code cannot be checked through: they look names up by string, reach other
# objects' internals or run code elsewhere. (Patterns ending in "*" match any name that starts so.)
ESCAPES = (
    "importlib", "imp", "builtins", "__builtin__", "gc", "ctypes", "_ctypes", "cffi", "inspect", "marshal",
    "pickle", "_pickle", "cPickle", "copyreg", "dill", "cloudpickle", "shelve", "runpy", "pkgutil", "zipimport",
    "code", "codeop", "pydoc", "string.Formatter", "unittest.mock", "operator.attrgetter", "operator.methodcaller",
    "types.FunctionType", "types.CodeType", "types.LambdaType", "types.ModuleType", "subprocess", "multiprocessing",
    "concurrent", "threading", "_thread", "pty", "os.system", "os.popen", "os.fork", "os.exec*", "os.spawn*",
    "os.posix_spawn*", "sys.modules", "sys.meta_path", "sys.path_hooks", "sys.path_importer_cache",
    "sys._getframe", "sys._current_frames", "sys.settrace", "sys.setprofile", "sys.addaudithook",
    "torch._*", "torch.ops", "torch.library", "torch.jit", "torch.compile", "torch.compiler", "torch.fx",
    "torch.export", "torch.overrides", "torch.hub", "torch.package", "torch.utils.cpp_extension", "numpy.ctypeslib",
)
# Builtins that look a name up, or bind one, from a computed string.
DYNAMIC_BUILTINS = ("eval", "exec", "compile", "globals", "locals", "vars", "__import__", "breakpoint", "getattr",
                    "setattr", "delattr")
# Attributes that lead from an object to others' internals (frames, globals, class trees, code).
INTROSPECTION = frozenset({
    "__dict__", "__globals__", "__builtins__", "__code__", "__closure__", "__defaults__", "__kwdefaults__",
    "__subclasses__", "__mro__", "__bases__", "__base__", "__getattribute__", "__getattr__", "__setattr__",
    "__delattr__", "__self__", "__func__", "__wrapped__", "__loader__", "__spec__", "__import__", "__reduce__",
    "__reduce_ex__", "__objclass__", "__traceback__", "__init_subclass__", "tb_frame", "tb_next", "f_back",
    "f_globals", "f_locals", "f_builtins", "f_code", "gi_frame", "gi_code", "cr_frame", "ag_frame", "co_consts",
})
# Names a notebook has without defining them.
KNOWN_NAMES = frozenset(dir(builtins)) | {"__name__", "__doc__", "__file__", "display", "In", "Out", "exit", "quit",
                                          "get_ipython"}
# Modules a numpy-only question may use besides the standard library ("dlcheck" is the notebook's checker;
# matplotlib for the plots the notebooks invite, e.g. sgd's learning-rate regimes: it has no torch and computes no
# gradient). The numpy-only sandbox shows exactly these distributions and their dependencies
# (launcher.numpy_only_mounts).
NUMPY_ONLY_MODULES = ("numpy", "dlcheck", "matplotlib")
UNFOLLOWABLE = "the checker cannot follow it, and a by-hand question allows only what it can check"
# Steps from a name to what it stands for (b = a; c = b; ...): a chain longer than this is not followed, and fails
# closed. Cycles of assignments (a loop's ``buf = d_p; d_p = buf``) are cut where they close, whatever this is.
MAX_ALIAS_STEPS = 32


def find_banned(cells: Sequence[Cell], rules: Rules) -> Violation | None:
    """The first use in a submission's code that ``rules`` forbid or that cannot be checked; None for a question
    that is not by hand, or code that keeps to the rules."""
    if not rules.by_hand:
        return None
    return _find(tuple((cell.id, cell.source, bool(cell.student), cell.line) for cell in cells), rules)


@functools.lru_cache(maxsize=256)
def _find(cells: tuple[tuple[str, str, bool, int], ...], rules: Rules) -> Violation | None:
    return _Checker(_program(cells), rules).run()


# ---- the submission's module-level picture -------------------------------------------------------------------


@dataclass
class _Binding:
    """One statement that binds a global name: what to check when the name is used, and what it aliases."""

    cell: str
    student: bool
    node: ast.AST  # the statement (or expression) that makes the binding
    module: str | None = None  # an import: the dotted module (or module.name) it binds
    value: ast.expr | None = None  # an assignment of a single value: that value (may be a dotted alias)


@dataclass
class _Program:
    cells: list[tuple[str, bool, ast.Module]]
    bindings: dict[str, list[tuple[int, _Binding]]] = field(default_factory=dict)  # (the cell's position, binding)
    star_modules: list[str] = field(default_factory=list)
    rebinders: list[tuple[str, int, str]] = field(default_factory=list)  # (cell, line, what) in student cells
    unparsed: list[str] = field(default_factory=list)  # student cells Python cannot read (they fail when run)


@functools.lru_cache(maxsize=8)
def _program(cells: tuple[tuple[str, str, bool, int], ...]) -> _Program:
    """A submission's picture: every cell's tree, every module-level binding, the constructs that could rebind
    names out of the check's sight. Cells are read once each, and a batch's submissions share most of them."""
    program = _Program([])
    for position, (cell_id, source, student, line) in enumerate(cells):
        read = _cell(cell_id, source, student, line)
        if read is None:
            program.unparsed += [cell_id] if student else []
            continue  # does not parse: fails when it runs, and nothing of it is defined
        tree, bindings, rebinders = read
        program.cells.append((cell_id, student, tree))
        for name, binding in bindings:
            program.bindings.setdefault(name, []).append((position, binding))
            if name == "*" and binding.module:
                program.star_modules.append(binding.module)
        program.rebinders += rebinders
    return program


@functools.lru_cache(maxsize=4096)
def _cell(cell_id: str, source: str, student: bool, line: int = 1) -> tuple[
        ast.Module, list[tuple[str, _Binding]], list[tuple[str, int, str]]] | None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # too deep for the parser: so it is to run
        return None
    if line > 1:  # a script's statement: its findings give the script's line numbers
        ast.increment_lineno(tree, line - 1)
    rebinders = [(cell_id, line, what) for line, what in _rebinders(tree)] if student else []
    return tree, list(_module_bindings(cell_id, student, tree)), rebinders


def _module_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements that run in module scope: the cell's, and those nested in its if/for/while/try/with/match."""
    for statement in body:
        yield statement
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for name in ("body", "orelse", "finalbody"):
            yield from _module_statements(getattr(statement, name, None) or [])
        for handler in getattr(statement, "handlers", None) or []:
            yield from _module_statements(handler.body)
        for case in getattr(statement, "cases", None) or []:
            yield from _module_statements(case.body)


def _target_names(target: ast.AST) -> Iterator[str]:
    for node in ast.walk(target):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            yield node.id
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            yield node.name
        elif isinstance(node, ast.MatchMapping) and node.rest:
            yield node.rest


def _module_bindings(cell: str, student: bool, tree: ast.Module) -> Iterator[tuple[str, _Binding]]:
    for statement in _module_statements(tree.body):
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield statement.name, _Binding(cell, student, statement)
            yield from ((name, _Binding(cell, student, statement)) for name in _declared_global(statement))
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            for name, module in _imported(statement):
                yield name, _Binding(cell, student, statement, module=module)
            if isinstance(statement, ast.ImportFrom) and any(alias.name == "*" for alias in statement.names):
                yield "*", _Binding(cell, student, statement, module="." * statement.level + (statement.module or ""))
        elif isinstance(statement, ast.Assign):
            value = statement.value if len(statement.targets) == 1 else None
            for target in statement.targets:
                yield from ((name, _Binding(cell, student, statement, value=value))
                            for name in _target_names(target))
        elif isinstance(statement, ast.AnnAssign | ast.AugAssign):
            yield from ((name, _Binding(cell, student, statement)) for name in _target_names(statement.target))
        elif isinstance(statement, ast.For | ast.AsyncFor):
            yield from ((name, _Binding(cell, student, statement.iter)) for name in _target_names(statement.target))
        elif isinstance(statement, ast.With | ast.AsyncWith):
            for item in statement.items:
                if item.optional_vars is not None:
                    yield from ((name, _Binding(cell, student, item.context_expr))
                                for name in _target_names(item.optional_vars))
        elif isinstance(statement, ast.Try | getattr(ast, "TryStar", ast.Try)):
            for handler in statement.handlers:
                if handler.name:
                    yield handler.name, _Binding(cell, student, handler.type or handler)
        elif isinstance(statement, ast.Match):
            for case in statement.cases:
                yield from ((name, _Binding(cell, student, statement.subject)) for name in _target_names(case.pattern))
        for node in _same_scope_nodes(statement):  # a walrus binds in the module, even inside a comprehension
            if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
                yield node.target.id, _Binding(cell, student, node)


def _same_scope_nodes(statement: ast.stmt) -> Iterator[ast.AST]:
    """The statement's own expressions (not those of nested statements, functions, lambdas or classes)."""
    stack: list[ast.AST] = [child for name, child in _fields(statement) if name not in ("body", "orelse",
                                                                                          "finalbody", "handlers",
                                                                                          "cases")]
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))


def _fields(node: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    for name, value in ast.iter_fields(node):
        if isinstance(value, ast.AST):
            yield name, value
        elif isinstance(value, list):
            yield from ((name, item) for item in value if isinstance(item, ast.AST))


def _declared_global(definition: ast.AST) -> set[str]:
    """Names a function (or any function nested in it) declares global and binds: module names it creates."""
    names: set[str] = set()
    for node in ast.walk(definition):
        if isinstance(node, ast.Global):
            names.update(node.names)
    return names


def _rebinders(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Constructs that can bind any name out of the check's sight, anywhere in a student cell: exec and its kin,
    the module's namespace as a dict, setattr and delattr with a computed name, sys.modules, importlib, builtins."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in ("exec", "eval", "compile", "globals", "vars", "__import__",
                                                      "__builtins__"):
            yield node.lineno, f"{node.id}()" if node.id != "__builtins__" else node.id
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("setattr", "delattr") and not _constant_getattr(node):
            yield node.lineno, f"{node.func.id}() with a computed name"
        elif isinstance(node, ast.Attribute) and (node.attr in ("__dict__", "__globals__", "f_globals") or (
                node.attr == "modules" and isinstance(node.value, ast.Name) and node.value.id == "sys")):
            yield node.lineno, f".{node.attr}" if node.attr != "modules" else "sys.modules"
        elif isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for alias in node.names:
                top = (module or alias.name).partition(".")[0]
                if top in ("importlib", "builtins", "__builtin__", "imp"):
                    yield node.lineno, f"import {module or alias.name}"


# ---- scopes --------------------------------------------------------------------------------------------------


@dataclass
class _Scope:
    kind: str  # module | function | class | comprehension
    names: set[str] = field(default_factory=set)  # bound here
    globals: set[str] = field(default_factory=set)
    nonlocals: set[str] = field(default_factory=set)
    aliases: dict[str, list[ast.expr]] = field(default_factory=dict)  # local name -> the values assigned to it
    imports: dict[str, list[str]] = field(default_factory=dict)  # local name -> the modules imported as it


def _bound_here(nodes: list[ast.AST]) -> tuple[set[str], set[str], set[str], dict[str, list[ast.expr]],
                                              dict[str, list[str]]]:
    """Names bound in one scope by these nodes (nested functions, lambdas and classes are other scopes, but their
    names, decorators and defaults are this one's; a comprehension's targets are its own, its walrus targets not),
    the names bound only by plain assignments (name = value), with their values (possible aliases), and the names
    imports bind, with the modules."""
    names: set[str] = set()
    declared_global: set[str] = set()
    declared_nonlocal: set[str] = set()
    assigned: dict[str, list[ast.expr]] = {}
    imported: dict[str, list[str]] = {}
    stores: dict[str, int] = {}
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            stores[node.name] = stores.get(node.name, 0) + 1
            stack += node.decorator_list
            if isinstance(node, ast.ClassDef):
                stack += node.bases + [k.value for k in node.keywords]
            else:
                stack += node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
            continue
        if isinstance(node, ast.Lambda):
            stack += node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
            continue
        if isinstance(node, ast.Global):
            declared_global.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            declared_nonlocal.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
            stores[node.id] = stores.get(node.id, 0) + 1
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for name, module in _imported(node):
                names.add(name)
                stores[name] = stores.get(name, 0) + 1
                imported.setdefault(name, []).append(module)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            assigned.setdefault(node.targets[0].id, []).append(node.value)
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            stack.append(node.generators[0].iter)
            stack += [n.target for n in ast.walk(node) if isinstance(n, ast.NamedExpr)]
            continue
        if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
            stores[node.target.id] = stores.get(node.target.id, 0) + 1
            continue
        stack.extend(ast.iter_child_nodes(node))
    aliases = {name: values for name, values in assigned.items()
               if stores.get(name) == len(values) and name not in declared_global}
    return names - declared_global - declared_nonlocal, declared_global, declared_nonlocal, aliases, imported


def _imported(node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str]]:
    """(name bound, module or module.name it stands for) of an import statement (a star import binds nothing)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield (alias.asname, alias.name) if alias.asname else (alias.name.partition(".")[0],
                                                                   alias.name.partition(".")[0])
        return
    module = "." * node.level + (node.module or "")
    for alias in node.names:
        if alias.name != "*":
            yield alias.asname or alias.name, f"{module}.{alias.name}"


def _function_scope(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> _Scope:
    args = node.args
    params = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    body = node.body if isinstance(node.body, list) else [node.body]
    names, declared_global, declared_nonlocal, aliases, imported = _bound_here(list(body))
    aliases = {name: values for name, values in aliases.items() if name not in params}
    return _Scope("function", names | params, declared_global, declared_nonlocal, aliases, imported)


@functools.lru_cache(maxsize=4096)
def _path_rule(path: str, prefixes: tuple[str, ...], numpy_only: bool) -> tuple[str, str] | None:
    """Which rule a resolved dotted name breaks: (the banned pattern, "") or (a construct's kind, why)."""
    for pattern in prefixes:
        if _matches(path, pattern):
            return pattern, ""
    for pattern in ESCAPES:
        if _matches(path, pattern):
            return "dynamic lookup", UNFOLLOWABLE
    top = path.partition(".")[0]
    if numpy_only and top and top not in NUMPY_ONLY_MODULES and top not in sys.stdlib_module_names:
        return "numpy only", f"{top} is not available in this question: it is graded with numpy only"
    return None


# ---- the check -------------------------------------------------------------------------------------------------


class _Found(Exception):
    def __init__(self, violation: Violation) -> None:
        super().__init__(violation.message())
        self.violation = violation


class _Checker(ast.NodeVisitor):
    """Walks the owned cells and everything they reach, with a stack of scopes; raises _Found at the first
    finding."""

    def __init__(self, program: _Program, rules: Rules) -> None:
        self.program, self.rules = program, rules
        self.banned = rules.banned + (() if rules.autograd else AUTOGRAD_BANNED)
        self.prefixes = tuple(p for p in self.banned if not p.startswith("."))
        self.methods = frozenset(p[1:] for p in self.banned if p.startswith("."))
        # (node, where, when) to check in module scope; ``when`` is the position of the cell whose run executes the
        # node, None for code that runs when the grader calls it (after every cell): a global name in it can only
        # be bound by the cells run so far.
        self.queue: list[tuple[ast.AST, str, int | None]] = []
        self.followed: set[tuple[str, int | None]] = set()
        self.stack: list[_Scope] = []
        self.where = ""
        self.when: int | None = None
        self.resolving: set[tuple[int, str, object]] = set()  # names being resolved now: a cycle ends there

    def run(self) -> Violation | None:
        try:
            self._start()
            while self.queue:
                node, self.where, self.when = self.queue.pop()
                self.stack = [_Scope("module")]
                self.visit(node)
        except _Found as found:
            return found.violation
        return None

    def _start(self) -> None:
        program, rules = self.program, self.rules
        entries = (rules.entry,) + rules.uses
        # Every statement of the question's own cells is checked; of any other cell (one the student added, a .py
        # script's single cell, a cell holding several questions' functions) only what the entry points reach,
        # followed below: another question's torch function beside them is that question's business. What such a
        # cell does at run time to what they use is the guard's (a numpy-only world has no torch at all).
        owned = set(rules.cells)
        if not any(b.student for _, b in program.bindings.get(rules.entry, [])) and program.rebinders:
            cell, line, what = program.rebinders[0]
            raise _Found(Violation("dynamic binding", what, line, f"cell {cell}",
                                   f"{rules.entry} is not defined by a def or an assignment the checker can read, "
                                   f"and {what} could define it where it cannot look"))
        for position, (cell_id, student, tree) in enumerate(program.cells):
            if student and cell_id in owned:
                self.queue += [(statement, _where(statement, cell_id), position) for statement in tree.body]
        for entry in entries:
            self._follow(entry)

    # -- names ---------------------------------------------------------------------------------------------------

    def _lookup(self, name: str) -> _Scope | None:
        """The scope ``name`` is local to, or None for a global (module or builtin) name."""
        innermost = len(self.stack) - 1
        for depth in range(innermost, -1, -1):
            scope = self.stack[depth]
            if scope.kind == "module" or name in scope.globals:
                return None
            if scope.kind == "class" and depth != innermost:
                continue  # a class body's names are not visible to the functions in it
            if name in scope.names and name not in scope.nonlocals:
                return scope
        return None

    def _live(self, name: str, when: int | None) -> list[tuple[int, _Binding]]:
        """The bindings of a global name that may be live at ``when`` (all of them at the grader's call)."""
        return [(position, binding) for position, binding in self.program.bindings.get(name, [])
                if when is None or position <= when]

    def _follow(self, name: str, line: int = 0) -> None:
        """A global name used by checked code: check every binding of it a student wrote that may be live then."""
        if (name, self.when) in self.followed:
            return
        self.followed.add((name, self.when))
        live = self._live(name, self.when)
        for position, binding in live:
            if binding.student:
                self.queue.append((binding.node, _where(binding.node, binding.cell), position))
        if not live and name not in KNOWN_NAMES and not self.program.star_modules and \
                not self.program.bindings.get(name) and not self.program.unparsed:
            # (bound only later: a NameError when it runs, no more; with a cell Python cannot read, the name may
            # be its, and running it fails with the SyntaxError the student needs to hear, not a finding)
            raise _Found(Violation("undefined", name, line, self.where or "the notebook",
                                   f"{name} is defined in no cell (or only in a way the checker cannot read)"))

    def _global_paths(self, name: str, depth: int = 0) -> list[str]:
        """The dotted module paths a global name stands for (now): through its imports and its aliases."""
        live = self._live(name, self.when)
        paths = []
        for position, binding in live:
            if binding.module is not None:
                paths.append(binding.module)
            elif binding.value is not None:
                paths += self._resolving((0, name, id(binding)), depth,
                                         lambda b=binding, p=position: self._value_paths(b.value, [_Scope("module")],
                                                                                       depth + 1, p))
        if not self.program.bindings.get(name) and name not in KNOWN_NAMES:  # (builtins taken as builtins)
            paths += [f"{module}.{name}" for module in self.program.star_modules]
        return paths

    def _value_paths(self, value: ast.expr, stack: list[_Scope], depth: int, when: int | None | bool = False
                     ) -> list[str]:
        """The dotted paths an expression names: a name or attribute chain rooted at a module (evaluated at
        ``when``, a cell's position; by default now)."""
        parts: list[str] = []
        node = value
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Call) and _constant_getattr(node):
            return [f"{p}.{node.args[1].value}" + "".join(f".{a}" for a in reversed(parts))  # type: ignore[attr-defined]
                    for p in self._value_paths(node.args[0], stack, depth + 1, when)]
        if not isinstance(node, ast.Name):
            return []
        saved, self.stack = self.stack, stack
        saved_when = self.when
        if when is not False:
            self.when = when  # type: ignore[assignment]
        try:
            roots = self._name_paths(node.id, depth)
        finally:
            self.stack, self.when = saved, saved_when
        suffix = "".join(f".{part}" for part in reversed(parts))
        return [root + suffix for root in roots]

    def _name_paths(self, name: str, depth: int) -> list[str]:
        scope = self._lookup(name)
        if scope is None:
            return self._global_paths(name, depth)
        index = self.stack.index(scope)
        paths = list(scope.imports.get(name, []))
        for value in scope.aliases.get(name, []):
            paths += self._resolving((id(scope), name, id(value)), depth,
                                     lambda v=value: self._value_paths(v, self.stack[:index + 1], depth + 1))
        return paths

    def _resolving(self, key: tuple[int, str, object], depth: int, paths: Callable[[], list[str]]) -> list[str]:
        """``paths()`` of one binding of a name, unless that binding is being resolved already (a cycle of
        assignments adds no module the chain's other bindings do not name: cut there) or the chain is longer than
        MAX_ALIAS_STEPS (fails closed)."""
        if key in self.resolving:
            return []
        if depth >= MAX_ALIAS_STEPS:
            raise _Found(Violation("alias chain", key[1], 0, self.where or "the notebook",
                                   f"{key[1]} is an alias more than {MAX_ALIAS_STEPS} steps deep: {UNFOLLOWABLE}"))
        self.resolving.add(key)
        try:
            return paths()
        finally:
            self.resolving.discard(key)

    # -- findings ------------------------------------------------------------------------------------------------

    def _check_path(self, path: str, node: ast.AST) -> None:
        broken = _path_rule(path, self.prefixes, self.rules.numpy_only) if not path.startswith(".") else None
        if broken is not None:
            raise _Found(Violation(broken[0], path, getattr(node, "lineno", 0), self.where, broken[1]))

    def _check_attribute_name(self, name: str, node: ast.AST) -> None:
        if name in self.methods:
            raise _Found(Violation("." + name, f".{name}()", getattr(node, "lineno", 0), self.where))
        if name in INTROSPECTION:
            raise _Found(Violation("introspection", f".{name}", getattr(node, "lineno", 0), self.where,
                                   UNFOLLOWABLE))

    # -- the walk ------------------------------------------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load) or self._lookup(node.id) is not None:
            return
        if node.id in DYNAMIC_BUILTINS and node.id not in self.program.bindings:
            raise _Found(Violation("dynamic lookup", f"{node.id}()", node.lineno, self.where, UNFOLLOWABLE))
        if node.id == "__builtins__":
            raise _Found(Violation("dynamic lookup", node.id, node.lineno, self.where, UNFOLLOWABLE))
        for path in self._global_paths(node.id):
            self._check_path(path, node)
        self._follow(node.id, node.lineno)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        for path in self._value_paths(node, self.stack, 0):
            self._check_path(path, node)
        self._check_attribute_name(node.attr, node)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        function = node.func
        if isinstance(function, ast.Name) and self._lookup(function.id) is None and \
                function.id not in self.program.bindings:
            if function.id in ("getattr", "setattr", "delattr", "hasattr") and _constant_getattr(node):
                name = node.args[1].value  # type: ignore[attr-defined]
                for path in self._value_paths(node.args[0], self.stack, 0):
                    self._check_path(f"{path}.{name}", node)
                self._check_attribute_name(name, node)
                for argument in node.args[:1] + node.args[2:] + [k.value for k in node.keywords]:
                    self.visit(argument)
                return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        """An import alone uses nothing: what it binds is checked where it is used (resolved through it)."""

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        """(As visit_Import.)"""

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            self.visit(default)
        if not isinstance(node, ast.Lambda):
            for decorator in node.decorator_list:
                self.visit(decorator)
        scope = getattr(node, "_dlgrade_scope", None)  # worked out once per function (cells are shared, _cell)
        if scope is None:
            scope = node._dlgrade_scope = _function_scope(node)  # type: ignore[union-attr]
        self.stack.append(scope)
        when, self.when = self.when, None  # its body runs when called: after every cell
        try:
            for statement in node.body if isinstance(node.body, list) else [node.body]:
                self.visit(statement)
        finally:
            self.stack.pop()
            self.when = when

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expression in node.decorator_list + node.bases + [k.value for k in node.keywords]:
            self.visit(expression)
        names, declared_global, declared_nonlocal, aliases, imported = _bound_here(list(node.body))
        self.stack.append(_Scope("class", names, declared_global, declared_nonlocal, aliases, imported))
        try:
            for statement in node.body:
                self.visit(statement)
        finally:
            self.stack.pop()

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        self.visit(node.generators[0].iter)
        targets = {name for generator in node.generators for name in _target_names(generator.target)}
        self.stack.append(_Scope("comprehension", targets))
        try:
            for index, generator in enumerate(node.generators):
                if index:
                    self.visit(generator.iter)
                for condition in generator.ifs:
                    self.visit(condition)
            for part in ("elt", "key", "value"):
                if getattr(node, part, None) is not None:
                    self.visit(getattr(node, part))
        finally:
            self.stack.pop()

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension


def _constant_getattr(node: ast.Call) -> bool:
    return len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)


def _matches(path: str, pattern: str) -> bool:
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern or path.startswith(pattern + ".")


def _where(node: ast.AST, cell: str) -> str:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    return f"cell {cell}"


def describe(rules: Rules) -> dict[str, Any]:
    """The rules as plain data (for the sandbox's run-time guard and for messages)."""
    return {"banned": list(rules.banned), "autograd": rules.autograd, "numpy_only": rules.numpy_only}
