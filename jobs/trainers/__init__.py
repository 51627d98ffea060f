"""Trainer registry: one training function per task family, looked up by the spec's task.

Text tasks (causal LM, classification) use :mod:`jobs.trainers.text`; ``text-to-image`` uses
:mod:`jobs.trainers.images.train`; ``sentence-embedding`` uses :mod:`jobs.trainers.embedding`. A causal LM whose ``objective`` is
not sft goes to :mod:`jobs.trainers.preference` (dpo, orpo, kto) or :mod:`jobs.trainers.grpo`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobs.spec import JobSpec, Objective, Task

TrainerFunction = Callable[..., object]


def get_trainer(task: Task) -> TrainerFunction:
    """The training function for a task (imported lazily: torch loads only in the training process)."""
    if task is Task.CAUSAL_LM:
        return train_causal_lm
    if task is Task.TEXT_CLASSIFICATION:
        from jobs.trainers.text import train_text_model

        return train_text_model
    if task is Task.TEXT_TO_IMAGE:
        from jobs.trainers.images.train import train_text_to_image

        return train_text_to_image
    if task is Task.SENTENCE_EMBEDDING:
        from jobs.trainers.embedding import train_embedding_model

        return train_embedding_model
    raise KeyError(f"no trainer registered for task {task.value}")


def train_causal_lm(spec: JobSpec, run_dir: Any, sink: Any, **options: Any) -> object:
    """causal-lm: the trainer of the spec's objective (sft: the text trainer; dpo/orpo/kto: preference; grpo: GRPO)."""
    if spec.objective is Objective.GRPO:
        from jobs.trainers.grpo import train_grpo_model

        return train_grpo_model(spec, run_dir, sink, **options)
    if spec.objective is not Objective.SFT:
        from jobs.trainers.preference import train_preference_model

        return train_preference_model(spec, run_dir, sink, **options)
    from jobs.trainers.text import train_text_model

    return train_text_model(spec, run_dir, sink, **options)
