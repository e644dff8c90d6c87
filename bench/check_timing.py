#!/usr/bin/env python
"""How long each check("question") of the released notebooks takes, as a student who solved everything sees it.

Per assignment, one fresh Python process in a copy of student_template/<id>/ runs the notebook top to bottom:
every code cell of the instructor's source notebook (the setup cell's imports, then each solution cell, markers
dropped) and, in place of each grade cell, the released notebook's `check("question")`, timed on its own. The
first check of a process also pays for importing dlcheck and reading checks.json. For judged questions that
train a model (classifier, regressor, digits) the time is mostly the student's own training, which check() runs
as the grader does (one torch thread); the table says so. Goal: every check() under 1 s after the notebook's own
imports, apart from that training.

    .venv/bin/python bench/check_timing.py [--assignments backprop sgd ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dlgrade import assignments  # noqa: E402
from dlgrade.solution_cells import solution_sources  # noqa: E402

# Runs inside the fresh process: cells are (kind, grade_id, source); "check" cells are timed.
CHILD = r'''
import json, sys, time, io, contextlib
cells = json.loads(sys.stdin.read())
namespace = {"__name__": "__main__"}
LAZY = ("torch", "torch._dynamo", "sympy")  # imports a first use pays for (torch.optim, torch.distributions)


def run(source, name):
    before = {module for module in LAZY if module in sys.modules}
    started = time.perf_counter()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, f"<cell {name}>", "exec"), namespace)
    seconds = time.perf_counter() - started
    loaded = [module for module in LAZY if module in sys.modules and module not in before]
    return seconds, loaded, (printed.getvalue().strip().splitlines() or [""])[0][:100]


timings = []
for kind, grade_id, source in cells:
    seconds, loaded, head = run(source, grade_id)
    if kind == "check":
        timings.append({"question": grade_id, "seconds": seconds, "imported": loaded, "said": head})
for row in timings:  # again, warm: check()'s own steady cost
    row["again"] = run(f"check({row['question']!r})", row["question"])[0]
print(json.dumps(timings))
'''

TRAINS = {"classifier", "regressor", "digits"}  # check() runs the student's training: its time is theirs


def notebook_cells(assignment_id: str) -> list[tuple[str, str, str]]:
    """The source notebook's code cells in order: solutions without markers, grade cells as check() calls."""
    assignment = assignments.load(assignment_id)
    solutions = solution_sources(assignment.source)
    cells = json.loads(assignment.source.read_text(encoding="utf-8"))["cells"]
    out = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = meta.get("grade_id", "")
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if meta.get("grade") and not meta.get("solution"):
            out.append(("check", grade_id, f"check({grade_id!r})"))
        elif meta.get("solution"):
            out.append(("solution", grade_id, solutions[grade_id]))
        else:
            out.append(("setup", grade_id or "cell", source))
    return out


def time_assignment(assignment_id: str) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix="dlgrade-check-bench-") as scratch:
        folder = Path(scratch) / assignment_id
        shutil.copytree(ROOT / "student_template" / assignment_id, folder)
        result = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(notebook_cells(assignment_id)),
                                capture_output=True, text=True, cwd=folder, check=True)
        return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignments", nargs="*", default=assignments.known_ids())
    parser.add_argument("--json", type=Path, help="also write the raw timings here")
    options = parser.parse_args()
    everything, slow = {}, []
    print("| assignment | question | check() s, fresh | again, warm | imported during it | note |\n"
          "|---|---|---:|---:|---|---|")
    for assignment_id in options.assignments:
        everything[assignment_id] = time_assignment(assignment_id)
        for row in everything[assignment_id]:
            note = "runs the student's training" if row["question"] in TRAINS else ""
            if row["seconds"] > 1.0 and not note:
                slow.append(f"{assignment_id}.{row['question']} ({row['seconds']:.1f} s, "
                            f"imported {', '.join(row['imported']) or 'nothing'})")
            print(f"| {assignment_id} | {row['question']} | {row['seconds']:.3f} | {row['again']:.3f} | "
                  f"{', '.join(row['imported'])} | {note} |")
    if options.json:
        options.json.write_text(json.dumps(everything, indent=1))
    print(f"\nover 1 s (not counting the student's own training): {', '.join(slow) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
