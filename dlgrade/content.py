"""Where assignments come from: content packs, searched in order, the first holding an id wins.

A content pack is a folder holding ``assignments/<id>/<id>.ipynb`` (the nbgrader source notebook) and
``autograders/<id>.py`` (its suite), and optionally ``student_template/<id>/`` (committed releases). The six
assignments this project ships are one pack among others (the built-in pack: the project folder, or
$DLGRADE_ROOT). A course searches, in this order:

    1. the course folder itself, when it holds assignments/ and autograders/ (what `dlgrade new` writes);
    2. the folders named by ``content:`` in the course's dlgrade.yml (relative to the course), in order;
    3. the built-in pack (or the folder `dlgrade setup --project` named).

So a course's own assignment of the same id as a built-in one wins over it (an instructor adapting ``losses``
copies it into the course and edits it there); `dlgrade setup` and `dlgrade validate` say so when it happens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dlgrade import assignments
from dlgrade.errors import UsageError

__all__ = ["CONTENT_KEY", "POLICY_FILE", "Packs", "compose_course_file", "is_builtin", "is_pack", "packs_of"]

CONTENT_KEY = "content"  # the key of dlgrade.yml naming content folders
# The course's settings: its content folders (read here) and the service's policy (dlgrade.service.policy).
POLICY_FILE = "dlgrade.yml"
_SOURCE_TREE = Path(__file__).resolve().parent.parent  # this dlgrade's own checkout: the built-in pack, never a course


def is_pack(folder: Path) -> bool:
    """Whether ``folder`` holds assignments/ and autograders/."""
    return (folder / "assignments").is_dir() and (folder / "autograders").is_dir()


@dataclass(frozen=True)
class Packs:
    """Content packs in search order; ``builtin`` is the last one (the project's, or `setup --project`'s)."""

    roots: tuple[Path, ...]
    builtin: Path

    def ids(self) -> dict[str, Path]:
        """id -> the pack it is taken from (the first that holds it), every id of every pack."""
        found: dict[str, Path] = {}
        for root in self.roots:
            for assignment_id in assignments.known_ids(root):
                found.setdefault(assignment_id, root)
        return dict(sorted(found.items()))

    def root_of(self, assignment_id: str) -> Path:
        """The pack an assignment is taken from; UsageError naming the known ids when none holds it."""
        found = self.ids()
        if assignment_id not in found:
            raise UsageError(f"unknown assignment {assignment_id!r} (known: {', '.join(found) or 'none'})")
        return found[assignment_id]

    def load(self, assignment_id: str) -> assignments.Assignment:
        """The assignment from the first pack holding it; ``course_owned`` when that is not the built-in pack."""
        from dlgrade.course import load_assignment

        root = self.root_of(assignment_id)
        assignment = load_assignment(assignment_id, root)
        if root.resolve() != self.builtin.resolve():
            assignment = replace(assignment, course_owned=True)
        return assignment

    def shadowed(self) -> list[str]:
        """One line per id a pack takes over from a later one (the course's own beside a built-in one)."""
        lines, seen = [], {}
        for root in self.roots:
            for assignment_id in assignments.known_ids(root):
                if assignment_id in seen:
                    lines.append(f"{assignment_id}: {seen[assignment_id] / 'assignments' / assignment_id} is used; "
                                 f"it takes the place of {root / 'assignments' / assignment_id}")
                else:
                    seen[assignment_id] = root
        return lines


def _builtin_of(course_dir: Path) -> Path:
    """The built-in pack a set-up course was made with (`setup --project`), else the project's."""
    settings = course_dir / ".dlgrade" / "course.json"
    try:
        named = json.loads(settings.read_text(encoding="utf-8")).get("assignments_root")
    except (OSError, ValueError, AttributeError):
        named = None
    return Path(named) if named else assignments.PROJECT_ROOT


def compose_course_file(course_dir: Path, error: type[UsageError] = UsageError) -> tuple[Path, Any]:
    """(path, its YAML node tree) of the course's dlgrade.yml, the tree None where there is no such file or it is
    empty; unreadable or not YAML is one ``error`` naming the file and the line. Nodes keep their line numbers,
    so each reader can name the line of a wrong value."""
    import yaml

    path = Path(course_dir) / POLICY_FILE
    if not path.exists() and not path.is_symlink():  # a folder or a dangling link by that name is unreadable
        return path, None
    try:
        return path, yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError) as problem:
        raise error(f"{path}: unreadable ({problem})") from None
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        what = getattr(problem, "problem", None) or str(problem).splitlines()[0]
        raise error(f"{path}{line}: not valid YAML ({what})") from None


def content_folders(course_dir: Path) -> list[Path]:
    """The folders dlgrade.yml's ``content:`` names (a list of paths, relative to the course), each checked to be
    a content pack; a problem is one UsageError naming the file, the line and what to write instead."""
    import yaml

    path, root = compose_course_file(course_dir)
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if getattr(key, "value", None) != CONTENT_KEY:
            continue
        where = f"{path}, line {value.start_mark.line + 1}: {CONTENT_KEY}"
        items = value.value if isinstance(value, yaml.SequenceNode) else None
        if items is None or not all(isinstance(item, yaml.ScalarNode) and item.value for item in items):
            raise UsageError(f"{where}: should be a list of folders, e.g. `content: [../shared-content]`")
        folders = []
        for item in items:
            folder = (course_dir / item.value).resolve()
            if not is_pack(folder):
                raise UsageError(f"{path}, line {item.start_mark.line + 1}: {CONTENT_KEY}: {folder} holds no "
                                 "assignments/ and autograders/ folders (a content folder holds "
                                 "assignments/<id>/<id>.ipynb and autograders/<id>.py)")
            folders.append(folder)
        return folders
    return []


def is_builtin(folder: Path) -> bool:
    """Whether ``folder`` is the built-in pack (this dlgrade's own checkout, or $DLGRADE_ROOT): content that ships
    with dlgrade, never a course's own."""
    resolved = Path(folder).resolve()
    return resolved in (_SOURCE_TREE, Path(assignments.PROJECT_ROOT).resolve())


def packs_of(course_dir: Path | None, builtin: Path | None = None) -> Packs:
    """The packs a course searches (see the module's docstring); ``course_dir`` None: the built-in pack alone.
    ``builtin``: the last pack (default: the one the course was set up with, else the project's)."""
    if course_dir is None:
        base = Path(builtin or assignments.PROJECT_ROOT)
        return Packs((base,), base)
    course_dir = Path(course_dir).resolve()
    base = Path(builtin) if builtin is not None else _builtin_of(course_dir)
    roots: list[Path] = []
    if is_pack(course_dir) and not is_builtin(course_dir):
        roots.append(course_dir)
    roots += content_folders(course_dir)
    roots.append(base)
    unique: list[Path] = []
    for root in roots:
        if all(root.resolve() != kept.resolve() for kept in unique):
            unique.append(root)
    return Packs(tuple(unique), base)
