"""The text-to-image before/after report, through the real ``execute_run`` on a tiny SD pipeline: held-out images are
never trained on, ``eval_report.json`` holds the base and adapted validation loss with one example per image, the
base-vs-adapted grid is on disk and in the model card, the numbers repeat exactly (fixed noise and timesteps), a LoRA
overfit on one image lowers that image's loss, and a run with too few images still gets its grid."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from jobs.data.images import load_image_dataset, split_image_dataset
from jobs.data.split import write_split
from jobs.evaluation.images import evaluate_text_to_image, fixed_timesteps
from jobs.evaluation.report import read_report
from jobs.metrics import MetricsSink
from jobs.queue.run import execute_run
from jobs.spec import parse_spec
from tests.jobs.images.conftest import write_images

PROMPT = "a photo of sks dog"
SHAPES = ("square", "circle")
COLOURS = ("red", "blue", "green", "dark", "bright")


def write_many_images(folder: Path, count: int, size: int = 64) -> Path:
    """``count`` captioned images, each a different colour with a white square or circle."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        colour = (40 + 4 * number, 200 - 3 * number, (97 * number) % 256)
        image = Image.new("RGB", (size, size), colour)
        image.paste((255, 255, 255), (8 + number % 20, 8, 28 + number % 20, 28))
        image.save(folder / f"img-{number:03d}.png")
        (folder / f"img-{number:03d}.txt").write_text(f"a {COLOURS[number % 5]} {SHAPES[number % 2]} picture")
    return folder


def image_spec(model: Path, train: Path, **changes) -> dict:
    raw = {
        "name": "eval-report", "task": "text-to-image", "base_model": str(model), "method": "lora",
        "data": {"train": str(train)},
        "training": {"max_steps": 3, "learning_rate": 5e-3, "batch_size": 2, "seed": 3, "scheduler": "constant",
                     "warmup_ratio": 0.0, "checkpoint_minutes": 1e-6},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "images": {"trigger_word": "sks", "resolution": 64},
        "samples": {"prompts": [PROMPT], "seed": 7, "num_inference_steps": 2},
        "evaluation": {"max_rows": 4, "batch_size": 8},
    }
    for section, values in changes.items():
        raw[section] = {**raw[section], **values}
    return raw


