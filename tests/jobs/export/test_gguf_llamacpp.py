"""llama.cpp as a subprocess: it says clearly when it is not installed, and a file it cannot load is a verdict, not a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.export import gguf_llamacpp
from jobs.export.gguf_llamacpp import LlamaCppRequest, LlamaCppUnavailable, llamacpp_status, run_llamacpp


def test_a_missing_or_stale_install_is_named_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gguf_llamacpp.shutil, "which", lambda name: "/usr/bin/node" if name == "node" else None)
    monkeypatch.setattr(gguf_llamacpp, "_node_major", lambda node: 20)
    monkeypatch.setattr(gguf_llamacpp, "LLAMACPP_FOLDER", tmp_path)
    (tmp_path / "package.json").write_text(json.dumps({"dependencies": {"node-llama-cpp": "3.21.1"}}))
    status = llamacpp_status()
    assert not status.installed and status.reason == ("llama.cpp (node-llama-cpp) is not installed; run `make install-llamacpp` (npm ci in "
                                                      "jobs/export/llamacpp; `make test` does it too)")
    with pytest.raises(LlamaCppUnavailable, match="is not installed"):
        run_llamacpp([LlamaCppRequest(tmp_path / "x.gguf")])
    installed = tmp_path / "node_modules" / "node-llama-cpp"
    installed.mkdir(parents=True)
    (installed / "package.json").write_text(json.dumps({"version": "3.20.0"}))
    assert llamacpp_status().reason.startswith("node-llama-cpp 3.20.0 is installed but 3.21.1 is pinned; run `make install-llamacpp`")
    monkeypatch.setattr(gguf_llamacpp.shutil, "which", lambda name: None)
    assert llamacpp_status().reason.startswith("Node.js is not installed, so llama.cpp cannot check the file; install Node.js 20")


def test_a_file_llamacpp_cannot_load_is_an_answer_with_its_reason(llamacpp: str, tmp_path: Path) -> None:
    not_gguf = tmp_path / "notes-Q8_0.gguf"
    not_gguf.write_text("this is not a model")
    missing, broken = run_llamacpp([LlamaCppRequest(tmp_path / "absent.gguf", prompts=[[1, 2]]), LlamaCppRequest(not_gguf)])
    assert not missing.loaded and missing.stage == "load" and missing.error
    assert not broken.loaded and broken.stage == "load" and broken.error
