"""Model resolution and safety: local folders, the offline Hub cache, GGUF caching logic, refusals."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import torch

import jobs.models.source as source
from jobs.errors import ModelError
from jobs.models import check_model_safety, model_architecture_supported, resolve_model
from jobs.spec import Task
from storage.paths import data_home


def copy_model(folder: Path, target: Path, *, weights: bool = True) -> Path:
    """Copy a model folder, optionally without its safetensors weights."""
    shutil.copytree(folder, target, ignore=None if weights else shutil.ignore_patterns("*.safetensors"))
    return target


def fake_hub_cache(root: Path, repo_id: str, model_folder: Path, commit: str = "0123456789abcdef0123456789abcdef01234567") -> Path:
    """The hub cache layout by hand: models--org--name/{refs/main, snapshots/<sha>/...}."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(model_folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return repo / "snapshots" / commit


def test_resolve_local_folder(tiny_llama: Path) -> None:
    resolved = resolve_model(str(tiny_llama))
    assert resolved.source == "folder"
    assert resolved.path == tiny_llama
    assert resolved.architecture == "LlamaForCausalLM"
    assert resolved.model_type == "llama"
    assert resolved.ref == str(tiny_llama)


def test_nonexistent_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model folder .*nowhere does not exist"):
        resolve_model(str(tmp_path / "nowhere"))
    with pytest.raises(ModelError, match=r"GGUF file .*missing\.gguf does not exist"):
        resolve_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelError, match="no base model given"):
        resolve_model("  ")


def test_hub_id_not_in_cache_names_the_id_and_hf_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    started = time.perf_counter()
    with pytest.raises(ModelError) as caught:
        resolve_model("acme/not-downloaded")
    message = str(caught.value)
    assert "acme/not-downloaded is not in the local Hugging Face cache" in message
    assert "`hf download acme/not-downloaded`" in message
    assert time.perf_counter() - started < 5  # no network wait


def test_hub_id_in_local_cache_resolves(tiny_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = fake_hub_cache(tmp_path / "hub", "acme/tiny-llama", tiny_llama)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    resolved = resolve_model("acme/tiny-llama")
    assert resolved.source == "hub-cache"
    assert resolved.path.resolve() == snapshot.resolve()
    assert resolved.architecture == "LlamaForCausalLM"


def test_auto_map_is_refused(tiny_llama: Path, tmp_path: Path) -> None:
    folder = copy_model(tiny_llama, tmp_path / "remote-code")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="needs trust_remote_code, which Adapta keeps off for safety"):
        resolve_model(str(folder))


def test_pickle_only_weights_are_refused(tiny_llama: Path, tmp_path: Path) -> None:
    folder = copy_model(tiny_llama, tmp_path / "pickled", weights=False)
    torch.save({"weight": torch.zeros(2, 2)}, folder / "pytorch_model.bin")
    with pytest.raises(ModelError, match=r"ships only pickle weights \(pytorch_model\.bin\), which can run code"):
        resolve_model(str(folder))


def test_folder_without_config_or_weights(tiny_llama: Path, tmp_path: Path) -> None:
    no_config = copy_model(tiny_llama, tmp_path / "no-config")
    (no_config / "config.json").unlink()
    with pytest.raises(ModelError, match="has no config.json"):
        check_model_safety(no_config)
    no_weights = copy_model(tiny_llama, tmp_path / "no-weights", weights=False)
    with pytest.raises(ModelError, match=r"has no \.safetensors weights"):
        check_model_safety(no_weights)


def test_architecture_must_fit_the_task(tiny_llama: Path) -> None:
    assert model_architecture_supported({"model_type": "llama"}, Task.CAUSAL_LM) == "LlamaForCausalLM"
    assert model_architecture_supported({"model_type": "bert"}, Task.TEXT_CLASSIFICATION) == "BertForSequenceClassification"
    with pytest.raises(ModelError, match="model type vit does not support task text-classification"):
        model_architecture_supported({"model_type": "vit"}, Task.TEXT_CLASSIFICATION)
    with pytest.raises(ModelError, match="model type t5 does not support task causal-lm in transformers; use task text-classification"):
        model_architecture_supported({"model_type": "t5"}, Task.CAUSAL_LM)
    assert resolve_model(str(tiny_llama), task=Task.TEXT_CLASSIFICATION).model_type == "llama"


def test_gguf_conversion_is_cached_and_atomic(tiny_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The caching logic without the 20 s dequantisation: a stand-in converter copies a tiny model."""
    gguf = tmp_path / "tiny.Q4.gguf"
    gguf.write_bytes(b"GGUF stand-in")
    home = data_home()
    calls: list[Path] = []

    def crash(_: Path, folder: Path) -> None:
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        raise RuntimeError("killed mid-conversion")

    monkeypatch.setattr(source, "_dequantise_into", crash)
    with pytest.raises(RuntimeError):
        resolve_model(str(gguf), home)
    assert list(home.models.iterdir()) == []  # nothing that looks finished, no partial left behind

    def fake(_: Path, folder: Path) -> None:
        calls.append(folder)
        shutil.copytree(tiny_llama, folder)

    monkeypatch.setattr(source, "_dequantise_into", fake)
    first = resolve_model(str(gguf), home)
    second = resolve_model(str(gguf), home)
    assert len(calls) == 1
    assert first == second
    assert first.source == "gguf"
    assert first.path.parent == home.models
    assert first.path.name.startswith("tiny.Q4-")
    assert (first.path / source.CONVERTED_MARKER).is_file()
