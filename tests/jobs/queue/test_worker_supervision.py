"""The worker never leaves a job's processes behind, and the queue never stalls on a job it cannot run.

Real processes and a real SQLite file: a heartbeat that raises ("database is locked"), a 2-process
``accelerate`` job whose worker is killed with SIGKILL, a poison job, a job the worker cannot serve, and an
image folder queued for text-to-image. Helpers read ``/proc`` directly, so they work on any version of the worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import jobs.queue.worker as worker_module
from jobs.queue import claim_next_job, get_job, submit_job
from jobs.queue.worker import SupervisionLost, Worker, WorkerConfig
from storage.db import get_engine
from storage.tables import JobStatus
from tests.jobs.queue.test_worker import wait_for

ROOT = Path(__file__).resolve().parents[3]


def qa_file(tmp_path: Path, rows: int = 16) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps({"question": f"What is item {i}?", "answer": f"Item {i} is number {i}."}) + "\n" for i in range(rows)))
    return path


def processes_of(job_id: int) -> dict[int, int]:
    """pid -> process group of every live process of the job (launcher and ranks), from its command line.

    Only this test's processes (their ``ADAPTA_HOME``): other test sessions on the machine number their jobs from 1 too."""
    home = f"ADAPTA_HOME={os.environ['ADAPTA_HOME']}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if home not in (entry / "environ").read_bytes().split(b"\0"):
                continue
        except (OSError, IndexError):
            continue
        if "jobs.queue.child" in cmdline and f"--job-id {job_id} " in cmdline + " " and stat[0] != "Z":
            found[int(entry.name)] = int(stat[2])
    return found


