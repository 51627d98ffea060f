"""Aspect-ratio buckets for text-to-image LoRA: portrait and landscape images train at their own shape instead of a square crop.

kohya's recipe (sd-scripts ``make_bucket_resolutions`` and ``--enable_bucket``), which ai-toolkit, OneTrainer and SimpleTuner
follow too: :func:`bucket_sizes` lists (width, height) sizes of about ``resolution²`` pixels, sides from half to twice the
resolution in steps of :func:`bucket_step` (64 px, a multiple of what the pipeline's VAE and denoiser need), plus the square
``resolution × resolution`` itself; :func:`nearest_bucket` gives each image the size whose aspect ratio is nearest to its own
(on a log scale, so a portrait and the landscape of the same ratio are treated alike); the image is then resized to cover that
size and cropped by the few pixels left over (:mod:`jobs.trainers.images.batches`).

:class:`BucketBatches` is the order of training batches: a function of (seed, micro-step, each image's bucket) alone, so a
resumed run draws exactly the batches the interrupted one would have drawn next. Per epoch, the images are shuffled
(seeded by seed and epoch, as :func:`jobs.trainers.images.batches.batch_indices` does) and dealt into their buckets; a bucket
that holds ``batch_size`` images becomes a batch. What is left in each bucket at the end of the epoch is one smaller batch, as
kohya does (never repeated images, never two sizes in one batch), so an epoch has ``sum(ceil(bucket images / batch_size))``
batches. With one bucket and a batch size that divides the images, the order is exactly ``batch_indices``'.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

Size = tuple[int, int]
"""(width, height) in pixels."""

BUCKET_STEP = 64
"""kohya's ``bucket_reso_steps``: bucket sides are multiples of 64 px, which every supported pipeline takes (SD's VAE 8× and
UNet 8×; FLUX's VAE 8× and 2×2 packing; SD 3's VAE 8× and 2×2 patches)."""
SMALL_RESOLUTION = 256
"""Below this resolution (tiny test pipelines) the step is an eighth of the resolution, so buckets still differ in shape."""


def pixel_multiple(family: str, denoiser_config: Any, vae_config: Any) -> int:
    """The multiple every image side must be for this pipeline: the VAE's downscale times the denoiser's (the UNet's down
    blocks for SD/SDXL, FLUX's 2×2 packing, SD 3's patch size)."""
    vae_scale = 2 ** (len(vae_config.block_out_channels) - 1)
    if family == "flux":
        return vae_scale * 2
    if family == "sd3":
        return vae_scale * int(getattr(denoiser_config, "patch_size", 2))
    return vae_scale * 2 ** (len(denoiser_config.block_out_channels) - 1)


def bucket_step(resolution: int, multiple: int = 8) -> int:
    """The step between bucket sides: :data:`BUCKET_STEP` (an eighth of the resolution below :data:`SMALL_RESOLUTION`),
    rounded up to ``multiple``."""
    step = BUCKET_STEP if resolution >= SMALL_RESOLUTION else max(8, resolution // 8)
    return math.ceil(step / multiple) * multiple


def bucket_sizes(resolution: int, step: int) -> list[Size]:
    """kohya's bucket list for a square ``resolution``: for each width from half to twice the resolution (in ``step``s), the
    largest height in ``step``s whose area is at most ``resolution²``, both orientations, and the square itself; sorted."""
    area, smallest, largest = resolution * resolution, resolution // 2, resolution * 2
    sizes = {(resolution, resolution)}
    for width in range(math.ceil(smallest / step) * step, largest + 1, step):
        height = min(largest, area // width // step * step)
        if height >= smallest:
            sizes.update({(width, height), (height, width)})
    return sorted(sizes)


def nearest_bucket(width: int, height: int, sizes: Sequence[Size]) -> Size:
    """The size in ``sizes`` whose aspect ratio is nearest to ``width / height`` (on a log scale; a tie goes to the squarer)."""
    ratio = math.log(width / height)
    return min(sizes, key=lambda size: (round(abs(math.log(size[0] / size[1]) - ratio), 9), abs(size[0] - size[1]), size))


def cover_size(width: int, height: int, target: Size) -> Size:
    """The size an image of ``width × height`` is resized to so that it just covers ``target`` (then cropped to it): for a
    square target, its short side becomes the target's, as without buckets."""
    scale = max(target[0] / width, target[1] / height)
    return max(target[0], round(width * scale)), max(target[1], round(height * scale))


@lru_cache(maxsize=4)
def epoch_order(count: int, seed: int, epoch: int) -> tuple[int, ...]:
    """The shuffled image indices of one epoch, seeded by (seed, epoch) alone."""
    order = list(range(count))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return tuple(order)


@lru_cache(maxsize=4)
def _epoch_batches(buckets: tuple[int, ...], batch_size: int, seed: int, epoch: int) -> tuple[tuple[int, ...], ...]:
    filling: dict[int, list[int]] = {}
    batches = []
    for index in epoch_order(len(buckets), seed, epoch):
        members = filling.setdefault(buckets[index], [])
        members.append(index)
        if len(members) == batch_size:
            batches.append(tuple(filling.pop(buckets[index])))
    batches += [tuple(members) for members in filling.values()]  # kohya: each bucket's remainder is one smaller batch
    return tuple(batches)


@dataclass(frozen=True)
class BucketBatches:
    """The batch order of a bucketed run: ``buckets[i]`` is the bucket number of training image ``i``."""

    buckets: tuple[int, ...]
    batch_size: int
    seed: int

    @cached_property
    def batches_per_epoch(self) -> int:
        """Batches in one pass over the images: each bucket's images in batches, its last one smaller."""
        counts: dict[int, int] = {}
        for bucket in self.buckets:
            counts[bucket] = counts.get(bucket, 0) + 1
        return sum(math.ceil(count / self.batch_size) for count in counts.values())

    def batch(self, micro_step: int) -> list[int]:
        """The indices of the training images of micro-batch ``micro_step`` (all of one bucket)."""
        epoch, within = divmod(micro_step, self.batches_per_epoch)
        return list(_epoch_batches(self.buckets, self.batch_size, self.seed, epoch)[within])

    def epoch_of(self, micro_step: int) -> int:
        """The epoch that micro-batch ``micro_step`` starts in (micro-batch 0 is the start of epoch 0)."""
        return micro_step // self.batches_per_epoch

    def epochs(self, micro_steps: int) -> float:
        """Epochs done after ``micro_steps`` micro-batches."""
        return micro_steps / self.batches_per_epoch


def bucket_counts(sizes: Sequence[Size]) -> dict[Size, int]:
    """How many images fall in each bucket, the fullest first (for the log and the data check)."""
    counts: dict[Size, int] = {}
    for size in sizes:
        counts[size] = counts.get(size, 0) + 1
    return dict(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])))


def pipeline_buckets(parts: Any, resolution: int) -> list[Size]:
    """The bucket sizes of a loaded pipeline (SD/SDXL ``DiffusionParts`` or FLUX.1/SD 3.x ``FlowParts``) at ``resolution``."""
    denoiser = getattr(parts, "transformer", None) or parts.unet
    return bucket_sizes(resolution, bucket_step(resolution, pixel_multiple(parts.family, denoiser.config, parts.vae.config)))
