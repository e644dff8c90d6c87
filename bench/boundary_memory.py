"""Peak memory of the trusted grading process on huge legal answers (issue 12, part 2).

A student of the engine tests' 'mini' assignment whose mse_loss returns, for each of its six cases, a tuple of
three float64 arrays of 7 million numbers (56 MB each, just under the wire's 64 MB per array: a legal answer of
168 MB; the questions' time limits are raised so that every answer arrives). Each run grades it in a fresh
interpreter and reports that process's own peak resident memory (VmHWM of /proc/self/status: the sandbox's
processes are not counted), next to a correct student's, and how long grading took.

    .venv/bin/python bench/boundary_memory.py [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HUGE = """
import numpy as np
def mse_loss(input, target, reduction='mean'):
    return tuple(np.full(7_000_000, float(k)) for k in range(3))
"""
GRADE = """
import dataclasses, json, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from engine_helpers import with_cell
from dlgrade import assignments
from dlgrade.grading import Grader
from dlgrade.sandbox.launcher import Sandbox
mini = assignments.load("mini", root=Path({fixture!r}))
# Time enough for every case's answer to arrive (the huge one takes ~0.5 s a case to build and send).
questions = tuple(dataclasses.replace(q, timeout=120.0) for q in mini.suite.questions)
mini = dataclasses.replace(mini, suite=dataclasses.replace(mini.suite, questions=questions))
code = {code!r}
path = mini.source if code is None else with_cell(mini.source, "mse_solution", code, Path({out!r}))
with Sandbox() as box:
    started = time.monotonic()
    result = Grader(mini, box, secret=b"bench").grade(path)
    seconds = time.monotonic() - started
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({{"peak_mib": peak / 1024, "seconds": seconds, "score": result.score,
                   "statuses": sorted({{case.status for case in result.questions[0].cases}}),
                   "message": result.questions[0].cases[0].message[:120]}}))
"""


def measure(code: str | None, scratch: Path) -> dict[str, object]:
    script = GRADE.format(tests=str(ROOT / "tests" / "engine"), fixture=str(ROOT / "tests" / "fixtures" /
                                                                              "engine_course"),
                          code=code, out=str(scratch / "mini.ipynb"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.runs):
            for name, code in (("correct", None), ("huge answers", HUGE)):
                row = measure(code, Path(scratch))
                print(f"{name:<13} peak {row['peak_mib']:7.0f} MiB  {row['seconds']:6.2f} s  score {row['score']}  "
                      f"{row['statuses']}  {row['message']}")


if __name__ == "__main__":
    main()
