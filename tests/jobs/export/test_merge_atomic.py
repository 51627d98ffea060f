"""A merge interrupted half-way never passes for a finished one: the GGUF export and the merged push merge again.

The merged folder is written into a temporary sibling and renamed into place with a completion marker written last, so a
crash (or a kill) during the merge leaves nothing at the merged path that :func:`merged_folder_ready` accepts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from jobs.export.gguf import source_folder
from jobs.export.merge import merge_run, merged_folder_ready
from tests.jobs.export.test_gguf_export import tiny_run


def test_a_crash_during_the_merge_leaves_nothing_that_passes_for_a_merged_model(tiny_llama: Path, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = tiny_run(tiny_llama, tmp_path)
    merged = tmp_path / "merged"
    tokenizer_class = type(AutoTokenizer.from_pretrained(tiny_llama))

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed while saving the tokenizer")

    with monkeypatch.context() as patched:
        patched.setattr(tokenizer_class, "save_pretrained", crash)
        with pytest.raises(RuntimeError, match="killed"):
            merge_run(run_dir, merged)
    assert not merged_folder_ready(merged) and not (merged / "config.json").exists()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith("merged")] == []  # no temporary sibling left

    folder = source_folder(run_dir, merged)  # the GGUF export's first step merges again instead of trusting a half folder
    assert folder == merged and merged_folder_ready(merged)
    assert (merged / "config.json").is_file() and (merged / "tokenizer.json").is_file() and (merged / "model.safetensors").is_file()


def test_a_merged_folder_without_the_completion_marker_is_merged_again(tiny_llama: Path, tmp_path: Path) -> None:
    run_dir = tiny_run(tiny_llama, tmp_path)
    merged = tmp_path / "merged"
    merged.mkdir()
    (merged / "config.json").write_text("{}")  # what an older, interrupted merge left behind: a config and no weights
    assert not merged_folder_ready(merged)
    source_folder(run_dir, merged)
    assert merged_folder_ready(merged) and (merged / "model.safetensors").is_file() and (merged / "tokenizer.json").is_file()
