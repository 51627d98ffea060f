"""The memory one training job needs at its peak, estimated before it is submitted (the budget it must fit: :mod:`.memory_budget`;
a model's shape and the bytes per token of one layer: :mod:`.memory_layers`; text-to-image jobs: :mod:`.memory_images`).

The estimate counts what is alive at the peak of a training step of a Llama-style decoder (RMSNorm, RoPE,
SDPA attention, gated MLP) or a BERT-style encoder, trained the way Adapta trains it (fused AdamW, the
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
                 Encoder layers: 2·h·a + 16 (two LayerNorms) + 2·h·m (hidden dropouts) + 3·q·a + i·a (GELU input),
                 and on CPU with attention dropout heads·s·(2·a + m) (the math path keeps the probabilities).
logits           max(12·t·V, 4·t·V + the output head's fp32 gradient in full fine-tuning): cross-entropy runs in
                 fp32 and when the backward pass starts three fp32 t×V tensors are alive (log-softmax output,
                 its gradient, the logits' gradient). For a small model with a big vocabulary (SmolLM2-135M:
                 V = 49,152, h = 576) this is the largest part, the more so with checkpointing. TRL's fused
                 head (DPO, KTO, GRPO) holds two fp32 tiles of at most 4096 tokens × 32768 instead; a
                 classification head or an embedding's pooling, nothing to speak of.
task, objective  A :class:`Workload` (built from a spec by :mod:`jobs.models.memory_job`): sequences per row (DPO/ORPO's
                 chosen + rejected, embedding pairs and triplets), the full-DPO reference copy (P·4), GRPO's
                 sampling (a key/value cache of batch × accumulation sequences at prompt + completion length).
overhead         Measured fixed cost (``RUNTIME_OVERHEAD_BYTES``): CPU 50 MB, CUDA 100 MB (cuBLAS workspaces).
allocator slack  CPU only: glibc raises its mmap threshold (up to 32 MB) after the first large free, so the
                 step's freed temporaries stay in the heap and the resident size grows past the live tensors;
                 measured 0.2-0.75 of the transient bytes after 3 steps, counted as ``CPU_HEAP_SLACK`` = 0.4.
                 With ``MALLOC_MMAP_THRESHOLD_=131072`` in the training process's environment it disappears
                 (peak RSS about 20 % lower; steps 15-45 % slower in one run on a loaded 2-core VM): pass
                 ``heap_slack=0`` then.
===============  ================================================================================================

``total`` = weights + reference + optimizer + overhead + allocator slack + max(activations + logits,
max(activations, gradients) + one recomputed layer, generation): the start of the backward pass, its end, or sampling.

The process runtime is NOT in the estimate: Python, torch, transformers and Adapta's modules hold about 0.5 GB
of RSS before a model loads, and a GPU's CUDA context (~0.5 GB) is outside ``max_memory_allocated``; the budget
(:mod:`jobs.models.memory_budget`) keeps a reserve for it.

Measured accuracy, estimate ÷ measured peak (the benchmarks write bench/results/*.json; per task and objective:
``bench/memory_calibration.py`` and :mod:`jobs.models.memory_calibration`):

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

    from jobs.models.memory import estimate_for_config
    estimate = estimate_for_config(config, 134_515_008, "lora", batch_size=4, seq_len=512, precision_bytes=4, device="cpu")
    print(estimate.human())
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from jobs.models.memory_layers import (
    ENCODER_MODEL_TYPES,
    FP32_BYTES,
    FUSED_QKV_MODEL_TYPES,
    config_float,
    config_int,
    decoder_layer_bytes,
    encoder_layer_bytes,
    layer_shape,
    lora_target_roles,
    lora_trainable_params,
)

if TYPE_CHECKING:  # jobs.spec imports pydantic; this module stays importable with the standard library alone
    from jobs.spec import Method

Device = Literal["cpu", "cuda"]

METHODS = ("lora", "qlora", "prompt-tuning", "full")
"""The values of :class:`jobs.spec.Method` (a ``str`` enum, so its members compare equal to these)."""
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
CHUNKED_HEAD_TILE = (4096, 32768)
"""TRL's fused LM head (DPO, KTO, GRPO) projects (tokens, vocabulary) tiles of at most this size, never the whole logits."""
CHUNKED_HEAD_COPIES = 2
"""fp32 tiles alive at once in TRL's fused head: the projected tile and its exponentials (the backward recomputes the tile)."""


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
    reference: int = 0
    """Full-fine-tuning DPO/KTO: the frozen copy of the base model that scores the reference (LoRA switches its adapter off instead)."""
    generation: int = 0
    """GRPO: what sampling the completions holds before the training pass (the key/value cache and one step's logits)."""
    total: int = field(init=False)
    """The peak: weights + reference + optimizer + overhead + allocator_slack + :attr:`transient`."""

    @property
    def transient(self) -> int:
        """What a step allocates and frees at its peak: the training pass (max(activations + logits, max(activations, gradients)
        + recompute)) or, in GRPO, the sampling before it, whichever is larger."""
        return max(self.activations + self.logits, max(self.activations, self.gradients) + self.recompute, self.generation)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", self.weights + self.reference + self.optimizer + self.overhead + self.allocator_slack + self.transient)

    def human(self) -> str:
        """One line such as ``≈ 2.9 GB at the peak (weights 0.5 GB, activations 1.2 GB, logits 0.6 GB, ...)``."""
        parts = ", ".join(
            f"{label} {format_bytes(value)}"
            for label, value in (
                ("weights", self.weights),
                ("reference copy", self.reference),
                ("gradients", self.gradients),
                ("optimizer", self.optimizer),
                ("activations", self.activations),
                ("recomputed layer", self.recompute),
                ("logits", self.logits),
                ("generation", self.generation),
                ("overhead", self.overhead),
                ("allocator slack", self.allocator_slack),
            )
            if value or label in ("weights", "activations")
        )
        return f"≈ {format_bytes(self.total)} at the peak ({parts})"


