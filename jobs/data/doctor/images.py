"""Image + caption datasets: duplicate and near-duplicate images (perceptual hash, ``imagehash``), captions missing or
identical, images smaller than the size training gives them (their aspect-ratio bucket, or the square without buckets),
and how many images fall in each bucket (:mod:`jobs.data.image_buckets`, the geometry the trainer reads), with a note on
images alone in their bucket (with a batch size above 1, each trains as a batch of one).

The folder or zip is read by :func:`jobs.data.images.inspect_image_dataset` (the reader training uses). Items are
numbered 1, 2, 3 ... in the order of their paths in the folder, and every example names the file.

    check = image_check(Path("photos.zip"), resolution=512)
    check.buckets                      # {"512x512": 14, "576x448": 5, "704x384": 1}
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jobs.data.doctor.findings import DataCheck, Finding
from jobs.data.image_buckets import Size, bucket_counts, bucket_sizes, bucket_step, nearest_bucket
from jobs.data.images import ImageDatasetReport, ImageItem, inspect_image_dataset
from storage.paths import DataHome

HASH_DISTANCE = 4
"""Two images whose perceptual hashes differ in at most this many of 64 bits are the same picture (resized,
re-encoded, slightly edited)."""
SHOWN_ONLY = "nothing: shown only"


def _item(number: int, name: str, note: str) -> str:
    return f"item {number} ({name}): {note}"


def _targets(report: ImageDatasetReport, resolution: int, aspect_buckets: bool) -> list[Size]:
    """The size training gives each image (in ``report.items`` order): its aspect-ratio bucket, or the square."""
    if not aspect_buckets:
        return [(resolution, resolution)] * len(report.items)
    sizes = bucket_sizes(resolution, bucket_step(resolution))
    return [nearest_bucket(item.width, item.height, sizes) for item in report.items]


def _bucket_note(placed: list[tuple[int, ImageItem, Size]], resolution: int) -> tuple[dict[str, int], Finding | None]:
    """Images per aspect-ratio bucket ("704x384": 3, the fullest first) and the images alone in theirs."""
    counts = bucket_counts([bucket for _, _, bucket in placed])
    alone = sorted(((n, item, bucket) for n, item, bucket in placed if counts[bucket] == 1), key=lambda entry: entry[0])
    buckets = {f"{width}x{height}": count for (width, height), count in counts.items()}
    if len(placed) < 2 or not alone:
        return buckets, None
    return buckets, Finding(
        kind="single_image_bucket", severity="info", file="train", rows=[n for n, _, _ in alone],
        examples=[_item(n, item.path.name, f"{item.width}×{item.height}, the only image in bucket {width}x{height}")
                  for n, item, (width, height) in alone[:3]],
        action=f"{SHOWN_ONLY}; add images of that shape, or crop them to a shape others share",
        detail=f"images alone in their aspect-ratio bucket at {resolution} px: with a batch size above 1, each trains as a "
               "batch of one (a noisier step)")


def image_check(train: Path, *, resolution: int = 512, aspect_buckets: bool = True, home: DataHome | None = None,
                progress: Callable[[float, str], None] | None = None) -> DataCheck:
    """Check an image folder or zip; a :class:`DataCheck` whose rows are image items. With ``aspect_buckets`` (the spec's
    ``images.aspect_buckets``), the images per bucket at ``resolution`` and those alone in theirs."""
    import imagehash
    from PIL import Image

    report = inspect_image_dataset(train, home=home)
    names = sorted({item.path.relative_to(report.folder).as_posix() for item in report.items}
                   | set(report.missing_captions) | set(report.unreadable))
    number = {name: position for position, name in enumerate(names, start=1)}
    findings: list[Finding] = []

    hashes: list[tuple[object, int, str]] = []
    duplicates: list[tuple[int, str, int, str]] = []
    for position, item in enumerate(report.items):
        name = item.path.relative_to(report.folder).as_posix()
        with Image.open(item.path) as image:
            digest = imagehash.phash(image)
        same = next(((n, other) for h, n, other in hashes if digest - h <= HASH_DISTANCE), None)
        if same is None:
            hashes.append((digest, number[name], name))
        else:
            duplicates.append((number[name], name, *same))
        if progress and position % 20 == 0:
            progress(position / max(len(report.items), 1), "images")
    if duplicates:
        findings.append(Finding(kind="image_duplicate", severity="warn", file="train", rows=[d[0] for d in duplicates],
                                examples=[_item(n, name, f"the same picture as item {m} ({other})") for n, name, m, other in duplicates[:3]],
                                action=f"{SHOWN_ONLY}; delete the copies from the folder",
                                detail=f"images whose perceptual hash is within {HASH_DISTANCE} bits of an earlier one"))
    if report.missing_captions:
        missing = sorted(report.missing_captions, key=number.__getitem__)
        findings.append(Finding(kind="caption_missing", severity="warn", file="train", rows=[number[n] for n in missing],
                                examples=[_item(number[n], n, "no caption") for n in missing[:3]],
                                action=f"{SHOWN_ONLY}; add a same-name .txt file or a metadata.jsonl line (training refuses them)",
                                detail="images without a caption"))
    first_with: dict[str, int] = {}
    identical: list[tuple[int, str, int]] = []
    if "instance_prompt" not in report.caption_source:
        for item in report.items:
            name = item.path.relative_to(report.folder).as_posix()
            if item.caption in first_with:
                identical.append((number[name], name, first_with[item.caption]))
            else:
                first_with[item.caption] = number[name]
    if identical:
        findings.append(Finding(kind="caption_identical", severity="warn", file="train", rows=[n for n, _, _ in identical],
                                examples=[_item(n, name, f"the same caption as item {m}") for n, name, m in identical[:3]],
                                action=f"{SHOWN_ONLY}; describe what differs in each picture",
                                detail="images whose caption is word for word that of an earlier image"))
    placed = [(number[item.path.relative_to(report.folder).as_posix()], item, target)
              for item, target in zip(report.items, _targets(report, resolution, aspect_buckets), strict=True)]
    small = [(n, item, target) for n, item, target in placed if item.width < target[0] or item.height < target[1]]
    if small:
        shape = "their aspect-ratio bucket" if aspect_buckets else "the square"
        findings.append(Finding(kind="image_too_small", severity="warn", file="train", rows=[n for n, _, _ in small],
                                examples=[_item(n, item.path.name, f"{item.width}×{item.height}, trained at {w}x{h}")
                                          for n, item, (w, h) in small[:3]],
                                action=f"{SHOWN_ONLY} (training upscales them, which blurs them)",
                                detail=f"images smaller than the size training gives them ({shape} at {resolution} px)"))
    buckets = None
    if aspect_buckets and placed:
        buckets, alone = _bucket_note(placed, resolution)
        findings += [alone] if alone else []
    return DataCheck(train_rows=len(names), validation_rows=0, findings=findings, format="images", buckets=buckets)
