"""The Hugging Face Jobs backend against the loopback fake Hub: what is sent, how the row follows the remote stages,
cancel, refusals; and the remote side (``launch.py remote-train``) training and pushing for real.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from jobs.errors import AdaptaError
from jobs.spec import parse_spec, parse_spec_yaml
from storage.tables import JobStatus
from tests.fake_hub import FakeHub
from tests.jobs.data.test_hub_datasets import DATASETS
from tests.served_app import run_launch

TOKEN = "hf_jobs_secret_token_123"
REMOTE_SPEC = {"name": "remote-planets", "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct", "data": {"train": "hub:acme/planets"},
               "training": {"max_steps": 50}}


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    from huggingface_hub import constants

    with FakeHub(valid_token=TOKEN, datasets=DATASETS) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield server


def test_a_job_is_sent_with_its_spec_and_secret_and_follows_the_remote_stages(hub: FakeHub, adapta_home: Path) -> None:
    from jobs.queue import claim_next_job, get_job, job_summary
    from jobs.queue.hf_jobs import refresh_remote_job, submit_remote_job

    job_id = submit_remote_job(parse_spec(REMOTE_SPEC), token=TOKEN, push_repo="ada/planets-lora", image_space="ada/adapta", flavor="a10g-small")
    [sent] = hub.job_requests
    assert sent["namespace"] == "ada" and sent["spaceId"] == "ada/adapta" and sent["flavor"] == "a10g-small"
    assert sent["command"] == ["python", "launch.py", "remote-train"] and sent["secrets"] == {"HF_TOKEN": TOKEN}
    assert parse_spec_yaml(sent["environment"]["ADAPTA_SPEC"]) == parse_spec(REMOTE_SPEC)
    assert sent["environment"]["ADAPTA_PUSH_REPO"] == "ada/planets-lora" and sent["timeoutSeconds"] == 7200

    job = get_job(job_id)
    assert job.backend == "hf-jobs" and job.status is JobStatus.QUEUED and job.remote_id == "ada/job-1" and job.remote_url.endswith("/jobs/ada/job-1")
    assert job_summary(job)["remote_url"] == job.remote_url
    assert claim_next_job("local-worker") is None, "a local worker must never take a remote job"

    hub.jobs["job-1"]["status"] = {"stage": "RUNNING", "message": None}
    hub.job_logs["job-1"] = ["Loading SmolLM2", "{'loss': 2.5, 'step': 10}"]
    assert refresh_remote_job(job_id) is JobStatus.RUNNING
    job = get_job(job_id)
    assert job.started_at is not None and "'loss': 2.5" in job.log_tail and "Job started" not in job.log_tail

    hub.jobs["job-1"]["status"] = {"stage": "COMPLETED", "message": None}
    hub.job_logs["job-1"].append("adapta: job 1 finished; pushed to https://huggingface.co/ada/planets-lora")
    assert refresh_remote_job(job_id) is JobStatus.SUCCEEDED
    job = get_job(job_id)
    assert job.finished_at is not None and "pushed to" in job.log_tail

    # The token went to the Hub as a secret and nowhere on this machine.
    for path in adapta_home.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    with sqlite3.connect(adapta_home / "adapta.db") as db:
        assert TOKEN not in json.dumps(db.execute("SELECT * FROM job").fetchall(), default=str)


def test_errors_and_cancel_reach_the_table(hub: FakeHub, adapta_home: Path) -> None:
    from jobs.queue import delete_job, get_job, request_cancel, retry_job
    from jobs.queue.hf_jobs import refresh_remote_jobs, submit_remote_job

    failing = submit_remote_job(parse_spec(REMOTE_SPEC), token=TOKEN, push_repo="ada/a", image_space="ada/adapta")
    cancelled = submit_remote_job(parse_spec(REMOTE_SPEC), token=TOKEN, push_repo="ada/b", image_space="ada/adapta")
    hub.jobs["job-1"]["status"] = {"stage": "ERROR", "message": "CUDA out of memory"}
    assert refresh_remote_jobs() == [failing, cancelled]
    assert get_job(failing).status is JobStatus.FAILED and "CUDA out of memory" in get_job(failing).error
    with pytest.raises(AdaptaError, match="duplicate it and send it again"):
        retry_job(failing)

    with pytest.raises(AdaptaError, match="cancel it first"):
        delete_job(cancelled)  # deleting the row would leave the remote job running, unseen
    assert request_cancel(cancelled) is JobStatus.CANCELLED
    assert hub.cancelled == ["job-2"] and get_job(cancelled).status is JobStatus.CANCELLED
    with pytest.raises(AdaptaError, match="already cancelled"):
        request_cancel(cancelled)


def test_what_cannot_run_remotely_is_refused_before_anything_is_sent(hub: FakeHub, tiny_llama: Path, tmp_path: Path) -> None:
    from jobs.queue import list_jobs
    from jobs.queue.hf_jobs import submit_remote_job

    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "hello"}\n')
    cases = [
        ({**REMOTE_SPEC, "base_model": str(tiny_llama)}, {}, "is not a Hub model id"),
        ({**REMOTE_SPEC, "data": {"train": str(data)}}, {}, "is a file on this machine"),
        (REMOTE_SPEC, {"push_repo": "no slash"}, "is not a repository id"),
        (REMOTE_SPEC, {"flavor": "quantum-xl"}, "not a Hugging Face Jobs hardware flavor"),
        (REMOTE_SPEC, {"image_space": ""}, "name the Adapta Space"),
    ]
    for spec, overrides, message in cases:
        arguments = {"token": TOKEN, "push_repo": "ada/x", "image_space": "ada/adapta", **overrides}
        with pytest.raises(AdaptaError, match=message):
            submit_remote_job(parse_spec(spec), **arguments)
    assert hub.job_requests == [] and list_jobs() == []

    with pytest.raises(AdaptaError, match="refused the token"):
        submit_remote_job(parse_spec(REMOTE_SPEC), token="hf_wrong", push_repo="ada/x", image_space="ada/adapta")
    [refused] = list_jobs()
    assert refused.status is JobStatus.FAILED and "refused the token" in refused.error


def test_remote_train_trains_and_pushes_inside_the_job(adapta_home: Path, tmp_path: Path) -> None:
    """What the Hugging Face Job runs: the spec from ADAPTA_SPEC, the (gated) base model downloaded with the job's token in the
    fresh container, a Hub dataset streamed, the adapter and card pushed."""
    from tests.fake_hub import ModelRepo
    from tests.hub_repos import tiny_causal_lm_repo

    base = ModelRepo(files=tiny_causal_lm_repo(tmp_path / "llama"), gated=True)
    spec = {**REMOTE_SPEC, "base_model": "acme/tiny-llama", "training": {"max_steps": 3, "batch_size": 4, "max_length": 64}}
    with FakeHub(valid_token=TOKEN, datasets=DATASETS, repos={"acme/tiny-llama": base}) as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"), "HF_TOKEN": TOKEN,
               "ADAPTA_SPEC": parse_spec(spec).to_yaml(), "ADAPTA_PUSH_REPO": "ada/planets-lora"}
        done = run_launch("remote-train", home=adapta_home, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "pushed to" in done.stdout
        [commit] = hub.commits
        assert "model.safetensors" in hub.file_requests("acme/tiny-llama")
    assert commit["repo"] == "ada/planets-lora" and "adapter_model.safetensors" in commit["files"] and "README.md" in commit["files"]
    card = commit["files"]["README.md"].decode()
    assert "datasets:\n- acme/planets" in card and "base_model: acme/tiny-llama" in card and f"(commit `{base.sha}`)" in card

    missing = run_launch("remote-train", home=adapta_home, env={"ADAPTA_SPEC": ""})
    assert missing.returncode == 2 and "needs ADAPTA_SPEC" in missing.stderr


def test_the_app_sends_a_job_and_its_tracker_follows_it_to_the_end(adapta_home: Path, tmp_path: Path) -> None:
    """Through the API of a real app process: /submit_hf_job, then the tracker thread moves the row as the remote job moves."""
    import time

    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from tests.served_app import served_app

    spec_yaml = parse_spec(REMOTE_SPEC).to_yaml()
    with FakeHub(valid_token=TOKEN) as hub, served_app([], home=adapta_home, env={"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0",
                                                                                 "ADAPTA_HF_JOBS_POLL_SECONDS": "0.5"}) as app:
        client = Client(app.url, verbose=False)
        with pytest.raises(AppError, match="refused the token"):
            client.predict(spec_yaml, "ada/planets-lora", "hf_wrong", "a10g-small", "ada/adapta", api_name="/submit_hf_job")
        job_id = client.predict(spec_yaml, "ada/planets-lora", TOKEN, "a10g-small", "ada/adapta", api_name="/submit_hf_job")
        assert hub.job_requests[-1]["flavor"] == "a10g-small"
        remote = next(job for job in client.predict(api_name="/list_jobs") if job["id"] == job_id)
        assert remote["backend"] == "hf-jobs" and remote["status"] == "queued"

        def wait_for(status: str) -> dict:
            for _ in range(60):
                current = client.predict(job_id, api_name="/job_status")
                if current["status"] == status:
                    return current
                time.sleep(0.5)
            raise AssertionError(f"job {job_id} never became {status}: {current}")

        remote_id = next(iter(hub.jobs))
        hub.job_logs[remote_id] = ["step 10/50 loss 2.1"]
        hub.jobs[remote_id]["status"] = {"stage": "RUNNING", "message": None}
        assert "loss 2.1" in wait_for("running")["log_tail"]
        hub.jobs[remote_id]["status"] = {"stage": "COMPLETED", "message": None}
        assert wait_for("succeeded")["remote_url"].endswith(f"/jobs/ada/{remote_id}")
    assert TOKEN.encode() not in (adapta_home / "adapta.db").read_bytes()
