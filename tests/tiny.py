"""Tiny real models for fast tests: a byte-level BPE tokenizer, a 2-layer Llama and a 2-layer BERT.

They are built from configs, pre-trained for a second on a small corpus (next-token prediction for the
Llama, masked-token prediction for BERT) so that they have features to adapt, and saved as ordinary
safetensors folders: every code path (resolution, safety checks, loading, training, saving,
reloading) is the real one.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import BertConfig, BertForMaskedLM, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [
    "The capital of France is Paris.",
    "The quick brown fox jumps over the lazy dog.",
    "What is the colour of the sky? The sky is blue.",
    "I love this film, it was wonderful and great.",
    "This was a terrible, awful and boring movie.",
    "question answer prompt response user assistant system",
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ",
] * 20


def build_tokenizer(folder: Path) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE (every byte is known, so no <unk>) and save it to ``folder``."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="<|im_end|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(folder)
    return fast


def _pretrain(model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, masked: bool, steps: int = 150) -> None:
    """A second of pre-training on the corpus, deterministic (seeded)."""
    generator = torch.Generator().manual_seed(0)
    tokenizer.padding_side = "right"
    batch = tokenizer(sorted(set(CORPUS)), return_tensors="pt", padding=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        input_ids = batch["input_ids"].clone()
        labels = input_ids.masked_fill(batch["attention_mask"] == 0, -100)
        if masked:
            chosen = (torch.rand(input_ids.shape, generator=generator) < 0.2) & (batch["attention_mask"] == 1)
            labels = labels.masked_fill(~chosen, -100)
            input_ids = input_ids.masked_fill(chosen, tokenizer.unk_token_id)
        loss = model(input_ids=input_ids, attention_mask=batch["attention_mask"], labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


def build_tiny_llama(folder: Path) -> Path:
    """A 2-layer Llama (hidden 64) with the tiny tokenizer, saved as safetensors."""
    tokenizer = build_tokenizer(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    _pretrain(model, tokenizer, masked=False)
    model.save_pretrained(folder)
    return folder


def build_tiny_bert(folder: Path) -> Path:
    """A 2-layer BERT encoder (hidden 64) with the tiny tokenizer, saved as safetensors."""
    tokenizer = build_tokenizer(folder)
    tokenizer.padding_side = "right"
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = BertForMaskedLM(config)
    _pretrain(model, tokenizer, masked=True)
    # Saved as a bare encoder checkpoint the way Hub BERTs are: the classification head is new.
    model.bert.save_pretrained(folder)
    return folder
