"""Files the resumable fetch cannot size: an empty planned file, and one whose size the Hub reports as 0 (``plan_download``
reads an unreported size as 0), download at once instead of failing as a "network failure" after every retry."""

from __future__ import annotations

from pathlib import Path

import pytest

import jobs.hub.download as download
from jobs.hub.download import download_model
from jobs.hub.download_plan import plan_download
from jobs.spec import Task
from tests.fake_hub import FakeHub, ModelRepo, use_fake_hub
from tests.hub_repos import tiny_causal_lm_repo

LLAMA = "acme/tiny-llama"


@pytest.fixture(scope="module")
def llama_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return tiny_causal_lm_repo(tmp_path_factory.mktemp("hub-llama"))


@pytest.mark.parametrize("case", ["empty file", "size not reported"])
def test_a_file_of_zero_or_unknown_size_downloads(case: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 llama_files: dict[str, bytes]) -> None:
    monkeypatch.setattr(download, "RETRY_PAUSE_SECONDS", (0.0,))  # a failure would show at once, not after the real pauses
    files, claimed = dict(llama_files), {}
    if case == "empty file":
        files["special_tokens_map.json"] = b""
        name = "special_tokens_map.json"
    else:
        name = "tokenizer_config.json"
        claimed[name] = 0
    with FakeHub(repos={LLAMA: ModelRepo(files=files, claimed_sizes=claimed)}) as hub:
        use_fake_hub(monkeypatch, hub, tmp_path / "hf-cache")
        plan = plan_download(LLAMA, task=Task.CAUSAL_LM, token=False)
        assert name in plan.files and plan.files[name] == 0
        folder = download_model(plan, token=False)
    assert (folder / name).read_bytes() == files[name]
    assert (folder / "model.safetensors").read_bytes() == files["model.safetensors"]
