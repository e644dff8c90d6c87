"""An nbgrader course directory run by dlgrade: set up, release, collect (exchange or LMS zips), export.

nbgrader stays the backbone: its layout, its nbgrader_config.py, its gradebook (db_url) and its exchange, so
formgrader and existing JupyterHub setups keep working. dlgrade only replaces the in-kernel autograding
(dlgrade.autograde). The layout, nbgrader's plus one private folder:

    <course>/
      nbgrader_config.py         nbgrader's config: course_id, db_url, exchange, late penalties, zip collect
      gradebook.db               nbgrader's gradebook (the default db_url: SQLite in the course directory)
      source/<id>/<id>.ipynb     the instructor's notebook, copied from <project>/assignments/<id>/
      release/<id>/              what students get: nbgrader generate_assignment, plus dlgrade's dlcheck/
      submitted/<student>/<id>/  collected submissions (+ nbgrader's timestamp.txt)
      autograded/<student>/<id>/ the graded notebook, where formgrader's manual grading reads it
      feedback/<student>/<id>/   <id>.html and results.json (nbgrader's feedback layout: release_feedback works)
      downloaded/<id>/archive/   LMS downloads for zip collect (nbgrader's zip_collect layout)
      export/                    grades.csv (nbgrader's CSV export) and <id>.gradescope.json
      .dlgrade/                  course.json (where the suites live), secret (0600), results/, autograde-<id>.lock,
                                 sources/ (what setup copied into source/), replaced/ (sources setup --force replaced)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlgrade import assignments
from dlgrade.errors import UsageError

if TYPE_CHECKING:  # nbgrader is slow to import: only where a command needs it
    from nbgrader.api import Gradebook
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    from dlgrade.content import Packs

STATE_DIR = ".dlgrade"
SETTINGS_FILE = "course.json"
SECRET_FILE = "secret"
SETTINGS_FORMAT = 1
STEPS = ("source", "release", "submitted", "autograded", "feedback")
# A student id becomes a folder name: refuse the ones that would climb out of it or act as a glob.
_UNSAFE_STUDENT = re.compile(r"(^\.|[/\\*\x00]|^$)")
# Default for LMS downloads: "<student>_<notebook>.ipynb" or "<student>/<notebook>.ipynb" inside the archive, and
# the same for a .py script (a submission too: dlgrade grades one as it grades a notebook).
DEFAULT_ZIP_REGEXP = r".*/(?P<student_id>[^/_]+)[_/](?P<file_id>[^/]+\.(?:ipynb|py))$"
MAX_STUDENT_ID = 128  # characters: nbgrader's gradebook keeps a student id in a VARCHAR(128)

CONFIG_TEMPLATE = '''\
# nbgrader's configuration of this course, written by `dlgrade setup`. nbgrader, formgrader and dlgrade read it;
# edit it as you would any nbgrader_config.py.
c = get_config()  # noqa: F821

c.CourseDirectory.course_id = {course_id!r}

# The gradebook: any SQLAlchemy URL. Unset, it is SQLite in the course directory (gradebook.db).
# c.CourseDirectory.db_url = "postgresql://user@host/course"

# The exchange that `nbgrader release_assignment` / `submit` / `dlgrade collect` use.
{exchange}

# Late submissions (dlgrade autograde follows these): "none" gives no penalty, "zero" scores a late
# submission 0; or point c.AssignLatePenalties.plugin_class at your own nbgrader LateSubmissionPlugin.
c.LateSubmissionPlugin.penalty_method = "none"

# `dlgrade collect ID --zip`: how an LMS download's file names give the student and the notebook
# (nbgrader's zip_collect; the default takes "<student>_<notebook>.ipynb" or "<student>/<notebook>.ipynb", and
# the same with .py for a script).
c.FileNameCollectorPlugin.named_regexp = {regexp!r}
'''


# ---- nbgrader plumbing -----------------------------------------------------------------------------------


def load_config(root: Path) -> Config:
    """The course's nbgrader configuration, read as nbgrader reads it: Jupyter's config path, then the course."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

    config = Config()
    for folder in [*reversed(jupyter_config_path()), str(root)]:  # later wins, as in JupyterApp
        try:
            config.merge(PyFileConfigLoader("nbgrader_config.py", path=folder).load_config())
        except ConfigFileNotFound:
            continue
        except Exception as error:  # a syntax error in the instructor's config: say where
            raise UsageError(f"{folder}/nbgrader_config.py: {type(error).__name__}: {error}") from None
    return config


@contextlib.contextmanager
def alembic_in_process() -> Iterator[None]:
    """nbgrader's Gradebook asks `alembic heads` (a subprocess that needs the venv's bin on PATH, and takes
    seconds) for the migration head whenever it creates a database; answer it in-process instead, importing
    alembic (0.3 s) only then."""
    import nbgrader
    import nbgrader.api

    original = nbgrader.api.get_alembic_version

    def head() -> str:
        try:
            from alembic.script import ScriptDirectory

            return ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head()
        except Exception:  # keep nbgrader's own way
            return original()

    nbgrader.api.get_alembic_version = head
    try:
        yield
    finally:
        nbgrader.api.get_alembic_version = original


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a file whole or not at all (a temporary file renamed over it), readable as nbgrader's own outputs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# A writer that met another one: SQLite's lock ("database is locked", "busy"), and PostgreSQL's lock waits, deadlock
# victims and serialization failures, which the server resolves by failing one transaction: worth a retry.
_CONTENTION = ("locked", "busy", "deadlock detected", "could not obtain lock", "lock timeout",
               "could not serialize access")


