"""The ``training:`` section of a spec as the keyword arguments every Trainer flavour shares.

transformers' ``TrainingArguments``, sentence-transformers' ``SentenceTransformerTrainingArguments`` and TRL's configs
(``DPOConfig``, ``GRPOConfig``, ...) all subclass ``TrainingArguments``, so one mapping serves every trainer; each adds
only what is its own (length grouping, the batch sampler, the objective's settings, checkpointing flags).

    TrainingArguments(**shared_arguments(spec, run_dir, has_eval=True, precision_flags=flags), remove_unused_columns=False)

On a GPU it adds the fused AdamW and the Liger kernel switch that :func:`jobs.trainers.accelerators.gpu_settings` chose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from jobs.models.hardware import hardware_from_torch
from jobs.spec import JobSpec
from jobs.trainers.accelerators import GpuSettings, gpu_settings

CHECKPOINTS = "checkpoints"
"""The run folder's subfolder of resumable checkpoints."""


def shared_arguments(spec: JobSpec, run_dir: Path, has_eval: bool, precision_flags: dict[str, Any],
                     fast: GpuSettings | None = None) -> dict[str, Any]:
    """Epochs, steps, learning rate and schedule, batch sizes, logging, evaluation and checkpoint cadence, seed, device
    and precision, from ``spec.training``. Evaluation runs each epoch (or every ``eval_steps``) only when ``has_eval``.
    ``fast`` is what the trainer decided for this machine (default: :func:`gpu_settings` without the model's family)."""
    settings = spec.training
    fast = fast or gpu_settings(spec, hardware_from_torch())
    eval_strategy, eval_steps = (("steps", settings.eval_steps) if settings.eval_steps else ("epoch", None)) if has_eval else ("no", None)
    save_strategy, save_steps = ("steps", settings.save_steps) if settings.save_steps else ("epoch", None)
    return {
        "output_dir": str(run_dir / CHECKPOINTS),
        "num_train_epochs": settings.epochs,
        "max_steps": settings.max_steps or -1,
        "learning_rate": settings.learning_rate,
        "per_device_train_batch_size": settings.batch_size,
        "per_device_eval_batch_size": settings.batch_size,
        "gradient_accumulation_steps": settings.gradient_accumulation,
        "warmup_steps": settings.warmup_ratio,
        "lr_scheduler_type": settings.scheduler.value,
        "weight_decay": settings.weight_decay,
        "max_grad_norm": settings.max_grad_norm,
        "logging_steps": settings.logging_steps,
        "logging_first_step": True,
        "eval_strategy": eval_strategy,
        "eval_steps": eval_steps,
        "save_strategy": save_strategy,
        "save_steps": save_steps,
        "save_total_limit": 2,
        "seed": settings.seed,
        "data_seed": settings.seed,
        "use_cpu": not torch.cuda.is_available(),
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
        "report_to": "none",
        **fast.trainer_arguments(),
        **precision_flags,
    }
