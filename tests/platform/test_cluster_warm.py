"""A standing grading node is warm: dlgrade.cluster.task.warm (or `dlgrade worker --warm` at set-up) grades each
assignment's own solution once on every slot, thrown away, so that whatever a first grading pays (the fork
server's suite warm-up, the trusted side's lazy imports, the numpy-only sandbox) is paid before the first student's
submission; once per slot's fork server, not per call."""

from __future__ import annotations

import pytest
from cluster_helpers import Cluster
from course_helpers import FIXTURE_ROOT, cli

MINI_POINTS = 5.0  # the fixture's mini: its solution's full marks


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory):
    """Two nodes of one project (mini): "cold" started as usual, "warm" with --warm (all its assignments)."""
    cluster = Cluster(tmp_path_factory.mktemp("warm-cluster")).start()
    try:
        cluster.add_node("cold", slots=2)
        cluster.add_node("warm", options=("--warm",))
        cluster.wait_for(["cold-0", "cold-1", "warm"])
        yield cluster
    finally:
        cluster.close()


def _warm_each(cluster: Cluster, names: list[str]) -> dict[str, dict]:
    """warm(["mini"]) as a task on each named worker: name -> its answer."""
    from dlgrade.cluster.task import warm

    addresses = cluster.wait_for(names)
    with cluster.client() as client:
        tasks = {name: client.submit(warm, ["mini"], workers=[addresses[name]], pure=False) for name in names}
        return {name: task.result(timeout=300) for name, task in tasks.items()}


def test_warm_grades_the_solution_on_every_slot_once(nodes: Cluster) -> None:
    first = _warm_each(nodes, ["cold-0", "cold-1"])
    for name, answer in first.items():
        assert answer["name"] == name
        assert answer["slots"] == [{"slot": 1, "assignment": "mini", "score": MINI_POINTS, "max_score": MINI_POINTS,
                                    "already": False}]
    again = _warm_each(nodes, ["cold-0", "cold-1"])
    for answer in again.values():  # once per worker process and fork server: nothing graded a second time
        assert answer["slots"] == [{"slot": 1, "assignment": "mini", "score": MINI_POINTS, "max_score": MINI_POINTS,
                                    "already": True}]


def test_a_node_started_with_warm_graded_the_solution_before_it_took_tasks(nodes: Cluster) -> None:
    answer = _warm_each(nodes, ["warm"])["warm"]
    assert answer["slots"] == [{"slot": 1, "assignment": "mini", "score": MINI_POINTS, "max_score": MINI_POINTS,
                                "already": True}]  # its set-up did, before it offered to grade mini
    assert "dlgrade: warm: mini's solution on slot 1: 5/5" in nodes.log("warm")


def test_warm_names_an_assignment_the_worker_does_not_have(nodes: Cluster) -> None:
    from dlgrade.cluster.task import warm

    address = nodes.wait_for(["cold-0"])["cold-0"]
    with nodes.client() as client:
        answer = client.submit(warm, ["nosuch"], workers=[address], pure=False).result(timeout=300)
    assert answer["slots"] == [{"slot": 1, "assignment": "nosuch", "error": "this worker has no assignment 'nosuch'"}]


def test_worker_warm_with_an_unknown_assignment_is_one_line_and_exit_2() -> None:
    run = cli("worker", "--scheduler", "tcp://127.0.0.1:9", "--project", FIXTURE_ROOT, "--warm", "mini", "nosuch")
    assert run.code == 2
    assert run.err == "dlgrade: --warm nosuch: no such assignment on this node (it has: mini)\n"
