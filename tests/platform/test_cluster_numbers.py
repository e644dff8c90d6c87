"""Per-student numbers on the cluster: the main process derives each student's numbers from the course secret and
sends them with the request (never the secret), and a `dlgrade worker` node grades backprop's hand-computed
questions exactly as a local Grader does: the solution full marks under every id, on that student's own numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster_helpers import Cluster

from dlgrade import assignments, sample_class
from dlgrade.grading import Grader, own_numbers
from dlgrade.sandbox.launcher import Sandbox

SECRET = b"cluster-numbers-test-secret"
STUDENTS = ("alice", "s1234567")


@pytest.fixture(scope="module")
def backprop_node(tmp_path_factory: pytest.TempPathFactory):
    cluster = Cluster(tmp_path_factory.mktemp("numbers-cluster")).start()
    try:
        cluster.add_node("n1", project=assignments.PROJECT_ROOT)
        cluster.wait_for(["n1"], resource_prefix="dlgrade-backprop-")
        yield cluster
    finally:
        cluster.close()


def _own_numbers_cases(data: dict) -> dict[str, str]:
    """question -> label of its one case, for the questions graded on the student's own numbers."""
    return {q["name"]: q["cases"][0]["label"] for q in data["questions"]
            if q["cases"] and "your numbers (student" in q["cases"][0]["label"]}


def test_the_cluster_grades_each_student_on_their_own_numbers_as_a_local_grader_does(backprop_node: Cluster,
                                                                                      tmp_path: Path) -> None:
    from dlgrade.autograde import result_to_data
    from dlgrade.cluster import ClusterBackend

    assignment = assignments.load("backprop")
    solution = next(s for s in sample_class.build(assignment, hostile=False) if s.kind == "solution")
    path = solution.write(tmp_path / "backprop.ipynb")
    with ClusterBackend(backprop_node.address, secret=SECRET, assignments_root=assignments.PROJECT_ROOT) as backend:
        remote = {student: backend.submit("backprop", student, path.read_bytes()).result(timeout=600)
                  for student in STUDENTS}
    with Sandbox() as sandbox:
        grader = Grader(assignment, sandbox, secret=SECRET, numbers_secret=SECRET)
        local = {student: result_to_data(grader.grade(path, student)) for student in STUDENTS}
    for student in STUDENTS:
        numbers = own_numbers(assignment, SECRET, student)
        assert numbers is not None
        cases = _own_numbers_cases(remote[student])
        assert len(cases) >= 4, cases  # backprop's scalar_* questions
        for label in cases.values():
            assert f"student {student!r}" in label
            assert all(f"{name} = {value:g}" in label for name, value in numbers.items())
        assert cases == _own_numbers_cases(local[student])
        scores = {q["name"]: q["score"] for q in remote[student]["questions"]}
        assert scores == {q["name"]: q["score"] for q in local[student]["questions"]}
        assert sum(scores.values()) == assignment.max_score
    assert own_numbers(assignment, SECRET, STUDENTS[0]) != own_numbers(assignment, SECRET, STUDENTS[1])
