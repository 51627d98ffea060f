"""Trainer registry: one training function per task family, looked up by the spec's task.

Text tasks (causal LM, classification) use :mod:`jobs.trainers.text`; ``text-to-image`` uses
:mod:`jobs.diffusion.train`.
"""

from __future__ import annotations

from collections.abc import Callable

from jobs.spec import Task

TrainerFunction = Callable[..., object]


def get_trainer(task: Task) -> TrainerFunction:
    """The training function for a task (imported lazily: torch loads only in the training process)."""
    if task in (Task.CAUSAL_LM, Task.TEXT_CLASSIFICATION):
        from jobs.trainers.text import train_text_model

        return train_text_model
    if task is Task.TEXT_TO_IMAGE:
        from jobs.diffusion.train import train_text_to_image

        return train_text_to_image
    raise KeyError(f"no trainer registered for task {task.value}")
