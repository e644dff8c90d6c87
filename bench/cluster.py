#!/usr/bin/env python
"""Grading on a Dask cluster against the local pool, on this machine, in one run (issue 14's benchmark).

For each assignment (default: losses with 300 submissions, training with 48; the sample classes of bench/run.py)
one course is set up by `dlgrade setup`, and the class is graded, each time from a fresh copy of it, by:

  local        `dlgrade autograde ID --workers W --force`: the local pool (its start-up, sandboxes and torch
               imports included)
  cluster-N    `dlgrade autograde ID --scheduler ADDR --force` on a standing cluster of N `dlgrade worker`
               nodes of one slot each (started, warmed with dlgrade.cluster.task.warm, then timed: a grading farm
               between two deadlines), for each N of --nodes
  cluster-N-cold   the same, timed from the moment the nodes are started (their torch imports, the suites'
               loading and warm-up inside the run)

Reported per configuration: wall, submissions per minute, the grading time per submission as the worker's
Grader measured it (execution_time, identical work everywhere), the slot-seconds per submission (wall x slots /
submissions) and their difference, the per-task overhead (waiting, dispatching, recording, start-up shared out);
Dask's own share is cluster-N's overhead minus the local pool's. Also: the scheduler's own cost per task, from
2000 no-op tasks through the same scheduler, and, for training, wall / (students' own compute / cores) warm and
cold. The load average before and after is part of the record: on a shared machine, read the ratios.

    .venv/bin/python bench/cluster.py [--assignments losses training] [--count losses=300 training=48]
                                      [--nodes 1 2] [--workers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as side_by_side  # noqa: E402  (bench/run.py: the classes, the measured runs, the records)

DEFAULT_COUNTS = {"losses": 300, "training": 48}
BIN = Path(sys.executable).parent
START_TIMEOUT = 300.0


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """`dask scheduler` and `dlgrade worker` nodes on 127.0.0.1, as processes of their own sessions."""

    def __init__(self, logs: Path) -> None:
        self.logs, self.port = logs, _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen[bytes]] = []
        logs.mkdir(parents=True, exist_ok=True)
        self._spawn("scheduler", [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                  "--no-dashboard"])

    def _spawn(self, name: str, command: list[str]) -> None:
        self.processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                               stderr=(self.logs / f"{name}.log").open("w"),
                                               start_new_session=True, env=side_by_side.tool_env()))

    def add_nodes(self, count: int) -> list[str]:
        names = [f"node-{len(self.processes) + i}" for i in range(count)]
        for name in names:
            self._spawn(name, [str(BIN / "dlgrade"), "worker", "--scheduler", self.address, "--slots", "1",
                               "--name", name, "--", "--host", "127.0.0.1", "--no-dashboard"])
        return names

    def wait_and_warm(self, names: list[str], assignment_id: str) -> tuple[float, list[dict[str, Any]]]:
        """Until the nodes offer the assignment, then warm each (the assignment's solution graded once on each
        slot: see dlgrade.cluster.task.warm); seconds, and each node's warm answer."""
        from distributed import Client

        from dlgrade.cluster.task import warm

        started = time.monotonic()
        with Client(self.address, timeout=60, set_as_default=False) as client:
            while True:
                workers = client.scheduler_info(n_workers=-1)["workers"]
                ready = {str(w["name"]): a for a, w in workers.items()
                         if any(r.startswith(f"dlgrade-{assignment_id}-") for r in w.get("resources", {}))}
                if set(names) <= set(ready):
                    break
                if time.monotonic() - started > START_TIMEOUT:
                    raise SystemExit(f"the nodes did not join: see {self.logs}")
                time.sleep(0.2)
            tasks = [client.submit(warm, [assignment_id], workers=[ready[n]], pure=False) for n in names]
            answers = client.gather(tasks)
        return time.monotonic() - started, answers

    def scheduler_cost_per_task(self, tasks: int = 2000) -> float:
        """Seconds per no-op task through this scheduler and its workers, from submit to result."""
        from distributed import Client

        with Client(self.address, timeout=60, set_as_default=False) as client:
            client.gather(client.map(abs, range(50), pure=False))  # connections up
            started = time.monotonic()
            client.gather(client.map(abs, range(tasks), pure=False))
            return (time.monotonic() - started) / tasks

    def close(self) -> None:
        import signal

        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _fresh(pristine: Path, course: Path) -> Path:
    if course.exists():
        shutil.rmtree(course)
    shutil.copytree(pristine, course, symlinks=True)
    return course


def _row(config: str, wall: float, slots: int, course: Path, assignment_id: str, count: int) -> dict[str, Any]:
    rows = side_by_side.dlgrade_batch_rows(course, assignment_id)
    grading = [float(r["execution_time"]) for r in rows]
    student = sum(float(r["student_time"]) for r in rows)
    per_task_slot = wall * slots / count
    return {"config": config, "wall": wall, "slots": slots, "graded": len(rows), "per_minute": 60.0 * count / wall,
            "grading_mean": statistics.fmean(grading) if grading else None,
            "slot_seconds_per_task": per_task_slot,
            "overhead_per_task": per_task_slot - statistics.fmean(grading) if grading else None,
            "student_time_total": student, "scores": {r["student"]: r["score"] for r in rows}}


