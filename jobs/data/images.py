"""Image + caption datasets for text-to-image LoRA: folders, safe zip extraction, inspection, loading.

A dataset is a folder (or a ``.zip`` of one) of ``.png``/``.jpg``/``.jpeg``/``.webp`` images. Captions come
from a ``metadata.jsonl`` / ``metadata.csv`` (``file_name``, ``text``), from same-name ``.txt`` files, or from
one instance prompt; a trigger word is put in front of every caption that lacks it.

Images for the before/after report are held out by :func:`split_image_dataset`: the images of ``data.validation``
(a folder or zip), a share of ``data.train`` (``data.validation`` as a fraction, or ``evaluation.holdout`` when
there are at least :data:`MIN_IMAGES_TO_HOLD_OUT` images), picked by ``data.split_seed`` as every task's rows are
(:func:`jobs.data.split.decide_split`; images with the same bytes stay on one side) and never trained on.

Zips are checked entry by entry *before* anything is written (no absolute or ``..`` paths, no symlinks,
limits on entry count, expanded size and compression ratio), then extracted into a fresh folder under
``<data home>/uploads/`` with the byte count enforced while writing.

    from jobs.data.images import inspect_image_dataset
    report = inspect_image_dataset("photos.zip")
    print(report.problems)
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from jobs.data.split import Candidate, Dropped, RecordedSplit, data_files, data_sha256, decide_split
from jobs.errors import DataError
from jobs.spec import CaptionSource, JobSpec
from storage.paths import DataHome, data_home

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
CAPTION_FILES = ("metadata.jsonl", "metadata.csv")
IGNORED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini", "__MACOSX"}
MIN_SIDE = 64
"""Images whose shorter side is below this many pixels are listed as tiny (they still train)."""
MIN_IMAGES_TO_HOLD_OUT = 50
"""Without data.validation, a share of data.train is held out for the report only when it has at least this many images."""


@dataclass(frozen=True)
class ZipLimits:
    """What a zip may expand to; anything above is refused as a possible zip bomb."""

    max_entries: int = 20_000
    max_total_bytes: int = 4 * 1024**3
    max_ratio: float = 200.0
    """Largest expanded/compressed size ratio of one entry (images barely compress; bombs reach 1000+)."""


@dataclass
class ImageItem:
    """One usable training image and its caption."""

    path: Path
    caption: str
    width: int
    height: int


@dataclass
class ImageDatasetReport:
    """What is in an image dataset: usable items and each problem, by file name."""

    folder: Path
    items: list[ImageItem] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    tiny: list[str] = field(default_factory=list)
    missing_captions: list[str] = field(default_factory=list)
    stray_files: list[str] = field(default_factory=list)
    caption_source: str = "none"

    @property
    def problems(self) -> list[str]:
        """One sentence per kind of problem, naming the files."""
        sentences = []
        if self.unreadable:
            sentences.append("unreadable images (skipped): " + ", ".join(f"{name} ({why})" for name, why in sorted(self.unreadable.items())))
        if self.tiny:
            sentences.append(f"images smaller than {MIN_SIDE} px on a side: " + ", ".join(sorted(self.tiny)))
        if self.missing_captions:
            sentences.append("images without a caption: " + ", ".join(sorted(self.missing_captions)))
        if self.stray_files:
            sentences.append("files that are neither images nor captions (ignored): " + ", ".join(sorted(self.stray_files)))
        return sentences


def _check_zip_entries(archive: zipfile.ZipFile, zip_name: str, limits: ZipLimits) -> list[zipfile.ZipInfo]:
    entries = archive.infolist()
    if len(entries) > limits.max_entries:
        raise DataError(f"{zip_name} has {len(entries)} entries, more than the limit of {limits.max_entries}; split the dataset into smaller zips")
    total = 0
    for info in entries:
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise DataError(f"{zip_name} contains the entry '{name}', whose path leads outside the dataset folder; re-create the zip from the folder itself")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise DataError(f"{zip_name} contains a symbolic link '{name}'; zip the image files themselves, not links to them")
        if info.is_dir():
            continue
        total += info.file_size
        if info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise DataError(
                f"{zip_name} entry '{name}' expands {info.file_size // max(info.compress_size, 1)}x (over {limits.max_ratio:.0f}x), "
                "which looks like a zip bomb; zip the images without tricks"
            )
    if total > limits.max_total_bytes:
        raise DataError(
            f"{zip_name} expands to {total / 1024**3:.1f} GiB, more than the limit of {limits.max_total_bytes / 1024**3:.1f} GiB; use fewer or smaller images"
        )
    return entries


def safe_extract_zip(zip_path: Path, target: Path, limits: ZipLimits | None = None) -> Path:
    """Extract ``zip_path`` into the new folder ``target`` after checking every entry; returns ``target``.

    Nothing is written unless every entry passes; the expanded size is counted again while writing (headers
    can lie), and a partial extraction is removed on any failure.
    """
    limits = limits or ZipLimits()
    zip_path = Path(zip_path)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise DataError(f"{zip_path.name} is not a readable zip file ({error}); re-create it") from None
    with archive:
        entries = _check_zip_entries(archive, zip_path.name, limits)
        partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        written = 0
        try:
            root = partial.resolve()
            for info in entries:
                destination = (partial / info.filename.replace("\\", "/")).resolve()
                if not destination.is_relative_to(root):  # belt and braces after the name check
                    raise DataError(f"{zip_path.name} entry '{info.filename}' leads outside the dataset folder")
                if info.is_dir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, destination.open("wb") as sink:
                    while chunk := source.read(1 << 20):
                        written += len(chunk)
                        if written > limits.max_total_bytes:
                            raise DataError(f"{zip_path.name} expands beyond {limits.max_total_bytes / 1024**3:.1f} GiB; it looks like a zip bomb")
                        sink.write(chunk)
            shutil.rmtree(target, ignore_errors=True)
            partial.rename(target)
        except zipfile.BadZipFile as error:
            raise DataError(f"{zip_path.name} is damaged ({error}); re-create the zip") from None
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return target


def dataset_folder(train: str | Path, home: DataHome | None = None, limits: ZipLimits | None = None) -> Path:
    """The folder of images for ``data.train``: the folder itself, or a zip extracted once under ``uploads/``."""
    path = Path(train).expanduser()
    if path.is_dir():
        return path.absolute()
    if not path.is_file():
        raise DataError(f"image dataset {path} does not exist; give a folder of images or a .zip of one")
    if path.suffix.lower() != ".zip":
        raise DataError(f"{path.name} is neither a folder nor a .zip; give a folder of images (with captions) or a .zip of one")
    home = home or data_home()
    stat_info = path.stat()
    key = hashlib.sha256(f"{path.absolute()}\0{stat_info.st_size}\0{stat_info.st_mtime_ns}".encode()).hexdigest()[:10]
    target = home.uploads / f"{path.stem[:80]}-{key}"
    if target.is_dir():
        return target
    safe_extract_zip(path, target, limits)
    return target


def _image_root(folder: Path) -> Path:
    """A zip of one folder extracts to that folder: descend while there is exactly one subfolder and nothing else."""
    current = folder
    while True:
        children = [child for child in current.iterdir() if child.name not in IGNORED_NAMES]
        if len(children) == 1 and children[0].is_dir():
            current = children[0]
        else:
            return current


def _read_metadata(folder: Path) -> dict[str, str]:
    captions: dict[str, str] = {}
    jsonl, csv_file = folder / "metadata.jsonl", folder / "metadata.csv"
    if jsonl.is_file():
        for number, line in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise DataError(f"metadata.jsonl line {number} is not valid JSON; each line needs {{\"file_name\": ..., \"text\": ...}}") from None
            if not isinstance(row, dict) or "file_name" not in row or "text" not in row:
                raise DataError(f"metadata.jsonl line {number} needs the keys file_name and text")
            captions[str(row["file_name"])] = str(row["text"]).strip()
    elif csv_file.is_file():
        with csv_file.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"file_name", "text"} <= set(reader.fieldnames):
                raise DataError(f"metadata.csv needs the columns file_name and text (found: {', '.join(reader.fieldnames or [])})")
            for row in reader:
                captions[str(row["file_name"])] = str(row["text"] or "").strip()
    return captions


def _with_trigger(caption: str, trigger_word: str | None) -> str:
    if trigger_word and trigger_word.strip() and trigger_word.strip() not in caption.split(", ")[0].split():
        return f"{trigger_word.strip()}, {caption}" if caption else trigger_word.strip()
    return caption


def inspect_image_dataset(
    train: str | Path,
    *,
    caption: CaptionSource = CaptionSource.AUTO,
    instance_prompt: str | None = None,
    trigger_word: str | None = None,
    home: DataHome | None = None,
) -> ImageDatasetReport:
    """Read every image header and caption of a folder or zip; list problems by name instead of raising on them."""
    from PIL import Image, UnidentifiedImageError

    folder = _image_root(dataset_folder(train, home))
    report = ImageDatasetReport(folder=folder)
    caption = CaptionSource(caption)
    metadata = _read_metadata(folder) if caption in (CaptionSource.AUTO, CaptionSource.METADATA) else {}
    if caption is CaptionSource.METADATA and not metadata:
        raise DataError(f"images.caption is metadata but {folder.name} has no metadata.jsonl or metadata.csv with file_name and text")
    files = sorted(path for path in folder.rglob("*") if path.is_file() and not (set(path.relative_to(folder).parts) & IGNORED_NAMES))
    txt_by_stem = {path.with_suffix(""): path for path in files if path.suffix.lower() == ".txt"}
    image_stems = {path.with_suffix("") for path in files if path.suffix.lower() in IMAGE_SUFFIXES}
    sources: set[str] = set()
    for path in files:
        name = path.relative_to(folder).as_posix()
        suffix = path.suffix.lower()
        if path.name in CAPTION_FILES:
            continue
        if suffix == ".txt":
            continue
        if suffix not in IMAGE_SUFFIXES:
            report.stray_files.append(name)
            continue
        try:
            with Image.open(path) as image:
                image.verify()
            with Image.open(path) as image:
                width, height = image.size
                image.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            report.unreadable[name] = type(error).__name__ if not str(error) else str(error).split("\n")[0][:80]
            continue
        text: str | None = None
        source = "none"
        if name in metadata or path.name in metadata:
            text, source = metadata.get(name, metadata.get(path.name)), "metadata"
        elif caption in (CaptionSource.AUTO, CaptionSource.TXT) and path.with_suffix("") in txt_by_stem:
            text, source = txt_by_stem[path.with_suffix("")].read_text(encoding="utf-8", errors="replace").strip(), "txt"
        if (text is None or not text) and instance_prompt and instance_prompt.strip():
            text, source = instance_prompt.strip(), "instance_prompt"
        if text is None or not text:
            report.missing_captions.append(name)
            continue
        sources.add(source)
        if min(width, height) < MIN_SIDE:
            report.tiny.append(name)
        report.items.append(ImageItem(path=path, caption=_with_trigger(text, trigger_word), width=width, height=height))
    report.stray_files += [txt.relative_to(folder).as_posix() for stem, txt in txt_by_stem.items() if stem not in image_stems]
    report.stray_files.sort()
    report.caption_source = "+".join(sorted(sources)) or "none"
    return report


def load_image_dataset(
    train: str | Path,
    *,
    caption: CaptionSource = CaptionSource.AUTO,
    instance_prompt: str | None = None,
    trigger_word: str | None = None,
    home: DataHome | None = None,
) -> ImageDatasetReport:
    """Like :func:`inspect_image_dataset`, but raise :class:`DataError` when nothing can train or captions are missing."""
    report = inspect_image_dataset(train, caption=caption, instance_prompt=instance_prompt, trigger_word=trigger_word, home=home)
    where = Path(train).name
    if report.missing_captions:
        shown = ", ".join(report.missing_captions[:5]) + (" ..." if len(report.missing_captions) > 5 else "")
        raise DataError(
            f"{len(report.missing_captions)} image(s) in {where} have no caption ({shown}); add same-name .txt files, "
            "a metadata.jsonl/metadata.csv with file_name and text, or set images.instance_prompt"
        )
    if not report.items:
        found = f" ({len(report.unreadable)} unreadable: {', '.join(sorted(report.unreadable)[:5])})" if report.unreadable else ""
        raise DataError(f"{where} holds no readable .png, .jpg or .webp images{found}; add images to the folder or zip")
    return report


def image_count(count: int) -> str:
    """``1 image``, ``5 images``."""
    return f"{count} image{'' if count == 1 else 's'}"


@dataclass
class HeldOutImages:
    """The images the before/after report scores, which training never sees, and where they come from."""

    items: list[ImageItem] = field(default_factory=list)
    source: str = ""
    """Where they come from, as the report says it, e.g. "5 of the 52 images of data.train (10%, picked by seed 3)"."""
    reason: str = ""
    """Why there are none, when ``items`` is empty."""
    split: RecordedSplit | None = None
    """The split (what ``runs/<job>/split.json`` records); image ids are paths inside their dataset folder."""
    ids: list[str] = field(default_factory=list)
    """Each held-out image's id in the split, in the order of ``items``."""


