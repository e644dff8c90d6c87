"""What one submission's child costs: open a job, run a trivial cell in it, close it; N times on one warm sandbox.

    .venv/bin/python bench/child_cost.py                 # 300 children, bubblewrap sandbox
    .venv/bin/python bench/child_cost.py --count 1000 --json /tmp/child_cost.json

Each round is what the grader pays per submission for its child, whatever the student's code: ``open_job`` (the
previous child's reap answered, a fork, the child's own confinement, its greeting), one ``exec`` of a one-line
cell, and ``close`` (bye, and the reap sent; the fork server does it while the next round starts, so its cost
lands in the next ``open_job``). Prints the median and 95th percentile in milliseconds, per phase and per round,
and the CPU time a child costs: the sandbox's (its fork server's own and that of the children it reaped, from
/proc) and the grader's, per child. On a shared, loaded machine the CPU time is the steadier number.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dlgrade.sandbox.launcher import Sandbox  # noqa: E402

CELL = {"id": "trivial", "source": "x = 1 + 1\n"}


def one_round(sandbox: Sandbox) -> dict[str, float]:
    """One child's life, in seconds per phase."""
    started = time.perf_counter()
    job = sandbox.open_job()
    opened = time.perf_counter()
    job.send({"op": "exec", "cells": [CELL]})
    deadline = time.monotonic() + 30.0
    while job.receive(deadline).header.get("op") != "executed":
        pass
    executed = time.perf_counter()
    job.close()
    closed = time.perf_counter()
    return {"open": opened - started, "exec": executed - opened, "close": closed - executed,
            "round": closed - started}


def fork_server_pid(sandbox: Sandbox) -> int:
    """The fork server's pid on the host: bubblewrap's child (with --as-pid-1), or the process itself."""
    assert sandbox.process is not None
    pid = sandbox.process.pid
    if not sandbox.sandboxed:
        return pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(children[0])


def sandbox_cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of ``pid``: its own CPU and that of the children it has reaped."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="children measured (after 20 unmeasured)")
    parser.add_argument("--no-sandbox", action="store_true", help="the fork server without bubblewrap")
    parser.add_argument("--json", type=Path, help="write the raw per-round timings here")
    args = parser.parse_args()
    rounds: list[dict[str, float]] = []
    with Sandbox(sandboxed=not args.no_sandbox) as sandbox:
        for _ in range(20):  # page cache, the fork server's lazy state, the allocator
            one_round(sandbox)
        server = fork_server_pid(sandbox)
        load_before = os.getloadavg()[0]
        sandbox_cpu, grader_cpu = sandbox_cpu_seconds(server), time.process_time()
        for _ in range(args.count):
            rounds.append(one_round(sandbox))
        sandbox.open_job().close()  # the last child reaped, so its CPU is counted
        sandbox_cpu = (sandbox_cpu_seconds(server) - sandbox_cpu) / args.count
        grader_cpu = (time.process_time() - grader_cpu) / args.count
        load_after = os.getloadavg()[0]
        isolation = list(sandbox.isolation)
    print(f"{args.count} children, sandbox: {', '.join(isolation)}; load average {load_before:.1f} -> {load_after:.1f}")
    print(f"  CPU per child: sandbox {sandbox_cpu * 1e3:.2f} ms, grader {grader_cpu * 1e3:.2f} ms")
    summary = {"cpu": {"sandbox_ms": sandbox_cpu * 1e3, "grader_ms": grader_cpu * 1e3}}
    for phase in ("open", "exec", "close", "round"):
        values = [r[phase] * 1e3 for r in rounds]
        summary[phase] = {"median_ms": statistics.median(values), "p95_ms": percentile(values, 0.95)}
        print(f"  {phase:6s} median {summary[phase]['median_ms']:6.2f} ms   p95 {summary[phase]['p95_ms']:6.2f} ms")
    if args.json:
        args.json.write_text(json.dumps({"isolation": isolation, "summary": summary, "rounds": rounds}))


if __name__ == "__main__":
    main()
