"""Every family the GGUF export writes, run in llama.cpp itself: tiny models built from each family's transformers config,
fine-tuned with a LoRA, merged, written as F16 and Q8_0, loaded by llama.cpp and agreeing with the merged model on the
greedy next token.

Each model is pre-trained for a moment on the tiny corpus (so its next-token choices are not near-ties), given a LoRA on
every linear layer trained a few steps on chat-formatted rows, merged (``merge_and_unload``), saved with its family's kind of
tokenizer (the tiny byte-level BPE, or a SentencePiece-style one with byte fallback for Gemma 3, Mistral 7B and Phi-3, see
:mod:`tests.jobs.export.tiny_sentencepiece`) and the chat template, converted by ``convert_folder``, and compared as the
export compares them:
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
from tests.jobs.export.tiny_sentencepiece import build_sentencepiece_tokenizer
from tests.tiny import _pretrain, build_tokenizer

SHAPE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "max_position_embeddings": 256}
LLAMA3_ROPE = {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 16}
FAMILIES: dict[str, tuple[type, dict[str, Any]]] = {
    "mistral-sentencepiece": (MistralConfig, {}),
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
SENTENCEPIECE = {"mistral-sentencepiece": "llama", "gemma3": "gemma", "phi3-partial-rotary": "llama", "phi3-longrope": "llama"}
"""The families whose real tokenizer is SentencePiece BPE with byte fallback, and its layout (Llama's ``▁`` prefix or Gemma's none)."""
CHAT_ROWS = [[{"role": "user", "content": question}, {"role": "assistant", "content": answer}] for question, answer in (
    ("What is the capital of France?", "The capital of France is Paris."),
    ("What is the colour of the sky?", "The sky is blue."),
    ("Did you like the film?", "I love this film, it was wonderful."),
    ("What does the fox do?", "The quick brown fox jumps over the lazy dog."),
)]


def train_lora_and_merge(model: Any, tokenizer: Any, steps: int = 8) -> Any:
    """A LoRA on every linear layer, trained ``steps`` steps on chat rows, merged into the model; fails when it changed nothing."""
    from peft import LoraConfig, get_peft_model

    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    torch.manual_seed(0)
    adapted = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", lora_dropout=0.0))
    texts = [tokenizer.apply_chat_template(row, tokenize=False) for row in CHAT_ROWS]
    tokenizer.padding_side = "right"
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW([parameter for parameter in adapted.parameters() if parameter.requires_grad], lr=5e-3)
    adapted.train()
    for _ in range(steps):
        adapted(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    merged = adapted.merge_and_unload().eval()
    changed = [name for name, tensor in merged.state_dict().items() if not torch.equal(tensor, before[name])]
    assert changed, "the LoRA changed no weight"
    return merged


def build_family(folder: Path, config_class: type, extra: dict[str, Any], tokenizer_style: str | None = None) -> Path:
    """A tiny model of the family, pre-trained a moment, then LoRA-tuned and merged, saved with its tokenizer in ``folder``."""
    tokenizer = build_sentencepiece_tokenizer(folder, tokenizer_style) if tokenizer_style else build_tokenizer(folder)
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
    train_lora_and_merge(model, tokenizer).save_pretrained(folder)
    return folder


def check_every_family(root: Path) -> dict[str, dict[str, Any]]:
    """Every family built, converted to F16 and Q8_0 and checked in one llama.cpp process: {"<family>/<type>": verdict}."""
    files: dict[str, tuple[Reference, Path]] = {}
    refused: dict[str, dict[str, Any]] = {}
    for name, (config_class, extra) in FAMILIES.items():
        folder = build_family(root / name, config_class, extra, SENTENCEPIECE.get(name))
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


@pytest.mark.timeout(900)  # ~60 s on a busy 2-core machine; one test, so parallel workers never build the families twice
def test_every_family_runs_in_llamacpp_like_the_merged_model(llamacpp: str, tmp_path: Path) -> None:
    checks = check_every_family(tmp_path)
    assert set(checks) == {f"{name}/{kind}" for name in FAMILIES for kind in MIN_TOP1}
    failures = {key: reason for key, check in checks.items() if (reason := failure(key.split("/")[1], check))}
    assert not failures, "\n".join(f"{key}: {reason}" for key, reason in failures.items())
