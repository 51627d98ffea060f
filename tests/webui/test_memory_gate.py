"""The Train tab's memory gate: over the budget, Submit refuses only a calibrated estimate that is clearly over; an
uncalibrated one (no measured row for this device, task, objective and method) gets a warning and goes ahead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobs.hub import search as hub
from jobs.models import memory_job
from jobs.models.memory_calibration import CalibrationRow
from jobs.spec import parse_spec
from webui.train_advice import memory_line
from webui.train_tab import preflight_report

MB = 1_000_000
SFT_ROW = CalibrationRow("cpu", "causal-lm", "sft", "lora", "all-linear", "smollm2", 4, 256, estimate_mb=1_100, measured_mb=1_000, date="2026-12-06")


@pytest.fixture
def calibrated_sft_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_job, "CALIBRATION", (SFT_ROW,))


def spec(**fields: Any) -> Any:
    return parse_spec({"base_model": "some/model", "data": {"train": "train.jsonl"}, **fields})


def budget(monkeypatch: pytest.MonkeyPatch, megabytes: int) -> None:
    monkeypatch.setattr(hub, "available_memory", lambda: (f"CPU (8.0 GB RAM, {megabytes} MB for a new job)", megabytes * MB))


@pytest.mark.usefixtures("calibrated_sft_only")
def test_memory_line_refuses_calibrated_warns_uncalibrated(monkeypatch: pytest.MonkeyPatch) -> None:
    budget(monkeypatch, 1_000)
    row = {"bytes": 3_000 * MB, "human": "≈ 3.0 GB at the peak", "fits": False, "device": "CPU (8.0 GB RAM)"}
    ok, line = memory_line(row, spec(), "en")
    assert not ok and line.startswith("❌") and "does not fit" in line
    grpo = spec(objective="grpo", data={"train": "p.jsonl", "format": "prompts"}, grpo={"rewards": [{"kind": "json"}]})
    ok, line = memory_line({**row, "bytes": 1_500 * MB}, grpo, "en")  # uncalibrated, over by less than its 2× error: a warning
    assert ok and line.startswith("⚠️") and "not calibrated for causal-lm grpo with lora on CPU" in line and "off by up to 2×" in line
    ok, line = memory_line(row, grpo, "en")  # uncalibrated and 3× over: over even at its widest error
    assert not ok and line.startswith("❌")
    ok, line = memory_line({**row, "bytes": 1_050 * MB}, spec(), "pt-br")  # over by less than the measured 10 % overestimate
    assert ok and line.startswith("⚠️") and "1.10" in line
    ok, line = memory_line({**row, "bytes": 900 * MB, "fits": True}, spec(), "en")
    assert ok and line.startswith("✅")


@pytest.mark.usefixtures("calibrated_sft_only")
def test_qlora_on_cpu_is_still_refused_when_it_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    budget(monkeypatch, 10_000)
    row = {"bytes": 500 * MB, "human": "≈ 0.5 GB (QLoRA needs a CUDA GPU)", "fits": False, "device": "CPU"}
    ok, line = memory_line(row, spec(method="qlora"), "en")
    assert not ok and line.startswith("❌")


@pytest.mark.usefixtures("calibrated_sft_only")
def test_preflight_warns_for_an_uncalibrated_objective_and_refuses_a_calibrated_one(monkeypatch: pytest.MonkeyPatch, tiny_llama: Path,
                                                                                     tmp_path: Path) -> None:
    budget(monkeypatch, 1)  # nothing fits in 1 MB
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "Name a planet."}\n', encoding="utf-8")
    grpo = parse_spec({"base_model": str(tiny_llama), "objective": "grpo", "data": {"train": str(prompts), "format": "prompts"},
                       "grpo": {"rewards": [{"kind": "json"}]}, "training": {"batch_size": 4}})
    fits, report = preflight_report(grpo, "en")
    assert not fits and "❌" in report  # uncalibrated, but over 1 MB even if the estimate were 2× too high
    monkeypatch.setattr(memory_job, "UNCALIBRATED_ERROR", 1e9)  # an estimate that might be wildly off: a warning only
    fits, report = preflight_report(grpo, "en")
    assert fits and "⚠️" in report and "not calibrated for causal-lm grpo" in report and "generation" in report
    text = tmp_path / "text.jsonl"
    text.write_text('{"text": "Mars is red."}\n', encoding="utf-8")
    sft = parse_spec({"base_model": str(tiny_llama), "data": {"train": str(text)}})
    fits, report = preflight_report(sft, "en")
    assert not fits and "❌" in report and "does not fit" in report