@dataclass(frozen=True)
class Workload:
    """What one training step of a task and objective processes, beyond ``batch × length`` tokens (see :mod:`jobs.models.memory_job`,
    which builds it from a job spec). The default is causal-LM SFT: one sequence per row and full vocabulary logits."""

    head: Literal["vocabulary", "chunked", "none"] = "vocabulary"
    """vocabulary: fp32 (tokens × vocabulary) logits and their cross-entropy copies (transformers' causal-LM loss, ORPO);
    chunked: TRL's fused LM head, which projects tiles of :data:`CHUNKED_HEAD_TILE` (DPO, KTO, GRPO); none: a classification
    head or an embedding's pooling, a few numbers per row."""
    sequences_per_row: int = 1
    """Sequences each row becomes in one training pass: 2 for DPO/ORPO (chosen and rejected) and embedding pairs, 3 for triplets."""
    rows_with_gradients: int | None = None
    """Sequences whose activations are alive at once when fewer than batch × sequences_per_row (cached-mnrl embeds a mini-batch
    at a time); None: all of them."""
    sequence_tokens: int | None = None
    """Tokens of each training sequence when not the batch's length (GRPO: the prompt plus the sampled completion)."""
    reference_copy: bool = False
    """A frozen copy of the whole base model scores the reference (DPO/KTO full fine-tuning, GRPO full with a KL penalty)."""
    generated_sequences: int = 0
    """GRPO: completions sampled together before a training pass (batch × gradient accumulation)."""
    generated_tokens: int = 0
    """GRPO: prompt plus completion tokens of each sampled sequence (its key/value cache grows to this length)."""


