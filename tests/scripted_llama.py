"""A tiny Llama whose greedy answer to any prompt is a fixed text: for tests that need a model to say exactly something.

The text's pieces become added tokens of the tiny tokenizer (:func:`tests.tiny.build_tokenizer`); the model's hidden size
is the vocabulary's, its embedding is the identity, every attention and MLP block adds nothing (their output
projections are zero), and the output layer maps each token to the next piece of the script: any other token to the
first piece, the last piece to end-of-text. A real ``LlamaForCausalLM`` saved as safetensors, so loading and generation
run the real code.

    folder = build_scripted_llama(tmp_path / "m", ['"aaaaaa', "bbbbbb", '!"'])   # always answers "aaaaaabbbbbb!"
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from tests.tiny import build_tokenizer


def build_scripted_llama(folder: Path, pieces: list[str]) -> Path:
    """A 1-layer Llama in ``folder`` that answers every prompt with ``"".join(pieces)`` (greedy), then stops."""
    tokenizer = build_tokenizer(folder)
    tokenizer.add_tokens(pieces)
    tokenizer.save_pretrained(folder)
    script = tokenizer.convert_tokens_to_ids(pieces)
    size = len(tokenizer)
    hidden = size + size % 2  # RoPE wants an even head size
    config = LlamaConfig(vocab_size=size, hidden_size=hidden, intermediate_size=8, num_hidden_layers=1, num_attention_heads=1,
                         num_key_value_heads=1, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    following = {token: script[0] for token in range(size)}
    following.update(zip(script, [*script[1:], tokenizer.eos_token_id], strict=True))
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(torch.eye(size, hidden))
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        head = torch.zeros(size, hidden)
        for token, after in following.items():
            head[after, token] = 1.0
        model.lm_head.weight.copy_(head)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    return folder
