"""The service's durable state in <course>/.dlgrade/service/: every accepted notebook, and the queue.

    attempts/<student>/<id>/<sid>/<id>.ipynb, timestamp.txt   each accepted submission, nbgrader's submitted
                                                               layout (and timestamp format), fsynced
    service.db                                                 SQLite (WAL, synchronous=FULL): the queue table
                                                               and the tokens (hashed)

A submission is accepted (the HTTP 202) only after its files and its row are on disk. Its status then moves
queued -> grading -> graded | refused | failed, written by the grading process alone; ``recorded`` says the
grading process has run the gradebook step for a graded one (the one in force is copied to submitted/ and
recorded there; ``in_force`` marks it). Times are UNIX seconds (UTC).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from dlgrade.errors import UsageError

SERVICE_DIR = "service"
DB_FILE = "service.db"
ATTEMPTS_DIR = "attempts"
SCHEMA_VERSION = 1
ACTIVE = ("queued", "grading")
FINAL = ("graded", "refused", "failed")
# Submissions that count against a student's daily allowance: accepted, and not turned away by the grader.
COUNTED = ("queued", "grading", "graded")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    assignment TEXT NOT NULL,
    student TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    client TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'queued',
    handouts INTEGER NOT NULL DEFAULT 0,
    started_at REAL,
    graded_at REAL,
    result TEXT,
    score REAL,
    max_score REAL,
    detail TEXT NOT NULL DEFAULT '',
    recorded INTEGER NOT NULL DEFAULT 0,
    in_force INTEGER NOT NULL DEFAULT 0,
    penalty REAL
);
CREATE INDEX IF NOT EXISTS submissions_by_student ON submissions (student, assignment, submitted_at);
CREATE INDEX IF NOT EXISTS submissions_by_status ON submissions (status, seq);
CREATE TABLE IF NOT EXISTS tokens (
    digest TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    issued_at REAL NOT NULL,
    UNIQUE (name, role)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Row:
    """One submission as the queue table holds it."""

    seq: int
    id: str
    assignment: str
    student: str
    submitted_at: float
    digest: str
    size: int
    client: str
    status: str
    handouts: int
    started_at: float | None
    graded_at: float | None
    result: str | None
    score: float | None
    max_score: float | None
    detail: str
    recorded: int
    in_force: int
    penalty: float | None


_COLUMNS = ", ".join(Row.__dataclass_fields__)
_COLUMNS_BUT_RESULT = ", ".join("NULL" if name == "result" else name for name in Row.__dataclass_fields__)


def iso(moment: float | None) -> str | None:
    """UNIX seconds as ISO 8601 in UTC, for people and JSON."""
    return None if moment is None else datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


def nbgrader_timestamp(moment: float) -> str:
    """nbgrader's timestamp.txt format (what its collect writes, what CourseDirectory reads back)."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def new_id() -> str:
    """A submission id: 128 random bits, URL-safe (it names a folder, and guessing one must not work)."""
    return secrets.token_urlsafe(16)