def format_bytes(count: int) -> str:
    """Bytes as a short decimal-unit string: 512 B, 3.4 MB, 1.2 GB."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


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
    workload: Workload | None = None,
    encoder: bool = False,
    attention_dropout: bool = False,
) -> MemoryEstimate:
    """Estimate the peak training memory in bytes of a model of ``num_params`` parameters (rules in the module docstring).

    ``workload`` is what the task and objective make of a batch (default: causal-LM SFT); ``encoder`` counts BERT-style
    layers instead of Llama-style ones; ``attention_dropout`` (the config's attention dropout is above 0) makes attention on
    CPU keep its (heads × length × length) probabilities, dropout mask and dropped-out copy for the backward pass.

    ``dtype_bytes`` is the training precision: 4 for fp32, 2 for bf16/fp16 (LoRA loads the base in it; full
    fine-tuning keeps fp32 weights and autocasts). ``trainable_params`` is the exact count when known; else
    LoRA counts rank ``lora_r`` on ``lora_targets`` (module names; default q_proj and v_proj) when the shape
    is known, and ``trainable_fraction`` (default :data:`DEFAULT_TRAINABLE_FRACTION`) of P otherwise.
    Unknown shape values are guessed (see :func:`jobs.models.memory_layers.guess_shape`). ``device`` ("cpu" or "cuda") sets the
    dropout-mask size, the overhead and the heap slack; pass it, since the default (``cuda`` when
    ``dtype_bytes < 4``, else ``cpu``) is wrong for fp32 training on a GPU. ``heap_slack`` overrides
    :data:`CPU_HEAP_SLACK` (0 when the training process runs with ``MALLOC_MMAP_THRESHOLD_`` set).
    """
    name = _method_name(method)
    workload = workload or Workload()
    seq_len = workload.sequence_tokens or seq_len
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
    shape = layer_shape(num_params, hidden_size, num_layers, intermediate_size, num_attention_heads, num_key_value_heads, head_dim, vocab_size,
                   tie_word_embeddings)
    targets = lora_target_roles(lora_targets)

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

    rows = min(batch_size * workload.sequences_per_row, workload.rows_with_gradients or batch_size * workload.sequences_per_row)
    tokens = rows * seq_len
    mask_bytes = 1 if device == "cuda" else dtype_bytes  # CUDA's fused dropout keeps a bool mask, CPU a float one
    per_token = (encoder_layer_bytes(shape, name, dtype_bytes, mask_bytes, targets, lora_r) if encoder
                 else decoder_layer_bytes(shape, name, dtype_bytes, mask_bytes, targets, lora_r))
    if attention_dropout and device == "cpu":  # the math attention path: softmax output, its dropout mask and dropped-out copy
        per_token += shape.heads * seq_len * (2 * dtype_bytes + mask_bytes)
    layer = tokens * per_token
    vocabulary_head = workload.head != "none" and not encoder
    head_copy = layer_copies = 0
    if name == "full" and dtype_bytes < FP32_BYTES:  # autocast's 16-bit copies of the weights, kept for the backward pass
        head_copy = dtype_bytes * shape.vocab * shape.hidden if vocabulary_head else 0
        layer_copies = dtype_bytes * max(0, num_params - embedding_params) // shape.layers
    output_head_gradient = FP32_BYTES * shape.vocab * shape.hidden if name == "full" and vocabulary_head else 0
    logits = _logits_bytes(workload.head if vocabulary_head else "none", tokens, shape.vocab, output_head_gradient)
    if encoder:  # the embeddings' LayerNorm input and dropout mask, and the pooled or classified last hidden state
        head = tokens * (shape.hidden * (2 * dtype_bytes + mask_bytes) + 2 * FP32_BYTES)
    else:  # the final RMSNorm keeps its fp32 input; in full fine-tuning also its output and the head's input
        head = tokens * (shape.hidden + 1) * FP32_BYTES + (tokens * shape.hidden * (FP32_BYTES + dtype_bytes) if name == "full" else 0)
    if gradient_checkpointing:
        residual_bytes = FP32_BYTES if name == "full" else dtype_bytes
        activations = tokens * shape.hidden * residual_bytes * shape.layers + head_copy + head
        recompute = layer + layer_copies
    else:
        activations = (layer + layer_copies) * shape.layers + head_copy + head
        recompute = 0
    reference = num_params * (FP32_BYTES if name == "full" else dtype_bytes) if workload.reference_copy else 0
    generation = 0
    if workload.generated_sequences:  # the key/value cache of every sampled sequence at full length, and one step's fp32 logits
        generation = workload.generated_sequences * (workload.generated_tokens * shape.layers * 2 * shape.kv_dim * dtype_bytes
                                                     + LOGITS_FP32_COPIES * shape.vocab * FP32_BYTES)
    overhead = RUNTIME_OVERHEAD_BYTES[device] if include_overhead else 0
    estimate = MemoryEstimate(weights=int(weights), gradients=int(gradients), optimizer=int(optimizer), activations=int(activations),
                              logits=int(logits), overhead=int(overhead), recompute=int(recompute), reference=int(reference),
                              generation=int(generation))
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
    workload: Workload | None = None,
) -> MemoryEstimate:
    """The estimate for a model described by its ``config.json`` (a dict; a Hub ``model_info.config`` works too).

    Reads hidden_size, num_hidden_layers, intermediate_size, num_attention_heads, num_key_value_heads,
    head_dim, vocab_size and tie_word_embeddings (GPT-2 style n_embd/n_layer/n_head/n_inner as well); what is
    missing is guessed from ``num_params``. LoRA's trainable count is exact: ``lora_r``·(in + out) per
    adapted module per layer, with ``lora_targets`` "auto" or "all-linear" (Adapta's default: every linear layer of the
    decoder or encoder layers, :func:`jobs.trainers.methods.all_linear_modules`) or a list of module names.
    ``model_type`` tells an encoder (:data:`ENCODER_MODEL_TYPES`) from a decoder; ``workload`` is what the task and objective
    make of a batch (default: causal-LM SFT; :func:`jobs.models.memory_job.workload_for` builds it from a spec); an encoder
    never has vocabulary logits.
    """
    text = config.get("text_config") if isinstance(config.get("text_config"), Mapping) else None
    source: Mapping[str, Any] = text or config
    hidden = config_int(source, "hidden_size", "n_embd", "d_model", "dim")
    layers = config_int(source, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    heads = config_int(source, "num_attention_heads", "n_head", "n_heads")
    kv_heads = config_int(source, "num_key_value_heads", "num_kv_heads") or heads
    intermediate = config_int(source, "intermediate_size", "n_inner", "ffn_dim", "hidden_dim")
    vocab = config_int(source, "vocab_size") or config_int(config, "vocab_size")
    head_dim = config_int(source, "head_dim")
    tied = source.get("tie_word_embeddings", config.get("tie_word_embeddings", True))
    model_type = str(source.get("model_type") or config.get("model_type") or "")
    encoder = model_type in ENCODER_MODEL_TYPES
    if lora_targets in ("auto", "all-linear"):  # auto: every linear layer but the heads, as jobs.trainers.methods adapts it
        roles: list[str] = (["qkv", "o", "up", "down"] if model_type in FUSED_QKV_MODEL_TYPES
                 else ["q", "k", "v", "o", "up", "down"] if encoder else ["q", "k", "v", "o", "gate", "up", "down"])
    else:
        roles = [lora_targets] if isinstance(lora_targets, str) else list(lora_targets)
    trainable = None
    if _method_name(method) in ("lora", "qlora") and hidden and layers:
        shape = layer_shape(num_params, hidden, layers, intermediate, heads, kv_heads, head_dim, vocab, bool(tied))
        trainable = lora_trainable_params(shape.hidden, shape.layers, lora_r, roles, intermediate_size=shape.intermediate,
                                          q_dim=shape.q_dim, kv_dim=shape.kv_dim)
    return estimate_training_memory(
        num_params, method, batch_size=batch_size, seq_len=seq_len, hidden_size=hidden, num_layers=layers, dtype_bytes=precision_bytes,
        vocab_size=vocab, intermediate_size=intermediate, num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=head_dim,
        tie_word_embeddings=bool(tied), trainable_params=trainable, lora_targets=roles, lora_r=lora_r, gradient_checkpointing=gradient_checkpointing,
        device=device, heap_slack=heap_slack, workload=workload, encoder=encoder,
        attention_dropout=config_float(source, "attention_probs_dropout_prob", "attention_dropout") > 0,
    )


def _method_name(method: Method | str) -> str:
    name = str(getattr(method, "value", method))
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; use one of {', '.join(METHODS)}")
    return name


def _logits_bytes(head: str, tokens: int, vocab: int, output_head_gradient: int) -> int:
    """Bytes of the output head at the start of the backward pass (see :attr:`Workload.head`)."""
    if head == "none":
        return 0
    if head == "chunked":
        tile_tokens, tile_vocab = CHUNKED_HEAD_TILE
        return CHUNKED_HEAD_COPIES * min(tokens, tile_tokens) * min(vocab, tile_vocab) * FP32_BYTES + output_head_gradient
    return max(tokens * vocab * FP32_BYTES * LOGITS_FP32_COPIES, tokens * vocab * FP32_BYTES + output_head_gradient)
