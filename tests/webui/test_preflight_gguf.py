"""The Train tab's pre-flight says, before anything trains, whether the job's model will export to a GGUF llama.cpp runs."""

from __future__ import annotations

from pathlib import Path

from jobs.export import job_gguf_support
from jobs.spec import parse_spec
from webui.train_tab import preflight_report


def test_preflight_says_whether_the_result_exports_to_gguf(tiny_llama: Path, tmp_path: Path) -> None:
    text = tmp_path / "text.jsonl"
    text.write_text('{"text": "Mars is red."}\n', encoding="utf-8")
    lora = parse_spec({"base_model": str(tiny_llama), "data": {"train": str(text)}})
    _, report = preflight_report(lora, "en")
    assert "GGUF: the result exports to GGUF for llama.cpp, Ollama and LM Studio (Llama)" in report, report

    spm = tmp_path / "spm-base"  # the same model with a SentencePiece tokenizer, which the export cannot write
    spm.mkdir()
    for item in tiny_llama.iterdir():
        if item.name != "tokenizer.json":
            (spm / item.name).write_bytes(item.read_bytes())
    (spm / "tokenizer.model").write_bytes(b"sentencepiece")
    support = job_gguf_support(parse_spec({"base_model": str(spm), "data": {"train": str(text)}}))
    assert support is not None and not support.exportable and "SentencePiece" in support.reason
    assert job_gguf_support(parse_spec({"base_model": str(tiny_llama), "method": "prompt-tuning", "data": {"train": str(text)}})) is None
