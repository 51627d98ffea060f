"""Aspect-ratio buckets in real (tiny) training runs: a portrait image trains as a portrait and a landscape one as a landscape,
in SD, SDXL and FLUX.1; every batch the VAE encodes has one bucket's size; a resumed run ends with the same LoRA as one that
ran straight through."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from jobs.metrics import MetricsSink
from jobs.spec import parse_spec
from jobs.trainers.images.lora_files import DIFFUSERS_FILE
from jobs.trainers.images.train import train_text_to_image
from tests.jobs.images.tiny_pipelines import build_tiny_flux

PORTRAIT, LANDSCAPE, SQUARE = (60, 100), (100, 60), (70, 70)
"""(width, height) of the test images: aspect 0.6 and 1.67 are exactly buckets at 64 px (48×80, 80×48) and 32 px (24×40, 40×24)."""


def write_mixed_images(folder: Path, sizes: list[tuple[int, int]]) -> Path:
    """Captioned images of the given (width, height): a colour field with a white bar along the top, so a crop that loses the top
    loses the bar."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, (width, height) in enumerate(sizes):
        image = Image.new("RGB", (width, height), (40 * number % 255, 90, 200 - 30 * number))
        image.paste((255, 255, 255), (0, 0, width, max(2, height // 8)))
        image.save(folder / f"image-{number}.png")
        (folder / f"image-{number}.txt").write_text(f"a sks picture number {number}")
    return folder


def bucket_spec(model: Path, folder: Path, resolution: int, **overrides) -> dict:
    training = {"max_steps": 4, "learning_rate": 5e-3, "batch_size": 2, "seed": 3, "scheduler": "constant", "warmup_ratio": 0.0,
                "logging_steps": 1} | overrides.pop("training", {})
    return {
        "name": "tiny-buckets", "task": "text-to-image", "base_model": str(model), "method": "lora", "data": {"train": str(folder)},
        "training": training, "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "images": {"trigger_word": "sks", "resolution": resolution} | overrides.pop("images", {}), **overrides,
    }


@pytest.fixture
def encoded_shapes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """The (batch, channels, height, width) of every pixel batch the VAE encodes while the test runs."""
    from diffusers import AutoencoderKL

    shapes: list[tuple[int, ...]] = []
    encode = AutoencoderKL.encode

    def recording(self, pixels, *args, **kwargs):
        shapes.append(tuple(pixels.shape))
        return encode(self, pixels, *args, **kwargs)

    monkeypatch.setattr(AutoencoderKL, "encode", recording)
    return shapes


def train(spec: dict, run_dir: Path, stop_file: Path | None = None):
    run_dir.mkdir(parents=True, exist_ok=True)
    return train_text_to_image(parse_spec(spec), run_dir, MetricsSink(run_dir / "metrics.jsonl"), stop_file=stop_file)


@pytest.mark.parametrize("family", ["sd", "sdxl", "flux"])
def test_portrait_and_landscape_images_train_at_their_own_aspect(request: pytest.FixtureRequest, tmp_path: Path, family: str,
                                                                encoded_shapes: list[tuple[int, ...]]) -> None:
    if family == "flux":
        model, resolution, buckets = build_tiny_flux(tmp_path / "pipeline", num_single_layers=0), 32, {(40, 24), (24, 40)}
    else:
        model, resolution, buckets = request.getfixturevalue(f"tiny_{family}"), 64, {(80, 48), (48, 80)}
    images = write_mixed_images(tmp_path / "images", [PORTRAIT, LANDSCAPE, PORTRAIT, LANDSCAPE])
    time_ids = record_sdxl_time_ids(request.getfixturevalue("monkeypatch")) if family == "sdxl" else []
    outcome = train(bucket_spec(model, images, resolution), tmp_path / "run")
    assert outcome.global_step == 4 and math.isfinite(outcome.last_loss) and outcome.first_loss != outcome.last_loss
    trained_sizes = {(height, width) for _, _, height, width in encoded_shapes}
    assert trained_sizes == buckets, f"the images were cropped to {trained_sizes}, not trained at their buckets {buckets}"
    if family == "sdxl":  # original (h, w), crop corner (top, left), target (h, w): the bucket's (the images have its exact aspect)
        assert {tuple(row) for row in time_ids} == {(100.0, 60.0, 0.0, 0.0, 80.0, 48.0), (60.0, 100.0, 0.0, 0.0, 48.0, 80.0)}


def record_sdxl_time_ids(monkeypatch: pytest.MonkeyPatch) -> list[list[float]]:
    """Every row of SDXL time ids the UNet receives while the test runs."""
    from diffusers import UNet2DConditionModel

    rows: list[list[float]] = []
    forward = UNet2DConditionModel.forward

    def recording(self, *args, added_cond_kwargs=None, **kwargs):
        rows.extend((added_cond_kwargs or {}).get("time_ids", torch.empty(0, 6)).tolist())
        return forward(self, *args, added_cond_kwargs=added_cond_kwargs, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "forward", recording)
    return rows


def test_square_only_data_and_buckets_off_train_the_square_crop(tiny_sd: Path, tmp_path: Path, encoded_shapes: list[tuple[int, ...]]) -> None:
    squares = write_mixed_images(tmp_path / "squares", [SQUARE, SQUARE])
    train(bucket_spec(tiny_sd, squares, 64, training={"max_steps": 1}), tmp_path / "square-run")
    mixed = write_mixed_images(tmp_path / "mixed", [PORTRAIT, LANDSCAPE])
    train(bucket_spec(tiny_sd, mixed, 64, training={"max_steps": 1}, images={"aspect_buckets": False}), tmp_path / "off-run")
    assert {shape[2:] for shape in encoded_shapes} == {(64, 64)}


def test_a_resumed_bucketed_run_ends_with_the_lora_of_an_uninterrupted_one(tiny_sd: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    images = write_mixed_images(tmp_path / "images", [PORTRAIT, LANDSCAPE, PORTRAIT, SQUARE, LANDSCAPE])
    spec = bucket_spec(tiny_sd, images, 64, training={"max_steps": 4, "save_steps": 2})
    train(spec, tmp_path / "straight")
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "STOP").touch()  # stops after step 1 with a checkpoint
    assert train(spec, resumed, stop_file=resumed / "STOP").global_step == 1
    (resumed / "STOP").unlink()
    assert train(spec, resumed, stop_file=resumed / "STOP").resumed_from_step == 1
    straight = load_file(str(tmp_path / "straight" / "adapter" / DIFFUSERS_FILE))
    again = load_file(str(resumed / "adapter" / DIFFUSERS_FILE))
    assert straight.keys() == again.keys()
    assert all(torch.allclose(straight[key], again[key], atol=1e-5) for key in straight)
