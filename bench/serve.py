#!/usr/bin/env python
"""`dlgrade serve` under load: 200 submissions of losses from 20 concurrent clients on loopback.

A fresh course (`dlgrade setup losses`, the production path: sandbox on, nbgrader's gradebook, records,
feedback and autograded notebooks), `dlgrade serve --workers 2` as a process of its own, and 20 client threads,
one student each, each submitting its 10 notebooks one after the other as a student would: POST, then follow
the submission (long polls) until it is graded, then the next. The notebooks are bench/run.py's sample class of
losses (the solution, the blank template, one per known mistake, varied so that each is different code).

Reported: throughput, p50/p95/max submit-to-graded latency as the clients saw it (from the POST to the first
answer saying graded), the grading process's own time per submission (graded_at - started_at), the load
average at the time, and the same 200 notebooks graded by the batch (`dlgrade autograde losses --workers 2` on
a course with one student per notebook) for its per-submission time; the ratio of the two is the figure to
track. With 20 clients each waiting for its grade, 20 submissions are always in flight, so a submission waits for
the 19 ahead of it: p50 / (20 x the batch's per-submission time) is 1.0 when the service queues no worse than the
batch grades. Then (--solo) 10 more from one client alone: the latency of a service with nothing queued, next to
the batch's median engine time per submission. Then checks that none was lost or duplicated: a row and a distinct
id per submission, each graded and logged as graded exactly once, the gradebook holding each client's last one.

    .venv/bin/python bench/serve.py [--submissions 200] [--clients 20] [--workers 2] [--solo 10] [--keep DIR]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import nbformat  # noqa: E402
import run as side_by_side  # noqa: E402 - bench/run.py: the sample class and the measuring helpers


def dlgrade(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run([str(Path(sys.executable).parent / "dlgrade"), *args], cwd=cwd, capture_output=True,
                          text=True, env=side_by_side.tool_env(), check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"dlgrade {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Client(threading.Thread):
    """One student: submits its notebooks one after the other, each followed until graded."""

    def __init__(self, port: int, token: str, notebooks: list[bytes]) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.notebooks = port, token, notebooks
        self.done: list[dict[str, Any]] = []
        self.error: str | None = None

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            headers = {"Authorization": f"Bearer {self.token}"}
            if body is not None:
                headers["Content-Type"] = "application/x-ipynb+json"
            connection.request(method, path, body=body, headers=headers)
            reply = connection.getresponse()
            return reply.status, json.loads(reply.read())
        finally:
            connection.close()

    def run(self) -> None:
        try:
            for data in self.notebooks:
                started = time.monotonic()
                status, body = self.call("POST", "/api/v1/assignments/losses/submissions", data)
                accepted = time.monotonic()
                if status != 202:
                    raise RuntimeError(f"POST answered {status}: {body}")
                sid = body["id"]
                while True:
                    status, state = self.call("GET", f"/api/v1/submissions/{sid}?wait=30")
                    if status != 200:
                        raise RuntimeError(f"GET answered {status}: {state}")
                    if state["status"] not in ("queued", "grading"):
                        break
                self.done.append({"id": sid, "status": state["status"], "score": state["score"],
                                  "post": accepted - started, "latency": time.monotonic() - started})
        except Exception as error:  # reported, and the run counts as failed
            self.error = f"{type(error).__name__}: {error}"


def batch_per_submission(notebooks: list[bytes], work: Path, workers: int) -> dict[str, float]:
    """The same notebooks graded by `dlgrade autograde` (one student each): wall, per submission."""
    course = work / "batch-course"
    dlgrade("setup", "losses", "--course", str(course))
    for number, data in enumerate(notebooks):
        folder = course / "submitted" / f"b{number:03d}" / "losses"
        folder.mkdir(parents=True)
        (folder / "losses.ipynb").write_bytes(data)
        (folder / "timestamp.txt").write_text("2030-01-01 10:00:00.000000 UTC")
    wall, peak, status = side_by_side.run_measured(
        [str(Path(sys.executable).parent / "dlgrade"), "autograde", "losses", "--course", str(course),
         "--workers", str(workers)], work, work / "batch.log")
    rows = side_by_side.dlgrade_batch_rows(course, "losses")
    return {"wall": wall, "per_submission": wall / len(notebooks), "graded": len(rows),
            "median_execution": statistics.median(r["execution_time"] for r in rows), "exit": status,
            "peak_mib": peak / (1 << 20)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", help="work in this folder and keep it")
    parser.add_argument("--solo", type=int, default=10, help="then this many from one client alone: the latency "
                                                              "of a service with nothing queued")
    parser.add_argument("--no-batch", action="store_true", help="skip the batch's run")
    args = parser.parse_args(argv)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dlgrade-bench-serve-"))
    work.mkdir(parents=True, exist_ok=True)
    from dlgrade import assignments

    losses = assignments.load("losses")
    notebooks = [nbformat.writes(s.notebook).encode()
                 for s in side_by_side.build_class(losses, args.submissions)]
    per_client = [notebooks[i::args.clients] for i in range(args.clients)]
    course = work / "course"
    print(f"setting up {course}", file=sys.stderr)
    dlgrade("setup", "losses", "--course", str(course))
    (course / "dlgrade.yml").write_text("defaults:\n  per_day: null\n  hidden: full\n")
    tokens = dict(line.split("\t") for line in
                  dlgrade("tokens", "issue", "--course", str(course),
                          *[f"client{i:02d}" for i in range(args.clients)]).splitlines())
    port = free_port()
    log = (work / "serve.log").open("wb")
    started = time.monotonic()
    server = subprocess.Popen([str(Path(sys.executable).parent / "dlgrade"), "serve", "--course", str(course),
                               "--port", str(port), "--workers", str(args.workers)], stdout=log, stderr=log,
                              env=side_by_side.tool_env(), start_new_session=True)
    try:
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/api/v1/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() - started > 900:
                raise SystemExit(f"dlgrade serve did not start:\n{(work / 'serve.log').read_text()[-3000:]}")
            time.sleep(0.2)
        startup = time.monotonic() - started
        load_before = os.getloadavg()
        clients = [Client(port, tokens[f"client{i:02d}"], per_client[i]) for i in range(args.clients)]
        began = time.monotonic()
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        elapsed = time.monotonic() - began
        load_after = os.getloadavg()
        solo = Client(port, tokens["client00"], notebooks[:args.solo])
        solo.run()
        if solo.error:
            raise SystemExit(f"the solo client failed: {solo.error}")
        # let the last recordings finish before checking the gradebook
        database = course / ".dlgrade" / "service" / "service.db"
        deadline = time.monotonic() + 300
        while True:
            with sqlite3.connect(database) as db:
                left = db.execute("SELECT COUNT(*) FROM submissions WHERE recorded = 0").fetchone()[0]
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
        log.close()

    errors = [c.error for c in clients if c.error]
    done = [row for c in clients for row in c.done]
    latencies = [row["latency"] for row in done]
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT id, student, status, started_at, graded_at, in_force, recorded, score "
                          "FROM submissions").fetchall()
    text = (course / ".dlgrade" / "service" / "service.log").read_text()
    graded_lines = [line.split(" graded ", 1)[1].split(" ", 1)[0] for line in text.splitlines()
                    if " grader INFO graded " in line]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "course") as book:
        in_book = {s.student.id: s.score for s in book.assignment_submissions("losses")}
    last = {c.token: c.done[-1]["id"] for c in clients if c.done}
    if solo.done:
        last[solo.token] = solo.done[-1]["id"]
    by_id = {row[0]: row for row in rows}
    checks = {
        "clients without error": len(errors) == 0,
        f"{args.submissions} answered graded": len(done) == args.submissions and
        all(r["status"] == "graded" for r in done),
        f"{args.submissions + args.solo} rows, distinct ids": len(rows) == args.submissions + args.solo ==
        len({r[0] for r in rows}),
        "each graded exactly once (log)": sorted(graded_lines) == sorted(r[0] for r in rows),
        "all recorded": all(r[6] == 1 for r in rows),
        # (nbgrader sums the cells' scores in SQL, the grader in Python: the same total up to the last bit)
        "gradebook = each client's last": all(by_id[sid][5] == 1 and in_book.get(by_id[sid][1]) is not None and
                                              abs(in_book[by_id[sid][1]] - by_id[sid][7]) <= 1e-9
                                              for sid in last.values()),
    }
    engine = [r[4] - r[3] for r in rows if r[3] and r[4]]
    result: dict[str, Any] = {
        "submissions": args.submissions, "clients": args.clients, "workers": args.workers,
        "startup_s": round(startup, 2), "elapsed_s": round(elapsed, 2),
        "throughput_per_s": round(len(done) / elapsed, 2),
        "latency_p50_s": round(percentile(latencies, 0.5), 3), "latency_p95_s": round(percentile(latencies, 0.95), 3),
        "latency_max_s": round(max(latencies), 3) if latencies else None,
        "post_p50_s": round(percentile([r["post"] for r in done], 0.5), 3),
        "solo_latency_p50_s": round(percentile([r["latency"] for r in solo.done], 0.5), 3) if solo.done else None,
        "solo_latency_max_s": round(max(r["latency"] for r in solo.done), 3) if solo.done else None,
        "grading_p50_s": round(percentile(engine, 0.5), 3), "grading_p95_s": round(percentile(engine, 0.95), 3),
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after],
        "cores": len(os.sched_getaffinity(0)), "checks": checks, "errors": errors[:5],
    }
    if not args.no_batch:
        print("the batch on the same notebooks", file=sys.stderr)
        batch = batch_per_submission(notebooks, work, args.workers)
        result["batch"] = {k: round(v, 3) for k, v in batch.items()}
        result["p50_over_batch"] = round(result["latency_p50_s"] / batch["per_submission"], 2)
        result["p95_over_batch"] = round(result["latency_p95_s"] / batch["per_submission"], 2)
        result["throughput_over_batch"] = round(result["throughput_per_s"] * batch["per_submission"], 2)
        # 20 clients each waiting for its grade keep 20 in flight: at the batch's pace, a submission waits for
        # the 19 ahead of it; this ratio is 1.0 when the service queues no worse than the batch grades
        in_flight = args.clients * batch["per_submission"]
        result["p50_over_clients_x_batch"] = round(result["latency_p50_s"] / in_flight, 2)
        result["solo_p50_over_batch_median_execution"] = round(result["solo_latency_p50_s"] /
                                                               batch["median_execution"], 2) \
            if result["solo_latency_p50_s"] else None
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (results / f"serve-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
