"""Pushing GGUF files to the Hub (a loopback stand-in): the verified files, the Modelfile and a card the Hub lists as a GGUF repo."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jobs.errors import AdaptaError
from jobs.export.hub_push import push_gguf_run
from tests.fake_hub import FakeHub
from tests.finished_jobs import train_counting_job

TOKEN = "hf_test_token"


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def run_dir(tiny_llama: Path, tmp_path: Path) -> Path:
    _, summary = train_counting_job(tiny_llama, tmp_path, "tiny-gguf")
    return Path(summary["output_folder"]).parent


def test_push_gguf_uploads_the_chosen_files_modelfile_and_a_gguf_card(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                       online: None) -> None:
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        push_gguf_run(run_dir, "me/tiny-gguf", token=TOKEN, quants=["f16", "q8_0"], merged_dir=tmp_path / "merged")
        exported = {path.name for path in (run_dir / "gguf").glob("*.gguf")}
        url = push_gguf_run(run_dir, "me/tiny-gguf", token=TOKEN, quants=["q8_0"], merged_dir=tmp_path / "merged")  # reuses the export
    assert url.endswith("me/tiny-gguf") and exported == {"tiny-gguf-F16.gguf", "tiny-gguf-Q8_0.gguf"}
    files = hub.commits[-1]["files"]
    assert set(files) == {"tiny-gguf-Q8_0.gguf", "Modelfile", "gguf_verification.json", "README.md", "loss.svg"}
    assert files["tiny-gguf-Q8_0.gguf"] == (run_dir / "gguf" / "tiny-gguf-Q8_0.gguf").read_bytes()
    assert b"FROM ./tiny-gguf-Q8_0.gguf" in files["Modelfile"]
    card = files["README.md"].decode()
    front = yaml.safe_load(card.split("---")[1])
    assert front["library_name"] == "gguf" and {"gguf", "llama.cpp", "ollama", "merged"} <= set(front["tags"])
    assert "## Run it with llama.cpp, Ollama or LM Studio" in card and "ollama run hf.co/me/tiny-gguf:Q8_0" in card
    assert "| `tiny-gguf-Q8_0.gguf` |" in card and "| passed |" in card and "tiny-gguf-F16.gguf" not in card
    assert hub.validated and hub.validated[-1] == card


def test_bad_repo_id_or_missing_token_is_refused_before_exporting(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(AdaptaError, match="repository id 'not a repo' is not valid; use OWNER/NAME"):
        push_gguf_run(run_dir, "not a repo", token=TOKEN, quants=["q8_0"], merged_dir=tmp_path / "merged")
    with pytest.raises(AdaptaError, match="pushing needs a Hugging Face token with write access"):
        push_gguf_run(run_dir, "me/tiny-gguf", token=None, quants=["q8_0"], merged_dir=tmp_path / "merged")
    assert not (run_dir / "gguf").exists() and not (tmp_path / "merged").exists()
