"""State transitions that race between hosts, on SQLite and a real PostgreSQL server.

Each transition is one conditional UPDATE/DELETE: a reaper that read an expired lease cannot requeue the job
another host claims meanwhile, a delete cannot remove a job a worker claims meanwhile, leases follow the
database's clock rather than each host's, and workers starting together on an older database set the schema up once.
The PostgreSQL interleavings are forced: a second connection holds the job's row lock while the race is staged.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

import jobs.queue.leases as queue_module
from jobs.queue import InvalidTransition, claim_next_job, delete_job, get_job, reap_expired_leases, submit_job
from storage.db import get_engine, reset_engines
from storage.tables import JobStatus

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def postgres_queue(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    from tests.postgres import fresh_database

    url = fresh_database(request.getfixturevalue("postgres_url"), f"races_{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("ADAPTA_DB_URL", url)
    reset_engines()
    return url


@pytest.fixture
def spec(tmp_path: Path) -> dict:
    data = tmp_path / "train.txt"
    data.write_text("hello world\n")
    return {"base_model": "org/model", "data": {"train": str(data)}}


def _in_thread(action) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = action()
        except Exception as error:  # noqa: BLE001 - handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _wait_for_lock_waiter(url: str, timeout: float = 20) -> None:
    """Until some other backend is waiting on a row lock (the racing statement reached the locked row)."""
    engine = create_engine(url, poolclass=NullPool)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                if connection.execute(text("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")).scalar():
                    return
            time.sleep(0.05)
    finally:
        engine.dispose()
    raise AssertionError("the racing statement never waited on the row lock")


def test_the_reaper_cannot_requeue_a_job_another_host_just_claimed(postgres_queue: str, spec: dict) -> None:
    job_id = submit_job(spec)
    first = claim_next_job("host-a", lease_seconds=0.01)
    time.sleep(0.05)  # host-a's lease has expired: a reaper will see it
    other = create_engine(postgres_queue, poolclass=NullPool)
    try:
        with other.begin() as connection:  # host-b: requeue and claim again, holding the row while the reaper runs
            connection.execute(text("SELECT id FROM job WHERE id = :id FOR UPDATE"), {"id": job_id})
            thread, outcome = _in_thread(reap_expired_leases)
            _wait_for_lock_waiter(postgres_queue)
            connection.execute(text("UPDATE job SET worker_id = 'host-b', attempt = attempt + 1, "
                                    "lease_expires_at = CURRENT_TIMESTAMP + interval '60 seconds' WHERE id = :id"), {"id": job_id})
        thread.join(timeout=30)
    finally:
        other.dispose()
    assert "error" not in outcome, outcome
    job = get_job(job_id)
    assert (job.status, job.worker_id, job.attempt) == (JobStatus.RUNNING, "host-b", first.attempt + 1), (job.status, job.worker_id, job.error)
    assert outcome["value"] == []


def test_delete_cannot_remove_a_job_a_worker_just_claimed(postgres_queue: str, spec: dict) -> None:
    job_id = submit_job(spec)
    other = create_engine(postgres_queue, poolclass=NullPool)
    try:
        with other.begin() as connection:  # a worker on another host claims it while the delete is on its way
            connection.execute(text("SELECT id FROM job WHERE id = :id FOR UPDATE"), {"id": job_id})
            thread, outcome = _in_thread(lambda: delete_job(job_id))
            _wait_for_lock_waiter(postgres_queue)
            connection.execute(text("UPDATE job SET status = 'RUNNING', worker_id = 'host-b', attempt = attempt + 1, "
                                    "lease_expires_at = CURRENT_TIMESTAMP + interval '60 seconds' WHERE id = :id"), {"id": job_id})
        thread.join(timeout=30)
    finally:
        other.dispose()
    assert isinstance(outcome.get("error"), InvalidTransition), outcome
    assert get_job(job_id).status is JobStatus.RUNNING


def test_leases_follow_the_database_clock_not_the_hosts(queue_db: str, spec: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = submit_job(spec)
    real_now = queue_module.now_utc
    monkeypatch.setattr(queue_module, "now_utc", lambda: real_now() - timedelta(hours=1))  # a host whose clock is an hour slow
    claimed = claim_next_job("slow-host", lease_seconds=60)
    monkeypatch.setattr(queue_module, "now_utc", real_now)
    assert claimed is not None
    assert reap_expired_leases() == [], "a correct host reaped a lease that had 60 s left"
    assert get_job(job_id).worker_id == "slow-host"


SCHEMA_RACE = """
import sys
from storage.db import get_engine
get_engine()
print("ok")
"""


def test_workers_starting_together_on_an_older_database_set_it_up_once(queue_db: str, spec: dict, adapta_home: Path) -> None:
    submit_job(spec)
    with get_engine().begin() as connection:  # an older Adapta's database: two newer columns missing
        for column in ("phase_rate", "heartbeat_at"):
            connection.execute(text(f'ALTER TABLE job DROP COLUMN "{column}"'))
    reset_engines()
    env = {**os.environ, "ADAPTA_DB_URL": queue_db, "ADAPTA_HOME": str(adapta_home)}
    starters = [subprocess.Popen([sys.executable, "-c", SCHEMA_RACE], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(6)]
    results = [starter.communicate(timeout=120) for starter in starters]
    for starter, (stdout, stderr) in zip(starters, results, strict=True):
        assert starter.returncode == 0 and stdout.strip() == "ok", stderr[-2000:]
    assert claim_next_job("w") is not None
