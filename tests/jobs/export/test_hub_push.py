"""Pushing a run to the Hub, against a loopback server standing in for the Hub API; the token leaves no trace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.errors import AdaptaError
from jobs.export.hub_push import push_run
from jobs.queue.run import train_in_foreground
from jobs.spec import parse_spec
from tests.fake_hub import FakeHub

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "hf_test_token"


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rest of the suite runs offline; pushing talks to the loopback fake Hub."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def finished_run(tmp_path: Path, tiny_llama: Path) -> tuple[int, Path]:
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": f"Q{i}?", "answer": f"A{i}."}) + "\n" for i in range(8)))
    job_id, summary = train_in_foreground(parse_spec({"name": "push-me", "base_model": str(tiny_llama), "data": {"train": str(data)},
                                                      "training": {"max_steps": 4, "batch_size": 4}}), show_progress=False)
    return job_id, Path(summary["output_folder"]).parent


def test_push_uploads_the_adapter_card_and_loss_plot(finished_run: tuple[int, Path], monkeypatch: pytest.MonkeyPatch, online: None) -> None:
    _, run_dir = finished_run
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        url = push_run(run_dir, "me/tiny-adapter", token=TOKEN, private=True)
    assert url.endswith("me/tiny-adapter")
    assert hub.created and hub.created[0]["name"] == "tiny-adapter" and hub.created[0]["visibility"] == "private"
    files = hub.commits[-1]["files"]
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md", "loss.svg"} <= set(files)
    assert files["adapter_model.safetensors"] == (run_dir / "adapter" / "adapter_model.safetensors").read_bytes()
    card = files["README.md"].decode()
    assert card.startswith("---\n") and "library_name: peft" in card and "![Training loss](loss.svg)" in card
    assert hub.validated and hub.validated[-1] == card  # the Hub checked the card's metadata
    assert files["loss.svg"].startswith(b"<svg") and b"polyline" in files["loss.svg"]


def test_bad_token_and_bad_repo_id_are_explained(finished_run: tuple[int, Path], monkeypatch: pytest.MonkeyPatch, online: None) -> None:
    _, run_dir = finished_run
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(AdaptaError, match="refused the token"):
            push_run(run_dir, "me/x", token="hf_wrong")
    with pytest.raises(AdaptaError, match="is not valid; use OWNER/NAME"):
        push_run(run_dir, "../etc", token=TOKEN)
    with pytest.raises(AdaptaError, match="needs a Hugging Face token"):
        push_run(run_dir, "me/x", token=None)


def test_offline_mode_is_named(finished_run: tuple[int, Path]) -> None:
    with pytest.raises(AdaptaError, match="offline mode is on"):
        push_run(finished_run[1], "me/x", token=TOKEN)


def test_cli_push_leaves_no_token_anywhere(finished_run: tuple[int, Path], adapta_home: Path) -> None:
    job_id, _ = finished_run
    secret = "hf_secret_" + "x" * 30
    with FakeHub(valid_token=secret) as hub:
        env = {**os.environ, "ADAPTA_HOME": str(adapta_home), "HF_ENDPOINT": hub.url, "HF_TOKEN": secret, "HF_HUB_OFFLINE": "0",
               "HF_HOME": str(adapta_home / "hf-home")}
        result = subprocess.run([sys.executable, str(ROOT / "launch.py"), "push", str(job_id), "me/tiny"], env=env,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("me/tiny")
    assert secret not in result.stdout + result.stderr
    leaks = [path for path in adapta_home.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]
    assert not leaks, f"the token was written to {leaks}"


def test_the_merged_model_is_pushed_with_its_own_card_and_loads_without_peft(finished_run: tuple[int, Path], monkeypatch: pytest.MonkeyPatch,
                                                                           online: None, adapta_home: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from jobs.export.hub_push import push_merged_run

    job_id, run_dir = finished_run
    merged_dir = adapta_home / "models" / f"job-{job_id}-merged"
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        push_merged_run(run_dir, "me/tiny-merged", token=TOKEN, merged_dir=merged_dir)
    files = hub.commits[-1]["files"]
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "loss.svg"} <= set(files) and "adapter_config.json" not in files
    card = files["README.md"].decode()
    assert "library_name: transformers" in card and "- merged" in card and "adapter merged into" in card
    assert "AutoModelForCausalLM.from_pretrained" in card and "AutoPeftModel" not in card
    pushed = tmp_path / "pushed"
    pushed.mkdir()
    for name, content in files.items():
        (pushed / name).write_bytes(content)
    model = AutoModelForCausalLM.from_pretrained(pushed)  # what a Hub user gets: a plain model, no PEFT
    assert model.num_parameters() > 0
