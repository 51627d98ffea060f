"""Loading base models and tokenizers, precision choice and parameter counts on tiny models (CPU)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model

from jobs.errors import UnsupportedError
from jobs.models import count_parameters, hardware, load_base_model, load_tokenizer, resolve_model, resolve_precision
from jobs.spec import Method, Precision, Task

cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusals")


def test_classification_head_uses_the_label_names(tiny_bert: Path) -> None:
    resolved = resolve_model(str(tiny_bert))
    tokenizer = load_tokenizer(resolved)
    model = load_base_model(
        resolved, Task.TEXT_CLASSIFICATION, label_names=["negative", "neutral", "positive"], pad_token_id=tokenizer.pad_token_id
    )
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.id2label == {0: "negative", 1: "neutral", 2: "positive"}
    assert model.config.label2id == {"negative": 0, "neutral": 1, "positive": 2}
    assert model.classifier.out_features == 3
    assert model.config.pad_token_id == tokenizer.pad_token_id
    assert model.dtype == torch.float32
    batch = tokenizer(["I love this film", "awful"], padding=True, return_tensors="pt")
    assert model(**batch).logits.shape == (2, 3)


def test_causal_lm_and_tokenizer_pad_fallback(tiny_llama: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_llama, tmp_path / "no-pad")
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = folder / name
        if path.is_file():
            data = json.loads(path.read_text())
            data.pop("pad_token", None)
            path.write_text(json.dumps(data))
    resolved = resolve_model(str(folder))
    tokenizer = load_tokenizer(resolved)
    assert tokenizer.pad_token == tokenizer.eos_token == "<|im_end|>"
    model = load_base_model(resolved, Task.CAUSAL_LM, pad_token_id=tokenizer.pad_token_id)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.config.pad_token_id == tokenizer.pad_token_id


@cpu_only
def test_qlora_on_cpu_loads_nf4_weights_computing_in_fp32_and_refuses_an_old_bitsandbytes(tiny_llama: Path,
                                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    model = load_base_model(resolve_model(str(tiny_llama)), Task.CAUSAL_LM, quantize_4bit=True)
    layer = model.model.layers[0].self_attn.q_proj
    assert type(layer).__name__ == "Linear4bit" and layer.weight.quant_state.quant_type == "nf4" and layer.compute_dtype == torch.float32
    monkeypatch.setattr(hardware, "installed_kernels", lambda: {"bitsandbytes": "0.45.5"})  # before its CPU backend
    with pytest.raises(UnsupportedError, match=r"QLoRA needs a CUDA GPU, or bitsandbytes 0.50 or newer .* has 0.45.5.*use method lora"):
        load_base_model(resolve_model(str(tiny_llama)), Task.CAUSAL_LM, quantize_4bit=True)


@cpu_only
def test_precision_on_cpu() -> None:
    assert resolve_precision(Precision.AUTO) == (torch.float32, {"bf16": False, "fp16": False})
    assert resolve_precision(Precision.FP32, Method.FULL) == (torch.float32, {"bf16": False, "fp16": False})
    for half in (Precision.BF16, Precision.FP16):
        with pytest.raises(UnsupportedError, match=f"precision {half.value} needs a CUDA GPU .* use precision fp32 or auto"):
            resolve_precision(half)


def test_count_parameters_with_lora(tiny_llama: Path) -> None:
    model = load_base_model(resolve_model(str(tiny_llama)), Task.CAUSAL_LM)
    trainable, total = count_parameters(model)
    assert trainable == total == sum(p.numel() for p in model.parameters())
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    lora_trainable, lora_total = count_parameters(peft_model)
    assert (lora_trainable, lora_total) == tuple(peft_model.get_nb_trainable_parameters())
    assert 0 < lora_trainable < lora_total
