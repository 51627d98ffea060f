"""Apply an adaptation method to a loaded base model: LoRA, QLoRA, DoRA, prompt tuning or full fine-tuning.

A registry maps each :class:`Method` to a function ``(model, spec, tokenizer_path) -> model``; the
trainer never branches on the method itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from peft import LoraConfig, PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model, prepare_model_for_kbit_training
from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
from transformers import PreTrainedModel

from jobs.errors import SpecError
from jobs.spec import JobSpec, Method, Task

PEFT_TASK = {Task.CAUSAL_LM: TaskType.CAUSAL_LM, Task.TEXT_CLASSIFICATION: TaskType.SEQ_CLS}
MethodApplier = Callable[[PreTrainedModel, JobSpec, Path], PreTrainedModel]


def lora_target_modules(model: PreTrainedModel, spec: JobSpec) -> list[str] | str:
    """Resolve ``lora.target_modules``: auto → PEFT's per-architecture default (else all-linear)."""
    wanted = spec.lora.target_modules
    if wanted == "auto":
        return TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(model.config.model_type) or "all-linear"
    if wanted == "all-linear":
        return "all-linear"
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [name for name in wanted if name not in names]
    if missing:
        linear = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules() if module.__class__.__name__ == "Linear"})
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
