"""``training.checkpoint_minutes``: the text trainer saves resumable checkpoints by the clock, mid-epoch.

A one-epoch job that crashes before its end leaves a timed checkpoint, and the rerun resumes from it; without the
timer the same crash leaves nothing to resume from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import Trainer, TrainerControl, TrainerState, TrainingArguments

from jobs.metrics import MetricsSink
from jobs.spec import parse_spec
from jobs.trainers.arguments import CHECKPOINTS
from jobs.trainers.checkpoint_timer import CheckpointTimer
from jobs.trainers.tail import last_complete_checkpoint
from jobs.trainers.text import train_text_model

ROWS = [{"question": f"What colour is the sky on planet {name}?", "answer": f"The sky on {name} is {colour}."}
        for name, colour in [("Zor", "teal"), ("Quel", "amber"), ("Bran", "violet"), ("Oxy", "crimson"), ("Tam", "silver"), ("Vesh", "indigo")]]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_timer_asks_for_a_save_once_the_interval_has_passed_since_the_last_save(tmp_path: Path) -> None:
    clock = FakeClock()
    timer = CheckpointTimer(1.0, clock=clock)
    args, state = TrainingArguments(str(tmp_path), use_cpu=True, report_to="none"), TrainerState()

    def step_at(seconds: float) -> bool:
        clock.now = seconds
        control = TrainerControl()
        timer.on_step_end(args, state, control)
        if control.should_save:
            timer.on_save(args, state, control)
        return control.should_save

    timer.on_train_begin(args, state, TrainerControl())
    assert [step_at(t) for t in (30, 59, 61, 100, 120, 122)] == [False, False, True, False, False, True]
    clock.now = 150
    timer.on_save(args, state, TrainerControl())  # a save_steps / epoch checkpoint restarts the interval
    assert [step_at(t) for t in (200, 211)] == [False, True]
    off = CheckpointTimer(None, clock=clock)
    control = TrainerControl()
    clock.now = 10_000
    off.on_step_end(args, state, control)
    assert not control.should_save


def _crash_at_step(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """Make training die (as a killed or crashed process would) when it starts step ``step + 1``."""
    original = Trainer.training_step

    def training_step(self: Trainer, *args, **kwargs):
        if self.state.global_step >= step:
            raise RuntimeError("simulated crash")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", training_step)


def _spec(tmp_path: Path, model: Path, minutes: float | None):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    return parse_spec({
        "name": "timed-checkpoints", "base_model": str(model), "method": "lora", "data": {"train": str(data)},
        "training": {"epochs": 1, "batch_size": 2, "max_length": 64, "learning_rate": 1e-2, "logging_steps": 1,
                     "warmup_ratio": 0.0, "seed": 1, "checkpoint_minutes": minutes},
    })


@pytest.mark.parametrize("minutes", [1e-6, None], ids=["timed", "epoch-end-only"])
def test_a_crash_mid_epoch_resumes_from_the_timed_checkpoint(
    tmp_path: Path, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch, minutes: float | None
) -> None:
    spec = _spec(tmp_path, tiny_llama, minutes)  # 6 rows, batch 2: one epoch is 3 steps, saved only at its end
    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        _crash_at_step(patch, 2)
        with pytest.raises(RuntimeError, match="simulated crash"):
            train_text_model(spec, run_dir, MetricsSink(run_dir / "metrics.jsonl"))
    survived = last_complete_checkpoint(run_dir / CHECKPOINTS)
    if minutes is None:
        assert survived is None, "without the timer a one-epoch job has no checkpoint before its end"
        return
    assert survived is not None and survived.name == "checkpoint-2", "the timer saved after each step, mid-epoch"
    outcome = train_text_model(spec, run_dir, MetricsSink(run_dir / "metrics.jsonl"))
    assert outcome.resumed_from_step == 2 and outcome.global_step == 3 and not outcome.stopped_early
