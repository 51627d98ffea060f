"""Every public endpoint through gradio_client against the app on loopback, hostile inputs included.

No worker runs here, so a submitted job stays queued and can be cancelled deterministically.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.webui.conftest import tiny_spec_yaml


@pytest.fixture
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def test_models_offline_show_the_local_catalog_with_a_notice(client: Client, tiny_llama: Path) -> None:
    found = client.predict("", "", "downloads", api_name="/search_models")
    assert found["offline"] and "offline" in found["notice"].lower()
    info = client.predict(str(tiny_llama), api_name="/model_info")
    assert info["verdict"]["ok"] and info["parameters"] > 0 and info["formats"] == ["safetensors"]
    assert set(info["memory"]) == {"lora", "qlora", "prompt-tuning", "full"}
    with pytest.raises(AppError, match="not on this machine"):
        client.predict("nobody/nothing-here", api_name="/model_info")


def test_inspect_submit_list_status_cancel(client: Client, tiny_llama: Path, qa_jsonl: Path) -> None:
    report = client.predict(handle_file(str(qa_jsonl)), "auto", "causal-lm", api_name="/inspect_dataset")
    assert report["format"] == "instruction" and report["mapping"] == {"prompt": "question", "response": "answer"}
    assert report["rows"] == 6 and len(report["preview"]) == 6
    stored = Path(report["stored_path"])
    assert stored.is_file() and "uploads" in stored.parts
    job_id = client.predict(tiny_spec_yaml(tiny_llama, stored), api_name="/submit_job")
    assert isinstance(job_id, int)
    assert [job["id"] for job in client.predict(api_name="/list_jobs")] == [job_id]
    status = client.predict(job_id, api_name="/job_status")
    assert status["status"] == "queued" and status["progress"] == 0.0
    cancelled = client.predict(job_id, api_name="/cancel_job")
    assert cancelled["status"] == "cancelled"
    with pytest.raises(AppError, match="already cancelled"):
        client.predict(job_id, api_name="/cancel_job")


def test_generate_with_a_base_model(client: Client, tiny_llama: Path) -> None:
    result = client.predict(str(tiny_llama), "The capital of France is", 6, 0.0, 0.9, api_name="/generate")
    assert result["task"] == "causal-lm" and isinstance(result["base"], str) and result["base"] == result["adapted"]
    with pytest.raises(AppError, match="write a prompt"):
        client.predict(str(tiny_llama), "  ", 6, 0.0, 0.9, api_name="/generate")


def test_hostile_inputs_get_clear_messages_and_the_app_keeps_serving(client: Client, tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    big.write_bytes(b'{"text": "' + b"a" * (int(os.environ["ADAPTA_MAX_UPLOAD_MB"]) * 1024 * 1024 + 10) + b'"}\n')
    with pytest.raises(Exception, match="(?i)too large|exceeds|maximum|limit"):
        client.predict(handle_file(str(big)), "auto", "causal-lm", api_name="/inspect_dataset")
    garbage = tmp_path / "data.jsonl"
    garbage.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(AppError, match="not text"):
        client.predict(handle_file(str(garbage)), "auto", "causal-lm", api_name="/inspect_dataset")
    with pytest.raises(AppError, match="not valid YAML at line"):
        client.predict("base_model: [unclosed", api_name="/submit_job")
    with pytest.raises(AppError, match="training.learning_rate must be at most 1"):
        client.predict("base_model: m\ndata: {train: x.jsonl}\ntraining: {learning_rate: 5}\n", api_name="/submit_job")
    for endpoint in ("/job_status", "/cancel_job"):
        with pytest.raises(AppError, match="there is no job 424242"):
            client.predict(424242, api_name=endpoint)
    assert client.predict(api_name="/list_jobs") == []