def test_a_heartbeat_that_raises_stops_the_child_before_the_worker_moves_on(tmp_path: Path, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = submit_job({"base_model": str(tiny_llama), "data": {"train": str(qa_file(tmp_path))}, "training": {"max_steps": 100000, "batch_size": 2}})
    calls = {"n": 0}

    def locked(*_args, **_kwargs) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            wait_for(lambda: processes_of(job_id), 60, "the training child to start")
        raise OperationalError("UPDATE job SET lease_expires_at=?", {}, Exception("database is locked"))

    monkeypatch.setattr(worker_module, "renew_lease", locked)
    worker = Worker(WorkerConfig(worker_id="inline", heartbeat_seconds=0.3, lease_seconds=3, poll_seconds=0.1))
    started = time.monotonic()
    try:
        with pytest.raises(Exception, match="database is locked"):
            worker.run_once()
        assert time.monotonic() - started < 60
        assert processes_of(job_id) == {}, "the worker moved on while the job's child kept training"
    finally:
        for pid in processes_of(job_id):
            os.kill(pid, signal.SIGKILL)
    job = get_job(job_id)
    assert job.status is JobStatus.QUEUED and job.worker_id is None, (job.status, job.error)
    assert "database is locked" in job.error


def test_a_hung_renew_stops_the_child_before_its_lease_passes_and_the_job_is_requeued_then_finishes(
        tmp_path: Path, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lease = 3.0
    job_id = submit_job({"base_model": str(tiny_llama), "data": {"train": str(qa_file(tmp_path))}, "training": {"max_steps": 2, "batch_size": 2},
                         "evaluation": {"enabled": False}})
    real_renew = worker_module.renew_lease
    seen: dict[str, object] = {}

    def hangs_once_the_child_runs(*args, **kwargs) -> bool:
        if "hung" in seen or not processes_of(job_id) or "renewed" not in seen:
            started = time.monotonic()
            held = real_renew(*args, **kwargs)
            seen["renewed"] = started  # the lease now lasts at least until started + lease
            return held
        seen["hung"] = True  # a database call that does not come back for longer than the lease (no statement timeout)
        expires = float(seen["renewed"]) + lease
        while time.monotonic() < expires - 0.05:
            time.sleep(0.02)
        seen["alive_when_the_lease_lapsed"] = processes_of(job_id)
        time.sleep(1.0)
        return real_renew(*args, **kwargs)  # the database answers again: the row still names this attempt

    monkeypatch.setattr(worker_module, "renew_lease", hangs_once_the_child_runs)
    worker = Worker(WorkerConfig(worker_id="inline", heartbeat_seconds=0.3, lease_seconds=lease, poll_seconds=0.1))
    lost: SupervisionLost | None = None
    try:
        try:
            worker.run_once()
        except SupervisionLost as error:
            lost = error
        assert seen.get("hung"), "the renew never hung: the child finished first"
        assert seen["alive_when_the_lease_lapsed"] == {}, "the child outlived its lease while the renew hung"
        assert lost is not None and "lease" in str(lost), lost
    finally:
        for pid in processes_of(job_id):
            os.kill(pid, signal.SIGKILL)
    job = get_job(job_id)
    assert job.status is JobStatus.QUEUED and job.attempt == 1, (job.status, job.error)
    assert "lease" in job.error and "requeued" in job.error, job.error
    monkeypatch.setattr(worker_module, "renew_lease", real_renew)
    assert worker.run_once()
    job = get_job(job_id)
    assert job.status is JobStatus.SUCCEEDED and job.attempt == 2, (job.status, job.error, job.log_tail)


def test_a_two_process_job_stays_in_one_group_and_dies_with_its_killed_worker(tmp_path: Path, tiny_llama: Path, adapta_home: Path) -> None:
    job_id = submit_job({"base_model": str(tiny_llama), "data": {"train": str(qa_file(tmp_path))},
                         "training": {"max_steps": 100000, "batch_size": 2}, "resources": {"gpus": 0, "processes": 2}})
    env = {**os.environ, "ADAPTA_HOME": str(adapta_home)}
    worker = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "worker", "--worker-id", "w", "--heartbeat", "0.5", "--lease", "30"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: get_job(job_id).step > 0, 180, "both ranks to train")
        live = processes_of(job_id)
        assert len(live) >= 3, f"expected a launcher and two ranks, found {live}"
        assert len(set(live.values())) == 1, f"the job's processes are spread over several process groups: {live}"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        wait_for(lambda: not processes_of(job_id), 10, f"every process of the job to die with its worker (left: {processes_of(job_id)})")
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        for pid in processes_of(job_id):
            os.kill(pid, signal.SIGKILL)


def _poison(job_id: int, spec_json: str) -> None:
    with get_engine().begin() as connection:
        connection.execute(text("UPDATE job SET spec_json = :spec WHERE id = :id"), {"spec": spec_json, "id": job_id})


def test_a_poison_job_is_failed_in_one_sentence_and_the_queue_moves_on(tmp_path: Path) -> None:
    data = tmp_path / "train.txt"
    data.write_text("hello world\n")
    vanished = tmp_path / "gone.txt"
    vanished.write_text("hello again\n")
    invalid = submit_job({"base_model": "org/model", "data": {"train": str(data)}}, priority=3)
    older = json.loads(get_job(invalid).spec_json)
    older["training"]["learning_rate"] = -1  # as an older version might have let through
    _poison(invalid, json.dumps(older))
    missing = submit_job({"base_model": "org/model", "data": {"train": str(vanished)}}, priority=2)
    vanished.unlink()
    good = submit_job({"base_model": "org/model", "data": {"train": str(data)}}, priority=1)
    claimed = claim_next_job("w")
    assert claimed is not None and claimed.id == good
    for job_id, words in ((invalid, "learning_rate"), (missing, "gone.txt")):
        job = get_job(job_id)
        assert job.status is JobStatus.FAILED, job.status
        assert words in job.error and "\n" not in job.error and "Traceback" not in job.error, job.error
    assert claim_next_job("w") is None


def test_a_worker_leaves_a_job_that_needs_more_gpus_than_it_has(tmp_path: Path) -> None:
    data = tmp_path / "train.txt"
    data.write_text("hello world\n")
    big = submit_job({"base_model": "org/model", "data": {"train": str(data)}, "resources": {"gpus": 4}}, priority=5)
    wide = submit_job({"base_model": "org/model", "data": {"train": str(data)}, "resources": {"gpus": 0, "processes": 64}}, priority=4)
    small = submit_job({"base_model": "org/model", "data": {"train": str(data)}, "resources": {"gpus": 1}})
    one_gpu = Worker(WorkerConfig(worker_id="one-gpu", gpus=1, cpus=2))
    claimed = claim_next_job(one_gpu.config.worker_id, gpus=one_gpu.config.gpus, cpus=one_gpu.config.cpus)
    assert claimed is not None and claimed.id == small
    assert get_job(big).status is JobStatus.QUEUED and get_job(wide).status is JobStatus.QUEUED
    assert claim_next_job("four-gpus", gpus=4, cpus=2).id == big


def test_a_text_to_image_job_with_an_image_folder_can_be_queued(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(2):
        Image.new("RGB", (16, 16), (index * 100, 50, 50)).save(folder / f"{index}.png")
        (folder / f"{index}.txt").write_text(f"a photo of sks square {index}")
    job_id = submit_job({"task": "text-to-image", "base_model": "org/sd-model", "data": {"train": str(folder)}})
    assert get_job(job_id).status is JobStatus.QUEUED
    claimed = claim_next_job("w")
    assert claimed is not None and claimed.id == job_id and claimed.spec.data.train == str(folder)


def test_a_group_left_by_an_earlier_attempt_is_killed_before_the_next_starts_but_never_a_newer_one(tmp_path: Path) -> None:
    from jobs.queue.worker import GROUP_FILE, HOST, kill_leftover_attempt

    # a stand-in for an orphaned attempt: a process group whose command line names job 99
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "-m", "jobs.queue.child", "--job-id", "99", "--attempt", "1"],
                              start_new_session=True)
    try:
        wait_for(lambda: processes_of(99), 10, "the stand-in to start")
        (tmp_path / GROUP_FILE).write_text(f"{HOST} {orphan.pid} 1\n")
        assert not kill_leftover_attempt(99, tmp_path, before_attempt=1), "attempt 1 itself must not be killed"
        assert not kill_leftover_attempt(98, tmp_path, before_attempt=2), "a group that runs another job must not be killed"
        assert orphan.poll() is None
        assert kill_leftover_attempt(99, tmp_path, before_attempt=2)
        assert orphan.wait(timeout=5) == -signal.SIGKILL
    finally:
        if orphan.poll() is None:
            orphan.kill()


