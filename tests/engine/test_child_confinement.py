"""A submission's child, as student code finds it: a seccomp filter, no capabilities, only its job's descriptors,
the fork server out of reach; ordinary student work unaffected. And the control channel and the question clock
that the grader keeps around each child."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dlgrade import assignments
from dlgrade.grading import Grader
from dlgrade.sandbox import confine
from dlgrade.sandbox.launcher import Sandbox


def run_in_child(sandbox: Sandbox, source: str) -> dict:
    """Run ``source`` as one cell in a fresh child; it prints one JSON line, returned decoded."""
    job = sandbox.open_job()
    try:
        job.send({"op": "exec", "cells": [{"id": "probe", "source": source}]})
        deadline = time.monotonic() + 120.0
        while (message := job.receive(deadline)).header.get("op") != "executed":
            pass
    finally:
        job.close()
    errors = [cell["error"] for cell in message.header["cells"] if cell["error"]]
    assert not errors, errors[0]
    return json.loads(message.header["output"].strip().splitlines()[-1])


# Arguments that make every call fail harmlessly where nothing filters it (bad flags, pointers, descriptors, a
# pid that does not exist), so an EPERM can only come from the filter. clone gets flags the kernel would reject
# with EINVAL (a new user namespace sharing our filesystem information).
SYSCALL_PROBE = """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
numbers, clone, clone3 = {numbers!r}, {clone}, {clone3}

def errno_of(number, *args):
    result = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(arg) for arg in args])
    return "ok" if result >= 0 else os.strerror(ctypes.get_errno())

report = {{name: errno_of(number, -1, -1, -1, -1, -1, -1) for name, number in numbers.items()}}
report["clone with a new namespace"] = errno_of(clone, 0x10000000 | 0x200 | 17, 0, 0, 0, 0)
report["clone3"] = errno_of(clone3, 0, 0)
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
report["status"] = {{key: status[key].strip() for key in ("Seccomp", "NoNewPrivs", "CapEff", "CapPrm")}}
print(json.dumps(report))
"""

# i386 (int 0x80) and x32 system calls from a 64-bit process, in a grandchild: where the kernel has no i386
# emulation, int 0x80 is a SIGSEGV, not an answer.
FOREIGN_ABI_PROBE = """
import ctypes, json, mmap, os
libc = ctypes.CDLL(None, use_errno=True)
report = {}
pid = os.fork()
if pid == 0:
    code = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    code.write(bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3]))  # mov eax, 20 (i386 getpid); int 0x80; ret
    answer = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(code)))()
    os._exit(1 if answer == -1 else 2 if answer == os.getpid() else 3)
status = os.waitpid(pid, 0)[1]
report["i386"] = {1: "EPERM", 2: "answered", 3: "other"}.get(os.waitstatus_to_exitcode(status), "crashed")
report["x32"] = "ok" if libc.syscall(0x40000000 | 39) >= 0 else os.strerror(ctypes.get_errno())
print(json.dumps(report))
"""


def test_the_filter_refuses_each_listed_system_call_with_eperm(sandbox: Sandbox) -> None:
    machine = confine.machine()
    numbers = {name: confine.SYSCALLS[name][machine] for name in confine.REFUSED if machine in confine.SYSCALLS[name]}
    assert len(numbers) >= 50
    report = run_in_child(sandbox, SYSCALL_PROBE.format(
        numbers=numbers, clone=confine.SYSCALLS["clone"][machine], clone3=confine.SYSCALLS["clone3"][machine]))
    status = report.pop("status")
    assert status == {"Seccomp": "2", "NoNewPrivs": "1", "CapEff": "0000000000000000", "CapPrm": "0000000000000000"}
    assert report.pop("clone3") == "Function not implemented"  # so that glibc falls back to clone, which is checked
    assert {name: result for name, result in report.items() if result != "Operation not permitted"} == {}


def test_foreign_system_call_abis_are_refused(sandbox: Sandbox) -> None:
    if confine.machine() != "x86_64":
        pytest.skip("the probe for foreign ABIs is x86_64 machine code (i386 int 0x80, x32)")
    report = run_in_child(sandbox, FOREIGN_ABI_PROBE)
    assert report["x32"] == "Operation not permitted"
    assert report["i386"] in ("EPERM", "crashed")  # crashed: a kernel built or booted without i386 emulation


def test_the_syscall_tables_match_the_kernel_headers() -> None:
    headers = {"x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
               "aarch64": Path("/usr/include/asm-generic/unistd.h")}  # aarch64 uses the generic table
    if not all(path.exists() for path in headers.values()):
        pytest.skip("the kernel's UAPI headers (Debian's linux-libc-dev) are not installed")
    checked = 0
    for machine, path in headers.items():
        text = path.read_text()
        for name, numbers in confine.SYSCALLS.items():
            for prefix in ("__NR_", "__NR3264_"):
                marker = f"#define {prefix}{name} "
                if marker in text and machine in numbers:
                    value = text.split(marker, 1)[1].split()[0]
                    assert int(value) == numbers[machine], (machine, name)
                    checked += 1
    assert checked >= 100


# Ordinary coursework in a child: numpy, a torch training loop with autograd, threads (Python's and torch's),
# files in /tmp and /dev/shm, torch.save/torch.load, a fork.
ORDINARY_WORK = """
import json, os, threading
from concurrent.futures import ThreadPoolExecutor
import numpy as np
import torch

