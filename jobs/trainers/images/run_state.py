"""What both text-to-image trainers (SD/SDXL UNet in :mod:`jobs.trainers.images.train`, FLUX.1/SD 3.x in
:mod:`jobs.trainers.images.flow_train`) and their one step loop (:mod:`jobs.trainers.images.loop`) share: the outcome, step
counting, checkpoint timing, the optimizer and LR schedule, resumable checkpoints (``checkpoints/checkpoint-<step>/``: LoRA
weights in safetensors, optimizer state, and ``trainer_state.json`` written last), the metric row of a step, and the run's
images and hold-out split.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from jobs.data.images import HeldOutImages, ImageDatasetReport, ImageItem, load_image_dataset, split_image_dataset
from jobs.data.split import write_split
from jobs.errors import UnsupportedError
from jobs.metrics import MetricsSink
from jobs.spec import JobSpec, TrainingSpec
from jobs.trainers.arguments import CHECKPOINTS
from jobs.trainers.images.batches import BatchOrder
from jobs.trainers.tail import TRAINER_STATE, TrainOutcome, last_complete_checkpoint


@dataclass(kw_only=True)
class ImageTrainOutcome(TrainOutcome):
    """What a finished (or cleanly stopped) text-to-image run produced and measured: a text run's
    :class:`~jobs.trainers.tail.TrainOutcome` and what only image runs have."""

    data_format: str = "images"
    train_seconds: float
    """Seconds spent in optimizer steps (no loading, sampling or saving): the benchmark's denominator."""
    steps_per_second: float | None
    pipeline_family: str
    trigger_word: str | None
    samples: list[str]
    kohya_file: str
    skipped_images: dict[str, str] = field(default_factory=dict)
    held_out: HeldOutImages = field(default_factory=HeldOutImages)
    """The images kept out of training for the before/after report (or why there are none)."""


def total_steps(spec: JobSpec, per_epoch: int) -> int:
    """Optimizer steps of the run: ``max_steps`` or epochs × ``per_epoch`` batches / accumulation."""
    if spec.training.max_steps:
        return spec.training.max_steps
    return max(1, math.ceil(spec.training.epochs * per_epoch / spec.training.gradient_accumulation))


def checkpoint_due(settings: TrainingSpec, step: int, max_steps: int, seconds_since_save: float, epoch_ended: bool = False) -> bool:
    """True when a resumable checkpoint is saved after ``step``: every ``save_steps`` steps (without save_steps: when
    an epoch ended), and once ``checkpoint_minutes`` have passed since the last save (or the start); never after the
    last step (the adapter is saved then)."""
    if step >= max_steps:
        return False
    by_steps = bool(settings.save_steps and step % settings.save_steps == 0) or (not settings.save_steps and epoch_ended)
    by_time = settings.checkpoint_minutes is not None and seconds_since_save >= settings.checkpoint_minutes * 60
    return by_steps or by_time


def make_optimizer(parameters: list[torch.nn.Parameter], spec: JobSpec) -> torch.optim.Optimizer:
    settings = spec.training
    if spec.images.use_8bit_adam:
        if not torch.cuda.is_available():
            raise UnsupportedError("images.use_8bit_adam needs a CUDA GPU and bitsandbytes; set it to false on this machine")
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise UnsupportedError("images.use_8bit_adam needs the bitsandbytes package; install it or set use_8bit_adam to false") from None
        return bnb.optim.AdamW8bit(parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    return torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay)


