"""A model's shape for the training-memory estimate (:mod:`jobs.models.memory`): read from its ``config.json`` or guessed
from its parameter count, LoRA's trainable parameters, and the bytes per token one decoder or encoder layer keeps for the
backward pass (the rules are in :mod:`jobs.models.memory`'s docstring).

    from jobs.models.memory_layers import guess_shape, lora_trainable_params
    hidden, layers = guess_shape(1_000_000_000)
    lora_trainable_params(576, 30, 8, ["q_proj", "v_proj"], q_dim=576, kv_dim=192)   # 460_800
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FP32_BYTES = 4
GUESSED_VOCAB_SIZE = 32_000
"""Vocabulary assumed when the caller does not know it (Llama/Mistral's)."""

_ROLES = ("q", "k", "v", "o", "gate", "up", "down", "qkv")
_ROLE_NAMES = {
    "q": ("q_proj", "q", "query", "query_proj", "q_lin"),
    "k": ("k_proj", "k", "key", "key_proj", "k_lin"),
    "v": ("v_proj", "v", "value", "value_proj", "v_lin"),
    "o": ("o_proj", "o", "out_proj", "dense", "c_proj", "out_lin"),
    "gate": ("gate_proj", "w1"),
    "up": ("up_proj", "w3", "fc1", "c_fc"),
    "down": ("down_proj", "w2", "fc2"),
    "qkv": ("c_attn", "query_key_value", "qkv_proj", "wqkv", "in_proj"),
}
FUSED_QKV_MODEL_TYPES = frozenset({"gpt2", "gpt_bigcode", "bloom", "gpt_neox", "falcon", "codegen", "mpt", "chatglm"})
"""Model types whose attention has one fused q/k/v projection (``c_attn``, ``query_key_value``)."""
ENCODER_MODEL_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "camembert", "distilbert", "mpnet", "electra", "albert", "deberta",
                                 "deberta-v2", "ernie", "xlm", "nomic_bert", "modernbert", "new"})
"""Model types built of BERT-style encoder layers (LayerNorm, a GELU MLP of two matrices, dropout everywhere)."""


@dataclass(frozen=True)
class LayerShape:
    """The sizes of one decoder or encoder layer and the model around it."""

    hidden: int
    layers: int
    intermediate: int
    q_dim: int
    kv_dim: int
    vocab: int
    tied: bool
    heads: int = 0

    def module_dims(self, role: str) -> tuple[int, int]:
        """(in_features, out_features) of one projection of a decoder layer."""
        return {
            "q": (self.hidden, self.q_dim),
            "k": (self.hidden, self.kv_dim),
            "v": (self.hidden, self.kv_dim),
            "o": (self.q_dim, self.hidden),
            "gate": (self.hidden, self.intermediate),
            "up": (self.hidden, self.intermediate),
            "down": (self.intermediate, self.hidden),
            "qkv": (self.hidden, self.q_dim + 2 * self.kv_dim),
        }[role]


def lora_trainable_params(
    hidden_size: int,
    num_layers: int,
    r: int,
    targets: Sequence[str] | None = None,
    *,
    intermediate_size: int | None = None,
    q_dim: int | None = None,
    kv_dim: int | None = None,
) -> int:
    """LoRA's trainable parameters: r·(in_features + out_features) per adapted module per layer (default: q and v)."""
    shape = LayerShape(hidden_size, num_layers, intermediate_size or 4 * hidden_size, q_dim or hidden_size, kv_dim or hidden_size, 0, True)
    per_layer = sum(r * sum(shape.module_dims(role)) for role in lora_target_roles(targets))
    return per_layer * num_layers


def guess_shape(num_params: int) -> tuple[int, int]:
    """(hidden_size, num_layers) of a GPT-style model with P ≈ 12·L·h² and h ≈ 64·L."""
    hidden = max(64, round((64 * num_params / 12) ** (1 / 3)))
    return hidden, max(1, round(hidden / 64))


def config_int(config: Mapping[str, Any], *keys: str) -> int | None:
    """The first of ``keys`` that holds a positive number, as an int (None when none does)."""
    for key in keys:
        value = config.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return int(value)
    return None


