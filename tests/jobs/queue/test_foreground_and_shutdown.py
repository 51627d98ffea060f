"""Foreground runs hold a lease like queued jobs, and ``launch.py worker --gpus`` stops within 10 s of SIGTERM.

Real ``launch.py`` processes against a real SQLite file: a ``train`` run killed with SIGKILL is reaped as failed
("interrupted") and can be retried or deleted; a two-GPU-style worker (fake device ids on a CPU machine) is sent
SIGTERM while idle, while starting and while running a job, and must be gone, with every process it started, in 10 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from jobs.queue import delete_job, get_job, list_jobs, now_utc, reap_expired_leases, retry_job, submit_job
from storage.tables import JobStatus
from tests.jobs.queue.test_worker import wait_for

ROOT = Path(__file__).resolve().parents[3]
SHUTDOWN_LIMIT_S = 10.0


def qa_file(tmp_path: Path, rows: int = 16) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps({"question": f"What is item {i}?", "answer": f"Item {i} is number {i}."}) + "\n" for i in range(rows)))
    return path


def descendants_of(session_id: int) -> list[int]:
    """Live processes whose session is ``session_id`` or that a job of this test started (their own groups)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if stat[0] != "Z" and int(stat[3]) == session_id:
                found.append(int(entry.name))
    return found


def test_a_killed_foreground_run_is_reaped_as_interrupted_then_retried_or_deleted(tmp_path: Path, tiny_llama: Path, adapta_home: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"base_model": str(tiny_llama), "data": {"train": str(qa_file(tmp_path))},
                                    "training": {"max_steps": 100000, "batch_size": 2}}))
    env = {**os.environ, "ADAPTA_HOME": str(adapta_home)}
    train = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "train", str(spec)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        job = wait_for(lambda: (jobs := list_jobs()) and jobs[0].step > 0 and jobs[0], 120, "the foreground run to train")
        assert job.lease_expires_at is not None and job.worker_id, "a foreground run must hold a lease"
    finally:
        os.killpg(train.pid, signal.SIGKILL)
        train.wait()
    assert get_job(job.id).status is JobStatus.RUNNING  # nobody has noticed yet
    assert reap_expired_leases(now_utc() + timedelta(seconds=120)) == [(job.id, JobStatus.FAILED)]
    failed = get_job(job.id)
    assert failed.status is JobStatus.FAILED and failed.error.startswith("interrupted"), failed.error
    retry_job(job.id)
    assert get_job(job.id).status is JobStatus.QUEUED
    delete_job(job.id)
    assert list_jobs() == []


def test_a_live_foreground_run_renews_its_lease(tmp_path: Path, tiny_llama: Path, adapta_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jobs.queue.leases as queue_module
    from jobs.queue.run import train_in_foreground
    from jobs.spec import parse_spec

    beats: list[bool] = []
    real_renew = queue_module.renew_lease
    monkeypatch.setattr(queue_module, "renew_lease", lambda *args, **kwargs: beats.append(real_renew(*args, **kwargs)) or beats[-1])
    monkeypatch.setattr(queue_module, "DEFAULT_LEASE_SECONDS", 0.6)
    import jobs.queue.run as run_module

    monkeypatch.setattr(run_module, "DEFAULT_LEASE_SECONDS", 0.6)
    spec = parse_spec({"base_model": str(tiny_llama), "data": {"train": str(qa_file(tmp_path))}, "training": {"max_steps": 30, "batch_size": 2}})
    job_id, summary = train_in_foreground(spec, show_progress=False)
    assert summary["global_step"] == 30
    assert get_job(job_id).status is JobStatus.SUCCEEDED
    assert beats and all(beats), f"the lease was not renewed while training: {beats}"


def _start_gpu_workers(adapta_home: Path) -> subprocess.Popen:
    env = {**os.environ, "ADAPTA_HOME": str(adapta_home)}
    return subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "worker", "--gpus", "0,1", "--worker-id", "host", "--heartbeat", "0.5"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _stop_and_time(workers: subprocess.Popen, job_ids: list[int]) -> float:
    started = time.monotonic()
    workers.send_signal(signal.SIGTERM)
    try:
        workers.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(workers.pid, signal.SIGKILL)
        workers.wait()
        return float("inf")
    # everything it started: its workers (its session) and the jobs' processes (their own sessions, found by command line)
    from tests.jobs.queue.test_worker_supervision import processes_of

    wait_for(lambda: not descendants_of(workers.pid) and not any(processes_of(job_id) for job_id in job_ids),
             max(0.5, SHUTDOWN_LIMIT_S - (time.monotonic() - started)) + 0.5, "every process it started to be gone")
    return time.monotonic() - started


@pytest.mark.parametrize("state", ["starting", "idle", "idle-database-locked", "running"])
def test_worker_gpus_exits_within_10_s_of_sigterm(state: str, tmp_path: Path, tiny_llama: Path, adapta_home: Path) -> None:
    import sqlite3

    from storage.db import get_engine

    job_ids = []
    get_engine()  # the database exists before the workers start
    locker = sqlite3.connect(adapta_home / "adapta.db", isolation_level=None)
    if state == "running":
        job_ids = [submit_job({"base_model": str(tiny_llama), "data": {"train": str(qa_file(tmp_path))},
                               "training": {"max_steps": 100000, "batch_size": 2}})]
    workers = _start_gpu_workers(adapta_home)
    try:
        if state == "starting":
            wait_for(lambda: len(descendants_of(workers.pid)) >= 3, 30, "its two workers to be started")  # and still importing
        elif state.startswith("idle"):
            time.sleep(8.0)  # both are polling an empty queue
            if state == "idle-database-locked":  # another process holds the write lock: each poll waits on the 30 s busy timeout
                locker.execute("BEGIN EXCLUSIVE")
                time.sleep(1.0)
        else:
            wait_for(lambda: get_job(job_ids[0]).step > 0, 180, "the job to train")
        elapsed = _stop_and_time(workers, job_ids)
    finally:
        locker.close()
        if workers.poll() is None:
            os.killpg(workers.pid, signal.SIGKILL)
    assert elapsed < SHUTDOWN_LIMIT_S, f"worker --gpus took {elapsed:.1f} s to stop while {state}"
    assert workers.returncode == 0, workers.returncode
    for job_id in job_ids:
        job = get_job(job_id)
        assert job.status is JobStatus.QUEUED and job.worker_id is None, (job.status, job.error)
