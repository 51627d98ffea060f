"""The text trainer: causal LM and sequence classification with transformers' Trainer and PEFT.

``train_text_model(spec, run_dir, sink)`` resolves and loads the base model safely, builds the
training examples, applies the method (LoRA, QLoRA, prompt tuning, full), trains with dynamic
padding and length grouping (or packing, each example attending only to itself), checkpoints into
``run_dir/checkpoints`` (at save_steps or epoch ends, and every ``training.checkpoint_minutes``) and
resumes from the last complete checkpoint found there, evaluates, and saves ``adapter/`` (PEFT) or ``model/`` (full).
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import PrinterCallback, Trainer, TrainingArguments, set_seed

from jobs.data import load_training_data
from jobs.metrics import MetricsSink
from jobs.models import count_parameters, load_base_model, load_tokenizer, resolve_model, resolve_precision
from jobs.spec import JobSpec, Method, Task
from jobs.trainers.arguments import CHECKPOINTS, shared_arguments
from jobs.trainers.checkpoint_timer import CheckpointTimer
from jobs.trainers.collate import check_packing_supported, make_collator
from jobs.trainers.evaluation import make_compute_metrics
from jobs.trainers.methods import apply_method
from jobs.trainers.progress import ProgressCallback


@dataclass
class TrainOutcome:
    """What a finished (or cleanly stopped) text training run produced and measured."""

    output_folder: Path
    global_step: int
    resumed_from_step: int | None
    first_loss: float | None
    last_loss: float | None
    train_loss: float | None
    eval_metrics: dict[str, float]
    label_names: list[str] | None
    trainable_params: int
    total_params: int
    train_examples: int
    eval_examples: int
    skipped_rows: int
    runtime_seconds: float
    peak_memory_bytes: int
    stopped_early: bool
    base_model_path: str
    data_format: str = "auto"
    data_mapping: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    is_main_process: bool = True


def _training_arguments(spec: JobSpec, run_dir: Path, has_eval: bool, precision_flags: dict[str, Any]) -> TrainingArguments:
    settings = spec.training
    use_length_grouping = settings.group_by_length and not settings.packing
    return TrainingArguments(
        **shared_arguments(spec, run_dir, has_eval, precision_flags),
        activation_checkpointing=settings.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if settings.gradient_checkpointing else None,
        train_sampling_strategy="group_by_length" if use_length_grouping else "random",
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        prediction_loss_only=spec.task is Task.CAUSAL_LM,  # evaluation needs the loss only: never gather vocabulary-sized logits
    )


def last_complete_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest checkpoint that was fully written (a crash mid-save leaves one without trainer_state.json)."""
    if not checkpoint_dir.is_dir():
        return None
    candidates = []
    for folder in checkpoint_dir.glob("checkpoint-*"):
        step = folder.name.rsplit("-", 1)[-1]
        if folder.is_dir() and step.isdigit():
            candidates.append((int(step), folder))
    for _, folder in sorted(candidates, reverse=True):
        if (folder / "trainer_state.json").is_file() and any(folder.glob("*.safetensors")):
            return folder
    return None


def _peak_memory_bytes() -> int:
    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _losses(log_history: list[dict[str, Any]]) -> tuple[float | None, float | None]:
    losses = [entry["loss"] for entry in log_history if "loss" in entry]
    return (losses[0], losses[-1]) if losses else (None, None)


def train_from_last_checkpoint(trainer: Trainer, run_dir: Path) -> tuple[Any, int | None]:
    """``trainer.train()``, resuming from the newest complete checkpoint in ``run_dir/checkpoints`` when there is one:
    (the train output, the step it resumed from or None)."""
    last_checkpoint = last_complete_checkpoint(run_dir / CHECKPOINTS)
    resumed_from = int(last_checkpoint.name.split("-")[-1]) if last_checkpoint else None
    return trainer.train(resume_from_checkpoint=str(last_checkpoint) if last_checkpoint else None), resumed_from


