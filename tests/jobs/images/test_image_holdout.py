"""Which images the text-to-image report holds out (and training never sees), and when the trainer saves a checkpoint.

Fast: no pipeline is loaded; the images are small files written here."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.data.images import MIN_IMAGES_TO_HOLD_OUT, load_image_dataset, split_image_dataset
from jobs.errors import DataError
from jobs.spec import parse_spec
from jobs.trainers.images.train import checkpoint_due
from tests.jobs.images.conftest import write_images
from tests.jobs.images.test_eval_report import write_many_images


def spec_for(train: Path, validation=None, seed: int = 3, **evaluation):
    return parse_spec({"task": "text-to-image", "base_model": "tiny/sd", "method": "lora",
                       "data": {"train": str(train), "validation": validation, "split_seed": seed}, "training": {"seed": 7}, "images": {"resolution": 64},
                       "evaluation": evaluation})


def names(items) -> list[str]:
    return [item.path.name for item in items]


def test_a_large_dataset_holds_out_the_share_picked_by_the_seed(tmp_path: Path) -> None:
    images = write_many_images(tmp_path / "photos", MIN_IMAGES_TO_HOLD_OUT)
    dataset = load_image_dataset(images)
    train, held = split_image_dataset(spec_for(images, holdout=0.2), dataset)
    assert len(held.items) == 10 and len(train) == 40 and not set(names(train)) & set(names(held.items))
    assert held.source == "10 of the 50 images of data.train (20% by evaluation.holdout (0.2), picked by data.split_seed 3), not trained on"
    again_train, again = split_image_dataset(spec_for(images, holdout=0.2), load_image_dataset(images))
    assert names(again.items) == names(held.items) and names(again_train) == names(train)  # a resumed run holds out the same images
    _, other_seed = split_image_dataset(spec_for(images, seed=4, holdout=0.2), dataset)
    assert names(other_seed.items) != names(held.items)


def test_too_few_images_hold_nothing_out_and_say_why(image_folder: Path) -> None:
    dataset = load_image_dataset(image_folder)
    train, held = split_image_dataset(spec_for(image_folder), dataset)
    assert train == dataset.items and held.items == []
    assert held.reason.startswith("data.train has 4 images, fewer than the 50 needed to hold some out for evaluation.holdout")
    _, off = split_image_dataset(spec_for(image_folder, enabled=False), dataset)
    assert off.items == [] and "evaluation.enabled is off" in off.reason


def test_a_validation_fraction_holds_out_that_share_even_of_a_small_dataset(image_folder: Path) -> None:
    dataset = load_image_dataset(image_folder)
    train, held = split_image_dataset(spec_for(image_folder, validation=0.25), dataset)
    assert len(held.items) == 1 and len(train) == 3
    assert held.source.startswith("1 of the 4 images of data.train (25% by data.validation (0.25)")


def test_a_validation_folder_is_held_out_and_never_trained_on_even_inside_the_training_folder(tmp_path: Path) -> None:
    images = write_images(tmp_path / "photos")
    validation = write_images(images / "held-out", size=80)
    dataset = load_image_dataset(images)
    assert len(dataset.items) == 8  # the training folder's scan finds the validation subfolder too
    train, held = split_image_dataset(spec_for(images, validation=str(validation)), dataset)
    assert [item.path.parent for item in held.items] == [validation] * 4
    assert [item.path.parent for item in train] == [images] * 4
    assert held.source == "4 images of data.validation (held-out)"
    with pytest.raises(DataError, match="every image of data.train is also in data.validation"):
        split_image_dataset(spec_for(validation, validation=str(validation)), load_image_dataset(validation))


def test_a_validation_folder_without_captions_fails_before_training(tmp_path: Path) -> None:
    images = write_images(tmp_path / "photos")
    bare = write_images(tmp_path / "bare", captions=False)
    with pytest.raises(DataError, match="have no caption"):
        split_image_dataset(spec_for(images, validation=str(bare)), load_image_dataset(images))


@pytest.mark.parametrize(("save_steps", "minutes", "step", "seconds", "epoch_ended", "due"), [
    (None, 10.0, 3, 599.0, False, False),   # not yet ten minutes
    (None, 10.0, 3, 600.0, False, True),    # ten minutes since the last save
    (None, 10.0, 20, 3600.0, True, False),  # the last step: the adapter is saved instead
    (None, None, 3, 1e9, False, False),     # time-based checkpoints off, no save_steps, mid-epoch
    (None, None, 4, 0.0, True, True),       # no save_steps: at the end of each epoch
    (5, None, 10, 0.0, False, True),        # every save_steps steps
    (5, 10.0, 11, 1.0, True, False),        # save_steps replaces the epoch-end checkpoints
])
def test_checkpoints_are_due_every_save_steps_or_epoch_and_every_checkpoint_minutes(save_steps, minutes, step, seconds, epoch_ended, due) -> None:
    settings = parse_spec({"task": "text-to-image", "base_model": "tiny/sd", "method": "lora", "data": {"train": "photos"},
                           "training": {"save_steps": save_steps, "checkpoint_minutes": minutes}}).training
    assert checkpoint_due(settings, step, 20, seconds, epoch_ended) is due
