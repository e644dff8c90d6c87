"""Which child answers a question, and what a by-hand question's rules mean to the grader.

A question is answered in a *world*, by a child of its own per submission that runs the whole notebook: the torch
sandbox as it is (open questions); the torch sandbox with the question's rules put in force by the child's guard
(dlgrade/sandbox/guard.py) before any cell runs (by-hand questions that need torch); or the numpy-only sandbox, in
which no Python package but numpy exists (numpy_only questions). Questions of one world share its child. The
static check (dlgrade/banned.py) reads the same rules first; a rule broken at run time leaves a ForbiddenAPI (or
ForbiddenModule) line in the error of the cell or call that broke it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dlgrade.banned import Rules
from dlgrade.suite import Question, Suite


@dataclass(frozen=True)
class World:
    """Where a question's cells run and its calls are answered (see the module's docstring)."""

    numpy_only: bool = False
    banned: tuple[str, ...] = ()
    autograd: bool = True

    @classmethod
    def of(cls, question: Question) -> World:
        if question.numpy_only:
            return cls(numpy_only=True)
        return cls(banned=tuple(sorted(set(question.banned))), autograd=question.autograd)

    @property
    def policy(self) -> dict[str, Any] | None:
        """The guard's policy for a guarded torch child; None for the other worlds."""
        if self.numpy_only or (not self.banned and self.autograd):
            return None
        return {"banned": list(self.banned), "autograd": self.autograd}


def worlds(suite: Suite) -> list[tuple[World, list[Question]]]:
    """The suite's questions grouped by world, in the order of their first questions but the open world last: a
    guarded child then runs before any unguarded child of the same submission in the same sandbox could have left
    it anything."""
    grouped: dict[World, list[Question]] = {}
    for question in suite.questions:
        grouped.setdefault(World.of(question), []).append(question)
    return sorted(grouped.items(), key=lambda item: item[0] == World())


def question_rules(suite: Suite | None, question: Question) -> Rules:
    """A question's rules for the static check: what it bans, and the cells it owns (its solution cell and those of
    the questions whose entry points it uses)."""
    used = [suite.question(name) for name in question.uses] if suite is not None else []
    return Rules(entry=question.entry, banned=question.banned, autograd=question.autograd,
                 numpy_only=question.numpy_only, cells=(question.cell, *(q.cell for q in used)),
                 uses=tuple(q.entry for q in used))


# The line a rule broken at run time leaves in an error (guard.py's exceptions print under these names).
REFUSED = re.compile(r"^(?:ForbiddenAPI|ForbiddenModule): .+$", re.M)


def refused_at_run_time(cell_errors: Mapping[str, str], rules: Rules, call_errors: Sequence[str]) -> str | None:
    """What the question's own cells (when they ran) or calls were refused, in words; None if nothing was."""
    for cell in rules.cells:
        found = REFUSED.search(cell_errors.get(cell, ""))
        if found:
            return f"cell {cell}, when it ran: {found.group(0)[:400]}"
    for error in call_errors:
        found = REFUSED.search(error)
        if found:
            return f"{rules.entry}, when it was called: {found.group(0)[:400]}"
    return None
