"""One hostile input never stops a whole collect: a zip member that lies about its size is refused in one line with
memory kept small (its bytes are counted as they inflate, streamed), an archive past the budget is refused whole,
and a student whose entry cannot be used (an id too long for a file name or the gradebook, a timestamp nobody can
parse, two undated copies of one notebook, an unreadable collected timestamp) is left out and named while every
other student is collected."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from course_helpers import (
    FIXTURE_ROOT,
    base_course,  # noqa: F401 - a fixture
    cli,
    course,  # noqa: F401 - a fixture
    mini,
)

from dlgrade import archives
from dlgrade.errors import UsageError

BOMB_BYTES = 300 << 20


def lying_zip(path: Path, members: dict[str, bytes], bomb_name: str, inflated: int = BOMB_BYTES,
              declared: int = 4096) -> Path:
    """A zip of ``members`` plus one deflated member of ``inflated`` zero bytes whose headers declare ``declared``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        with archive.open(bomb_name, "w", force_zip64=False) as member:
            for _ in range(inflated >> 20):
                member.write(bytes(1 << 20))
    data = bytearray(buffer.getvalue())
    for offset in _headers(data, b"PK\x03\x04", bomb_name):
        struct.pack_into("<I", data, offset + 22, declared)
    for offset in _headers(data, b"PK\x01\x02", bomb_name):
        struct.pack_into("<I", data, offset + 24, declared)
    path.write_bytes(bytes(data))
    return path


def _headers(data: bytearray, signature: bytes, name: str) -> list[int]:
    """Offsets of the local (PK34) or central (PK12) headers of the member ``name``."""
    found, start = [], 0
    name_offset = 30 if signature == b"PK\x03\x04" else 46
    while (offset := data.find(signature, start)) >= 0:
        length = struct.unpack_from("<H", data, offset + (26 if name_offset == 30 else 28))[0]
        if bytes(data[offset + name_offset:offset + name_offset + length]) == name.encode():
            found.append(offset)
        start = offset + 4
    return found


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def run_measured(*args: str | Path) -> tuple[int, str, int]:
    """`dlgrade ARGS` as a process: exit status, stderr, and its peak resident memory in MB."""
    wrapper = ("import resource, subprocess, sys\n"
               "done = subprocess.run([sys.executable, '-m', 'dlgrade.cli', *sys.argv[1:]], stderr=subprocess.PIPE, "
               "stdout=subprocess.DEVNULL, text=True)\n"
               "sys.stderr.write(done.stderr)\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n"
               "sys.exit(done.returncode)\n")
    done = subprocess.run([sys.executable, "-c", wrapper, *map(str, args)], capture_output=True, text=True,
                          timeout=600)
    return done.returncode, done.stderr, int(done.stdout.strip())


def test_a_member_lying_about_its_size_is_refused_in_one_line_with_little_memory(course: Path,  # noqa: F811
                                                                                 tmp_path: Path) -> None:
    notebook = mini().source.read_bytes()
    bomb = lying_zip(tmp_path / "download.zip", {"alice_mini.ipynb": notebook}, "mallory_mini.ipynb")
    assert zipfile.ZipFile(bomb).getinfo("mallory_mini.ipynb").file_size == 4096
    code, err, peak_mb = run_measured("collect", "mini", "--course", course, "--zip", bomb)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dlgrade: ") and "mallory_mini.ipynb" in lines[0], err
    assert "not what it declares" in lines[0]
    assert peak_mb < 250, f"peak {peak_mb} MB: the member was inflated in memory"  # it inflates to 300 MB
    assert not list((course / "submitted").iterdir()) and not (course / "downloaded").exists()


def test_an_archive_past_the_budget_is_refused_whole(course: Path, tmp_path: Path,  # noqa: F811
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "MAX_ARCHIVE_BYTES", 8 << 20)
    inner = _zip(tmp_path / "inner.zip", {"bob_mini.ipynb": bytes(6 << 20)})
    outer = _zip(tmp_path / "download.zip", {"alice_mini.ipynb": bytes(3 << 20), "nested/inner.zip":
                                             inner.read_bytes()})
    with pytest.raises(UsageError, match="expands to more than 8 MB"):
        archives.check(outer)
    run = cli("collect", "mini", "--course", course, "--zip", outer)
    assert run.code == 2 and "expands to more than 8 MB" in run.err
    assert not list((course / "submitted").iterdir())


