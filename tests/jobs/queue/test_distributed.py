"""A multi-process job through the worker: ``accelerate launch`` with 2 CPU processes (DDP over gloo)."""

from __future__ import annotations

import json
from pathlib import Path

from jobs.queue import ClaimedJob, get_job, submit_job
from jobs.queue.worker import Worker, WorkerConfig, child_command
from jobs.spec import parse_spec
from storage.tables import JobStatus


def test_child_command_uses_accelerate_for_several_processes(tmp_path: Path) -> None:
    def claimed(resources: dict) -> ClaimedJob:
        spec = parse_spec({"base_model": "m", "data": {"train": "x.txt"}, "resources": resources})
        return ClaimedJob(id=1, attempt=1, worker_id="w", spec=spec, run_dir=tmp_path, lease_expires_at=None)

    assert child_command(claimed({}))[1:3] == ["-m", "jobs.queue.child"]
    cpu = child_command(claimed({"gpus": 0, "processes": 2}))
    assert cpu[1:4] == ["-m", "jobs.queue.child", "launch"] and "--multi_gpu" in cpu and cpu[cpu.index("--num_processes") + 1] == "2"
    gpu = child_command(claimed({"gpus": 4}))
    assert "--multi_gpu" in gpu and gpu[gpu.index("--num_processes") + 1] == "4"
    fsdp = child_command(claimed({"gpus": 2, "strategy": "fsdp"}))
    assert "--use_fsdp" in fsdp and fsdp[fsdp.index("--fsdp_version") + 1] == "2"


def test_two_cpu_processes_train_one_job_through_the_worker(tmp_path: Path, tiny_llama: Path) -> None:
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": f"Q{i}?", "answer": f"A{i}."}) + "\n" for i in range(16)))
    job_id = submit_job({"base_model": str(tiny_llama), "data": {"train": str(data)},
                         "training": {"max_steps": 4, "batch_size": 2}, "resources": {"gpus": 0, "processes": 2}})
    worker = Worker(WorkerConfig(worker_id="ddp", heartbeat_seconds=1, lease_seconds=60, poll_seconds=0.1))
    assert worker.run_once()
    job = get_job(job_id)
    run_dir = Path(job.run_dir)
    log = (run_dir / "train.log").read_text()
    assert job.status is JobStatus.SUCCEEDED, f"{job.error}\n{log[-3000:]}"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["global_step"] == 4
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert steps == sorted(set(steps)), "only rank 0 may record metrics (no duplicated steps)"


def test_one_worker_process_per_gpu(tmp_path: Path, tiny_llama: Path, adapta_home: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": f"Q{i}?", "answer": f"A{i}."}) + "\n" for i in range(8)))
    ids = [submit_job({"base_model": str(tiny_llama), "data": {"train": str(data)}, "training": {"max_steps": 40, "batch_size": 2}}) for _ in range(2)]
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "ADAPTA_HOME": str(adapta_home)}
    workers = subprocess.Popen([sys.executable, str(root / "launch.py"), "worker", "--gpus", "0,1", "--worker-id", "host", "--heartbeat", "0.5"],
                               env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not all(get_job(i).status.finished for i in ids):
            time.sleep(0.5)
    finally:
        os.killpg(workers.pid, signal.SIGTERM)
        try:
            workers.wait(timeout=30)
        except subprocess.TimeoutExpired:  # cleanup only: this test is about job placement, not shutdown time
            os.killpg(workers.pid, signal.SIGKILL)
            workers.wait(timeout=30)
    jobs = [get_job(i) for i in ids]
    assert [job.status for job in jobs] == [JobStatus.SUCCEEDED] * 2
    assert {job.worker_id for job in jobs} == {"host:gpu0", "host:gpu1"}, "each GPU's worker should have taken one job"
    for job in jobs:
        gpu = job.worker_id.rsplit("gpu", 1)[1]
        assert f"CUDA_VISIBLE_DEVICES={gpu}" in (Path(job.run_dir) / "train.log").read_text()
