"""One student cannot change the grade of the students graded after them in the same sandbox.

Each attack is a submission graded on the shared sandbox; then a correct student, graded on that same sandbox,
must still get full marks, and the host must be unchanged. The attacks run at the top of the 'mse' solution cell
and print a one-line JSON report (read back from the result's output) that says how far they got, so a test
also proves the attack ran, and failed for the reason we built, rather than passing by missing its target.

Every attack runs twice: on the session's sandbox, whose children get their own user, mount and IPC namespaces
with a fresh /tmp and /dev/shm each, and on a sandbox that cannot nest user namespaces (bubblewrap's
--disable-userns: hosts that forbid them, such as Ubuntu's AppArmor default), whose children share a /tmp that
the fork server wipes between them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from engine_helpers import with_cell

from dlgrade import assignments
from dlgrade.grading import Grader, SubmissionResult
from dlgrade.sandbox.launcher import Limits

REPORT = "ISOLATION-REPORT "


def _report_line() -> str:
    return f"\nprint({REPORT!r} + json.dumps(report))\n"


# The fork server runs the worker as __main__; a child is its forked copy, so an object the fork server made
# before the fork sits at the same address in both. The attack rewrites the fork server's `_encode_array` global
# (the worker's .npy writer) to numpy's raw `tobytes`: every later child then sends unreadable answers.
FORK_SERVER_SLOT = """
import ctypes, json, os, struct, sys
import numpy as np

def fork_server_slot():
    table = sys.modules["__main__"].__dict__
    key = next((k for k in table if k == "_encode_array"), None)
    if key is None:
        return None
    pair = struct.pack("QQ", id(key), id(table[key]))
    keys = ctypes.c_void_p.from_address(id(table) + 32).value  # PyDictObject.ma_keys (CPython 3.11)
    index_bytes = 1 << ctypes.c_uint8.from_address(keys + 9).value
    entries = ctypes.c_ssize_t.from_address(keys + 24).value
    at = ctypes.string_at(keys, 32 + index_bytes + 16 * entries).find(pair)
    return None if at < 0 else keys + at + 8

FORGERY = id(np.ndarray.tobytes)
report = {"slot": fork_server_slot() is not None}
"""

ATTACKS = {
    "proc_mem_write": FORK_SERVER_SLOT + """
try:
    with open("/proc/1/mem", "r+b", buffering=0) as memory:
        memory.seek(fork_server_slot())
        memory.write(struct.pack("Q", FORGERY))
    report["mem"] = "written"
except OSError as error:
    report["mem"] = type(error).__name__
""",
    "ptrace_poke": FORK_SERVER_SLOT + """
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
if libc.ptrace(16, 1, None, None) != 0:  # PTRACE_ATTACH to the fork server
    report["ptrace"] = os.strerror(ctypes.get_errno())
else:
    os.waitpid(1, 0x40000000)  # __WALL
    poked = libc.ptrace(5, 1, fork_server_slot(), FORGERY)  # PTRACE_POKEDATA
    libc.ptrace(17, 1, None, None)  # PTRACE_DETACH
    report["ptrace"] = "written" if poked == 0 else "poke failed"
""",
    # The fork server's descriptors: fd 0 is its control channel to the grader, fd 2 the grader's stderr file.
    "stolen_descriptors": """
import ctypes, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
report = {}
pidfd = libc.syscall(434, 1, 0)  # pidfd_open(1): the same number on x86_64 and aarch64
if pidfd < 0:
    report["pidfd_open"] = os.strerror(ctypes.get_errno())
else:
    stolen = libc.syscall(438, pidfd, 0, 0)  # pidfd_getfd(pidfd, 0)
    if stolen < 0:
        report["pidfd_getfd"] = os.strerror(ctypes.get_errno())
    else:
        channel = socket.socket(fileno=stolen)
        for _ in range(20):
            channel.send(json.dumps({"op": "reaped", "status": 0}).encode())
            channel.send(json.dumps({"op": "spawned", "pid": 2}).encode())
        report["forged"] = 40
for fd in (0, 2):
    try:
        with open(f"/proc/1/fd/{fd}", "a") as handle:
            handle.write("a student wrote this into the grader's file\\n")
        report[f"fd{fd}"] = "written"
    except OSError as error:
        report[f"fd{fd}"] = type(error).__name__
""",
    # Where the next child's job directory would be (today /tmp/job-<pid>, pids counting up in the namespace).
    "planted_job_dirs": """
