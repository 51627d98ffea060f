"""Text-to-image LoRA on tiny SD and SDXL pipelines, through the real ``execute_run``: finite per-step loss,
samples at the requested steps, both export formats load in diffusers and agree, the LoRA changes the image,
resume continues from the checkpoint, and the model card names the trigger word."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from jobs.inference.images import compare_images, load_image_run
from jobs.metrics import metric_series, read_metrics_jsonl
from jobs.models.pipelines import load_pipeline
from jobs.queue.run import execute_run, train_in_foreground
from jobs.spec import parse_spec
from jobs.trainers.images.lora_files import DIFFUSERS_FILE, KOHYA_FILE
from jobs.trainers.images.sample_index import read_sample_index
from tests.jobs.images.conftest import write_images

PROMPT = "a photo of sks dog"


def image_spec(model: Path, images: Path, **training) -> dict:
    settings = {"max_steps": 4, "learning_rate": 5e-3, "batch_size": 2, "seed": 3, "scheduler": "constant",
                "warmup_ratio": 0.0, "logging_steps": 1}
    settings.update(training)
    return {
        "name": f"tiny-{model.parent.name}", "task": "text-to-image", "base_model": str(model), "method": "lora",
        "data": {"train": str(images)}, "training": settings,
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "images": {"trigger_word": "sks", "resolution": 64},
        "samples": {"prompts": [PROMPT], "every_steps": 2, "seed": 7, "num_inference_steps": 2},
    }


@pytest.fixture(scope="module", params=["sd", "sdxl"])
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, dict, list[int]]:
    """One finished run per pipeline family in a data home of its own (its images include a corrupt one, skipped).

    Returns (family, run folder, summary, the steps of the job's loss rows in the database).
    """
    from storage.db import reset_engines

    model = request.getfixturevalue("tiny_sd" if request.param == "sd" else "tiny_sdxl")
    root = tmp_path_factory.mktemp(f"run-{request.param}")
    images = write_images(root / "photos")
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    (images / "broken.txt").write_text("a broken picture")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADAPTA_HOME", str(root / "home"))
        patch.delenv("ADAPTA_DB_URL", raising=False)
        reset_engines()
        job_id, summary = train_in_foreground(parse_spec(image_spec(model, images)), show_progress=False)
        loss_steps = [step for step, _ in metric_series(job_id, "loss")]
        reset_engines()
    return request.param, Path(summary["output_folder"]).parent, summary, loss_steps


def render(pipe, seed: int = 11) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    return pipe(PROMPT, num_inference_steps=2, height=64, width=64, generator=generator, output_type="np").images[0]


def test_training_records_finite_loss_every_step_and_samples_at_the_requested_steps(trained) -> None:
    family, run_dir, summary, loss_steps = trained
    rows = [row for row in read_metrics_jsonl(run_dir / "metrics.jsonl") if "loss" in row]
    assert [row["step"] for row in rows] == [1, 2, 3, 4]
    assert all(math.isfinite(row["loss"]) and row["steps_per_second"] > 0 for row in rows)
    assert loss_steps == [1, 2, 3, 4]
    assert summary["pipeline_family"] == family and summary["global_step"] == 4
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == ["step-000002-00.png", "step-000004-00.png"]
    index = read_sample_index(run_dir)
    assert [(row["step"], row["prompt"], row["seed"]) for row in index] == [(2, PROMPT, 7), (4, PROMPT, 7)]
    assert summary["skipped_images"].keys() == {"broken.png"} and summary["train_examples"] == 4
    assert {DIFFUSERS_FILE, KOHYA_FILE, "README.md"} <= {p.name for p in (run_dir / "adapter").iterdir()}
    card = (run_dir / "adapter" / "README.md").read_text()
    assert "`sks`" in card and "load_lora_weights" in card and "step-000004-00.png" in card and "pipeline_tag: text-to-image" in card
    assert not [p for p in run_dir.rglob("*") if p.suffix in (".bin", ".pt", ".pkl") and "checkpoints" not in p.parts]


def test_lora_changes_the_image_and_both_formats_give_the_same_image(trained) -> None:
    family, run_dir, summary, _ = trained
    pipe = load_pipeline(summary["base_model_path"])
    base = render(pipe)
    pipe.load_lora_weights(str(run_dir / "adapter"), weight_name=DIFFUSERS_FILE, adapter_name="diffusers_file")
    with_diffusers_file = render(pipe)
    pipe.delete_adapters("diffusers_file")
    assert np.abs(render(pipe) - base).max() < 1e-5  # unloading gives the base image back
    pipe.load_lora_weights(str(run_dir / "adapter"), weight_name=KOHYA_FILE, adapter_name="kohya_file")
    with_kohya_file = render(pipe)
    assert np.abs(with_diffusers_file - base).mean() > 1e-3, "the LoRA did not change the image"
    assert np.abs(with_kohya_file - with_diffusers_file).max() < 2e-3, "kohya and diffusers files disagree"


def test_playground_pair_differs_and_scale_zero_is_the_base(trained) -> None:
    _, run_dir, _, _ = trained
    loaded = load_image_run(run_dir)
    base, adapted = compare_images(loaded, PROMPT, seed=5, lora_scale=1.0, num_inference_steps=2)
    again_base, zero = compare_images(loaded, PROMPT, seed=5, lora_scale=0.0, num_inference_steps=2)
    assert np.asarray(base).tolist() == np.asarray(again_base).tolist() == np.asarray(zero).tolist()
    assert np.abs(np.asarray(adapted, dtype=float) - np.asarray(base, dtype=float)).mean() > 0.05


def test_resume_continues_from_the_checkpoint_step(tmp_path: Path, tiny_sd: Path, image_folder: Path) -> None:
    spec = parse_spec(image_spec(tiny_sd, image_folder, max_steps=5, save_steps=2))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "STOP").touch()  # stop cleanly after the first step: a checkpoint is saved there
    first = execute_run(spec, run_dir)
    assert first["stopped_early"] and first["global_step"] == 1
    assert (run_dir / "checkpoints" / "checkpoint-1" / "trainer_state.json").is_file()
    (run_dir / "STOP").unlink()
    second = execute_run(spec, run_dir)
    assert second["resumed_from_step"] == 1 and second["global_step"] == 5 and not second["stopped_early"]
    steps = [row["step"] for row in read_metrics_jsonl(run_dir / "metrics.jsonl") if "loss" in row]
    assert steps == [1, 2, 3, 4, 5], "training restarted from step 0 instead of the checkpoint"
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == ["step-000002-00.png", "step-000004-00.png", "step-000005-00.png"]


def test_push_uploads_the_sample_images_the_card_shows(trained, monkeypatch: pytest.MonkeyPatch) -> None:
    """A text-to-image push carries its latest samples under samples/, the card points at them and lists them as the Hub widget."""
    import yaml
    from huggingface_hub import constants

    from jobs.export.hub_push import push_run
    from tests.fake_hub import FakeHub

    _, run_dir, _, _ = trained
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        push_run(run_dir, "ada/sks-dog-lora", token="hf_test_token")
    [commit] = hub.commits
    assert "pytorch_lora_weights.safetensors" in commit["files"] and "loss.svg" in commit["files"]
    assert commit["files"]["samples/step-000004-00.png"] == (run_dir / "samples" / "step-000004-00.png").read_bytes()
    card = commit["files"]["README.md"].decode()
    assert "](samples/step-000004-00.png)" in card and "../samples" not in card
    front = yaml.safe_load(card.split("---")[1])
    assert front["widget"] == [{"text": PROMPT, "output": {"url": "samples/step-000004-00.png"}}] and front["pipeline_tag"] == "text-to-image"
