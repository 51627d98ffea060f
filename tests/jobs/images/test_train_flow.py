"""FLUX.1 (dev, schnell) and SD 3 LoRA on tiny random-weight pipelines: the flow-matching loop trains, the report's validation
loss falls, both export files load back and agree (the SD 3 kohya file through ComfyUI's rules and diffusers' SD 3 checkpoint converter:
tests/jobs/images/comfy_sd3_reader.py), resume continues from the checkpoint, and the kohya FLUX layout is what diffusers' own
kohya reader takes at FLUX.1's real widths."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from jobs.errors import ModelError
from jobs.evaluation.images import evaluate_text_to_image
from jobs.export.model_card import render_image_model_card
from jobs.inference.images import compare_images, generate_image, load_pipeline_with_lora
from jobs.metrics import MetricsSink, read_metrics_jsonl
from jobs.models.memory_images import check_flow_fits
from jobs.models.pipelines import DEFAULT_GUIDANCE, SUPPORTED_PIPELINES, load_pipeline, load_transformer, resolve_pipeline
from jobs.spec import BaseQuantization, parse_spec
from jobs.trainers.images.flow import estimate_for_spec
from jobs.trainers.images.flux_kohya import flux_kohya_state_dict
from jobs.trainers.images.lora_files import DIFFUSERS_FILE, KOHYA_FILE
from jobs.trainers.images.train import train_text_to_image
from tests.jobs.images.comfy_sd3_reader import comfy_updates_in_diffusers_layout
from tests.jobs.images.conftest import write_images
from tests.jobs.images.tiny_pipelines import build_tiny_flux, build_tiny_sd3

PROMPT = "a photo of sks dog"
BUILDERS = {
    # no single-stream block: diffusers' kohya reader hard-codes FLUX.1's single-block widths (checked at full width below)
    "flux-dev": lambda folder: build_tiny_flux(folder, num_single_layers=0),
    "flux-schnell": lambda folder: build_tiny_flux(folder, guidance_embeds=False, seed=1),  # seed 0: 8 steps barely move its val loss
    "sd3": build_tiny_sd3,
}


def flow_spec(model: Path, images: Path, validation: Path | None = None, **training) -> dict:
    settings = {"max_steps": 8, "learning_rate": 3e-3, "batch_size": 2, "seed": 3, "scheduler": "constant", "warmup_ratio": 0.0,
                "logging_steps": 1}
    settings.update(training)
    data = {"train": str(images)} | ({"validation": str(validation)} if validation else {})
    return {
        "name": "tiny-flow", "task": "text-to-image", "base_model": str(model), "method": "lora", "data": data, "training": settings,
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0}, "images": {"trigger_word": "sks", "resolution": 32},
        "samples": {"prompts": [PROMPT], "every_steps": 4, "seed": 7, "num_inference_steps": 2, "guidance_scale": 2.0},
    }


def near_copies(images: Path, folder: Path) -> Path:
    """The training images and captions with one corner pixel changed: other files (so not dropped as duplicates), same content."""
    from PIL import Image

    folder.mkdir()
    for path in sorted(images.glob("*.png")):
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        image.putpixel((0, 0), (128, 128, 128))
        image.save(folder / path.name)
        (folder / path.with_suffix(".txt").name).write_text(path.with_suffix(".txt").read_text())
    return folder


def run_training(spec, run_dir: Path):
    run_dir.mkdir(parents=True, exist_ok=True)
    sink = MetricsSink(run_dir / "metrics.jsonl")
    return train_text_to_image(spec, run_dir, sink), sink


@pytest.fixture(scope="module", params=list(BUILDERS))
def flow_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One trained and evaluated run per family, validated on near copies of its training images (the loss falls as it fits them)."""
    root = tmp_path_factory.mktemp(f"flow-{request.param}")
    model = BUILDERS[request.param](root / "pipeline")
    images = write_images(root / "train", size=40)
    spec = parse_spec(flow_spec(model, images, near_copies(images, root / "validation")))
    outcome, sink = run_training(spec, root / "run")
    report = evaluate_text_to_image(spec, root / "run", outcome, sink)
    return SimpleNamespace(name=request.param, model=model, spec=spec, run_dir=root / "run", outcome=outcome, report=report)


def render(pipe, seed: int = 11) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    return pipe(PROMPT, num_inference_steps=2, height=32, width=32, generator=generator, output_type="np", max_sequence_length=16).images[0]