import json, os
os.makedirs("/tmp/trap", exist_ok=True)
planted = 0
for pid in range(os.getpid() + 1, os.getpid() + 300):
    path = f"/tmp/job-{pid}"
    try:
        if pid % 3 == 0:
            open(path, "w").close()
        elif pid % 3 == 1:
            os.symlink("/nonexistent/trap", path)
        else:
            os.mkdir(path, 0o777)
            os.mkfifo(os.path.join(path, ".output"))
        planted += 1
    except OSError:
        pass
report = {"planted": planted}
""",
    "leftovers": """
import ctypes, json, os
report = {}
for where in ("/tmp", "/tmp/deep/er", "/dev/shm", os.getcwd(), "/", "/etc", "/opt", "/dev"):
    try:
        os.makedirs(where, exist_ok=True)
        with open(os.path.join(where, "note-for-the-next-student"), "w") as note:
            note.write("the hidden answer is 42")
        report[where] = "left"
    except OSError as error:
        report[where] = type(error).__name__
libc = ctypes.CDLL(None, use_errno=True)
segment = libc.shmget(0x5EC2E7, 4096, 0o1666)  # IPC_CREAT | 0666
report["sysv"] = "left" if segment >= 0 else os.strerror(ctypes.get_errno())
""",
    # What a sweep must remove however it is built: deeper than Python's recursion limit and than PATH_MAX, no
    # permissions, symlinks into and out of it, a FIFO, a job-* name that is a file.
    "odd_tree": """
import json, os
os.makedirs("/tmp/odd", exist_ok=True)
os.chdir("/tmp/odd")
for depth in range(3000):
    os.mkdir("d")
    os.chdir("d")
os.symlink("/tmp/odd", "loop")
os.mkfifo("fifo")
os.chdir("/tmp")
os.mkdir("/tmp/locked", 0o700)
os.mkdir("/tmp/locked/unreadable", 0o300)
open("/tmp/locked/unreadable/file", "w").close()
os.mkdir("/tmp/locked/none", 0)
try:
    os.chmod("/tmp/locked", 0)
except OSError:  # refused where a child shares the host's device nodes (see confine.METADATA_CALLS)
    pass
os.symlink("/etc/passwd", "/tmp/outward")
open("/tmp/job-0", "w").close()
open("/dev/shm/odd", "w").close()
report = {"built": True}
""",
    "fill_tmp": """
import json, os
written, block, stopped = 0, b"x" * (8 << 20), None
try:
    for number in range(128):  # 1 GiB in files below the per-file limit
        with open(f"/tmp/fill-{number}", "wb") as handle:
            handle.write(block)
        written += len(block)
except OSError as error:
    stopped = type(error).__name__
for number in range(2):  # room for the report: its print goes to a file in the same /tmp
    os.remove(f"/tmp/fill-{number}")
report = {"MiB": written >> 20, "stopped": stopped}
""",
    # Many directories take the fork server long to sweep (today: shutil.rmtree of the job directory), and the
    # next student's first question used to pay for that wait on its clock.
    "slow_sweep": """
import json, os, time
made, started, stopped = 0, time.monotonic(), None
try:
    while time.monotonic() - started < 6:
        for _ in range(500):
            os.mkdir(f"d{made}")
            made += 1
except OSError as error:
    stopped = type(error).__name__
report = {"dirs": made, "stopped": stopped}
""",
}

SPY = """
import ctypes, json, os, sys
mine = os.getcwd()  # the spy's own job directory, and its ancestors, are not leftovers
# nor is the Python installation, bound read-only where it lies (a checkout's venv may sit under /tmp)
python = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}

def ours(path):
    return any((tree + "/").startswith(path + "/") or path.startswith(tree + "/") for tree in [mine, *python])

def everything(top):
    for root, dirs, files in os.walk(top):
        dirs[:] = [name for name in dirs if os.path.join(root, name) not in python]  # not walked: the installation
        yield from (os.path.join(root, name) for name in dirs + files)

found = [path for top in ("/tmp", "/dev/shm") for path in everything(top) if not ours(path)]
found += [path for path in ("/note-for-the-next-student", "/etc/note-for-the-next-student",
                            "/opt/note-for-the-next-student", "/dev/note-for-the-next-student") if os.path.exists(path)]
libc = ctypes.CDLL(None, use_errno=True)
if libc.shmget(0x5EC2E7, 0, 0) >= 0:
    found.append("sysv segment")
tmp = os.statvfs("/tmp")
report = {"found": found[:20], "tmp_used_MiB": (tmp.f_blocks - tmp.f_bfree) * tmp.f_frsize >> 20}
"""


@pytest.fixture(params=["nested", "shared_tmp"])
def world(request: pytest.FixtureRequest, mini: assignments.Assignment, grader: Grader) -> Grader:
    """The session's grader (children in namespaces of their own), or one whose sandbox cannot nest them."""
    if request.param == "nested":
        return grader
    return Grader(mini, request.getfixturevalue("shared_tmp_sandbox"), secret=b"engine-tests")


