"""The text-to-image spec (the issue's YAML parses; other methods are refused) and the pipeline safety checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.diffusion.pipeline import check_pipeline_safety, resolve_pipeline
from jobs.errors import ModelError, SpecError
from jobs.spec import Crop, Task, parse_spec, parse_spec_yaml
from jobs.trainers import get_trainer

ISSUE_YAML = """
task: text-to-image
base_model: stable-diffusion-v1-5/stable-diffusion-v1-5
method: lora
data: {train: path/to/images_or.zip, caption: auto, instance_prompt: null, trigger_word: sks}
training: {max_steps: 1000, learning_rate: 1.0e-4, batch_size: 1, resolution: 512, seed: 42}
lora: {r: 16, alpha: 16}
samples: {prompts: ["a photo of sks dog on the beach"], every_steps: 100}
"""


def test_the_issue_spec_parses_and_round_trips() -> None:
    spec = parse_spec_yaml(ISSUE_YAML)
    assert spec.task is Task.TEXT_TO_IMAGE and spec.data.trigger_word == "sks"
    assert spec.training.resolution == 512 and spec.training.crop is Crop.CENTER
    assert spec.samples.prompts == ["a photo of sks dog on the beach"] and spec.samples.every_steps == 100
    assert parse_spec_yaml(spec.to_yaml()) == spec
    assert get_trainer(spec.task).__name__ == "train_text_to_image"


@pytest.mark.parametrize("method", ["full", "qlora", "prompt-tuning"])
def test_other_methods_are_refused_for_text_to_image(method: str) -> None:
    with pytest.raises(SpecError, match=f"method {method} is not available for task text-to-image; use method lora"):
        parse_spec({"task": "text-to-image", "base_model": "x/y", "method": method, "data": {"train": "a.zip"}})


def test_bad_image_settings_name_the_field() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"task": "text-to-image", "base_model": "x/y", "data": {"train": "a.zip", "caption": "instance_prompt"},
                    "training": {"resolution": 24, "noise_offset": 2}})
    text = str(caught.value)
    assert "training.resolution must be at least 32 (got 24)" in text and "training.noise_offset must be at most 1 (got 2)" in text


def test_instance_prompt_mode_needs_a_prompt() -> None:
    with pytest.raises(SpecError, match="data.caption instance_prompt needs data.instance_prompt"):
        parse_spec({"task": "text-to-image", "base_model": "x/y", "data": {"train": "a.zip", "caption": "instance_prompt"}})


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
    with pytest.raises(ModelError, match="is a FluxPipeline; Adapta trains LoRA for StableDiffusionPipeline and StableDiffusionXLPipeline"):
        check_pipeline_safety(write_index(tmp_path / "flux", class_name="FluxPipeline"))
    with pytest.raises(ModelError, match=r"\.ckpt and other pickle files can run code"):
        (tmp_path / "model.ckpt").write_bytes(b"x")
        resolve_pipeline(str(tmp_path / "model.ckpt"))
    assert resolve_pipeline(str(tiny_sd)).family == "sd"


def test_a_single_file_checkpoint_that_diffusers_cannot_read_gives_one_sentence(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from jobs.diffusion.pipeline import load_pipeline

    checkpoint = tmp_path / "my-model.safetensors"
    save_file({"not.a.unet": torch.zeros(2)}, str(checkpoint))
    resolved = resolve_pipeline(str(checkpoint))
    assert resolved.single_file and resolved.family == "sd"
    with pytest.raises(ModelError, match="cannot load pipeline my-model.safetensors with diffusers"):
        load_pipeline(resolved)
