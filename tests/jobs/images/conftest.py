"""Fixtures for the diffusion tests: tiny SD and SDXL pipelines (built once) and small captioned image folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.jobs.images.tiny_pipelines import build_tiny_sdxl

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 60), "dark": (20, 20, 20)}


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny models run fastest (and steadiest on a shared 2-core machine) on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SDXL-shaped pipeline folder (safetensors)."""
    return build_tiny_sdxl(tmp_path_factory.mktemp("tiny-sdxl") / "pipeline")


def write_images(folder: Path, captions: bool = True, size: int = 72) -> Path:
    """Four solid-colour squares with a small shape each, and same-name .txt captions."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, (name, colour) in enumerate(COLOURS.items()):
        image = Image.new("RGB", (size + 8 * number, size), colour)
        image.paste((255, 255, 255), (10, 10, 30, 30))
        image.save(folder / f"{name}.png")
        if captions:
            (folder / f"{name}.txt").write_text(f"a {name} square picture")
    return folder


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A folder of four captioned images."""
    return write_images(tmp_path / "images")
