"""The worker with real processes and a real database file: kill -9 and resume, cancel, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.metrics import read_metrics_jsonl
from jobs.queue import get_job, request_cancel, submit_job
from jobs.queue.worker import Worker, WorkerConfig, explain_exit
from storage.tables import JobStatus

ROOT = Path(__file__).resolve().parents[3]


def qa_file(tmp_path: Path, rows: int = 16) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps({"question": f"What is item {i}?", "answer": f"Item {i} is number {i}."}) + "\n" for i in range(rows)))
    return path


def start_worker(adapta_home: Path, worker_id: str, lease: float = 4.0) -> subprocess.Popen:
    env = {**os.environ, "ADAPTA_HOME": str(adapta_home), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "launch.py"), "worker", "--worker-id", worker_id, "--heartbeat", "0.5", "--lease", str(lease)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def child_pids(job_id: int) -> list[int]:
    """Processes still running for a job (any rank), found by their command line; only this test's (its ADAPTA_HOME), since
    other test sessions on the machine number their jobs from 1 too."""
    home = f"ADAPTA_HOME={os.environ['ADAPTA_HOME']}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if home not in (entry / "environ").read_bytes().split(b"\0"):
                    continue
            except OSError:
                continue
            if "jobs.queue.child" in cmdline and f"--job-id {job_id} " in cmdline + " ":
                found.append(int(entry.name))
    return found


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def test_kill_9_worker_mid_job_resumes_from_checkpoint_on_a_new_worker(tmp_path: Path, tiny_llama: Path, adapta_home: Path) -> None:
    job_id = submit_job({"base_model": str(tiny_llama), "data": {"train": str(qa_file(tmp_path))},
                         "training": {"max_steps": 60, "save_steps": 10, "batch_size": 2, "logging_steps": 1}})
    run_dir = Path(get_job(job_id).run_dir)
    first = start_worker(adapta_home, "first")
    try:
        wait_for(lambda: (run_dir / "checkpoints" / "checkpoint-10" / "trainer_state.json").is_file(), 240, "the first checkpoint")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        wait_for(lambda: not child_pids(job_id), 15, "the orphaned training child to die with its worker")
        killed_at = max(row["step"] for row in read_metrics_jsonl(run_dir / "metrics.jsonl"))
        assert get_job(job_id).status is JobStatus.RUNNING  # nobody has noticed yet
    finally:
        stop(first)
    second = start_worker(adapta_home, "second")
    try:
        started = time.monotonic()
        wait_for(lambda: get_job(job_id).worker_id == "second", 30, "the new worker to claim the job")
        assert time.monotonic() - started < 15  # lease 4 s + poll
        job = wait_for(lambda: (j := get_job(job_id)).status.finished and j, 120, "the job to finish")
    finally:
        stop(second)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.attempt == 2
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumed_from_step"] is not None and summary["resumed_from_step"] >= 10
    assert summary["global_step"] == 60
    steps = [row["step"] for row in read_metrics_jsonl(run_dir / "metrics.jsonl") if "loss" in row]
    after_kill = steps[[i for i, step in enumerate(steps) if step == killed_at][-1] + 1:]
    assert after_kill and min(after_kill) > summary["resumed_from_step"] - 1, "attempt 2 restarted from step 0"


def test_cancel_of_a_running_job_leaves_no_process(tmp_path: Path, tiny_llama: Path, adapta_home: Path) -> None:
    job_id = submit_job({"base_model": str(tiny_llama), "data": {"train": str(qa_file(tmp_path))},
                         "training": {"max_steps": 100000, "batch_size": 2}})
    worker = start_worker(adapta_home, "w")
    try:
        wait_for(lambda: get_job(job_id).step > 0, 120, "training to start")
        assert child_pids(job_id)
        request_cancel(job_id)
        started = time.monotonic()
        wait_for(lambda: get_job(job_id).status is JobStatus.CANCELLED, 15, "the job to be cancelled")
        wait_for(lambda: not child_pids(job_id), 15 - (time.monotonic() - started) + 1, "its processes to exit")
        assert time.monotonic() - started < 15
        assert worker.poll() is None, "the worker must keep running"
    finally:
        stop(worker)


def test_a_crashing_job_fails_readably_and_the_worker_serves_the_next(tmp_path: Path, tiny_bert: Path, tiny_llama: Path, adapta_home: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text("text,label\ngood day,pos\nbad day,neg\n")
    validation = tmp_path / "val.csv"
    validation.write_text("text,label\nokay day,neutral\n")  # a label training never saw: found only when the child loads data
    bad = submit_job({"task": "text-classification", "base_model": str(tiny_bert), "data": {"train": str(train), "validation": str(validation)}})
    good = submit_job({"base_model": str(tiny_llama), "data": {"train": str(qa_file(tmp_path))}, "training": {"max_steps": 2}})
    worker = Worker(WorkerConfig(worker_id="inline", heartbeat_seconds=0.5, lease_seconds=10, poll_seconds=0.1))
    assert worker.run_once() and worker.run_once()
    failed = get_job(bad)
    assert failed.status is JobStatus.FAILED
    assert "neutral" in failed.error and "Traceback" not in failed.error
    assert failed.log_tail is not None
    assert get_job(good).status is JobStatus.SUCCEEDED


@pytest.mark.parametrize(("code", "expected"), [(-9, "most likely for running out of memory"), (-11, "SIGSEGV"), (7, "exited with code 7")])
def test_exit_codes_are_explained_in_plain_words(tmp_path: Path, code: int, expected: str) -> None:
    assert expected in explain_exit(code, tmp_path)
