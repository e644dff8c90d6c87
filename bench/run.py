#!/usr/bin/env python
"""dlgrade vs nbgrader vs otter-grader, side by side, on one sample class per assignment (`make bench`).

For each assignment (default: losses with 60 submissions, training with 24) the sample class of
dlgrade.sample_class (the solution, the blank template, one student per known mistake; the hostile students
are left out: otter has no time limit, so an infinite loop would stall it for ever) is replicated with harmless
variations (a comment added to a solution cell, so the code and hence dlgrade's hidden-case seed differ) to the
count, and graded three ways, one after the other, on this machine:

  dlgrade    the batch: `dlgrade autograde <id> --workers N` on a course made by `dlgrade setup` (nbgrader's
             layout and gradebook, feedback and autograded notebooks written as in production), sandbox on;
             where this dlgrade has no batch runner, dlgrade-engine stands in
  dlgrade-engine   the grading engine alone, without the batch's bookkeeping (gradebook, feedback, autograded
             notebooks): a ProcessPoolExecutor of --workers processes, one Grader + bubblewrap Sandbox each
  nbgrader   nbgrader's own `nbgrader autograde <id>` on an nbgrader-native version of the assignment: the
             source notebook's grade cells replaced by test cells that assert the same public cases and one draw
             of hidden cases (expected values baked by the reference) in the student's kernel
  otter      `otter run` per submission with `dlgrade export <id> --format otter`'s zip (same baked cases),
             --workers at a time

Each batch runs as a child process; its wall time is the batch command's, its memory the peak summed PSS of
its whole process tree (sampled every 1 s). Per-submission seconds come from dlgrade's own timing, from
nbgrader's log timestamps, and from each `otter run`. dlgrade's engine overhead is its per-submission wall time
minus the student code's own run time as its worker reports it. Raw results go to bench/results/<time>.json;
the tables to stdout (markdown). Ratios are what to compare: these machines are shared and noisy.

    .venv/bin/python bench/run.py [--assignments losses training] [--count losses=60 training=24]
                                  [--systems dlgrade nbgrader otter] [--workers 2]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

SYSTEMS = ("dlgrade", "dlgrade-engine", "nbgrader", "otter")
DEFAULT_COUNTS = {"losses": 60, "training": 24}
SEED = 20240611  # the hidden cases baked into the nbgrader and otter versions
SECRET = b"dlgrade-bench"  # dlgrade's grading secret (its hidden cases change per submission, from this)
# Reading a torch process's PSS costs ~6 ms of kernel time; at 0.1 s, a 10-process tree took half a core from
# the very runs being measured. Memory plateaus for the whole run (every process holds torch), so 1 s is enough.
SAMPLE_EVERY = 1.0


# ---- the class -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Student:
    name: str
    kind: str  # solution | blank | mistake
    notebook: nbformat.NotebookNode


def _vary(notebook: nbformat.NotebookNode, cell_id: str, variant: int) -> nbformat.NotebookNode:
    """The notebook with a harmless comment appended to solution cell ``cell_id``."""
    changed = copy.deepcopy(notebook)
    for cell in changed.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == cell_id:
            cell.source = cell.source.rstrip("\n") + f"\n# checked again before submitting (draft {variant})\n"
            return changed
    raise KeyError(cell_id)


def build_class(assignment: Any, count: int) -> list[Student]:
    """``count`` students: the sample class (hostile students left out), evenly subsampled when it is larger,
    replicated with variations when smaller; the solution and the blank template always in."""
    from dlgrade import sample_class

    base = [Student(s.student, s.kind, s.notebook) for s in sample_class.build(assignment, hostile=False)]
    if count <= len(base):
        picked = sorted({0, 1} | {round(i * (len(base) - 1) / max(count - 1, 1)) for i in range(count)})
        extra = [i for i in range(len(base)) if i not in picked]
        while len(picked) > count:
            picked.pop(-2)
        while len(picked) < count:
            picked.append(extra.pop(0))
        return [base[i] for i in sorted(picked)]
    students = list(base)
    cells = [q.cell for q in assignment.suite.questions]
    variant = 0
    while len(students) < count:
        original = base[variant % len(base)]
        cell = cells[variant % len(cells)]
        students.append(Student(f"{original.name}-v{variant + 1}", original.kind,
                                _vary(original.notebook, cell, variant + 1)))
        variant += 1
    return students


# ---- measuring a child process ----------------------------------------------------------------------------


def _tree_memory(root_pid: int) -> int:
    """Summed PSS (RSS where PSS is unreadable) of a process and its descendants, in bytes."""
    import psutil

    try:
        parent = psutil.Process(root_pid)
        processes = [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            info = process.memory_full_info()
            total += getattr(info, "pss", 0) or info.rss
        except psutil.Error:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue
    return total


def tool_env() -> dict[str, str]:
    """The environment for nbgrader and otter: this interpreter's scripts first on PATH (nbgrader runs
    `alembic` from there when it creates a gradebook)."""
    scripts = str(Path(sys.executable).parent)
    return os.environ | {"PATH": os.pathsep.join([scripts, os.environ.get("PATH", "")])}


def run_measured(command: list[str], cwd: Path, log: Path | None = None) -> tuple[float, int, int]:
    """Run ``command``; (wall seconds, peak tree memory in bytes, exit status). stderr goes to ``log``."""
    peak = [0]
    stderr = log.open("w") if log else subprocess.DEVNULL
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr, env=tool_env())
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_memory(process.pid))
            done.wait(SAMPLE_EVERY)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    status = process.wait()
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    if log:
        stderr.close()
    return wall, peak[0], status


# ---- dlgrade ------------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_dlgrade_worker(assignment_id: str) -> None:
    import atexit

    from dlgrade import assignments
    from dlgrade.grading import Grader
    from dlgrade.sandbox.launcher import Sandbox

    sandbox = Sandbox(sandboxed=True)
    sandbox.start()
    atexit.register(sandbox.close)
    _WORKER["grader"] = Grader(assignments.load(assignment_id), sandbox, SECRET)


def _grade_one(path: str) -> dict[str, Any]:
    started = time.monotonic()
    result = _WORKER["grader"].grade(Path(path), Path(path).parent.parent.name)  # submitted/<student>/<id>/
    return {"student": Path(path).parent.parent.name, "score": result.score, "max_score": result.max_score,
            "seconds": time.monotonic() - started, "execution_time": result.execution_time,
            "student_time": result.student_time, "sandbox": list(result.sandbox)}


def child_dlgrade(assignment_id: str, work: Path, workers: int, result: Path) -> None:
    """The dlgrade batch: every submitted/<student>/<id>/<id>.ipynb, ``workers`` sandboxes in parallel."""
    paths = sorted(str(p) for p in (work / "submitted").glob(f"*/{assignment_id}/{assignment_id}.ipynb"))
    with ProcessPoolExecutor(workers, initializer=_init_dlgrade_worker, initargs=(assignment_id,)) as pool:
        rows = list(pool.map(_grade_one, paths))
    result.write_text(json.dumps(rows))


def batch_available() -> bool:
    """Whether this dlgrade has the batch runner (`dlgrade autograde` on an nbgrader course)."""
    import importlib.util

    return importlib.util.find_spec("dlgrade.autograde") is not None and \
        importlib.util.find_spec("dlgrade.batch") is not None


def dlgrade_batch_rows(course: Path, assignment_id: str) -> list[dict[str, Any]]:
    """Per student, from `dlgrade autograde`'s records: score, wall and student time of the grading."""
    rows = []
    for path in sorted((course / ".dlgrade" / "results" / assignment_id).glob("*.json")):
        data = json.loads(path.read_text())
        result = data["result"]
        rows.append({"student": data["student"], "score": round(sum(q["score"] for q in result["questions"]), 2),
                     "seconds": result["execution_time"], "execution_time": result["execution_time"],
                     "student_time": result["student_time"], "sandbox": result["sandbox"]})
    return rows


