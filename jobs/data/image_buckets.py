"""Aspect-ratio buckets, the geometry alone (no torch, no diffusers): which sizes a text-to-image LoRA trains at and which
size each image goes to. The training loop (:mod:`jobs.trainers.images.buckets`) and the data doctor's image check
(:mod:`jobs.data.doctor.images`) both read it, so the doctor counts exactly the buckets training fills.

kohya's recipe (sd-scripts ``make_bucket_resolutions`` and ``--enable_bucket``), which ai-toolkit, OneTrainer and SimpleTuner
follow too: :func:`bucket_sizes` lists (width, height) sizes of about ``resolution²`` pixels, sides from half to twice the
resolution in steps of :func:`bucket_step` (64 px, a multiple of what the pipeline's VAE and denoiser need), plus the square
``resolution × resolution`` itself; :func:`nearest_bucket` gives each image the size whose aspect ratio is nearest to its own
(on a log scale, so a portrait and the landscape of the same ratio are treated alike); the image is then resized to cover that
size (:func:`cover_size`) and cropped by the few pixels left over.

    sizes = bucket_sizes(512, bucket_step(512))
    nearest_bucket(1920, 1080, sizes)            # (704, 384)
    bucket_counts([(512, 512), (704, 384), (512, 512)])   # {(512, 512): 2, (704, 384): 1}
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Size = tuple[int, int]
"""(width, height) in pixels."""

BUCKET_STEP = 64
"""kohya's ``bucket_reso_steps``: bucket sides are multiples of 64 px, which every supported pipeline takes (SD's VAE 8× and
UNet 8×; FLUX's VAE 8× and 2×2 packing; SD 3's VAE 8× and 2×2 patches)."""
SMALL_RESOLUTION = 256
"""Below this resolution (tiny test pipelines) the step is an eighth of the resolution, so buckets still differ in shape."""


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


def bucket_counts(sizes: Sequence[Size]) -> dict[Size, int]:
    """How many images fall in each bucket, the fullest first (for the log and the data check)."""
    counts: dict[Size, int] = {}
    for size in sizes:
        counts[size] = counts.get(size, 0) + 1
    return dict(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])))