def bench_assignment(assignment_id: str, count: int, nodes: list[int], workers: int, keep: Path | None,
                     log: Any) -> dict[str, Any]:
    from dlgrade import assignments

    assignment = assignments.load(assignment_id)
    students = side_by_side.build_class(assignment, count)
    work = Path(tempfile.mkdtemp(prefix=f"dlgrade-bench-cluster-{assignment_id}-", dir=keep))
    log(f"{assignment_id}: {len(students)} submissions in {work}")
    side_by_side.prepare(assignment, students, work, ["dlgrade"])
    pristine = work / "dlcourse.pristine"
    shutil.move(work / "dlcourse", pristine)
    course = work / "dlcourse"
    results: list[dict[str, Any]] = []

    def autograde(*extra: str) -> float:
        wall, _peak, status = side_by_side.run_measured(
            [str(BIN / "dlgrade"), "autograde", assignment_id, "--course", str(course), "--force", *extra], work,
            log=work / "autograde.log")
        if status != 0:
            log(f"    exited with {status}: {(work / 'autograde.log').read_text()[-1500:]}")
        return wall

    log("  local ...")
    _fresh(pristine, course)
    results.append(_row("local", autograde("--workers", str(workers)), workers, course, assignment_id,
                        len(students)))
    scheduler_cost = None
    for count_nodes in nodes:
        cluster = Cluster(work / f"dask-{count_nodes}")
        try:
            log(f"  cluster-{count_nodes}-cold ...")
            _fresh(pristine, course)
            started = time.monotonic()
            names = cluster.add_nodes(count_nodes)
            autograde("--scheduler", cluster.address)
            cold = time.monotonic() - started
            results.append(_row(f"cluster-{count_nodes}-cold", cold, count_nodes, course, assignment_id,
                                len(students)))
            log(f"  cluster-{count_nodes} (warm) ...")
            _, answers = cluster.wait_and_warm(names, assignment_id)
            for answer in answers:  # the solution's score on each slot: the full marks, or the warm-up failed
                scores = [f"{s['assignment']} " + (s.get("error") or f"{s['score']:g}/{s['max_score']:g}")
                          for s in answer["slots"]]
                log(f"    warmed {answer['name']} in {answer['seconds']:.1f} s: {', '.join(scores)}")
            _fresh(pristine, course)
            results.append(_row(f"cluster-{count_nodes}", autograde("--scheduler", cluster.address), count_nodes,
                                course, assignment_id, len(students)))
            if count_nodes == max(nodes):
                scheduler_cost = cluster.scheduler_cost_per_task()
        finally:
            cluster.close()
        log(f"    {results[-2]['wall']:.1f} s cold, {results[-1]['wall']:.1f} s warm")
    if keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return {"assignment": assignment_id, "submissions": len(students), "max_score": assignment.max_score,
            "configs": results, "scheduler_seconds_per_task": scheduler_cost}


def report(results: list[dict[str, Any]], cores: int) -> str:
    lines = []
    for result in results:
        configs = {c["config"]: c for c in result["configs"]}
        local = configs["local"]
        lines += [f"### {result['assignment']} ({result['submissions']} submissions)", "",
                  "| config | slots | wall s | submissions/min | grading s/sub | slot-s/sub | overhead s/sub | "
                  "throughput ÷ local |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, c in configs.items():
            lines.append(f"| {name} | {c['slots']} | {c['wall']:.1f} | {c['per_minute']:.1f} | "
                         f"{c['grading_mean'] or 0:.3f} | {c['slot_seconds_per_task']:.3f} | "
                         f"{c['overhead_per_task'] or 0:.3f} | {c['per_minute'] / local['per_minute']:.2f} |")
        lines.append("")
        cost = result.get("scheduler_seconds_per_task")
        if cost:
            lines.append(f"- the scheduler's own cost: {1000 * cost:.2f} ms per no-op task (2000 tasks, submit to "
                         "result)")
        for name, c in configs.items():
            if name.startswith("cluster") and c["overhead_per_task"] is not None:
                extra = c["overhead_per_task"] - (local["overhead_per_task"] or 0)
                lines.append(f"- {name}: overhead {extra:+.3f} s per task against the local pool's "
                             f"({100 * extra / local['slot_seconds_per_task']:+.0f}% of its slot-seconds per task)")
            same = sum(c["scores"].get(s) == v for s, v in local["scores"].items())
            if name != "local":
                lines.append(f"- {name}: {same}/{len(local['scores'])} scores identical to the local pool's")
        if result["assignment"] == "training":
            for name in ("cluster-2", "cluster-2-cold", "local"):
                c = configs.get(name)
                if c and c["student_time_total"]:
                    bound = c["student_time_total"] / cores
                    lines.append(f"- {name}: wall ÷ (students' compute {c['student_time_total']:.1f} s ÷ {cores} "
                                 f"cores) = {c['wall'] / bound:.2f}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", nargs="+", default=list(DEFAULT_COUNTS))
    parser.add_argument("--count", nargs="*", default=[], help="ID=N, e.g. losses=300 training=48")
    parser.add_argument("--nodes", nargs="+", type=int, default=[1, 2], help="cluster sizes (one slot per node)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="the local pool's workers")
    parser.add_argument("--keep", type=Path, help="keep the work folders under this directory")
    args = parser.parse_args(argv)
    counts = DEFAULT_COUNTS | {k: int(v) for k, _, v in (item.partition("=") for item in args.count)}

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started = time.strftime("%Y%m%d-%H%M%S")
    load_before = os.getloadavg()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    results = [bench_assignment(a, counts.get(a, 20), args.nodes, args.workers, args.keep, log)
               for a in args.assignments]
    record = {"started": started, "cpus": os.cpu_count(), "load_before": load_before,
              "load_after": os.getloadavg(), "command": " ".join([Path(sys.executable).name, *sys.argv]),
              "results": results}
    out = HERE / "results" / f"cluster-{started}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    print(report(results, os.cpu_count() or 1))
    print(f"load average (1 min) before/after: {load_before[0]:.1f} / {record['load_after'][0]:.1f}; raw: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
