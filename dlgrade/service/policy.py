"""The course's submission policy, per assignment, from <course>/dlgrade.yml (PyYAML).

    defaults:                  # every assignment set up in the course, unless it says otherwise
      per_day: 10              # graded submissions per student in any 24 hours (null: no limit)
      counts: last             # which graded submission is the grade: last | best
      hidden: per-question     # what a student sees of hidden cases: score | per-question | full
    assignments:
      losses:
        deadline: 2030-01-15 23:59 +01:00   # with its UTC offset; written to nbgrader's gradebook (duedate)
        late: accept           # after the deadline: accept (nbgrader's late penalty applies) | refuse
        accept_until: 2030-01-17 23:59 +01:00   # late submissions end here (optional)
        open: true             # false: no submissions at all
    service:
      max_upload_mb: 20        # the largest notebook accepted (the engine grades up to 20 MB)

The late penalty itself is nbgrader's (c.LateSubmissionPlugin.penalty_method / AssignLatePenalties.plugin_class in
nbgrader_config.py) and per-student extensions are nbgrader's too: the service records a late submission with its
timestamp and nbgrader's plugin decides. Without a deadline here, the gradebook's duedate (set with nbgrader) holds.

Any problem (bad YAML, an unknown key, a wrong value, an assignment the course does not have) is one PolicyError
naming the file, the line and the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from dlgrade.content import CONTENT_KEY, compose_course_file
from dlgrade.errors import UsageError
from dlgrade.notebook import MAX_SUBMISSION_BYTES

COUNTS = ("last", "best")
HIDDEN = ("score", "per-question", "full")
LATE = ("accept", "refuse")
DAY = 24 * 3600.0


class PolicyError(UsageError):
    """dlgrade.yml cannot be used; the message names the file, the line and the key."""


@dataclass(frozen=True)
class AssignmentPolicy:
    """What the service does with one assignment's submissions."""

    open: bool = True
    deadline: datetime | None = None  # timezone-aware; None: the gradebook's duedate, if any
    late: str = "accept"
    accept_until: datetime | None = None
    per_day: int | None = 10
    counts: str = "last"
    hidden: str = "per-question"


@dataclass(frozen=True)
class Policy:
    """The whole file: per assignment its policy, and the service's own settings."""

    assignments: dict[str, AssignmentPolicy] = field(default_factory=dict)
    max_upload_bytes: int = MAX_SUBMISSION_BYTES
    source: str = "(defaults)"

    def of(self, assignment_id: str) -> AssignmentPolicy:
        return self.assignments[assignment_id]


# ---- reading YAML with line numbers ---------------------------------------------------------------------------


def _where(path: Path, node: yaml.Node) -> str:
    return f"{path}, line {node.start_mark.line + 1}"