def measured_outcome(trainer: Trainer, result: Any, *, started: float, resumed_from_step: int | None, **fields: Any) -> TrainOutcome:
    """The outcome of a finished ``trainer.train()``: steps, losses, runtime, peak memory and whether it stopped early are
    read from the trainer; the caller gives the rest (output folder, data counts, parameters, format, warnings)."""
    first_loss, last_loss = _losses(trainer.state.log_history)
    return TrainOutcome(
        global_step=trainer.state.global_step,
        resumed_from_step=resumed_from_step,
        first_loss=first_loss,
        last_loss=last_loss,
        train_loss=float(result.training_loss) if result.training_loss is not None else None,
        runtime_seconds=time.perf_counter() - started,
        peak_memory_bytes=_peak_memory_bytes(),
        stopped_early=trainer.state.global_step < trainer.state.max_steps,
        is_main_process=trainer.is_world_process_zero(),
        **fields,
    )


def _save_adapter(model: Any, tokenizer: Any, folder: Path, spec: JobSpec, hub_ref: str | None, label_names: list[str] | None) -> None:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    config_path = folder / "adapter_config.json"
    if hub_ref and config_path.is_file():
        # Point the adapter at the Hub id, not this machine's cache folder, so it loads anywhere.
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = hub_ref
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
    if label_names:
        # The label names travel with the adapter (PEFT keeps only the head's weights).
        base_config = model.get_base_model().config
        base_config.save_pretrained(folder)


def train_text_model(
    spec: JobSpec,
    run_dir: Path,
    sink: MetricsSink,
    *,
    show_progress: bool = False,
    stop_file: Path | None = None,
) -> TrainOutcome:
    """Train one text spec into ``run_dir``; resumes from ``run_dir/checkpoints`` when it holds one."""
    started = time.perf_counter()
    set_seed(spec.training.seed)
    resolved = resolve_model(spec.base_model, task=spec.task, revision=spec.base_model_revision)
    dtype, precision_flags = resolve_precision(spec.training.precision)
    tokenizer = load_tokenizer(resolved)
    data = load_training_data(spec, tokenizer)
    model = load_base_model(
        resolved,
        spec.task,
        label_names=data.label_names,
        dtype=dtype,
        quantize_4bit=spec.method is Method.QLORA,
    )
    model = apply_method(model, spec, resolved.path)
    trainable, total = count_parameters(model)
    packing = spec.training.packing and spec.task is Task.CAUSAL_LM
    if packing:
        check_packing_supported(model)

    has_eval = bool(data.eval)
    args = _training_arguments(spec, run_dir, has_eval, precision_flags)
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
    trainer.remove_callback(PrinterCallback)  # metrics go to the sink and the progress bar, not stdout
    result, resumed_from = train_from_last_checkpoint(trainer, run_dir)

    is_main = trainer.is_world_process_zero()
    eval_metrics: dict[str, float] = {}
    if has_eval:
        eval_metrics = {key: float(value) for key, value in trainer.evaluate().items() if isinstance(value, (int, float))}
        if is_main:
            sink.record(trainer.state.global_step, eval_metrics, total_steps=trainer.state.max_steps)

    is_peft = spec.method is not Method.FULL
    output_folder = run_dir / ("adapter" if is_peft else "model")
    hub_ref = spec.base_model if resolved.source in ("hub-cache", "packaged") else None
    if is_peft and is_main:
        _save_adapter(trainer.model, tokenizer, output_folder, spec, hub_ref, data.label_names)
    elif not is_peft:
        trainer.save_model(str(output_folder))  # collective under FSDP/DeepSpeed: every rank calls it
        if is_main:
            (output_folder / "training_args.bin").unlink(missing_ok=True)  # a pickle; the settings are in spec.yaml
    return measured_outcome(
        trainer, result, started=started, resumed_from_step=resumed_from,
        output_folder=output_folder,
        eval_metrics=eval_metrics,
        label_names=data.label_names,
        trainable_params=trainable,
        total_params=total,
        train_examples=len(data.train),
        eval_examples=len(data.eval or []),
        skipped_rows=len(data.skipped),
        base_model_path=str(resolved.path),
        data_format=data.choice.format.value,
        data_mapping=dict(data.choice.mapping),
        warnings=list(data.warnings),
    )
