#!/usr/bin/env python
"""The grading engine's per-submission overhead on one assignment's sample class, in this process.

One Grader on one bubblewrap Sandbox (what a batch worker runs, without the batch's bookkeeping) grades the
sample class of ``--assignment`` (the solution, the blank template, one student per known mistake; no hostile
students) ``--rounds`` times after one round of warming up. A submission's engine overhead is, as in bench/run.py,
its wall time minus the student code's own run time as the sandboxed worker reports it. On a shared machine wall
time follows the load, so the CPU seconds of the whole process tree (this process, the sandboxes and the children
they forked and reaped) per submission are reported too: less noisy, and they include the student code's own
CPU; and the grading process's own share of it (the trusted side). Prints one JSON line: the median and mean
overhead per submission in milliseconds, the CPU per submission, and the rounds' totals.

    .venv/bin/python bench/engine_overhead.py --assignment losses --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from dlgrade import assignments  # noqa: E402
from dlgrade.grading import Grader  # noqa: E402
from dlgrade.sample_class import build  # noqa: E402
from dlgrade.sandbox.launcher import Sandbox  # noqa: E402


def tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and every live process under it, with the children each has reaped."""
    ticks, parents = os.sysconf("SC_CLK_TCK"), {}
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            stats[int(entry)] = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    total, queue = 0, [root]
    while queue:
        pid = queue.pop()
        total += stats.get(pid, 0)
        queue += [child for child, parent in parents.items() if parent == pid]
    return total / ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="losses")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    assignment = assignments.load(args.assignment)
    with tempfile.TemporaryDirectory() as work, Sandbox() as sandbox:
        paths = [student.write(Path(work) / student.student / f"{assignment.id}.ipynb")
                 for student in build(assignment, hostile=False)]
        grader = Grader(assignment, sandbox, secret=b"engine-overhead")
        for path in paths:  # warming up: lazy imports, the public values' memo
            grader.grade(path)
        overheads, walls, cpus, own = [], [], [], []
        for _ in range(args.rounds):
            started, cpu, mine = time.monotonic(), tree_cpu(os.getpid()), time.process_time()
            for path in paths:
                result = grader.grade(path)
                overheads.append(result.execution_time - result.student_time)
            walls.append(time.monotonic() - started)
            cpus.append((tree_cpu(os.getpid()) - cpu) / len(paths))
            own.append((time.process_time() - mine) / len(paths))
    print(json.dumps({
        "assignment": assignment.id, "submissions": len(paths), "rounds": args.rounds,
        "median_overhead_ms": round(1000 * statistics.median(overheads), 1),
        "mean_overhead_ms": round(1000 * statistics.fmean(overheads), 1),
        "cpu_ms_per_submission": round(1000 * statistics.median(cpus), 1),
        "trusted_cpu_ms_per_submission": round(1000 * statistics.median(own), 1),
        "round_seconds": [round(wall, 2) for wall in walls],
    }))


if __name__ == "__main__":
    main()
