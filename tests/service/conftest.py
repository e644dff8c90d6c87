"""One course served for the service's end-to-end tests: copies of the 'mini' assignment under one policy each,
tokens for a few students and an instructor, and a real `dlgrade serve` process (real sandbox) on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from service_helpers import Served, Server, build_project, cli, issue_tokens

from dlgrade.sandbox.launcher import bwrap_path

POLICY = """\
# the served test course: one copy of mini per policy
defaults:
  per_day: 50
  hidden: full
assignments:
  mini:                      # full feedback, the last graded submission counts
  minipq:
    hidden: per-question
  miniscore:
    hidden: score
  minibest:                  # two a day, the best counts
    per_day: 2
    counts: best
  minilate:                  # past its deadline; late accepted (nbgrader's penalty: zero, see nbgrader_config)
    deadline: 2020-01-01 00:00:00 +00:00
  miniclosed:                # past its deadline; no late submissions
    deadline: 2020-01-01 00:00:00 +00:00
    late: refuse
service:
  max_upload_mb: 1
"""
IDS = ("mini", "minipq", "miniscore", "minibest", "minilate", "miniclosed")
STUDENTS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if bwrap_path() is None:
        pytest.fail("bubblewrap is required for the service's tests (make test installs it)")
    base = tmp_path_factory.mktemp("served")
    project = build_project(base / "project", IDS)
    course = base / "course"
    code, _, err = cli("setup", *IDS, "--course", course, "--project", project)
    assert code == 0, err
    with (course / "nbgrader_config.py").open("a") as config:
        config.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    (course / "dlgrade.yml").write_text(POLICY)
    tokens = issue_tokens(course, *STUDENTS)
    instructor = issue_tokens(course, "prof", instructor=True)["prof"]
    server = Server(course, base / "serve.log", workers=2).start()
    try:
        yield Served(course, server, tokens, instructor)
    finally:
        server.stop()
