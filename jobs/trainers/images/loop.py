"""The one step loop of both text-to-image trainers (SD/SDXL in :mod:`jobs.trainers.images.train`, FLUX.1/SD 3.x in
:mod:`jobs.trainers.images.flow_train`); each passes what one micro-batch computes and how samples render.

:func:`run_steps` trains from the run's start step (a checkpoint's, or 0) to its last: per step a ``random.Random`` and a
``torch.Generator`` seeded from the spec's seed and the step (so a resumed run draws what an uninterrupted one would),
``gradient_accumulation`` micro-batches drawn from the run's batch order (:func:`jobs.trainers.images.batches.batch_order`: one
aspect-ratio bucket per batch, a function of seed and micro-step alone), their mean loss,
one optimizer step, the metric row, samples every ``samples.every_steps`` (and at the last step), a checkpoint when
:func:`jobs.trainers.images.run_state.checkpoint_due` says so or the stop file appeared (then it stops cleanly).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from jobs.metrics import MetricsSink
from jobs.spec import JobSpec
from jobs.trainers.images.batches import BatchOrder
from jobs.trainers.images.run_state import Optimization, checkpoint_due, epoch_ended, optimizer_step, record_step, save_checkpoint
from jobs.trainers.images.sample_index import SAMPLES
from jobs.trainers.images.samples import sample_due

MicroStep = Callable[[list[int], random.Random, torch.Generator], torch.Tensor]
"""The loss of one micro-batch: the indices of its training images, the step's ``random.Random`` (crops, flips) and its
``torch.Generator`` (latent sampling, noise, timesteps). The loop divides it by the accumulation and back-propagates it."""

RenderSamples = Callable[[int], list[Path]]
"""Render the sample prompts after the given step; returns the image files written."""


@dataclass
class StepsDone:
    """Where the loop ended: the last step, its loss, the seconds spent in optimizer steps, whether the stop file ended it,
    and every sample image of the run (those of an earlier, resumed attempt first)."""

    step: int
    last_loss: float | None
    train_seconds: float
    stopped: bool
    samples: list[str] = field(default_factory=list)


def existing_samples(run_dir: Path) -> list[str]:
    """The sample images an earlier attempt of this run already rendered (a resumed run keeps showing them)."""
    folder = run_dir / SAMPLES
    return sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []


def run_steps(spec: JobSpec, run_dir: Path, sink: MetricsSink, run: Optimization, parts: Any, order: BatchOrder, micro_step: MicroStep,
              render: RenderSamples, *, show_progress: bool = False, stop_file: Path | None = None) -> StepsDone:
    """Train ``parts`` (SD ``DiffusionParts`` or ``FlowParts``) from ``run.start_step`` to ``run.max_steps`` on the micro-batches of
    ``order``; stops cleanly (after a checkpoint) when ``stop_file`` appears."""
    settings = spec.training
    step, max_steps = run.start_step, run.max_steps
    sink.set_total_steps(max_steps)
    bar = None
    if show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_steps, initial=step, unit="step", dynamic_ncols=True)
    done = StepsDone(step=step, last_loss=None, train_seconds=0.0, stopped=False, samples=existing_samples(run_dir))
    accumulation = settings.gradient_accumulation
    parts.set_train_mode()
    last_save = time.monotonic()
    while step < max_steps:
        step_started = time.perf_counter()
        rng = random.Random(settings.seed * 7919 + step)
        generator = torch.Generator(device=parts.device).manual_seed(settings.seed * 104_729 + step)
        step_loss = 0.0
        for micro in range(accumulation):
            indices = order.batch(step * accumulation + micro)
            loss = micro_step(indices, rng, generator)
            (loss / accumulation).backward()
            step_loss += float(loss.detach()) / accumulation
        grad_norm = optimizer_step(run, settings.max_grad_norm)
        step += 1
        done.step = step
        done.train_seconds += time.perf_counter() - step_started
        done.last_loss = step_loss
        record_step(sink, spec, run, step, step_loss, grad_norm, done.train_seconds, order)
        if bar is not None:
            bar.update(1)
            bar.set_postfix({"loss": f"{step_loss:.4g}"}, refresh=False)
        done.stopped = stop_file is not None and stop_file.exists() and step < max_steps
        if sample_due(spec.samples, step, max_steps):
            done.samples += [p.name for p in render(step)]
        if done.stopped or checkpoint_due(settings, step, max_steps, time.monotonic() - last_save, epoch_ended(order, step, accumulation)):
            save_checkpoint(run_dir, step, parts, run.optimizer, run.lr_scheduler, run.state)
            last_save = time.monotonic()
        if done.stopped:
            break
    if bar is not None:
        bar.close()
    return done
