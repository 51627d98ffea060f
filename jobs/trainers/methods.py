"""Apply an adaptation method to a loaded base model: LoRA, QLoRA, DoRA, prompt tuning or full fine-tuning.

A registry maps each :class:`Method` to a function ``(model, spec, tokenizer_path) -> model``; the
trainer never branches on the method itself.

LoRA's default (``lora.target_modules: auto``, also ``all-linear``) is every linear layer of the model but its heads, for
every text task: on held-out data it beat PEFT's per-architecture mapping (the 2021 query/value default) on SFT and
retrieval and tied on classification (docs/benchmarks.md, "Default LoRA targets"; ``bench/default_targets.py``). :func:`all_linear_modules`
lists those layers itself rather than passing PEFT's ``"all-linear"``, which leaves LoRA inside a classification head that
is trained whole (RoBERTa's ``classifier.dense``, DistilBERT's ``pre_classifier``: PEFT then refuses the head) and on a
pooler that sentence-transformers never calls.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from peft import LoraConfig, PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model, prepare_model_for_kbit_training
from peft.utils.constants import SEQ_CLS_HEAD_NAMES
from torch import nn
from transformers import PreTrainedModel
from transformers.pytorch_utils import Conv1D

from jobs.errors import SpecError
from jobs.spec import JobSpec, Method, Task

PEFT_TASK = {Task.CAUSAL_LM: TaskType.CAUSAL_LM, Task.TEXT_CLASSIFICATION: TaskType.SEQ_CLS}
MethodApplier = Callable[[PreTrainedModel, JobSpec, Path], PreTrainedModel]


LINEAR_LAYERS = (nn.Linear, Conv1D)
"""What counts as a linear layer (GPT-2's Conv1D is one; bitsandbytes' 4-bit and 8-bit layers subclass nn.Linear)."""
UNUSED_BY_EMBEDDINGS = ("pooler",)
"""Layers of an encoder that sentence-transformers never calls (its own Pooling module reads the token states)."""


def _is_head(name: str, task: Task) -> bool:
    """A classification head, matched as PEFT matches ``modules_to_save`` (by name suffix): it trains whole, without LoRA."""
    return task is Task.TEXT_CLASSIFICATION and any(part.endswith(head) for part in name.split(".") for head in SEQ_CLS_HEAD_NAMES)


def all_linear_modules(model: PreTrainedModel, task: Task) -> list[str]:
    """The full names of every linear layer LoRA adapts by default: all of them except the output head (``lm_head``), a
    classification head and anything inside it (``classifier``, ``score``, ``pre_classifier``), and, for embeddings, the pooler."""
    output = model.get_output_embeddings() if isinstance(model, PreTrainedModel) else None
    names = []
    for name, module in model.named_modules():
        if not isinstance(module, LINEAR_LAYERS) or module is output or _is_head(name, task):
            continue
        if task is Task.SENTENCE_EMBEDDING and any(part in UNUSED_BY_EMBEDDINGS for part in name.split(".")):
            continue
        names.append(name)
    if not names:
        raise SpecError([f"{model.config.model_type} has no linear layers for LoRA to adapt; use method: full or prompt-tuning"])
    return names


def lora_target_modules(model: PreTrainedModel, spec: JobSpec) -> list[str]:
    """Resolve ``lora.target_modules``: auto and all-linear → :func:`all_linear_modules`; a list → checked against the model."""
    wanted = spec.lora.target_modules
    if wanted in ("auto", "all-linear"):
        return all_linear_modules(model, spec.task)
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [name for name in wanted if name not in names]
    if missing:
        linear = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, LINEAR_LAYERS)})
        raise SpecError([f"lora.target_modules {missing} are not modules of {model.config.model_type}; choose from {linear} or use auto / all-linear"])
    return list(wanted)


def _lora_config(model: PreTrainedModel, spec: JobSpec) -> LoraConfig:
    return LoraConfig(
        task_type=PEFT_TASK[spec.task],
        r=spec.lora.r,
        lora_alpha=spec.lora.alpha,
        lora_dropout=spec.lora.dropout,
        target_modules=lora_target_modules(model, spec),
        use_dora=spec.lora.use_dora,
    )


def apply_lora(model: PreTrainedModel, spec: JobSpec, tokenizer_path: Path) -> PreTrainedModel:
    """Wrap the model with LoRA (or DoRA) adapters; the classification head is trained too."""
    return get_peft_model(model, _lora_config(model, spec))


def apply_qlora(model: PreTrainedModel, spec: JobSpec, tokenizer_path: Path) -> PreTrainedModel:
    """LoRA on a 4-bit base (the model must have been loaded quantized)."""
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=spec.training.gradient_checkpointing)
    return get_peft_model(model, _lora_config(model, spec))


def apply_prompt_tuning(model: PreTrainedModel, spec: JobSpec, tokenizer_path: Path) -> PreTrainedModel:
    """Learn ``num_virtual_tokens`` soft-prompt vectors, initialised randomly or from ``init_text``."""
    settings = spec.prompt_tuning
    if settings.init_text:
        config = PromptTuningConfig(
            task_type=PEFT_TASK[spec.task],
            num_virtual_tokens=settings.num_virtual_tokens,
            prompt_tuning_init=PromptTuningInit.TEXT,
            prompt_tuning_init_text=settings.init_text,
            tokenizer_name_or_path=str(tokenizer_path),
        )
    else:
        config = PromptTuningConfig(
            task_type=PEFT_TASK[spec.task],
            num_virtual_tokens=settings.num_virtual_tokens,
            prompt_tuning_init=PromptTuningInit.RANDOM,
        )
    return get_peft_model(model, config)


def apply_full(model: PreTrainedModel, spec: JobSpec, tokenizer_path: Path) -> PreTrainedModel:
    """Full fine-tuning: every parameter trains."""
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model


METHODS: dict[Method, MethodApplier] = {
    Method.LORA: apply_lora,
    Method.QLORA: apply_qlora,
    Method.PROMPT_TUNING: apply_prompt_tuning,
    Method.FULL: apply_full,
}


def apply_method(model: PreTrainedModel, spec: JobSpec, tokenizer_path: Path) -> PreTrainedModel:
    """Apply the spec's method through the registry."""
    return METHODS[spec.method](model, spec, tokenizer_path)
