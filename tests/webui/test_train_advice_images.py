"""The Train tab's memory line and Submit verdict for text-to-image jobs: FLUX.1 / SD 3.x get the full estimate, SD 1.x/2.x and
SDXL their weights' floor; on a (faked) CUDA GPU a job over the budget is refused with the numbers, as the trainer would refuse it;
on CPU it is a warning; fp8 storage without gradient checkpointing is refused; the summary line shows the estimate, in both
languages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobs.hub import search as hub
from jobs.spec import parse_spec
from tests.jobs.images.tiny_pipelines import build_tiny_flux
from webui.access import LOCAL_CALLER
from webui.train_advice import image_memory_estimate, image_memory_line, summary_line
from webui.train_tab import preflight_report

MB = 1_000_000


@pytest.fixture(scope="module")
def tiny_flux(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_flux(tmp_path_factory.mktemp("tiny-flux") / "pipeline")


def image_spec(model: Path, **images: Any) -> Any:
    return parse_spec({"task": "text-to-image", "base_model": str(model), "data": {"train": "photos.zip"},
                       "training": {"max_steps": 4, "gradient_checkpointing": True}, "images": {"resolution": 64, **images}})


def on_gpu(monkeypatch: pytest.MonkeyPatch, megabytes: int) -> None:
    monkeypatch.setattr(hub, "available_memory", lambda: ("GPU NVIDIA Fake 24GB (24.0 GB)", megabytes * MB))


def on_cpu(monkeypatch: pytest.MonkeyPatch, megabytes: int) -> None:
    monkeypatch.setattr(hub, "available_memory", lambda: (f"CPU (8.0 GB RAM, {megabytes} MB for a new job)", megabytes * MB))


def test_flux_job_is_refused_at_submit_on_a_gpu_it_does_not_fit(monkeypatch: pytest.MonkeyPatch, tiny_flux: Path) -> None:
    spec = image_spec(tiny_flux)
    estimate = image_memory_estimate(spec, gpu=True)
    assert estimate is not None and estimate.transformer > 0 and estimate.lora > 0
    on_gpu(monkeypatch, 24_000)
    fits, report = preflight_report(spec, "en")
    assert fits and f"✅ Memory: {estimate.human()}, fits on GPU NVIDIA Fake" in report
    on_gpu(monkeypatch, (estimate.total - 1) // MB)  # the CUDA context alone is 600 MB: a budget just under the estimate
    fits, report = preflight_report(spec, "en")
    assert not fits and "❌ Memory:" in report and "does not fit on GPU NVIDIA Fake" in report and "images.quantize_base to nf4" in report
    assert "transformer" in report and "text encoders" in report  # the numbers, part by part
    ok, line = image_memory_line(spec, "pt-BR")
    assert not ok and "não cabe em GPU NVIDIA Fake" in line
    summary = summary_line(spec, {}, "en", LOCAL_CALLER)
    assert "memory ≈" in summary and "more than the" in summary and "free on this GPU NVIDIA Fake 24GB" in summary


def test_over_the_budget_on_cpu_is_a_warning_and_fp8_without_checkpointing_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                                                      tiny_flux: Path) -> None:
    on_cpu(monkeypatch, 1)
    ok, line = image_memory_line(image_spec(tiny_flux), "en")
    assert ok and line.startswith("⚠️") and "training on CPU is not refused" in line
    on_cpu(monkeypatch, 100_000)
    fp8 = image_spec(tiny_flux, quantize_base="fp8")
    assert image_memory_line(fp8, "en")[0]
    unchecked = parse_spec(fp8.model_dump(mode="json") | {"training": {"gradient_checkpointing": False}})
    fits, report = preflight_report(unchecked, "en")
    assert not fits and "fp8 saves memory only with training.gradient_checkpointing on" in report


def test_sd_job_shows_its_weights_floor_and_is_refused_only_when_the_weights_are_over(monkeypatch: pytest.MonkeyPatch,
                                                                                       tiny_sd: Path) -> None:
    spec = image_spec(tiny_sd)
    floor = image_memory_estimate(spec, gpu=True)
    assert floor is not None and floor.unet > 0 and floor.lora > 0
    on_gpu(monkeypatch, 24_000)
    fits, report = preflight_report(spec, "en")
    assert fits and "the weights fit on GPU NVIDIA Fake" in report and "at least" in report and "activations are not estimated" in report
    assert "memory ≥" in summary_line(spec, {}, "en", LOCAL_CALLER)
    assert "memória ≥" in summary_line(spec, {}, "pt-BR", LOCAL_CALLER)
    on_gpu(monkeypatch, 1)
    fits, report = preflight_report(spec, "en")
    assert not fits and "does not fit on GPU NVIDIA Fake" in report


def test_a_pipeline_not_on_this_machine_has_no_estimate_yet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    on_gpu(monkeypatch, 1)
    ok, line = image_memory_line(image_spec(tmp_path / "absent"), "en")
    assert ok and "estimated once the pipeline is on this machine" in line
