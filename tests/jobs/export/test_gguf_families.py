"""Every family the GGUF export writes, run in llama.cpp itself: tiny models built from each family's transformers config,
written as F16 and Q8_0, loaded by llama.cpp and agreeing with transformers on the greedy next token.

Each model is pre-trained for a moment on the tiny corpus (so its next-token choices are not near-ties), saved with the tiny
byte-level tokenizer and its chat template, converted by ``convert_folder``, and compared as the export compares them:
teacher-forced top-1 along the model's own greedy continuations (F16 ≥ 0.98, Q8_0 ≥ 0.9), the greedy answers, and the
file's tokenization (``judge_llamacpp``). All files go through one llama.cpp process. The variants are the ones that used to fail: heads
narrower or wider than hidden / heads (Llama, Mistral-Nemo, Qwen3, Gemma 3), attention biases (Llama, Qwen2), q/k norms
(Qwen3, Gemma 3), Gemma's norm offset, embedding scale and sliding window, Phi-3's fused projections, partial rotary and
LongRoPE factors, Llama 3.1's rotary factors, SmolLM3's layers without rotary embeddings, tied embeddings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    Gemma3TextConfig,
    LlamaConfig,
    MistralConfig,
    Phi3Config,
    Qwen2Config,
    Qwen3Config,
    SmolLM3Config,
)

from jobs.errors import AdaptaError
from jobs.export.gguf_convert import convert_folder, quant_type
from jobs.export.gguf_llamacpp import run_llamacpp
from jobs.export.gguf_verify import Reference, judge_llamacpp, llamacpp_request
from tests.tiny import _pretrain, build_tokenizer

SHAPE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "max_position_embeddings": 256}
LLAMA3_ROPE = {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 16}
FAMILIES: dict[str, tuple[type, dict[str, Any]]] = {
    "llama-head-dim": (LlamaConfig, {"head_dim": 32}),
    "llama-attention-bias": (LlamaConfig, {"attention_bias": True}),
    "llama3-rope": (LlamaConfig, {"rope_parameters": LLAMA3_ROPE}),
    "mistral-nemo-head-dim": (MistralConfig, {"head_dim": 32}),
    "qwen2": (Qwen2Config, {}),
    "qwen3-tied": (Qwen3Config, {"head_dim": 32, "tie_word_embeddings": True}),
    "gemma3": (Gemma3TextConfig, {"head_dim": 32, "query_pre_attn_scalar": 32, "sliding_window": 12,
                                  "layer_types": ["sliding_attention", "full_attention"],
                                  "rope_parameters": {"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                                      "full_attention": {"rope_type": "default", "rope_theta": 100000.0}}}),
    "phi3-partial-rotary": (Phi3Config, {"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5},
                                         "original_max_position_embeddings": 256}),
    "phi3-longrope": (Phi3Config, {"original_max_position_embeddings": 64,
                                   "rope_parameters": {"rope_type": "longrope", "rope_theta": 10000.0,
                                                       "long_factor": [1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0],
                                                       "short_factor": [1.0, 1.2, 1.4, 1.6, 2.0, 2.5, 3.0, 4.0]}}),
    "smollm3": (SmolLM3Config, {"num_hidden_layers": 4}),
}
MIN_TOP1 = {"f16": 0.98, "q8_0": 0.9}


def build_family(folder: Path, config_class: type, extra: dict[str, Any]) -> Path:
    tokenizer = build_tokenizer(folder)
    torch.manual_seed(0)
    config = config_class(**{**SHAPE, "tie_word_embeddings": False, **extra}, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                          bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = AutoModelForCausalLM.from_config(config)
    if extra.get("attention_bias"):
        with torch.no_grad():  # biases start at zero: make them matter, or an unpermuted bias would go unnoticed
            for layer in model.model.layers:
                for projection in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                    projection.bias.normal_(0.0, 1.0)
    _pretrain(model, tokenizer, masked=False, steps=60)
    model.save_pretrained(folder)
    return folder


def check_every_family(root: Path) -> dict[str, dict[str, Any]]:
    """Every family built, converted to F16 and Q8_0 and checked in one llama.cpp process: {"<family>/<type>": verdict}."""
    files: dict[str, tuple[Reference, Path]] = {}
    refused: dict[str, dict[str, Any]] = {}
    for name, (config_class, extra) in FAMILIES.items():
        folder = build_family(root / name, config_class, extra)
        reference = Reference.load(folder)
        for kind in MIN_TOP1:
            try:
                files[f"{name}/{kind}"] = (reference, convert_folder(folder, root / f"{name}-{kind.upper()}.gguf", kind))
            except AdaptaError as error:  # one family's refusal is one failure among the others, not the end of the test
                refused[f"{name}/{kind}"] = {"loaded": False, "error": f"the export refused it: {error}"}
    answers = run_llamacpp([llamacpp_request(reference, path) for reference, path in files.values()])
    return refused | {key: judge_llamacpp(reference, path, quant_type(key.split("/")[1]), answer)
                      for (key, (reference, path)), answer in zip(files.items(), answers, strict=True)}


def failure(kind: str, check: dict[str, Any]) -> str | None:
    """Why one file does not run like its model in llama.cpp, or None."""
    if not check["loaded"]:
        return check["error"]
    if check["top1_agreement"] < MIN_TOP1[kind]:
        return f"top-1 agreement {check['top1_agreement']} < {MIN_TOP1[kind]}"
    if check["tokenizer_identical"] != check["tokenizer_texts"]:
        return f"llama.cpp tokenizes {check['tokenizer_texts'] - check['tokenizer_identical']} texts differently"
    if kind == "f16" and check["greedy_identical"] != check["greedy_prompts"]:
        return f"greedy answers differ: {check['answers']}"
    return None if check["passed"] else f"not passed: {check}"


@pytest.mark.timeout(900)  # ~45 s on a busy 2-core machine; one test, so parallel workers never build the families twice
def test_every_family_runs_in_llamacpp_like_the_merged_model(llamacpp: str, tmp_path: Path) -> None:
    checks = check_every_family(tmp_path)
    assert set(checks) == {f"{name}/{kind}" for name in FAMILIES for kind in MIN_TOP1}
    failures = {key: reason for key, check in checks.items() if (reason := failure(key.split("/")[1], check))}
    assert not failures, "\n".join(f"{key}: {reason}" for key, reason in failures.items())
