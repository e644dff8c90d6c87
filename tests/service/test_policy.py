"""dlgrade.yml: the policy per assignment, and one clear line (file, line, key) for anything wrong in it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from service_helpers import cli

from dlgrade.content import content_folders
from dlgrade.errors import UsageError
from dlgrade.notebook import MAX_SUBMISSION_BYTES
from dlgrade.service.policy import AssignmentPolicy, PolicyError, load_policy

IDS = ["losses", "sgd"]


def _load(tmp_path: Path, text: str):  # noqa: ANN202
    (tmp_path / "dlgrade.yml").write_text(text)
    return load_policy(tmp_path, IDS)


def test_without_a_file_every_assignment_gets_the_defaults(tmp_path: Path) -> None:
    policy = load_policy(tmp_path, IDS)
    assert policy.of("losses") == policy.of("sgd") == AssignmentPolicy()
    assert AssignmentPolicy() == AssignmentPolicy(open=True, deadline=None, late="accept", accept_until=None,
                                                  per_day=10, counts="last", hidden="per-question")
    assert policy.max_upload_bytes == MAX_SUBMISSION_BYTES


def test_defaults_then_each_assignments_own_settings(tmp_path: Path) -> None:
    policy = _load(tmp_path, """
defaults:
  per_day: 3
  hidden: score
assignments:
  losses:
    deadline: 2030-01-15 23:59:00 +01:00
    late: refuse
    counts: best
    hidden: full
  sgd:
    deadline: "2030-02-01T12:00:00Z"
    accept_until: 2030-02-03 12:00:00 Z
    per_day: null
service:
  max_upload_mb: 2.5