def _mapping(path: Path, node: yaml.Node, what: str,
             known: tuple[str, ...] | None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """key -> (key node, value node) of a mapping node; an unknown or repeated key is an error at its own line."""
    if not isinstance(node, yaml.MappingNode):
        raise PolicyError(f"{_where(path, node)}: {what} should be a mapping of keys to values")
    found: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            raise PolicyError(f"{_where(path, key_node)}: {what} has a key that is not a name")
        if known is not None and key not in known:
            raise PolicyError(f"{_where(path, key_node)}: unknown key {key!r} in {what} "
                              f"(known: {', '.join(known)})")
        if key in found:
            raise PolicyError(f"{_where(path, key_node)}: key {key!r} appears twice in {what}")
        found[key] = (key_node, value_node)
    return found


def _value(node: yaml.Node) -> Any:
    """A node's value as yaml.safe_load builds it."""
    return yaml.SafeLoader("").construct_object(node, deep=True)


def _when(path: Path, node: yaml.Node, key: str) -> datetime | None:
    value = _value(node)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise PolicyError(f"{_where(path, node)}: {key}: {value!r} is not a date and time "
                              "(write e.g. 2030-01-15 23:59 +01:00)") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        raise PolicyError(f"{_where(path, node)}: {key}: give a time and its UTC offset too "
                          f"(e.g. {value.isoformat()} 23:59 +01:00)")
    if not isinstance(value, datetime):
        raise PolicyError(f"{_where(path, node)}: {key}: {value!r} is not a date and time")
    if value.tzinfo is None or value.utcoffset() is None:
        raise PolicyError(f"{_where(path, node)}: {key}: {value} has no UTC offset: write it with one "
                          "(e.g. +01:00, or Z for UTC)")
    return value


_SETTINGS = ("open", "deadline", "late", "accept_until", "per_day", "counts", "hidden")


def _settings(path: Path, node: yaml.Node, what: str, base: AssignmentPolicy,
              allowed: tuple[str, ...] = _SETTINGS) -> AssignmentPolicy:
    changes: dict[str, Any] = {}
    nodes = _mapping(path, node, what, allowed)
    for key, (_, value_node) in nodes.items():
        where = f"{_where(path, value_node)}: {what}.{key}"
        value = _value(value_node)
        if key in ("deadline", "accept_until"):
            changes[key] = _when(path, value_node, f"{what}.{key}")
        elif key == "open":
            if not isinstance(value, bool):
                raise PolicyError(f"{where}: {value!r} should be true or false")
            changes[key] = value
        elif key == "per_day":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise PolicyError(f"{where}: {value!r} should be a whole number of submissions (0 or more), or "
                                  "null for no limit")
            changes[key] = value
        else:
            choices = {"late": LATE, "counts": COUNTS, "hidden": HIDDEN}[key]
            if value not in choices:
                raise PolicyError(f"{where}: {value!r} should be one of {', '.join(choices)}")
            changes[key] = value
    policy = replace(base, **changes)
    if policy.accept_until is not None:
        where = _where(path, nodes["accept_until"][0] if "accept_until" in nodes else node)
        if policy.deadline is None:
            raise PolicyError(f"{where}: {what}.accept_until without a deadline")
        if policy.accept_until < policy.deadline:
            raise PolicyError(f"{where}: {what}.accept_until is before the deadline")
    return policy


def load_policy(course_root: Path, assignment_ids: list[str]) -> Policy:
    """The policy of every assignment in ``assignment_ids`` (those set up in the course)."""
    path, root = compose_course_file(course_root, PolicyError)
    if root is None:  # no file, or an empty one
        policies = {name: AssignmentPolicy() for name in assignment_ids}
        return Policy(policies, source=str(path)) if path.exists() else Policy(policies)
    # CONTENT_KEY (the course's own content folders) is read by dlgrade.content, not by the policy.
    top = _mapping(path, root, "the file", ("defaults", "assignments", "service", CONTENT_KEY))
    defaults = AssignmentPolicy()
    if "defaults" in top:
        defaults = _settings(path, top["defaults"][1], "defaults", defaults,
                             tuple(k for k in _SETTINGS if k not in ("deadline", "accept_until")))
    policies = {name: defaults for name in assignment_ids}
    if "assignments" in top and _value(top["assignments"][1]) is not None:
        for name, (key_node, node) in _mapping(path, top["assignments"][1], "assignments", None).items():
            if name not in policies:
                raise PolicyError(f"{_where(path, key_node)}: assignments.{name}: not an assignment set up in this "
                                  f"course (set up: {', '.join(assignment_ids) or 'none'})")
            if _value(node) is not None:
                policies[name] = _settings(path, node, f"assignments.{name}", defaults)
    upload = MAX_SUBMISSION_BYTES
    if "service" in top and _value(top["service"][1]) is not None:
        for key, (_, node) in _mapping(path, top["service"][1], "service", ("max_upload_mb",)).items():
            value = _value(node)
            limit = MAX_SUBMISSION_BYTES / (1 << 20)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                    or not 0 < value <= limit:
                raise PolicyError(f"{_where(path, node)}: service.{key}: {value!r} should be a number of MB "
                                  f"above 0 and at most {limit:g} (the largest notebook the engine grades)")
            upload = int(value * (1 << 20))
    return Policy(policies, upload, str(path))