def _attack(world: Grader, tmp_path: Path, code: str) -> tuple[SubmissionResult, dict]:
    source = code + _report_line() + "def mse_loss(input, target, reduction='mean'):\n    return 0.0\n"
    result = world.grade(with_cell(world.assignment.source, "mse_solution", source, tmp_path / "attack.ipynb"))
    lines = [line for line in result.output.splitlines() if line.startswith(REPORT)]
    assert lines, f"the attack did not run to its report: {result.output!r} {result.notes!r}"
    return result, json.loads(lines[-1][len(REPORT):])


def _correct_student_gets_full_marks(world: Grader) -> None:
    result = world.grade(world.assignment.source)
    assert {q.name: q.status for q in result.questions} == {name: "passed" for name in world.assignment.points}
    assert result.score == result.max_score == 5.0


def _spy(world: Grader, tmp_path: Path) -> dict:
    return _attack(world, tmp_path, SPY)[1]


def _shmem_bytes() -> int:
    """The host's shared memory in use (tmpfs pages among it)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Shmem:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no Shmem line in /proc/meminfo")


def test_the_fork_servers_memory_cannot_be_written_through_proc(world: Grader, tmp_path: Path) -> None:
    _, report = _attack(world, tmp_path, ATTACKS["proc_mem_write"])
    assert report["slot"], "the attack's target was not found: it proves nothing"
    assert report["mem"] == "PermissionError"
    _correct_student_gets_full_marks(world)


def test_the_fork_server_cannot_be_ptraced(world: Grader, tmp_path: Path) -> None:
    _, report = _attack(world, tmp_path, ATTACKS["ptrace_poke"])
    assert report["slot"]
    assert report["ptrace"] == "Operation not permitted"
    _correct_student_gets_full_marks(world)


def test_the_fork_servers_descriptors_cannot_be_taken(world: Grader, tmp_path: Path) -> None:
    box = world.sandbox
    _, report = _attack(world, tmp_path, ATTACKS["stolen_descriptors"])
    assert report == {"pidfd_open": "Operation not permitted", "fd0": "PermissionError", "fd2": "PermissionError"}
    _correct_student_gets_full_marks(world)
    box._stderr.seek(0)
    assert b"a student wrote this" not in box._stderr.read()  # the grader's own file on the host


def test_planted_job_directories_do_not_stop_the_next_student(world: Grader, tmp_path: Path) -> None:
    _, report = _attack(world, tmp_path, ATTACKS["planted_job_dirs"])
    assert report["planted"] > 200
    _correct_student_gets_full_marks(world)
    assert _spy(world, tmp_path)["found"] == []


def test_nothing_a_student_leaves_reaches_the_next_one(world: Grader, tmp_path: Path) -> None:
    _, report = _attack(world, tmp_path, ATTACKS["leftovers"])
    assert report["/tmp"] == report["/dev/shm"] == "left"  # its own world is writable...
    assert report["/"] == report["/etc"] == report["/opt"] == report["/dev"] == "OSError"  # ...the rest is not
    assert report["sysv"] == "Operation not permitted"
    assert _spy(world, tmp_path)["found"] == []  # ...and nothing of it is left for the next student
    _correct_student_gets_full_marks(world)


def test_an_odd_tree_is_swept_whole(world: Grader, tmp_path: Path) -> None:
    _, report = _attack(world, tmp_path, ATTACKS["odd_tree"])
    assert report == {"built": True}
    assert _spy(world, tmp_path)["found"] == []
    _correct_student_gets_full_marks(world)


def test_tmp_is_capped_and_freed(world: Grader, tmp_path: Path) -> None:
    cap = Limits().tmp_bytes >> 20
    before = _shmem_bytes()
    _, report = _attack(world, tmp_path, ATTACKS["fill_tmp"])
    assert report["stopped"] == "OSError" and report["MiB"] <= cap
    spy = _spy(world, tmp_path)  # the next child: an empty /tmp, and the attacker's pages gone from the host
    assert spy["found"] == [] and spy["tmp_used_MiB"] < 4
    assert _shmem_bytes() - before < 512 << 20  # generous: other programs on the host move it too
    _correct_student_gets_full_marks(world)


def test_a_slow_sweep_costs_the_next_student_no_question(world: Grader, tmp_path: Path) -> None:
    _, report = _attack(world, tmp_path, ATTACKS["slow_sweep"])
    assert report["dirs"] > 0
    started = time.monotonic()
    _correct_student_gets_full_marks(world)  # no question lost by timeout while the last child was swept
    assert time.monotonic() - started < 120
