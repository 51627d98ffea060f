"""A queue shared by several users stays fair: round-robin between users at equal priority, "move up" one place and only
among the caller's own jobs, and per-user limits on waiting jobs and sweep children (SQLite and PostgreSQL, as test_queue)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobs.queue import claim_next_job, finish_job, list_jobs, move_job, retry_job, submit_job
from jobs.queue import submit as submit_module
from jobs.queue import sweep as sweep_module
from jobs.queue.submit import QueueShareExceeded
from jobs.queue.sweep import submit_sweep
from jobs.queue.sweep_plan import read_sweep
from storage.tables import JobStatus


@pytest.fixture
def spec(tmp_path: Path) -> dict:
    data = tmp_path / "train.txt"
    data.write_text("hello world\n")
    return {"base_model": "org/model", "data": {"train": str(data)}}


def claims(count: int) -> list[int]:
    """The next ``count`` claimed ids, a few milliseconds apart (as real claims are: each then runs a job)."""
    order = []
    for _ in range(count):
        claimed = claim_next_job("w")
        assert claimed is not None
        order.append(claimed.id)
        time.sleep(0.005)
    return order


def test_move_up_moves_one_place_not_past_every_job_of_equal_priority(queue_db: str, spec: dict) -> None:
    a, b, c = submit_job(spec), submit_job(spec), submit_job(spec)
    move_job(c, "up")
    assert claims(3) == [a, c, b]


def test_users_take_turns_at_equal_priority(queue_db: str, spec: dict) -> None:
    alice = [submit_job(spec, owner="alice") for _ in range(4)]
    bob = [submit_job(spec, owner="bob") for _ in range(2)]
    assert claims(6) == [alice[0], bob[0], alice[1], bob[1], alice[2], alice[3]]


def test_a_higher_priority_still_runs_first(queue_db: str, spec: dict) -> None:
    alice = submit_job(spec, owner="alice")
    urgent = submit_job(spec, owner="bob", priority=5)
    assert claims(2) == [urgent, alice]


def test_move_up_reorders_only_the_callers_own_jobs(queue_db: str, spec: dict) -> None:
    bob = submit_job(spec, owner="bob")
    a1, a2, a3 = (submit_job(spec, owner="alice") for _ in range(3))
    move_job(a3, "up", owner="alice")
    move_job(a3, "up", owner="alice")
    move_job(a3, "up", owner="alice")  # already alice's first: nothing changes
    move_job(bob, "down", owner="bob")  # bob's only job: nothing to swap with
    assert claims(4) == [bob, a3, a1, a2]


def test_one_user_may_have_only_so_many_jobs_waiting(queue_db: str, spec: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(submit_module, "MAX_QUEUED_JOBS_PER_OWNER", 3)
    mine = [submit_job(spec, owner="alice") for _ in range(3)]
    with pytest.raises(QueueShareExceeded, match="you have 3 jobs waiting in the queue and one user may have at most 3"):
        submit_job(spec, owner="alice")
    submit_job(spec, owner="bob")  # another user's share is their own
    claimed = claim_next_job("w")
    assert claimed.id == mine[0]
    finish_job(claimed.id, "w", claimed.attempt, JobStatus.FAILED, error="boom")
    submit_job(spec, owner="alice")  # one started: room for one more
    with pytest.raises(QueueShareExceeded):
        retry_job(mine[0], owner="alice")


def test_a_sweep_past_the_users_share_is_refused_whole(queue_db: str, spec: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep_module, "MAX_SWEEP_CHILDREN_PER_OWNER", 3)
    plan = read_sweep({**spec, "training": {"learning_rate": [0.001, 0.002]}})
    assert len(submit_sweep(plan, owner="alice")) == 2
    with pytest.raises(QueueShareExceeded, match="you have 2 sweep jobs queued or running and one user may have at most 3"):
        submit_sweep(plan, owner="alice")
    assert len(list_jobs(owner="alice")) == 2, "a refused sweep queued none of its jobs"
    assert len(submit_sweep(plan, owner="bob")) == 2