# ---- otter ----------------------------------------------------------------------------------------------------


def _otter_one(zip_path: Path, notebook: Path) -> dict[str, Any]:
    out = notebook.parent / "otter-results"
    out.mkdir(exist_ok=True)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "otter", "run", "-a", str(zip_path), "-o", str(out), "--no-logo",
                           str(notebook)], capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    score = None
    if (out / "results.json").is_file():
        tests = json.loads((out / "results.json").read_text())["tests"]
        score = sum(t.get("score") or 0.0 for t in tests)
    return {"student": notebook.parent.parent.name, "score": score, "seconds": seconds,
            "status": done.returncode}


def child_otter(assignment_id: str, work: Path, workers: int, result: Path) -> None:
    """`otter run` for every submission, ``workers`` at a time."""
    zip_path = work / "otter" / "autograder.zip"
    notebooks = sorted((work / "submitted").glob(f"*/{assignment_id}/{assignment_id}.ipynb"))
    with ThreadPoolExecutor(workers) as pool:
        rows = list(pool.map(lambda nb: _otter_one(zip_path, nb), notebooks))
    result.write_text(json.dumps(rows))


# ---- nbgrader ---------------------------------------------------------------------------------------------

NBGRADER_CONFIG = """\
c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "dlgrade-bench"
c.CourseDirectory.db_url = {db!r}
c.Execute.timeout = 600
c.NbGrader.log_format = "%(created).3f [%(name)s] %(message)s"
"""

