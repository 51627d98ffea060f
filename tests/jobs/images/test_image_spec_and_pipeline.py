"""The text-to-image spec (the issue's YAML parses; other methods are refused; the layout before the ``images:`` section
still trains, the same), and the pipeline safety checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.errors import ModelError, SpecError, UnsupportedError
from jobs.metrics import MetricsSink, read_metrics_jsonl
from jobs.models.pipelines import check_pipeline_safety, resolve_pipeline
from jobs.spec import Crop, Task, parse_spec, parse_spec_yaml
from jobs.spec.compat import collect_spec_warnings
from jobs.trainers.images.train import train_text_to_image
from jobs.trainers.registry import get_trainer
from tests.jobs.images.conftest import write_images
from tests.served_app import run_launch

ISSUE_YAML = """
task: text-to-image
base_model: stable-diffusion-v1-5/stable-diffusion-v1-5
method: lora
data: {train: path/to/images_or.zip}
training: {max_steps: 1000, learning_rate: 1.0e-4, batch_size: 1, seed: 42}
lora: {r: 16, alpha: 16}
images: {caption: auto, instance_prompt: null, trigger_word: sks, resolution: 512}
samples: {prompts: ["a photo of sks dog on the beach"], every_steps: 100}
"""


def test_the_issue_spec_parses_and_round_trips() -> None:
    spec = parse_spec_yaml(ISSUE_YAML)
    assert spec.task is Task.TEXT_TO_IMAGE and spec.images.trigger_word == "sks"
    assert spec.images.resolution == 512 and spec.images.crop is Crop.CENTER
    assert spec.samples.prompts == ["a photo of sks dog on the beach"] and spec.samples.every_steps == 100
    assert parse_spec_yaml(spec.to_yaml()) == spec
    assert get_trainer(spec.task).__name__ == "train_text_to_image"


@pytest.mark.parametrize("method", ["full", "qlora", "prompt-tuning"])
def test_other_methods_are_refused_for_text_to_image(method: str) -> None:
    with pytest.raises(SpecError, match=f"method {method} is not available for task text-to-image; use method lora"):
        parse_spec({"task": "text-to-image", "base_model": "x/y", "method": method, "data": {"train": "a.zip"}})


def test_bad_image_settings_name_the_field() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"task": "text-to-image", "base_model": "x/y", "data": {"train": "a.zip"},
                    "images": {"caption": "instance_prompt", "resolution": 24, "noise_offset": 2}})
    text = str(caught.value)
    assert "images.resolution must be at least 32 (got 24)" in text and "images.noise_offset must be at most 1 (got 2)" in text


def test_instance_prompt_mode_needs_a_prompt() -> None:
    with pytest.raises(SpecError, match="images.caption instance_prompt needs images.instance_prompt"):
        parse_spec({"task": "text-to-image", "base_model": "x/y", "data": {"train": "a.zip"}, "images": {"caption": "instance_prompt"}})


def test_an_old_layout_spec_trains_from_the_command_line_with_a_warning_and_the_same_result(tiny_sd: Path, tmp_path: Path,
                                                                                             adapta_home: Path) -> None:
    from jobs.queue.run import execute_run

    photos = write_images(tmp_path / "photos")
    common = (f"task: text-to-image\nbase_model: {tiny_sd}\nlora: {{r: 2, alpha: 4, dropout: 0.0}}\nevaluation: {{enabled: false}}\n"
              "training: {max_steps: 2, batch_size: 2, learning_rate: 5.0e-3, seed: 3, scheduler: constant, warmup_ratio: 0.0")
    old_yaml = tmp_path / "old.yaml"
    old_yaml.write_text(f"{common}, resolution: 64, random_flip: true, noise_offset: 0.05}}\ndata: {{train: {photos}, trigger_word: sks}}\n")
    new_text = f"{common}}}\ndata: {{train: {photos}}}\nimages: {{trigger_word: sks, resolution: 64, random_flip: true, noise_offset: 0.05}}\n"

    result = run_launch("train", str(old_yaml), "--output", str(tmp_path / "old-run"), home=adapta_home, env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    [warning] = [line for line in result.stderr.splitlines() if "is now images." in line]
    assert warning.startswith("warning: the spec has settings in their old place")
    assert all(f"{old} is now images.{old.split('.')[1]}" in warning for old in
               ("data.trigger_word", "training.resolution", "training.random_flip", "training.noise_offset"))

    with collect_spec_warnings() as notes:
        new_spec = parse_spec_yaml(new_text)
    assert notes == []
    execute_run(new_spec, tmp_path / "new-run")
    assert parse_spec_yaml((tmp_path / "old-run" / "spec.yaml").read_text()).images == new_spec.images
    losses = {run: [row["loss"] for row in read_metrics_jsonl(tmp_path / run / "metrics.jsonl") if "loss" in row]
              for run in ("old-run", "new-run")}
    assert len(losses["new-run"]) == 2 and losses["old-run"] == pytest.approx(losses["new-run"], rel=1e-3)


def write_index(folder: Path, class_name: str = "StableDiffusionPipeline", unet_library: str = "diffusers") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": class_name, "unet": [unet_library, "UNet2DConditionModel"]}))
    (folder / "unet").mkdir(exist_ok=True)
    return folder


def test_pickle_only_weights_custom_code_and_unknown_pipelines_are_refused(tmp_path: Path, tiny_sd: Path) -> None:
    pickled = write_index(tmp_path / "pickled")
    (pickled / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="component unet has only pickle weights"):
        check_pipeline_safety(pickled)
    with pytest.raises(ModelError, match="comes from 'my_repo', custom code"):
        check_pipeline_safety(write_index(tmp_path / "custom", unet_library="my_repo"))
    with pytest.raises(ModelError, match="is a QwenImagePipeline; Adapta trains LoRA for StableDiffusionPipeline, StableDiffusionXLPipeline, "
                                         "FluxPipeline, StableDiffusion3Pipeline only"):
        check_pipeline_safety(write_index(tmp_path / "qwen", class_name="QwenImagePipeline"))
    flux = tmp_path / "flux"
    flux.mkdir()
    (flux / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline", "transformer": ["diffusers", "FluxTransformer2DModel"]}))
    (flux / "transformer").mkdir()
    (flux / "transformer" / "diffusion_pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="component transformer has only pickle weights"):
        check_pipeline_safety(flux)
    with pytest.raises(ModelError, match=r"\.ckpt and other pickle files can run code"):
        (tmp_path / "model.ckpt").write_bytes(b"x")
        resolve_pipeline(str(tmp_path / "model.ckpt"))
    assert resolve_pipeline(str(tiny_sd)).family == "sd"


def test_a_single_file_checkpoint_that_diffusers_cannot_read_gives_one_sentence(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from jobs.models.pipelines import load_pipeline

    checkpoint = tmp_path / "my-model.safetensors"
    save_file({"not.a.unet": torch.zeros(2)}, str(checkpoint))
    resolved = resolve_pipeline(str(checkpoint))
    assert resolved.single_file and resolved.family == "sd"
    with pytest.raises(ModelError, match="cannot load pipeline my-model.safetensors with diffusers"):
        load_pipeline(resolved)


def test_a_quantized_base_is_refused_for_sd_instead_of_silently_ignored(tiny_sd: Path, tmp_path: Path) -> None:
    """``images.quantize_base`` stores FLUX.1 / SD 3.x transformers quantized; an SD UNet would train in full precision anyway."""
    spec = parse_spec({"task": "text-to-image", "base_model": str(tiny_sd), "data": {"train": str(write_images(tmp_path / "images"))},
                       "images": {"quantize_base": "fp8", "resolution": 64}, "training": {"gradient_checkpointing": True}})
    with pytest.raises(UnsupportedError, match="only FLUX.1 and SD 3.x transformers are stored quantized.*set images.quantize_base to none"):
        train_text_to_image(spec, tmp_path / "run", MetricsSink(tmp_path / "metrics.jsonl"))
