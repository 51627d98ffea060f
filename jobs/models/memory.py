"""A rough, documented estimate of the memory one training job needs, shown before a job is submitted.

Per parameter (P parameters, T of them trainable, ``dtype_bytes`` per loaded base weight):

==============  ==========================  ===========================  ==========================================
method          weights                     gradients                    optimizer (AdamW: two fp32 moments)
==============  ==========================  ===========================  ==========================================
full            P·dtype_bytes               P·dtype_bytes                8·P, plus a 4·P fp32 master copy when the
                                                                         weights are 16-bit (mixed precision)
lora            P·dtype_bytes + 4·T         4·T (adapters stay fp32)     8·T
prompt-tuning   same as lora                4·T                          8·T
qlora           P·4.127/8 + 4·T             4·T                          8·T
==============  ==========================  ===========================  ==========================================

QLoRA's 4.127 bits per weight are NF4 (4 bits) plus double-quantised block constants (~0.127 bits);
layers bitsandbytes keeps in 16 bits (embeddings, the output head, norms) are not counted, which
underestimates small models with large vocabularies. T defaults to 1 % of P for LoRA (rank 8 on the
attention projections is typically 0.1-1 %) and 0.01 % for prompt tuning.

Activations follow Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer
Models"): about ``34·b·s·h`` bytes per layer in 16-bit precision when the attention kernel does not keep
the s×s score matrix (SDPA / flash attention), so ``b·s·h·L·34·(act_bytes/2)`` in all, where act_bytes is
``dtype_bytes`` (2 for QLoRA, which computes in bf16). Every method back-propagates through the whole
network, so every method pays it. With ``vocab_size`` the logits add ``8·b·s·V`` bytes (the fp32 logits
and their gradient). Unknown ``hidden_size``/``num_layers`` are guessed from P with the GPT-style
relation P ≈ 12·L·h² and an aspect ratio h ≈ 64·L, good to within a factor of ~1.5 for common models.

Not included: the CUDA context (~0.5-1 GB), allocator fragmentation, gradient checkpointing (which
cuts activations to about one layer's worth plus 2·b·s·h per layer). Treat the total as ±30 %.

    from jobs.models.memory import estimate_training_memory
    print(estimate_training_memory(135_000_000, Method.LORA).human())
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.spec import Method

ADAM_BYTES_PER_PARAM = 8
"""Two fp32 moments (exp_avg, exp_avg_sq) per trainable parameter."""
ACTIVATION_BYTES_PER_ELEMENT_16BIT = 34
"""Korthikanti et al. 2022: stored activations per layer ≈ 34·b·s·h bytes in 16-bit (no s² attention term)."""
QLORA_BYTES_PER_PARAM = 4.127 / 8
"""NF4 weights plus double-quantised block constants."""
DEFAULT_TRAINABLE_FRACTION = {Method.LORA: 0.01, Method.QLORA: 0.01, Method.PROMPT_TUNING: 0.0001, Method.FULL: 1.0}
"""Share of parameters that train when the caller does not know it yet."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes needed by each part of training; ``total`` is their sum."""

    weights: int
    """The model weights (frozen base plus adapters)."""
    gradients: int
    """Gradients of the trainable parameters."""
    optimizer: int
    """AdamW state (and the fp32 master copy in mixed-precision full fine-tuning)."""
    activations: int
    """Activations kept for the backward pass (and logits when the vocabulary size is known)."""
    total: int = field(init=False)
    """weights + gradients + optimizer + activations."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", self.weights + self.gradients + self.optimizer + self.activations)

    def human(self) -> str:
        """One line such as ``≈ 2.1 GB (weights 0.5 GB, gradients 0.5 GB, optimizer 1.0 GB, activations 0.1 GB)``."""
        parts = ", ".join(
            f"{label} {format_bytes(value)}"
            for label, value in (
                ("weights", self.weights),
                ("gradients", self.gradients),
                ("optimizer", self.optimizer),
                ("activations", self.activations),
            )
        )
        return f"≈ {format_bytes(self.total)} ({parts})"


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
    method: Method,
    *,
    trainable_fraction: float | None = None,
    batch_size: int = 8,
    seq_len: int = 512,
    hidden_size: int | None = None,
    num_layers: int | None = None,
    dtype_bytes: int = 4,
    vocab_size: int | None = None,
) -> MemoryEstimate:
    """Estimate training memory in bytes for a model of ``num_params`` parameters (rules in the module docstring).

    ``dtype_bytes`` is the size of one loaded base weight (4 for fp32, 2 for bf16/fp16); QLoRA ignores it.
    """
    method = Method(method)
    if num_params <= 0:
        raise ValueError("num_params must be positive")
    if trainable_fraction is not None and not 0 < trainable_fraction <= 1:
        raise ValueError("trainable_fraction must be in (0, 1]")
    fraction = 1.0 if method is Method.FULL else (trainable_fraction or DEFAULT_TRAINABLE_FRACTION[method])
    trainable = int(num_params * fraction)

    if method is Method.FULL:
        weights = num_params * dtype_bytes
        gradients = num_params * dtype_bytes
        optimizer = num_params * ADAM_BYTES_PER_PARAM + (num_params * 4 if dtype_bytes < 4 else 0)
        activation_bytes = dtype_bytes
    else:
        base = num_params * QLORA_BYTES_PER_PARAM if method is Method.QLORA else num_params * dtype_bytes
        weights = int(base) + trainable * 4
        gradients = trainable * 4
        optimizer = trainable * ADAM_BYTES_PER_PARAM
        activation_bytes = 2 if method is Method.QLORA else dtype_bytes

    if hidden_size is None or num_layers is None:
        guessed_hidden, guessed_layers = guess_shape(num_params)
        hidden_size = hidden_size or guessed_hidden
        num_layers = num_layers or guessed_layers
    tokens = batch_size * seq_len
    activations = tokens * hidden_size * num_layers * ACTIVATION_BYTES_PER_ELEMENT_16BIT * activation_bytes // 2
    if vocab_size:
        activations += tokens * vocab_size * 8
    return MemoryEstimate(weights=int(weights), gradients=int(gradients), optimizer=int(optimizer), activations=int(activations))


def guess_shape(num_params: int) -> tuple[int, int]:
    """(hidden_size, num_layers) of a GPT-style model with P ≈ 12·L·h² and h ≈ 64·L."""
    hidden = max(64, round((64 * num_params / 12) ** (1 / 3)))
    return hidden, max(1, round(hidden / 64))
