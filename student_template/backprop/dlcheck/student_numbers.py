"""Per-student numbers for hand-computed questions: every student gets their own x, weights, target and learning
rate, so one student's answers are worth nothing to another.

    numbers = HMAC-SHA256 draws keyed by the assignment's numbers key, over the student's id (normalised), run
              through a scheme (scalar_network: lecture 8's small network) that rejects unusable draws
    key     = HMAC-SHA256(secret, "dlgrade per-student numbers" + assignment id): ``secret`` is the course's
              secret for a course's release (a new course gets new numbers), TEMPLATE_SECRET for the project's
              committed student_template/ and for a grader that is given no course

The key is released (dlcheck/checks.json) so that my_numbers() in the student's notebook computes the same numbers
the grader does without asking anyone; it is one-way from the course secret, so it reveals neither the secret nor
the hidden cases' seeds. Anyone holding the release can compute anyone's numbers (as with a table of everybody's
numbers), but never their answers: those the grader computes on its side, and nothing released contains them.

The draws are pure standard library (hmac, fractions), so a student's Python and numpy versions cannot change
them. This module is shared: the grader imports it, and a release ships it as dlcheck/numbers.py.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
import unicodedata
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

__all__ = ["SCHEMES", "STUDENT_VARIABLE", "TEMPLATE_SECRET", "NoStudentId", "find_student_id", "my_numbers",
           "normalise_id", "numbers_key", "student_numbers"]

TEMPLATE_SECRET = b"dlgrade: the project's student_template, not a course"
STUDENT_VARIABLE = "DLGRADE_STUDENT"  # set by a deployment (or a student) that knows the id better than we do
MAX_ATTEMPTS = 100_000  # a scheme accepts about one draw in ten; running out would be a bug of the scheme


class NoStudentId(LookupError):
    """No student id could be found for my_numbers() (the message says how to give one)."""


def numbers_key(secret: bytes, assignment: str) -> str:
    """The assignment's numbers key (hex): HMAC-SHA256(secret, b"dlgrade per-student numbers\\0" + assignment)."""
    return hmac.new(secret, b"dlgrade per-student numbers\0" + assignment.encode(), hashlib.sha256).hexdigest()


def normalise_id(student: str) -> str:
    """The id as the numbers see it: Unicode NFC, surrounding spaces dropped, case folded ("Alice " is alice)."""
    return unicodedata.normalize("NFC", str(student)).strip().casefold()


class Draws:
    """Uniform picks for one attempt of one student: 4-byte slices of HMAC-SHA256(key, id NUL attempt)."""

    def __init__(self, key: str, student: str, attempt: int) -> None:
        message = normalise_id(student).encode() + b"\0" + str(attempt).encode()
        self._bytes = hmac.new(bytes.fromhex(key), message, hashlib.sha256).digest()
        self._used = 0

    def pick(self, choices: Sequence[Any]) -> Any:
        if self._used + 4 > len(self._bytes):
            raise RuntimeError("a scheme may pick at most 8 numbers per attempt")
        word = int.from_bytes(self._bytes[self._used:self._used + 4], "big")
        self._used += 4
        return choices[word % len(choices)]


# ---- schemes ---------------------------------------------------------------------------------------------------

def _tenths(*values: float) -> tuple[Fraction, ...]:
    return tuple(Fraction(round(value * 10), 10) for value in values)


