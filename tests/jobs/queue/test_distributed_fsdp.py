"""``resources.strategy: fsdp`` for real: two GPUs shard a tiny model through accelerate's FSDP2 and reach the loss one process
reaches with the same global batch. Needs two CUDA GPUs (accelerate cannot shard CPU processes, so a CPU spec asking for fsdp is
refused at validation: tests/jobs/spec/test_resources_strategy.py); skipped elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.queue import get_job, submit_job
from jobs.queue.worker import Worker, WorkerConfig, visible_gpu_count
from storage.tables import JobStatus

pytestmark = pytest.mark.skipif(visible_gpu_count() < 2, reason="FSDP shards across GPUs: needs 2 CUDA GPUs")


def _losses(run_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]


@pytest.mark.parametrize("method", ["lora", "full"])
def test_fsdp_on_two_gpus_trains_to_the_loss_of_one_process(tmp_path: Path, tiny_llama: Path, method: str) -> None:
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": f"Q{i}?", "answer": f"A{i}."}) + "\n" for i in range(32)))
    common = {"base_model": str(tiny_llama), "method": method, "data": {"train": str(data)}, "evaluation": {"enabled": False}}
    sharded = submit_job({**common, "training": {"max_steps": 4, "batch_size": 2, "precision": "fp32", "group_by_length": False},
                          "resources": {"gpus": 2, "strategy": "fsdp"}})
    single = submit_job({**common, "training": {"max_steps": 4, "batch_size": 4, "precision": "fp32", "group_by_length": False},
                         "resources": {"gpus": 1}})
    worker = Worker(WorkerConfig(worker_id="fsdp", heartbeat_seconds=1, lease_seconds=120, poll_seconds=0.1, gpus=2))
    assert worker.run_once() and worker.run_once()
    jobs = {job_id: get_job(job_id) for job_id in (sharded, single)}
    for job in jobs.values():
        assert job.status is JobStatus.SUCCEEDED, f"{job.error}\n{(Path(job.run_dir) / 'train.log').read_text()[-3000:]}"
    assert _losses(Path(jobs[sharded].run_dir))[0] == pytest.approx(_losses(Path(jobs[single].run_dir))[0], rel=1e-3)
