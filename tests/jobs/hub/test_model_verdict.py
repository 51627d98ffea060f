"""The Models tab's verdict on text-to-image models: Stable Diffusion 1.x/2.x, SDXL, FLUX.1 and SD 3 are trainable, other pipelines say why not.

Adapta trains LoRA on Stable Diffusion pipelines (jobs/trainers/images/), so a Hub or local SD/SDXL pipeline gets
task text-to-image and an OK verdict; a pipeline Adapta does not train (Qwen-Image, ...) names itself and what to pick.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from jobs.hub import search as hub
from tests.fake_hub import FakeHub, ModelRepo, use_fake_hub


def pipeline_files(pipeline: str, components: dict[str, list[str]]) -> dict[str, bytes]:
    """A diffusers layout (model_index.json + one folder per component) with tiny real safetensors weights."""
    from safetensors.numpy import save

    index = {"_class_name": pipeline, "_diffusers_version": "0.35.0", **components}
    files = {"model_index.json": json.dumps(index).encode()}
    for name, (library, _) in components.items():
        if library in {"diffusers", "transformers"} and name not in {"scheduler", "tokenizer", "tokenizer_2"}:
            stem = "model" if library == "transformers" else "diffusion_pytorch_model"
            files[f"{name}/config.json"] = b"{}"
            files[f"{name}/{stem}.safetensors"] = save({"weight": np.zeros((4, 4), dtype=np.float32)})
    return files


SD_COMPONENTS = {"unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
                 "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
                 "scheduler": ["diffusers", "PNDMScheduler"]}
SDXL_COMPONENTS = {**SD_COMPONENTS, "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
                   "tokenizer_2": ["transformers", "CLIPTokenizer"]}
FLUX_COMPONENTS = {"transformer": ["diffusers", "FluxTransformer2DModel"], "vae": ["diffusers", "AutoencoderKL"],
                   "text_encoder": ["transformers", "CLIPTextModel"], "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"]}


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    repos = {
        "acme/tiny-sd": ModelRepo(files=pipeline_files("StableDiffusionPipeline", SD_COMPONENTS), pipeline_tag="text-to-image"),
        "acme/tiny-sdxl": ModelRepo(files=pipeline_files("StableDiffusionXLPipeline", SDXL_COMPONENTS), pipeline_tag="text-to-image"),
        "acme/tiny-flux": ModelRepo(files=pipeline_files("FluxPipeline", FLUX_COMPONENTS), pipeline_tag="text-to-image"),
        "acme/tiny-qwen": ModelRepo(files=pipeline_files("QwenImagePipeline", FLUX_COMPONENTS), pipeline_tag="text-to-image"),
    }
    with FakeHub(repos=repos) as server:
        use_fake_hub(monkeypatch, server, tmp_path / "hf-cache")
        monkeypatch.setattr(hub, "_unreachable_until", 0.0)
        yield server


@pytest.mark.parametrize("repo_id", ["acme/tiny-sd", "acme/tiny-sdxl", "acme/tiny-flux"])
def test_stable_diffusion_and_flux_models_on_the_hub_are_trainable(fake_hub: FakeHub, repo_id: str) -> None:
    info = hub.model_info(repo_id, token=False)
    assert info["verdict"] == {"ok": True, "reasons": []}
    assert info["task"] == "text-to-image" and info["architecture"].startswith(("StableDiffusion", "Flux"))


def test_a_pipeline_adapta_does_not_train_says_which_and_what_to_pick(fake_hub: FakeHub) -> None:
    info = hub.model_info("acme/tiny-qwen", token=False)
    reasons = " ".join(info["verdict"]["reasons"])
    assert not info["verdict"]["ok"] and "QwenImagePipeline" in reasons and "SDXL" in reasons and "FLUX.1" in reasons


def test_a_local_stable_diffusion_folder_is_described_and_trainable(tmp_path: Path) -> None:
    folder = tmp_path / "my-sd"
    for name, content in pipeline_files("StableDiffusionPipeline", SD_COMPONENTS).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    info = hub.model_info(str(folder))
    assert info["verdict"] == {"ok": True, "reasons": []}
    assert info["task"] == "text-to-image" and info["formats"] == ["safetensors"] and info["parameters"] == 3 * 16


def test_the_pipeline_class_is_read_from_the_config_or_the_hub_tag() -> None:
    assert hub.diffusers_pipeline({"diffusers": {"_class_name": "StableDiffusionXLPipeline"}}, []) == "StableDiffusionXLPipeline"
    assert hub.diffusers_pipeline({}, ["diffusers", "diffusers:StableDiffusionPipeline", "region:us"]) == "StableDiffusionPipeline"
    assert hub.diffusers_pipeline({"model_type": "llama"}, ["transformers"]) is None
