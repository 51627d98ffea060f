"""The chat families of the tests: each family's real chat template (tests/fixtures/chat_templates/, from llama.cpp's
models/templates) on the tiny byte-level tokenizer, with the family's special tokens added as special tokens so that
``<|im_start|>``, ``<start_of_turn>``, ``<|eot_id|>`` or ``[INST]`` tokenize as one token, and its BOS and EOS.

    tokenizer = family_tokenizer("qwen3", tmp_path)
    folder = family_model("qwen3", tmp_path)   # the tokenizer plus a tiny random model of the family's architecture
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM

from tests.jobs.export.test_gguf_families import FAMILIES as MODEL_SHAPES
from tests.jobs.export.test_gguf_families import SHAPE
from tests.tiny import build_tokenizer

TEMPLATES = Path(__file__).resolve().parents[2] / "fixtures" / "chat_templates"
IM = ["<|im_start|>", "<|im_end|>"]


@dataclass(frozen=True)
class Family:
    """One family: its template file, special tokens, BOS/EOS and the model shape (a key of test_gguf_families.FAMILIES)."""

    template: str
    specials: list[str]
    eos: str
    bos: str | None = None
    shape: str | None = None
    plain: list[str] = field(default_factory=list)
    """Tokens added as ordinary (not special) tokens, as Qwen3 adds ``<think>``."""


FAMILIES: dict[str, Family] = {
    "llama3": Family("llama3", ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"], "<|eot_id|>",
                     "<|begin_of_text|>", "llama3-rope"),
    "qwen2": Family("qwen2", IM, "<|im_end|>", None, "qwen2"),
    "qwen3": Family("qwen3", IM, "<|im_end|>", None, "qwen3-tied", ["<think>", "</think>"]),
    "gemma3": Family("gemma3", ["<bos>", "<start_of_turn>", "<end_of_turn>"], "<end_of_turn>", "<bos>", "gemma3"),
    "gemma2": Family("gemma2", ["<bos>", "<start_of_turn>", "<end_of_turn>"], "<end_of_turn>", "<bos>"),
    "phi3": Family("phi3", ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"], "<|endoftext|>", None, "phi3-partial-rotary"),
    "mistral": Family("mistral", ["<s>", "</s>", "[INST]", "[/INST]"], "</s>", "<s>", "mistral-nemo-head-dim"),
    "smollm3": Family("smollm3", IM, "<|im_end|>", None, "smollm3", ["<think>", "</think>"]),
}
TRAINED_FAMILIES = [name for name, family in FAMILIES.items() if family.shape]


def family_tokenizer(name: str, folder: Path) -> Any:
    """The tiny tokenizer with family ``name``'s template, special tokens, BOS and EOS, saved to ``folder``."""
    family = FAMILIES[name]
    tokenizer = build_tokenizer(folder)
    tokenizer.add_special_tokens({"additional_special_tokens": family.specials})
    if family.plain:
        tokenizer.add_tokens(family.plain)
    tokenizer.eos_token = family.eos
    if family.bos:
        tokenizer.bos_token = family.bos
    tokenizer.chat_template = (TEMPLATES / f"{family.template}.jinja").read_text(encoding="utf-8")
    tokenizer.save_pretrained(folder)
    return tokenizer


def family_model(name: str, folder: Path) -> Path:
    """A tiny random-weight model of family ``name``'s architecture (2 layers, hidden 64) saved with its tokenizer."""
    tokenizer = family_tokenizer(name, folder)
    config_class, extra = MODEL_SHAPES[FAMILIES[name].shape]
    torch.manual_seed(0)
    config = config_class(**{**SHAPE, "tie_word_embeddings": False, **extra}, vocab_size=len(tokenizer),
                          pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    return folder
