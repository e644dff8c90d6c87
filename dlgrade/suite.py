"""What an autograder suite declares: per question, the entry point, its cases, the reference, the tolerance,
banned APIs and the catalog of known mistakes. Declarative data only: suites know nothing of sandboxes.

Points are not declared here: they live once, in the grade cell of the assignment's nbgrader source notebook
(``points`` in its metadata), where nbgrader and formgrader read them too. A question's ``name`` is that grade
cell's ``grade_id``; its ``cell`` is the grade_id of the solution cell that defines the entry point.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dlgrade.errors import UsageError
from dlgrade.sandbox.protocol import TensorArg

# Warm-up snippets a suite composes into its ``warm_up`` (see Suite): first calls that import lazily.
WARM_UP_OPTIMIZERS = """\
_layer = torch.nn.Linear(2, 1).double()
for _optimizer in (torch.optim.SGD(_layer.parameters(), lr=0.1), torch.optim.Adam(_layer.parameters())):
    _optimizer.zero_grad()
    torch.nn.functional.mse_loss(_layer(torch.ones(1, 2, dtype=torch.float64)).squeeze(1),
                                 torch.zeros(1, dtype=torch.float64)).backward()
    _optimizer.step()
"""
WARM_UP_DATA = """\
from torch.utils.data import DataLoader, TensorDataset
list(DataLoader(TensorDataset(torch.ones(2, 1)), batch_size=1, shuffle=True,
                generator=torch.Generator().manual_seed(0)))
"""
WARM_UP_DISTRIBUTIONS = """\
torch.distributions.Weibull(torch.ones(1), torch.ones(1)).log_prob(torch.ones(1))
torch.distributions.Exponential(torch.ones(1)).log_prob(torch.ones(1))
"""

__all__ = ["Case", "Mistake", "Question", "Suite", "SuiteError", "TensorArg", "Verdict", "no_cases",
           "too_large_to_judge"]


class SuiteError(UsageError):
    """A suite is not written right: one line naming the question (or mistake) and what to write instead."""

# A judge evaluates the model a student returned (its weights) on the trusted side, on a test set of about a
# thousand points: the model's size is the student's choice, so the judge evaluates none beyond these (a layer of
# 100k units alone took 1.9 GB there). The course's models have tens of units and a few thousand parameters.
MAX_JUDGED_PARAMETERS = 1 << 20
MAX_JUDGED_WIDTH = 4096


@dataclass(frozen=True)
class Case:
    """One call of the student's entry point with plain-data arguments (numpy float64/int64/bool, numbers,
    strings, lists, tuples, dicts; wrap an array in TensorArg to hand it over as a torch tensor)."""

    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""  # how the case is named in feedback, e.g. "reduction='sum'"

    def call(self, function: Callable[..., Any]) -> Any:
        """function(*args, **kwargs) on deep copies of the case's arguments, TensorArgs as plain arrays: how the
        trusted side runs references and mistake variants, which may then not alter the case."""
        args, kwargs = fresh_copy(self.args), fresh_copy(dict(self.kwargs))
        if getattr(function, "takes_tensor_args", False):  # a notebook cell's code: it gets tensors as a student's
            return function(*args, **kwargs)
        return function(*unwrap_tensors(args), **unwrap_tensors(kwargs))

    def describe(self) -> str:
        return self.label or ", ".join([_short(a) for a in self.args] + [f"{k}={_short(v)}" for k, v in
                                                                        self.kwargs.items()])


def fresh_copy(value: Any) -> Any:
    """copy.deepcopy of a case's plain data, with its common parts (arrays, numbers, strings, containers of them)
    copied directly: it runs for every reference and variant call, and deepcopy's general machinery cost more
    than the calls themselves."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return value.copy()
    if isinstance(value, TensorArg):
        return TensorArg(fresh_copy(value.array))
    if type(value) in (tuple, list):
        return type(value)(fresh_copy(item) for item in value)
    if type(value) is dict:
        return {key: fresh_copy(item) for key, item in value.items()}
    if value is None or type(value) in (bool, int, float, complex, str, bytes) or isinstance(value, np.generic):
        return value
    return copy.deepcopy(value)


def map_tensor_args(value: Any, leaf: Callable[[TensorArg], Any]) -> Any:
    """The same data (tuples, lists and dicts rebuilt) with every TensorArg replaced by leaf(it)."""
    if isinstance(value, TensorArg):
        return leaf(value)
    if isinstance(value, tuple | list):
        return type(value)(map_tensor_args(item, leaf) for item in value)
    if isinstance(value, dict):
        return {key: map_tensor_args(item, leaf) for key, item in value.items()}
    return value


def unwrap_tensors(value: Any) -> Any:
    """The same data with every TensorArg replaced by its array (the trusted side computes in numpy)."""
    return map_tensor_args(value, lambda tensor: tensor.array)