def _fsync_dir(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _make_dirs(path: Path, mode: int = 0o700) -> None:
    """mkdir -p, each new directory's entry fsynced into its parent."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=mode)
        _fsync_dir(folder.parent)


def write_durably(folder: Path, files: dict[str, bytes], mode: int = 0o600, dir_mode: int = 0o700,
                  sync: bool = True) -> None:
    """folder/ with these files, whole or not at all, on disk when this returns (files, folder, its entry);
    ``sync=False``: whole or not at all, left to the kernel to write out (as autograde's own files are)."""
    _make_dirs(folder.parent, dir_mode)
    staging = folder.parent / f".{folder.name}.{secrets.token_hex(4)}.tmp"
    staging.mkdir(mode=dir_mode)
    try:
        for name, data in files.items():
            handle = os.open(staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(handle, view):]
                if sync:
                    os.fsync(handle)
            finally:
                os.close(handle)
        if sync:
            _fsync_dir(staging)
        os.rename(staging, folder)
        if sync:
            _fsync_dir(folder.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def hold_lock(path: Path, busy: str, timeout: float = 30.0) -> IO[str]:
    """An exclusive flock on ``path``, held until the returned file is closed or the process ends (SIGKILL too);
    waits up to ``timeout`` s for a predecessor that is still letting go, then UsageError(``busy``)."""
    handle = open(path, "a+")  # noqa: SIM115 - the caller holds it
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                raise UsageError(busy) from None
            time.sleep(0.2)


class Store:
    """The queue and tokens of one course's service; every method opens its own short transaction."""

    def __init__(self, state: Path, synchronous: str = "FULL") -> None:
        # FULL (the web process): a commit is on disk when it returns, and the 202 depends on it. The grading
        # process may use NORMAL: its status changes survive its own death (SIGKILL included) and only a power
        # loss can undo one, which at worst grades a submission again (grading and recording are idempotent).
        self.synchronous = synchronous
        self.root = Path(state) / SERVICE_DIR
        self.path = self.root / DB_FILE
        self.attempts = self.root / ATTEMPTS_DIR
        # One connection per thread, opened once: a long poll looks at its row each time its status changes, and
        # opening SQLite (and setting its pragmas) cost more than the query. Per process too: never across fork.
        self._local = threading.local()

    def create(self) -> Store:
        """Make the folder and the tables (idempotent)."""
        _make_dirs(self.attempts)
        with self.connect() as db:
            db.executescript(_SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        return self

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, in autocommit mode; ``with store.transaction(db)`` groups writes. A statement
        that fails leaves no transaction open behind it (rolled back), so the next use starts clean."""
        db = self._connection()
        try:
            yield db
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _connection(self) -> sqlite3.Connection:
        held = getattr(self._local, "held", None)
        if held is not None and held[0] == os.getpid():
            return held[1]
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.synchronous}")
        except BaseException:
            db.close()
            raise
        db.row_factory = sqlite3.Row
        self._local.held = (os.getpid(), db)
        return db

    def close(self) -> None:
        """Close this thread's connection (the others close with their threads)."""
        held = getattr(self._local, "held", None)
        self._local.held = None
        if held is not None and held[0] == os.getpid():
            held[1].close()

    @staticmethod
    @contextlib.contextmanager
    def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: the write lock from the start, so a read-then-write is atomic."""
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # ---- files ----------------------------------------------------------------------------------------------

    def folder(self, row: Row | tuple[str, str, str]) -> Path:
        """attempts/<student>/<assignment>/<sid>/ of a submission."""
        student, assignment, sid = (row.student, row.assignment, row.id) if isinstance(row, Row) else row
        return self.attempts / student / assignment / sid

    def notebook(self, row: Row) -> Path:
        return self.folder(row) / f"{row.assignment}.ipynb"

    def remove_orphans(self) -> list[Path]:
        """Attempt folders without a row (the service died between writing them and its commit), and staging
        leftovers: deleted, as the 202 was never sent for them."""
        removed = []
        with self.connect() as db:
            known = {sid for (sid,) in db.execute("SELECT id FROM submissions")}
        for folder in self.attempts.glob("*/*/*"):
            if folder.name.startswith(".") or folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        return removed

    # ---- accepting --------------------------------------------------------------------------------------------

    @staticmethod
    def _recent(db: sqlite3.Connection, student: str, assignment: str, since: float) -> list[float]:
        marks = ", ".join("?" * len(COUNTED))
        return [t for (t,) in db.execute(
            f"SELECT submitted_at FROM submissions WHERE student = ? AND assignment = ? AND submitted_at > ? "
            f"AND status IN ({marks}) ORDER BY submitted_at", (student, assignment, since, *COUNTED))]

    def next_allowed(self, student: str, assignment: str, per_day: int | None, now: float,
                     db: sqlite3.Connection | None = None) -> float | None:
        """When the student may submit again, if the allowance of ``per_day`` in any 24 hours is used up."""
        if per_day is None:
            return None
        if db is None:
            with self.connect() as own:
                return self.next_allowed(student, assignment, per_day, now, own)
        recent = self._recent(db, student, assignment, now - 24 * 3600.0)
        if len(recent) < per_day:
            return None
        return recent[len(recent) - per_day] + 24 * 3600.0

    def used(self, student: str, assignment: str, since: float) -> int:
        """Submissions of the student since then that count against the allowance."""
        with self.connect() as db:
            return len(self._recent(db, student, assignment, since))

    def position(self, seq: int) -> int:
        """How many queued submissions are ahead of the one numbered ``seq``."""
        with self.connect() as db:
            return db.execute("SELECT COUNT(*) FROM submissions WHERE status = 'queued' AND seq < ?",
                              (seq,)).fetchone()[0]

    def accept(self, student: str, assignment: str, data: bytes, digest: str, client: str,
               per_day: int | None) -> tuple[Row | None, float | None]:
        """Store a submission durably: (its row, None), or (None, the time of the next allowed one) when the
        student's allowance is used up (nothing is kept then)."""
        now = time.time()
        if self.next_allowed(student, assignment, per_day, now) is not None:  # cheap refusal, before any write
            return None, self.next_allowed(student, assignment, per_day, now)
        sid = new_id()
        folder = self.folder((student, assignment, sid))
        write_durably(folder, {f"{assignment}.ipynb": data, "timestamp.txt": nbgrader_timestamp(now).encode()})
        try:
            with self.connect() as db, self.transaction(db):
                later = self.next_allowed(student, assignment, per_day, now, db)
                if later is not None:  # another request of the same student got in first
                    raise _Refused(later)
                db.execute("INSERT INTO submissions (id, assignment, student, submitted_at, digest, size, client) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)", (sid, assignment, student, now, digest, len(data), client))
        except _Refused as refused:
            shutil.rmtree(folder, ignore_errors=True)
            return None, refused.when
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        row = self.get(sid)
        assert row is not None
        return row, None

    # ---- reading ----------------------------------------------------------------------------------------------

    def get(self, sid: str) -> Row | None:
        with self.connect() as db:
            found = db.execute(f"SELECT {_COLUMNS} FROM submissions WHERE id = ?", (sid,)).fetchone()
        return Row(*found) if found else None

    def history(self, student: str, assignment: str | None = None, limit: int = 500) -> list[Row]:
        """A student's submissions, newest first."""
        query = f"SELECT {_COLUMNS} FROM submissions WHERE student = ?"
        args: list[Any] = [student]
        if assignment is not None:
            query += " AND assignment = ?"
            args.append(assignment)
        with self.connect() as db:
            rows = db.execute(query + " ORDER BY seq DESC LIMIT ?", (*args, limit)).fetchall()
        return [Row(*r) for r in rows]

    def rows(self, statuses: tuple[str, ...] | None = None, assignment: str | None = None, limit: int = 1000,
             newest: int | None = None) -> list[Row]:
        """Submissions in queue order (oldest first), optionally of some statuses or one assignment; ``newest``:
        only that many of the latest."""
        query, args = f"SELECT {_COLUMNS} FROM submissions WHERE 1", []
        if statuses:
            query += f" AND status IN ({', '.join('?' * len(statuses))})"
            args += list(statuses)
        if assignment is not None:
            query += " AND assignment = ?"
            args.append(assignment)
        query += " ORDER BY seq DESC LIMIT ?" if newest else " ORDER BY seq LIMIT ?"
        with self.connect() as db:
            found = db.execute(query, (*args, newest or limit)).fetchall()
        return sorted((Row(*r) for r in found), key=lambda row: row.seq)

    def counts(self, student: str | None = None, assignment: str | None = None) -> dict[str, int]:
        """How many submissions have each status (of one student, of one assignment, if given)."""
        query, args = "SELECT status, COUNT(*) FROM submissions WHERE 1", []
        for column, value in (("student", student), ("assignment", assignment)):
            if value is not None:
                query += f" AND {column} = ?"
                args.append(value)
        with self.connect() as db:
            return dict(db.execute(query + " GROUP BY status", args).fetchall())

    def assignments(self) -> set[str]:
        """Every assignment the queue has a submission of."""
        with self.connect() as db:
            return {row[0] for row in db.execute("SELECT DISTINCT assignment FROM submissions")}

    # ---- the grading process's writes -------------------------------------------------------------------------

    def requeue_interrupted(self) -> int:
        """Submissions a previous grading process was grading when it stopped go back to the queue."""
        with self.connect() as db, self.transaction(db):
            return db.execute("UPDATE submissions SET status = 'queued', started_at = NULL "
                              "WHERE status = 'grading'").rowcount

    def claim(self, count: int) -> list[Row]:
        """The next ``count`` queued submissions, oldest first, now marked grading (one more hand-out each)."""
        if count <= 0:
            return []
        with self.connect() as db, self.transaction(db):
            found = db.execute(
                f"UPDATE submissions SET status = 'grading', handouts = handouts + 1, started_at = ? "
                f"WHERE seq IN (SELECT seq FROM submissions WHERE status = 'queued' ORDER BY seq LIMIT ?) "
                f"RETURNING {_COLUMNS}", (time.time(), count)).fetchall()
        return sorted((Row(*r) for r in found), key=lambda r: r.seq)

    def finish(self, sid: str, status: str, detail: str = "", result: str | None = None,
               score: float | None = None, max_score: float | None = None) -> None:
        """A submission's outcome; only one still being graded changes (an outcome arrives once)."""
        with self.connect() as db, self.transaction(db):
            db.execute("UPDATE submissions SET status = ?, detail = ?, result = ?, score = ?, max_score = ?, "
                       "graded_at = ? WHERE id = ? AND status = 'grading'",
                       (status, detail[:1000], result, score, max_score, time.time(), sid))

    def unrecorded(self) -> list[Row]:
        """Graded submissions whose gradebook step has not run yet, in submission order; without their results
        (result() reads one), as the grading process looks at them after every answer."""
        with self.connect() as db:
            found = db.execute(f"SELECT {_COLUMNS_BUT_RESULT} FROM submissions WHERE status = 'graded' AND "
                               "recorded = 0 ORDER BY seq").fetchall()
        return [Row(*r) for r in found]

    def result(self, sid: str) -> str | None:
        with self.connect() as db:
            found = db.execute("SELECT result FROM submissions WHERE id = ?", (sid,)).fetchone()
        return found[0] if found else None

    def later_statuses(self, row: Row) -> set[str]:
        """The statuses of the student's later submissions of the same assignment that are, or may become, graded."""
        with self.connect() as db:
            return {status for (status,) in db.execute(
                "SELECT DISTINCT status FROM submissions WHERE student = ? AND assignment = ? AND seq > ? "
                "AND status IN ('queued', 'grading', 'graded')", (row.student, row.assignment, row.seq))}

    def in_force(self, student: str, assignment: str) -> Row | None:
        with self.connect() as db:
            found = db.execute(f"SELECT {_COLUMNS} FROM submissions WHERE student = ? AND assignment = ? "
                               "AND in_force = 1", (student, assignment)).fetchone()
        return Row(*found) if found else None

    def graded(self, student: str, assignment: str) -> list[Row]:
        with self.connect() as db:
            found = db.execute(f"SELECT {_COLUMNS} FROM submissions WHERE student = ? AND assignment = ? "
                               "AND status = 'graded' ORDER BY seq", (student, assignment)).fetchall()
        return [Row(*r) for r in found]

    def mark_recorded(self, row: Row, in_force: bool, penalty: float | None = None, detail: str | None = None) -> None:
        """The gradebook step ran for ``row``: it is now the one in force (and no other), or not."""
        with self.connect() as db, self.transaction(db):
            if in_force:
                db.execute("UPDATE submissions SET in_force = 0 WHERE student = ? AND assignment = ? AND id != ?",
                           (row.student, row.assignment, row.id))
            db.execute("UPDATE submissions SET recorded = 1, in_force = ?, penalty = ?, detail = COALESCE(?, detail) "
                       "WHERE id = ?", (int(in_force), penalty, detail, row.id))


class _Refused(Exception):
    def __init__(self, when: float) -> None:
        super().__init__(when)
        self.when = when