def test_flow_training_logs_every_step_lowers_the_validation_loss_and_writes_report_and_card(flow_run) -> None:
    outcome, report = flow_run.outcome, flow_run.report
    rows = [row for row in read_metrics_jsonl(flow_run.run_dir / "metrics.jsonl") if "loss" in row]
    assert [row["step"] for row in rows] == list(range(1, 9)) and all(math.isfinite(row["loss"]) for row in rows)
    assert outcome.pipeline_family == ("sd3" if flow_run.name == "sd3" else "flux") and outcome.global_step == 8
    assert sorted(p.name for p in (flow_run.run_dir / "samples").glob("*.png")) == ["step-000004-00.png", "step-000008-00.png"]
    val = next(row for row in report.metrics if row.name == "val_loss")
    assert report.main_metric == "val_loss" and val.adapted < val.base, f"validation flow loss did not fall: {val.base} -> {val.adapted}"
    assert len(report.examples) == 4 and [row["prompt"] for row in report.extra["grid"]] == [PROMPT]
    assert all((flow_run.run_dir / row[mode]).is_file() for row in report.extra["grid"] for mode in ("base", "adapted"))
    summary = {field.name: getattr(outcome, field.name) for field in dataclasses.fields(outcome)}
    card = render_image_model_card(flow_run.spec, summary, "adapter", report)
    pipeline_class = "StableDiffusion3Pipeline" if flow_run.name == "sd3" else "FluxPipeline"
    assert "`sks`" in card and f"from diffusers import {pipeline_class}" in card and "grid-00-adapted.png" in card
    assert KOHYA_FILE in card and ("ComfyUI" in card)


def test_exports_load_back_change_the_image_and_agree(flow_run) -> None:
    adapter = flow_run.run_dir / "adapter"
    pipe = load_pipeline(str(flow_run.model))
    base = render(pipe)
    pipe.load_lora_weights(str(adapter), weight_name=DIFFUSERS_FILE, adapter_name="diffusers_file")
    with_diffusers_file = render(pipe)
    assert np.abs(with_diffusers_file - base).mean() > 1e-3, "the LoRA did not change the fixed-seed image"
    from safetensors.torch import load_file

    kohya = load_file(str(adapter / KOHYA_FILE))
    if flow_run.name == "sd3":  # diffusers has no SD 3 kohya reader: ComfyUI's rules and diffusers' checkpoint converter read it
        assert "lora_unet_joint_blocks_0_x_block_attn_qkv.lora_down.weight" in kohya
        merged = load_pipeline(str(flow_run.model))
        with torch.no_grad():
            for name, update in comfy_updates_in_diffusers_layout(kohya, merged.transformer.config).items():
                merged.transformer.get_parameter(name).add_(update)
        assert np.abs(render(merged) - with_diffusers_file).max() < 2e-3, "kohya and diffusers files disagree"
        return
    assert "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight" in kohya
    if flow_run.name == "flux-schnell":  # the tiny single block is narrower than diffusers' reader expects: its layout only
        assert kohya["lora_unet_single_blocks_0_linear1.lora_up.weight"].shape == (3 * 32 + 128, 4 * 4)
        return
    pipe.delete_adapters("diffusers_file")
    pipe.load_lora_weights(str(adapter), weight_name=KOHYA_FILE, adapter_name="kohya_file")
    assert np.abs(render(pipe) - with_diffusers_file).max() < 2e-3, "kohya and diffusers files disagree"


def test_flux_resume_continues_from_the_checkpoint_step(tmp_path: Path) -> None:
    model = BUILDERS["flux-dev"](tmp_path / "pipeline")
    spec = parse_spec(flow_spec(model, write_images(tmp_path / "train", size=40), max_steps=3, save_steps=2))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "STOP").touch()
    first = train_text_to_image(spec, run_dir, MetricsSink(run_dir / "metrics.jsonl"), stop_file=run_dir / "STOP")
    assert first.stopped_early and first.global_step == 1
    assert (run_dir / "checkpoints" / "checkpoint-1" / "trainer_state.json").is_file()
    (run_dir / "STOP").unlink()
    second = train_text_to_image(spec, run_dir, MetricsSink(run_dir / "metrics.jsonl"), stop_file=run_dir / "STOP")
    assert second.resumed_from_step == 1 and second.global_step == 3 and not second.stopped_early
    assert [row["step"] for row in read_metrics_jsonl(run_dir / "metrics.jsonl") if "loss" in row] == [1, 2, 3]


