"""The memory one training job needs at its peak, estimated before it is submitted, and the budget it must fit.

The estimate counts what is alive at the peak of a training step of a Llama-style decoder (RMSNorm, RoPE,
SDPA attention, gated MLP) trained with transformers' Trainer the way Adapta trains it (fused AdamW, the
model outputs dropped before ``backward``, ``zero_grad(set_to_none=True)``). Notation: P parameters, T of them
trainable, L layers, hidden size h, MLP width i, q = heads·head_dim, kv = kv_heads·head_dim, vocabulary V,
t = batch·seq tokens per step, a = bytes per activation (4 in fp32, 2 in bf16/fp16; CPU training is fp32).

===============  ================================================================================================
part             bytes
===============  ================================================================================================
weights          LoRA / prompt tuning: P·a (the frozen base, loaded at the training precision) + 4·T (adapters
                 stay fp32). QLoRA: NF4 linear weights at 4.127/8 bytes + 16-bit embeddings + 4·T. Full: 4·P at
                 any precision (Adapta loads fp32 and autocasts, see ``resolve_precision``).
gradients        4·T. They appear while the backward pass frees activations, so they count at the peak only when
                 they outweigh the activations (full fine-tuning of a big model on short sequences).
optimizer        8·T: AdamW's two fp32 moments (from the second step on).
activations      What autograd keeps for the backward pass, per token and layer, counted tensor by tensor with
                 ``saved_tensors_hooks`` (bench/gpu_memory_check.py reports the measured figure):
                 2·h·4 (each RMSNorm keeps its input upcast to fp32) + (2·q + 2·kv)·a (q and k after RoPE, v,
                 the SDPA output; no s×s matrix) + 3·i·a (gate, up, SiLU output). LoRA adds per adapted module
                 in_features·(a + m) (dropout output and mask; m = 1 byte on CUDA, a on CPU). Full fine-tuning
                 adds what the weight gradients need: 2·h·4 (normalised values) + the projections' inputs,
                 (2·h + q + i)·4 in fp32 or (5·h + q + i)·a under autocast (one 16-bit cast per projection), and
                 in 16-bit autocast's copy of every weight, 2·P. With gradient checkpointing only each layer's
                 input is kept (h·a, fp32 in full fine-tuning) and one layer is recomputed at a time.
logits           max(12·t·V, 4·t·V + the output head's fp32 gradient in full fine-tuning): cross-entropy runs in
                 fp32 and when the backward pass starts three fp32 t×V tensors are alive (log-softmax output,
                 its gradient, the logits' gradient). For a small model with a big vocabulary (SmolLM2-135M:
                 V = 49,152, h = 576) this is the largest part, the more so with checkpointing.
overhead         Measured fixed cost (``RUNTIME_OVERHEAD_BYTES``): CPU 50 MB, CUDA 100 MB (cuBLAS workspaces).
allocator slack  CPU only: glibc raises its mmap threshold (up to 32 MB) after the first large free, so the
                 step's freed temporaries stay in the heap and the resident size grows past the live tensors;
                 measured 0.2-0.75 of the transient bytes after 3 steps, counted as ``CPU_HEAP_SLACK`` = 0.4.
                 With ``MALLOC_MMAP_THRESHOLD_=131072`` in the training process's environment it disappears
                 (peak RSS about 20 % lower; steps 15-45 % slower in one run on a loaded 2-core VM): pass
                 ``heap_slack=0`` then.
===============  ================================================================================================

``total`` = weights + optimizer + overhead + allocator slack + max(activations + logits,
max(activations, gradients) + one recomputed layer): the start of the backward pass, or its end.

The process runtime is NOT in the estimate: Python, torch, transformers and Adapta's modules hold about 0.5 GB
of RSS before a model loads, and a GPU's CUDA context (~0.5 GB) is outside ``max_memory_allocated``.
:func:`budget_memory` keeps a reserve for it; :func:`cpu_training_budget` gives the CPU figure to compare with
``total``: total RAM minus what running training children hold (not psutil's momentary ``available``).

Measured accuracy, estimate ÷ measured peak (the two benchmarks write bench/results/*.json):

- CPU, ``bench/memory_estimate.py``: real SmolLM2-135M, fp32, LoRA r=8 on q/v and full, batch 4, seq 256 and
  1024, checkpointing off/on, Adapta's loading and Trainer, 3 steps, peak RSS minus the RSS after imports:
  0.88-1.11 (6 configurations; the heap slack is what scatters them); with ``MALLOC_MMAP_THRESHOLD_`` set and
  ``heap_slack=0``: 1.00-1.01, so the tensor-by-tensor part is exact on CPU too.
- GPU, ``bench/gpu_memory_check.py`` on an H200: Qwen2.5-0.5B-shaped Llama (random weights), bf16 autocast,
  LoRA r=8 at batch 4 × seq 512/1024 and batch 1 × seq 2048/4096, full fine-tuning at 4 × 512, checkpointing
  off/on, fused AdamW, ``max_memory_allocated`` in a fresh process: 0.99-1.01 (10 configurations).

Not modelled: padded batches on CUDA (a 4-D mask makes SDPA repeat k/v per head), architectures far from
Llama (parallel attention, MoE, learned position embeddings), DeepSpeed/FSDP sharding, bitsandbytes' buffers
(QLoRA was measured on no machine here: treat it as ±30 %). Unknown shapes are guessed from P with the
GPT-style relation P ≈ 12·L·h², h ≈ 64·L, an MLP of 4·h and a 32,000-token vocabulary (within ~1.5x).

    from jobs.models.memory import cpu_training_budget, estimate_for_config
    estimate = estimate_for_config(config, 134_515_008, "lora", batch_size=4, seq_len=512, precision_bytes=4, device="cpu")
    device, budget = cpu_training_budget()
    print(estimate.human(), "fits" if estimate.total <= budget else "does not fit", device)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # jobs.spec imports pydantic; this module stays importable with the standard library alone
    from jobs.spec import Method

Device = Literal["cpu", "cuda"]

METHODS = ("lora", "qlora", "prompt-tuning", "full")
"""The values of :class:`jobs.spec.Method` (a ``str`` enum, so its members compare equal to these)."""
FP32_BYTES = 4
ADAM_BYTES_PER_PARAM = 8
"""Two fp32 moments (exp_avg, exp_avg_sq) per trainable parameter."""
QLORA_BYTES_PER_PARAM = 4.127 / 8
"""NF4 weights plus double-quantised block constants."""
LOGITS_FP32_COPIES = 3
"""fp32 (tokens × vocab) tensors alive when the backward pass starts: log-softmax output, its gradient, the logits' gradient."""
RUNTIME_OVERHEAD_BYTES: dict[str, int] = {"cpu": 50_000_000, "cuda": 100_000_000}
"""Measured fixed cost on top of the counted tensors: on CPU 40-50 MB (Trainer, accelerate, oneDNN buffers), on CUDA
55-180 MB (cuBLAS/cuBLASLt workspaces allocated on first use, allocator rounding)."""
CPU_HEAP_SLACK = 0.4
"""On CPU, the share of a step's transient bytes that glibc's heap keeps resident after they are freed (measured 0.2-0.75)."""
DEFAULT_TRAINABLE_FRACTION: dict[str, float] = {"lora": 0.01, "qlora": 0.01, "prompt-tuning": 0.0001, "full": 1.0}
"""Share of parameters that train when neither the count nor the model's shape is known."""
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
_FUSED_QKV_MODEL_TYPES = {"gpt2", "gpt_bigcode", "bloom", "gpt_neox", "falcon", "codegen", "mpt", "chatglm"}


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes of each part of training, and ``total``: the peak of a training step (see the module docstring)."""

    weights: int
    """The model weights: frozen base plus adapters, or the fp32 weights of full fine-tuning."""
    gradients: int
    """Gradients of the trainable parameters (they exist from the backward pass to the optimizer step)."""
    optimizer: int
    """AdamW state: two fp32 moments per trainable parameter."""
    activations: int
    """What the backward pass keeps when it starts: activations (with gradient checkpointing: each layer's input), and
    in 16-bit full fine-tuning autocast's bf16/fp16 weight copies."""
    logits: int = 0
    """The fp32 logits' cross-entropy copies alive at the start of the backward pass."""
    overhead: int = 0
    """A fixed, measured runtime overhead (cuBLAS workspaces, Trainer and accelerate objects)."""
    recompute: int = 0
    """With gradient checkpointing: one layer's activations, recomputed during the backward pass."""
    allocator_slack: int = 0
    """On CPU: freed memory glibc's heap keeps resident (a share of the step's transient bytes)."""
    total: int = field(init=False)
    """The peak: weights + optimizer + overhead + allocator_slack + :attr:`transient`."""

    @property
    def transient(self) -> int:
        """What a step allocates and frees at its peak: max(activations + logits, max(activations, gradients) + recompute)."""
        return max(self.activations + self.logits, max(self.activations, self.gradients) + self.recompute)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", self.weights + self.optimizer + self.overhead + self.allocator_slack + self.transient)

    def human(self) -> str:
        """One line such as ``≈ 2.9 GB at the peak (weights 0.5 GB, activations 1.2 GB, logits 0.6 GB, ...)``."""
        parts = ", ".join(
            f"{label} {format_bytes(value)}"
            for label, value in (
                ("weights", self.weights),
                ("gradients", self.gradients),
                ("optimizer", self.optimizer),
                ("activations", self.activations),
                ("recomputed layer", self.recompute),
                ("logits", self.logits),
                ("overhead", self.overhead),
                ("allocator slack", self.allocator_slack),
            )
            if value or label in ("weights", "activations")
        )
        return f"≈ {format_bytes(self.total)} at the peak ({parts})"


def format_bytes(count: int) -> str:
    """Bytes as a short decimal-unit string: 512 B, 3.4 MB, 1.2 GB."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


@dataclass(frozen=True)
class _Shape:
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


def estimate_training_memory(
    num_params: int,
    method: Method | str,
    *,
    trainable_fraction: float | None = None,
    batch_size: int = 8,
    seq_len: int = 512,
    hidden_size: int | None = None,
    num_layers: int | None = None,
    dtype_bytes: int = 4,
    vocab_size: int | None = None,
    intermediate_size: int | None = None,
    num_attention_heads: int | None = None,
    num_key_value_heads: int | None = None,
    head_dim: int | None = None,
    tie_word_embeddings: bool = True,
    trainable_params: int | None = None,
    lora_targets: Sequence[str] | None = None,
    lora_r: int = 8,
    gradient_checkpointing: bool = False,
    device: Device | None = None,
    include_overhead: bool = True,
    heap_slack: float | None = None,
) -> MemoryEstimate:
    """Estimate the peak training memory in bytes of a model of ``num_params`` parameters (rules in the module docstring).

    ``dtype_bytes`` is the training precision: 4 for fp32, 2 for bf16/fp16 (LoRA loads the base in it; full
    fine-tuning keeps fp32 weights and autocasts). ``trainable_params`` is the exact count when known; else
    LoRA counts rank ``lora_r`` on ``lora_targets`` (module names; default q_proj and v_proj) when the shape
    is known, and ``trainable_fraction`` (default :data:`DEFAULT_TRAINABLE_FRACTION`) of P otherwise.
    Unknown shape values are guessed (see :func:`guess_shape`). ``device`` ("cpu" or "cuda") sets the
    dropout-mask size, the overhead and the heap slack; pass it, since the default (``cuda`` when
    ``dtype_bytes < 4``, else ``cpu``) is wrong for fp32 training on a GPU. ``heap_slack`` overrides
    :data:`CPU_HEAP_SLACK` (0 when the training process runs with ``MALLOC_MMAP_THRESHOLD_`` set).
    """
    name = _method_name(method)
    if num_params <= 0:
        raise ValueError("num_params must be positive")
    if trainable_fraction is not None and not 0 < trainable_fraction <= 1:
        raise ValueError("trainable_fraction must be in (0, 1]")
    if dtype_bytes not in (2, 4):
        raise ValueError("dtype_bytes must be 4 (fp32) or 2 (bf16/fp16)")
    if batch_size <= 0 or seq_len <= 0:
        raise ValueError("batch_size and seq_len must be positive")
    device = device or ("cuda" if dtype_bytes < 4 else "cpu")
    shape_known = hidden_size is not None and num_layers is not None
    shape = _shape(num_params, hidden_size, num_layers, intermediate_size, num_attention_heads, num_key_value_heads, head_dim, vocab_size,
                   tie_word_embeddings)
    targets = _lora_roles(lora_targets)

    if name == "full":
        trainable = num_params
    elif trainable_params is not None:
        trainable = int(trainable_params)
    elif trainable_fraction is None and shape_known and name in ("lora", "qlora"):
        trainable = lora_trainable_params(shape.hidden, shape.layers, lora_r, targets, intermediate_size=shape.intermediate,
                                          q_dim=shape.q_dim, kv_dim=shape.kv_dim)
    else:
        trainable = int(num_params * (trainable_fraction or DEFAULT_TRAINABLE_FRACTION[name]))

    embedding_params = min(num_params, shape.vocab * shape.hidden * (1 if shape.tied else 2))
    if name == "qlora":
        weights = int((num_params - embedding_params) * QLORA_BYTES_PER_PARAM) + embedding_params * 2 + trainable * FP32_BYTES
        dtype_bytes = 2  # QLoRA computes in bf16
    elif name == "full":
        weights = num_params * FP32_BYTES
    else:
        weights = num_params * dtype_bytes + trainable * FP32_BYTES
    gradients = trainable * FP32_BYTES
    optimizer = trainable * ADAM_BYTES_PER_PARAM

    tokens = batch_size * seq_len
    layer = tokens * _layer_activation_bytes(shape, name, dtype_bytes, device, targets, lora_r)
    head_copy = layer_copies = 0
    if name == "full" and dtype_bytes < FP32_BYTES:  # autocast's 16-bit copies of the weights, kept for the backward pass
        head_copy = dtype_bytes * shape.vocab * shape.hidden
        layer_copies = dtype_bytes * max(0, num_params - embedding_params) // shape.layers
    output_head_gradient = FP32_BYTES * shape.vocab * shape.hidden if name == "full" else 0
    logits = max(tokens * shape.vocab * FP32_BYTES * LOGITS_FP32_COPIES, tokens * shape.vocab * FP32_BYTES + output_head_gradient)
    # the final RMSNorm (outside the checkpointed layers) keeps its fp32 input; in full fine-tuning also its output and the head's input
    head = tokens * (shape.hidden + 1) * FP32_BYTES + (tokens * shape.hidden * (FP32_BYTES + dtype_bytes) if name == "full" else 0)
    if gradient_checkpointing:
        residual_bytes = FP32_BYTES if name == "full" else dtype_bytes
        activations = tokens * shape.hidden * residual_bytes * shape.layers + head_copy + head
        recompute = layer + layer_copies
    else:
        activations = (layer + layer_copies) * shape.layers + head_copy + head
        recompute = 0
    overhead = RUNTIME_OVERHEAD_BYTES[device] if include_overhead else 0
    estimate = MemoryEstimate(weights=int(weights), gradients=int(gradients), optimizer=int(optimizer), activations=int(activations),
                              logits=int(logits), overhead=int(overhead), recompute=int(recompute))
    slack = CPU_HEAP_SLACK if heap_slack is None and device == "cpu" else (heap_slack or 0.0)
    if slack:
        estimate = replace(estimate, allocator_slack=int(slack * estimate.transient))
    return estimate


def estimate_for_config(
    config: Mapping[str, Any],
    num_params: int,
    method: Method | str,
    *,
    batch_size: int,
    seq_len: int,
    precision_bytes: int = 4,
    gradient_checkpointing: bool = False,
    lora_r: int = 8,
    lora_targets: str | Sequence[str] = "auto",
    device: Device | None = None,
    heap_slack: float | None = None,
) -> MemoryEstimate:
    """The estimate for a model described by its ``config.json`` (a dict; a Hub ``model_info.config`` works too).

    Reads hidden_size, num_hidden_layers, intermediate_size, num_attention_heads, num_key_value_heads,
    head_dim, vocab_size and tie_word_embeddings (GPT-2 style n_embd/n_layer/n_head/n_inner as well); what is
    missing is guessed from ``num_params``. LoRA's trainable count is exact: ``lora_r``·(in + out) per
    adapted module per layer, with ``lora_targets`` "auto" (PEFT's default: the query and value
    projections), "all-linear" or a list of module names.
    """
    text = config.get("text_config") if isinstance(config.get("text_config"), Mapping) else None
    source: Mapping[str, Any] = text or config
    hidden = _config_int(source, "hidden_size", "n_embd", "d_model")
    layers = _config_int(source, "num_hidden_layers", "n_layer", "num_layers")
    heads = _config_int(source, "num_attention_heads", "n_head")
    kv_heads = _config_int(source, "num_key_value_heads", "num_kv_heads") or heads
    intermediate = _config_int(source, "intermediate_size", "n_inner", "ffn_dim")
    vocab = _config_int(source, "vocab_size") or _config_int(config, "vocab_size")
    head_dim = _config_int(source, "head_dim")
    tied = source.get("tie_word_embeddings", config.get("tie_word_embeddings", True))
    model_type = str(source.get("model_type") or config.get("model_type") or "")
    if lora_targets == "auto":
        roles: list[str] = ["qkv"] if model_type in _FUSED_QKV_MODEL_TYPES else ["q", "v"]
    elif lora_targets == "all-linear":
        roles = ["qkv", "o", "up", "down"] if model_type in _FUSED_QKV_MODEL_TYPES else ["q", "k", "v", "o", "gate", "up", "down"]
    else:
        roles = [lora_targets] if isinstance(lora_targets, str) else list(lora_targets)
    trainable = None
    if _method_name(method) in ("lora", "qlora") and hidden and layers:
        shape = _shape(num_params, hidden, layers, intermediate, heads, kv_heads, head_dim, vocab, bool(tied))
        trainable = lora_trainable_params(shape.hidden, shape.layers, lora_r, roles, intermediate_size=shape.intermediate,
                                          q_dim=shape.q_dim, kv_dim=shape.kv_dim)
    return estimate_training_memory(
        num_params, method, batch_size=batch_size, seq_len=seq_len, hidden_size=hidden, num_layers=layers, dtype_bytes=precision_bytes,
        vocab_size=vocab, intermediate_size=intermediate, num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=head_dim,
        tie_word_embeddings=bool(tied), trainable_params=trainable, lora_targets=roles, lora_r=lora_r, gradient_checkpointing=gradient_checkpointing,
        device=device, heap_slack=heap_slack,
    )


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
    shape = _Shape(hidden_size, num_layers, intermediate_size or 4 * hidden_size, q_dim or hidden_size, kv_dim or hidden_size, 0, True)
    per_layer = sum(r * sum(shape.module_dims(role)) for role in _lora_roles(targets))
    return per_layer * num_layers


def budget_memory(device_total_bytes: int, held_by_running_jobs_bytes: int = 0, *, reserve_bytes: int | None = None) -> int:
    """Bytes a new training job may use: the device's total, minus what running jobs hold, minus a reserve.

    The reserve (default: 10 % of the total, at least 1 GB) covers the process runtime the estimate leaves
    out (Python, torch and transformers, ~0.5 GB per process; the CUDA context on a GPU) and the system.
    """
    if device_total_bytes <= 0:
        raise ValueError("device_total_bytes must be positive")
    reserve = reserve_bytes if reserve_bytes is not None else max(1_000_000_000, device_total_bytes // 10)
    return max(0, int(device_total_bytes) - max(0, int(held_by_running_jobs_bytes)) - int(reserve))


def training_processes_rss(marker: str = "jobs.queue.child") -> int:
    """Resident bytes of this machine's training processes: those whose command line contains ``marker``."""
    import psutil

    held = 0
    me = os.getpid()
    for process in psutil.process_iter(["pid", "cmdline", "memory_info"]):
        try:
            info = process.info
            if info["pid"] == me or not any(marker in part for part in info.get("cmdline") or []):
                continue
            memory = info.get("memory_info")
            held += int(memory.rss) if memory is not None else 0
        except (psutil.Error, TypeError):
            continue
    return held


def cpu_training_budget() -> tuple[str, int]:
    """(description, bytes) a new CPU training job may use: total RAM minus what running training children hold.

    Unlike psutil's momentary ``available`` figure, this does not move with the page cache or with a job that
    is still loading: it is the machine's total memory, minus the resident memory of processes running
    ``jobs.queue.child`` (Adapta's training children), minus :func:`budget_memory`'s reserve. Compare it with
    ``MemoryEstimate.total``.
    """
    import psutil

    total = int(psutil.virtual_memory().total)
    held = training_processes_rss()
    budget = budget_memory(total, held)
    held_text = f", {format_bytes(held)} held by running jobs" if held else ""
    return f"CPU ({format_bytes(total)} RAM{held_text}, {format_bytes(budget)} for a new job)", budget


def guess_shape(num_params: int) -> tuple[int, int]:
    """(hidden_size, num_layers) of a GPT-style model with P ≈ 12·L·h² and h ≈ 64·L."""
    hidden = max(64, round((64 * num_params / 12) ** (1 / 3)))
    return hidden, max(1, round(hidden / 64))


def _method_name(method: Method | str) -> str:
    name = str(getattr(method, "value", method))
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; use one of {', '.join(METHODS)}")
    return name


def _config_int(config: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return int(value)
    return None


def _lora_roles(targets: Sequence[str] | None) -> list[str]:
    """Map module names (q_proj, query, c_attn, ...) to the projection roles of a decoder layer; unknown names count as h→h."""
    if not targets:
        return ["q", "v"]
    roles = []
    for target in targets:
        lowered = target.lower()
        role = next((role for role in _ROLES if lowered == role or lowered in _ROLE_NAMES[role]), "o")
        roles.append(role)
    return roles


def _shape(
    num_params: int,
    hidden_size: int | None,
    num_layers: int | None,
    intermediate_size: int | None,
    heads: int | None,
    kv_heads: int | None,
    head_dim: int | None,
    vocab_size: int | None,
    tied: bool,
) -> _Shape:
    guessed_hidden, guessed_layers = guess_shape(num_params)
    hidden = hidden_size or guessed_hidden
    layers = num_layers or guessed_layers
    if heads and not head_dim:
        head_dim = hidden // heads
    q_dim = heads * head_dim if heads and head_dim else hidden
    kv_dim = (kv_heads or heads) * head_dim if heads and head_dim else hidden
    heads = heads or max(1, hidden // 64)
    return _Shape(hidden, layers, intermediate_size or 4 * hidden, q_dim, kv_dim, vocab_size or GUESSED_VOCAB_SIZE, tied, heads)


def _layer_activation_bytes(shape: _Shape, method: str, act_bytes: int, device: str, lora_roles: Sequence[str], lora_r: int) -> int:
    """Bytes per token that one decoder layer keeps for the backward pass (see the module docstring)."""
    h, i, q, kv = shape.hidden, shape.intermediate, shape.q_dim, shape.kv_dim
    norms = 2 * (h + 1) * FP32_BYTES  # each RMSNorm upcasts its input to fp32 and keeps it (and 1/rms)
    attention = (2 * q + 2 * kv) * act_bytes + shape.heads * FP32_BYTES  # q and k after RoPE, v, the SDPA output; its fp32 log-sum-exp
    mlp = 3 * i * act_bytes  # gate and up projections, the SiLU output
    total = norms + attention + mlp
    if method in ("lora", "qlora"):
        mask_bytes = 1 if device == "cuda" else act_bytes  # CUDA's fused dropout keeps a bool mask, CPU a float one
        total += sum(shape.module_dims(role)[0] * (act_bytes + mask_bytes) + lora_r * act_bytes for role in lora_roles)
    elif method == "full":
        total += 2 * h * FP32_BYTES  # the normalised values each norm weight's gradient needs
        if act_bytes == FP32_BYTES:
            total += (2 * h + q + i) * FP32_BYTES  # inputs of q/k/v (shared), o, gate/up (shared), down
        else:
            total += (5 * h + q + i) * act_bytes  # autocast casts the fp32 norm output once per projection
    return total
