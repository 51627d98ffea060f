"""jobs.hub.search against a loopback HTTP server standing in for the Hub API: real huggingface_hub code, fake server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.hub import search as hub
from jobs.models.hardware import QLORA_CPU_NOTE
from tests.fake_hub import FakeHub

MODELS = [
    {"id": "acme/tiny-chat", "modelId": "acme/tiny-chat", "author": "acme", "downloads": 1200, "likes": 7, "pipeline_tag": "text-generation",
     "tags": ["transformers", "license:apache-2.0"], "safetensors": {"parameters": {"BF16": 135_000_000}, "total": 135_000_000}},
    {"id": "acme/odd-code", "modelId": "acme/odd-code", "downloads": 3, "likes": 0, "pipeline_tag": "text-generation", "tags": ["custom_code"]},
]
INFO = {
    "acme/tiny-chat": {"id": "acme/tiny-chat", "pipeline_tag": "text-generation", "tags": ["transformers"], "gated": False,
                       "cardData": {"license": "apache-2.0"}, "config": {"model_type": "llama", "architectures": ["LlamaForCausalLM"]},
                       "safetensors": {"parameters": {"F32": 135_000_000}, "total": 135_000_000},
                       "siblings": [{"rfilename": "config.json"}, {"rfilename": "model.safetensors"}]},
    "acme/odd-code": {"id": "acme/odd-code", "pipeline_tag": "text-generation", "tags": ["custom_code"], "gated": "manual",
                      "config": {"model_type": "oddformer", "auto_map": {"AutoModel": "x.Y"}}, "siblings": [{"rfilename": "pytorch_model.bin"}]},
}


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    from huggingface_hub import constants

    with FakeHub(models=MODELS, model_infos=INFO) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(hub, "_unreachable_until", 0.0)
        yield server


def test_search_and_model_info_go_through_the_hub_api(fake_hub: FakeHub) -> None:
    found = hub.search_models("tiny", task="text-generation", sort="likes")
    assert not found.offline and [model["id"] for model in found.models] == ["acme/tiny-chat", "acme/odd-code"]
    query = fake_hub.requests[0][1]
    assert "search=tiny" in query and "pipeline_tag=text-generation" in query and "sort=likes" in query
    info = hub.model_info("acme/tiny-chat")
    assert info["verdict"]["ok"] and info["parameters"] == 135_000_000 and info["license"] == "apache-2.0"
    # per method; LoRA on every linear layer keeps each layer's dropout output and mask, so at 8 x 512 on CPU it may pass full
    assert info["memory"]["prompt-tuning"]["bytes"] < info["memory"]["full"]["bytes"] and info["memory"]["lora"]["bytes"]
    # no GPU here: QLoRA on the CPU is estimated as LoRA (it measured no 4-bit saving there) and its line says so
    qlora = info["memory"]["qlora"]
    assert qlora["bytes"] == info["memory"]["lora"]["bytes"] and QLORA_CPU_NOTE in qlora["human"] and qlora["fits"] is not None
    odd = hub.model_info("acme/odd-code")
    reasons = " ".join(odd["verdict"]["reasons"])
    assert not odd["verdict"]["ok"] and "trust_remote_code" in reasons and "pickle" in reasons and odd["gated"]


def test_unknown_repo_and_unreachable_hub_are_explained(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(hub.ModelError, match="no model acme/missing on the Hub"):
        hub.model_info("acme/missing")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    found = hub.search_models("anything")
    assert found.offline and found.notice == hub.OFFLINE_NOTICE


def test_the_models_tab_renders_hub_results_and_model_info(fake_hub: FakeHub) -> None:
    from webui.models_tab import run_check, run_search

    notice, frame, rows = run_search("tiny", "text-generation", "downloads", "en")
    assert "2" in notice and [row["ref"] for row in rows] == ["acme/tiny-chat", "acme/odd-code"]
    assert frame.values.tolist() == [["tiny-chat", "acme", "135 M", "270.0 MB", "apache-2.0", "text-generation", "Hub", "1,200", "7"],
                                     ["odd-code", "acme", "", "", "", "text-generation", "Hub", "3", "0"]]
    assert list(frame.columns) == ["Model", "Owner", "Parameters", "Size", "License", "Task", "Where", "Downloads", "Likes"]
    status, card, memory = run_check("acme/tiny-chat", "en")
    assert status == "" and "### tiny-chat" in card and "acme · Hub" in card and "135 M" in card and "apache-2.0" in card and "✅" in card
    assert set(memory["method"]) == {"lora", "qlora", "prompt-tuning", "full"}
    _, odd_card, _ = run_check("acme/odd-code", "en")
    assert "❌" in odd_card and "trust_remote_code" in odd_card
    status, card, _ = run_check("acme/missing", "en")
    assert status.startswith("⚠️") and "acme/missing" in status and card == ""


def test_the_detail_view_reads_the_hub_card_once_and_caches_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tests.fake_hub import ModelRepo, use_fake_hub
    from tests.hub_repos import tiny_causal_lm_repo
    from webui.models_tab import run_check

    files = tiny_causal_lm_repo(tmp_path / "build")
    files["README.md"] = (b"---\nlicense: mit\n---\n# Tiny carded\n\n![banner](banner.png)\n\nTiny carded is a two-layer Llama "
                          b"trained on planet facts, for tests.\n\n## Usage\n\n```python\nload()\n```\n")
    with FakeHub(repos={"acme/tiny-carded": ModelRepo(files=files, pipeline_tag="text-generation")}) as server:
        use_fake_hub(monkeypatch, server, tmp_path / "cache")
        monkeypatch.setattr(hub, "_unreachable_until", 0.0)
        _, card, _ = run_check("acme/tiny-carded", "en")
        run_check("acme/tiny-carded", "en")
        plain = hub.model_info("acme/tiny-carded")  # other callers (the Train form's memory check) never fetch the card
        readme_gets = server.file_requests("acme/tiny-carded")
    assert "Tiny carded is a two-layer Llama trained on planet facts, for tests." in card and "load()" not in card, card
    assert plain["card_summary"] == "" and readme_gets == ["README.md"]
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())  # the card is read, not downloaded
