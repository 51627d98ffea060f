"""Preference tuning of causal LMs with TRL: DPO, ORPO (``trl.experimental.orpo``) and KTO.

``train_preference_model(spec, run_dir, sink)`` loads the base model and tokenizer like the sft trainer, reads the preference
or feedback rows (:mod:`jobs.data.preference`), and trains with TRL's trainer for ``spec.objective``: LoRA and QLoRA go to
TRL as a ``peft_config`` (so the reference model of dpo/kto is the base with the adapter switched off, no second copy),
full fine-tuning gets a frozen copy as reference, or none with ``preference.reference: precomputed``. Metrics (loss,
rewards/chosen, rewards/rejected, rewards/margins, rewards/accuracies, ...) become metric rows through
:class:`~jobs.trainers.progress.ProgressCallback`; checkpoints, resume, saving and the returned
:class:`~jobs.trainers.tail.TrainOutcome` are the shared training tail's (:mod:`jobs.trainers.tail`), as for sft, so the
summary, model card and push work unchanged.

The helpers :func:`prepare_run`, :func:`trl_arguments` and :func:`finish_run` are shared with :mod:`jobs.trainers.grpo`.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import set_seed

from jobs.data.preference import ObjectiveData, load_objective_data
from jobs.metrics import MetricsSink
from jobs.models import load_base_model, load_tokenizer, resolve_model, resolve_precision
from jobs.spec import JobSpec, Method, Objective, PreferenceLoss, ReferenceModel
from jobs.trainers.arguments import shared_arguments
from jobs.trainers.checkpoint_timer import CheckpointTimer
from jobs.trainers.methods import _lora_config, apply_method
from jobs.trainers.progress import ProgressCallback
from jobs.trainers.tail import TrainOutcome, finish_training


@dataclass
class PreparedRun:
    """The loaded pieces of a TRL run: model (not yet wrapped when ``peft_config`` is set), tokenizer, data, precision."""

    resolved: Any
    tokenizer: Any
    data: ObjectiveData
    model: Any
    peft_config: Any
    precision_flags: dict[str, Any]
    started: float


def prepare_run(spec: JobSpec) -> PreparedRun:
    """Seed, resolve and load the base model and tokenizer, read the data, and apply the method (LoRA/QLoRA as a peft_config)."""
    started = time.perf_counter()
    set_seed(spec.training.seed)
    resolved = resolve_model(spec.base_model, task=spec.task, revision=spec.base_model_revision)
    dtype, precision_flags = resolve_precision(spec.training.precision)
    tokenizer = load_tokenizer(resolved)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    data = load_objective_data(spec, tokenizer)
    model = load_base_model(resolved, spec.task, dtype=dtype, quantize_4bit=spec.method is Method.QLORA)
    peft_config = None
    if spec.method is Method.FULL:
        model = apply_method(model, spec, resolved.path)
    else:
        if spec.method is Method.QLORA:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=spec.training.gradient_checkpointing)
        peft_config = _lora_config(model, spec)
    return PreparedRun(resolved=resolved, tokenizer=tokenizer, data=data, model=model, peft_config=peft_config,
                       precision_flags=precision_flags, started=started)


def trl_arguments(spec: JobSpec, run_dir: Path, has_eval: bool, precision_flags: dict[str, Any]) -> dict[str, Any]:
    """The TrainingArguments part of a TRL config, from ``spec.training`` (TRL's own defaults, such as gradient checkpointing
    on and bf16, are overridden so that every objective trains like sft does)."""
    return {**shared_arguments(spec, run_dir, has_eval, precision_flags), "gradient_checkpointing": spec.training.gradient_checkpointing}


def _datasets(data: ObjectiveData) -> tuple[Any, Any]:
    from datasets import Dataset

    return Dataset.from_list(data.train), (Dataset.from_list(data.eval) if data.eval else None)


def callbacks(spec: JobSpec, sink: MetricsSink, show_progress: bool, stop_file: Path | None) -> list[Any]:
    """The progress callback (metric rows, bar, stop file) and the timed checkpoints, as the sft trainer has them."""
    return [ProgressCallback(sink, show_progress=show_progress, stop_file=stop_file), CheckpointTimer(spec.training.checkpoint_minutes)]


def finish_run(trainer: Any, spec: JobSpec, run_dir: Path, sink: MetricsSink, prepared: PreparedRun) -> TrainOutcome:
    """The shared training tail (:func:`jobs.trainers.tail.finish_training`) for a TRL trainer built from ``prepared``."""
    data = prepared.data
    return finish_training(trainer, spec, run_dir, sink, data=data, resolved=prepared.resolved, started=prepared.started,
                           train_examples=len(data.train), eval_examples=len(data.eval), tokenizer=prepared.tokenizer)


def _reference_model(spec: JobSpec, prepared: PreparedRun) -> Any:
    """dpo/kto, full fine-tuning: a frozen copy of the base as reference (LoRA disables its adapter instead; precomputed needs none)."""
    if prepared.peft_config is not None or spec.preference.reference is ReferenceModel.PRECOMPUTED:
        return None
    reference = copy.deepcopy(prepared.model).eval()
    reference.requires_grad_(False)
    return reference


def _trainer(spec: JobSpec, run_dir: Path, prepared: PreparedRun, callback_list: list[Any]) -> Any:
    settings = spec.preference
    train, evaluation = _datasets(prepared.data)
    common = trl_arguments(spec, run_dir, evaluation is not None, prepared.precision_flags)
    shared = {"model": prepared.model, "train_dataset": train, "eval_dataset": evaluation, "processing_class": prepared.tokenizer,
              "callbacks": callback_list, "peft_config": prepared.peft_config}
    precompute = settings.reference is ReferenceModel.PRECOMPUTED
    if spec.objective is Objective.DPO:
        from trl import DPOConfig, DPOTrainer

        args = DPOConfig(**common, beta=settings.beta, loss_type=[(settings.loss_type or PreferenceLoss.SIGMOID).value],
                         max_length=spec.training.max_length, precompute_ref_log_probs=precompute)
        return DPOTrainer(ref_model=_reference_model(spec, prepared), args=args, **shared)
    if spec.objective is Objective.KTO:
        from trl import KTOConfig, KTOTrainer

        args = KTOConfig(**common, beta=settings.beta, loss_type=(settings.loss_type or PreferenceLoss.KTO).value,
                         max_length=spec.training.max_length, precompute_ref_log_probs=precompute,
                         desirable_weight=settings.desirable_weight, undesirable_weight=settings.undesirable_weight)
        return KTOTrainer(ref_model=_reference_model(spec, prepared), args=args, **shared)
    if spec.objective is Objective.ORPO:
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

        args = ORPOConfig(**common, beta=settings.beta, max_length=spec.training.max_length)
        return ORPOTrainer(args=args, **shared)
    raise ValueError(f"objective {spec.objective.value} is not a preference objective")  # pragma: no cover - dispatched by objective


def train_preference_model(
    spec: JobSpec,
    run_dir: Path,
    sink: MetricsSink,
    *,
    show_progress: bool = False,
    stop_file: Path | None = None,
) -> TrainOutcome:
    """Train one dpo, orpo or kto spec into ``run_dir``; resumes from ``run_dir/checkpoints`` when it holds one."""
    prepared = prepare_run(spec)
    trainer = _trainer(spec, run_dir, prepared, callbacks(spec, sink, show_progress, stop_file))
    return finish_run(trainer, spec, run_dir, sink, prepared)
