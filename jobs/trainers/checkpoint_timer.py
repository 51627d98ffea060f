"""A TrainerCallback that saves a resumable checkpoint every ``training.checkpoint_minutes`` of training.

It asks the Trainer to save (``control.should_save``) at the first step boundary after the interval has passed
since training began or since the last save of any kind (save_steps, epoch end, stop), so a crash loses at most
about that many minutes of training. In a distributed run rank 0's clock decides for every rank (the save is
collective). Resuming picks the newest complete checkpoint (``jobs.trainers.tail.last_complete_checkpoint``).

    trainer.add_callback(CheckpointTimer(spec.training.checkpoint_minutes))
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


class CheckpointTimer(TrainerCallback):
    """Sets ``control.should_save`` once ``minutes`` of training have passed since the last checkpoint."""

    def __init__(self, minutes: float | None, clock: Callable[[], float] = time.monotonic):
        self.interval = minutes * 60.0 if minutes else None
        self.clock = clock
        self.last_save = clock()
        self.timed_saves = 0
        """How many checkpoints the timer asked for."""

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        self.last_save = self.clock()

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if self.interval is None or control.should_save:
            return
        if _agreed(self.clock() - self.last_save >= self.interval, args):
            control.should_save = True
            self.timed_saves += 1

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        self.last_save = self.clock()


def _agreed(due: bool, args: TrainingArguments) -> bool:
    """``due`` as rank 0 sees it, on every rank (each rank's own value outside distributed runs)."""
    if args.world_size <= 1 or not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return due
    flag = torch.tensor([int(due)], device=args.device)
    torch.distributed.broadcast(flag, src=0)
    return bool(flag.item())
