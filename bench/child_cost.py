"""What one submission's child costs: open a job, run a trivial cell in it, close it; N times on one warm sandbox.

    .venv/bin/python bench/child_cost.py                 # 300 children, bubblewrap sandbox
    .venv/bin/python bench/child_cost.py --count 1000 --json /tmp/child_cost.json

Each round is what the grader pays per submission for its child, whatever the student's code: ``open_job`` (the
previous child's reap answered, a fork, the child's own confinement, its greeting), one ``exec`` of a one-line
cell, and ``close`` (bye, and the reap sent; the fork server does it while the next round starts, so its cost
lands in the next ``open_job``). Prints the median and 95th percentile in milliseconds, per phase and per round.
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
        load_before = os.getloadavg()[0]
        for _ in range(args.count):
            rounds.append(one_round(sandbox))
        load_after = os.getloadavg()[0]
        isolation = list(sandbox.isolation)
    print(f"{args.count} children, sandbox: {', '.join(isolation)}; load average {load_before:.1f} -> {load_after:.1f}")
    summary = {}
    for phase in ("open", "exec", "close", "round"):
        values = [r[phase] * 1e3 for r in rounds]
        summary[phase] = {"median_ms": statistics.median(values), "p95_ms": percentile(values, 0.95)}
        print(f"  {phase:6s} median {summary[phase]['median_ms']:6.2f} ms   p95 {summary[phase]['p95_ms']:6.2f} ms")
    if args.json:
        args.json.write_text(json.dumps({"isolation": isolation, "summary": summary, "rounds": rounds}))


if __name__ == "__main__":
    main()
