"""Image datasets: captions from .txt / metadata / instance prompt with a trigger word, problems listed by name,
and safe zip extraction (no ``..`` paths, no symlinks, no zip bombs) that writes nothing outside ``uploads/``."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest

from jobs.data.images import ZipLimits, dataset_folder, inspect_image_dataset, load_image_dataset, safe_extract_zip
from jobs.errors import DataError
from jobs.spec import CaptionSource
from storage.paths import data_home
from tests.jobs.images.conftest import write_images


def all_files(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def test_txt_captions_get_the_trigger_word_and_problems_are_listed_by_name(image_folder: Path) -> None:
    (image_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (image_folder / "broken.txt").write_text("a broken one")
    (image_folder / "notes.docx").write_bytes(b"PK")
    (image_folder / "orphan.txt").write_text("no image for me")
    from PIL import Image

    Image.new("RGB", (20, 20)).save(image_folder / "tiny.png")
    (image_folder / "tiny.txt").write_text("a tiny picture")
    report = inspect_image_dataset(image_folder, trigger_word="sks")
    captions = {item.path.name: item.caption for item in report.items}
    assert captions["red.png"] == "sks, a red square picture"
    assert list(report.unreadable) == ["broken.jpg"]
    assert report.tiny == ["tiny.png"]
    assert report.stray_files == ["notes.docx", "orphan.txt"]
    text = "\n".join(report.problems)
    assert "broken.jpg" in text and "tiny.png" in text and "notes.docx" in text


def test_metadata_jsonl_and_instance_prompt_captions(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "meta", captions=False)
    rows = [{"file_name": "red.png", "text": "sks a red thing"}, {"file_name": "blue.png", "text": "a blue thing"}]
    (folder / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    report = load_image_dataset(folder, instance_prompt="a photo of sks shape", trigger_word="sks")
    captions = {item.path.name: item.caption for item in report.items}
    assert captions == {"red.png": "sks a red thing", "blue.png": "sks, a blue thing",
                        "green.png": "a photo of sks shape", "dark.png": "a photo of sks shape"}
    assert report.caption_source == "instance_prompt+metadata"


def test_images_without_captions_are_refused_with_what_to_do(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "bare", captions=False)
    with pytest.raises(DataError, match=r"4 image\(s\) in bare have no caption \(blue.png, dark.png, green.png, red.png\).*instance_prompt"):
        load_image_dataset(folder)


def test_only_corrupt_images_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"no readable .png, .jpg or .webp images \(1 unreadable: a.png\)"):
        load_image_dataset(folder, instance_prompt="a photo")


def test_a_good_zip_is_extracted_once_under_uploads(tmp_path: Path, image_folder: Path) -> None:
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in image_folder.iterdir():
            handle.write(path, f"photos/{path.name}")
    folder = dataset_folder(archive)
    assert folder.parent == data_home().uploads and dataset_folder(archive) == folder
    assert len(load_image_dataset(archive).items) == 4


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("dotdot", r"'\.\./escaped\.txt', whose path leads outside the dataset folder"),
        ("absolute", r"'/tmp/absolute\.txt', whose path leads outside"),
        ("symlink", r"symbolic link 'link\.png'"),
        ("bomb", r"entry 'zeros\.png' expands \d+x \(over 200x\), which looks like a zip bomb"),
    ],
)
def test_unsafe_zips_are_refused_and_write_nothing(tmp_path: Path, image_folder: Path, kind: str, message: str) -> None:
    archive = tmp_path / "upload" / "evil.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.write(image_folder / "red.png", "red.png")
        if kind == "dotdot":
            handle.writestr("../escaped.txt", "gotcha")
        elif kind == "absolute":
            handle.writestr("/tmp/absolute.txt", "gotcha")
        elif kind == "symlink":
            info = zipfile.ZipInfo("link.png")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            handle.writestr(info, "/etc/passwd")
        else:
            handle.writestr("zeros.png", b"\0" * (8 * 1024 * 1024))
    uploads = data_home().uploads  # the data home lives in tmp_path too
    before = all_files(tmp_path)
    with pytest.raises(DataError, match=message):
        dataset_folder(archive)
    assert all_files(tmp_path) == before and not any(uploads.iterdir()), "a refused zip wrote files"
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/absolute.txt").exists()


def test_the_written_byte_count_is_enforced_even_when_headers_lie(tmp_path: Path) -> None:
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as handle:
        handle.writestr("a.png", b"x" * 4096)
        handle.writestr("b.png", b"y" * 4096)
    target = tmp_path / "uploads" / "big"
    with pytest.raises(DataError, match="expands to|expands beyond"):
        safe_extract_zip(archive, target, ZipLimits(max_total_bytes=6000))
    with pytest.raises(DataError, match="more than the limit of 1"):
        safe_extract_zip(archive, target, ZipLimits(max_entries=1))
    assert not target.exists() and all_files(tmp_path) == {"big.zip"}


def test_caption_mode_metadata_without_a_metadata_file_is_refused(image_folder: Path) -> None:
    with pytest.raises(DataError, match="no metadata.jsonl or metadata.csv"):
        inspect_image_dataset(image_folder, caption=CaptionSource.METADATA)
