"""``launch.py export ID --gguf TYPES`` as a user runs it: files, a verdict per file, the Ollama command; bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import launch
from tests.finished_jobs import train_counting_job


def test_export_command_writes_verified_gguf_and_explains_bad_types(tiny_llama: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    job_id, summary = train_counting_job(tiny_llama, tmp_path, "cli-gguf")
    assert launch.main(["export", str(job_id), "--gguf", "q8_0"]) == 0
    out = capsys.readouterr().out
    gguf = Path(summary["output_folder"]).parent / "gguf"
    assert f"{gguf / 'cli-gguf-Q8_0.gguf'}" in out and "passed" in out and f"ollama create NAME -f {gguf / 'Modelfile'}" in out
    assert json.loads((gguf / "gguf_verification.json").read_text())["passed"]

    assert launch.main(["export", str(job_id), "--gguf", "q4_k_m"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1] == ("error: GGUF type 'q4_k_m' is not offered; choose one of f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0 (K-quants such "
                         "as Q4_K_M need llama.cpp's own quantize tool)")