TEST_CELL = """\
# nbgrader-native test cell: the public cases and one draw of the hidden cases of dlgrade's suite, expected
# values baked by the reference, asserted in this kernel.
from dlcheck.kernel import assert_question

assert_question({spec!r}, globals())
"""


def nbgrader_source(assignment: Any, specs: dict[str, dict[str, Any]]) -> nbformat.NotebookNode:
    """The instructor notebook with every grade cell asserting its question's baked cases."""
    from dlgrade.interop.bake import spec_json

    notebook = nbformat.read(assignment.source, as_version=4)
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and meta.get("grade_id") in specs:
            cell.source = TEST_CELL.format(spec=spec_json(specs[meta["grade_id"]]))
    return notebook


def nbgrader_times(log: Path, students: list[str]) -> dict[str, float]:
    """Per student, the seconds between nbgrader starting on them and on the next one (the last: to exit)."""
    starts: list[tuple[float, str]] = []
    end = None
    for line in log.read_text(errors="replace").splitlines():
        stamp, _, rest = line.partition(" ")
        try:
            when = float(stamp)
        except ValueError:
            continue
        end = when
        if "Creating/updating student with ID '" in rest:
            student = rest.split("ID '", 1)[1].split("'", 1)[0]
            starts.append((when, student))
    times = {}
    for index, (when, student) in enumerate(starts):
        following = starts[index + 1][0] if index + 1 < len(starts) else end
        times[student] = (following or when) - when
    return {student: times[student] for student in students if student in times}


