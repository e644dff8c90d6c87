"""The fork server ends cleanly however the grader leaves: status 0, nothing on stderr, no interpreter teardown."""

from __future__ import annotations

import contextlib
import os
import time

from dlgrade.sandbox.launcher import Sandbox


def _stderr(sandbox: Sandbox) -> str:
    sandbox._stderr.seek(0)
    return sandbox._stderr.read().decode("utf-8", "replace")


def test_quitting_with_the_last_reap_unanswered_exits_cleanly() -> None:
    # A batch worker reaps its last child and quits at once, never reading the "reaped" answer: the fork server's
    # send then fails. It used to die of that BrokenPipeError (status 1) after a full teardown of torch.
    sandbox = Sandbox()
    sandbox.start()
    job = sandbox.open_job()
    job.close()
    sandbox.reap()
    process = sandbox.process
    assert process is not None
    sandbox.close()
    assert process.returncode == 0, _stderr(sandbox)
    assert _stderr(sandbox) == ""


def test_a_vanished_grader_ends_the_fork_server() -> None:
    sandbox = Sandbox()
    sandbox.start()
    process, control = sandbox.process, sandbox.control
    assert process is not None and control is not None
    control.close()  # no quit: the grader just went away
    assert process.wait(timeout=30) == 0, _stderr(sandbox)
    sandbox.control = None
    sandbox.close()


def test_without_the_sandbox_a_reap_leaves_the_hosts_shared_memory_alone(tmp_path) -> None:
    # Inside bubblewrap /dev/shm is the sandbox's own tmpfs and a reap empties it; with --no-sandbox it is the
    # machine's, shared with every other program of the instructor's: a reap must not touch it.
    import os

    bystander = f"/dev/shm/dlgrade-test-{os.getpid()}"
    with open(bystander, "w") as handle:
        handle.write("another program's shared memory")
    try:
        with Sandbox(sandboxed=False) as sandbox:
            sandbox.open_job().close()
            sandbox.reap()
            sandbox.open_job().close()  # reads the reap's answer: the reap is done
            assert os.path.exists(bystander)
    finally:
        if os.path.exists(bystander):
            os.unlink(bystander)


def test_a_fork_server_that_dies_as_a_job_opens_is_restarted() -> None:
    # The race a SIGKILL can land in: the fork server passes the liveness check, then dies before it answers the
    # spawn. Nothing of the submission has run: a fresh fork server is started and the job opened there.
    import os
    import signal

    sandbox = Sandbox()
    sandbox.start()
    try:
        first = sandbox.process
        assert first is not None
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        checks = iter([True])  # the first liveness check still saw it alive
        real_alive = sandbox.alive
        sandbox.alive = lambda: next(checks, None) or real_alive()  # type: ignore[method-assign]
        job = sandbox.open_job()
        assert sandbox.process is not None and sandbox.process is not first and sandbox.alive()
        job.close()
    finally:
        sandbox.close()


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of the host's processes that contain ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                line = open(f"/proc/{entry}/cmdline", "rb").read().replace(b"\0", b" ").decode("utf-8", "replace")
                if text in line:
                    found.append(f"{entry}: {line[:120]}")
    return found


def test_a_sandbox_stopped_as_it_starts_leaves_no_process_behind() -> None:
    # bwrap clones the sandbox's first process and releases it once its namespaces are set up; a kill of bwrap in
    # between left that process waiting for ever (11 orphans in 30 such stops before the fix): prelaunch's cleanup
    # and a batch that ends early stop sandboxes that are still starting.
    worker_dirs = []
    for attempt in range(30):
        sandbox = Sandbox()
        sandbox.launch()
        worker_dirs.append(sandbox._worker_dir)
        time.sleep(0.001 * (attempt % 5))
        sandbox.abandon()
    deadline = time.monotonic() + 10
    while True:
        left = [found for folder in worker_dirs for found in _processes_mentioning(folder)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert left == []