def test_kohya_flux_layout_is_read_by_diffusers_at_flux1_widths() -> None:
    """One double and one single block at FLUX.1's real widths (3072 wide, MLP 12288): diffusers' kohya reader un-fuses our
    q/k/v and linear1 LoRAs back into the same updates (B·A times alpha/r), the missing proj_mlp part as zeros."""
    from diffusers.loaders.lora_conversion_utils import _convert_kohya_flux_lora_to_diffusers

    width, mlp, rank, alpha = 3072, 12288, 2, 8.0
    shapes = {f"transformer_blocks.0.{name}": (width, width) for name in
              ("attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out")}
    shapes |= {"transformer_blocks.0.ff.net.0.proj": (mlp, width), "transformer_blocks.0.ff.net.2": (width, mlp)}
    shapes |= {f"single_transformer_blocks.0.{name}": (width, width) for name in ("attn.to_q", "attn.to_k", "attn.to_v")}
    shapes |= {"single_transformer_blocks.0.proj_mlp": (mlp, width), "single_transformer_blocks.0.proj_out": (width, width + mlp)}
    trained = [name for name in shapes if not name.endswith("proj_mlp")]
    generator = torch.Generator().manual_seed(0)
    peft = {}
    for name in trained:
        out_features, in_features = shapes[name]
        peft[f"{name}.lora_A.weight"] = torch.randn(rank, in_features, generator=generator)
        peft[f"{name}.lora_B.weight"] = torch.randn(out_features, rank, generator=generator)
    converted = _convert_kohya_flux_lora_to_diffusers(flux_kohya_state_dict(peft, shapes, alpha))
    for name in shapes:
        probe = torch.randn(shapes[name][1], generator=generator)
        got = converted[f"transformer.{name}.lora_B.weight"] @ (converted[f"transformer.{name}.lora_A.weight"] @ probe)
        if name in trained:
            want = alpha / rank * (peft[f"{name}.lora_B.weight"] @ (peft[f"{name}.lora_A.weight"] @ probe))
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)
        else:
            assert torch.count_nonzero(got) == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine bitsandbytes may load")
def test_quantized_base_is_refused_on_cpu_in_one_sentence(tmp_path: Path, tiny_sd: Path) -> None:
    sd3 = build_tiny_sd3(tmp_path / "sd3")
    with pytest.raises(ModelError, match="images.quantize_base nf4 needs a CUDA GPU"):
        load_transformer(resolve_pipeline(str(sd3)), torch.float32, quantize="nf4")
    with pytest.raises(ModelError, match="for FLUX.1 and SD 3.x transformers"):
        load_transformer(resolve_pipeline(str(tiny_sd)), torch.float32, quantize="8bit")


def test_memory_estimate_counts_the_trained_lora_and_refuses_with_the_numbers(flow_run) -> None:
    resolved = resolve_pipeline(str(flow_run.model))
    estimate = estimate_for_spec(flow_run.spec, resolved, torch.float32)
    assert estimate.lora == 16 * flow_run.outcome.trainable_params  # the header count matches what PEFT adapted
    stored = load_pipeline(resolved).transformer.state_dict()  # parameters and persistent buffers (SD 3's position table)
    assert estimate.transformer == 4 * sum(tensor.numel() for tensor in stored.values())
    assert estimate.total == max(estimate.encode_peak, estimate.train_peak) > estimate.transformer
    nf4 = estimate_for_spec(flow_run.spec.model_copy(update={"images": flow_run.spec.images.model_copy(update={"quantize_base": BaseQuantization.NF4})}),
                            resolved, torch.float32)
    assert nf4.transformer < estimate.transformer / 7
    check_flow_fits(estimate, free_bytes=2 * estimate.total)
    with pytest.raises(ModelError, match=r"needs about .* \(transformer .*, text encoders .* but the GPU has 1.0 MB free; set images.quantize_base"):
        check_flow_fits(estimate, free_bytes=1_000_000)


def test_playground_renders_base_and_adapted_from_the_same_pipeline(flow_run) -> None:
    loaded = load_pipeline_with_lora(str(flow_run.model), flow_run.run_dir / "adapter", resolution=32)
    assert loaded.placement.device == ("cuda" if torch.cuda.is_available() else "cpu") and loaded.placement.reason
    assert loaded.pipe.transformer.dtype == getattr(torch, loaded.placement.dtype)
    base, adapted = compare_images(loaded, PROMPT, seed=5, lora_scale=1.0, num_inference_steps=2, guidance_scale=2.0)
    _, zero = compare_images(loaded, PROMPT, seed=5, lora_scale=0.0, num_inference_steps=2, guidance_scale=2.0)
    assert np.asarray(base).tolist() == np.asarray(zero).tolist()
    assert np.abs(np.asarray(adapted, dtype=float) - np.asarray(base, dtype=float)).mean() > 0.05
    family = SUPPORTED_PIPELINES[type(loaded.pipe).__name__]
    default = generate_image(loaded, PROMPT, seed=5, num_inference_steps=2)  # the family's own guidance, not SD's 7.5
    assert np.asarray(default).tolist() == np.asarray(generate_image(loaded, PROMPT, seed=5, num_inference_steps=2,
                                                                     guidance_scale=DEFAULT_GUIDANCE[family])).tolist()