@pytest.fixture(scope="module")
def evaluated(tiny_sd: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """52 images (5 held out by the default 10%), trained 3 steps with a checkpoint every step, then evaluated."""
    import jobs.trainers.images.train as train_module
    from storage.db import reset_engines

    root = tmp_path_factory.mktemp("eval-report")
    images = write_many_images(root / "photos", 52)
    trained_on: list[Path] = []

    def recording_prepare(items, resolution, **options):
        trained_on.extend(item.path for item in items)
        return prepare(items, resolution, **options)

    prepare = train_module.prepare_images
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADAPTA_HOME", str(root / "home"))
        patch.delenv("ADAPTA_DB_URL", raising=False)
        patch.setattr(train_module, "prepare_images", recording_prepare)
        reset_engines()
        spec = parse_spec(image_spec(tiny_sd, images))
        summary = execute_run(spec, root / "run")
        reset_engines()
    return SimpleNamespace(spec=spec, run_dir=root / "run", summary=summary, trained_on=trained_on, images=images)


def test_the_report_holds_base_and_adapted_validation_loss_per_image_and_the_grid(evaluated) -> None:
    report = read_report(evaluated.run_dir)
    assert report is not None and report.skipped is None and report.task == "text-to-image"
    main = report.main()
    assert main.name == "val_loss" and main.higher_is_better is False
    assert math.isfinite(main.base) and math.isfinite(main.adapted) and main.base != main.adapted
    assert [row.name for row in report.metrics] == ["val_loss"] + [f"val_loss_t{step}" for step in (125, 375, 625, 875)]
    assert report.extra["timesteps"] == fixed_timesteps(1000) == [125, 375, 625, 875]
    held = {Path(item["path"]).name: item["caption"] for item in evaluated.summary["held_out"]["items"]}
    assert len(held) == 5 and len(report.examples) == 4  # evaluation.max_rows caps the cost
    for example in report.examples:
        assert held[example.reference] == example.input and example.base_score == pytest.approx(-float(example.base_output.split()[1]), abs=1e-4)
        assert example.change == ("better" if example.adapted_score > example.base_score else "worse")
    assert sum(-e.base_score for e in report.examples) / 4 == pytest.approx(main.base, rel=1e-5)
    assert report.measured_on.startswith("4 images held out from training, recorded in split.json: 5 of the 52 images of data.train")
    assert report.split["scored"] == [example.reference for example in report.examples]
    assert "the first 4 of 5 (evaluation.max_rows)" in report.measured_on
    [row] = report.extra["grid"]
    assert row == {"prompt": PROMPT, "base": "eval/grid-00-base.png", "adapted": "eval/grid-00-adapted.png"}
    base, adapted = (np.asarray(Image.open(evaluated.run_dir / row[key]), dtype=float) for key in ("base", "adapted"))
    assert base.shape == adapted.shape == (64, 64, 3)
    assert np.abs(base - adapted).mean() > 0.05, "the adapted image of the grid is the base image: the LoRA was not switched on"


def test_held_out_images_are_never_trained_on(evaluated) -> None:
    held = {Path(item["path"]) for item in evaluated.summary["held_out"]["items"]}
    trained = set(evaluated.trained_on)
    assert len(trained) == 47 and not held & trained
    assert held | trained == set(evaluated.images.glob("*.png"))
    assert evaluated.summary["train_examples"] == 47 and evaluated.summary["eval_examples"] == 5


def test_the_numbers_repeat_exactly_when_evaluated_again(evaluated) -> None:
    """Fixed noise and timesteps: a second evaluation (computing the held-out split again from the spec) gives the same losses."""
    stored = read_report(evaluated.run_dir)
    summary = evaluated.summary
    outcome = SimpleNamespace(base_model_path=summary["base_model_path"], output_folder=Path(summary["output_folder"]))
    again = evaluate_text_to_image(evaluated.spec, evaluated.run_dir, outcome, MetricsSink(evaluated.run_dir / "again.jsonl"))
    values = [value for row in again.metrics for value in (row.base, row.adapted)]
    assert values == pytest.approx([value for row in stored.metrics for value in (row.base, row.adapted)], abs=1e-6)
    assert [e.reference for e in again.examples] == [e.reference for e in stored.examples]


def test_the_card_shows_the_report_table_and_the_grid(evaluated) -> None:
    card = (evaluated.run_dir / "adapter" / "README.md").read_text()
    assert "Validation loss (held-out images" in card and "5 held out for the report" in card
    assert f"| {PROMPT} | ![base](../eval/grid-00-base.png) | ![adapted](../eval/grid-00-adapted.png) |" in card
    assert evaluated.summary["report"]["metric"] == "val_loss"


def test_time_based_checkpoints_are_saved_during_training(evaluated) -> None:
    """checkpoint_minutes (here a few microseconds) saves after every step but the last; the two newest are kept."""
    folders = sorted(p.name for p in (evaluated.run_dir / "checkpoints").iterdir())
    assert folders == ["checkpoint-1", "checkpoint-2"]
    assert all((evaluated.run_dir / "checkpoints" / name / "trainer_state.json").is_file() for name in folders)


@pytest.mark.parametrize("family", ["sd", "sdxl"])
def test_a_lora_overfit_on_one_image_lowers_that_images_validation_loss(request: pytest.FixtureRequest, tmp_path: Path, family: str) -> None:
    """SD with a UNet LoRA; SDXL (size conditioning) with text-encoder LoRA too, which the base pass must switch off as well."""
    model = request.getfixturevalue(f"tiny_{family}")
    train = tmp_path / "one"
    train.mkdir()
    image = Image.new("RGB", (64, 64), (200, 40, 40))
    image.paste((255, 255, 255), (10, 10, 40, 40))
    image.save(train / "one.png")
    (train / "one.txt").write_text("a photo of sks red square")
    validation = tmp_path / "same-image"
    shutil.copytree(train, validation)
    image.putpixel((63, 63), (201, 40, 40))  # one pixel apart: the same picture, not the same file (a copy would not be scored)
    image.save(validation / "one.png")
    spec = parse_spec(image_spec(model, train, data={"validation": str(validation)}, samples={"prompts": []},
                                 training={"max_steps": 12, "learning_rate": 1e-2, "batch_size": 1, "checkpoint_minutes": None, "save_steps": 1000},
                                 images={"train_text_encoder": family == "sdxl"}))
    summary = execute_run(spec, tmp_path / "run")
    report = read_report(tmp_path / "run")
    main = report.main()
    assert main.adapted < main.base - 0.02, f"overfitting did not lower the loss: {main.base:.4f} -> {main.adapted:.4f}"
    [example] = report.examples
    assert example.reference == "one.png" and example.change == "better"
    assert report.measured_on.startswith("1 image held out from training, recorded in split.json: 1 image of data.validation (same-image)")
    assert summary["train_examples"] == 1 and summary["eval_examples"] == 1
    # no sample prompts: the grid renders the held-out caption
    assert [row["prompt"] for row in report.extra["grid"]] == ["a photo of sks red square"]


def test_no_held_out_images_gives_the_grid_alone_and_says_why(evaluated) -> None:
    summary = evaluated.summary
    outcome = SimpleNamespace(base_model_path=summary["base_model_path"], output_folder=Path(summary["output_folder"]))
    run_dir = evaluated.run_dir.parent / "grid-only"
    off = evaluated.spec.model_copy(update={"evaluation": evaluated.spec.evaluation.model_copy(update={"enabled": False})})
    write_split(run_dir, split_image_dataset(off, load_image_dataset(evaluated.images))[1].split)  # a run that held nothing out
    reason = "no images were held out (nothing held out: evaluation is off)"
    report = evaluate_text_to_image(evaluated.spec, run_dir, outcome, MetricsSink(run_dir / "metrics.jsonl"))
    assert report.skipped is None and report.metrics == [] and report.examples == []
    assert report.measured_on.startswith("sample prompts only")
    assert any(reason in note for note in report.notes)
    assert all((run_dir / row[key]).is_file() for row in report.extra["grid"] for key in ("base", "adapted"))


def test_no_held_out_images_and_no_prompts_skips_with_the_reason(tiny_sd: Path, tmp_path: Path) -> None:
    images = write_images(tmp_path / "images")
    spec = parse_spec(image_spec(tiny_sd, images, samples={"prompts": []}))
    write_split(tmp_path / "run", split_image_dataset(spec, load_image_dataset(images))[1].split)
    outcome = SimpleNamespace(base_model_path="/nowhere", output_folder=tmp_path / "adapter")
    report = evaluate_text_to_image(spec, tmp_path / "run", outcome, MetricsSink(tmp_path / "metrics.jsonl"))
    assert report.skipped.startswith("data.train has 4 images, fewer than the 50 needed to hold some out for evaluation.holdout")
    assert report.skipped.endswith("and there are no samples.prompts to render a base-vs-adapted image grid either.")
