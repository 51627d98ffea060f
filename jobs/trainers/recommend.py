"""Recommended settings for a job, computed from the task, the method, the model's size and the data (no gradio).

The Train tab asks five questions (method, how long, how strong, quality/speed, validation) and fills each with
the value recommended here, next to a one-line reason. A reason is an i18n key plus its values (the web UI formats
it in the visitor's language), e.g. ``Advice(3, "train.rec.epochs.small", {"rows": "120", "epochs": 3})``.

    profile = profile_data("train.jsonl", "causal-lm")              # rows and token lengths (a sample of rows)
    advice = recommend("causal-lm", "lora", "sft", profile, parameters=135_000_000, on_gpu=False)
    advice.epochs.value, advice.field_values("lora")                 # 3.0, {"training.epochs": 3.0, ...}

The time estimate without an earlier job is a floating-point count (forward and backward passes over the
parameters for every token) divided by a rough rate of this kind of machine: :func:`estimate_seconds_per_step`.
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.data.formats import resolve_format
from jobs.data.images import IGNORED_NAMES, IMAGE_SUFFIXES
from jobs.data.inspect import _token_stats  # the Data tab's own per-format token counting
from jobs.data.readers import read_table
from jobs.data.rows import RowError, row_fields
from jobs.spec import HUB_DATA_PREFIX, DataFormat, Method, Task

SAMPLE_ROWS = 300
"""Token lengths are measured on at most this many rows, spread evenly over the file."""
CHARS_PER_TOKEN = 4
"""Without the model's tokenizer, lengths are estimated from characters (about four per token in English)."""
EPOCH_TIERS: tuple[tuple[int, int, str], ...] = ((100, 5, "tiny"), (1_000, 3, "small"), (10_000, 2, "medium"))
"""(rows below, epochs, reason): small sets need more passes, big sets fewer; from 10,000 rows one pass."""
IMAGE_VIEWS = 1_000
"""text-to-image: a LoRA learns a subject or style in about this many image views."""
MAX_EPOCHS = 100.0
STANDARD_RATES: dict[str, float] = {Method.LORA.value: 2e-4, Method.QLORA.value: 2e-4, Method.FULL.value: 2e-5,
                                    Method.PROMPT_TUNING.value: 3e-2}
"""The usual peak learning rate per method (text tasks); text-to-image LoRA uses :data:`IMAGE_RATE`."""
IMAGE_RATE = 1e-4
OBJECTIVE_RATE_FACTORS: dict[str, float] = {"dpo": 0.25, "orpo": 0.25, "kto": 0.25, "grpo": 0.05}
"""Preference and reward objectives move the model with smaller steps than sft."""
STRENGTHS: dict[str, float] = {"gentle": 0.5, "standard": 1.0, "strong": 2.5}
"""How strong: a factor on the method's standard learning rate."""
QUALITY_PRESETS: dict[str, dict[str, int]] = {
    "quick": {"max_length": 256, "lora_r": 8},
    "balanced": {"max_length": 1024, "lora_r": 16},
    "quality": {"max_length": 4096, "lora_r": 32},
}
"""Quality/speed: the longest sequence kept (at most; the data's own lengths decide below it) and the LoRA rank."""
DEFAULT_MAX_LENGTH = {"quick": 256, "balanced": 512, "quality": 1024}
"""max_length per preset when the data's token lengths are not known."""
SMALL_MODEL = 150_000_000
"""Encoders below this size train fully in little memory (classification, embeddings)."""
LARGE_CPU_MODEL = 500_000_000
LARGE_GPU_MODEL = 3_000_000_000
FEW_ROWS_TO_HOLD_OUT = 50
LONG_RUN_MINUTES = 120
"""A run estimated longer than this gets a time budget recommended."""
CPU_FLOPS_PER_CORE = 4e10
GPU_FLOPS = 2e14
STEP_OVERHEAD_S = 0.05


@dataclass(frozen=True)
class DataProfile:
    """What the recommendations need to know about the data: rows, and token lengths measured on a sample."""

    rows: int | None
    p95_tokens: int | None = None
    max_tokens: int | None = None
    mean_tokens: float | None = None
    measured: bool = False
    """True when the lengths were counted with the model's tokenizer, False when estimated from characters."""


