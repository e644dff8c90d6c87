"""LMS downloads (zip, tar.gz, archives inside archives) checked and extracted without trusting what they declare.

An archive is hostile input: a member may declare 4 KB and inflate to gigabytes (Python's zipfile, asked for a whole
member, inflates all of it in memory before it notices the lie), climb out of the folder (zip slip), be a link, or
carry a setuid mode. So every member is read in chunks of at most CHUNK bytes, the bytes it actually inflates to
are counted against one budget for the whole download (nested archives included), a member whose data does not
match what it declares is refused, only stored and deflated zip members are read (a bzip2 or LZMA chunk inflates
without bound), and extraction writes plain files (0644) and folders (0755), streamed, never a link or a mode of
the archive's. check() reads everything before anything is written; StreamingExtractor then replaces nbgrader's
extractor (which reads each member whole into memory) in `dlgrade collect --zip`.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import stat
import tarfile
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from nbgrader.plugins.zipcollect import ExtractorPlugin

from dlgrade.errors import UsageError

MAX_ARCHIVE_BYTES = 1 << 30  # inflated, all members of all (nested) archives of one download together
MAX_NESTING = 3
CHUNK = 1 << 20
ARCHIVE_SUFFIXES = (".zip", ".gz")
READABLE_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)

__all__ = ["MAX_ARCHIVE_BYTES", "MAX_NESTING", "StreamingExtractor", "check"]


class _Budget:
    """Bytes of inflated data still allowed for one download."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = self.left = MAX_ARCHIVE_BYTES if limit is None else limit

    def take(self, size: int, label: str) -> None:
        self.left -= size
        if self.left < 0:
            raise UsageError(f"{label}: expands to more than {self.limit >> 20} MB; nothing was collected")


