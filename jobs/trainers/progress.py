"""A TrainerCallback that turns the Trainer's logs into metric rows, a progress bar and a stop switch.

Each log becomes one :meth:`MetricsSink.record` call with loss, learning rate, grad norm, epoch,
tokens per second and the ETA. The records are written by a background thread
(:class:`jobs.trainers.metric_writer.MetricWriter`), in order, so the training loop never waits for a database commit
(a few milliseconds a step: on a GPU, a noticeable share of a small model's step); they are all written before
``on_train_end`` returns, and a failed write stops the run at the next step as it would have inline. ``stop_file`` is
polled every step: when it appears the run stops cleanly at the next step boundary (the worker's cancel uses a signal;
this is the gentle path).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from jobs.metrics import MetricsSink
from jobs.trainers.metric_writer import MetricWriter

_RENAME = {"train_loss": "train_loss_final"}


class ProgressCallback(TrainerCallback):
    """Records metrics as they are logged and shows a tqdm bar when asked."""

    def __init__(self, sink: MetricsSink, show_progress: bool = False, stop_file: Path | None = None):
        self.sink: MetricsSink | None = sink
        self.show_progress = show_progress
        self.stop_file = stop_file
        self.writer: MetricWriter | None = None
        self.bar: Any = None
        self.started_at = 0.0
        self.start_step = 0
        self.start_tokens = 0
        self.last_loss: float | None = None

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if not state.is_world_process_zero:  # in distributed runs only rank 0 reports
            self.sink = None
            self.show_progress = False
        self.started_at = time.perf_counter()
        self.start_step = state.global_step
        self.start_tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
        if self.sink is not None:
            self.sink.set_total_steps(state.max_steps)
            self.writer = MetricWriter(self.sink)
        if self.show_progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.max_steps, initial=state.global_step, unit="step", dynamic_ncols=True)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if self.writer is not None:
            self.writer.check()
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)
        if self.stop_file is not None and self.stop_file.exists():
            control.should_training_stop = True
            control.should_save = True

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not logs or self.sink is None:
            return
        values = {_RENAME.get(key, key): value for key, value in logs.items() if isinstance(value, (int, float))}
        elapsed = time.perf_counter() - self.started_at
        done = state.global_step - self.start_step
        if done > 0 and elapsed > 0:
            seconds_per_step = elapsed / done
            values["steps_per_second"] = 1.0 / seconds_per_step
            values["eta_seconds"] = max(0, state.max_steps - state.global_step) * seconds_per_step
            tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0) - self.start_tokens
            if tokens > 0:
                values["tokens_per_second"] = tokens / elapsed
        values.pop("total_flos", None)
        if self.writer is not None:
            self.writer.submit(state.global_step, values, state.max_steps)
        else:  # logged outside train() (an evaluate() call): written here
            self.sink.record(state.global_step, values, total_steps=state.max_steps)
        if "loss" in values:
            self.last_loss = float(values["loss"])
        if self.bar is not None:
            shown = {k: f"{values[k]:.4g}" for k in ("loss", "eval_loss", "eval_accuracy") if k in values}
            self.bar.set_postfix(shown, refresh=False)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)
            self.bar.close()
            self.bar = None
        if self.writer is not None:
            writer, self.writer = self.writer, None
            writer.close()
