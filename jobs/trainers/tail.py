"""The end every Trainer-based run shares (text sft, embedding, dpo/orpo/kto, grpo): train, evaluate, save, describe.

``finish_training(trainer, spec, run_dir, sink, ...)`` trains from the newest complete checkpoint in
``run_dir/checkpoints`` (a crash mid-save leaves one without ``trainer_state.json`` or with one cut short: it is
skipped, and the log says why), scores the trainer's eval set when it has one (one metric row), saves ``adapter/``
(:func:`save_adapter`, pointed at the Hub id so it loads anywhere) or ``model/`` (a full fine-tune), and returns the
:class:`TrainOutcome` that ``summary.json``, the report, the model card and the push read. The text-to-image loop
(:mod:`jobs.trainers.images.train`) has its own loop and shares :func:`last_complete_checkpoint` and
:func:`peak_memory_bytes`.

    return finish_training(trainer, spec, run_dir, sink, data=data, resolved=resolved, started=started,
                           train_examples=len(data.train), eval_examples=len(data.eval or []), tokenizer=tokenizer)
"""

from __future__ import annotations

import json
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import PrinterCallback

from jobs.data.split import write_split
from jobs.metrics import MetricsSink
from jobs.models import ResolvedModel, count_parameters
from jobs.models.tokenizer_files import save_tokenizer
from jobs.spec import JobSpec, Method
from jobs.trainers.arguments import CHECKPOINTS

TRAINER_STATE = "trainer_state.json"
"""Written last into a checkpoint by the Trainer (and the text-to-image loop): a checkpoint is complete when it parses."""
_log = logging.getLogger(__name__)


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


def last_complete_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest checkpoint that was fully written: weights saved and a ``trainer_state.json`` that parses (a crash mid-save
    leaves none, or one cut short). Each newer checkpoint passed over is logged with the reason."""
    if not checkpoint_dir.is_dir():
        return None
    candidates = []
    for folder in checkpoint_dir.glob("checkpoint-*"):
        step = folder.name.rsplit("-", 1)[-1]
        if folder.is_dir() and step.isdigit():
            candidates.append((int(step), folder))
    skipped: list[str] = []
    for _, folder in sorted(candidates, reverse=True):
        problem = checkpoint_problem(folder)
        if problem is None:
            if skipped:
                _log.warning("resuming from %s instead of the newer %s", folder.name, "; ".join(skipped))
            return folder
        skipped.append(f"{folder.name} ({problem})")
    if skipped:
        _log.warning("no checkpoint can be resumed, starting from step 0: %s", "; ".join(skipped))
    return None


def checkpoint_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be resumed from (no weights, no or an unreadable ``trainer_state.json``), or None when it can."""
    if not any(folder.glob("*.safetensors")):
        return "no weights were saved"
    state_file = folder / TRAINER_STATE
    if not state_file.is_file():
        return f"no {TRAINER_STATE}: the save was interrupted"
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return f"its {TRAINER_STATE} cannot be read ({error}): the save was cut short"
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        return f"its {TRAINER_STATE} has no global_step"
    return None


def peak_memory_bytes() -> int:
    """The most GPU memory allocated so far, or without a GPU the process's peak resident memory."""
    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def save_adapter(model: Any, folder: Path, hub_ref: str | None, *, tokenizer: Any = None, label_names: list[str] | None = None) -> None:
    """Save a PEFT adapter (a sentence-transformers model with an adapter writes its module files too) into ``folder``,
    with the tokenizer when given; ``hub_ref`` (the base model's Hub id) replaces this machine's cache folder in
    ``adapter_config.json`` so the adapter loads anywhere."""
    model.save_pretrained(str(folder))
    if tokenizer is not None:
        save_tokenizer(tokenizer, folder)
    config_path = folder / "adapter_config.json"
    if hub_ref and config_path.is_file():
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = hub_ref
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
    if label_names:
        # The label names travel with the adapter (PEFT keeps only the head's weights).
        model.get_base_model().config.save_pretrained(folder)


def _losses(log_history: list[dict[str, Any]]) -> tuple[float | None, float | None]:
    losses = [entry["loss"] for entry in log_history if "loss" in entry]
    return (losses[0], losses[-1]) if losses else (None, None)


