#!/usr/bin/env python
"""Instructor insight, measured (`make bench-insight`): what probe answers cost while grading, and how long
`dlgrade report` takes on a class of 300.

probes   every student of the losses sample class who made a known mistake (the hostile ones and the blank
         template left out) graded on one warm sandbox by a suite whose catalogs are empty, so that every
         mistake is an unexplained failure and its question is asked the probe set: each submission graded with
         and without probes, alternately (the machine's drift hits both alike), --rounds times. Reported per
         submission: the extra wall time, the time inside the probe requests, and the record's extra bytes.
report   a course of losses with --students submissions: the sample class graded once by `dlgrade autograde`
         (mse without its known mistakes, so its mistake students cluster), replicated to the count by copying
         submissions and their records under new ids (same bytes, same key: autograde writes their gradebook
         entries and feedback without grading), then `dlgrade report losses` timed as a fresh process, --repeat
         times per format (html, text, csv).

The load average is printed before and after: the machine is shared.

    .venv/bin/python bench/insight.py [--part probes report] [--students 300] [--repeat 3] [--rounds 2]
                                      [--keep DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "insight"))  # bare_project: losses without mse's known mistakes


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


def bench_probes(rounds: int, scratch: Path) -> dict:
    from dlgrade import assignments, grading, sample_class
    from dlgrade.autograde import result_to_data
    from dlgrade.insight.probes import probe_seed
    from dlgrade.sandbox.launcher import Sandbox

    losses = assignments.load("losses")
    bare = dataclasses.replace(losses, suite=dataclasses.replace(losses.suite, questions=tuple(
        dataclasses.replace(q, mistakes=()) for q in losses.suite.questions)))
    students = [s for s in sample_class.build(losses) if s.kind == "mistake"]
    paths = [s.write(scratch / s.student / "losses.ipynb") for s in students]
    inside = [0.0]
    original = grading.probe_question

    def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            inside[0] += time.perf_counter() - started

    grading.probe_question = timed
    walls: dict[bool, list[float]] = {False: [], True: []}
    sizes: dict[bool, list[int]] = {False: [], True: []}
    probed = 0
    with Sandbox() as sandbox:
        plain = grading.Grader(bare, sandbox, b"bench-insight")
        probing = grading.Grader(bare, sandbox, b"bench-insight", probe_seed=probe_seed(b"bench-insight", "losses"))
        for path in paths[:3]:  # warm: public values, lazy imports
            plain.grade(path)
            probing.grade(path)
        inside[0] = 0.0
        for _ in range(rounds):
            for path in paths:
                for grader, on in ((plain, False), (probing, True)) if len(walls[True]) % 2 else \
                        ((probing, True), (plain, False)):
                    started = time.perf_counter()
                    result = grader.grade(path)
                    walls[on].append(time.perf_counter() - started)
                    sizes[on].append(len(json.dumps(result_to_data(result))))
                    if on:
                        probed += sum(q.probe is not None for q in result.questions)
    grading.probe_question = original
    n = len(walls[True])
    extra = [a - b for a, b in zip(walls[True], walls[False], strict=True)]
    return {"submissions": len(paths), "rounds": rounds, "probed_questions": probed,
            "wall_without_ms": 1000 * statistics.median(walls[False]),
            "wall_with_ms": 1000 * statistics.median(walls[True]),
            "extra_median_ms": 1000 * statistics.median(extra), "extra_mean_ms": 1000 * statistics.fmean(extra),
            "inside_probes_mean_ms": 1000 * inside[0] / n,
            "record_bytes_without": statistics.median(sizes[False]),
            "record_bytes_with": statistics.median(sizes[True])}


def build_class(students: int, base: Path) -> Path:
    """A course of losses with ``students`` graded submissions (see the module's docstring)."""
    from course_helpers import cli  # noqa: F401 - tests/course is on the path below
    from insight_helpers import bare_project

    from dlgrade import assignments, sample_class

    course = base / "course"
    project = bare_project(base / "project")
    dlgrade = [sys.executable, "-m", "dlgrade.cli"]
    subprocess.run(dlgrade + ["setup", "losses", "--course", str(course), "--project", str(project)], check=True,
                   stdout=subprocess.DEVNULL)
    sample = [s for s in sample_class.build(assignments.load("losses")) if s.student != "hostile-infinite-loop"]
    for student in sample:
        student.write(course / "submitted" / student.student / "losses" / "losses.ipynb")
    started = time.monotonic()
    subprocess.run(dlgrade + ["autograde", "losses", "--course", str(course)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"graded the sample class ({len(sample)}) in {time.monotonic() - started:.0f} s", flush=True)
    records = course / ".dlgrade" / "results" / "losses"
    for number in range(students - len(sample)):
        original = sample[number % len(sample)].student
        clone = f"s{number:03d}-{original}"
        shutil.copytree(course / "submitted" / original, course / "submitted" / clone)
        data = json.loads((records / f"{original}.json").read_text())
        data["student"] = clone
        (records / f"{clone}.json").write_text(json.dumps(data) + "\n")
    started = time.monotonic()
    subprocess.run(dlgrade + ["autograde", "losses", "--course", str(course)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"recorded {students} submissions (gradebook, feedback) in {time.monotonic() - started:.0f} s", flush=True)
    return course


def bench_report(students: int, repeat: int, base: Path) -> dict:
    marker = base / "class.json"
    if marker.is_file() and json.loads(marker.read_text()).get("students") == students:
        course = base / "course"  # kept from an earlier run (--keep)
    else:
        shutil.rmtree(base / "course", ignore_errors=True)
        shutil.rmtree(base / "project", ignore_errors=True)
        course = build_class(students, base)
        marker.write_text(json.dumps({"students": students}))
    dlgrade = [sys.executable, "-m", "dlgrade.cli"]
    times: dict[str, list[float]] = {}
    for form in ("html", "text", "csv"):
        for _ in range(repeat):
            started = time.monotonic()
            subprocess.run(dlgrade + ["report", "losses", "--course", str(course), "--format", form, "--out",
                                      str(base / f"report.{form}")], check=True, stdout=subprocess.DEVNULL)
            times.setdefault(form, []).append(time.monotonic() - started)
    page = base / "report.html"
    return {"students": students, "seconds": {form: sorted(t) for form, t in times.items()},
            "html_bytes": page.stat().st_size,
            "feedback_page_bytes_median": statistics.median(
                p.stat().st_size for p in (course / "feedback").glob("*/losses/losses.html"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", nargs="+", default=["probes", "report"], choices=("probes", "report"))
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="build the class here and keep it (reused when it exists)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "course"))
    base = args.keep or Path(tempfile.mkdtemp(prefix="dlgrade-bench-insight-"))
    base.mkdir(parents=True, exist_ok=True)
    results: dict = {"before": load()}
    print(results["before"], flush=True)
    try:
        if "probes" in args.part:
            results["probes"] = bench_probes(args.rounds, base / "probes")
            print(json.dumps(results["probes"], indent=1), flush=True)
        if "report" in args.part:
            results["report"] = bench_report(args.students, args.repeat, base)
            print(json.dumps(results["report"], indent=1), flush=True)
    finally:
        results["after"] = load()
        print(results["after"])
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