def test_unusable_student_entries_are_refused_and_the_rest_collected(course: Path, tmp_path: Path) -> None:  # noqa: F811
    notebook = mini().source.read_bytes()
    too_long_for_a_file = "x" * 300
    too_long_for_the_gradebook = "y" * 150
    download = _zip(tmp_path / "download.zip", {
        "alice_mini.ipynb": notebook, "bob/mini.ipynb": notebook,
        f"{too_long_for_a_file}_mini.ipynb": notebook, f"{too_long_for_the_gradebook}_mini.ipynb": notebook,
        "carol_mini.ipynb": notebook, "carol/mini.ipynb": notebook,  # two undated copies of one notebook
    })
    run = cli("collect", "mini", "--course", course, "--zip", download)
    assert run.code == 1, run.err  # done, with refusals
    assert "collected 2 submission(s) of mini: alice, bob" in run.out
    refusals = [line for line in run.err.splitlines() if line.startswith("dlgrade: refused")]
    assert len(refusals) == 3, run.err
    assert any("name too long" in line for line in refusals)
    assert any("150 characters" in line for line in refusals)
    assert any(line.startswith("dlgrade: refused carol: two files for mini.ipynb") for line in refusals)
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["alice", "bob"]
    for student in ("alice", "bob"):
        assert (course / "submitted" / student / "mini" / "mini.ipynb").read_bytes() == notebook


def test_an_unparsable_lms_timestamp_refuses_that_student_only(course: Path, tmp_path: Path) -> None:  # noqa: F811
    with open(course / "nbgrader_config.py", "a") as config:
        config.write("\nc.FileNameCollectorPlugin.named_regexp = "
                     r"r'.*/(?P<student_id>[^/_]+)_(?P<timestamp>[^_]+)_(?P<file_id>[^/]+\.ipynb)$'" "\n")
    notebook = mini().source.read_bytes()
    download = _zip(tmp_path / "download.zip", {"alice_20300101T100000_mini.ipynb": notebook,
                                                 "mallory_not-a-date-at-all_mini.ipynb": notebook})
    run = cli("collect", "mini", "--course", course, "--zip", download)
    assert run.code == 1, run.err
    assert "collected 1 submission(s) of mini: alice" in run.out
    assert "dlgrade: refused mallory: mallory_not-a-date-at-all_mini.ipynb: timestamp" in run.err
    assert (course / "submitted" / "alice" / "mini" / "timestamp.txt").read_text().startswith("2030-01-01")
    assert not (course / "submitted" / "mallory").exists()


def test_an_exchange_folder_with_an_unparsable_timestamp_refuses_that_student_only(course: Path,  # noqa: F811
                                                                                   tmp_path: Path) -> None:
    from dlgrade.course import Course
    from dlgrade.demo import submit as student_submits

    exchange = tmp_path / "exchange"
    exchange.mkdir()
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.Exchange.root = {str(exchange)!r}\nc.ExchangeCollect.check_owner = False\n")
    assert cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT, "--publish").code == 0
    config = Course.open(course).config
    for student in ("alice", "bob"):
        student_submits(config, tmp_path, "course", student, "mini", mini().source)
    hostile = exchange / "course" / "inbound" / "mallory+mini+not a date at all+x"
    hostile.mkdir()
    (hostile / "mini.ipynb").write_bytes(mini().source.read_bytes())
    (course / "submitted" / "bob" / "mini").mkdir(parents=True)
    (course / "submitted" / "bob" / "mini" / "timestamp.txt").write_text("garbage, not a time")
    run = cli("collect", "mini", "--course", course)
    assert run.code == 1, run.err
    assert "collected 1 submission(s) of mini: alice" in run.out
    refusals = [line for line in run.err.splitlines() if line.startswith("dlgrade: refused")]
    assert len(refusals) == 2, run.err
    assert any(line.startswith("dlgrade: refused mallory: ") and "left in the exchange" in line for line in refusals)
    assert any(line.startswith("dlgrade: refused bob: ") and "timestamp.txt is not a date" in line
               for line in refusals)
    assert (course / "submitted" / "alice" / "mini" / "mini.ipynb").is_file()
    assert not (course / "submitted" / "mallory").exists() and hostile.is_dir()
