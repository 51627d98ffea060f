"""Training batches for text-to-image LoRA: deterministic order, resize/crop/flip, SDXL size conditioning.

The order of examples is a function of (seed, micro-step) alone, so a resumed run draws exactly the
batches the interrupted run would have drawn next. With ``images.aspect_buckets`` each image is resized to cover its
aspect-ratio bucket (:mod:`jobs.trainers.images.buckets`) and every batch is drawn from one bucket (:func:`batch_order`);
without it (or when every image falls in the square bucket) each image's short side becomes the resolution, it is cropped
square, and the order is :func:`batch_indices`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from jobs.data.images import ImageItem
from jobs.trainers.images.buckets import BucketBatches, Size, cover_size, epoch_order, nearest_bucket


def batch_indices(count: int, batch_size: int, seed: int, micro_step: int) -> list[int]:
    """Dataset indices of one micro-batch: consecutive slices of per-epoch shuffles seeded by (seed, epoch)."""
    position = micro_step * batch_size
    return [epoch_order(count, seed, epoch)[within] for epoch, within in (divmod(position + offset, count) for offset in range(batch_size))]


@dataclass(frozen=True)
class SpanningBatches:
    """The batch order without buckets: full batches, consecutive slices of per-epoch shuffles (:func:`batch_indices`)."""

    count: int
    batch_size: int
    seed: int

    @property
    def batches_per_epoch(self) -> int:
        """Batches in one pass over the images (the last one spans into the next epoch)."""
        return math.ceil(self.count / self.batch_size)

    def batch(self, micro_step: int) -> list[int]:
        """The indices of the training images of micro-batch ``micro_step``."""
        return batch_indices(self.count, self.batch_size, self.seed, micro_step)

    def epoch_of(self, micro_step: int) -> int:
        """The epoch that micro-batch ``micro_step`` starts in."""
        return micro_step * self.batch_size // self.count

    def epochs(self, micro_steps: int) -> float:
        """Epochs done after ``micro_steps`` micro-batches."""
        return micro_steps * self.batch_size / self.count


BatchOrder = SpanningBatches | BucketBatches


@dataclass
class PreparedImage:
    """An image resized to cover its training size (its bucket, or the square), kept in memory with its caption."""

    image: Image.Image
    caption: str
    original_size: tuple[int, int]
    """(height, width) before resizing, for SDXL's size conditioning."""
    target: Size
    """(width, height) it trains at: its aspect-ratio bucket, or (resolution, resolution)."""

    @property
    def target_hw(self) -> tuple[int, int]:
        """(height, width) it trains at, for SDXL's size conditioning."""
        return self.target[1], self.target[0]


def training_size(width: int, height: int, resolution: int, buckets: Sequence[Size] | None) -> Size:
    """(width, height) an image of ``width × height`` trains at: its nearest bucket, or the square without ``buckets``."""
    return nearest_bucket(width, height, buckets) if buckets else (resolution, resolution)


def image_training_sizes(items: list[ImageItem], resolution: int, buckets: Sequence[Size] | None) -> list[Size]:
    """The training size of each image, from the size its dataset read (nothing decoded)."""
    return [training_size(item.width, item.height, resolution, buckets) for item in items]


def prepare_images(items: list[ImageItem], resolution: int, *, buckets: Sequence[Size] | None = None) -> list[PreparedImage]:
    """Open every image once, convert to RGB and resize it to cover its training size (:func:`training_size`): without
    ``buckets``, its short side becomes ``resolution``."""
    prepared = []
    for item in items:
        with Image.open(item.path) as opened:
            image = opened.convert("RGB")
        width, height = image.size
        target = training_size(width, height, resolution, buckets)
        resized = image.resize(cover_size(width, height, target), Image.BILINEAR)
        prepared.append(PreparedImage(image=resized, caption=item.caption, original_size=(height, width), target=target))
    return prepared


def batch_order(prepared: list[PreparedImage], batch_size: int, seed: int) -> BatchOrder:
    """The run's batch order: one bucket per batch when the images fall in several buckets, else :func:`batch_indices`'."""
    sizes = sorted({item.target for item in prepared})
    if len(sizes) <= 1:
        return SpanningBatches(len(prepared), batch_size, seed)
    number = {size: index for index, size in enumerate(sizes)}
    return BucketBatches(tuple(number[item.target] for item in prepared), batch_size, seed)


def center_corner(prepared: PreparedImage) -> tuple[int, int]:
    """(top, left) of the center crop of ``prepared`` to its training size."""
    width, height = prepared.image.size
    return (height - prepared.target[1]) // 2, (width - prepared.target[0]) // 2


def crop_and_flip(prepared: PreparedImage, random_crop: bool, flip: bool, rng: random.Random) -> tuple[torch.Tensor, tuple[int, int]]:
    """A (3, H, W) tensor in [-1, 1] at the image's training size and the (top, left) of the crop."""
    width, height = prepared.image.size
    target_width, target_height = prepared.target
    if random_crop:
        top, left = rng.randint(0, height - target_height), rng.randint(0, width - target_width)
    else:
        top, left = center_corner(prepared)
    image = prepared.image.crop((left, top, left + target_width, top + target_height))
    if flip and rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous(), (top, left)


def sdxl_time_ids(original_size: tuple[int, int], crop_top_left: tuple[int, int], target_size: tuple[int, int]) -> torch.Tensor:
    """SDXL's micro-conditioning: original size, crop corner and target size (each (height, width)), as six numbers."""
    return torch.tensor([*original_size, *crop_top_left, *target_size], dtype=torch.float32)
