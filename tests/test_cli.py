"""The command line as a user runs it: real subprocesses, exit codes, one-line errors, the jobs list."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.served_app import run_launch

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    return run_launch(*args, home=home, env={"HF_HUB_OFFLINE": "1"})


def test_train_runs_a_spec_and_the_job_is_listed(tmp_path: Path, tiny_llama: Path, adapta_home: Path) -> None:
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": f"Q{i}?", "answer": f"A{i}."}) + "\n" for i in range(8)))
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: cli-run\nbase_model: {tiny_llama}\ndata: {{train: {data}}}\ntraining: {{max_steps: 3, batch_size: 4}}\n")
    output = tmp_path / "out"
    result = run_cli("train", str(spec), "--output", str(output), home=adapta_home)
    assert result.returncode == 0, result.stderr
    assert "job 1 finished: 3 steps" in result.stdout
    assert (output / "adapter" / "adapter_model.safetensors").is_file()
    listed = json.loads(run_cli("jobs", "--json", home=adapta_home).stdout)
    assert [(job["id"], job["name"], job["status"], job["step"], job["total_steps"]) for job in listed] == [(1, "cli-run", "succeeded", 3, 3)]
    assert {"id", "name", "status", "attempt", "step", "total_steps", "created_at", "error"} <= set(listed[0])


def test_bad_spec_exits_2_with_one_line_and_no_traceback(tmp_path: Path, adapta_home: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("base_model: x\nmethod: magic\ndata: {train: a.csv}\ntraining: {learning_rate: -1}\n")
    result = run_cli("train", str(spec), home=adapta_home)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "method must be one of" in lines[0] and "training.learning_rate must be greater than 0" in lines[0]


def test_missing_data_file_fails_the_job_with_a_readable_error(tmp_path: Path, tiny_llama: Path, adapta_home: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"base_model: {tiny_llama}\ndata: {{train: {tmp_path / 'nope.csv'}}}\n")
    result = run_cli("train", str(spec), home=adapta_home)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "nope.csv" in result.stderr
    listed = json.loads(run_cli("jobs", "--json", home=adapta_home).stdout)
    assert listed[0]["status"] == "failed" and "nope.csv" in listed[0]["error"]


def test_missing_model_and_remote_code_are_explained(tmp_path: Path, adapta_home: Path) -> None:
    data = tmp_path / "t.txt"
    data.write_text("hello world\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"base_model: some-org/not-downloaded\ndata: {{train: {data}}}\n")
    env_cache = tmp_path / "empty-cache"
    env_cache.mkdir()
    os.environ["HF_HUB_CACHE"] = str(env_cache)
    try:
        result = run_cli("train", str(spec), home=adapta_home)
    finally:
        del os.environ["HF_HUB_CACHE"]
    assert result.returncode == 2
    assert "some-org/not-downloaded is not in the local Hugging Face cache" in result.stderr and "hf download" in result.stderr


def test_submit_refuses_a_job_no_worker_here_could_start_and_queues_nothing(tmp_path: Path, tiny_llama: Path, adapta_home: Path) -> None:
    """launch.py submit checks resources as the web Submit does: 64 GPUs on a machine with none would wait in the queue forever."""
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"question": "Q?", "answer": "A."}) + "\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"base_model: {tiny_llama}\ndata: {{train: {data}}}\nresources: {{gpus: 64}}\n")
    result = run_launch("submit", str(spec), home=adapta_home, env={"HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "resources.gpus is 64 but this server has 0 GPUs, so the job would never start; ask for at most 1" in result.stderr
    assert json.loads(run_cli("jobs", "--json", home=adapta_home).stdout) == []


def test_inspect_prints_format_and_problems(tmp_path: Path, adapta_home: Path) -> None:
    data = tmp_path / "qa.csv"
    data.write_text("question,answer\nWhat is 2+2?,4\nEmpty answer?,\n")
    result = run_cli("inspect", str(data), home=adapta_home)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "instruction" and report["rows"] == 2
    assert any(problem["row"] == 3 for problem in report["problems"])


def test_models_lists_the_packaged_models(adapta_home: Path) -> None:
    result = run_cli("models", "--json", home=adapta_home)
    assert result.returncode == 0
    names = [entry["name"] for entry in json.loads(result.stdout)]
    assert any("SmolLM2" in name for name in names) and any("MiniLM" in name for name in names)


def test_the_app_serves_on_loopback_and_its_embedded_worker_runs_jobs(tmp_path: Path, tiny_llama: Path, adapta_home: Path) -> None:
    import time

    import psutil

    from tests.served_app import served_app

    with served_app([], home=adapta_home, env={"HF_HUB_OFFLINE": "1"}) as app:
        deadline = time.monotonic() + 120
        listening = [c.laddr for c in psutil.Process(app.process.pid).net_connections() if c.status == psutil.CONN_LISTEN]
        assert listening and all(address.ip == "127.0.0.1" for address in listening), listening

        data = tmp_path / "qa.jsonl"
        data.write_text("".join(json.dumps({"question": f"Q{i}?", "answer": f"A{i}."}) + "\n" for i in range(4)))
        spec = tmp_path / "spec.yaml"
        spec.write_text(f"base_model: {tiny_llama}\ndata: {{train: {data}}}\ntraining: {{max_steps: 2, batch_size: 2}}\n")
        submitted = run_cli("submit", str(spec), home=adapta_home)
        assert submitted.returncode == 0, submitted.stderr
        job_id = int(submitted.stdout.strip())
        while True:
            jobs = {job["id"]: job for job in json.loads(run_cli("jobs", "--json", home=adapta_home).stdout)}
            if jobs[job_id]["status"] in ("succeeded", "failed"):
                break
            assert time.monotonic() < deadline + 120, jobs[job_id]
            time.sleep(1)
        assert jobs[job_id]["status"] == "succeeded", jobs[job_id]["error"]
