"""The queue contract, run against SQLite and a real PostgreSQL server: ordering, atomic claims under
concurrency, fencing, cancel, retry, reaping, reordering, deletion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from jobs.errors import SpecError
from jobs.queue import (
    InvalidTransition,
    JobNotFound,
    claim_next_job,
    count_jobs,
    delete_job,
    finish_job,
    get_job,
    list_jobs,
    move_job,
    now_utc,
    reap_expired_leases,
    renew_lease,
    request_cancel,
    retry_job,
    submit_job,
)
from storage.db import get_engine
from storage.tables import JobStatus

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def spec(tmp_path: Path) -> dict:
    data = tmp_path / "train.txt"
    data.write_text("hello world\n")
    return {"base_model": "org/model", "data": {"train": str(data)}}


def test_invalid_spec_never_enters_the_queue(queue_db: str, spec: dict) -> None:
    with pytest.raises(SpecError, match="training.batch_size must be at least 1"):
        submit_job({**spec, "training": {"batch_size": 0}})
    with pytest.raises(Exception, match="does not exist"):
        submit_job({**spec, "data": {"train": "/nowhere/x.csv"}})
    assert count_jobs() == 0


def test_claims_follow_priority_then_age_and_stop_when_empty(queue_db: str, spec: dict) -> None:
    first, second, urgent = submit_job(spec), submit_job(spec), submit_job(spec, priority=5)
    order = [claim_next_job("w").id for _ in range(3)]
    assert order == [urgent, first, second]
    assert claim_next_job("w") is None
    job = get_job(urgent)
    assert job.status is JobStatus.RUNNING and job.attempt == 1 and job.worker_id == "w" and job.lease_expires_at is not None


def test_fencing_after_a_lease_was_reclaimed(queue_db: str, spec: dict) -> None:
    job_id = submit_job(spec)
    old = claim_next_job("old-worker", lease_seconds=5)
    assert reap_expired_leases(now_utc() + timedelta(seconds=10)) == [(job_id, JobStatus.QUEUED)]
    new = claim_next_job("new-worker", lease_seconds=60)
    assert new.attempt == old.attempt + 1
    assert not renew_lease(job_id, "old-worker", old.attempt)
    assert not finish_job(job_id, "old-worker", old.attempt, JobStatus.FAILED, error="stale")
    job = get_job(job_id)
    assert job.status is JobStatus.RUNNING and job.worker_id == "new-worker" and job.error is None
    assert finish_job(job_id, "new-worker", new.attempt, JobStatus.SUCCEEDED)
    assert get_job(job_id).status is JobStatus.SUCCEEDED


def test_reaper_fails_a_job_that_used_all_attempts(queue_db: str, spec: dict) -> None:
    job_id = submit_job(spec, max_attempts=1)
    claim_next_job("w", lease_seconds=1)
    assert reap_expired_leases(now_utc() + timedelta(seconds=5)) == [(job_id, JobStatus.FAILED)]
    assert "no attempts left" in get_job(job_id).error


def test_cancel_queued_running_and_finished(queue_db: str, spec: dict) -> None:
    queued, running = submit_job(spec), submit_job(spec, priority=1)
    claimed = claim_next_job("w")
    assert claimed.id == running
    assert request_cancel(queued) is JobStatus.CANCELLED
    assert request_cancel(running) is JobStatus.RUNNING and get_job(running).cancel_requested
    finish_job(running, "w", claimed.attempt, JobStatus.CANCELLED)
    with pytest.raises(InvalidTransition, match="already cancelled"):
        request_cancel(running)
    with pytest.raises(JobNotFound, match="there is no job 999"):
        request_cancel(999)


def test_retry_requeues_failed_jobs_with_a_fresh_attempt(queue_db: str, spec: dict) -> None:
    job_id = submit_job(spec, max_attempts=1)
    claimed = claim_next_job("w")
    finish_job(job_id, "w", claimed.attempt, JobStatus.FAILED, error="boom")
    retry_job(job_id)
    job = get_job(job_id)
    assert job.status is JobStatus.QUEUED and job.error is None and job.max_attempts == 2
    assert claim_next_job("w").attempt == 2
    with pytest.raises(InvalidTransition, match="only failed or cancelled jobs can be retried"):
        retry_job(job_id)


def test_move_up_and_down_changes_the_run_order(queue_db: str, spec: dict) -> None:
    a, b, c = submit_job(spec), submit_job(spec), submit_job(spec)
    move_job(c, "up")
    move_job(c, "up")
    move_job(a, "down")
    assert [claim_next_job("w").id for _ in range(3)] == [c, b, a]


def test_delete_removes_the_row_and_run_folder_but_not_a_running_job(queue_db: str, spec: dict) -> None:
    job_id = submit_job(spec)
    run_dir = Path(get_job(job_id).run_dir)
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text("{}\n")
    claimed = claim_next_job("w")
    with pytest.raises(InvalidTransition, match="cancel it first"):
        delete_job(job_id)
    finish_job(job_id, "w", claimed.attempt, JobStatus.SUCCEEDED)
    delete_job(job_id)
    assert not run_dir.exists() and list_jobs() == []


def _script(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.jobs.queue.queue_scripts", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _env(queue_db: str, adapta_home: Path) -> dict:
    return {**os.environ, "ADAPTA_DB_URL": queue_db, "ADAPTA_HOME": str(adapta_home)}


def test_three_workers_run_200_jobs_exactly_once(queue_db: str, spec: dict, adapta_home: Path) -> None:
    ids = [submit_job(spec) for _ in range(200)]
    with get_engine().begin() as connection:
        connection.execute(text("CREATE TABLE run_once (job_id INTEGER PRIMARY KEY, worker TEXT NOT NULL)"))
    workers = [_script("claim-loop", f"worker-{n}", env=_env(queue_db, adapta_home)) for n in range(3)]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr
        assert "locked" not in stderr.lower()
    assert sum(int(stdout.strip()) for stdout, _ in outputs) == 200
    with get_engine().connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM run_once")).scalar() == 200
    assert count_jobs(JobStatus.QUEUED) == 0 and count_jobs(JobStatus.SUCCEEDED) == 200
    assert sorted(job.id for job in list_jobs(limit=1000)) == sorted(ids)


def test_fifty_concurrent_submissions_from_ten_processes_lose_nothing(queue_db: str, spec: dict, adapta_home: Path) -> None:
    get_engine()  # tables exist before the processes race
    submitters = [_script("submit", "5", json.dumps(spec), env=_env(queue_db, adapta_home)) for _ in range(10)]
    ids = []
    for submitter in submitters:
        stdout, stderr = submitter.communicate(timeout=300)
        assert submitter.returncode == 0, stderr
        ids += json.loads(stdout)
    assert len(set(ids)) == 50 and count_jobs() == 50