def nbgrader_scores(course: Path, assignment_id: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {s.student.id: float(s.score) for s in gradebook.assignment_submissions(assignment_id)}


# ---- one assignment -----------------------------------------------------------------------------------------


def prepare(assignment: Any, students: list[Student], work: Path, systems: list[str]) -> None:
    """work/submitted/<student>/<id>/ (notebook + dlcheck/ as released), the nbgrader course, the otter zip."""
    from dlgrade.interop.bake import bake_suite, write_kernel_checker

    aid = assignment.id
    checker = work / "checker"
    write_kernel_checker(checker, assignment)
    for student in students:
        folder = work / "submitted" / student.name / aid
        folder.mkdir(parents=True)
        nbformat.write(student.notebook, folder / f"{aid}.ipynb")
        shutil.copytree(checker / "dlcheck", folder / "dlcheck")
    if "dlgrade" in systems and batch_available():
        course = work / "dlcourse"
        done = subprocess.run([str(Path(sys.executable).parent / "dlgrade"), "setup", aid, "--course", str(course)],
                              cwd=work, env=tool_env(), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"dlgrade setup failed:\n{done.stderr[-3000:]}")
        for student in students:
            shutil.copytree(work / "submitted" / student.name, course / "submitted" / student.name)
    if "nbgrader" in systems:
        course = work / "nbcourse"
        (course / "source" / aid).mkdir(parents=True)
        nbformat.write(nbgrader_source(assignment, bake_suite(assignment, SEED)), course / "source" / aid /
                       f"{aid}.ipynb")
        shutil.copytree(checker / "dlcheck", course / "source" / aid / "dlcheck")
        (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(
            root=str(course), db=f"sqlite:///{course / 'gradebook.db'}"))
        shutil.copytree(work / "submitted", course / "submitted")
        nbgrader = str(Path(sys.executable).parent / "nbgrader")
        done = subprocess.run([nbgrader, "generate_assignment", aid, "--force"], cwd=course, env=tool_env(),
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"nbgrader generate_assignment failed:\n{done.stderr[-3000:]}")
    if "otter" in systems:
        from dlgrade.interop.otter import export_otter

        export_otter(assignment, work / "otter", seed=SEED)


def _summary(system: str, rows: list[dict[str, Any]], wall: float, peak: int, count: int) -> dict[str, Any]:
    seconds = sorted(float(r["seconds"]) for r in rows if r.get("seconds") is not None)
    p95 = seconds[min(len(seconds) - 1, int(round(0.95 * (len(seconds) - 1))))] if seconds else None
    summary = {"system": system, "submissions": count, "graded": len(seconds), "wall": wall,
               "per_minute": 60.0 * count / wall, "median": statistics.median(seconds) if seconds else None,
               "p95": p95, "peak_mib": peak / 2**20}
    if system.startswith("dlgrade"):
        student = sum(float(r["student_time"]) for r in rows)
        engine = [float(r["execution_time"]) - float(r["student_time"]) for r in rows]
        summary |= {"student_time_total": student, "engine_overhead_total": sum(engine),
                    "engine_overhead_median": statistics.median(engine)}
    return summary


def schedule(systems: list[str], repeat: int) -> list[str]:
    """The order of the runs: the dlgrade batch ``repeat`` times, first in its place and then after each of the
    last repeat - 1 other systems, so its short runs sample the machine across the long ones."""
    if "dlgrade" not in systems or repeat <= 1:
        return list(systems)
    others = [s for s in systems if s != "dlgrade"]
    order = ["dlgrade"] if systems.index("dlgrade") == 0 else []
    first_after = len(others) - (repeat - len(order))
    for position, system in enumerate(others):
        order.append(system)
        if position >= first_after:
            order.append("dlgrade")
    while order.count("dlgrade") < repeat:
        order.append("dlgrade")
    return order


def bench_assignment(assignment_id: str, count: int, systems: list[str], workers: int, keep: Path | None,
                     log: Any, repeat: int = 1) -> dict[str, Any]:
    from dlgrade import assignments

    assignment = assignments.load(assignment_id)
    students = build_class(assignment, count)
    names = [s.name for s in students]
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"dlgrade-bench-{assignment_id}-", dir=keep))
    log(f"{assignment_id}: {len(students)} submissions ({sum(s.kind == 'solution' for s in students)} correct, "
        f"{sum(s.kind == 'mistake' for s in students)} buggy, {sum(s.kind == 'blank' for s in students)} blank) "
        f"in {work}")
    prepare(assignment, students, work, systems)
    pristine = work / "dlcourse.pristine"
    if (work / "dlcourse").is_dir():
        shutil.copytree(work / "dlcourse", pristine, symlinks=True)
    results: dict[str, Any] = {"assignment": assignment_id, "submissions": len(students),
                               "max_score": assignment.max_score, "systems": {}, "scores": {}}
    batch_runs: list[tuple[float, dict[str, Any], dict[str, Any]]] = []
    for system in schedule(systems, repeat):
        log(f"  {system} ...")
        out = work / f"{system}.json"
        if system == "dlgrade-engine" or (system == "dlgrade" and not batch_available()):
            wall, peak, status = run_measured([sys.executable, str(Path(__file__).resolve()), "--child", "dlgrade",
                                               "--assignment", assignment_id, "--work", str(work),
                                               "--workers", str(workers), "--result", str(out)], ROOT,
                                              log=work / f"{system}.log")
            rows = json.loads(out.read_text()) if out.is_file() else []
        elif system == "dlgrade":
            course = work / "dlcourse"
            if batch_runs:  # every run grades the same freshly set-up course
                shutil.rmtree(course)
                shutil.copytree(pristine, course, symlinks=True)
            wall, peak, status = run_measured([str(Path(sys.executable).parent / "dlgrade"), "autograde",
                                               assignment_id, "--course", str(course), "--workers", str(workers),
                                               "--force"], work, log=work / "dlgrade.log")
            rows = dlgrade_batch_rows(course, assignment_id)
        elif system == "nbgrader":
            course = work / "nbcourse"
            wall, peak, status = run_measured([str(Path(sys.executable).parent / "nbgrader"), "autograde",
                                               assignment_id, "--force"], course, log=work / "nbgrader.log")
            times = nbgrader_times(work / "nbgrader.log", names)
            scores = nbgrader_scores(course, assignment_id)
            rows = [{"student": n, "seconds": times.get(n), "score": scores.get(n)} for n in names]
        else:
            wall, peak, status = run_measured([sys.executable, str(Path(__file__).resolve()), "--child", system,
                                               "--assignment", assignment_id, "--work", str(work),
                                               "--workers", str(workers), "--result", str(out)], ROOT,
                                              log=work / f"{system}.log")
            rows = json.loads(out.read_text()) if out.is_file() else []
        if status != 0:
            log(f"    {system} exited with {status}: see {work / (system + '.log')}")
        summary = _summary(system, rows, wall, peak, len(students))
        scores = {r["student"]: r.get("score") for r in rows}
        if system == "dlgrade" and batch_available():
            batch_runs.append((wall, summary, scores))
            # its row is the run of median wall time; every run's wall is kept
            ordered = sorted(batch_runs, key=lambda run: run[0])
            _wall, summary, scores = ordered[len(ordered) // 2]  # of two: the slower
            summary = summary | {"runs": [run[0] for run in batch_runs]}
        results["systems"][system] = summary
        results["scores"][system] = scores
        log(f"    {wall:.1f} s, {60.0 * len(students) / wall:.1f}/min, peak {peak / 2**20:.0f} MiB")
    if keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return results


# ---- report -------------------------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def report(results: list[dict[str, Any]], workers: int) -> str:
    """Markdown: per assignment a table of the systems, dlgrade's engine overhead, the goals, score agreement."""
    cores = os.cpu_count() or 1
    lines = []
    for result in results:
        systems = result["systems"]
        dl = systems.get("dlgrade")
        lines += [f"### {result['assignment']} ({result['submissions']} submissions; {workers} workers for dlgrade "
                  f"and otter, nbgrader autograde is sequential)", "",
                  "| system | wall s | submissions/min | median s/sub | p95 s/sub | peak MiB | dlgrade ÷ this |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, s in systems.items():
            ratio = f"{dl['per_minute'] / s['per_minute']:.1f}×" if dl and name != "dlgrade" else ""
            lines.append(f"| {name} | {_fmt(s['wall'], 1)} | {_fmt(s['per_minute'], 1)} | {_fmt(s['median'])} | "
                         f"{_fmt(s['p95'])} | {_fmt(s['peak_mib'], 0)} | {ratio} |")
        lines.append("")
        if dl and len(dl.get("runs", [])) > 1:
            lines.append(f"- dlgrade: {len(dl['runs'])} runs on copies of the same course, spread through this one "
                         f"(wall s, in order: {', '.join(f'{w:.1f}' for w in dl['runs'])}); its row is the median run")
        for name, s in systems.items():
            if name.startswith("dlgrade") and s.get("student_time_total") is not None:
                bound = s["student_time_total"] / cores
                overhead = s["engine_overhead_total"]
                lines.append(f"- {name}: student code {s['student_time_total']:.1f} s in all (as its worker reports "
                             f"it); engine overhead (wall − student time per submission) {overhead:.1f} s in all, "
                             f"median {s['engine_overhead_median']:.2f} s; batch wall ÷ (student time ÷ {cores} "
                             f"cores) = {s['wall'] / bound:.2f}" if bound > 0 else f"- {name}: no student time")
        lines += [f"- {line}" for line in goals(result, cores)]
        agree = _agreement(result)
        if agree:
            lines.append(f"- {agree}")
        lines.append("")
    return "\n".join(lines)


def goals(result: dict[str, Any], cores: int) -> list[str]:
    """The issue's goals, measured: losses 20× nbgrader's and 50× otter's throughput; training wall within
    1.2× of the student code's own compute divided by the cores."""
    systems, out = result["systems"], []
    dl = systems.get("dlgrade")
    if dl is None:
        return out
    if result["assignment"] == "losses":
        for other, target in (("nbgrader", 20.0), ("otter", 50.0)):
            if other in systems:
                ratio = dl["per_minute"] / systems[other]["per_minute"]
                out.append(f"goal {target:g}× {other}'s throughput: {ratio:.1f}× — "
                           f"{'met' if ratio >= target else f'missed by {target / ratio:.1f}×'}")
    if result["assignment"] == "training" and dl.get("student_time_total"):
        bound = dl["student_time_total"] / cores
        ratio = dl["wall"] / bound
        out.append(f"goal wall ≤ 1.2 × student compute ÷ {cores} cores ({1.2 * bound:.1f} s): {dl['wall']:.1f} s = "
                   f"{ratio:.2f}× — {'met' if ratio <= 1.2 else f'missed by {ratio / 1.2:.1f}×'}")
    return out


def _agreement(result: dict[str, Any]) -> str:
    scores = result["scores"]
    if len(scores) < 2:
        return ""
    parts = []
    names = list(scores)
    for other in names[1:]:
        common = [s for s in scores[names[0]] if scores[names[0]][s] is not None and scores[other].get(s) is not None]
        same = sum(abs(scores[names[0]][s] - scores[other][s]) < 0.05 * result["max_score"] for s in common)
        parts.append(f"{other}: {same}/{len(common)} within 5% of {names[0]}'s score")
    return ("Scores agree — " + "; ".join(parts) + " (hidden cases differ: dlgrade draws them per submission; "
            "an nbgrader test cell is all or nothing, dlgrade and otter give partial credit per case).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", nargs="+", default=list(DEFAULT_COUNTS))
    parser.add_argument("--count", nargs="*", default=[], help="ID=N, e.g. losses=60 training=24")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", type=Path, help="keep the work folders under this directory")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of the dlgrade batch, spread among the other systems' (its row: the median run)")
    parser.add_argument("--report", type=Path, help="print the tables of an earlier run's bench/results/*.json")
    parser.add_argument("--child", choices=("dlgrade", "otter"), help=argparse.SUPPRESS)
    parser.add_argument("--assignment", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "dlgrade":
        child_dlgrade(args.assignment, args.work, args.workers, args.result)
        return 0
    if args.child == "otter":
        child_otter(args.assignment, args.work, args.workers, args.result)
        return 0
    if args.report:
        record = json.loads(args.report.read_text())
        print(report(record["results"], record["workers"]))
        return 0
    counts = DEFAULT_COUNTS | {k: int(v) for k, _, v in (item.partition("=") for item in args.count)}

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started = time.strftime("%Y%m%d-%H%M%S")
    load_before = os.getloadavg()
    results = [bench_assignment(aid, counts.get(aid, 20), args.systems, args.workers, args.keep, log, args.repeat)
               for aid in args.assignments]
    record = {"started": started, "cpus": os.cpu_count(), "workers": args.workers, "load_before": load_before,
              "load_after": os.getloadavg(), "command": " ".join([Path(sys.executable).name, *sys.argv]),
              "results": results}
    out = HERE / "results" / f"{started}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    print(report(results, args.workers))
    print(f"load average before/after: {load_before[0]:.1f} / {record['load_after'][0]:.1f}; raw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