# Lecture 8's network y1 = w1·x + b1, y2 = ReLU(y1), y3 = w3·y2 + b3, l = (y3 − target)², one step with lr.
# Grids of short decimals (hand-computable); x never 0, 1 or the lecture's 5, b3 and the target never 0, |w3| never
# 0 or 1: at those values some known mistakes would give the right answer.
_X = _tenths(1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5.5, 6, 6.5, 7, 8)
_W1 = _tenths(-0.5, 0.5, 1.5, 2, 2.5, 3, 3.5, 4)
_B1 = _tenths(-3, -2.5, -2, -1.5, -1, -0.5, 0.5, 1, 1.5, 2.5, 3)
_W3 = _tenths(-2, -1.5, -0.8, -0.6, -0.4, -0.3, 0.3, 0.4, 0.6, 0.8, 1.5, 2)
_B3 = _tenths(-4, -3, -2.5, -1.5, -1, 1, 1.5, 2.5, 3, 4)
_TARGET = _tenths(-3, -2, -1.5, -1, 1, 1.5, 2, 2.5, 3, 4)
_LR = (Fraction(1, 1000), Fraction(2, 1000), Fraction(5, 1000), Fraction(1, 100))
RELU_MARGIN = 1  # y1 >= 1: the ReLU is active and a whole unit away from its kink at 0
# Every number lecture 8 prints for its example, right or slipped: no answer of a student's may be one of them (a
# student who copies the lecture must never be right by accident, nor look like another mistake).
_LECTURE_PRINTED = frozenset(Fraction(v).limit_denominator(10**6) for v in (
    17, -4.5, 42.25, -13, 6.5, 19.5, -221, 32.5, -0.279, 4.013, 2.9675, 1.9935,
    -11.5, 5.75, 17.25, 11.5, -17.25, -0.4885, 4.0115, -2.98275, 1.98275))
MIN_RESIDUAL, MAX_RESIDUAL, MAX_Y1 = 1, 12, 20  # |y3 − target| and y1: non-trivial gradients, readable numbers


def scalar_network_answers(x: Fraction, w1: Fraction, b1: Fraction, w3: Fraction, b3: Fraction,
                           target: Fraction, lr: Fraction) -> dict[str, Fraction]:
    """Every hand-computed value of the network, exactly (ReLU active: y1 > 0)."""
    y1 = w1 * x + b1
    y3 = w3 * y1 + b3
    dl_dy3 = 2 * (y3 - target)
    dl_dy1 = dl_dy3 * w3
    values = {"y1": y1, "y3": y3, "loss": (y3 - target) ** 2, "dl_dy3": dl_dy3, "dl_dy1": dl_dy1,
              "dl_dx": dl_dy1 * w1, "dl_dw3": dl_dy3 * y1, "dl_dw1": dl_dy1 * x}
    values |= {"w3_new": w3 - lr * values["dl_dw3"], "b3_new": b3 - lr * dl_dy3, "w1_new": w1 - lr * values["dl_dw1"],
               "b1_new": b1 - lr * dl_dy1}
    return values


def scalar_network(draws: Draws) -> dict[str, float] | None:
    """One draw of x, w1, b1, w3, b3, target, lr, or None when it is unusable: the ReLU near its kink or off,
    a residual too small or numbers too large, a coincidence that would make a known mistake give the right
    answer or another mistake's (w1 = x, w3 = y2, y2 = 1, y2 = x, w3·(y2 − x) = b3), an answer that is a whole
    number (answers are never round by accident) or one the lecture prints."""
    x, w1, b1, w3, b3, target, lr = (draws.pick(grid) for grid in (_X, _W1, _B1, _W3, _B3, _TARGET, _LR))
    y1 = w1 * x + b1
    if not RELU_MARGIN <= y1 <= MAX_Y1 or w1 == x or y1 in (1, x, w3, -w3) or w3 * (y1 - x) == b3:
        return None
    residual = abs(w3 * y1 + b3 - target)
    if not MIN_RESIDUAL <= residual <= MAX_RESIDUAL:
        return None
    answers = scalar_network_answers(x, w1, b1, w3, b3, target, lr).values()
    if any(value.denominator == 1 or value in _LECTURE_PRINTED for value in answers):
        return None
    return {"x": float(x), "w1": float(w1), "b1": float(b1), "w3": float(w3), "b3": float(b3),
            "target": float(target), "lr": float(lr)}


SCHEMES: dict[str, Callable[[Draws], dict[str, float] | None]] = {"scalar_network": scalar_network}


