"""Image + caption datasets: duplicate and near-duplicate images (perceptual hash, ``imagehash``), captions missing or
identical, and images smaller than the training resolution.

The folder or zip is read by :func:`jobs.data.images.inspect_image_dataset` (the reader training uses). Items are
numbered 1, 2, 3 ... in the order of their paths in the folder, and every example names the file.

    check = image_check(Path("photos.zip"), resolution=512)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jobs.data.doctor.findings import DataCheck, Finding
from jobs.data.images import inspect_image_dataset
from storage.paths import DataHome

HASH_DISTANCE = 4
"""Two images whose perceptual hashes differ in at most this many of 64 bits are the same picture (resized,
re-encoded, slightly edited)."""
SHOWN_ONLY = "nothing: shown only"


def _item(number: int, name: str, note: str) -> str:
    return f"item {number} ({name}): {note}"


def image_check(train: Path, *, resolution: int = 512, home: DataHome | None = None,
                progress: Callable[[float, str], None] | None = None) -> DataCheck:
    """Check an image folder or zip; a :class:`DataCheck` whose rows are image items."""
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
    small = [(number[item.path.relative_to(report.folder).as_posix()], item) for item in report.items
             if min(item.width, item.height) < resolution]
    if small:
        findings.append(Finding(kind="image_too_small", severity="warn", file="train", rows=[n for n, _ in small],
                                examples=[_item(n, item.path.name, f"{item.width}×{item.height}") for n, item in small[:3]],
                                action=f"{SHOWN_ONLY} (training upscales them to {resolution} px, which blurs them)",
                                detail=f"images whose shorter side is below the training resolution ({resolution} px)"))
    return DataCheck(train_rows=len(names), validation_rows=0, findings=findings, format="images")