def config_float(config: Mapping[str, Any], *keys: str) -> float:
    """The first of ``keys`` that holds a number (0.0 when none does)."""
    for key in keys:
        value = config.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return 0.0


def lora_target_roles(targets: Sequence[str] | None) -> list[str]:
    """Map module names (q_proj, query, c_attn, ...) to the projection roles of a decoder layer; unknown names count as h→h."""
    if not targets:
        return ["q", "v"]
    roles = []
    for target in targets:
        lowered = target.lower()
        role = next((role for role in _ROLES if lowered == role or lowered in _ROLE_NAMES[role]), "o")
        roles.append(role)
    return roles


def layer_shape(
    num_params: int,
    hidden_size: int | None,
    num_layers: int | None,
    intermediate_size: int | None,
    heads: int | None,
    kv_heads: int | None,
    head_dim: int | None,
    vocab_size: int | None,
    tied: bool,
) -> LayerShape:
    """The layer shape from what is known; the rest guessed from ``num_params`` (:func:`guess_shape`, a 32,000 vocabulary)."""
    guessed_hidden, guessed_layers = guess_shape(num_params)
    hidden = hidden_size or guessed_hidden
    layers = num_layers or guessed_layers
    if heads and not head_dim:
        head_dim = hidden // heads
    q_dim = heads * head_dim if heads and head_dim else hidden
    kv_dim = (kv_heads or heads) * head_dim if heads and head_dim else hidden
    heads = heads or max(1, hidden // 64)
    return LayerShape(hidden, layers, intermediate_size or 4 * hidden, q_dim, kv_dim, vocab_size or GUESSED_VOCAB_SIZE, tied, heads)


def decoder_layer_bytes(shape: LayerShape, method: str, act_bytes: int, mask_bytes: int, lora_roles: Sequence[str], lora_r: int) -> int:
    """Bytes per token that one Llama-style decoder layer keeps for the backward pass (see :mod:`jobs.models.memory`)."""
    h, i, q, kv = shape.hidden, shape.intermediate, shape.q_dim, shape.kv_dim
    norms = 2 * (h + 1) * FP32_BYTES  # each RMSNorm upcasts its input to fp32 and keeps it (and 1/rms)
    attention = (2 * q + 2 * kv) * act_bytes + shape.heads * FP32_BYTES  # q and k after RoPE, v, the SDPA output; its fp32 log-sum-exp
    mlp = 3 * i * act_bytes  # gate and up projections, the SiLU output
    total = norms + attention + mlp
    if method in ("lora", "qlora"):
        total += sum(shape.module_dims(role)[0] * (act_bytes + mask_bytes) + lora_r * act_bytes for role in lora_roles)
    elif method == "full":
        total += 2 * h * FP32_BYTES  # the normalised values each norm weight's gradient needs
        if act_bytes == FP32_BYTES:
            total += (2 * h + q + i) * FP32_BYTES  # inputs of q/k/v (shared), o, gate/up (shared), down
        else:
            total += (5 * h + q + i) * act_bytes  # autocast casts the fp32 norm output once per projection
    return total


def encoder_layer_bytes(shape: LayerShape, method: str, act_bytes: int, mask_bytes: int, lora_roles: Sequence[str],
                        lora_r: int) -> int:
    """Bytes per token that one BERT-style encoder layer keeps for the backward pass, counted with ``saved_tensors_hooks`` on
    all-MiniLM-L6-v2 (the attention probabilities, which grow with the length, are added by the caller)."""
    h, i, q = shape.hidden, shape.intermediate, shape.q_dim
    norms = 2 * (h * act_bytes + 2 * FP32_BYTES)  # two LayerNorms keep their input, mean and 1/std
    dropouts = 2 * h * mask_bytes  # the hidden dropouts after the attention output and after the MLP
    attention = 3 * q * act_bytes  # q, k and v for the two attention matmuls
    mlp = i * act_bytes  # the GELU's input
    total = norms + dropouts + attention + mlp
    if method in ("lora", "qlora"):
        total += sum(shape.module_dims(role)[0] * (act_bytes + mask_bytes) + lora_r * act_bytes for role in lora_roles)
    elif method == "full":
        total += (2 * h + q + i) * act_bytes  # the inputs the weight gradients need: q/k/v (shared), output, intermediate, down
    return total