def image_id(item: ImageItem, dataset: ImageDatasetReport) -> str:
    """An image's id in ``split.json``: its path inside its dataset folder."""
    try:
        return item.path.relative_to(dataset.folder).as_posix()
    except ValueError:
        return item.path.name


def _candidates(dataset: ImageDatasetReport) -> list[Candidate]:
    """The images as split candidates: equal bytes, equal key (duplicates stay on one side)."""
    return [Candidate(image_id(item, dataset), data_sha256(item.path)) for item in dataset.items]


def split_image_dataset(spec: JobSpec, dataset: ImageDatasetReport, home: DataHome | None = None,
                        recorded: RecordedSplit | None = None) -> tuple[list[ImageItem], HeldOutImages]:
    """(the images to train on, the held-out images) for ``spec``, or as the ``recorded`` split of a finished run says.

    ``data.validation`` as a folder or zip: its images are held out (and images of ``data.train`` with the same bytes are
    dropped from training). As a fraction: that share of ``data.train``. Otherwise, with ``evaluation.enabled``, the share
    ``evaluation.holdout`` of a ``data.train`` of at least :data:`MIN_IMAGES_TO_HOLD_OUT` images. Which images is a function
    of ``data.split_seed`` and the images alone, so a resumed run holds out the same ones.
    """
    data, images = spec.data, spec.images
    by_id = {image_id(item, dataset): item for item in dataset.items}
    candidates = _candidates(dataset)
    held_dataset, dropped = dataset, []
    if isinstance(data.validation, str):
        held_dataset = load_image_dataset(data.validation, caption=images.caption, instance_prompt=images.instance_prompt,
                                          trigger_word=images.trigger_word, home=home)
        held_candidates = _candidates(held_dataset)
        held_keys = {candidate.key for candidate in held_candidates}
        dropped = [Dropped(c.id, "train", "none", "also in validation", "the validation images hold the same file")
                   for c in candidates if c.key in held_keys]
        candidates = [candidate for candidate in candidates if candidate.key not in held_keys]
        if not candidates:
            raise DataError(f"every image of data.train is also in data.validation ({Path(data.validation).name}); "
                            "give data.validation a separate folder of images")
    else:
        held_candidates = []
    split = recorded or decide_split(candidates, validation=data.validation, evaluation=spec.evaluation, seed=data.split_seed,
                                     files=data_files(data.train, data.validation), held_items=held_candidates, unusable=dropped,
                                     minimum=MIN_IMAGES_TO_HOLD_OUT, unit="image")
    held_by_id = {image_id(item, held_dataset): item for item in held_dataset.items}
    train = [by_id[str(item)] for item in split.train if str(item) in by_id]
    held_ids = [str(item) for item in split.scoring_ids() if str(item) in held_by_id]
    held = [held_by_id[item] for item in held_ids]
    if split.held_file == "validation":
        return train, HeldOutImages(held, f"{image_count(len(held))} of data.validation ({Path(data.validation).name})", split=split,
                                    ids=held_ids)
    if split.automatic and not spec.evaluation.enabled:
        return train, HeldOutImages(reason="evaluation.enabled is off, so no images were held out", split=split)
    if split.automatic:
        minimum, what = MIN_IMAGES_TO_HOLD_OUT, f"evaluation.holdout ({spec.evaluation.holdout:g})"
    else:
        minimum, what = 2, f"data.validation ({data.validation:g})"
    if not held and len(dataset.items) < minimum:
        return train, HeldOutImages(reason=(
            f"data.train has {image_count(len(dataset.items))}, fewer than the {minimum} needed to hold some out for {what} "
            "without starving training; give data.validation a folder or zip of other captioned images to get a validation loss"),
            split=split)
    if not held:
        return train, HeldOutImages(reason=f"no images were held out ({split.rule})", split=split)
    return train, HeldOutImages(held, f"{len(held)} of the {len(dataset.items)} images of data.train ({split.share:.0%} by "
                                      f"{what}, picked by data.split_seed {split.seed}), not trained on", split=split, ids=held_ids)