def student_numbers(scheme: str, key: str, student: str) -> dict[str, float]:
    """The student's numbers: the first attempt the scheme accepts."""
    if not normalise_id(student):
        raise NoStudentId("an empty student id has no numbers")
    draw = SCHEMES[scheme]
    for attempt in range(MAX_ATTEMPTS):
        numbers = draw(Draws(key, student, attempt))
        if numbers is not None:
            return numbers
    raise RuntimeError(f"scheme {scheme} accepted none of {MAX_ATTEMPTS} draws")  # pragma: no cover


# ---- in the student's notebook ---------------------------------------------------------------------------------

def _jupyter_config_dirs() -> list[str]:
    """Jupyter's config path, as jupyter_core lists it (most specific first): $JUPYTER_CONFIG_DIR (~/.jupyter),
    $JUPYTER_CONFIG_PATH, then the environment's and the system's etc/jupyter. Standard library only."""
    folders = [os.environ.get("JUPYTER_CONFIG_DIR") or os.path.join(os.path.expanduser("~"), ".jupyter")]
    folders += [p for p in os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    folders += [os.path.join(sys.prefix, "etc", "jupyter"), "/usr/local/etc/jupyter", "/etc/jupyter"]
    return list(dict.fromkeys(folders))


def _nbgrader_configured() -> bool:
    """Whether an nbgrader_config.py lies on Jupyter's config path (nbgrader is set up for this user)."""
    return any(os.path.isfile(os.path.join(folder, "nbgrader_config.py")) for folder in _jupyter_config_dirs())


def find_student_id() -> tuple[str, str] | None:
    """(id, where it came from), looked up as the course's tools know the student, or None: $DLGRADE_STUDENT;
    JupyterHub's $JUPYTERHUB_USER; and, where nbgrader is configured, the login name its exchange submits under
    (nbgrader's get_username: the login name, or $JUPYTERHUB_USER for a container's 'jovyan', which is why
    $JUPYTERHUB_USER comes first; never 'jovyan' or 'root' themselves)."""
    value = os.environ.get(STUDENT_VARIABLE, "").strip()
    if value:
        return value, f"${STUDENT_VARIABLE}"
    value = os.environ.get("JUPYTERHUB_USER", "").strip()
    if value:
        return value, "JupyterHub ($JUPYTERHUB_USER)"
    if _nbgrader_configured():
        try:
            import pwd

            login = pwd.getpwuid(os.getuid()).pw_name
        except (ImportError, KeyError):
            login = ""
        if login and login not in ("jovyan", "root"):
            return login, "your login name (as nbgrader submits)"
    return None


def _released_numbers() -> dict[str, Any] | None:
    from .local import load_checks

    checks = load_checks()
    return None if checks is None else checks.get("numbers")


def my_numbers(student: str | None = None) -> dict[str, float]:
    """Your own numbers for this assignment's hand-computed questions (printed, and returned as a dict).

    The id is the one your course knows you by: found by itself under JupyterHub and nbgrader; elsewhere give it,
    my_numbers("your-id"). Raises NoStudentId, saying how to fix it, when there is none."""
    spec = _released_numbers()
    if not spec:
        raise LookupError("my_numbers(): this notebook's dlcheck/checks.json has no per-student numbers "
                          "(is dlcheck/ the one released with this assignment?)")
    where = "given to my_numbers()"
    if student is None or not str(student).strip():
        found = find_student_id()
        if found is None:
            raise NoStudentId(
                "my_numbers() cannot tell who you are: JupyterHub's $JUPYTERHUB_USER is not set and nbgrader is "
                "not configured here. Give it the id your course knows you by (the one your submission is graded "
                f"under): add a cell `%env {STUDENT_VARIABLE}=abc123` (your id) above and run both cells, or call "
                "my_numbers(\"abc123\") yourself.")
        student, where = found
    numbers = student_numbers(str(spec["scheme"]), str(spec["key"]), str(student))
    shown = ", ".join(f"{name} = {value:g}" for name, value in numbers.items())
    print(f"Your numbers for {spec.get('assignment', 'this assignment')} (student {normalise_id(student)!r}, "
          f"{where}): {shown}", file=sys.stdout)
    return dict(numbers)