def save_checkpoint(run_dir: Path, step: int, parts: Any, optimizer: Any, lr_scheduler: Any, state: dict[str, Any]) -> None:
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder = run_dir / CHECKPOINTS / f"checkpoint-{step}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    weights = {f"{name}.{key}": value.contiguous() for name, module in parts.trained_modules().items()
               for key, value in get_peft_model_state_dict(module).items()}
    save_file(weights, str(folder / "lora.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "lr_scheduler": lr_scheduler.state_dict()}, folder / "optimizer.pt")
    (folder / TRAINER_STATE).write_text(json.dumps({**state, "global_step": step}), encoding="utf-8")  # written last: marks it complete
    older = sorted((int(p.name.rsplit("-", 1)[1]), p) for p in (run_dir / CHECKPOINTS).glob("checkpoint-*") if p.name.rsplit("-", 1)[1].isdigit())
    for _, stale in older[:-2]:
        shutil.rmtree(stale, ignore_errors=True)


def load_checkpoint(folder: Path, parts: Any, optimizer: Any, lr_scheduler: Any) -> dict[str, Any]:
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(str(folder / "lora.safetensors"))
    for name, module in parts.trained_modules().items():
        prefix = f"{name}."
        set_peft_model_state_dict(module, {key[len(prefix):]: value for key, value in weights.items() if key.startswith(prefix)})
    saved = torch.load(folder / "optimizer.pt", weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    lr_scheduler.load_state_dict(saved["lr_scheduler"])
    return json.loads((folder / TRAINER_STATE).read_text(encoding="utf-8"))


def read_images(spec: JobSpec, run_dir: Path) -> tuple[ImageDatasetReport, list[ImageItem], HeldOutImages]:
    """The run's image dataset, the images it trains on and those held out (recorded in ``runs/<job>/split.json``)."""
    images = spec.images
    dataset = load_image_dataset(spec.data.train, caption=images.caption, instance_prompt=images.instance_prompt, trigger_word=images.trigger_word)
    train_items, held_out = split_image_dataset(spec, dataset)
    write_split(run_dir, held_out.split)
    return dataset, train_items, held_out


@dataclass
class Optimization:
    """The trainable LoRA parameters, optimizer and LR schedule of a run, and where it starts (a checkpoint's step or 0)."""

    trainable: list[torch.nn.Parameter]
    optimizer: Any
    lr_scheduler: Any
    max_steps: int
    state: dict[str, Any]
    resumed_from: int | None

    @property
    def start_step(self) -> int:
        """The step training continues from."""
        return self.resumed_from or 0


def start_optimization(spec: JobSpec, run_dir: Path, parts: Any, batches_per_epoch: int) -> Optimization:
    """LoRA parameters in fp32 (even on a half-precision base), AdamW (or 8-bit AdamW), the LR schedule, and the state of the newest
    complete checkpoint under ``run_dir/checkpoints`` when there is one."""
    from diffusers.optimization import get_scheduler

    settings = spec.training
    trainable = [p for module in parts.trained_modules().values() for p in module.parameters() if p.requires_grad]
    for parameter in trainable:
        parameter.data = parameter.data.float()
    optimizer = make_optimizer(trainable, spec)
    max_steps = total_steps(spec, batches_per_epoch)
    lr_scheduler = get_scheduler(settings.scheduler.value, optimizer, num_warmup_steps=int(settings.warmup_ratio * max_steps), num_training_steps=max_steps)
    last = last_complete_checkpoint(run_dir / CHECKPOINTS)
    state: dict[str, Any] = {"first_loss": None, "loss_sum": 0.0, "loss_count": 0}
    resumed_from = None
    if last is not None:
        state = load_checkpoint(last, parts, optimizer, lr_scheduler)
        resumed_from = int(state["global_step"])
    return Optimization(trainable, optimizer, lr_scheduler, max_steps, state, resumed_from)


def optimizer_step(run: Optimization, max_grad_norm: float) -> float:
    """Clip, step the optimizer and the LR schedule, clear the gradients; returns the gradient norm before clipping."""
    grad_norm = float(torch.nn.utils.clip_grad_norm_(run.trainable, max_grad_norm))
    run.optimizer.step()
    run.lr_scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    return grad_norm


def record_step(sink: MetricsSink, spec: JobSpec, run: Optimization, step: int, step_loss: float, grad_norm: float, train_seconds: float,
                order: BatchOrder) -> None:
    """Keep the loss totals and, every ``logging_steps`` (and at the last step), write the step's metric row."""
    state, settings = run.state, spec.training
    if state["first_loss"] is None:
        state["first_loss"] = step_loss
    state["loss_sum"] += step_loss
    state["loss_count"] += 1
    if step % settings.logging_steps and step != run.max_steps:
        return
    per_step = settings.gradient_accumulation * settings.batch_size
    speed = (step - run.start_step) / train_seconds if train_seconds > 0 else 0.0
    sink.record(step, {
        "loss": step_loss, "learning_rate": run.lr_scheduler.get_last_lr()[0], "grad_norm": grad_norm,
        "epoch": order.epochs(step * settings.gradient_accumulation),
        "steps_per_second": speed, "images_per_second": speed * per_step, "eta_seconds": (run.max_steps - step) / speed if speed else 0.0,
    }, total_steps=run.max_steps)


def epoch_ended(order: BatchOrder, step: int, accumulation: int) -> bool:
    """True when optimizer step ``step`` (of ``accumulation`` micro-batches of ``order``) finished an epoch."""
    return order.epoch_of(step * accumulation) > order.epoch_of((step - 1) * accumulation)


def make_outcome(spec: JobSpec, run: Optimization, *, output_folder: Path, step: int, last_loss: float | None, total_params: int,
                 dataset: ImageDatasetReport, train_items: list[ImageItem], held_out: HeldOutImages, started: float, train_seconds: float,
                 stopped: bool, base_model_path: str, family: str, samples: list[str], kohya_file: str, peak_memory: int,
                 warnings: list[str] | None = None) -> ImageTrainOutcome:
    """The outcome of a finished (or cleanly stopped) run."""
    import time

    done = step - run.start_step
    state = run.state
    return ImageTrainOutcome(
        output_folder=output_folder, global_step=step, resumed_from_step=run.resumed_from, first_loss=state["first_loss"], last_loss=last_loss,
        train_loss=state["loss_sum"] / state["loss_count"] if state["loss_count"] else None,
        trainable_params=sum(p.numel() for p in run.trainable), total_params=total_params, train_examples=len(train_items),
        skipped_rows=len(dataset.unreadable), runtime_seconds=time.perf_counter() - started, train_seconds=train_seconds,
        steps_per_second=done / train_seconds if train_seconds > 0 else None, peak_memory_bytes=peak_memory, stopped_early=stopped,
        base_model_path=base_model_path, pipeline_family=family, trigger_word=spec.images.trigger_word, samples=samples, kohya_file=kohya_file,
        skipped_images=dict(dataset.unreadable), data_mapping={"caption_source": dataset.caption_source},
        warnings=[*dataset.problems, *(warnings or [])], eval_examples=len(held_out.items), eval_metrics={}, label_names=None, held_out=held_out,
    )
