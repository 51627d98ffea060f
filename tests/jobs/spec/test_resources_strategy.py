"""``resources:`` settings the machine cannot honour are refused in one sentence, never silently trained another way."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.errors import AdaptaError, SpecError
from jobs.spec import parse_spec

BASE = {"base_model": "m", "data": {"train": "x.txt"}}


def test_fsdp_on_cpu_processes_is_refused_instead_of_running_as_ddp() -> None:
    # accelerate shards only across GPUs: on CPU processes it silently trains plain data parallel (DistributedType.MULTI_CPU)
    with pytest.raises(SpecError) as refused:
        parse_spec({**BASE, "resources": {"gpus": 0, "processes": 2, "strategy": "fsdp"}})
    message = str(refused.value)
    assert "resources.strategy" in message and "fsdp" in message and "ddp" in message


def test_fsdp_needs_two_gpus_to_shard_over() -> None:
    with pytest.raises(SpecError, match="2 or more"):
        parse_spec({**BASE, "resources": {"gpus": 1, "processes": 2, "strategy": "fsdp"}})
    assert parse_spec({**BASE, "resources": {"gpus": 2, "strategy": "fsdp"}}).resources.strategy.value == "fsdp"
    assert parse_spec({**BASE, "resources": {"gpus": 0, "processes": 2}}).resources.strategy.value == "ddp"


def test_deepspeed_is_refused_with_what_to_use_instead() -> None:
    with pytest.raises(SpecError, match="deepspeed.*fsdp"):
        parse_spec({**BASE, "resources": {"gpus": 2, "strategy": "deepspeed"}})


def test_a_foreground_run_refuses_a_multi_process_spec(tmp_path: Path) -> None:
    # launch.py train runs one process: a spec asking for two would train as one, silently
    from jobs.queue.run import execute_run

    spec = parse_spec({**BASE, "resources": {"gpus": 0, "processes": 2}})
    with pytest.raises(AdaptaError, match="resources.processes is 2"):
        execute_run(spec, tmp_path / "run", job_id=1, attempt=1, worker_id="w", show_progress=False)
