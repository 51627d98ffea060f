"""Trainer registry: one training function per task family, looked up by the spec's task (heavy: it imports every trainer,
so only the training process imports it, through :mod:`jobs.queue.run`).

Text tasks (causal LM, classification) use :mod:`jobs.trainers.text`; ``text-to-image`` uses
:mod:`jobs.trainers.images.train`; ``sentence-embedding`` uses :mod:`jobs.trainers.embedding`. A causal LM whose ``objective`` is
not sft goes to :mod:`jobs.trainers.preference` (dpo, orpo, kto) or :mod:`jobs.trainers.grpo`.

    outcome = get_trainer(spec.task)(spec, run_dir, sink, show_progress=True, stop_file=run_dir / "STOP")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobs.spec import JobSpec, Objective, Task
from jobs.trainers.embedding import train_embedding_model
from jobs.trainers.grpo import train_grpo_model
from jobs.trainers.images.train import train_text_to_image
from jobs.trainers.preference import train_preference_model
from jobs.trainers.text import train_text_model

TrainerFunction = Callable[..., object]


def train_causal_lm(spec: JobSpec, run_dir: Any, sink: Any, **options: Any) -> object:
    """causal-lm: the trainer of the spec's objective (sft: the text trainer; dpo/orpo/kto: preference; grpo: GRPO)."""
    if spec.objective is Objective.GRPO:
        return train_grpo_model(spec, run_dir, sink, **options)
    if spec.objective is not Objective.SFT:
        return train_preference_model(spec, run_dir, sink, **options)
    return train_text_model(spec, run_dir, sink, **options)


TRAINERS: dict[Task, TrainerFunction] = {
    Task.CAUSAL_LM: train_causal_lm,
    Task.TEXT_CLASSIFICATION: train_text_model,
    Task.TEXT_TO_IMAGE: train_text_to_image,
    Task.SENTENCE_EMBEDDING: train_embedding_model,
}
"""The training function of each task."""


def get_trainer(task: Task) -> TrainerFunction:
    """The training function for a task."""
    if task not in TRAINERS:
        raise KeyError(f"no trainer registered for task {task.value}")
    return TRAINERS[task]
