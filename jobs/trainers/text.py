"""The text trainer: causal LM and sequence classification with transformers' Trainer and PEFT.

``train_text_model(spec, run_dir, sink)`` resolves and loads the base model safely, builds the
training examples, applies the method (LoRA, QLoRA, prompt tuning, full), trains with dynamic
padding and length grouping (or packing, each example attending only to itself), checkpoints into
``run_dir/checkpoints`` (at save_steps or epoch ends, and every ``training.checkpoint_minutes``) and
resumes from the last complete checkpoint found there, evaluates, and saves ``adapter/`` (PEFT) or ``model/`` (full)
through the shared training tail (:func:`jobs.trainers.tail.finish_training`). ``build_text_trainer`` is everything before
the first step (the Trainer, its data and model), so a test can look at the batches it would train on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainingArguments, set_seed

from jobs.data import TrainingData, load_training_data
from jobs.metrics import MetricsSink
from jobs.models import ResolvedModel, load_base_model, load_tokenizer, resolve_model, resolve_precision
from jobs.spec import JobSpec, Method, Task
from jobs.trainers.accelerators import GpuSettings, settings_for_model
from jobs.trainers.arguments import shared_arguments
from jobs.trainers.checkpoint_timer import CheckpointTimer
from jobs.trainers.collate import check_packing_supported, make_collator
from jobs.trainers.evaluation import make_compute_metrics
from jobs.trainers.methods import apply_method
from jobs.trainers.progress import ProgressCallback
from jobs.trainers.tail import TrainOutcome, finish_training


def _training_arguments(spec: JobSpec, run_dir: Path, has_eval: bool, precision_flags: dict[str, Any], fast: GpuSettings) -> TrainingArguments:
    settings = spec.training
    use_length_grouping = settings.group_by_length and not settings.packing
    return TrainingArguments(
        **shared_arguments(spec, run_dir, has_eval, precision_flags, fast),
        activation_checkpointing=fast.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if fast.gradient_checkpointing else None,
        train_sampling_strategy="group_by_length" if use_length_grouping else "random",
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        prediction_loss_only=spec.task is Task.CAUSAL_LM,  # evaluation needs the loss only: never gather vocabulary-sized logits
    )


@dataclass
class TextTraining:
    """A text run ready to train: the Trainer and what :func:`jobs.trainers.tail.finish_training` needs beside it."""

    trainer: Trainer
    data: TrainingData
    resolved: ResolvedModel
    tokenizer: Any
    started: float


def build_text_trainer(
    spec: JobSpec,
    run_dir: Path,
    sink: MetricsSink,
    *,
    show_progress: bool = False,
    stop_file: Path | None = None,
) -> TextTraining:
    """Load the model and data of one text spec and build its Trainer (nothing trained yet)."""
    started = time.perf_counter()
    set_seed(spec.training.seed)
    resolved = resolve_model(spec.base_model, task=spec.task, revision=spec.base_model_revision)
    dtype, precision_flags = resolve_precision(spec.training.precision)
    fast = settings_for_model(spec, resolved.path)  # attention, kernels, optimizer, checkpointing for this machine
    tokenizer = load_tokenizer(resolved)
    data = load_training_data(spec, tokenizer)
    model = load_base_model(
        resolved,
        spec.task,
        label_names=data.label_names,
        dtype=dtype,
        quantize_4bit=spec.method is Method.QLORA,
        attention=fast.attention,
    )
    model = apply_method(model, spec, resolved.path)
    packing = spec.training.packing and spec.task is Task.CAUSAL_LM
    if packing:
        check_packing_supported(model)

    has_eval = bool(data.eval)
    args = _training_arguments(spec, run_dir, has_eval, precision_flags, fast)
    progress = ProgressCallback(sink, show_progress=show_progress, stop_file=stop_file)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.eval or None,
        data_collator=make_collator(tokenizer, spec.task, packing),
        processing_class=tokenizer,
        compute_metrics=make_compute_metrics(len(data.label_names)) if spec.task is Task.TEXT_CLASSIFICATION else None,
        callbacks=[progress, CheckpointTimer(spec.training.checkpoint_minutes)],
    )
    return TextTraining(trainer=trainer, data=data, resolved=resolved, tokenizer=tokenizer, started=started)


def train_text_model(
    spec: JobSpec,
    run_dir: Path,
    sink: MetricsSink,
    *,
    show_progress: bool = False,
    stop_file: Path | None = None,
) -> TrainOutcome:
    """Train one text spec into ``run_dir``; resumes from ``run_dir/checkpoints`` when it holds one."""
    built = build_text_trainer(spec, run_dir, sink, show_progress=show_progress, stop_file=stop_file)
    data = built.data
    return finish_training(built.trainer, spec, run_dir, sink, data=data, resolved=built.resolved, started=built.started,
                           train_examples=len(data.train), eval_examples=len(data.eval or []), tokenizer=built.tokenizer,
                           label_names=data.label_names)
