"""The probe set of a question, and a submission's behaviour on it.

A question's probe set is its public cases plus what its hidden-case generator makes from a seed derived from the
course secret (HMAC), so every submission of a course answers the very same inputs, and no student can know them
in advance. A submission's behaviour is its answers on that set, each rounded to the question's tolerance (rtol
gives the significant digits kept, atol the magnitude below which a number counts as zero); its ``signature``, a
hash of them, groups submissions that behave alike (clusters.py) and defines a course-level known mistake
(catalog.py).

Who computes what: the trusted side builds the probe set and hashes the answers; the answers themselves come from
the sandboxed child that already has the student's code loaded, right after the question was graded (grading.py,
``probe_question``), and only for a question failed without a known mistake, the only ones a cluster or a course
mistake can be about. They are stored with the record, under the probe set's ``key`` (a hash of its inputs and
tolerance), so a behaviour is only ever compared with one taken on the same inputs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from dlgrade.boundary.text import plain
from dlgrade.checking.answers import Answer, Entries, Items, Leaf, Nothing, Opaque, Text
from dlgrade.sandbox import protocol
from dlgrade.suite import Case, Question

PROBE_FORMAT = "dlgrade-probes-v1"
MAX_EXTRA = 12  # cases of the hidden generator kept per question (beyond its public cases)
MAX_ANSWER_TEXT = 200  # characters of one answer kept for the report
PROBED_STATUSES = ("failed", "error")  # a question failed, or raising on every case: worth knowing how
_HEX = re.compile(r"^[0-9a-f]{16}$")


def probe_seed(secret: bytes, assignment_id: str) -> int:
    """The course's probe seed for an assignment: HMAC of the course secret, the same for every submission."""
    mac = hmac.new(secret, f"{PROBE_FORMAT}\0{assignment_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(mac[:8], "big")


def digits_of(rtol: float) -> int:
    """Significant digits a tolerance of rtol distinguishes: 7 for 1e-7; 15 (all of float64's) for rtol 0."""
    if rtol <= 0:
        return 15
    return int(min(15, max(1, math.floor(-math.log10(rtol) + 1e-9))))


@dataclass(frozen=True)
class ProbeSet:
    """The inputs every submission of a course answers for one question, and the key that names them."""

    question: str
    cases: tuple[Case, ...]
    public: int  # the first ``public`` cases are the question's public ones
    key: str

    def label(self, index: int) -> str:
        case = self.cases[index]
        if index < self.public:
            return f"public case {index + 1}: {case.describe()}"
        return f"probe {index + 1}: {case.describe()}"


_SETS: dict[tuple[int, int], tuple[Question, ProbeSet | None]] = {}


def probe_set(question: Question, seed: int) -> ProbeSet | None:
    """The question's probe set on a course's seed (built once per process); None for a question judged as a
    whole (a trained model's accuracy), whose answers are not compared value by value, and for one on each
    student's own numbers, whose right answer differs from student to student."""
    cached = _SETS.get((id(question), seed))
    if cached is not None and cached[0] is question:
        return cached[1]
    from dlgrade.grading import question_rng

    made: ProbeSet | None = None
    if question.judge is None and question.numbers is None:
        public = tuple(question.public())
        extra = tuple(question.hidden(question_rng(seed, question)))[:MAX_EXTRA]
        made = ProbeSet(question.name, public + extra, len(public), _key(question, public + extra))
    _SETS[(id(question), seed)] = (question, made)
    return made


def _key(question: Question, cases: Sequence[Case]) -> str:
    """A hash of the probe inputs and of how answers are rounded: stored behaviours are valid under it only."""
    digest = hashlib.sha256(f"{PROBE_FORMAT}\0{question.name}\0{question.entry}\0{question.kind}\0"
                            f"{question.harness}\0{question.rtol!r}\0{question.atol!r}\0".encode())
    for case in cases:
        blobs: list[bytes] = []
        tree = protocol.encode_value([list(case.args), dict(case.kwargs)], blobs)
        digest.update(json.dumps(tree, sort_keys=True).encode() + b"\0")
        for blob in blobs:
            digest.update(hashlib.sha256(blob).digest())
    return digest.hexdigest()[:16]


# ---- behaviour ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeAnswers:
    """A submission's behaviour on a question's probe set: its signature, and each answer as text (for the report:
    a cluster shows its representative's answers next to the expected ones)."""

    key: str
    signature: str
    answers: tuple[str, ...]

    def to_data(self) -> dict[str, Any]:
        return {"key": self.key, "signature": self.signature, "answers": list(self.answers)}

    @classmethod
    def from_data(cls, data: Any) -> ProbeAnswers:
        """Rebuilt from a record; ValueError for anything but two 16-hex-digit hashes and a list of texts."""
        if not isinstance(data, dict):
            raise ValueError("probe answers are not an object")
        key, signature, answers = data.get("key"), data.get("signature"), data.get("answers")
        if not (isinstance(key, str) and _HEX.match(key) and isinstance(signature, str) and _HEX.match(signature)):
            raise ValueError("probe answers without a valid key and signature")
        if not isinstance(answers, list) or len(answers) > 1000 or not all(isinstance(a, str) for a in answers):
            raise ValueError("probe answers are not a list of texts")
        return cls(key, signature, tuple(plain(a, MAX_ANSWER_TEXT) for a in answers))


class ReplyLike(Protocol):
    status: str
    error: str
    answer: Answer | None


def behaviour(question: Question, probes: ProbeSet, replies: Sequence[ReplyLike],
              show: Callable[[Answer], str]) -> ProbeAnswers:
    """The signature and texts of a submission's replies on the probe set (fewer replies than cases: the worker
    stopped, and the rest count as not run)."""
    digest = hashlib.sha256(f"{PROBE_FORMAT}\0{probes.key}\0".encode())
    digits = digits_of(question.rtol)
    texts = []
    for index in range(len(probes.cases)):
        reply = replies[index] if index < len(replies) else None
        if reply is None:
            digest.update(b"\x01not run\0")
            texts.append("not run")
        elif reply.status != "ok" or reply.answer is None:
            kind = _exception_type(reply.error) if reply.status == "error" else ""
            digest.update(f"\x01{reply.status}:{kind}\0".encode())
            texts.append(f"{reply.status}: {_last_line(reply.error)}"[:MAX_ANSWER_TEXT] if reply.error
                         else reply.status)
        else:
            digest.update(b"\x02")
            _hash_answer(digest, reply.answer, digits, question.atol)
            texts.append(show(reply.answer)[:MAX_ANSWER_TEXT])
    return ProbeAnswers(probes.key, digest.hexdigest()[:16], tuple(texts))


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _exception_type(error: str) -> str:
    """'ValueError' of a traceback's last line 'ValueError: shapes ... differ' (the message may hold addresses
    and sizes that differ between runs; the type does not)."""
    last = _last_line(error)
    name = last.split(":", 1)[0].strip()
    return name[:80] if re.fullmatch(r"[A-Za-z_][\w.]*", name) else "?"


def _hash_answer(digest: Any, answer: Answer, digits: int, atol: float) -> None:
    """Feed an answer, rounded, to the hash: its structure, each array's kind, shape and dtype family, and its
    numbers to ``digits`` significant digits (|x| <= atol counting as 0)."""
    if isinstance(answer, Leaf):
        array = answer.array
        digest.update(f"L{answer.kind}:{array.dtype.kind}:{array.shape}\0".encode())
        if array.dtype.kind == "f":
            mantissa, exponent = rounded(array, digits, atol)
            digest.update(mantissa.tobytes() + exponent.tobytes())
        else:
            digest.update(np.ascontiguousarray(array.astype(np.int64)).tobytes())
    elif isinstance(answer, Items):
        digest.update(f"I{answer.kind}:{len(answer.items)}\0".encode())
        for item in answer.items:
            _hash_answer(digest, item, digits, atol)
    elif isinstance(answer, Entries):
        digest.update(f"D{len(answer.entries)}\0".encode())
        for key, item in answer.entries:
            digest.update(key.encode() + b"\0")
            _hash_answer(digest, item, digits, atol)
    elif isinstance(answer, Nothing):
        digest.update(b"N\0")
    elif isinstance(answer, Text):
        digest.update(b"T" + answer.value.encode() + b"\0")
    elif isinstance(answer, Opaque):
        digest.update(b"O" + answer.type.encode() + b"\0")


_NAN, _POSINF, _NEGINF = 1 << 20, (1 << 20) + 1, (1 << 20) + 2  # exponents no finite float64 has


def rounded(array: np.ndarray, digits: int, atol: float) -> tuple[np.ndarray, np.ndarray]:
    """Every number of ``array`` as (mantissa, exponent) integers: x ~ m * 10**(e - digits + 1) with
    10**(digits-1) <= |m| < 10**digits; 0 for |x| <= atol; nan and ±inf get exponents of their own."""
    values = np.asarray(array, dtype=np.float64).ravel()
    finite = np.isfinite(values)
    nonzero = finite & (np.abs(values) > atol) & (values != 0)
    safe = np.where(nonzero, values, 1.0)
    with np.errstate(all="ignore"):
        exponent = np.floor(np.log10(np.abs(safe)))
        mantissa = np.round(safe / np.power(10.0, exponent) * 10.0 ** (digits - 1))
    carried = np.abs(mantissa) >= 10.0 ** digits  # 9.9999999 rounded up to 10.000000
    mantissa = np.where(carried, np.round(mantissa / 10), mantissa)
    exponent = np.where(carried, exponent + 1, exponent)
    mantissa = np.where(nonzero, mantissa, 0).astype(np.int64)
    exponent = np.where(nonzero, exponent, 0).astype(np.int64)
    exponent = np.where(np.isnan(values), _NAN, exponent)
    exponent = np.where(values == np.inf, _POSINF, exponent)
    exponent = np.where(values == -np.inf, _NEGINF, exponent)
    return mantissa, exponent