report = {}
a = np.random.default_rng(0).normal(size=(100, 100))
report["numpy"] = bool(np.allclose(np.linalg.inv(a) @ a, np.eye(100), atol=1e-8))
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
x = torch.randn(128, 2)
y = torch.sin(x[:, :1]) + 0.5 * x[:, 1:]
losses = []
for step in range(300):
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
report["training"] = losses[-1] < 0.1 * losses[0]
squares = []
threads = [threading.Thread(target=lambda i=i: squares.append(i * i)) for i in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
report["threads"] = sorted(squares) == [i * i for i in range(8)]
with ThreadPoolExecutor(4) as pool:
    report["thread_pool"] = sum(pool.map(lambda v: v + 1, range(10))) == 55
torch.set_num_threads(2)
report["torch_threads"] = float((torch.ones(300, 300) @ torch.ones(300, 300)).sum()) == 300.0 ** 3
torch.set_num_threads(1)
torch.save(model.state_dict(), "/tmp/model.pt")
restored = torch.load("/tmp/model.pt", weights_only=True)
report["torch_save"] = all(torch.equal(restored[k], v) for k, v in model.state_dict().items())
with open("/dev/shm/scratch", "wb") as handle:
    handle.write(b"x" * (1 << 20))
report["dev_shm"] = os.path.getsize("/dev/shm/scratch") == 1 << 20
with open("relative.txt", "w") as handle:  # the job directory, the child's cwd
    handle.write("kept")
report["cwd"] = open(os.path.join(os.environ["TMPDIR"], "relative.txt")).read() == "kept"
pid = os.fork()
if pid == 0:
    os._exit(7)
report["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7
print(json.dumps(report))
"""


@pytest.mark.parametrize("kind", ["nested", "shared_tmp"])
def test_ordinary_student_work_still_runs(request: pytest.FixtureRequest, kind: str) -> None:
    sandbox = request.getfixturevalue("sandbox" if kind == "nested" else "shared_tmp_sandbox")
    report = run_in_child(sandbox, ORDINARY_WORK)
    assert report == dict.fromkeys(report, True) and len(report) == 9, report


DESCRIPTOR_PROBE = """
import json, os, resource, stat
kinds = {}
for fd in range(resource.getrlimit(resource.RLIMIT_NOFILE)[0]):
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        continue
    kinds[fd] = "socket" if stat.S_ISSOCK(mode) else "regular" if stat.S_ISREG(mode) else "device"
report = {"fds": kinds}
for path in ("/proc/1/fd/0", "/proc/1/fd/2", "/proc/1/cwd", "/proc/1/root"):
    try:
        os.readlink(path)
        report["readlink " + path] = "read"
    except OSError as error:
        report["readlink " + path] = type(error).__name__
for path in ("/proc/1/root", "/proc/1/map_files"):
    try:
        os.listdir(path)
        report[path] = "listed"
    except OSError as error:
        report[path] = type(error).__name__
for path in ("/proc/1/environ", "/proc/1/mem", "/proc/1/fd/0", "/proc/1/fd/2"):
    try:
        open(path, "rb").close()
        report[path] = "opened"
    except OSError as error:
        report[path] = type(error).__name__
print(json.dumps(report))
"""


def test_a_child_holds_only_its_jobs_descriptors_and_cannot_reach_the_fork_servers(sandbox: Sandbox) -> None:
    report = run_in_child(sandbox, DESCRIPTOR_PROBE)
    fds = report.pop("fds")
    assert sorted(fds.values()) == ["device", "regular", "regular", "socket"]  # stdin, the capture twice, the job
    assert report == dict.fromkeys(report, "PermissionError")


def test_a_stale_control_answer_restarts_the_sandbox(mini: assignments.Assignment, sandbox: Sandbox) -> None:
    # An answer to a request the grader is not waiting for (a forged one looks the same): the fork server is no
    # longer trusted to be in step; it is replaced instead of failing every later submission.
    grader = Grader(mini, sandbox, secret=b"engine-tests")
    grader.grade(mini.source)
    first = sandbox.process
    assert sandbox.control is not None
    sandbox.control.send(json.dumps({"op": "reap", "id": "stale"}).encode())
    for _ in range(2):
        result = grader.grade(mini.source)
        assert result.score == result.max_score == 5.0
    assert sandbox.process is not first


def test_a_questions_clock_starts_once_its_child_is_ready(mini: assignments.Assignment, sandbox: Sandbox,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # A child that is slow to come (the last one's sweep, a reload of the student's cells) costs no question its
    # time budget: 'mse' has 3 s, and its child takes 4 s to open.
    grader = Grader(mini, sandbox, secret=b"engine-tests")
    opened = sandbox.open_job

    def slow_open_job():
        time.sleep(4.0)
        return opened()

    monkeypatch.setattr(sandbox, "open_job", slow_open_job)
    result = grader.grade(mini.source)
    assert {q.name: q.status for q in result.questions} == dict.fromkeys(mini.points, "passed")


# The device nodes in the sandbox's /dev are the host's own, bound in; and where bubblewrap runs as root the
# sandbox's uid owns what root owns. A chmod or utime (here to the values they already have) would reach the host.
DEVICE_PROBE = """
import json, os
report = {}
for node in ("null", "zero", "full", "random", "urandom", "tty"):
    path = "/dev/" + node
    status = os.stat(path)
    try:
        os.chmod(path, status.st_mode & 0o7777)
        report["chmod " + node] = "changed"
    except OSError as error:
        report["chmod " + node] = error.strerror
    try:
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
        report["utime " + node] = "changed"
    except OSError as error:
        report["utime " + node] = error.strerror
with open("/dev/null", "w") as null:
    report["write /dev/null"] = null.write("still a device") == 14
with open("/dev/urandom", "rb") as randomness:
    report["read /dev/urandom"] = len(randomness.read(16)) == 16
print(json.dumps(report))
"""


def has_private_tmp(sandbox: Sandbox) -> bool:
    """Whether the sandbox's children mount a /tmp of their own (the isolation it reports once started)."""
    return any(item.startswith("private /tmp") for item in sandbox.isolation)


@pytest.mark.parametrize("kind", ["nested", "shared_tmp"])
def test_the_hosts_device_nodes_cannot_be_changed(request: pytest.FixtureRequest, kind: str) -> None:
    sandbox = request.getfixturevalue("sandbox" if kind == "nested" else "shared_tmp_sandbox")
    before = {node: Path("/dev", node).stat() for node in ("null", "zero", "urandom")}
    report = run_in_child(sandbox, DEVICE_PROBE)
    assert report.pop("write /dev/null") is True and report.pop("read /dev/urandom") is True
    # read-only mounts in a child's own mount namespace; where it has none (the shared-/tmp sandbox, or a Python
    # installation under /tmp, which a child's fresh /tmp would hide), the calls are refused
    refusal = "Read-only file system" if has_private_tmp(sandbox) else "Operation not permitted"
    assert report == dict.fromkeys(report, refusal)
    after = {node: Path("/dev", node).stat() for node in ("null", "zero", "urandom")}
    assert {node: (s.st_mode, s.st_ctime_ns) for node, s in after.items()} == \
        {node: (s.st_mode, s.st_ctime_ns) for node, s in before.items()}


def test_a_child_that_cannot_confine_itself_is_the_sandboxs_failure_not_the_students() -> None:
    # tmpfs refuses a negative inode count: the child's own /tmp cannot be mounted, so it must not run student
    # code, and says so; the grader reports the sandbox as unusable (retried as an infrastructure fault), never
    # a student's crash.
    from dlgrade.sandbox.launcher import Limits, SandboxUnavailable

    with Sandbox(limits=Limits(tmp_inodes=-5)) as sandbox:
        if not has_private_tmp(sandbox):
            pytest.skip("children get no /tmp of their own here (the Python installation lies under /tmp), so "
                        "there is no mount of theirs to fail")
        with pytest.raises(SandboxUnavailable, match="could not confine itself"):
            sandbox.open_job()


# Where bubblewrap runs as root, the sandbox's uid is the host's root to the kernel's sysctl check. The probe
# writes back the values the sysctls already have.
SYSCTL_PROBE = """
import json
report = {}
for name in ("fs/lease-break-time", "fs/pipe-max-size", "fs/protected_regular", "vm/overcommit_ratio",
             "kernel/shmmax"):
    path = "/proc/sys/" + name
    try:
        value = open(path).read()
        with open(path, "w") as sysctl:
            sysctl.write(value)
        report[name] = "written"
    except OSError as error:
        report[name] = error.strerror
print(json.dumps(report))
"""


def test_the_hosts_sysctls_cannot_be_written(sandbox: Sandbox) -> None:
    report = run_in_child(sandbox, SYSCTL_PROBE)
    assert report == dict.fromkeys(report, "Read-only file system")
