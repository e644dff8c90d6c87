"""A real Dask cluster on 127.0.0.1 for the tests: `dask scheduler` and `dlgrade worker` nodes as processes of
their own (each in its own session, so a test can kill one node, or one worker process, and teardown all)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from course_helpers import FIXTURE_ROOT

DASK = Path(sys.executable).parent / "dask"
START_TIMEOUT = 180.0  # s for the nodes to join with their resources, on a loaded 2-core machine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    """Until something listens on the port (the nodes would wait for it too; the tests' own clients would not)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process's whole session (it started one), SIGKILL after 20 s."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # what is left of its session (worker processes, sandboxes)
    process.wait()


@dataclass
class Cluster:
    """A scheduler and named `dlgrade worker` nodes; logs in ``logs``."""

    logs: Path
    env: dict[str, str] = field(default_factory=lambda: os.environ.copy())
    port: int = field(default_factory=free_port)
    scheduler: subprocess.Popen | None = None
    nodes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> Cluster:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.scheduler = subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=(self.logs / "scheduler.log").open("w"), start_new_session=True,
            env=self.env)
        wait_listening(self.port, self.scheduler, self.logs / "scheduler.log")
        return self

    def add_node(self, name: str, project: Path = FIXTURE_ROOT, slots: int = 1, env: dict | None = None,
                 options: tuple[str, ...] = ()) -> subprocess.Popen:
        """A `dlgrade worker` node; ``options``: more of its own (--warm ...)."""
        process = subprocess.Popen(
            [sys.executable, "-m", "dlgrade.cli", "worker", "--scheduler", self.address, "--slots", str(slots),
             "--name", name, "--project", str(project), *options, "--", "--host", "127.0.0.1", "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=(self.logs / f"{name}.log").open("w"), start_new_session=True,
            env=env or self.env)
        self.nodes[name] = process
        return process

    def client(self):  # noqa: ANN201 - distributed is imported lazily
        from distributed import Client

        return Client(self.address, timeout=60, set_as_default=False)

    def wait_for(self, names: list[str], resource_prefix: str = "dlgrade-mini-") -> dict[str, str]:
        """Wait until the named workers are registered and offer a grading resource; name -> address."""
        deadline = time.monotonic() + START_TIMEOUT
        with self.client() as client:
            while True:
                workers = client.scheduler_info(n_workers=-1)["workers"]
                ready = {str(info["name"]): address for address, info in workers.items()
                         if any(r.startswith(resource_prefix) for r in info.get("resources", {}))}
                if set(names) <= set(ready):
                    return ready
                for name in names:
                    node = self.nodes.get(name)
                    assert node is None or node.poll() is None, self.log(name)
                assert time.monotonic() < deadline, f"workers {names} did not join: {self.log(names[0])}"
                time.sleep(0.5)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text()[-3000:] if path.is_file() else ""

    def worker_pid(self, address: str) -> int:
        with self.client() as client:
            return client.run(os.getpid, workers=[address])[address]

    def close(self) -> None:
        for node in self.nodes.values():
            stop(node)
        if self.scheduler is not None:
            stop(self.scheduler)


def comparable(record: dict) -> str:
    """A record's result without what differs between two gradings of the same bytes (timings, the course's
    folder), as canonical JSON."""
    result = dict(record["result"])
    for key in ("execution_time", "student_time"):
        result.pop(key)
    result["submission"] = "/".join(Path(result["submission"]).parts[-4:])  # submitted/<student>/<id>/<file>
    return json.dumps(result, sort_keys=True)
