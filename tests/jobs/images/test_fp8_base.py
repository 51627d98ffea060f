"""``images.quantize_base: fp8`` on tiny random-weight FLUX.1 and SD 3 pipelines, on CPU: the frozen transformer's layers are
stored as float8 while the LoRA trains in float32, the loss is finite, the adapter file loads back into an fp8 base without
losing precision, the memory estimate counts exactly the weights diffusers stores in float8, and fp8 without gradient
checkpointing is refused in one sentence."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from jobs.errors import UnsupportedError
from jobs.metrics import MetricsSink, read_metrics_jsonl
from jobs.models.memory_images import estimate_image_job, fp8_stored_params
from jobs.models.pipelines import resolve_pipeline
from jobs.spec import parse_spec
from jobs.trainers.images import flow
from jobs.trainers.images.lora_files import DIFFUSERS_FILE
from jobs.trainers.images.train import train_text_to_image
from tests.jobs.images.conftest import write_images
from tests.jobs.images.tiny_pipelines import build_tiny_flux, build_tiny_sd3

BUILDERS = {"flux": build_tiny_flux, "sd3": build_tiny_sd3}


def fp8_spec(model: Path, images: Path, **images_settings) -> dict:
    return {
        "name": "tiny-fp8", "task": "text-to-image", "base_model": str(model), "method": "lora", "data": {"train": str(images)},
        "training": {"max_steps": 2, "learning_rate": 3e-3, "batch_size": 2, "seed": 3, "scheduler": "constant", "warmup_ratio": 0.0,
                     "logging_steps": 1, "gradient_checkpointing": True},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "images": {"trigger_word": "sks", "resolution": 32, "quantize_base": "fp8", **images_settings},
        "samples": {"prompts": ["a photo of sks dog"], "seed": 7, "num_inference_steps": 1, "guidance_scale": 2.0},
    }


def split_by_dtype(transformer: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(LoRA parameters, base parameters stored in float8) by name."""
    named = dict(transformer.named_parameters())
    lora = {name: value for name, value in named.items() if "lora_" in name}
    stored = {name: value for name, value in named.items() if value.dtype == torch.float8_e4m3fn}
    return lora, stored


@pytest.mark.parametrize("family", list(BUILDERS))
def test_fp8_base_trains_the_lora_in_float32_and_its_file_loads_back(family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = BUILDERS[family](tmp_path / "pipeline")
    spec = parse_spec(fp8_spec(model, write_images(tmp_path / "train", size=40)))
    stored_transformers = []
    real_store = flow.store_in_fp8

    def spy(parts: flow.FlowParts) -> None:
        real_store(parts)
        stored_transformers.append(parts.transformer)

    monkeypatch.setattr(flow, "store_in_fp8", spy)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    outcome = train_text_to_image(spec, run_dir, MetricsSink(run_dir / "metrics.jsonl"))

    losses = [row["loss"] for row in read_metrics_jsonl(run_dir / "metrics.jsonl") if "loss" in row]
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
    assert outcome.samples, "the sample image renders through the fp8 transformer"
    [transformer] = stored_transformers
    lora, stored = split_by_dtype(transformer)
    assert lora and {value.dtype for value in lora.values()} == {torch.float32}
    assert any(".base_layer." in name for name in stored), "the Linear layers under PEFT's LoRA wrappers are stored in float8"
    assert sum(value.numel() for value in stored.values()) == fp8_stored_params(model)  # the estimate counts what diffusers stores
    assert not any("norm" in name for name in stored)  # normalisation and modulation layers keep the training precision
    trained = {name: value.detach().clone() for name, value in lora.items() if "lora_B" in name}
    assert any(value.abs().sum() > 0 for value in trained.values()), "lora_B starts at zero: it moved, so gradients flowed through fp8"

    adapter_file = outcome.output_folder / DIFFUSERS_FILE
    saved = load_file(str(adapter_file))
    assert saved and all(value.dtype == torch.float32 for value in saved.values())
    loaded = flow.load_flow_parts(str(model), torch.float32, ["a photo"], quantize="fp8", adapter_file=adapter_file, adapter_name="adapted")
    lora_back, stored_back = split_by_dtype(loaded.transformer)
    assert stored_back and not loaded.fp8_pending
    assert {value.dtype for value in lora_back.values()} == {torch.float32}
    by_suffix = {name.replace(".adapted.", ".default."): value for name, value in lora_back.items()}
    for name, value in trained.items():  # exactly the trained values: the LoRA was loaded before the base was stored in float8
        assert torch.equal(by_suffix[name], value)


def test_fp8_estimate_counts_one_byte_per_stored_weight_and_fp8_needs_checkpointing(tmp_path: Path) -> None:
    model = build_tiny_flux(tmp_path / "pipeline")
    images = write_images(tmp_path / "train", size=40)
    resolved = resolve_pipeline(str(model))
    none = estimate_image_job(parse_spec(fp8_spec(model, images, quantize_base="none")), resolved, precision_bytes=2)
    fp8 = estimate_image_job(parse_spec(fp8_spec(model, images)), resolved, precision_bytes=2)
    stored = fp8_stored_params(model)
    assert 0 < stored and fp8.transformer == none.transformer - stored  # 2 bytes became 1 for each stored weight
    assert 0 < fp8.fp8_copies < 2 * stored  # one block's copy in the training precision, kept for the backward pass
    assert "fp8 layers' copies" in fp8.human()

    unchecked = parse_spec(fp8_spec(model, images) | {"training": {"gradient_checkpointing": False}})
    with pytest.raises(UnsupportedError, match="fp8 saves memory only with training.gradient_checkpointing on"):
        flow.refuse_if_too_big(unchecked, torch.float32)