def _short(value: Any) -> str:
    if isinstance(value, TensorArg):
        value = value.array
    if isinstance(value, np.ndarray):
        return f"array{value.shape}"
    return repr(value)


@dataclass(frozen=True)
class Mistake:
    """A known wrong variant of the reference: same call signature, and the words that name it to a student.

    ``edits``: (old, new) text replacements that turn the question's solution cell (as the notebook holds it,
    without the BEGIN/END SOLUTION marker lines) into the cell a student who makes this mistake writes; each old
    text must occur exactly once. The suite derives ``solution`` from them when it is bound to its notebook, so a
    solution is written once, in the notebook. ``solution`` given instead: that very cell's source.
    ``compute``: the variant, called like the reference, run on the trusted side to recognise a student's answer;
    when omitted it is the edited cell itself, run there (with the notebook's cells before it).
    CI grades the instructor solution with the mistake's cell swapped in and expects this very diagnosis.
    """

    name: str
    feedback: str
    compute: Callable[..., Any] | None = None
    solution: str = ""
    edits: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        edits = self.edits
        if isinstance(edits, tuple | list) and len(edits) == 2 and all(isinstance(t, str) for t in edits):
            edits = (tuple(edits),)  # one (old, new) pair given without the enclosing list
        if not isinstance(edits, tuple | list) or not all(
                isinstance(edit, tuple | list) and len(edit) == 2 and all(isinstance(t, str) for t in edit)
                for edit in edits):
            raise SuiteError(f"mistake {self.name!r}: edits must be a list of (old, new) pairs of texts, e.g. "
                             "edits=[(\"np.mean(\", \"np.sum(\")]")
        object.__setattr__(self, "edits", tuple(tuple(edit) for edit in edits))
        if not self.name or not isinstance(self.name, str) or not self.feedback:
            raise SuiteError(f"mistake {self.name!r}: give it a name and the feedback that names it to a student")


def too_large_to_judge(shapes: Sequence[tuple[int, ...]]) -> str | None:
    """Why a model whose weights have these shapes is too large for a judge to evaluate, or None: at most
    MAX_JUDGED_PARAMETERS numbers in all, no layer wider than MAX_JUDGED_WIDTH (a test set's activations
    through a layer take its width times the set's size)."""
    parameters = sum(int(np.prod(shape, dtype=object)) for shape in shapes)
    width = max((max(shape) for shape in shapes if shape), default=0)
    if parameters <= MAX_JUDGED_PARAMETERS and width <= MAX_JUDGED_WIDTH:
        return None
    return (f"the model is too large to evaluate ({parameters:,} parameters, a layer of {width:,} units): the judge "
            f"evaluates models of at most {MAX_JUDGED_PARAMETERS:,} parameters and {MAX_JUDGED_WIDTH:,} units a "
            "layer, far more than this exercise needs")


@dataclass(frozen=True)
class Verdict:
    """A custom judge's decision on one case (for answers not compared element-wise, e.g. a model's accuracy)."""

    passed: bool
    message: str = ""


def no_cases(rng: np.random.Generator) -> Sequence[Case]:
    """A hidden-case generator with no cases."""
    return ()


Kind = Literal["function", "variable"]
DtypeFamily = Literal["float", "int", "bool", "number", "any"]


@dataclass(frozen=True)
class Question:
    """One graded question.

    reference(*case.args, **case.kwargs) gives the expected answer (array, number, tuple or dict of them), or,
    with a ``harness``, reference receives the same arguments the harness gets after the student's entry point.
    """

    name: str
    cell: str
    entry: str
    reference: Callable[..., Any]
    public: Callable[[], Sequence[Case]]
    hidden: Callable[[np.random.Generator], Sequence[Case]] = no_cases
    kind: Kind = "function"
    rtol: float = 1e-7
    atol: float = 1e-10
    dtype: DtypeFamily = "float"
    output_names: tuple[str, ...] = ()
    banned: tuple[str, ...] = ()
    mistakes: tuple[Mistake, ...] = ()
    # Name of a function in the suite's harness source: harness(entry_object, *args, **kwargs) runs in the
    # worker and returns plain data (used for classes and training loops).
    harness: str | None = None
    # False runs the student's call with torch's autograd switched off ("by hand" exercises).
    autograd: bool = True
    # True: the question is answered by a child in which no Python package but numpy exists (torch, scipy,
    # scikit-learn cannot be imported, whatever the code does), and no module but numpy and the standard library
    # may be used. For questions whose rules say "in numpy"; their cases pass plain arrays (no TensorArg).
    numpy_only: bool = False
    check_mutation: bool = True
    # How far an input may come back from where it went (relative and absolute), for a function that perturbs
    # its input and restores it (x[i] += eps ... x[i] -= eps leaves a rounding error): 0, exactly as it went.
    mutation_tolerance: float = 0.0
    # A second, independent oracle (e.g. central differences or torch autograd) the answer must also match.
    cross_check: Callable[..., Any] | None = None
    # Custom judgement instead of element-wise comparison: judge(case, answer) -> Verdict.
    judge: Callable[[Case, Any], Verdict] | None = None
    timeout: float = 20.0
    # Names of other questions whose entry points this one calls (a mistake there may cost points here too).
    uses: tuple[str, ...] = ()
    hint: str = ""  # one line shown with a failure that matches no known mistake
    # Per-student numbers (a scheme of dlgrade.checking.student_numbers): a hand-computed question whose answer
    # derives from the student's own numbers. Its one public case holds the lecture's numbers as keyword
    # arguments (the worked example, what a release bakes the answer's form from); the grader calls reference
    # and mistakes with the graded student's numbers instead.
    numbers: str | None = None

    @property
    def by_hand(self) -> bool:
        """Its rules restrict what its code may use (banned APIs, autograd off, numpy only): checked statically
        (dlgrade/banned.py) and enforced while its cells and calls run (dlgrade/sandbox/guard.py)."""
        return bool(self.banned) or not self.autograd or self.numpy_only

    def __post_init__(self) -> None:
        names = [m.name for m in self.mistakes]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise SuiteError(f"question {self.name!r}: two mistakes are named {twice[0]!r}; give each its own name")
        if self.kind == "variable" and self.public and not self.public():
            raise SuiteError(f"question {self.name!r}: a variable question needs one public case (no arguments): "
                             "public=lambda: [Case(label=...)]")
        if self.numbers is not None:
            from dlgrade.checking.student_numbers import SCHEMES

            if self.kind != "variable" or self.numbers not in SCHEMES:
                raise SuiteError(f"question {self.name!r}: per-student numbers are for hand-computed (variable) "
                                 f"questions, from a known scheme ({', '.join(SCHEMES)}), not {self.numbers!r}")


