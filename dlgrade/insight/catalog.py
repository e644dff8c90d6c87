"""The course's own known mistakes: <course>/mistakes.yml, beside the suites' built-in catalogs.

    # written by `dlgrade mistakes add`; edit a feedback text freely, then rerun `dlgrade autograde ID`
    losses:                          # assignment
      mse:                           # question
      - name: squared_twice          # letters, digits, _ and -; not one of the suite's own mistake names
        feedback: your loss squares the difference twice ...
        probe_set: 5d0c0e4b6f1e2a93  # the probe set the behaviours were taken on (dlgrade.insight.probes)
        behaviours: [9a1f03c2d4b5e6f7]  # signatures of the cluster it was named from

A course mistake is defined by behaviour, not by code: a submission that failed the question without a known
mistake of the suite, and whose answers on the probe set have one of these signatures, made it. Naming it changes
feedback only (the page, results.json and autograde's table), never a score, and needs no regrading: the stored
probe answers are compared. The suite's catalog always comes first. A problem in the file is one line naming the
file, the line and the key.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from dlgrade.assignments import Assignment
from dlgrade.errors import UsageError
from dlgrade.grading import QuestionResult, SubmissionResult
from dlgrade.insight.probes import PROBED_STATUSES
from dlgrade.suite import Mistake

MISTAKES_FILE = "mistakes.yml"
LOCK_FILE = "mistakes.lock"  # in <course>/.dlgrade: one `mistakes add/remove` at a time
KEYS = ("name", "feedback", "probe_set", "behaviours")
MAX_FEEDBACK = 2000
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,59}$")
_HEX = re.compile(r"^[0-9a-f]{16}$")
HEADER = """\
# The course's own known mistakes, beside the suites' catalogs: `dlgrade mistakes add|remove|list`.
# Each is defined by a cluster's behaviour on the course's probe set (dlgrade report); its feedback is named in
# the feedback of every student who behaves so (after the next `dlgrade autograde`), and no score changes.
# Edit a feedback text freely; keep probe_set and behaviours as written.
"""


class CatalogError(UsageError):
    """mistakes.yml cannot be used; the message names the file, the line and the key."""


@dataclass(frozen=True)
class CourseMistake:
    """One course-level known mistake of a question, and where it is written."""

    assignment: str
    question: str
    name: str
    feedback: str
    probe_set: str
    behaviours: tuple[str, ...]
    line: int = 0


@dataclass(frozen=True)
class NamedMistake(Mistake):
    """A course mistake as a diagnosis: a Mistake without a variant (it is recognised by behaviour)."""

    origin: str = "course"


def _no_variant(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("a course mistake has no variant: it is recognised by its behaviour on the probe set")


# ---- reading, with a line for every problem ----------------------------------------------------------------


def _fail(path: Path, node: yaml.Node | None, message: str) -> CatalogError:
    line = node.start_mark.line + 1 if node is not None else 1
    return CatalogError(f"{path}, line {line}: {message}")


def _pairs(path: Path, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(path, node, f"{what} must be a mapping")
    found, seen = [], set()
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode) or not key.value:
            raise _fail(path, key, f"{what}: a key must be a plain name")
        if key.value in seen:
            raise _fail(path, key, f"{what}: {key.value!r} appears twice")
        seen.add(key.value)
        found.append((key.value, key, value))
    return found


def _text(path: Path, node: yaml.Node, where: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str" or not node.value.strip():
        raise _fail(path, node, f"{where} must be non-empty text")
    return node.value


def _entry(path: Path, assignment: str, question: str, index: int, node: yaml.Node) -> CourseMistake:
    where = f"{assignment}.{question}[{index}]"
    fields = {key: (key_node, value) for key, key_node, value in _pairs(path, node, where)}
    for key, (key_node, _value) in fields.items():
        if key not in KEYS:
            raise _fail(path, key_node, f"unknown key {key!r} in {where} (known: {', '.join(KEYS)})")
    for key in KEYS:
        if key not in fields:
            raise _fail(path, node, f"{where}: missing key {key!r}")
    name = _text(path, fields["name"][1], f"{where}.name")
    if not _NAME.match(name):
        raise _fail(path, fields["name"][1], f"{where}.name {name!r}: use letters, digits, _ and - (at most 60), "
                                             "starting with a letter")
    feedback = _text(path, fields["feedback"][1], f"{where}.feedback")
    if len(feedback) > MAX_FEEDBACK:
        raise _fail(path, fields["feedback"][1], f"{where}.feedback is longer than {MAX_FEEDBACK} characters")
    probe_set = _text(path, fields["probe_set"][1], f"{where}.probe_set")
    if not _HEX.match(probe_set):
        raise _fail(path, fields["probe_set"][1], f"{where}.probe_set must be 16 hex digits, as written by "
                                                  "`dlgrade mistakes add`")
    behaviours_node = fields["behaviours"][1]
    if not isinstance(behaviours_node, yaml.SequenceNode) or not behaviours_node.value:
        raise _fail(path, behaviours_node, f"{where}.behaviours must be a non-empty list")
    behaviours = []
    for item in behaviours_node.value:
        value = _text(path, item, f"{where}.behaviours")
        if not _HEX.match(value):
            raise _fail(path, item, f"{where}.behaviours: {value!r} is not 16 hex digits")
        behaviours.append(value)
    return CourseMistake(assignment, question, name, feedback, probe_set, tuple(dict.fromkeys(behaviours)),
                         node.start_mark.line + 1)


@dataclass(frozen=True)
class Catalog:
    """Every course mistake of mistakes.yml (empty when there is no such file)."""

    path: Path
    mistakes: tuple[CourseMistake, ...] = ()

    @classmethod
    def load(cls, course_root: Path, assignment_ids: Iterable[str] | None = None) -> Catalog:
        """The course's catalog, checked: its structure, its keys and values, its assignments (among
        ``assignment_ids``, the course's set-up assignments, when given), duplicate names."""
        path = Path(course_root) / MISTAKES_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path)
        except (OSError, UnicodeDecodeError) as error:
            raise CatalogError(f"{path}: unreadable ({error})") from None
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
            line = mark.line + 1 if mark is not None else 1
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise CatalogError(f"{path}, line {line}: not valid YAML ({problem})") from None
        if root is None:
            return cls(path)
        known = set(assignment_ids) if assignment_ids is not None else None
        mistakes = []
        for assignment, key, questions in _pairs(path, root, "the file"):
            if known is not None and assignment not in known:
                raise _fail(path, key, f"unknown assignment {assignment!r} (set up: {', '.join(sorted(known))})")
            for question, _question_key, entries in _pairs(path, questions, assignment):
                if not isinstance(entries, yaml.SequenceNode):
                    raise _fail(path, entries, f"{assignment}.{question} must be a list of mistakes")
                names: set[str] = set()
                for index, node in enumerate(entries.value):
                    mistake = _entry(path, assignment, question, index, node)
                    if mistake.name in names:
                        raise _fail(path, node, f"{assignment}.{question}: the name {mistake.name!r} is used twice")
                    names.add(mistake.name)
                    mistakes.append(mistake)
        return cls(path, tuple(mistakes))

    def of(self, assignment: Assignment) -> AssignmentCatalog:
        """The assignment's course mistakes, checked against its suite: a question it has, a name its catalog
        does not already use."""
        own = [m for m in self.mistakes if m.assignment == assignment.id]
        for mistake in own:
            try:
                question = assignment.suite.question(mistake.question)
            except KeyError:
                raise CatalogError(f"{self.path}, line {mistake.line}: {mistake.assignment} has no question "
                                   f"{mistake.question!r} (questions: {', '.join(assignment.points)})") from None
            if mistake.name in {m.name for m in question.mistakes}:
                raise CatalogError(f"{self.path}, line {mistake.line}: {mistake.assignment}.{mistake.question}: "
                                   f"{mistake.name!r} is already a known mistake of the suite; name it otherwise")
        return AssignmentCatalog(assignment, tuple(own))

    def with_mistake(self, mistake: CourseMistake) -> Catalog:
        return replace(self, mistakes=self.mistakes + (mistake,))

    def without(self, assignment_id: str, question: str, name: str) -> Catalog:
        kept = tuple(m for m in self.mistakes
                     if (m.assignment, m.question, m.name) != (assignment_id, question, name))
        if len(kept) == len(self.mistakes):
            raise UsageError(f"{assignment_id}.{question} has no course mistake {name!r} in {self.path} "
                             f"(`dlgrade mistakes list {assignment_id}` shows them)")
        return replace(self, mistakes=kept)

    def dumps(self) -> str:
        """The catalog as YAML, assignments, questions and mistakes in the order they were added."""
        data: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for m in self.mistakes:
            data.setdefault(m.assignment, {}).setdefault(m.question, []).append(
                {"name": m.name, "feedback": m.feedback, "probe_set": m.probe_set, "behaviours": list(m.behaviours)})
        body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110) if data else ""
        return HEADER + body

    def save(self) -> Path | None:
        """Write the catalog; where the file held comments of the instructor's (YAML is written anew, without
        them), first a copy of it as it was, beside it: its path, for the command to say."""
        from dlgrade.course import write_atomic

        before = self.path.read_text(encoding="utf-8") if self.path.is_file() else ""
        header = set(HEADER.splitlines())
        kept = None
        if any("#" in line for line in before.splitlines() if line not in header):
            kept = self.path.with_name(self.path.name + ".before-edit")
            write_atomic(kept, before)
        write_atomic(self.path, self.dumps())
        return kept