def bad_member(name: str) -> str | None:
    """Why a member's path must not be extracted, or None."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\x00" in name:
        return "a path outside the archive (zip slip)"
    return None


def _zip_refusal(info: zipfile.ZipInfo) -> str | None:
    why = bad_member(info.filename)
    if why is None and stat.S_ISLNK(info.external_attr >> 16):
        why = "a symbolic link"
    if why is None and info.compress_type not in READABLE_ZIP_METHODS:
        why = f"compressed with method {info.compress_type} (only stored and deflated members are read)"
    return why


def _copy(stream: IO[bytes], sink: IO[bytes] | None, budget: _Budget, label: str, name: str) -> None:
    """Stream a member into ``sink`` (or nowhere), CHUNK bytes at a time, counting what it really inflates to."""
    while True:
        try:
            chunk = stream.read(CHUNK)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, tarfile.TarError) as error:
            raise UsageError(f"{label}: member {name!r} is corrupt or not what it declares "
                             f"({str(error)[:120]}); nothing was collected") from None
        if not chunk:
            return
        budget.take(len(chunk), label)
        if sink is not None:
            sink.write(chunk)


def _is_tar_name(name: str) -> bool:
    return name.endswith(".gz")


@contextlib.contextmanager
def _opened(source: Path | IO[bytes], name: str, label: str) -> Iterator[tuple[str, Any]]:
    """("zip", ZipFile) or ("tar", TarFile) of an archive; UsageError for what is neither."""
    if zipfile.is_zipfile(source):
        if not isinstance(source, Path):
            source.seek(0)
        with zipfile.ZipFile(source) as archive:
            yield "zip", archive
        return
    if not isinstance(source, Path):
        source.seek(0)
    if _is_tar_name(name):
        try:
            archive = tarfile.open(name=str(source) if isinstance(source, Path) else None,
                                   fileobj=None if isinstance(source, Path) else source, mode="r:*")
        except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
            raise UsageError(f"{label}: not a readable archive ({str(error)[:120]})") from None
        with archive:
            yield "tar", archive
        return
    raise UsageError(f"{label}: not a readable zip archive")


def _members(kind: str, archive: Any, label: str) -> Iterator[tuple[str, bool, Any]]:
    """(name, is a folder, handle) of every member, each refused if it escapes, links or cannot be read."""
    if kind == "zip":
        for info in archive.infolist():
            why = _zip_refusal(info)
            if why:
                raise UsageError(f"{label}: member {info.filename!r} is {why}; nothing was collected")
            yield info.filename, info.is_dir(), info
        return
    try:
        for member in archive:
            why = bad_member(member.name)
            if why is None and not (member.isfile() or member.isdir()):
                why = "a link or a special file"
            if why:
                raise UsageError(f"{label}: member {member.name!r} is {why}; nothing was collected")
            yield member.name, member.isdir(), member
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise UsageError(f"{label}: not a readable archive ({str(error)[:120]})") from None


@contextlib.contextmanager
def _member_stream(kind: str, archive: Any, handle: Any, label: str, name: str) -> Iterator[IO[bytes]]:
    try:
        stream = archive.open(handle) if kind == "zip" else archive.extractfile(handle)
    except (zipfile.BadZipFile, zlib.error, OSError, tarfile.TarError, NotImplementedError) as error:
        raise UsageError(f"{label}: member {name!r} cannot be read ({str(error)[:120]}); nothing was "
                         "collected") from None
    with stream or open(os.devnull, "rb") as opened:
        yield opened


class _Layout:
    """The paths one download extracts to (nested archives' members under the folder each is extracted to), to
    refuse what extraction would silently lose: a member named twice (the last copy would replace the first),
    or a name that is both a file and a folder (one of them cannot be written). Names are compared as the file
    system will see them: '\\' as '/', '.' and repeated '/' dropped, Unicode composed (NFC: 'ü' typed two ways
    looks the same to a grader); not case-folded, as student ids and this file system tell case apart."""

    def __init__(self) -> None:
        self.files: set[str] = set()
        self.folders: set[str] = set()

    def add(self, path: str, folder: bool, label: str, name: str) -> None:
        path = unicodedata.normalize("NFC", posixpath.normpath(path.replace("\\", "/")).lstrip("/"))
        if path in (".", ""):
            return
        parents = [p for p in (posixpath.dirname(path),) if p]
        while parents and posixpath.dirname(parents[-1]):
            parents.append(posixpath.dirname(parents[-1]))
        if folder:
            clash = path in self.files
        else:
            if path in self.files:
                raise UsageError(f"{label}: member {name!r} is in the archive twice (one copy would silently "
                                 "replace the other); nothing was collected")
            clash = path in self.folders
        clash = clash or any(parent in self.files for parent in parents)
        if clash:
            raise UsageError(f"{label}: member {name!r} is both a file and a folder in the archive (one of them "
                             "cannot be extracted); nothing was collected")
        (self.folders if folder else self.files).add(path)
        self.folders.update(parents)


def check(path: Path, budget: _Budget | None = None, depth: int = 0, source: IO[bytes] | None = None,
          label: str | None = None, layout: _Layout | None = None, under: str = "") -> None:
    """Read an archive and every archive inside it through, writing nothing: refuse (UsageError, one line) a
    member that escapes, links, lies about its data or is compressed past what we read, a member named twice or
    both a file and a folder (_Layout), nesting deeper than MAX_NESTING, or more than MAX_ARCHIVE_BYTES of
    inflated data in all. Memory stays within a few CHUNKs; nested archives are spooled to temporary files.
    ``under``: the folder (in the download's layout) a nested archive's members are extracted to."""
    budget = budget or _Budget()
    layout = layout or _Layout()
    label = label or str(path)
    if not path.name.endswith(ARCHIVE_SUFFIXES):
        return  # a plain file: copied as it is (nbgrader tells archives by their names too)
    if depth > MAX_NESTING:
        raise UsageError(f"{label}: archives nested more than {MAX_NESTING} deep; nothing was collected")
    with _opened(source if source is not None else path, path.name, label) as (kind, archive):
        for name, folder, handle in _members(kind, archive, label):
            layout.add(posixpath.join(under, name), folder, label, name)
            if folder:
                continue
            nested = name.endswith(ARCHIVE_SUFFIXES)
            if nested:  # extracted to a folder of its own beside it (_own_folder)
                layout.add(posixpath.join(under, str(_own_folder(Path(name)))), True, label, name)
            with _member_stream(kind, archive, handle, label, name) as stream, \
                    (tempfile.TemporaryFile() if nested else contextlib.nullcontext()) as spool:
                _copy(stream, spool, budget, label, name)
                if nested:
                    check(Path(name), budget, depth + 1, spool, f"{label}!{name}", layout,
                          posixpath.join(under, str(_own_folder(Path(name)))))


def _own_folder(archive: Path) -> Path:
    """Where nbgrader extracts an archive: a folder beside it named after it (without .zip, .gz or .tar.gz)."""
    stem = archive.name[:-len(archive.suffix)] if archive.suffix else archive.name
    return archive.parent / (stem[:-4] if stem.endswith(".tar") else stem)


def _name_too_long(path: Path) -> bool:
    limit = os.pathconf(path.anchor or "/", "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
    return any(len(os.fsencode(part)) > limit for part in path.parts)


def extract(archive: Path, destination: Path, budget: _Budget, skipped: list[str], depth: int = 0) -> None:
    """Extract an archive into ``destination`` streamed (plain files 0644, folders 0755), then each archive found
    in it into a folder of its own beside it, as nbgrader's unzip(tree=True) lays them out. A member whose name
    no file system here can hold is left out and said in ``skipped``, the others extracted."""
    label = str(archive)
    if depth > MAX_NESTING:
        raise UsageError(f"{label}: archives nested more than {MAX_NESTING} deep; nothing was collected")
    destination.mkdir(mode=0o755, parents=True, exist_ok=True)
    root = destination.resolve()
    nested = []
    with _opened(archive, archive.name, label) as (kind, opened):
        for name, folder, handle in _members(kind, opened, label):
            target = (destination / name).resolve()
            if target != root and root not in target.parents:
                raise UsageError(f"{label}: member {name!r} is a path outside the archive; nothing was collected")
            if _name_too_long(target):
                skipped.append(f"{label}: member {name[:60]!r}... has a name too long for a file; not collected")
                continue
            if folder:
                target.mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            try:
                target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                with _member_stream(kind, opened, handle, label, name) as stream, \
                        open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644),
                             "wb") as out:
                    _copy(stream, out, budget, label, name)
                os.chmod(target, 0o644)
            except OSError as error:  # check() refuses what it can foresee; the file system may refuse more
                raise UsageError(f"{label}: member {name!r} cannot be extracted ({error.strerror or error}); "
                                 "nothing was collected") from None
            if name.endswith(ARCHIVE_SUFFIXES):
                nested.append(target)
    for inner in nested:
        extract(inner, _own_folder(inner), budget, skipped, depth + 1)


class StreamingExtractor(ExtractorPlugin):
    """nbgrader's ExtractorPlugin (the same layout under extracted/), streamed and bounded by extract() (a budget
    per download); ``skipped``: the members left out, one line each."""

    skipped: list[str]

    def extract(self, archive_path: str, extracted_path: str) -> None:
        self.skipped = []
        source_root = Path(archive_path)
        for folder, _, names in os.walk(archive_path):
            extract_to = Path(extracted_path) / Path(folder).relative_to(source_root)
            extract_to.mkdir(mode=0o755, parents=True, exist_ok=True)
            for name in sorted(names):
                path = Path(folder) / name
                if path.suffix in self.zip_ext:
                    extract(path, _own_folder(extract_to / name), _Budget(), self.skipped)
                else:
                    with open(path, "rb") as stream, open(extract_to / name, "wb") as out:
                        _copy(stream, out, _Budget(), str(path), name)
                    os.chmod(extract_to / name, 0o644)