""")
    losses, sgd = policy.of("losses"), policy.of("sgd")
    assert losses.deadline == datetime(2030, 1, 15, 23, 59, tzinfo=timezone(timedelta(hours=1)))
    assert (losses.late, losses.counts, losses.hidden, losses.per_day) == ("refuse", "best", "full", 3)
    assert sgd.deadline == datetime(2030, 2, 1, 12, tzinfo=UTC)
    assert sgd.accept_until == datetime(2030, 2, 3, 12, tzinfo=UTC)
    assert (sgd.per_day, sgd.hidden, sgd.counts, sgd.late) == (None, "score", "last", "accept")
    assert policy.max_upload_bytes == int(2.5 * (1 << 20))


@pytest.mark.parametrize(("text", "line", "words"), [
    ("assignments:\n  losses:\n    per-day: 3\n", 3, "unknown key 'per-day' in assignments.losses (known: open, "
                                                    "deadline, late, accept_until, per_day, counts, hidden)"),
    ("defaults:\n  counts: last\nsettings: {}\n", 3, "unknown key 'settings' in the file"),
    ("defaults:\n  deadline: 2030-01-01 00:00 +00:00\n", 2, "unknown key 'deadline' in defaults"),
    ("assignments:\n  losses:\n    hidden: everything\n", 3,
     "assignments.losses.hidden: 'everything' should be one of score, per-question, full"),
    ("assignments:\n  losses:\n    counts: first\n", 3,
     "assignments.losses.counts: 'first' should be one of last, best"),
    ("assignments:\n  losses:\n    per_day: -1\n", 3, "assignments.losses.per_day: -1 should be a whole number"),
    ("assignments:\n  losses:\n    per_day: yes\n", 3, "assignments.losses.per_day: True should be a whole number"),
    ("assignments:\n  losses:\n    deadline: 2030-01-15 23:59:00\n", 3, "has no UTC offset"),
    ("assignments:\n  losses:\n    deadline: 2030-01-15\n", 3, "give a time and its UTC offset too"),
    ("assignments:\n  losses:\n    deadline: next friday\n", 3, "'next friday' is not a date and time"),
    ("assignments:\n  losses:\n    deadline: 2030-01-15 00:00 Z\n    accept_until: 2030-01-14 00:00 Z\n", 4,
     "assignments.losses.accept_until is before the deadline"),
    ("assignments:\n  training:\n    per_day: 2\n", 2, "assignments.training: not an assignment set up in this course "
                                                      "(set up: losses, sgd)"),
    ("assignments:\n  losses:\n    per_day: 1\n  losses:\n    per_day: 2\n", 4, "key 'losses' appears twice"),
    ("assignments:\n  losses: [1, 2\n", 3, "not valid YAML"),
    ("assignments:\n\tlosses: {}\n", 2, "not valid YAML"),
    ("- just\n- a list\n", 1, "the file should be a mapping"),
    ("service:\n  max_upload_mb: 200\n", 2,
     "service.max_upload_mb: 200 should be a number of MB above 0 and at most 20"),
])
def test_a_problem_in_dlgrade_yml_is_one_line_naming_file_line_and_key(tmp_path: Path, text: str, line: int,
                                                                       words: str) -> None:
    with pytest.raises(PolicyError) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'dlgrade.yml'}, line {line}: "), message
    assert words in message
    assert "\n" not in message


@pytest.mark.parametrize("make", ["folder", "dangling link", "not utf-8"])
def test_a_dlgrade_yml_that_cannot_be_read_is_one_line_not_the_defaults(tmp_path: Path, make: str) -> None:
    """Whatever stands at dlgrade.yml is read or refused, never taken for "no policy" (the content folders and the
    policy read it the same way: dlgrade.content.compose_course_file)."""
    path = tmp_path / "dlgrade.yml"
    if make == "folder":
        path.mkdir()
    elif make == "dangling link":
        path.symlink_to(tmp_path / "elsewhere.yml")
    else:
        path.write_bytes(b"defaults:\n  hidden: \xff\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path, ["losses"])
    assert str(caught.value).startswith(f"{path}: unreadable (") and "\n" not in str(caught.value)
    with pytest.raises(UsageError, match="unreadable"):
        content_folders(tmp_path)


def test_dlgrade_serve_stops_at_start_up_on_a_bad_policy(base_course: Path, tmp_path: Path) -> None:
    (base_course / "dlgrade.yml").write_text("assignments:\n  mini:\n    hiden: full\n")
    try:
        code, out, err = cli("serve", "--course", base_course, "--port", "1")
    finally:
        (base_course / "dlgrade.yml").unlink()
    assert code == 2 and out == ""
    assert err == (f"dlgrade: {base_course / 'dlgrade.yml'}, line 3: unknown key 'hiden' in assignments.mini "
                   "(known: open, deadline, late, accept_until, per_day, counts, hidden)\n")


@pytest.mark.parametrize(("args", "words"), [
    (["--host", "0.0.0.0"], "--host 0.0.0.0 is reachable from other machines: give --ssl-certfile and "
                            "--ssl-keyfile"),
    (["--host", "192.0.2.7", "--ssl-certfile", "cert.pem"], "give both --ssl-certfile and --ssl-keyfile"),
    (["--workers", "0"], "--workers 0: give at least 1"),
])
def test_dlgrade_serve_refuses_what_it_cannot_serve_safely_in_one_line(base_course: Path, args: list[str],
                                                                       words: str) -> None:
    code, out, err = cli("serve", "--course", base_course, "--port", "1", *args)
    assert code == 2, err
    assert err.startswith(f"dlgrade: {words}") and err.count("\n") == 1


def test_a_port_in_use_is_one_line(base_course: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code, _, err = cli("serve", "--course", base_course, "--port", port)
    assert code == 2 and err.startswith(f"dlgrade: cannot listen on 127.0.0.1:{port}: ") and err.count("\n") == 1


@pytest.fixture(scope="module")
def base_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from service_helpers import FIXTURE_ROOT

    course = tmp_path_factory.mktemp("policy") / "course"
    code, _, err = cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT)
    assert code == 0, err
    return course
