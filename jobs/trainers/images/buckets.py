"""Aspect-ratio buckets for text-to-image LoRA: portrait and landscape images train at their own shape instead of a square crop.

The geometry (which sizes, which size an image goes to: :func:`bucket_sizes`, :func:`nearest_bucket`, :func:`bucket_step`,
:func:`cover_size`, :func:`bucket_counts`) lives in :mod:`jobs.data.image_buckets`, below the trainers, so the data doctor counts
the same buckets; it is re-exported here. This module adds what needs a pipeline (:func:`pixel_multiple`, :func:`pipeline_buckets`)
and the batch order.

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
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from jobs.data.image_buckets import Size, bucket_counts, bucket_sizes, bucket_step, cover_size, nearest_bucket

__all__ = ["BucketBatches", "Size", "bucket_counts", "bucket_sizes", "bucket_step", "cover_size", "epoch_order", "nearest_bucket",
           "pipeline_buckets", "pixel_multiple"]


def pixel_multiple(family: str, denoiser_config: Any, vae_config: Any) -> int:
    """The multiple every image side must be for this pipeline: the VAE's downscale times the denoiser's (the UNet's down
    blocks for SD/SDXL, FLUX's 2×2 packing, SD 3's patch size)."""
    vae_scale = 2 ** (len(vae_config.block_out_channels) - 1)
    if family == "flux":
        return vae_scale * 2
    if family == "sd3":
        return vae_scale * int(getattr(denoiser_config, "patch_size", 2))
    return vae_scale * 2 ** (len(denoiser_config.block_out_channels) - 1)


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


def pipeline_buckets(parts: Any, resolution: int) -> list[Size]:
    """The bucket sizes of a loaded pipeline (SD/SDXL ``DiffusionParts`` or FLUX.1/SD 3.x ``FlowParts``) at ``resolution``."""
    denoiser = getattr(parts, "transformer", None) or parts.unet
    return bucket_sizes(resolution, bucket_step(resolution, pixel_multiple(parts.family, denoiser.config, parts.vae.config)))
