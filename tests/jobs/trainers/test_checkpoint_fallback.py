"""A checkpoint whose ``trainer_state.json`` is truncated (a crash or a full disk mid-write) is skipped, and says why:
the run resumes from the newest checkpoint whose state parses instead of failing."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from jobs.metrics import MetricsSink
from jobs.trainers.arguments import CHECKPOINTS
from jobs.trainers.tail import last_complete_checkpoint
from jobs.trainers.text import train_text_model
from tests.jobs.trainers.test_checkpoint_minutes import _crash_at_step, _spec


def _checkpoint(folder: Path, step: int, state: str | None) -> Path:
    checkpoint = folder / f"checkpoint-{step}"
    checkpoint.mkdir(parents=True)
    (checkpoint / "adapter_model.safetensors").write_bytes(b"weights")
    if state is not None:
        (checkpoint / "trainer_state.json").write_text(state, encoding="utf-8")
    return checkpoint


@pytest.mark.parametrize(("damaged_state", "why"), [
    ('{"global_step": 6, "log_history": [{"loss": 1.2', "cannot be read"),   # cut off mid-write
    ("", "cannot be read"),                                                  # created, never written
    ('["not", "a", "state"]', "no global_step"),
    ('{"log_history": []}', "no global_step"),
], ids=["truncated", "empty", "not-an-object", "no-step"])
def test_the_newest_checkpoint_whose_state_parses_is_chosen_and_the_skip_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damaged_state: str, why: str
) -> None:
    good = _checkpoint(tmp_path, 3, json.dumps({"global_step": 3, "log_history": []}))
    _checkpoint(tmp_path, 6, damaged_state)
    _checkpoint(tmp_path, 9, None)  # a crash before the state was written at all: skipped as before
    with caplog.at_level(logging.WARNING, logger="jobs.trainers.tail"):
        assert last_complete_checkpoint(tmp_path) == good
    logged = caplog.text
    assert "checkpoint-6" in logged and why in logged and "checkpoint-3" in logged


def test_no_usable_checkpoint_means_a_fresh_start(tmp_path: Path) -> None:
    _checkpoint(tmp_path, 4, "{")
    assert last_complete_checkpoint(tmp_path) is None
    assert last_complete_checkpoint(tmp_path / "missing") is None


def test_a_run_whose_last_trainer_state_is_truncated_resumes_from_the_one_before(
    tmp_path: Path, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(tmp_path, tiny_llama, 1e-6)  # 6 rows, batch 2: 3 steps, a timed checkpoint after every step
    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        _crash_at_step(patch, 2)
        with pytest.raises(RuntimeError, match="simulated crash"):
            train_text_model(spec, run_dir, MetricsSink(run_dir / "metrics.jsonl"))
    state = run_dir / CHECKPOINTS / "checkpoint-2" / "trainer_state.json"
    state.write_text(state.read_text(encoding="utf-8")[:40], encoding="utf-8")  # the last save was cut short
    outcome = train_text_model(spec, run_dir, MetricsSink(run_dir / "metrics.jsonl"))
    assert outcome.resumed_from_step == 1 and outcome.global_step == 3 and not outcome.stopped_early
