"""Aspect-ratio buckets without a model: kohya's bucket list, each image's nearest bucket and the crop that keeps its aspect,
and the batch order (one bucket per batch, each image once per epoch, a function of seed and micro-step alone)."""

from __future__ import annotations

import math
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from jobs.data.images import ImageItem
from jobs.trainers.images.batches import SpanningBatches, batch_indices, batch_order, crop_and_flip, prepare_images
from jobs.trainers.images.buckets import BucketBatches, bucket_sizes, bucket_step, cover_size, nearest_bucket, pixel_multiple


def test_the_bucket_list_at_512_is_kohyas() -> None:
    sizes = bucket_sizes(512, bucket_step(512, 64))
    assert (512, 512) in sizes and (448, 576) in sizes and (576, 448) in sizes and (256, 1024) in sizes and (1024, 256) in sizes
    assert all(width * height <= 512 * 512 and 256 <= min(width, height) and max(width, height) <= 1024 for width, height in sizes)
    assert all(width % 64 == 0 and height % 64 == 0 for width, height in sizes)
    assert sizes == sorted({(height, width) for width, height in sizes}), "every bucket exists in both orientations"


def test_the_step_is_64_px_rounded_to_what_the_pipeline_needs() -> None:
    sd = SimpleNamespace(block_out_channels=(320, 640, 1280, 1280))
    vae = SimpleNamespace(block_out_channels=(128, 256, 512, 512))
    assert pixel_multiple("sd", sd, vae) == 64 and pixel_multiple("flux", None, vae) == 16
    assert pixel_multiple("sd3", SimpleNamespace(patch_size=2), vae) == 16
    assert bucket_step(1024, 64) == bucket_step(512, 16) == 64
    assert bucket_step(64, 4) == 8 and bucket_step(128, 64) == 64  # tiny test pipelines; a real SD keeps its 64


@pytest.mark.parametrize(("width", "height", "bucket"), [
    (600, 900, (384, 640)),  # portrait 2:3 → the 0.6 bucket, not a square
    (900, 600, (640, 384)),
    (1200, 1190, (512, 512)),
    (1000, 250, (1024, 256)),  # beyond the widest bucket: the widest
])
def test_each_image_goes_to_the_bucket_nearest_its_aspect(width: int, height: int, bucket: tuple[int, int]) -> None:
    sizes = bucket_sizes(512, 64)
    assert nearest_bucket(width, height, sizes) == bucket
    assert math.isclose(math.log(width / height), math.log(bucket[0] / bucket[1]), abs_tol=0.2)


def test_a_portrait_keeps_its_aspect_and_loses_only_a_few_pixels(tmp_path: Path) -> None:
    path = tmp_path / "portrait.png"
    Image.new("RGB", (600, 900), (10, 20, 30)).save(path)
    item = ImageItem(path=path, caption="a portrait", width=600, height=900)
    bucketed = prepare_images([item], 512, buckets=bucket_sizes(512, 64))[0]
    pixels, (top, left) = crop_and_flip(bucketed, random_crop=False, flip=False, rng=random.Random(0))
    assert tuple(pixels.shape) == (3, 640, 384) and bucketed.target == (384, 640)
    assert bucketed.image.size == cover_size(600, 900, (384, 640)) == (427, 640) and (top, left) == (0, 21)
    square = prepare_images([item], 512)[0]  # without buckets: the square crop of today
    assert crop_and_flip(square, False, False, random.Random(0))[0].shape[1:] == (512, 512)
    assert square.image.size == (512, 768)


def test_batches_never_mix_buckets_and_each_image_trains_once_per_epoch() -> None:
    buckets = (0, 1, 0, 2, 1, 1, 0, 1, 0)  # 4, 4 and 1 images
    order = BucketBatches(buckets, batch_size=3, seed=5)
    assert order.batches_per_epoch == 2 + 2 + 1  # each bucket's remainder is one smaller batch (kohya)
    for epoch in range(3):
        batches = [order.batch(epoch * order.batches_per_epoch + number) for number in range(order.batches_per_epoch)]
        assert all(len({buckets[index] for index in batch}) == 1 for batch in batches)
        assert sorted(index for batch in batches for index in batch) == list(range(len(buckets)))
        assert sorted(len(batch) for batch in batches) == [1, 1, 1, 3, 3]
    assert order.epoch_of(4) == 0 and order.epoch_of(5) == 1
    assert [order.batch(n) for n in range(5)] != [order.batch(n) for n in range(5, 10)], "each epoch is shuffled anew"


def test_the_order_is_a_function_of_seed_and_micro_step_so_a_resume_draws_the_same_batches() -> None:
    buckets = (0, 1, 1, 0, 2, 1, 0)
    straight = [BucketBatches(buckets, 2, seed=9).batch(step) for step in range(20)]
    resumed = BucketBatches(buckets, 2, seed=9)  # a new process: nothing carried over but the step
    assert [resumed.batch(step) for step in range(12, 20)] == straight[12:]
    assert straight != [BucketBatches(buckets, 2, seed=10).batch(step) for step in range(20)]


def test_one_bucket_draws_exactly_the_batches_of_today() -> None:
    one_bucket = BucketBatches((0,) * 6, 2, seed=3)
    assert [one_bucket.batch(step) for step in range(9)] == [batch_indices(6, 2, 3, step) for step in range(9)]
    squares = [SimpleNamespace(target=(64, 64))] * 5
    order = batch_order(squares, 2, seed=3)  # square-only data: the order without buckets, batches spanning epochs
    assert isinstance(order, SpanningBatches) and order.batch(2) == batch_indices(5, 2, 3, 2)
    mixed = batch_order([SimpleNamespace(target=size) for size in [(64, 64), (48, 80), (64, 64)]], 2, seed=3)
    assert isinstance(mixed, BucketBatches) and mixed.buckets == (1, 0, 1)