@contextlib.contextmanager
def editing(course_root: Path, state: Path) -> Iterator[None]:
    """One edit of mistakes.yml at a time (the lock dies with its process)."""
    state.mkdir(parents=True, exist_ok=True)
    with open(state / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# ---- naming them in results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssignmentCatalog:
    """The course mistakes of one assignment, as autograde, feedback and the report apply them."""

    assignment: Assignment
    mistakes: tuple[CourseMistake, ...] = ()

    def match(self, question: QuestionResult) -> CourseMistake | None:
        """The course mistake a question's result shows: failed without a known mistake of the suite, with stored
        probe answers on the mistake's probe set and one of its behaviours."""
        if question.diagnosis is not None or question.probe is None or question.status not in PROBED_STATUSES:
            return None
        for mistake in self.mistakes:
            if mistake.question == question.name and mistake.probe_set == question.probe.key and \
                    question.probe.signature in mistake.behaviours:
                return mistake
        return None

    def apply(self, result: SubmissionResult) -> SubmissionResult:
        """The result with each course mistake it shows named as the question's diagnosis and in its feedback
        (in place of the question's generic hint); scores, statuses and cases as they were."""
        if not self.mistakes:
            return result
        questions = []
        for question in result.questions:
            mistake = self.match(question)
            if mistake is None:
                questions.append(question)
                continue
            lines = question.feedback.split("\n")
            hint = self.assignment.suite.question(question.name).hint
            lines = [line for line in lines if not (hint and line == f"Hint: {hint}")]
            lines.insert(1, f"Known mistake ({mistake.name}): {mistake.feedback}")
            questions.append(replace(question, diagnosis=NamedMistake(mistake.name, mistake.feedback, _no_variant,
                                                                      ""), feedback="\n".join(lines)))
        return replace(result, questions=tuple(questions))

    def stamp(self, result: SubmissionResult) -> str:
        """What of the catalog a result's feedback shows (the mistakes named, with their words): feedback written
        under another stamp is out of date. Empty when none applies."""
        named = [(q.name, m.name, m.feedback) for q in result.questions if (m := self.match(q)) is not None]
        if not named:
            return ""
        return hashlib.sha256(repr(named).encode()).hexdigest()[:16]


def origin(mistake: Mistake) -> str:
    """Where a diagnosis comes from: the suite's catalog or the course's."""
    return "course" if isinstance(mistake, NamedMistake) else "suite"