@dataclass(frozen=True)
class Advice:
    """One recommended value and the reason for it (an i18n key and the values it names)."""

    value: Any
    key: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recommendation:
    """The five decisions, each with its reason, plus the estimate of a run's minutes when one could be made."""

    method: Advice
    epochs: Advice
    time_budget: Advice
    strength: Advice
    quality: Advice
    validation: Advice
    profile: DataProfile

    def field_values(self, method: str, task: str, objective: str | None) -> dict[str, Any]:
        """The JobSpec field values these decisions set (dotted paths), for ``method`` (which may differ from the advice)."""
        values: dict[str, Any] = {"training.epochs": self.epochs.value, "data.validation": self.validation.value or 0.0,
                                  "training.learning_rate": learning_rate(self.strength.value, method, task, objective)}
        values.update(quality_values(self.quality.value, self.profile))
        return values


def _count(rows: int) -> str:
    return f"{rows:,}"


def count_images(path: str | Path) -> int:
    """Images in a folder (searched recursively) or a .zip, without opening them."""
    path = Path(path).expanduser()
    if path.is_dir():
        return sum(1 for item in path.rglob("*") if item.suffix.lower() in IMAGE_SUFFIXES and not set(item.parts) & IGNORED_NAMES)
    if path.is_file() and path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            return sum(1 for name in archive.namelist() if Path(name).suffix.lower() in IMAGE_SUFFIXES and "__MACOSX" not in name)
    return 0