@dataclass(frozen=True)
class Suite:
    """An assignment's autograder: its questions, in notebook order, and the harness code run in the worker."""

    assignment: str
    questions: tuple[Question, ...]
    harness_source: str = ""
    # Code the sandbox's fork server runs once, before it forks any child: the calls this assignment's students
    # make whose first use loads modules lazily (torch.optim's step pulls in torch._dynamo, ~0.7 s of CPU; a
    # distribution's log_prob pulls in sympy, ~0.4 s), so each child inherits them instead of paying again.
    # ``torch`` and ``np`` are in scope; an exception is ignored (warming is only ever about speed).
    warm_up: str = ""

    # The assignment's source notebook: given, the suite is bound to it at once (each mistake's solution and, where
    # not written, its compute derived from the solution cell and its edits); else `assignments.load` binds it.
    notebook: Path | None = None

    def __post_init__(self) -> None:
        names = [q.name for q in self.questions]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise SuiteError(f"two questions are named {twice[0]!r}: each question is one grade cell of the "
                             "notebook, with its own grade_id")
        if len({q.numbers for q in self.questions if q.numbers}) > 1:
            raise SuiteError(f"suite {self.assignment}: one scheme of per-student numbers per assignment")
        if self.notebook is not None:
            from dlgrade.solution_cells import bind_mistakes

            object.__setattr__(self, "questions", bind_mistakes(self, Path(self.notebook)))

    @property
    def numbers_scheme(self) -> str | None:
        """The scheme of the student's own numbers, when a question asks for them (one set per assignment)."""
        return next((q.numbers for q in self.questions if q.numbers), None)

    @property
    def bound(self) -> bool:
        """Whether every mistake has its solution and its compute (the suite was bound to its notebook)."""
        return all(m.compute is not None and m.solution for q in self.questions for m in q.mistakes)

    def bound_to(self, notebook: Path) -> Suite:
        """This suite bound to ``notebook`` (see ``notebook``); itself when already bound."""
        return self if self.notebook is not None else replace(self, notebook=Path(notebook))

    def question(self, name: str) -> Question:
        for question in self.questions:
            if question.name == name:
                return question
        raise KeyError(f"{self.assignment} has no question {name!r}")

    @property
    def version(self) -> str:
        """A fingerprint of the suite's code: results are keyed by it, so a changed suite regrades. The same in
        every process and on every machine: the modules are hashed in the order of their names (a set's order
        follows the interpreter's string hashing, which PYTHONHASHSEED changes)."""
        return suite_version(self)


def suite_version(suite: Suite) -> str:
    """sha256 of the assignment's name, its harness and the source of every module its questions' cases and its
    reference come from, taken in the order of the modules' names; 16 hex digits."""
    sources = [q.public for q in suite.questions] + [q.reference for q in suite.questions[:1]]
    modules = {module.__name__: module for module in map(inspect.getmodule, sources) if module is not None}
    if suite.numbers_scheme:  # the students' numbers are part of what a result means
        from dlgrade.checking import student_numbers

        modules[student_numbers.__name__] = student_numbers
    parts = [suite.assignment, suite.harness_source] + [inspect.getsource(modules[name]) for name in sorted(modules)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