def test_a_stale_run_folder_lock_of_an_earlier_attempt_is_taken_back_but_never_a_newer_ones(tmp_path: Path) -> None:
    from jobs.queue.child import ATTEMPT_LOCK_FILE, hold_attempt_lock, stop_stale_lock_holders
    from jobs.queue.child_contract import EXIT_BUSY
    from jobs.queue.worker import requeue_reason

    # a process left behind by attempt 1 of job 99 (a forked data loader, say) that still holds the run folder's lock
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                               "fcntl.flock(os.open(sys.argv[1], os.O_RDWR | os.O_CREAT), fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(120)",
                               str(tmp_path / ATTEMPT_LOCK_FILE), "-m", "jobs.queue.child", "--job-id", "99", "--attempt", "2"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert stop_stale_lock_holders(tmp_path, 99, 2) == [], "the same attempt is not stale"
        assert stop_stale_lock_holders(tmp_path, 98, 3) == [], "another job's process is not this job's"
        assert hold_attempt_lock(tmp_path, wait_seconds=0.5, free_stale=lambda: stop_stale_lock_holders(tmp_path, 99, 1)) is None, \
            "an older attempt took the lock from a newer one"
        assert holder.poll() is None
        descriptor = hold_attempt_lock(tmp_path, wait_seconds=10, free_stale=lambda: stop_stale_lock_holders(tmp_path, 99, 3))
        assert descriptor is not None, "attempt 3 could not take the lock attempt 2 left behind"
        os.close(descriptor)
        assert holder.wait(timeout=5) == -signal.SIGKILL
    finally:
        if holder.poll() is None:
            holder.kill()
    assert "requeued" in requeue_reason(EXIT_BUSY, attempt=1, max_attempts=3)
    assert requeue_reason(EXIT_BUSY, attempt=3, max_attempts=3) is None, "on its last attempt the job fails with the lock sentence"
    assert "SIGKILL" in requeue_reason(-signal.SIGKILL, attempt=1, max_attempts=3)
    assert requeue_reason(1, attempt=1, max_attempts=3) is None, "the job's own error is not retried"