def profile_data(path: str, task: str, data_format: str = "auto", columns: dict[str, str] | None = None, tokenizer: Any = None,
                 sample_rows: int = SAMPLE_ROWS) -> DataProfile:
    """Rows of ``path`` and token lengths of an even sample of its usable rows (with ``tokenizer``, else from characters).

    A Hub dataset (``hub:``) is not read here (rows unknown). Raises :class:`jobs.errors.DataError` for a file that
    cannot be read, with the reader's sentence."""
    if not path or path.startswith(HUB_DATA_PREFIX):
        return DataProfile(rows=None)
    if task == Task.TEXT_TO_IMAGE.value:
        return DataProfile(rows=count_images(path))
    table = read_table(path)
    choice = resolve_format(table.records, DataFormat(data_format or "auto"), columns or None, Task(task), source=table.name)
    stride = max(1, len(table.records) // sample_rows)
    sample = []
    for record, row in list(zip(table.records, table.row_numbers, strict=True))[::stride][:sample_rows]:
        try:
            fields = row_fields(record, choice)
        except RowError:
            continue
        sample.append((record, row, fields))
    lengths: list[int] = []
    if tokenizer is not None and sample:
        stats, _ = _token_stats([(record, row) for record, row, _ in sample], choice, tokenizer, Task(task), None)
        if stats:
            return DataProfile(len(table.records), int(stats["p95"]), int(stats["max"]), float(stats["mean"]), measured=True)
    for _, _, fields in sample:
        lengths.append(max(1, math.ceil(len(_text_of(fields)) / CHARS_PER_TOKEN)))
    if not lengths:
        return DataProfile(rows=len(table.records))
    lengths.sort()
    p95 = lengths[max(1, math.ceil(0.95 * len(lengths))) - 1]
    return DataProfile(len(table.records), p95, lengths[-1], round(sum(lengths) / len(lengths), 1), measured=False)


def _text_of(value: Any) -> str:
    """Every string inside a row's fields (chat messages included), joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(_text_of(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return " ".join(_text_of(item) for item in value)
    return ""


def learning_rate(strength: str | None, method: str, task: str, objective: str | None = None) -> float:
    """The peak learning rate for a strength (gentle, standard, strong) with ``method`` on ``task`` (two significant digits)."""
    base = IMAGE_RATE if task == Task.TEXT_TO_IMAGE.value else STANDARD_RATES.get(method, STANDARD_RATES[Method.LORA.value])
    if task == Task.CAUSAL_LM.value:
        base *= OBJECTIVE_RATE_FACTORS.get(str(objective or ""), 1.0)
    rate = base * STRENGTHS.get(strength or "standard", 1.0)
    return float(f"{rate:.2g}")


def round_up_length(tokens: int) -> int:
    """The next power of two at or above ``tokens`` (at least 64): a max_length that keeps those rows whole."""
    return max(64, 2 ** math.ceil(math.log2(max(1, tokens))))


def quality_values(preset: str | None, profile: DataProfile | None = None) -> dict[str, Any]:
    """max_length (the data's p95 rounded up, the longest row for quality, capped by the preset) and LoRA rank and alpha."""
    settings = QUALITY_PRESETS.get(preset or "", None)
    if settings is None:
        return {}
    tokens = None
    if profile is not None and profile.p95_tokens:
        tokens = profile.max_tokens if preset == "quality" and profile.max_tokens else profile.p95_tokens
    max_length = min(settings["max_length"], round_up_length(tokens)) if tokens else DEFAULT_MAX_LENGTH[str(preset)]
    return {"training.max_length": max_length, "lora.r": settings["lora_r"], "lora.alpha": float(2 * settings["lora_r"])}


def optimizer_steps(rows: int, epochs: float, batch_size: int, gradient_accumulation: int = 1, validation: float | None = None) -> int:
    """Optimizer steps of ``epochs`` passes over ``rows`` (less a held-out fraction), at least 1."""
    per_epoch = math.ceil(rows * (1 - (validation or 0.0)) / batch_size / gradient_accumulation)
    return max(1, math.ceil(per_epoch * epochs))


def estimate_seconds_per_step(parameters: int, tokens_per_step: float, method: str, on_gpu: bool) -> float:
    """A rough time per optimizer step: 2 x parameters FLOPs per token forward, as much again backward through the
    activations, and again for the weight gradients of a full fine-tune; over a typical rate of this machine's kind."""
    passes = 6 if method == Method.FULL.value else 4
    rate = GPU_FLOPS if on_gpu else CPU_FLOPS_PER_CORE * (os.cpu_count() or 1)
    return STEP_OVERHEAD_S + passes * parameters * tokens_per_step / rate


def _epochs(task: str, method: str, rows: int | None) -> Advice:
    if rows is None or rows <= 0:
        return Advice(1.0, "train.rec.epochs.unknown")
    if task == Task.TEXT_TO_IMAGE.value:
        epochs = float(min(MAX_EPOCHS, max(1, math.ceil(IMAGE_VIEWS / rows))))
        return Advice(epochs, "train.rec.epochs.images", {"rows": _count(rows), "views": _count(IMAGE_VIEWS), "epochs": f"{epochs:g}"})
    epochs, size = next(((epochs, size) for limit, epochs, size in EPOCH_TIERS if rows < limit), (1, "large"))
    if method == Method.PROMPT_TUNING.value:
        epochs = min(10, epochs * 2)
        return Advice(float(epochs), "train.rec.epochs.prompt_tuning", {"rows": _count(rows), "epochs": epochs})
    return Advice(float(epochs), f"train.rec.epochs.{size}", {"rows": _count(rows), "epochs": epochs})


def _method(task: str, parameters: int | None, fits: dict[str, bool | None] | None) -> Advice:
    if task == Task.TEXT_TO_IMAGE.value:
        return Advice(Method.LORA.value, "train.rec.method.images")
    millions = f"{(parameters or 0) / 1e6:,.0f}M"
    if parameters and parameters < SMALL_MODEL and task in (Task.TEXT_CLASSIFICATION.value, Task.SENTENCE_EMBEDDING.value):
        return Advice(Method.FULL.value, "train.rec.method.small", {"params": millions})
    if fits and fits.get(Method.LORA.value) is False and fits.get(Method.QLORA.value):
        return Advice(Method.QLORA.value, "train.rec.method.qlora", {"params": millions})
    return Advice(Method.LORA.value, "train.rec.method.lora")


def _strength(task: str, method: str, objective: str | None, rows: int | None) -> Advice:
    if method == Method.FULL.value and rows is not None and rows < EPOCH_TIERS[0][0]:
        rate = learning_rate("gentle", method, task, objective)
        return Advice("gentle", "train.rec.strength.small_full", {"rows": _count(rows), "rate": f"{rate:g}"})
    return Advice("standard", "train.rec.strength.standard", {"rate": f"{learning_rate('standard', method, task, objective):g}",
                                                              "method": method})


def _quality(parameters: int | None, on_gpu: bool, profile: DataProfile) -> Advice:
    if on_gpu:
        preset = "quality" if parameters and parameters < LARGE_GPU_MODEL else "balanced"
    else:
        preset = "quick" if not parameters or parameters >= LARGE_CPU_MODEL or (profile.rows or 0) > 5_000 else "balanced"
    length = quality_values(preset, profile)["training.max_length"]
    if profile.p95_tokens:
        key = "train.rec.quality.measured" if profile.measured else "train.rec.quality.estimated"
        return Advice(preset, key, {"length": length, "p95": profile.p95_tokens, "where": "GPU" if on_gpu else "CPU"})
    return Advice(preset, "train.rec.quality.unknown", {"length": length, "where": "GPU" if on_gpu else "CPU"})


def _validation(rows: int | None) -> Advice:
    if rows is None:
        return Advice(None, "train.rec.validation.unknown")
    if rows < FEW_ROWS_TO_HOLD_OUT:
        return Advice(None, "train.rec.validation.tiny", {"rows": _count(rows)})
    fraction = 0.1 if rows < 2_000 else 0.05
    return Advice(fraction, "train.rec.validation.fraction", {"rows": _count(rows), "held": _count(round(rows * fraction)),
                                                             "percent": round(fraction * 100)})


def _time_budget(minutes: float | None) -> Advice:
    if minutes is None:
        return Advice(0, "train.rec.time.unknown")
    if minutes > LONG_RUN_MINUTES:
        return Advice(LONG_RUN_MINUTES, "train.rec.time.long", {"hours": f"{minutes / 60:.1f}", "budget": LONG_RUN_MINUTES})
    return Advice(0, "train.rec.time.short", {"minutes": f"{max(minutes, 0.1):.1f}"})


def recommend(task: str, method: str, objective: str | None, profile: DataProfile, *, parameters: int | None = None, on_gpu: bool = False,
              fits: dict[str, bool | None] | None = None, seconds_per_step: float | None = None, batch_size: int = 8) -> Recommendation:
    """The five decisions for this task, method, model size (``parameters``) and data ``profile``.

    ``fits`` maps a method to whether its memory estimate fits here (for the method advice); ``seconds_per_step`` is a
    measured rate from an earlier job, else one is estimated from ``parameters`` when known (for the time budget)."""
    method_advice = _method(task, parameters, fits)
    epochs = _epochs(task, method, profile.rows)
    strength = _strength(task, method, objective, profile.rows)
    quality = _quality(parameters, on_gpu, profile)
    validation = _validation(profile.rows)
    minutes = None
    if profile.rows and task != Task.TEXT_TO_IMAGE.value:
        steps = optimizer_steps(profile.rows, epochs.value, batch_size, 1, validation.value)
        if seconds_per_step is None and parameters:
            length = quality_values(quality.value, profile)["training.max_length"]
            tokens = batch_size * min(length, profile.mean_tokens or length)
            seconds_per_step = estimate_seconds_per_step(parameters, tokens, method, on_gpu)
        minutes = steps * seconds_per_step / 60 if seconds_per_step else None
    return Recommendation(method_advice, epochs, _time_budget(minutes), strength, quality, validation, profile)


LIGER_MODEL_TYPES = frozenset({"llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe", "gemma", "gemma2", "gemma3_text", "phi3",
                               "granite", "olmo2", "glm4", "smollm3"})
"""Decoder families Liger Kernel patches (liger_kernel.transformers' MODEL_TYPE_TO_APPLY_LIGER_FN, text models)."""


def liger_helps(task: str, model_type: str | None, on_gpu: bool) -> bool:
    """Whether Liger's fused kernels help this job (``training.liger_kernel: auto`` turns them on): a causal LM of a family they
    patch, on a CUDA GPU, where the fused linear cross-entropy never materialises the (tokens × vocabulary) logits."""
    return on_gpu and task == Task.CAUSAL_LM.value and (model_type or "") in LIGER_MODEL_TYPES


def steps_for_budget(minutes: float, seconds_per_step: float) -> int:
    """Optimizer steps that fit in a time budget of ``minutes`` at ``seconds_per_step`` (at least 1)."""
    return max(1, int(minutes * 60 / seconds_per_step))