def is_contention(error: BaseException) -> bool:
    """A database error that says another writer was in the way (see _CONTENTION): worth waiting and retrying."""
    text = str(error).lower()
    return any(marker in text for marker in _CONTENTION)


def _db_path(db_url: str) -> str:
    """The gradebook as shown to a person: an SQLite file's path, any other URL without its password."""
    if db_url.startswith("sqlite:///"):
        return db_url.split("///", 1)[1]
    try:
        from sqlalchemy.engine import make_url

        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:  # not even a URL: shown as written, minus anything between "user:" and "@"
        return re.sub(r"(//[^:/@]*):[^@/]*@", r"\1:***@", db_url)


# ---- the course ------------------------------------------------------------------------------------------


@dataclass
class Course:
    """A course directory: nbgrader's config and layout, and where its assignments' suites live."""

    root: Path
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, root: Path | str) -> Course:
        """The dlgrade course at ``root``; UsageError when it was never set up, or its nbgrader_config.py is gone
        (nbgrader would then run it on its defaults: another course id, gradebook, late policy and exchange)."""
        root = Path(root).resolve()
        settings_path = root / STATE_DIR / SETTINGS_FILE
        if not settings_path.is_file():
            raise UsageError(f"{root} is not a dlgrade course (no {STATE_DIR}/{SETTINGS_FILE}): "
                             f"run `dlgrade setup --course {root}` first")
        if not (root / "nbgrader_config.py").is_file():
            raise UsageError(f"{root / 'nbgrader_config.py'} is missing: nbgrader would run this course on its "
                             "defaults (course id, gradebook, late policy, exchange); restore it, or run "
                             f"`dlgrade setup --course {root}` to write a new one")
        try:
            settings = json.loads(settings_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UsageError(f"{settings_path}: unreadable ({error})") from None
        return cls(root, settings)

    @cached_property
    def config(self) -> Config:
        return load_config(self.root)

    @cached_property
    def coursedir(self) -> CourseDirectory:
        from nbgrader.coursedir import CourseDirectory

        return CourseDirectory(config=self.config, root=str(self.root))

    @property
    def course_id(self) -> str:
        return self.coursedir.course_id

    @property
    def db_url(self) -> str:
        return self.coursedir.db_url

    @property
    def gradebook_label(self) -> str:
        """The gradebook as shown to a person: the SQLite file, or the URL without its password."""
        return _db_path(self.db_url)

    @property
    def state(self) -> Path:
        return self.root / STATE_DIR

    @property
    def assignments_root(self) -> Path:
        return Path(self.settings.get("assignments_root", assignments.PROJECT_ROOT))

    def path(self, step: str, student: str, assignment_id: str) -> Path:
        """nbgrader's folder of a step (source, release, submitted, ...) for a student ('.' for none)."""
        directory = getattr(self.coursedir, f"{step}_directory")
        return Path(self.coursedir.format_path(directory, student, assignment_id))

    def secret(self) -> bytes:
        """The course's grading secret: seeds hidden cases, so a regrade gives the very same scores."""
        try:
            return (self.state / SECRET_FILE).read_bytes()
        except OSError as error:
            raise UsageError(f"{self.state / SECRET_FILE}: the course secret is unreadable ({error.strerror}); "
                             "`dlgrade setup` makes one") from None

    def set_up_ids(self) -> list[str]:
        """Assignments set up in this course (a source notebook under source/)."""
        source = Path(self.coursedir.root) / self.coursedir.source_directory
        if not source.is_dir():
            return []
        return sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").is_file())

    @property
    def packs(self) -> Packs:
        """Where this course's assignments come from: its own, its dlgrade.yml's content folders, the built-in
        ones (dlgrade.content)."""
        from dlgrade.content import packs_of

        return packs_of(self.root, self.assignments_root)

    def assignment(self, assignment_id: str) -> assignments.Assignment:
        """The assignment's suite, for an assignment set up in this course."""
        known = self.set_up_ids()
        if assignment_id not in known:
            raise UsageError(f"unknown assignment {assignment_id!r} in course {self.root} "
                             f"(set up: {', '.join(known) or 'none'}); run `dlgrade setup {assignment_id}`")
        return self.packs.load(assignment_id)

    @contextlib.contextmanager
    def gradebook(self) -> Iterator[Gradebook]:
        """nbgrader's Gradebook on db_url; a locked or unusable database becomes one clear UsageError."""
        from nbgrader.api import Gradebook
        from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError

        try:
            with alembic_in_process():
                book = Gradebook(self.db_url, self.course_id)
        except (OperationalError, DatabaseError, ArgumentError, NoSuchModuleError, ImportError) as error:
            raise gradebook_error(self.db_url, error) from None
        try:
            yield book
        finally:
            book.close()

    def check_gradebook_writable(self, timeout: float = 3.0) -> None:
        """Fail fast, before any grading, when another program holds a write lock on an SQLite gradebook."""
        if not self.db_url.startswith("sqlite:///"):
            return
        import sqlite3

        path = _db_path(self.db_url)
        if not Path(path).is_file():
            raise UsageError(f"no gradebook at {path}: run `dlgrade setup --course {self.root}`")
        connection = sqlite3.connect(path, timeout=timeout)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.rollback()
        except sqlite3.DatabaseError as error:
            raise gradebook_error(self.db_url, error) from None
        finally:
            connection.close()


def gradebook_error(db_url: str, error: BaseException) -> UsageError:
    """One line for a database that refuses us."""
    where = _db_path(db_url)
    if is_contention(error) and db_url.startswith("sqlite"):
        return UsageError(f"the gradebook {where} is locked by another program (formgrader, nbgrader or an "
                          "sqlite shell); nothing was lost: close it or wait, then rerun")
    if is_contention(error):
        return UsageError(f"the gradebook {where} stayed busy with other writers' locks; nothing was lost: rerun")
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    scheme = db_url.split(":", 1)[0] if ":" in db_url else ""
    if isinstance(error, NoSuchModuleError):  # SQLAlchemy knows no such kind of database (postgres:// is Heroku's)
        hint = " (write postgresql://...)" if scheme.split("+")[0] == "postgres" else ""
        return UsageError(f"the gradebook {where} cannot be used: SQLAlchemy knows no database kind {scheme!r}"
                          f"{hint}; set c.CourseDirectory.db_url in nbgrader_config.py")
    if isinstance(error, ArgumentError):
        return UsageError(f"the gradebook {where} cannot be used: not a database URL (e.g. sqlite:///gradebook.db "
                          "or postgresql://USER:PASSWORD@HOST/DB); set c.CourseDirectory.db_url in nbgrader_config.py")
    if isinstance(error, ImportError):  # the URL names a driver that is not installed here
        return UsageError(f"the gradebook {where} cannot be used: its database driver is not installed here "
                          f"({error}); for PostgreSQL dlgrade ships psycopg 3: write postgresql://...")
    first = str(getattr(error, "orig", None) or error).splitlines()[0][:120]
    return UsageError(f"the gradebook {where} cannot be used: {first}")


def load_assignment(assignment_id: str, root: Path) -> assignments.Assignment:
    """assignments.load, keeping the project's own module names when root is the project."""
    same = root.resolve() == assignments.PROJECT_ROOT.resolve()
    return assignments.load(assignment_id, root=assignments.PROJECT_ROOT if same else root)


# ---- setup and release -----------------------------------------------------------------------------------


def _write_secret(path: Path) -> None:
    """32 random bytes, readable by the instructor only; never replaced (regrades must stay identical)."""
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(handle, "wb") as stream:
        stream.write(os.urandom(32))


def _default_course_id(root: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", root.name).strip("-") or "course"


def setup(root: Path, ids: Sequence[str] | None = None, assignments_root: Path = assignments.PROJECT_ROOT,
          course_id: str | None = None, exchange: Path | None = None, publish: bool = False,
          use_templates: bool = False, log: Callable[[str], None] = print, force: bool = False) -> Course:
    """Create (or update) the course at ``root`` and release ``ids`` (default: every assignment) into it.

    An existing nbgrader_config.py is kept, with what was asked added at its end (``exchange``; dlgrade's
    formgrader hooks where missing), each said in a line; the secret is made once. A source/<id>/ edited since
    setup copied it (formgrader's Edit link goes there) is not replaced without ``force`` (keep_source_edits).
    Each assignment: source/ from the first content pack holding it (the course's own assignments/, dlgrade.yml's
    content folders, then <assignments_root>: see dlgrade.content), nbgrader generate_assignment (gradebook +
    release/), dlgrade's release
    on top (the student notebook with dlcheck/; with ``use_templates`` the project's committed
    student_template/<id>/ where present, which CI keeps current), and with ``publish`` nbgrader
    release_assignment to the exchange.
    """
    from dlgrade.content import packs_of

    root = Path(root).resolve()
    assignments_root = Path(assignments_root).resolve()
    packs = packs_of(root, assignments_root)
    ids = list(ids) if ids else list(packs.ids())
    if not ids:
        raise UsageError(f"no assignments under {assignments_root / 'assignments'}")
    for line in packs.shadowed():
        if line.split(":")[0] in ids:
            log(line)
    loaded = [packs.load(assignment_id) for assignment_id in ids]  # all valid first
    check_configurable(root, course_id)
    check_database(root)
    (root / STATE_DIR).mkdir(parents=True, exist_ok=True)
    for step in STEPS:
        (root / step).mkdir(exist_ok=True)
    configure(root, course_id, exchange, log)
    settings = {"format": SETTINGS_FORMAT, "assignments_root": str(assignments_root)}
    write_atomic(root / STATE_DIR / SETTINGS_FILE, json.dumps(settings, indent=2) + "\n")
    _write_secret(root / STATE_DIR / SECRET_FILE)
    course = Course.open(root)
    for assignment in loaded:  # every assignment's source checked before any is replaced
        keep_source_edits(course, assignment, force, log)
    for assignment in loaded:
        release_into(course, assignment, log, use_templates)
        if publish:
            publish_to_exchange(course, assignment.id)
            log(f"published {assignment.id} to the exchange ({exchange_root(course)})")
    with course.gradebook():
        pass  # created by generate_assignment; opening it checks it is usable
    return course


def check_database(root: Path) -> None:
    """A gradebook on a database server (an existing nbgrader_config.py's db_url) is reached before anything is
    written: a wrong password, a driver or a kind of database not installed here is one line, not a half-made
    course and nbgrader's advice to upgrade its database."""
    if not (root / "nbgrader_config.py").is_file():
        return
    db_url = load_config(root).get("CourseDirectory", {}).get("db_url")
    if not isinstance(db_url, str) or db_url.startswith("sqlite"):
        return
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError

    engine = None
    try:
        engine = create_engine(db_url)
        with engine.connect():
            pass
    except (OperationalError, DatabaseError, ArgumentError, NoSuchModuleError, ImportError) as error:
        raise gradebook_error(db_url, error) from None
    finally:
        if engine is not None:
            engine.dispose()


def check_configurable(root: Path, course_id: str | None) -> None:
    """Refuse, before anything is written, a --course-id an existing nbgrader_config.py contradicts: renaming a
    course whose gradebook and exchange hold the old id is the instructor's edit to make, not a side effect."""
    if course_id is None or not (root / "nbgrader_config.py").is_file():
        return
    configured = load_config(root).get("CourseDirectory", {}).get("course_id")
    if configured is not None and configured != course_id:
        raise UsageError(f"{root / 'nbgrader_config.py'} sets course_id {configured!r}, not {course_id!r}: edit it "
                         "there to rename the course (its gradebook and exchange hold the old id), or drop --course-id")


def configure(root: Path, course_id: str | None = None, exchange: Path | None = None,
              log: Callable[[str], None] = print) -> None:
    """Write nbgrader_config.py, or bring an existing one up to what was asked, appending (later lines win in
    a config file) rather than rewriting the instructor's: the exchange of ``exchange`` and dlgrade's hooks for
    nbgrader's Autograde and Generate Feedback (dlgrade.formgrader), each change said in a line."""
    from dlgrade.formgrader import CONFIG_BLOCK, MARKER, configured

    config_path = root / "nbgrader_config.py"
    wanted = str(Path(exchange).resolve()) if exchange else None
    if not config_path.exists():
        exchange_line = f"c.Exchange.root = {wanted!r}" if wanted else \
            '# c.Exchange.root = "/usr/local/share/nbgrader/exchange"'
        write_atomic(config_path, CONFIG_TEMPLATE.format(course_id=course_id or _default_course_id(root),
                                                         exchange=exchange_line, regexp=DEFAULT_ZIP_REGEXP)
                     + "\n" + CONFIG_BLOCK)
        log(f"wrote {config_path}")
        return
    text = config_path.read_text(encoding="utf-8")
    config = load_config(root)
    added = []
    if wanted is not None and config.get("Exchange", {}).get("root") != wanted:
        before = config.get("Exchange", {}).get("root") or "nbgrader's default"
        added.append(f"\n# set by `dlgrade setup --exchange` (was: {before})\nc.Exchange.root = {wanted!r}\n")
        log(f"{config_path}: the exchange is now {wanted} (was {before})")
    if not configured(config):
        if MARKER in text:
            log(f"warning: {config_path} overrides dlgrade's hooks for nbgrader's Autograde or Generate Feedback: "
                "formgrader's buttons would not grade with dlgrade (see dlgrade/formgrader/__init__.py)")
        else:
            added.append("\n" + CONFIG_BLOCK)
            log(f"{config_path}: added dlgrade's hooks, so that nbgrader's Autograde and Generate Feedback "
                "(formgrader's buttons) grade with dlgrade")
    if added:
        write_atomic(config_path, text.rstrip("\n") + "\n" + "".join(added))


_NOT_SOURCE = (".ipynb_checkpoints", "__pycache__", "*.pyc")
SOURCES_DIR = "sources"  # under .dlgrade/: what setup last copied into source/<id>/, file by file


def _tree_digest(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under ``folder`` (checkpoints and caches left out)."""
    import fnmatch
    import hashlib

    digests = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in _NOT_SOURCE):
            continue
        if path.is_file() or path.is_symlink():
            digests[str(relative)] = hashlib.sha256(path.read_bytes() if path.is_file() else b"link").hexdigest()
    return digests


def _source_manifest(course: Course, assignment_id: str) -> Path:
    return course.state / SOURCES_DIR / f"{assignment_id}.json"


def keep_source_edits(course: Course, assignment: assignments.Assignment, force: bool,
                      log: Callable[[str], None] = print) -> None:
    """Before source/<id>/ is replaced by the project's: refuse (UsageError) when it was edited since setup copied
    it (or, for a course set up before that was recorded, whenever it differs from the project's), unless
    ``force``, which keeps a copy under .dlgrade/replaced/ and says where."""
    source = course.path("source", ".", assignment.id)
    if not source.is_dir():
        return
    here, project = _tree_digest(source), _tree_digest(assignment.source.parent)
    if here == project:
        return
    try:
        copied = json.loads(_source_manifest(course, assignment.id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        copied = None
    if here == copied:
        log(f"updating {source} from {assignment.source.parent} (unchanged since it was copied)")
        return
    changed = sorted(name for name in set(here) | set(copied or project)
                     if here.get(name) != (copied or project).get(name))
    if not force:
        raise UsageError(f"{source} was edited since dlgrade setup copied it ({changed[0] if changed else 'files'}"
                         f"{f' and {len(changed) - 1} more' if len(changed) > 1 else ''}); rerunning setup would "
                         f"replace it with {assignment.source.parent}: move your edits there (dlgrade grades with "
                         "that notebook), or pass --force to replace it (a copy is kept)")
    from datetime import datetime

    backup = course.state / "replaced" / f"{assignment.id}-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"
    shutil.copytree(source, backup, symlinks=True)
    log(f"replacing the edited {source} with {assignment.source.parent} (--force); your version is in {backup}")


def release_into(course: Course, assignment: assignments.Assignment, log: Callable[[str], None] = print,
                 use_templates: bool = False) -> Path:
    """source/<id>/ from the project, then nbgrader generate_assignment (the gradebook's assignment, notebook and
    grade cells, and release/<id>/), then dlgrade's student notebook and dlcheck/ over nbgrader's release."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.utils import capture_log, temp_attrs

    source = course.path("source", ".", assignment.id)
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(assignment.source.parent, source, symlinks=False, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    write_atomic(_source_manifest(course, assignment.id), json.dumps(_tree_digest(source), indent=1) + "\n")
    coursedir = course.coursedir
    with temp_attrs(coursedir, assignment_id=assignment.id), alembic_in_process():
        app = GenerateAssignment(coursedir=coursedir, config=course.config)
        app.force, app.create_assignment = True, True
        result = capture_log(app)
    if not result.get("success"):
        detail = (result.get("error") or result.get("log") or "").strip().splitlines()
        raise UsageError(f"nbgrader generate_assignment failed for {assignment.id}: "
                         f"{detail[-1] if detail else 'no output'}")
    released = course.path("release", ".", assignment.id)
    template = assignment.template.parent
    if use_templates and assignment.template.is_file() and (template / "dlcheck").is_dir():
        shutil.rmtree(released)
        shutil.copytree(template, released, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        with contextlib.suppress(ImportError):  # this course's students draw this course's numbers
            from dlgrade.release import rekey_checker

            rekey_checker(released, assignment.suite, course.secret())
        log(f"released {assignment.id} -> {released} (from {template})")
        return released
    try:
        from dlgrade.release import release
    except ImportError:  # dlgrade's release missing: nbgrader's student version stands on its own
        log(f"released {assignment.id} -> {released} (nbgrader's student notebook; dlcheck/ not available)")
        return released
    with tempfile.TemporaryDirectory(prefix="dlgrade-release-") as scratch:
        built = release(assignment, Path(scratch), numbers_secret=course.secret())  # this course's numbers
        shutil.rmtree(released)
        shutil.copytree(built, released)
    log(f"released {assignment.id} -> {released}")
    return released


def exchange_root(course: Course) -> str:
    from nbgrader.exchange.default.exchange import Exchange

    return Exchange(config=course.config).root


def publish_to_exchange(course: Course, assignment_id: str) -> None:
    """nbgrader release_assignment: release/<id>/ to the exchange's outbound folder, for students to fetch."""
    from nbgrader.auth import Authenticator
    from nbgrader.exchange import ExchangeError, ExchangeFactory
    from nbgrader.utils import temp_attrs

    factory = ExchangeFactory(config=course.config)
    with temp_attrs(course.coursedir, assignment_id=assignment_id):
        app = factory.ReleaseAssignment(coursedir=course.coursedir, authenticator=Authenticator(config=course.config),
                                        config=course.config)
        app.force = True
        try:
            app.start()
        except ExchangeError as error:
            raise UsageError(f"nbgrader release_assignment {assignment_id}: {_one_line(error)}") from None


def release_feedback(course: Course, assignment_id: str, students: Sequence[str]) -> list[str]:
    """nbgrader release_feedback: feedback/<student>/<id>/*.html to the exchange, for `nbgrader fetch_feedback`.

    Returns the students left out: those collected from a zip have no exchange secret (nbgrader's release would
    stop at the first of them with a missing file), so their feedback goes to them through the LMS instead."""
    from nbgrader.auth import Authenticator
    from nbgrader.exchange import ExchangeError, ExchangeFactory
    from nbgrader.utils import temp_attrs

    left_out = [student for student in students
                if not all((course.path("feedback", student, assignment_id) / name).is_file()
                           for name in ("timestamp.txt", "submission_secret.txt"))]
    excluded = [s for s in (course.coursedir.student_id_exclude or "").split(",") if s] + left_out
    factory = ExchangeFactory(config=course.config)
    with temp_attrs(course.coursedir, assignment_id=assignment_id, student_id="*",
                    student_id_exclude=",".join(excluded)):
        app = factory.ReleaseFeedback(coursedir=course.coursedir, authenticator=Authenticator(config=course.config),
                                      config=course.config)
        try:
            app.start()
        except (ExchangeError, OSError) as error:
            raise UsageError(f"nbgrader release_feedback {assignment_id}: {_one_line(error)}") from None
    return left_out


def _one_line(error: BaseException | str) -> str:
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip())[:300]


# ---- unsafe input ----------------------------------------------------------------------------------------


def unsafe_entry(folder: Path) -> str | None:
    """Why a submission folder must not be read (a symbolic link or a special file in it), or None."""
    if folder.is_symlink():
        return f"{folder} is a symbolic link"
    for current, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            path = Path(current) / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                return f"{path} is a symbolic link (to {os.readlink(path)}); submit the file itself"
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                return f"{path} is not a regular file"
    return None


# Unicode categories no student id may hold: control characters (a newline, ESC: they break the summary table,
# grades.csv and terminals), format characters (bidi overrides, zero-width: an id that reads as another),
# surrogates (a folder name that is not UTF-8), line and paragraph separators.
_UNPRINTABLE_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")


def shown_student(student: str) -> str:
    """A student id as one line shows it: every character that is not printable (a newline, ESC, a bidi
    override) escaped as Python writes it, so that an id check_student_id refuses can still be named."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in student)


def check_student_id(student: str) -> None:
    """UsageError, one line, unless ``student`` can be a student id: a folder name without '/', '\\', '*' or a
    leading '.', no control or format character, at most MAX_STUDENT_ID characters."""
    if _UNSAFE_STUDENT.search(student) or student in (".", ".."):
        raise UsageError(f"unusable student id {student!r} (a folder name without '/', '*' or a leading '.')")
    odd = next((c for c in student if unicodedata.category(c) in _UNPRINTABLE_CATEGORIES), None)
    if odd is not None:
        kind = "not UTF-8" if unicodedata.category(odd) == "Cs" else "a control or invisible character"
        raise UsageError(f"unusable student id {student[:80]!r} (it holds U+{ord(odd):04X}, {kind}); rename "
                         "the folder")
    if len(student) > MAX_STUDENT_ID or len(student.encode("utf-8", "surrogateescape")) > 255:
        raise UsageError(f"unusable student id {student[:40]!r}... ({len(student)} characters; nbgrader's gradebook "
                         f"holds {MAX_STUDENT_ID})")


# ---- collect ---------------------------------------------------------------------------------------------


@dataclass
class Collected:
    """What a collect did: students collected, submissions refused (each with its one-line reason), and files
    of a download left out as nobody's submission (their names match no student's file: notes, scripts)."""

    students: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    log: str = ""
    skipped: list[str] = field(default_factory=list)


def collect(course: Course, assignment_id: str, update: bool = True) -> Collected:
    """nbgrader's exchange collect (inbound -> submitted/), refusing submissions that hold symbolic links.

    nbgrader copies a submission with shutil.copytree, which follows links: a student's link to a file of the
    instructor's would be copied in as its content. Such a submission is left in the exchange and reported.
    """
    from datetime import datetime

    from nbgrader.auth import Authenticator
    from nbgrader.exchange import ExchangeError, ExchangeFactory
    from nbgrader.exchange.default.collect import ExchangeCollect
    from nbgrader.utils import capture_log, temp_attrs

    course.assignment(assignment_id)
    factory = ExchangeFactory(config=course.config)
    cls = factory.collect
    refused: list[str] = []
    if issubclass(cls, ExchangeCollect):
        class SafeCollect(cls):  # type: ignore[valid-type, misc]
            def _path_to_record(self, path: str) -> dict[str, Any]:
                # nbgrader stops the whole collect at one folder name it cannot parse: refuse that folder only
                try:
                    return super()._path_to_record(path)
                except (ValueError, OverflowError, ExchangeError) as error:
                    name = os.path.basename(path)
                    refused.append(f"{name.split('+')[0]}: {name}: not a submission folder name nbgrader can read "
                                   f"({_one_line(error)[:100]}); left in the exchange")
                    return {"username": f"\0unusable:{name}", "filename": name, "timestamp": datetime.min}

            def init_src(self) -> None:
                super().init_src()
                keep = []
                for record in self.src_records:
                    if record["username"].startswith("\0unusable:"):
                        continue
                    why = _unusable_id(record["username"]) or \
                        unsafe_entry(Path(self.inbound_path) / record["filename"]) or \
                        _unreadable_timestamp(course, record["username"], assignment_id)
                    if why:
                        refused.append(f"{shown_student(record['username'])}: {why}")
                    else:
                        keep.append(record)
                self.src_records = keep

        cls = SafeCollect
    before = _submitted_students(course, assignment_id)
    with temp_attrs(course.coursedir, assignment_id=assignment_id):
        app = cls(coursedir=course.coursedir, authenticator=Authenticator(config=course.config), config=course.config)
        app.update = update
        result = capture_log(app)
    if not result.get("success"):
        error = result.get("error", "")
        reason = _exchange_failure(error) or _one_line(result.get("log", "") or error)
        raise UsageError(f"nbgrader collect {assignment_id}: {reason}")
    after = _submitted_students(course, assignment_id)
    changed = sorted(s for s in after if after[s] != before.get(s))
    return Collected(changed, refused, result.get("log", ""))


def _unusable_id(student: str) -> str | None:
    """check_student_id's reason, or None."""
    try:
        check_student_id(student)
    except UsageError as error:
        return f"{error}; left in the exchange"
    return None


def _unreadable_timestamp(course: Course, student: str, assignment_id: str) -> str | None:
    """Why nbgrader's collect would stop at this student's collected submission (a timestamp.txt it cannot
    parse, which it reads to tell whether the new one is newer), or None."""
    from nbgrader.utils import parse_utc

    stamp = course.path("submitted", student, assignment_id) / "timestamp.txt"
    try:
        text = stamp.read_text(encoding="utf-8", errors="replace").strip() if stamp.is_file() else ""
        if text:
            parse_utc(text)
    except (ValueError, OverflowError, OSError) as error:
        return f"{stamp} is not a date nbgrader can read ({_one_line(error)[:80]}); fix or delete it to collect again"
    return None


def _exchange_failure(traceback_text: str) -> str | None:
    match = re.search(r"ExchangeError: (.*)", traceback_text)
    return match.group(1).strip() if match else None


def _submitted_students(course: Course, assignment_id: str) -> dict[str, float]:
    """student -> mtime of their submitted folder (to tell what a collect changed)."""
    found = {}
    for student, folder in submitted_folders(course, assignment_id):
        found[student] = folder.stat().st_mtime_ns
    return found


def submitted_folders(course: Course, assignment_id: str) -> list[tuple[str, Path]]:
    """(student, submitted/<student>/<id>/) for every student who has one, sorted by student."""
    import glob

    pattern = course.coursedir.format_path(course.coursedir.submitted_directory, "*", assignment_id)
    regexp = _submitted_regexp(course, assignment_id)
    return sorted((student, Path(path)) for path in glob.glob(pattern)
                  if (student := _submitted_student(regexp, path)) is not None)


def hidden_submitted_folders(course: Course, assignment_id: str) -> list[tuple[str, Path]]:
    """(name, submitted/<.name>/<id>/) of the hidden folders (a leading '.') that submitted_folders() leaves out:
    autograde names each as refused (check_student_id says why) rather than pass them over without a word."""
    import glob

    pattern = course.coursedir.format_path(course.coursedir.submitted_directory, ".*", assignment_id)
    regexp = _submitted_regexp(course, assignment_id)
    return sorted((match.group("student_id"), Path(path)) for path in glob.glob(pattern)
                  if (match := regexp.match(path)) and match.group("student_id").startswith(".")
                  and match.group("student_id") not in (".", "..") and os.path.isdir(path))


def submitted_folder(course: Course, assignment_id: str, student: str) -> Path | None:
    """submitted/<student>/<id>/ of one student, if submitted_folders() would list it (without listing them all)."""
    path = course.coursedir.format_path(course.coursedir.submitted_directory, student, assignment_id)
    return Path(path) if _submitted_student(_submitted_regexp(course, assignment_id), path) == student else None


def _submitted_regexp(course: Course, assignment_id: str) -> re.Pattern[str]:
    return re.compile(course.coursedir.format_path(course.coursedir.submitted_directory, "(?P<student_id>[^/]+)",
                                                   assignment_id, escape=True) + "$")


def _submitted_student(regexp: re.Pattern[str], path: str) -> str | None:
    """The student whose submission folder ``path`` is (one path component, not hidden, a folder or a link), or
    None."""
    match = regexp.match(path)
    if match and not match.group("student_id").startswith(".") and (os.path.isdir(path) or os.path.islink(path)):
        return match.group("student_id")
    return None


def zip_collect(course: Course, assignment_id: str, archives: Sequence[Path] = (), force: bool = False) -> Collected:
    """nbgrader's zip_collect: LMS downloads in downloaded/<id>/archive/ (``archives`` are copied there first)
    are extracted and filed under submitted/<student>/<id>/ by the course's FileNameCollectorPlugin regexp.

    Every archive is read through first (zip slip, links, the bytes it really inflates to: dlgrade.archives), and
    a hostile archive is refused whole, one UsageError, with what this call added (downloads, extracted files)
    taken back; so is a collect that would overwrite collected submissions without ``force``. A student whose id
    or files cannot be used (too long, a link, an unparsable timestamp, two undated copies) is left out and
    named in ``refused``, and the others are collected.
    """
    import logging

    from nbgrader.apps.zipcollectapp import ZipCollectApp
    from nbgrader.coursedir import CourseDirectory

    from dlgrade import archives as archives_module

    course.assignment(assignment_id)
    pending = [Path(a) for a in archives]
    for archive in pending:
        if not archive.is_file():
            raise UsageError(f"{archive}: no such file")
    base = course.root / "downloaded" / assignment_id
    downloaded, extracted = base / "archive", base / "extracted"
    existing = sorted(p for p in downloaded.rglob("*") if p.is_file() or p.is_symlink()) if downloaded.is_dir() else []
    for archive in pending + existing:
        if archive.is_symlink():
            raise UsageError(f"{archive}: is a symbolic link; copy the download itself")
        archives_module.check(archive)
    if not pending and not existing:
        raise UsageError(f"nothing to collect: put the LMS download in {downloaded} or name it on the command line")
    for archive in pending:
        kept = downloaded / archive.name
        if kept.exists() and kept.read_bytes() != archive.read_bytes():
            raise UsageError(f"{kept} is an earlier download of the same name; rename the new one")
    fresh_extract = not (extracted.is_dir() and any(extracted.iterdir()))
    if not fresh_extract and not force:
        raise UsageError(f"{extracted} holds an earlier zip collect: pass --force to collect again (the downloads "
                         "in archive/ are all collected again)")
    config = course.config
    if "named_regexp" not in config.get("FileNameCollectorPlugin", {}):
        config.FileNameCollectorPlugin.named_regexp = DEFAULT_ZIP_REGEXP
    if "valid_ext" not in config.get("FileNameCollectorPlugin", {}):  # nbgrader's default: notebooks only
        config.FileNameCollectorPlugin.valid_ext = [".ipynb", ".py"]
    collected: list[str] = []
    refused: dict[str, str] = {}  # student -> why their files are not collected (the others' are)

    class CheckedZipCollect(ZipCollectApp):
        def _transfer_files(self, data: dict[str, Any]) -> None:
            # Check every student before nbgrader copies anything: one whose id or files cannot be used is left
            # out (and said), one that would overwrite a collected submission stops the collect untouched.
            for student, info in list(data.items()):
                try:
                    check_student_id(student)
                    links = [source for source in info["src_files"] if os.path.islink(source)]
                    if links:
                        raise UsageError(f"{links[0]}: is a symbolic link")
                except UsageError as error:
                    refused.setdefault(student, str(error))
                if student in refused:
                    del data[student]
                    continue
                destination = course.path("submitted", student, assignment_id)
                if destination.exists() and any(destination.iterdir()) and not self.force:
                    raise UsageError(f"{student} already has a submission in {destination}; pass --force to "
                                     "replace the collected submissions with these")
            super()._transfer_files(data)
            collected.extend(sorted(data))

    app = CheckedZipCollect(config=config)
    app.coursedir = CourseDirectory(config=config, root=str(course.root), assignment_id=assignment_id)
    app.force = force
    messages: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    # nbgrader's apps log every file at INFO to stderr; keep its warnings and errors for our one line instead
    logger = app.log
    saved = logger.handlers[:], logger.level, logger.propagate
    logger.handlers, logger.propagate = [Keep()], False
    logger.setLevel(logging.WARNING)
    copied: list[Path] = []
    try:
        downloaded.mkdir(parents=True, exist_ok=True)
        for archive in pending:
            if not (downloaded / archive.name).exists():
                shutil.copy(archive, downloaded / archive.name)
                copied.append(downloaded / archive.name)
        app.init_plugins()
        app.extractor_plugin_inst = archives_module.StreamingExtractor(parent=app)
        app.extractor_plugin_inst.force = force
        _screen_collected_files(app.collector_plugin_inst, refused)
        app.extract_archive_files()
        why = unsafe_entry(extracted) if extracted.exists() else None
        if why:
            raise UsageError(f"{why}; nothing was collected")
        app.process_extracted_files()
    except BaseException as error:
        for path in copied:
            path.unlink(missing_ok=True)
        if fresh_extract:
            shutil.rmtree(extracted, ignore_errors=True)
        if isinstance(error, SystemExit):  # nbgrader's NbGrader.fail() logs, then exits
            raise UsageError(f"nbgrader zip_collect {assignment_id}: "
                             f"{_one_line(messages[-1] if messages else 'failed')}") from None
        raise
    finally:
        logger.handlers, logger.level, logger.propagate = saved[0], saved[1], saved[2]
    lines = [f"{shown_student(student)}: {why}" for student, why in sorted(refused.items())]
    return Collected(collected, app.extractor_plugin_inst.skipped + lines, "\n".join(messages),
                     _passed_over(messages, extracted))


# nbgrader's zip_collect warnings for a file it leaves out (its name gives no student and notebook of the
# assignment, or a notebook name the assignment does not have, under --strict)
_PASSED_OVER = re.compile(r"^(?:Skipped submission with no match information provided: (?P<file>.*)"
                          r"|Skipped notebook with invalid name '(?P<notebook>.*)')$", re.S)


def _passed_over(messages: Sequence[str], extracted: Path) -> list[str]:
    """The files of a download zip_collect left out, as paths inside the download (from nbgrader's warnings)."""
    found = []
    for message in messages:
        match = _PASSED_OVER.match(message)
        if match and match.group("file") is not None:
            path = Path(match.group("file"))
            found.append(str(path.relative_to(extracted)) if path.is_relative_to(extracted) else str(path))
        elif match:
            found.append(match.group("notebook"))
    return found


def _screen_collected_files(collector: Any, refused: dict[str, str]) -> None:
    """Wrap a FileNameCollectorPlugin's collect() so that a file nbgrader's zip_collect would stop the whole
    collect over (a timestamp it cannot parse, a second file for the same notebook with no timestamps to choose
    between) instead refuses that one student, whose files are then left out (see _transfer_files)."""
    from nbgrader.utils import parse_utc

    original = collector.collect
    dated: dict[tuple[str, str], bool] = {}  # (student, notebook) -> whether its file so far had a timestamp

    def collect(path: str) -> Any:
        info = original(path)
        if not info or not isinstance(info.get("student_id"), str) or not isinstance(info.get("file_id"), str):
            return info
        student, stamp = info["student_id"], info.get("timestamp")
        if isinstance(stamp, str) and stamp:
            try:
                parse_utc(stamp)
            except (ValueError, OverflowError):
                refused.setdefault(student, f"{os.path.basename(path)}: timestamp {stamp[:60]!r} is not a date")
                return None
        key = (student, os.path.splitext(info["file_id"])[0] + os.path.splitext(path)[1])
        if key in dated and not (stamp and dated[key]):
            refused.setdefault(student, f"two files for {key[1]} and no timestamps to tell the newer")
            return None
        dated[key] = bool(stamp)
        return info

    collector.collect = collect


# ---- export ----------------------------------------------------------------------------------------------


def export_csv(course: Course, destination: Path, assignment_ids: Sequence[str] = ()) -> Path:
    """nbgrader's CSV export, one row per assignment and student of the gradebook, written whole or not at all
    and safe to open in a spreadsheet (dlgrade.formgrader.export)."""
    from dlgrade.formgrader.export import SafeCsvExportPlugin

    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
    os.close(handle)
    plugin = SafeCsvExportPlugin(config=course.config)
    plugin.to = temporary
    plugin.assignment = list(assignment_ids)
    try:
        with course.gradebook() as book:
            plugin.export(book)
        os.chmod(temporary, 0o644)
        os.replace(temporary, destination)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return destination
