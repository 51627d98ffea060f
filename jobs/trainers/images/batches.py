"""Training batches for text-to-image LoRA: deterministic order, resize/crop/flip, SDXL size conditioning.

The order of examples is a function of (seed, micro-step) alone, so a resumed run draws exactly the
batches the interrupted run would have drawn next.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from jobs.data.images import ImageItem


def batch_indices(count: int, batch_size: int, seed: int, micro_step: int) -> list[int]:
    """Dataset indices of one micro-batch: consecutive slices of per-epoch shuffles seeded by (seed, epoch)."""
    indices = []
    position = micro_step * batch_size
    for offset in range(batch_size):
        epoch, within = divmod(position + offset, count)
        order = list(range(count))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        indices.append(order[within])
    return indices


@dataclass
class PreparedImage:
    """An image resized so its short side is the resolution, kept in memory with its caption."""

    image: Image.Image
    caption: str
    original_size: tuple[int, int]
    """(height, width) before resizing, for SDXL's size conditioning."""


def prepare_images(items: list[ImageItem], resolution: int) -> list[PreparedImage]:
    """Open every image once, convert to RGB and resize its short side to ``resolution``."""
    prepared = []
    for item in items:
        with Image.open(item.path) as opened:
            image = opened.convert("RGB")
        width, height = image.size
        scale = resolution / min(width, height)
        resized = image.resize((max(resolution, round(width * scale)), max(resolution, round(height * scale))), Image.BILINEAR)
        prepared.append(PreparedImage(image=resized, caption=item.caption, original_size=(height, width)))
    return prepared


def crop_and_flip(prepared: PreparedImage, resolution: int, random_crop: bool, flip: bool, rng: random.Random) -> tuple[torch.Tensor, tuple[int, int]]:
    """A (3, R, R) tensor in [-1, 1] and the (top, left) of the crop."""
    width, height = prepared.image.size
    if random_crop:
        top, left = rng.randint(0, height - resolution), rng.randint(0, width - resolution)
    else:
        top, left = (height - resolution) // 2, (width - resolution) // 2
    image = prepared.image.crop((left, top, left + resolution, top + resolution))
    if flip and rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous(), (top, left)


def sdxl_time_ids(original_size: tuple[int, int], crop_top_left: tuple[int, int], resolution: int) -> torch.Tensor:
    """SDXL's micro-conditioning: original size, crop corner and target size, as six numbers."""
    return torch.tensor([*original_size, *crop_top_left, resolution, resolution], dtype=torch.float32)