def _evaluate(trainer: Any, sink: MetricsSink, is_main: bool) -> dict[str, float]:
    """The trainer's eval-set metrics (one metric row), or {} when it has no eval set."""
    if getattr(trainer, "eval_dataset", None) is None:
        return {}
    eval_metrics = {key: float(value) for key, value in trainer.evaluate().items() if isinstance(value, (int, float))}
    if is_main:
        sink.record(trainer.state.global_step, eval_metrics, total_steps=trainer.state.max_steps)
    return eval_metrics


def _save_full_model(trainer: Any, folder: Path, is_main: bool, tokenizer: Any) -> None:
    trainer.save_model(str(folder))  # collective under FSDP/DeepSpeed: every rank calls it
    if is_main:
        if tokenizer is not None:
            save_tokenizer(tokenizer, folder)
        (folder / "training_args.bin").unlink(missing_ok=True)  # a pickle; the settings are in spec.yaml


def finish_training(
    trainer: Any,
    spec: JobSpec,
    run_dir: Path,
    sink: MetricsSink,
    *,
    data: Any,
    resolved: ResolvedModel,
    started: float,
    train_examples: int,
    eval_examples: int,
    tokenizer: Any = None,
    label_names: list[str] | None = None,
    save_model: Callable[[str], Any] | None = None,
) -> TrainOutcome:
    """Train ``trainer`` (resuming from the last complete checkpoint), evaluate, save and describe the run.

    ``data`` is the trainer's data (its ``split`` is written to ``run_dir/split.json`` before training; its ``choice``, ``skipped``
    and ``warnings`` go into the outcome); ``tokenizer`` is saved
    beside the adapter or model; ``label_names`` travel with a classification adapter; ``save_model(folder)`` replaces
    ``trainer.save_model`` for a full fine-tune that saves in its own layout (sentence-transformers), on the main process.
    """
    trainable, total = count_parameters(trainer.model)
    trainer.remove_callback(PrinterCallback)  # metrics go to the sink and the progress bar, not stdout
    if trainer.is_world_process_zero():
        write_split(run_dir, data.split)  # runs/<job>/split.json: the rows trained on and held out, before a step is taken
    last_checkpoint = last_complete_checkpoint(run_dir / CHECKPOINTS)
    resumed_from = int(last_checkpoint.name.split("-")[-1]) if last_checkpoint else None
    result = trainer.train(resume_from_checkpoint=str(last_checkpoint) if last_checkpoint else None)

    is_main = trainer.is_world_process_zero()
    eval_metrics = _evaluate(trainer, sink, is_main)
    is_peft = spec.method is not Method.FULL
    output_folder = run_dir / ("adapter" if is_peft else "model")
    hub_ref = spec.base_model if resolved.source in ("hub-cache", "packaged") else None
    if is_peft and is_main:
        save_adapter(trainer.model, output_folder, hub_ref, tokenizer=tokenizer, label_names=label_names)
    elif not is_peft and save_model is not None:
        if is_main:
            save_model(str(output_folder))
    elif not is_peft:
        _save_full_model(trainer, output_folder, is_main, tokenizer)

    first_loss, last_loss = _losses(trainer.state.log_history)
    return TrainOutcome(
        output_folder=output_folder,
        global_step=trainer.state.global_step,
        resumed_from_step=resumed_from,
        first_loss=first_loss,
        last_loss=last_loss,
        train_loss=float(result.training_loss) if result.training_loss is not None else None,
        eval_metrics=eval_metrics,
        label_names=label_names,
        trainable_params=trainable,
        total_params=total,
        train_examples=train_examples,
        eval_examples=eval_examples,
        skipped_rows=len(data.skipped),
        runtime_seconds=time.perf_counter() - started,
        peak_memory_bytes=peak_memory_bytes(),
        stopped_early=trainer.state.global_step < trainer.state.max_steps,
        base_model_path=str(resolved.path),
        data_format=data.choice.format.value,
        data_mapping=dict(data.choice.mapping),
        warnings=list(data.warnings),
        is_main_process=is_main,
    )
